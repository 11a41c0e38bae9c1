/*
 * test_xdp_verdict.c - verdicts and counters of the XDP program
 * (bpf/xtcp_xdp.bpf.c) on crafted frames, through bpf_prog_test_run_opts:
 * no interface, no socket. "Steered" shows as XDP_PASS with the no_socket
 * counter raised (bpf_redirect_map falls back to XDP_PASS on an empty XSKMAP
 * slot); the redirect itself is proven by tests/xsk/rst_responder_test.sh.
 * Needs root (loading BPF); run in the test bed's server namespace (it makes
 * a kernel TCP connection on 127.0.0.1 there).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "xtcp_xdp.h"
#include "xtcp_protect.h"
#include "xtcp_xdp.skel.h"
#include "xdp_test.h"

struct frame_spec {
	int vlan;	   /* add one 802.1Q tag */
	__u16 eth_proto;   /* 0 = IPv4 */
	__u8 ip_proto;	   /* 0 = TCP */
	int ihl;	   /* 0 = 5 */
	__u16 frag_off;	   /* host order, flags included */
	int doff;	   /* 0 = 5 */
	const char *daddr; /* dotted */
	__u16 dport;	   /* host order */
	unsigned truncate; /* cut the frame to this many bytes, if nonzero */
	const char *saddr; /* dotted; 0 = 10.0.0.9 */
	__u16 sport;	   /* host order; 0 = 33333 */
	int ack;	   /* an ACK segment instead of a SYN */
	int synack;	   /* a SYN|ACK */
	/* IPv6: daddr6/saddr6 (0 = fd77::1 / fd77::9), next header nh (0 = TCP, or
	 * the first extension header's, 0 with ext = hop-by-hop), ext/ext_len raw
	 * extension headers */
	int v6;
	const char *daddr6, *saddr6;
	__u8 nh;
	const __u8 *ext;
	unsigned ext_len;
	int version; /* IP version field, 0 = 6 */
};

static unsigned build_frame6(__u8 *buf, const struct frame_spec *s)
{
	unsigned off = sizeof(struct ethhdr), doff = s->doff ? s->doff : 5;
	struct ipv6hdr *ip6;
	struct tcphdr *th;

	xdp_test_eth(buf, ETH_P_IPV6);
	ip6 = (void *)(buf + off);
	xdp_test_ip6((__u8 *)ip6,
		     s->ext_len ? s->nh
		     : s->nh	? s->nh
				: IPPROTO_TCP, /* 0 + ext: HbH */
		     (__u16)(s->ext_len + doff * 4 + 10), s->saddr6 ? s->saddr6 : "fd77::9",
		     s->daddr6 ? s->daddr6 : "fd77::1");
	ip6->version = s->version ? s->version : 6;
	off += sizeof(*ip6);
	if (s->ext_len)
		memcpy(buf + off, s->ext, s->ext_len);
	off += s->ext_len;
	th = (void *)(buf + off);
	th->source = htons(s->sport ? s->sport : 33333);
	th->dest = htons(s->dport);
	th->doff = doff;
	th->syn = !s->ack || s->synack;
	th->ack = s->ack || s->synack;
	off += doff * 4 + 10;
	return s->truncate ? s->truncate : off;
}

static unsigned build_frame(__u8 *buf, const struct frame_spec *s)
{
	unsigned off = 0, ihl = s->ihl ? s->ihl : 5, doff = s->doff ? s->doff : 5;
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip;
	struct tcphdr *th;

	if (s->v6)
		return build_frame6(buf, s);
	off = sizeof(*eth);
	if (s->vlan) {
		xdp_test_eth(buf, ETH_P_8021Q);
		buf[off] = 0;
		buf[off + 1] = 7;
		*(__u16 *)(buf + off + 2) = htons(s->eth_proto ? s->eth_proto : ETH_P_IP);
		off += 4;
	} else {
		xdp_test_eth(buf, s->eth_proto ? s->eth_proto : ETH_P_IP);
	}
	ip = (void *)(buf + off);
	ip->version = 4;
	ip->ihl = ihl;
	ip->ttl = 64;
	ip->protocol = s->ip_proto ? s->ip_proto : IPPROTO_TCP;
	ip->frag_off = htons(s->frag_off);
	ip->saddr = inet_addr(s->saddr ? s->saddr : "10.0.0.9");
	ip->daddr = inet_addr(s->daddr ? s->daddr : "10.0.0.1");
	ip->tot_len = htons(ihl * 4 + doff * 4 + 10);
	th = (void *)(buf + off + ihl * 4);
	th->source = htons(s->sport ? s->sport : 33333);
	th->dest = htons(s->dport);
	th->doff = doff;
	th->syn = !s->ack || s->synack;
	th->ack = s->ack || s->synack;
	off += ihl * 4 + doff * 4 + 10;
	return s->truncate ? s->truncate : off;
}

