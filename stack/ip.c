/*
 * ip.c - Ethernet and IPv4: input checks and output framing.
 *
 * Input: eth_input() validates the Ethernet and IPv4 headers of one frame
 * (IPv6 frames go to ip6_input(), ip6.c)
 * (every length, the header checksum, no fragments: the XDP program passes
 * fragments to Linux, so one reaching us is counted and dropped) and hands
 * the TCP segment to tcp_input(). Frame memory stays the netdev's.
 * Output: ip_tx_alloc() gets a frame, ip_tx_fill() writes Ethernet + IPv4
 * (DF set, no options, TTL 64), ip_tx_queue() batches frames and
 * ip_tx_kick() hands the batch over with one tx_flush() per poll.
 */
#include "stack_priv.h"

static int ip_src_bad(uint32_t saddr)
{
	uint32_t a = be32(saddr);

	/* 0/8, 127/8, multicast 224/4 and above (incl. broadcast) */
	return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 14;
}

int eth_input(struct stack *stk, uint8_t *frame, uint32_t len)
{
	const struct eth_hdr *eth = (const struct eth_hdr *)frame;
	unsigned r;

	if (len < ETH_HLEN) {
		r = DROP_ETH_SHORT;
		goto drop;
	}
	if (memcmp(eth->dst, stk->dev->info.mac, 6) != 0) {
		r = DROP_ETH_DST;
		goto drop;
	}
	if (eth->type == be16(ETH_P_IPV6))
		return ip6_input(stk, frame, len);
	if (eth->type != be16(ETH_P_IPV4)) {
		r = DROP_ETH_TYPE;
		goto drop;
	}
	uint32_t avail = len - ETH_HLEN;
	const struct ip4_hdr *ip = (const struct ip4_hdr *)(frame + ETH_HLEN);

	if (avail < IP4_HLEN) {
		r = DROP_IP_SHORT;
		goto drop;
	}
	if ((ip->ver_ihl >> 4) != 4) {
		r = DROP_IP_VERSION;
		goto drop;
	}
	uint32_t ihl = (ip->ver_ihl & 0xfu) * 4u;

	if (ihl < IP4_HLEN || ihl > avail) {
		r = DROP_IP_HDR_LEN;
		goto drop;
	}
	uint32_t tot = be16(ip->tot_len);

	if (tot < ihl || tot > avail) {
		r = DROP_IP_LEN;
		goto drop;
	}
	if (csum_fold(csum_partial(ip, ihl, 0)) != 0xffff) {
		r = DROP_IP_CSUM;
		goto drop;
	}
	if (be16(ip->frag_off) & (IP4_MF | IP4_OFFMASK)) {
		r = DROP_IP_FRAG;
		goto drop;
	}
	if (ip->daddr != stk->ip4) {
		r = DROP_IP_DST;
		goto drop;
	}
	if (ip_src_bad(ip->saddr)) {
		r = DROP_IP_SRC;
		goto drop;
	}
	if (ip->proto == IPPROTO_ICMP_NR) {
		icmp_input(stk, ip, frame + ETH_HLEN + ihl, tot - ihl);
		return 0;
	}
	if (ip->proto != IPPROTO_TCP_NR) {
		r = DROP_IP_PROTO;
		goto drop;
	}
	struct in6_addr sa = addr_from_v4(ip->saddr), da = addr_from_v4(ip->daddr);

	tcp_input(stk, frame, &sa, &da, ip->tos & IP_ECN_MASK, frame + ETH_HLEN + ihl, tot - ihl);
	return 0;
drop:
	stack_drop(stk, r);
	return -1;
}

/* One of our addresses: the IPv4 one (v4-mapped) or one of the link's IPv6 ones. */
int ip_is_local(const struct stack *stk, const struct in6_addr *a)
{
	if (addr_is_v4(a))
		return stk->ip4 && addr_v4(a) == stk->ip4;
	for (unsigned i = 0; i < stk->dev->info.n_ip6 && i < NETDEV_IP6_MAX; i++)
		if (addr_eq(a, &stk->dev->info.ip6[i]))
			return 1;
	return 0;
}

