/*
 * ip6.c - IPv6: input checks and output framing, beside ip.c's IPv4.
 *
 * Input: eth_input() hands every IPv6 frame (ethertype 0x86dd) to
 * ip6_input(), which checks the fixed header (version, payload length
 * within the frame, our destination, a unicast source), walks at most
 * IP6_EXT_MAX extension headers (hop-by-hop, routing with no segments
 * left, destination options) to the TCP header, and calls tcp_input() with
 * 16-byte addresses; ICMPv6 goes to icmp6_input() (icmp.c: errors about
 * our connections, packet too big). Fragments, other upper layers, a routing
 * header still to be followed and longer chains are dropped and counted: the
 * XDP program passes fragments to Linux, so none should reach us.
 * Output: ip6_tx_fill() writes Ethernet + IPv6 (no extension headers, hop
 * limit 64, traffic class = the socket's DSCP and TCP's ECN bits, the
 * connection's flow label). ip.c's ip_tx_alloc()/ip_tx_queue() batch the
 * frames of both families.
 * Also here: the flow label (RFC 6437) and source address selection for
 * connect(). Frame memory stays the netdev's.
 */
#include "stack_priv.h"

#define IP6_EXT_MAX   8 /* extension headers walked before giving up */
#define IP6_NH_HOP    0
#define IP6_NH_ROUTE  43
#define IP6_NH_FRAG   44
#define IP6_NH_DSTOPT 60

/* RFC 4291 2.5: a source must be unicast; RFC 4291 2.5.5.2 and Linux's
 * ip6_rcv_core() refuse v4-mapped sources on the wire. */
static int ip6_src_bad(const struct in6_addr *a)
{
	static const struct in6_addr lo = {.s6_addr = {[15] = 1}};

	return a->s6_addr[0] == 0xff || addr_is_unspec(a) || addr_eq(a, &lo) || addr_is_v4(a);
}

/*
 * Walk extension headers from *nh at off to the TCP or ICMPv6 header.
 * Returns its offset in the IP packet (*nh its protocol), or -(drop reason).
 */
static int ip6_ext_walk(const uint8_t *pkt, uint32_t plen_end, uint8_t *nhp, uint32_t off)
{
	uint8_t nh = *nhp;

	for (unsigned i = 0; i <= IP6_EXT_MAX; i++) {
		if (nh == IPPROTO_TCP_NR || nh == IPPROTO_ICMPV6_NR) {
			*nhp = nh;
			return (int)off;
		}
		if (nh == IP6_NH_FRAG)
			return -DROP_IP_FRAG;
		/* RFC 8200 4.3: hop-by-hop options only directly after the header */
		if (!(nh == IP6_NH_ROUTE || nh == IP6_NH_DSTOPT || (nh == IP6_NH_HOP && i == 0)))
			return nh == IP6_NH_HOP ? -DROP_IP6_EXTHDR : -DROP_IP_PROTO;
		if (i == IP6_EXT_MAX || off + 8 > plen_end)
			return -DROP_IP6_EXTHDR;
		const uint8_t *h = pkt + off;
		uint32_t hlen = ((uint32_t)h[1] + 1) * 8;

		/* RFC 8200 4.4: segments left, we would have to forward it: not ours to serve */
		if (nh == IP6_NH_ROUTE && h[3] != 0)
			return -DROP_IP6_EXTHDR;
		if (off + hlen > plen_end)
			return -DROP_IP6_EXTHDR;
		nh = h[0];
		off += hlen;
	}
	return -DROP_IP6_EXTHDR;
}