/* Run one frame; check its verdict and by how much each counter moved. */
static void expect(struct xtcp_xdp *skel, const char *name, const struct frame_spec *s, int verdict,
		   const int *stats_that_move)
{
	/* Ethernet at 2 mod 4, so that the IP header is aligned (as in a NIC buffer). */
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;

	xdp_test_expect(skel, name, buf, build_frame(buf, s), verdict, stats_that_move);
}

/*
 * Segments of a connection the kernel owns stay with the kernel, even on a
 * served port; a pure SYN or a segment matching only the listener is ours.
 * (A real kernel connection on 127.0.0.1 of the test bed's namespace.)
 */
static void kernel_flows(struct xtcp_xdp *skel)
{
	struct xdp_test_kconn k;

	if (xdp_test_kconn_open(skel, AF_INET, &k))
		return;

	const int P = XDP_PASS;
	expect(skel, "kernel flow: ACK passed",
	       &(struct frame_spec){.saddr = "127.0.0.1",
				    .daddr = "127.0.0.1",
				    .sport = k.cport,
				    .dport = k.lport,
				    .ack = 1},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "kernel flow: pure SYN is ours",
	       &(struct frame_spec){.saddr = "127.0.0.1",
				    .daddr = "127.0.0.1",
				    .sport = k.cport,
				    .dport = k.lport},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "only the listener: ACK is ours",
	       &(struct frame_spec){.saddr = "127.0.0.1",
				    .daddr = "127.0.0.1",
				    .sport = (__u16)(k.cport + 1),
				    .dport = k.lport,
				    .ack = 1},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	/* The server closes first: its side ends in TIME-WAIT, which is not a claim. */
	xdp_test_kconn_close_conn(&k);
	poll(NULL, 0, 100);
	expect(skel, "kernel TIME-WAIT: ACK is ours",
	       &(struct frame_spec){.saddr = "127.0.0.1",
				    .daddr = "127.0.0.1",
				    .sport = k.cport,
				    .dport = k.lport,
				    .ack = 1},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	xdp_test_kconn_close(skel, &k);
}

/* IPv6: served, exact and any; ports served for IPv4 only; extension headers; ICMPv6. */
static void ipv6_frames(struct xtcp_xdp *skel)
{
	static const __u8 hop_dst[] = {60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0};
	static const __u8 frag[] = {6, 0, 0, 1, 0, 0, 0, 1};
	static const __u8 route_left[] = {6, 0, 4, 1, 0, 0, 0, 0};
	static const __u8 route_done[] = {6, 0, 4, 0, 0, 0, 0, 0};
	__u8 chain[5 * 8] = {0};
	struct xtcp_serve6_key k6 = {0};
	struct xtcp_serve_val val = {0};
	int fd6 = bpf_map__fd(skel->maps.xtcp_serve6);
	const int P = XDP_PASS;

	for (unsigned i = 0; i < 5; i++) {
		chain[8 * i] = i == 4 ? 6 : 60;
		chain[8 * i + 2] = 1;
		chain[8 * i + 3] = 4;
	}
	inet_pton(AF_INET6, "fd77::1", k6.addr);
	k6.port = htons(80);
	CHECK(!bpf_map_update_elem(fd6, &k6, &val, 0), "serve6 exact");
	memset(k6.addr, 0, 16);
	k6.port = htons(8443);
	CHECK(!bpf_map_update_elem(fd6, &k6, &val, 0), "serve6 any");

	expect(skel, "v6 served exact", &(struct frame_spec){.v6 = 1, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6));
	expect(skel, "v6 served addr, other addr",
	       &(struct frame_spec){.v6 = 1, .dport = 80, .daddr6 = "fd77::2"}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
	expect(skel, "v6 served any",
	       &(struct frame_spec){.v6 = 1, .dport = 8443, .daddr6 = "fe80::1"}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6));
	expect(skel, "v6: a port served for IPv4 only",
	       &(struct frame_spec){.v6 = 1, .dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
	expect(skel, "v4: a port served for IPv6 only", &(struct frame_spec){.dport = 8443}, P,
	       MOVES(XTCP_STAT_PASSED));
	expect(skel, "v6 local-port range", &(struct frame_spec){.v6 = 1, .dport = 40005}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_LOCAL_PORT));
	expect(skel, "v6 unserved", &(struct frame_spec){.v6 = 1, .dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
	expect(skel, "v6 hop-by-hop + dest opts walked",
	       &(struct frame_spec){
		       .v6 = 1, .dport = 80, .nh = 0, .ext = hop_dst, .ext_len = sizeof(hop_dst)},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_IP6_EXT));
	expect(skel, "v6 routing header done",
	       &(struct frame_spec){.v6 = 1,
				    .dport = 80,
				    .nh = 43,
				    .ext = route_done,
				    .ext_len = sizeof(route_done)},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_IP6_EXT));
	expect(skel, "v6 routing header, segments left",
	       &(struct frame_spec){.v6 = 1,
				    .dport = 80,
				    .nh = 43,
				    .ext = route_left,
				    .ext_len = sizeof(route_left)},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_IP6_EXT));
	expect(skel, "v6 fragment",
	       &(struct frame_spec){
		       .v6 = 1, .dport = 80, .nh = 44, .ext = frag, .ext_len = sizeof(frag)},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_IP6_FRAG));
	expect(skel, "v6 five extension headers: too many",
	       &(struct frame_spec){
		       .v6 = 1, .dport = 80, .nh = 60, .ext = chain, .ext_len = sizeof(chain)},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_IP6_EXT));
	expect(skel, "icmpv6", &(struct frame_spec){.v6 = 1, .nh = 58}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_ICMP6));
	expect(skel, "v6 udp", &(struct frame_spec){.v6 = 1, .nh = 17, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_NOT_TCP));
	expect(skel, "v6 short header", &(struct frame_spec){.v6 = 1, .dport = 80, .truncate = 40},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED));
	expect(skel, "v6 short tcp", &(struct frame_spec){.v6 = 1, .dport = 80, .truncate = 60}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED));
	expect(skel, "v6 extension header past the end",
	       &(struct frame_spec){.v6 = 1,
				    .dport = 80,
				    .nh = 0,
				    .ext = hop_dst,
				    .ext_len = sizeof(hop_dst),
				    .truncate = 14 + 40 + 4},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED));
	expect(skel, "v6 version 4", &(struct frame_spec){.v6 = 1, .dport = 80, .version = 4}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED));
	expect(skel, "v6 doff < 5", &(struct frame_spec){.v6 = 1, .dport = 80, .doff = 3}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED));
	/* a served-source allow-list (IPv4 prefixes only): IPv6 sources are not on it */
	struct prot_config pc = {.acl_on = 1, .acl_default = PROT_ACL_DENY}, none = {0};
	int pcfd = bpf_map__fd(skel->maps.prot_cfg);
	__u32 z = 0;

	CHECK(!bpf_map_update_elem(pcfd, &z, &pc, 0), "prot_cfg");
	expect(skel, "v6 served, source allow-list on: dropped",
	       &(struct frame_spec){.v6 = 1, .dport = 80}, XDP_DROP,
	       MOVES(XTCP_STAT_DROPPED, XTCP_STAT_IP6));
	expect(skel, "v6 unserved, source allow-list on: passed",
	       &(struct frame_spec){.v6 = 1, .dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
	pc.acl_default = PROT_ACL_ALLOW;
	CHECK(!bpf_map_update_elem(pcfd, &z, &pc, 0), "prot_cfg");
	expect(skel, "v6 served, deny-list on: steered", &(struct frame_spec){.v6 = 1, .dport = 80},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6));
	CHECK(!bpf_map_update_elem(pcfd, &z, &none, 0), "prot_cfg off");
	/* a queue that drains sends new IPv6 flows to the kernel too */
	__u32 q = 0, one = 1;

	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_drain), &q, &one, 0), "drain");
	expect(skel, "v6 draining: SYN to the kernel", &(struct frame_spec){.v6 = 1, .dport = 80},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_DRAIN));
	one = 0;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_drain), &q, &one, 0), "undrain");
	memset(k6.addr, 0, 16);
	bpf_map_delete_elem(fd6, &k6);
	inet_pton(AF_INET6, "fd77::1", k6.addr);
	k6.port = htons(80);
	bpf_map_delete_elem(fd6, &k6);
	expect(skel, "v6 unserved again", &(struct frame_spec){.v6 = 1, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
}

/* kernel_flows() over IPv6: a kernel connection on [::1] of the namespace. */
static void kernel_flows6(struct xtcp_xdp *skel)
{
	struct xdp_test_kconn k;
	const int P = XDP_PASS;

	if (xdp_test_kconn_open(skel, AF_INET6, &k))
		return;
	expect(skel, "v6 kernel flow: ACK passed",
	       &(struct frame_spec){.v6 = 1,
				    .saddr6 = "::1",
				    .daddr6 = "::1",
				    .sport = k.cport,
				    .dport = k.lport,
				    .ack = 1},
	       P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_KERNEL_FLOW,
		     XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "v6 only the listener: ACK is ours",
	       &(struct frame_spec){.v6 = 1,
				    .saddr6 = "::1",
				    .daddr6 = "::1",
				    .sport = (__u16)(k.cport + 1),
				    .dport = k.lport,
				    .ack = 1},
	       P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	xdp_test_kconn_close(skel, &k);
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000u + (__u64)ts.tv_nsec;
}

/*
 * A flow held while its kernel socket is built (xp_prog_flow_hold()): the
 * segments the kernel would get are dropped until the hold ends or lapses;
 * a held flow the kernel does not own is still ours.
 * (A real kernel connection on 127.0.0.1, as in kernel_flows().)
 */
static void handover_hold(struct xtcp_xdp *skel)
{
	int hfd = bpf_map__fd(skel->maps.xtcp_hold);
	struct xtcp_hold_key hk = {0}, other;
	struct xdp_test_kconn k;
	__u64 until;
	const int P = XDP_PASS;

	if (xdp_test_kconn_open(skel, AF_INET, &k))
		return;

	struct frame_spec seg = {.saddr = "127.0.0.1",
				 .daddr = "127.0.0.1",
				 .sport = k.cport,
				 .dport = k.lport,
				 .ack = 1};

	hk.saddr = hk.daddr = htonl(0x7f000001);
	hk.sport = htons(k.cport);
	hk.dport = htons(k.lport);
	until = mono_ns() + 1000000000u;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0), "hold");
	expect(skel, "held: the kernel flow's segment is dropped", &seg, XDP_DROP,
	       MOVES(XTCP_STAT_DROPPED, XTCP_STAT_HANDOVER_HOLD, XTCP_STAT_KFLOW_LOOKUP));
	other = hk;
	other.sport = htons((__u16)(k.cport + 1));
	CHECK(!bpf_map_update_elem(hfd, &other, &until, 0), "hold a flow the kernel lacks");
	seg.sport = (__u16)(k.cport + 1);
	expect(skel, "held but not the kernel's: ours", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	seg.sport = k.cport;
	until = mono_ns() - 1;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0), "a lapsed hold");
	expect(skel, "lapsed hold: to the kernel", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));
	until = mono_ns() + 1000000000u;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0) && !bpf_map_delete_elem(hfd, &hk),
	      "hold, then release");
	expect(skel, "released: to the kernel", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));
	bpf_map_delete_elem(hfd, &other);
	xdp_test_kconn_close(skel, &k);
}