/* The MSS we announce towards raddr: the MTU less the IP and TCP headers (RFC 9293 3.7.1;
 * RFC 8200's 40-byte header for IPv6, Linux's MTU - 60). */
uint16_t ip_mss_own(const struct stack *stk, const struct in6_addr *raddr)
{
	return (uint16_t)(pmtu_get(stk, raddr) - ip_tcp_hlen(raddr));
}

/* Next-hop MAC of dst through the netdev (ARP or ND by the kernel): 0, -EAGAIN, -errno. */
int ip_resolve(struct stack *stk, const struct in6_addr *dst, uint8_t mac[6])
{
	const struct netdev_ops *o = stk->dev->ops;

	if (addr_is_v4(dst))
		return o->resolve ? o->resolve(stk->dev, addr_v4(dst), mac) : -EHOSTUNREACH;
	return o->resolve6 ? o->resolve6(stk->dev, dst, mac) : -ENETUNREACH;
}

uint8_t *ip_tx_alloc(struct stack *stk, struct pkt *pkt, uint32_t len)
{
	if (stk->dev->ops->tx_alloc(stk->dev, pkt, len) != 0) {
		stk->st.tx_nobufs++;
		return NULL;
	}
	return pkt->data;
}

uint8_t ip_hop_limit(const struct stack *stk, const struct in6_addr *raddr)
{
	struct netdev *dev = stk->dev;
	int v4 = addr_is_v4(raddr);
	uint8_t h = dev->ops->hop_limit ? dev->ops->hop_limit(dev, raddr) : 0;

	if (!h)
		h = v4 ? dev->info.ttl4 : dev->info.hop_limit6;
	return h ? h : v4 ? IP4_TTL : IP6_HOPLIMIT;
}

uint8_t ip_tcb_hops(struct stack *stk, struct tcb *t)
{
	int16_t own = addr_is_v4(&t->h.raddr) ? t->uc_ttl : t->uc_hops6;

	if (own >= 0)
		return (uint8_t)own;
	if (!t->hop_route)
		t->hop_route = ip_hop_limit(stk, &t->h.raddr);
	return t->hop_route;
}

void ip_tx_fill(struct stack *stk, uint8_t *frame, const uint8_t dmac[6], uint32_t saddr,
		uint32_t daddr, uint32_t l4len, uint8_t ecn, uint8_t ttl)
{
	struct eth_hdr *eth = (struct eth_hdr *)frame;
	struct ip4_hdr *ip = (struct ip4_hdr *)(frame + ETH_HLEN);

	memcpy(eth->dst, dmac, 6);
	memcpy(eth->src, stk->dev->info.mac, 6);
	eth->type = be16(ETH_P_IPV4);
	ip->ver_ihl = 0x45;
	ip->tos = ecn & IP_ECN_MASK; /* DSCP 0; ECN as TCP decided (RFC 3168 6.1.2) */
	ip->tot_len = be16(IP4_HLEN + l4len);
	ip->id = be16(stk->ip_id++);
	ip->frag_off = be16(IP4_DF);
	ip->ttl = ttl;
	ip->proto = IPPROTO_TCP_NR;
	ip->csum = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
	uint16_t c = (uint16_t)~csum_fold(csum_partial(ip, IP4_HLEN, 0));

	memcpy(&ip->csum, &c, 2);
}

void ip_tx_queue(struct stack *stk, struct pkt *pkt)
{
	stk->txq[stk->ntx++] = *pkt;
	stk->tx_dirty = 1;
	stk->st.tx_frames++;
	if (stk->ntx == NETDEV_BURST_MAX) {
		stk->dev->ops->tx_queue(stk->dev, stk->txq, stk->ntx);
		stk->ntx = 0;
	}
}

void ip_tx_kick(struct stack *stk)
{
	if (stk->ntx) {
		stk->dev->ops->tx_queue(stk->dev, stk->txq, stk->ntx);
		stk->ntx = 0;
	}
	/* Frames the device did not take at the last kick are retried too. */
	if (stk->tx_dirty || (stk->dev->ops->tx_pending && stk->dev->ops->tx_pending(stk->dev))) {
		stk->tx_dirty = 0;
		stk->dev->ops->tx_flush(stk->dev);
	}
}
