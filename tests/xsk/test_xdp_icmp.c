/*
 * test_xdp_icmp.c - the XDP program's ICMP steering (xtcp_icmp() in
 * bpf/xtcp_xdp.bpf.c) on crafted frames, through bpf_prog_test_run_opts:
 * ICMP errors quoting a segment of a served port or of xtcp's local-port
 * range are steered like that flow (shown as XDP_PASS with no_socket raised:
 * the XSKMAP is empty here); other ICMP, errors quoting other flows or the
 * kernel's own connections, and malformed quotes stay with the kernel. The
 * same for ICMPv6 (xtcp_icmp6()), where ND, RA and echo stay too.
 * Needs root (loading BPF); run in the test bed's server namespace (it makes
 * a kernel TCP connection on 127.0.0.1 there).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "xtcp_xdp.h"
#include "xtcp_xdp.skel.h"
#include "xdp_test.h"

struct icmp_spec {
	__u8 type, code;      /* 0/0 = 3/4: fragmentation needed */
	const char *dst;      /* outer destination = our address; 0 = 10.0.0.1 */
	const char *qsrc;     /* quoted source; 0 = the outer destination */
	const char *qdst;     /* quoted destination (the peer); 0 = 10.0.0.9 */
	__u16 qsport, qdport; /* quoted ports, host order: ours, the peer's */
	__u8 qproto;	      /* 0 = TCP */
	int qihl;	      /* 0 = 5 */
	__u16 frag_off;	      /* outer, host order */
	__u16 qfrag_off;      /* quoted, host order */
	int vlan;	      /* one 802.1Q tag */
	unsigned quote_l4;    /* quoted bytes after the quoted IP header; 0 = 8 */
	unsigned truncate;    /* cut the frame to this many bytes, if nonzero */
};

static unsigned build(__u8 *buf, const struct icmp_spec *s)
{
	unsigned off = 14, qihl = s->qihl ? (unsigned)s->qihl : 5,
		 l4 = s->quote_l4 ? s->quote_l4 : 8;
	struct iphdr *ip, *qip;
	__u8 *ic;

	xdp_test_eth(buf, s->vlan ? ETH_P_8021Q : ETH_P_IP);
	if (s->vlan) {
		buf[14] = 0;
		buf[15] = 7;
		buf[16] = 0x08;
		off += 4;
	}
	ip = (void *)(buf + off);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->frag_off = htons(s->frag_off);
	ip->saddr = inet_addr("10.0.0.254"); /* a router */
	ip->daddr = inet_addr(s->dst ? s->dst : "10.0.0.1");
	ip->tot_len = htons(20 + 8 + qihl * 4 + l4);
	ic = (__u8 *)(ip + 1);
	ic[0] = s->type ? s->type : 3;
	ic[1] = s->type ? s->code : 4;
	ic[6] = 1000 >> 8;
	ic[7] = 1000 & 0xff;
	qip = (void *)(ic + 8);
	qip->version = 4;
	qip->ihl = qihl;
	qip->ttl = 1;
	qip->protocol = s->qproto ? s->qproto : IPPROTO_TCP;
	qip->frag_off = htons(s->qfrag_off ? s->qfrag_off : 0x4000);
	qip->saddr = s->qsrc ? inet_addr(s->qsrc) : ip->daddr;
	qip->daddr = inet_addr(s->qdst ? s->qdst : "10.0.0.9");
	qip->tot_len = htons(1500);
	__u8 *th = (__u8 *)qip + qihl * 4;

	th[0] = (__u8)(s->qsport >> 8);
	th[1] = (__u8)s->qsport;
	th[2] = (__u8)(s->qdport >> 8);
	th[3] = (__u8)s->qdport;
	th[4] = 0x12; /* sequence */
	off += 20 + 8 + qihl * 4 + l4;
	return s->truncate ? s->truncate : off;
}

static void expect(struct xtcp_xdp *skel, const char *name, const struct icmp_spec *s,
		   const int *stats_that_move)
{
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;

	xdp_test_expect(skel, name, buf, build(buf, s), XDP_PASS, stats_that_move);
}