/*
 * handover_hold() for IPv6 (xtcp_hold6): a kernel connection on [::1] of the
 * namespace; the held flow's segments are dropped, a held flow the kernel
 * lacks is ours, and a released or lapsed hold lets the kernel have them.
 */
static void handover_hold6(struct xtcp_xdp *skel)
{
	struct xtcp_flow6_key hk = {0}, other;
	int hfd = bpf_map__fd(skel->maps.xtcp_hold6);
	struct xdp_test_kconn k;
	__u16 lport, cport;
	__u64 until;
	const int P = XDP_PASS;

	if (xdp_test_kconn_open(skel, AF_INET6, &k))
		return;
	lport = k.lport;
	cport = k.cport;

	struct frame_spec seg = {.v6 = 1,
				 .saddr6 = "::1",
				 .daddr6 = "::1",
				 .sport = cport,
				 .dport = lport,
				 .ack = 1};

	hk.saddr[15] = hk.daddr[15] = 1;
	hk.sport = htons(cport);
	hk.dport = htons(lport);
	until = mono_ns() + 1000000000u;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0), "hold6");
	expect(skel, "v6 held: the kernel flow's segment is dropped", &seg, XDP_DROP,
	       MOVES(XTCP_STAT_DROPPED, XTCP_STAT_IP6, XTCP_STAT_HANDOVER_HOLD,
		     XTCP_STAT_KFLOW_LOOKUP));
	other = hk;
	other.sport = htons((__u16)(cport + 1));
	CHECK(!bpf_map_update_elem(hfd, &other, &until, 0), "hold6 a flow the kernel lacks");
	seg.sport = (__u16)(cport + 1);
	expect(skel, "v6 held but not the kernel's: ours", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	seg.sport = cport;
	until = mono_ns() - 1;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0), "a lapsed hold6");
	expect(skel, "v6 lapsed hold: to the kernel", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_KERNEL_FLOW,
		     XTCP_STAT_KFLOW_LOOKUP));
	until = mono_ns() + 1000000000u;
	CHECK(!bpf_map_update_elem(hfd, &hk, &until, 0) && !bpf_map_delete_elem(hfd, &hk),
	      "hold6, then release");
	expect(skel, "v6 released: to the kernel", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_KERNEL_FLOW,
		     XTCP_STAT_KFLOW_LOOKUP));
	/* an IPv4 hold of the same ports does not hold the IPv6 flow */
	struct xtcp_hold_key hk4 = {.saddr = htonl(0x7f000001),
				    .daddr = htonl(0x7f000001),
				    .sport = htons(cport),
				    .dport = htons(lport)};

	until = mono_ns() + 1000000000u;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_hold), &hk4, &until, 0), "hold4");
	expect(skel, "v6 flow, IPv4 hold: to the kernel", &seg, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_KERNEL_FLOW,
		     XTCP_STAT_KFLOW_LOOKUP));
	bpf_map_delete_elem(bpf_map__fd(skel->maps.xtcp_hold), &hk4);
	bpf_map_delete_elem(hfd, &other);
	xdp_test_kconn_close(skel, &k);
}