int ip6_input(struct stack *stk, uint8_t *frame, uint32_t len)
{
	const struct ipv6_hdr *ip = (const struct ipv6_hdr *)(frame + ETH_HLEN);
	struct in6_addr sa, da;
	unsigned r;
	uint8_t nh;
	int off;

	stk->st.rx_frames6++;
	if (len < ETH_HLEN + IP6_HLEN) {
		r = DROP_IP_SHORT;
		goto drop;
	}
	uint32_t vtf = be32(ip->ver_tc_flow);

	if ((vtf >> 28) != 6) {
		r = DROP_IP_VERSION;
		goto drop;
	}
	uint32_t plen = be16(ip->plen);

	/* 0 would be a jumbogram (RFC 2675): never on an Ethernet link */
	if (plen == 0 || plen > len - ETH_HLEN - IP6_HLEN) {
		r = DROP_IP_LEN;
		goto drop;
	}
	memcpy(&sa, ip->saddr, 16);
	memcpy(&da, ip->daddr, 16);
	if (!ip_is_local(stk, &da)) {
		r = DROP_IP_DST;
		goto drop;
	}
	if (ip6_src_bad(&sa)) {
		r = DROP_IP_SRC;
		goto drop;
	}
	nh = ip->nexthdr;
	off = ip6_ext_walk((const uint8_t *)ip, IP6_HLEN + plen, &nh, IP6_HLEN);
	if (off < 0) {
		r = (unsigned)-off;
		goto drop;
	}
	uint8_t *tcp = frame + ETH_HLEN + off;

	if (nh == IPPROTO_ICMPV6_NR) {
		icmp6_input(stk, &sa, &da, tcp, IP6_HLEN + plen - (uint32_t)off);
		return 0;
	}

	tcp_input(stk, frame, &sa, &da, (uint8_t)((vtf >> 20) & IP_ECN_MASK), tcp,
		  IP6_HLEN + plen - (uint32_t)off);
	return 0;
drop:
	stack_drop(stk, r);
	return -1;
}

void ip6_tx_fill(struct stack *stk, uint8_t *frame, const uint8_t dmac[6],
		 const struct in6_addr *saddr, const struct in6_addr *daddr, uint32_t l4len,
		 uint8_t tclass, uint32_t flowlabel, uint8_t hlim)
{
	struct eth_hdr *eth = (struct eth_hdr *)frame;
	struct ipv6_hdr *ip = (struct ipv6_hdr *)(frame + ETH_HLEN);

	memcpy(eth->dst, dmac, 6);
	memcpy(eth->src, stk->dev->info.mac, 6);
	eth->type = be16(ETH_P_IPV6);
	ip->ver_tc_flow = be32(6u << 28 | (uint32_t)tclass << 20 | (flowlabel & 0xfffffu));
	ip->plen = be16(l4len);
	ip->nexthdr = IPPROTO_TCP_NR;
	ip->hlim = hlim;
	memcpy(ip->saddr, saddr->s6_addr, 16);
	memcpy(ip->daddr, daddr->s6_addr, 16);
	stk->st.tx_frames6++;
}

/*
 * RFC 6437 3: a flow label from a keyed hash of the 4-tuple, so that a
 * connection keeps one label and labels tell an observer nothing. Never 0
 * (RFC 6437 2: 0 means "not labelled").
 */
uint32_t ip6_flowlabel(const struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
		       const struct in6_addr *raddr, uint16_t rport)
{
	uint64_t m[6];
	unsigned n = addr_words(m, laddr, raddr);

	m[n++] = (uint64_t)lport << 16 | rport | 0x6437ull << 32;
	uint32_t fl = (uint32_t)siphash_words(stk->hkey, m, n) & 0xfffffu;

	return fl ? fl : 1;
}

/*
 * Source address for a connection to dst (RFC 6724 rule 2, scope, reduced
 * to the link's addresses): a link-local address for a link-local
 * destination, else the first address of wider scope.
 */
int ip6_src_select(const struct stack *stk, const struct in6_addr *dst, struct in6_addr *src)
{
	int want_ll = addr_is_linklocal(dst);

	for (unsigned i = 0; i < stk->dev->info.n_ip6 && i < NETDEV_IP6_MAX; i++) {
		if (addr_is_linklocal(&stk->dev->info.ip6[i]) == want_ll) {
			*src = stk->dev->info.ip6[i];
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}