/* An ICMPv6 error from a router (fd77::fe) to dst, quoting a segment of ours. */
struct icmp6_spec {
	__u8 type, code;      /* 0/0 = 2/0: packet too big */
	const char *dst;      /* outer destination = our address; 0 = fd77::1 */
	const char *qsrc;     /* quoted source; 0 = the outer destination */
	const char *qdst;     /* quoted destination (the peer); 0 = fd77::9 */
	__u16 qsport, qdport; /* quoted ports, host order: ours, the peer's */
	__u8 qnexthdr;	      /* 0 = TCP */
	__u8 nexthdr;	      /* outer next header; 0 = ICMPv6 (58) */
	unsigned truncate;    /* cut the frame to this many bytes, if nonzero */
};

static unsigned build6(__u8 *buf, const struct icmp6_spec *s)
{
	__u8 *ip = buf + 14, *ic = ip + 40, *qip = ic + 8, *th = qip + 40;
	const char *dst = s->dst ? s->dst : "fd77::1";

	xdp_test_eth(buf, ETH_P_IPV6);
	xdp_test_ip6(ip, s->nexthdr ? s->nexthdr : 58, 8 + 40 + 8, "fd77::fe", dst);
	ic[0] = s->type ? s->type : 2;
	ic[1] = s->type ? s->code : 0;
	ic[6] = 1280 >> 8;
	ic[7] = 1280 & 0xff;
	xdp_test_ip6(qip, s->qnexthdr ? s->qnexthdr : IPPROTO_TCP, 1440, s->qsrc ? s->qsrc : dst,
		     s->qdst ? s->qdst : "fd77::9");
	th[0] = (__u8)(s->qsport >> 8);
	th[1] = (__u8)s->qsport;
	th[2] = (__u8)(s->qdport >> 8);
	th[3] = (__u8)s->qdport;
	th[4] = 0x12; /* sequence */
	return s->truncate ? s->truncate : 14 + 40 + 8 + 40 + 8;
}

static void expect6(struct xtcp_xdp *skel, const char *name, const struct icmp6_spec *s,
		    const int *stats_that_move)
{
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;

	xdp_test_expect(skel, name, buf, build6(buf, s), XDP_PASS, stats_that_move);
}

#define STEERED	 XTCP_STAT_PASSED, XTCP_STAT_NO_SOCKET, XTCP_STAT_ICMP_ERROR, XTCP_STAT_ICMP_STEERED
#define KERNEL	 XTCP_STAT_PASSED, XTCP_STAT_NOT_TCP
#define STEERED6 XTCP_STAT_IP6, STEERED
#define KERNEL6	 XTCP_STAT_IP6, XTCP_STAT_PASSED, XTCP_STAT_ICMP6

/* An error quoting a segment of the kernel's own connection on a served port is the kernel's. */
static void kernel_flow(struct xtcp_xdp *skel)
{
	struct xdp_test_kconn k;

	if (xdp_test_kconn_open(skel, AF_INET, &k))
		return;
	expect(skel, "kernel's connection",
	       &(struct icmp_spec){.dst = "127.0.0.1",
				   .qdst = "127.0.0.1",
				   .qsport = k.lport,
				   .qdport = k.cport},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR, XTCP_STAT_KFLOW_LOOKUP, XTCP_STAT_KERNEL_FLOW));
	expect(skel, "same port, no kernel connection",
	       &(struct icmp_spec){.dst = "127.0.0.1",
				   .qdst = "127.0.0.1",
				   .qsport = k.lport,
				   .qdport = (__u16)(k.cport + 1)},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	xdp_test_kconn_close(skel, &k);
}

/* The same for IPv6: a kernel connection on [::1] and a packet too big about it. */
static void kernel_flow6(struct xtcp_xdp *skel)
{
	struct xdp_test_kconn k;

	if (xdp_test_kconn_open(skel, AF_INET6, &k))
		return;
	expect6(skel, "v6 kernel's connection",
		&(struct icmp6_spec){
			.dst = "::1", .qdst = "::1", .qsport = k.lport, .qdport = k.cport},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR, XTCP_STAT_KFLOW_LOOKUP,
		      XTCP_STAT_KERNEL_FLOW));
	expect6(skel, "v6 same port, no kernel connection",
		&(struct icmp6_spec){.dst = "::1",
				     .qdst = "::1",
				     .qsport = k.lport,
				     .qdport = (__u16)(k.cport + 1)},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	xdp_test_kconn_close(skel, &k);
}