/* What xp_prog_kflow_sweep() writes once it found the port free of kernel flows. */
static void kflow_mark_clean(struct xtcp_xdp *skel, __u16 port)
{
	struct xtcp_kflow k;
	__u32 key = port;
	__u64 clean;

	CHECK(!bpf_map_lookup_elem(bpf_map__fd(skel->maps.xtcp_kflow), &key, &k), "kflow");
	clean = k.gen + 1;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_kclean), &key, &clean, 0), "kclean");
}

static __u64 kflow_gen(struct xtcp_xdp *skel, __u16 port)
{
	struct xtcp_kflow k = {0};
	__u32 key = port;

	bpf_map_lookup_elem(bpf_map__fd(skel->maps.xtcp_kflow), &key, &k);
	return k.gen;
}

/*
 * The lean path: on a port marked clean, segments skip the kernel socket
 * lookup; every way the kernel can get a flow on a served port makes the
 * port pay for it again (SYN to a draining queue, SYN with no socket on the
 * queue, a SYN|ACK the kernel owns), and a SYN|ACK always pays.
 * (A real kernel connection on 127.0.0.1, as in kernel_flows().)
 */
static void lean_path(struct xtcp_xdp *skel)
{
	int dfd = bpf_map__fd(skel->maps.xtcp_drain);
	__u32 q0 = 0, one = 1, zero = 0;
	struct xdp_test_kconn k;
	__u64 g;
	const int P = XDP_PASS;

	if (xdp_test_kconn_open(skel, AF_INET, &k))
		return;

	struct frame_spec other = {.saddr = "127.0.0.1",
				   .daddr = "127.0.0.1",
				   .sport = (__u16)(k.cport + 1),
				   .dport = k.lport,
				   .ack = 1};
	struct frame_spec kflow = other;

	kflow.sport = k.cport;
	expect(skel, "not yet clean: the lookup runs", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	kflow_mark_clean(skel, k.lport);
	expect(skel, "clean: no lookup", &other, P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	other.synack = 1;
	g = kflow_gen(skel, k.lport);
	expect(skel, "clean: a SYN|ACK is always looked up", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	CHECK(kflow_gen(skel, k.lport) == g, "a SYN|ACK nobody owns changes nothing");
	other.synack = 0;
	expect(skel, "still clean", &other, P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));

	/* A SYN|ACK the kernel owns: that flow's later segments need the lookup. */
	kflow.synack = 1;
	expect(skel, "kernel's SYN|ACK passed", &kflow, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));
	kflow.synack = 0;
	expect(skel, "kernel's flow found again", &kflow, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));

	/* A SYN handed to the kernel by a draining queue. */
	kflow_mark_clean(skel, k.lport);
	expect(skel, "clean again", &other, P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	CHECK(!bpf_map_update_elem(dfd, &q0, &one, 0), "drain queue 0");
	other.ack = 0;
	other.sport = (__u16)(k.cport + 2);
	expect(skel, "draining: SYN to the kernel", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_DRAIN));
	CHECK(!bpf_map_update_elem(dfd, &q0, &zero, 0), "undrain");
	other.ack = 1;
	expect(skel, "after a drained SYN: the lookup runs", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));

	/* A SYN handed to the kernel because no AF_XDP socket is on the queue. */
	kflow_mark_clean(skel, k.lport);
	other.ack = 0;
	expect(skel, "no socket: SYN to the kernel", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	other.ack = 1;
	expect(skel, "after that SYN: the lookup runs", &other, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "and finds the kernel's flow", &kflow, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_KERNEL_FLOW, XTCP_STAT_KFLOW_LOOKUP));
	xdp_test_kconn_close(skel, &k);
}