/* ICMPv6 verdicts: errors about xtcp flows steered, ND, echo and the rest passed. */
static void icmp6_cases(struct xtcp_xdp *skel)
{
	struct xtcp_serve6_key key = {.port = htons(80)};
	struct xtcp_serve_val val = {0};

	inet_pton(AF_INET6, "fd77::1", key.addr);
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_serve6), &key, &val, 0), "serve6");
	expect6(skel, "v6 packet too big, served port",
		&(struct icmp6_spec){.qsport = 80, .qdport = 5555},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	/* noted for whichever process holds the flow (xtcp_pmtu6), by the quoted peer */
	struct xtcp_pmtu6_key peer = {0};
	struct xtcp_pmtu hint = {0};
	int pmtu6_fd = bpf_map__fd(skel->maps.xtcp_pmtu6);

	inet_pton(AF_INET6, "fd77::9", peer.addr);
	CHECK(!bpf_map_lookup_elem(pmtu6_fd, &peer, &hint) && hint.mtu == 1280 && hint.ns,
	      "v6 path MTU hint for the peer: %u", hint.mtu);
	expect6(skel, "v6 port unreachable, served",
		&(struct icmp6_spec){.type = 1, .code = 4, .qsport = 80, .qdport = 5555},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	expect6(skel, "v6 port unreachable, other peer",
		&(struct icmp6_spec){
			.type = 1, .code = 4, .qdst = "fd77::8", .qsport = 80, .qdport = 5555},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	inet_pton(AF_INET6, "fd77::8", peer.addr);
	CHECK(bpf_map_lookup_elem(pmtu6_fd, &peer, &hint) != 0, "no v6 hint from an unreachable");
	expect6(skel, "v6 packet too big, unserved port",
		&(struct icmp6_spec){.qdst = "fd77::8", .qsport = 22, .qdport = 5555},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	CHECK(bpf_map_lookup_elem(pmtu6_fd, &peer, &hint) != 0, "no v6 hint from a flow not ours");
	expect6(skel, "v6 time exceeded, served",
		&(struct icmp6_spec){.type = 3, .qsport = 80, .qdport = 5555},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	expect6(skel, "v6 parameter problem, served",
		&(struct icmp6_spec){.type = 4, .code = 1, .qsport = 80, .qdport = 5555},
		MOVES(STEERED6, XTCP_STAT_KFLOW_LOOKUP));
	expect6(skel, "v6 packet too big, local-port range",
		&(struct icmp6_spec){.qsport = 40005, .qdport = 80},
		MOVES(STEERED6, XTCP_STAT_LOCAL_PORT));
	expect6(skel, "v6 unserved port", &(struct icmp6_spec){.qsport = 22, .qdport = 5555},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 served port, other address",
		&(struct icmp6_spec){.dst = "fd77::2", .qsport = 80},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 served port as the peer's",
		&(struct icmp6_spec){.qsport = 5555, .qdport = 80},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 quote not from us", &(struct icmp6_spec){.qsrc = "fd77::7", .qsport = 80},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 quotes UDP", &(struct icmp6_spec){.qnexthdr = IPPROTO_UDP, .qsport = 80},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 quote with an extension header",
		&(struct icmp6_spec){.qnexthdr = IPPROTO_DSTOPTS, .qsport = 80},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 quote cut inside TCP",
		&(struct icmp6_spec){.qsport = 80, .truncate = 14 + 40 + 8 + 40 + 7},
		MOVES(KERNEL6, XTCP_STAT_ICMP_ERROR));
	expect6(skel, "v6 quote cut inside IPv6",
		&(struct icmp6_spec){.qsport = 80, .truncate = 14 + 40 + 8 + 39}, MOVES(KERNEL6));
	expect6(skel, "v6 ICMPv6 header cut",
		&(struct icmp6_spec){.qsport = 80, .truncate = 14 + 40 + 7}, MOVES(KERNEL6));
	expect6(skel, "v6 echo request", &(struct icmp6_spec){.type = 128, .qsport = 80},
		MOVES(KERNEL6));
	expect6(skel, "v6 neighbour solicitation", &(struct icmp6_spec){.type = 135, .qsport = 80},
		MOVES(KERNEL6));
	expect6(skel, "v6 router advertisement", &(struct icmp6_spec){.type = 134, .qsport = 80},
		MOVES(KERNEL6));
	bpf_map_delete_elem(bpf_map__fd(skel->maps.xtcp_serve6), &key);
}

/*
 * A queue shared by several processes (no socket of its own): an error goes
 * to the member its flow went to (xtcp_flows, the flow's incoming tuple),
 * a flow never seen starting to the first holder (dead here: counted gone).
 */
static void shared_queue(struct xtcp_xdp *skel)
{
	int fd = bpf_map__fd(skel->maps.xtcp_shareq), flows = bpf_map__fd(skel->maps.xtcp_flows);
	struct xtcp_flow_key fk = {inet_addr("10.0.0.9"), inet_addr("10.0.0.1"), htons(5555),
				   htons(80)};
	struct xtcp_flow_val fv = {.member = 99};
	struct xtcp_shareq sq = {.wait_until = 1, .shared = 1};
	__u32 q0 = 0;

	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "queue 0 shared");
	expect(skel, "shared: frag needed to the dead first holder",
	       &(struct icmp_spec){.qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP, XTCP_STAT_SHARE_GONE));
	CHECK(!bpf_map_update_elem(flows, &fk, &fv, 0), "a flow of member 99");
	expect(skel, "shared: frag needed follows its flow",
	       &(struct icmp_spec){.qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "shared: another flow's error to the first holder",
	       &(struct icmp_spec){.qsport = 80, .qdport = 5556},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP, XTCP_STAT_SHARE_GONE));
	expect(skel, "shared: unserved port still the kernel's",
	       &(struct icmp_spec){.qsport = 22, .qdport = 5555},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	memset(&sq, 0, sizeof(sq));
	CHECK(!bpf_map_update_elem(fd, &q0, &sq, 0), "unshare");
	CHECK(!bpf_map_delete_elem(flows, &fk), "forget the flow");
	expect(skel, "unshared: as before", &(struct icmp_spec){.qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
}

/* Seeded random ICMP frames: always XDP_PASS, exactly one verdict counter each. */
static void random_icmp(struct xtcp_xdp *skel, unsigned n)
{
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;
	uint64_t x = 0x2545f4914f6cdd1dULL, v0;
	unsigned bad_verdict = 0, bad_count = 0;
	__u64 steered0 = xdp_test_stat(skel, XTCP_STAT_ICMP_STEERED);

	for (unsigned i = 0; i < n; i++) {
		unsigned len = build(buf, &(struct icmp_spec){.qsport = 80});
		int rv;

		/* random bytes over the ICMP header and quote; half keep the quote's ports */
		for (unsigned b = 34; b < 256; b++) {
			__u8 r = (__u8)xdp_test_rand(&x);

			if (!(i & 1) || b < 42 || b >= 62)
				buf[b] = r;
		}
		if (i & 1)
			buf[34] = 3;
		len = 34 + (unsigned)(x % (256 - 34));
		v0 = xdp_test_verdicts(skel);
		rv = xdp_test_run(skel, buf, len);
		bad_verdict += rv != XDP_PASS;
		bad_count += xdp_test_verdicts(skel) - v0 != 1;
	}
	CHECK(bad_verdict == 0, "%u of %u random ICMP frames not passed", bad_verdict, n);
	CHECK(bad_count == 0, "%u of %u random ICMP frames moved != 1 verdict counter", bad_count,
	      n);
	CHECK(xdp_test_stat(skel, XTCP_STAT_ICMP_STEERED) > steered0,
	      "some random ICMP frames were steered");
}

/* Seeded random ICMPv6 frames (errors, half quoting a served port): one verdict each. */
static void random_icmp6(struct xtcp_xdp *skel, unsigned n)
{
	__u8 raw[XDP_TEST_BUF] XDP_TEST_ALIGN, *buf = raw + 2;
	uint64_t x = 0x9e3779b97f4a7c15ULL, v0;
	unsigned bad_verdict = 0, bad_count = 0, len;

	for (unsigned i = 0; i < n; i++) {
		build6(buf, &(struct icmp6_spec){.qsport = 80});
		/* random bytes over the ICMPv6 header and quote; odd ones keep type and addresses
		 */
		for (unsigned b = 54; b < 256; b++) {
			__u8 r = (__u8)xdp_test_rand(&x);

			if (!(i & 1) || b < 54 + 2 || b >= 54 + 8 + 40 + 4)
				buf[b] = r;
		}
		len = 54 + (unsigned)(x % (256 - 54));
		v0 = xdp_test_verdicts(skel);
		bad_verdict += xdp_test_run(skel, buf, len) != XDP_PASS;
		bad_count += xdp_test_verdicts(skel) - v0 != 1;
	}
	CHECK(bad_verdict == 0, "%u of %u random ICMPv6 frames not passed", bad_verdict, n);
	CHECK(bad_count == 0, "%u of %u random ICMPv6 frames moved != 1 verdict counter", bad_count,
	      n);
}

int main(void)
{
	struct xtcp_xdp *skel = xdp_test_open();

	if (!skel)
		return check_summary();

	expect(skel, "frag needed, served port", &(struct icmp_spec){.qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	/* noted for whichever process holds the flow (xtcp_pmtu) */
	struct xtcp_pmtu hint = {0};
	__u32 peer = inet_addr("10.0.0.9");
	int pmtu_fd = bpf_map__fd(skel->maps.xtcp_pmtu);

	CHECK(!bpf_map_lookup_elem(pmtu_fd, &peer, &hint) && hint.mtu == 1000 && hint.ns,
	      "path MTU hint for the peer: %u", hint.mtu);
	expect(skel, "host unreachable, other peer",
	       &(struct icmp_spec){.type = 3, .code = 1, .qdst = "10.0.0.8", .qsport = 80},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	peer = inet_addr("10.0.0.8");
	CHECK(bpf_map_lookup_elem(pmtu_fd, &peer, &hint) != 0, "no hint from a host unreachable");
	expect(skel, "frag needed, unserved port",
	       &(struct icmp_spec){.qdst = "10.0.0.8", .qsport = 22},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	CHECK(bpf_map_lookup_elem(pmtu_fd, &peer, &hint) != 0, "no hint from a flow not ours");
	expect(skel, "frag needed, local-port range",
	       &(struct icmp_spec){.qsport = 40005, .qdport = 80},
	       MOVES(STEERED, XTCP_STAT_LOCAL_PORT));
	expect(skel, "host unreachable, served",
	       &(struct icmp_spec){.type = 3, .code = 1, .qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "time exceeded, served",
	       &(struct icmp_spec){.type = 11, .code = 0, .qsport = 80, .qdport = 5555},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "quoted IP options", &(struct icmp_spec){.qihl = 7, .qsport = 80},
	       MOVES(STEERED, XTCP_STAT_KFLOW_LOOKUP));
	expect(skel, "unserved port", &(struct icmp_spec){.qsport = 22, .qdport = 5555},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "served port, other address",
	       &(struct icmp_spec){.dst = "10.0.0.2", .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "served port as the peer's", &(struct icmp_spec){.qsport = 5555, .qdport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "echo request", &(struct icmp_spec){.type = 8, .qsport = 80}, MOVES(KERNEL));
	expect(skel, "redirect", &(struct icmp_spec){.type = 5, .qsport = 80}, MOVES(KERNEL));
	expect(skel, "quotes UDP", &(struct icmp_spec){.qproto = IPPROTO_UDP, .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "quote not from us", &(struct icmp_spec){.qsrc = "10.0.0.7", .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "quoted later fragment",
	       &(struct icmp_spec){.qfrag_off = 0x0010, .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "quoted ihl < 5", &(struct icmp_spec){.qihl = 4, .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "quote cut inside TCP",
	       &(struct icmp_spec){.qsport = 80, .truncate = 14 + 20 + 8 + 20 + 7},
	       MOVES(KERNEL, XTCP_STAT_ICMP_ERROR));
	expect(skel, "quote cut inside IP",
	       &(struct icmp_spec){.qsport = 80, .truncate = 14 + 20 + 8 + 19}, MOVES(KERNEL));
	expect(skel, "ICMP header cut", &(struct icmp_spec){.qsport = 80, .truncate = 14 + 20 + 7},
	       MOVES(KERNEL));
	expect(skel, "outer fragment", &(struct icmp_spec){.frag_off = 0x2000, .qsport = 80},
	       MOVES(KERNEL));
	expect(skel, "vlan, not steered by default", &(struct icmp_spec){.vlan = 1, .qsport = 80},
	       MOVES(KERNEL, XTCP_STAT_VLAN, XTCP_STAT_ICMP_ERROR));
	kernel_flow(skel);
	shared_queue(skel);
	random_icmp(skel, 5000);
	icmp6_cases(skel);
	kernel_flow6(skel);
	random_icmp6(skel, 5000);

	xtcp_xdp__destroy(skel);
	return check_summary();
}