/* A draining queue sends new flows (pure SYNs) to the kernel, keeps the rest. */
static void drain(struct xtcp_xdp *skel)
{
	int fd = bpf_map__fd(skel->maps.xtcp_drain);
	__u32 q0 = 0, one = 1, zero = 0;
	const int P = XDP_PASS;

	CHECK(!bpf_map_update_elem(fd, &q0, &one, 0), "drain queue 0");
	expect(skel, "draining: SYN to the kernel", &(struct frame_spec){.dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_DRAIN));
	expect(skel, "draining: ACK still ours", &(struct frame_spec){.dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "draining: unserved port", &(struct frame_spec){.dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED));
	CHECK(!bpf_map_update_elem(fd, &q0, &zero, 0), "undrain");
	expect(skel, "drained no more: SYN ours", &(struct frame_spec){.dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
}

/*
 * A queue without a socket of its own (xsk/xp_share.c): while members are
 * expected a new flow is dropped (the peer retries), never passed to the
 * kernel; afterwards a shared queue with no listening member passes it as
 * an unserved queue does, and a segment whose member's socket is gone (it
 * died) is passed and counted. (Redirects to members need real sockets:
 * the nginx_shared test.)
 */
static void shared_queue(struct xtcp_xdp *skel)
{
	int fd = bpf_map__fd(skel->maps.xtcp_shareq);
	struct xtcp_shareq sq = {0};
	struct timespec ts;
	__u32 q0 = 0;
	const int P = XDP_PASS, D = XDP_DROP;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sq.wait_until = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec + 60000000000ull;
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "members expected on queue 0");
	expect(skel, "members expected: SYN dropped", &(struct frame_spec){.dport = 8080}, D,
	       MOVES(XTCP_STAT_DROPPED, XTCP_STAT_SHARE_WAIT));
	expect(skel, "members expected: ACK of no flow",
	       &(struct frame_spec){.dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "members expected: unserved port", &(struct frame_spec){.dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED));
	sq.wait_until = 1; /* long past */
	sq.shared = 1;
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "shared, no member expected any more");
	expect(skel, "shared, nobody listens: SYN as unserved", &(struct frame_spec){.dport = 8080},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	sq.n = 1; /* member 0 listed, its socket gone (died) */
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "a dead member listed");
	expect(skel, "shared, dead member: SYN as unserved", &(struct frame_spec){.dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "shared, dead first holder: its ACK passed",
	       &(struct frame_spec){.dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP,
		     XTCP_STAT_SHARE_GONE));
	memset(&sq, 0, sizeof(sq));
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "unshare");
	expect(skel, "unshared: SYN as before", &(struct frame_spec){.dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
}

/*
 * The same for IPv6 (share_steer6()), and its flow table: an ACK follows
 * the member xtcp_flows6 names for its exact flow (a member number past
 * the end: passed, no socket looked up), any other flow goes to the first
 * holder (dead here: counted as gone).
 */
static void shared_queue6(struct xtcp_xdp *skel)
{
	int fd = bpf_map__fd(skel->maps.xtcp_shareq), fd6 = bpf_map__fd(skel->maps.xtcp_serve6);
	int flows6 = bpf_map__fd(skel->maps.xtcp_flows6);
	struct xtcp_serve6_key k6 = {.port = htons(8080)};
	struct xtcp_flow6_key fk = {.sport = htons(33333), .dport = htons(8080)};
	struct xtcp_flow_val fv = {.member = 99};
	struct xtcp_serve_val val = {0};
	struct xtcp_shareq sq = {0};
	struct timespec ts;
	__u32 q0 = 0;
	const int P = XDP_PASS, D = XDP_DROP;

	CHECK(!bpf_map_update_elem(fd6, &k6, &val, 0), "serve6 [::]:8080");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sq.wait_until = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec + 60000000000ull;
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "v6: members expected on queue 0");
	expect(skel, "v6 members expected: SYN dropped",
	       &(struct frame_spec){.v6 = 1, .dport = 8080}, D,
	       MOVES(XTCP_STAT_DROPPED, XTCP_STAT_SHARE_WAIT, XTCP_STAT_IP6));
	expect(skel, "v6 members expected: unserved port",
	       &(struct frame_spec){.v6 = 1, .dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6));
	sq.wait_until = 1; /* long past */
	sq.shared = 1;
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "v6: shared, no member expected any more");
	expect(skel, "v6 shared, nobody listens: SYN as unserved",
	       &(struct frame_spec){.v6 = 1, .dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6));
	sq.n = 1; /* member 0 listed, its socket gone (died) */
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "v6: a dead member listed");
	expect(skel, "v6 shared, dead member: SYN as unserved",
	       &(struct frame_spec){.v6 = 1, .dport = 8080}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6));
	expect(skel, "v6 shared, dead first holder: its ACK passed",
	       &(struct frame_spec){.v6 = 1, .dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_KFLOW_LOOKUP,
		     XTCP_STAT_SHARE_GONE));
	inet_pton(AF_INET6, "fd77::9", fk.saddr);
	inet_pton(AF_INET6, "fd77::1", fk.daddr);
	CHECK(!bpf_map_update_elem(flows6, &fk, &fv, 0), "v6: a flow of member 99");
	expect(skel, "v6 shared: the ACK follows its flow",
	       &(struct frame_spec){.v6 = 1, .dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "v6 shared: another peer's ACK to the first holder",
	       &(struct frame_spec){.v6 = 1, .dport = 8080, .ack = 1, .saddr6 = "fd78::9"}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_KFLOW_LOOKUP,
		     XTCP_STAT_SHARE_GONE));
	expect(skel, "v4 shared: the v6 flow is not an IPv4 one",
	       &(struct frame_spec){.dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_KFLOW_LOOKUP,
		     XTCP_STAT_SHARE_GONE));
	memset(&sq, 0, sizeof(sq));
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "v6: unshare");
	expect(skel, "v6 unshared: ACK as before",
	       &(struct frame_spec){.v6 = 1, .dport = 8080, .ack = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP6, XTCP_STAT_KFLOW_LOOKUP));
	CHECK(!bpf_map_delete_elem(flows6, &fk), "v6: forget the flow");
	CHECK(!bpf_map_delete_elem(fd6, &k6), "unserve6 [::]:8080");
}

/*
 * Seeded random frames, half of them shaped like IPv4/TCP to a served port:
 * whatever the bytes, the verdict is XDP_PASS (no socket, no protection rule)
 * and exactly one verdict counter moves per frame.
 */
static void random_frames(struct xtcp_xdp *skel, unsigned n)
{
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;
	uint64_t x = 0x9e3779b97f4a7c15ULL, verdicts0;
	unsigned bad_verdict = 0, bad_count = 0;
	uint64_t steered0 = xdp_test_stat(skel, XTCP_STAT_NO_SOCKET);

	for (unsigned i = 0; i < n; i++) {
		unsigned len;
		int rv;

		for (unsigned b = 0; b < 256; b++)
			buf[b] = (__u8)xdp_test_rand(&x);
		len = ETH_HLEN + (unsigned)(x % (256 - ETH_HLEN));
		if (i & 1) {
			buf[12] = 0x08; /* IPv4, TCP, to port 8080 (served), random rest */
			buf[13] = 0x00;
			buf[14] = 0x40 | (buf[14] & 0x0f);
			buf[20] = 0x40; /* DF, not a fragment */
			buf[21] = 0;
			buf[23] = IPPROTO_TCP;
			buf[14 + (buf[14] & 0x0f) * 4 + 2] = 0x1f;
			buf[14 + (buf[14] & 0x0f) * 4 + 3] = 0x90;
		}
		verdicts0 = xdp_test_verdicts(skel);
		rv = xdp_test_run(skel, buf, len);
		bad_verdict += rv != XDP_PASS;
		bad_count += xdp_test_verdicts(skel) - verdicts0 != 1;
	}
	CHECK(bad_verdict == 0, "%u of %u random frames not passed", bad_verdict, n);
	CHECK(bad_count == 0, "%u of %u random frames moved != 1 verdict counter", bad_count, n);
	CHECK(xdp_test_stat(skel, XTCP_STAT_NO_SOCKET) > steered0,
	      "some random frames were steered");
}

int main(void)
{
	struct xtcp_serve_val val = {0};
	struct xtcp_serve_key key = {.port = htons(8080)};
	struct xtcp_cfg cfg = {.lport_min = XDP_TEST_LPORT_MIN, .lport_max = XDP_TEST_LPORT_MAX};
	struct xtcp_xdp *skel = xdp_test_open();
	__u32 zero = 0;

	if (!skel)
		return check_summary();
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_serve), &key, &val, 0), "serve");

	const int P = XDP_PASS;
	expect(skel, "served exact", &(struct frame_spec){.dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "served addr, other addr",
	       &(struct frame_spec){.dport = 80, .daddr = "10.0.0.2"}, P, MOVES(XTCP_STAT_PASSED));
	expect(skel, "served any", &(struct frame_spec){.dport = 8080, .daddr = "192.168.1.1"}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "unserved port", &(struct frame_spec){.dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED));
	expect(skel, "local range low", &(struct frame_spec){.dport = 40000}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_LOCAL_PORT));
	expect(skel, "local range high", &(struct frame_spec){.dport = 40010}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_LOCAL_PORT));
	expect(skel, "past local range", &(struct frame_spec){.dport = 40011}, P,
	       MOVES(XTCP_STAT_PASSED));
	expect(skel, "vlan served, not steered by default",
	       &(struct frame_spec){.vlan = 1, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_VLAN));
	cfg.flags = XTCP_CFG_F_VLAN;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_cfg), &zero, &cfg, 0), "cfg");
	expect(skel, "vlan served, steered with the flag",
	       &(struct frame_spec){.vlan = 1, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_VLAN));
	expect(skel, "vlan unserved with the flag", &(struct frame_spec){.vlan = 1, .dport = 22}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_VLAN));
	cfg.flags = 0;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_cfg), &zero, &cfg, 0), "cfg");
	expect(skel, "ip options served", &(struct frame_spec){.ihl = 7, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_IP_OPTIONS));
	expect(skel, "tcp options served", &(struct frame_spec){.doff = 8, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "first fragment", &(struct frame_spec){.frag_off = 0x2000, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_FRAGMENTS));
	expect(skel, "later fragment", &(struct frame_spec){.frag_off = 0x0010, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_FRAGMENTS));
	expect(skel, "DF is not a fragment", &(struct frame_spec){.frag_off = 0x4000, .dport = 80},
	       P, MOVES(XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET));
	expect(skel, "arp", &(struct frame_spec){.eth_proto = ETH_P_ARP}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NOT_IP4));
	expect(skel, "ipv6 ethertype, IPv4 header",
	       &(struct frame_spec){.eth_proto = ETH_P_IPV6, .vlan = 1}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP6, XTCP_STAT_MALFORMED, XTCP_STAT_VLAN));
	expect(skel, "udp", &(struct frame_spec){.ip_proto = IPPROTO_UDP, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_NOT_TCP));
	/* (A frame shorter than Ethernet never reaches XDP: test_run refuses it too.) */
	expect(skel, "short vlan", &(struct frame_spec){.vlan = 1, .dport = 80, .truncate = 16}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_MALFORMED));
	expect(skel, "short ip", &(struct frame_spec){.dport = 80, .truncate = 30}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_MALFORMED));
	expect(skel, "short tcp", &(struct frame_spec){.dport = 80, .truncate = 40}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_MALFORMED));
	expect(skel, "ihl < 5", &(struct frame_spec){.ihl = 4, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_MALFORMED));
	expect(skel, "doff < 5", &(struct frame_spec){.doff = 3, .dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_MALFORMED));
	expect(skel, "ip options past end",
	       &(struct frame_spec){.ihl = 15, .dport = 80, .truncate = 60}, P,
	       MOVES(XTCP_STAT_PASSED, XTCP_STAT_IP_OPTIONS, XTCP_STAT_MALFORMED));

	kernel_flows(skel);
	ipv6_frames(skel);
	kernel_flows6(skel);
	handover_hold(skel);
	handover_hold6(skel);
	lean_path(skel);
	drain(skel);
	shared_queue(skel);
	shared_queue6(skel);
	random_frames(skel, 5000);

	/* Unserving works: the exact entry is gone, the frame is no longer steered. */
	key.ip4 = inet_addr("10.0.0.1");
	key.port = htons(80);
	CHECK(!bpf_map_delete_elem(bpf_map__fd(skel->maps.xtcp_serve), &key), "unserve");
	expect(skel, "unserved again", &(struct frame_spec){.dport = 80}, P,
	       MOVES(XTCP_STAT_PASSED));

	xtcp_xdp__destroy(skel);
	return check_summary();
}
