/*
 * unit_stack.c - unit tests of the stack's building blocks, through its
 * internal header: sequence arithmetic, the Internet checksum (against a
 * byte-wise reference, every length and alignment), byte rings, the
 * out-of-order range list, TCP option parsing/writing, the timer wheel,
 * the pipe's pcap output and the timestamp-offset secret.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "stack_priv.h"

static void test_seq(void)
{
	CHECK(seq_lt(0xfffffff0u, 0x10u));
	CHECK(seq_gt(0x10u, 0xfffffff0u));
	CHECK(seq_leq(5, 5) && seq_geq(5, 5) && !seq_lt(5, 5));
	CHECK(seq_between(0, 0xfffffff0u, 0x10u));
	CHECK(!seq_between(0x20u, 0xfffffff0u, 0x10u));
	CHECK(seq_max(0xfffffff0u, 0x10u) == 0x10u);
	CHECK(seq_min(0xfffffff0u, 0x10u) == 0xfffffff0u);
}

static uint16_t ref_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void test_csum(void)
{
	static uint8_t buf[2100];
	uint64_t r = 99;
	int bad = 0;

	for (size_t i = 0; i < sizeof(buf); i++) {
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (i % 7 == 0) ? 0xff : (uint8_t)(r >> 56);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n < 2000; n += (n < 100 ? 1 : 37)) {
			uint16_t ours = csum_fold(csum_partial(buf + off, n, 0));
			uint16_t want = ref_csum(buf + off, n);
			uint16_t ours_be = (uint16_t)(be16(ours)); /* native-order sum -> value */

			if (ours_be != want && !(ours_be == 0xffff && want == 0) &&
			    !(ours_be == 0 && want == 0xffff))
				bad++;
		}
	CHECK(bad == 0);
	/* chaining at even offsets equals one pass */
	CHECK(csum_fold(csum_partial(buf + 40, 1000, csum_partial(buf, 40, 0))) ==
	      csum_fold(csum_partial(buf, 1040, 0)));
	/* a header with its checksum folds to 0xffff */
	uint8_t ip[20] = {0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 77, 1, 2, 10, 77, 1, 1};
	uint16_t c = (uint16_t)~csum_fold(csum_partial(ip, 20, 0));

	memcpy(ip + 10, &c, 2);
	CHECK(csum_fold(csum_partial(ip, 20, 0)) == 0xffff);
}

static void test_ring(void)
{
	uint8_t ring[16], out[16];
	const uint8_t in[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

	memset(ring, 0, sizeof(ring));
	ring_write(ring, 15, 10, in, 12); /* wraps after 6 bytes */
	CHECK(ring[10] == 1 && ring[15] == 6 && ring[0] == 7 && ring[5] == 12);
	ring_read(ring, 15, 10 + 32, out, 12); /* offsets are taken modulo the size */
	CHECK(memcmp(out, in, 12) == 0);
	CHECK(buf_ring_size(1) == TCP_BUF_MIN && buf_ring_size(5000) == 8192);
	CHECK(buf_ring_size(0xffffffffu) == TCP_BUF_MAX);
}

static void test_ooo(void)
{
	struct tcb t;

	memset(&t, 0, sizeof(t));
	t.rcv_nxt = 1000;
	CHECK(ooo_insert(&t, 2000, 2100) == 0);
	CHECK(ooo_insert(&t, 1500, 1600) == 0);
	CHECK(t.n_ooo == 2 && t.ooo[0].start == 1500 && t.ooo_last == 0);
	CHECK(ooo_insert(&t, 1600, 2000) == 0); /* bridges both */
	CHECK(t.n_ooo == 1 && t.ooo[0].start == 1500 && t.ooo[0].end == 2100);
	for (unsigned i = 0; i < TCP_OOO_HOLES - 1; i++)
		CHECK(ooo_insert(&t, 3000 + i * 100, 3050 + i * 100) == 0);
	CHECK(t.n_ooo == TCP_OOO_HOLES);
	CHECK(ooo_insert(&t, 9000, 9100) == -1); /* bounded */
	CHECK(ooo_insert(&t, 3040, 3060) == 0);	 /* merging needs no new slot */
	t.rcv_nxt = 1500;
	ooo_advance(&t);
	CHECK(t.rcv_nxt == 2100 && t.n_ooo == TCP_OOO_HOLES - 1);
	/* wrap-around of sequence space */
	memset(&t, 0, sizeof(t));
	t.rcv_nxt = 0xffffff00u;
	CHECK(ooo_insert(&t, 0x10, 0x20) == 0 && ooo_insert(&t, 0xffffff80u, 0x10) == 0);
	CHECK(t.n_ooo == 1 && t.ooo[0].start == 0xffffff80u && t.ooo[0].end == 0x20);
}

static void test_options(void)
{
	uint8_t p[40];
	struct tcp_seg_in seg;
	unsigned n = tcp_opt_syn(p, 1460, 1, 111, 222, 1, 1, 7);

	CHECK(n == 20 && n % 4 == 0);
	memset(&seg, 0, sizeof(seg));
	CHECK(tcp_opt_parse(&seg, p, n) == 0);
	CHECK(seg.has_mss && seg.mss == 1460 && seg.has_ts && seg.tsval == 111 &&
	      seg.tsecr == 222 && seg.sack_ok && seg.has_ws && seg.ws == 7);
	n = tcp_opt_syn(p, 536, 0, 0, 0, 1, 0, 0);
	memset(&seg, 0, sizeof(seg));
	CHECK(n == 8 && tcp_opt_parse(&seg, p, n) == 0 && seg.sack_ok && !seg.has_ts);
	/* malformed: length 1, running past the end; wrong size of a known kind ignored */
	const uint8_t bad1[] = {2, 1, 0, 0}, bad2[] = {1, 8, 10, 0}, odd[] = {3, 2, 1, 1};

	memset(&seg, 0, sizeof(seg));
	CHECK(tcp_opt_parse(&seg, bad1, 4) == -1);
	CHECK(tcp_opt_parse(&seg, bad2, 4) == -1);
	/* parsing stops at the bad option; what came before it counts (Linux) */
	const uint8_t keep[] = {2, 4, 5, 0xb4, 3, 0, 1, 1};

	memset(&seg, 0, sizeof(seg));
	CHECK(tcp_opt_parse(&seg, keep, 8) == -1 && seg.has_mss && seg.mss == 1460 && !seg.has_ws);
	CHECK(tcp_opt_parse(&seg, odd, 4) == 0 && !seg.has_ws);
	const uint8_t ws[] = {3, 3, 30, 0};

	CHECK(tcp_opt_parse(&seg, ws, 4) == 0 && seg.ws == 14); /* RFC 7323 2.3 clamp */
	/* non-SYN: TS then SACK blocks, most recent block first */
	struct tcb t;

	memset(&t, 0, sizeof(t));
	t.flags = TF_TS | TF_SACK;
	t.ts_recent = 5;
	t.n_ooo = 4;
	for (unsigned i = 0; i < 4; i++) {
		t.ooo[i].start = 100 * (i + 1);
		t.ooo[i].end = 100 * (i + 1) + 50;
	}
	t.ooo_last = 2;
	unsigned ns, len = tcp_opt_len(&t, &ns);

	CHECK(ns == 3 && len == 12 + 4 + 24);
	CHECK(tcp_opt_write(p, &t, 9, ns) == len);
	memset(&seg, 0, sizeof(seg));
	CHECK(tcp_opt_parse(&seg, p, len) == 0 && seg.has_ts && seg.tsval == 9 && seg.tsecr == 5);
	CHECK(seg.nsack == 3 && seg.sack[0].start == 300 && seg.sack[0].end == 350);
}

static void test_wheel(void)
{
	struct stack *stk = calloc(1, sizeof(*stk));
	struct wheel_ent e[3];

	if (!stk) {
		CHECK(0);
		return;
	}
	wheel_init(stk, 0);
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++)
		list_init(&e[i].node);
	e[0].is_req = e[1].is_req = e[2].is_req = 1; /* only their positions are tested */
	wheel_arm(stk, &e[0], 5000);
	wheel_arm(stk, &e[1], 9000000); /* beyond one lap */
	CHECK(wheel_next(stk) == 5);
	wheel_arm(stk, &e[0], 7000); /* later: lazy, stays at 5 ms */
	CHECK(e[0].when_ms == 5);
	wheel_arm(stk, &e[0], 2000); /* earlier: moves */
	CHECK(e[0].when_ms == 2 && wheel_next(stk) == 2);
	wheel_cancel(&e[0]);
	CHECK(e[0].when_ms == 0);
	CHECK(wheel_next(stk) <= 9000); /* a lower bound until the wheel runs */
	wheel_run(stk, 3);		/* nothing due: the cancelled entry is gone */
	CHECK(wheel_next(stk) == 9000);
	wheel_cancel(&e[1]);
	wheel_run(stk, 9000);
	CHECK(wheel_next(stk) == UINT64_MAX);
	free(stk);
}

static void test_pcap(void)
{
	struct netdev *a, *b;
	struct netdev_pipe_cfg pc = {.pcap = "/tmp/xtcp_unit_pipe.pcap", .seed = 1};
	struct netdev_pipe *p = netdev_pipe_pair(&a, &b, &pc);
	struct pkt pkt, in[4];

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK(a->ops->tx_alloc(a, &pkt, 60) == 0);
	CHECK(((uintptr_t)pkt.data & 3) == 2); /* NET_IP_ALIGN */
	memset(pkt.data, 0xab, 60);
	pkt.len = 60;
	a->ops->tx_queue(a, &pkt, 1);
	netdev_pipe_set_time(p, 10);
	CHECK(b->ops->rx_burst(b, in, 4) == 1 && in[0].len == 60 && in[0].data[59] == 0xab);
	b->ops->rx_done(b, in, 1);
	uint8_t mac[6];

	CHECK(a->ops->resolve(a, b->info.ip4, mac) == 0 && memcmp(mac, b->info.mac, 6) == 0);
	CHECK(a->ops->resolve(a, 0x01020304, mac) == -EHOSTUNREACH);
	netdev_pipe_free(p);
	FILE *f = fopen("/tmp/xtcp_unit_pipe.pcap", "rb");
	uint32_t hdr[6 + 4];

	CHECK(f && fread(hdr, sizeof(hdr), 1, f) == 1 && hdr[0] == 0xa1b2c3d4u && hdr[5] == 1 &&
	      hdr[8] == 60);
	if (f)
		fclose(f);
	remove("/tmp/xtcp_unit_pipe.pcap");
}

/* ts_seed: processes sharing it give a peer the same timestamp offset; seed alone does not. */
static void test_ts_seed(void)
{
	struct netdev *a, *b;
	struct netdev_pipe_cfg pc = {.seed = 1};
	struct netdev_pipe *p = netdev_pipe_pair(&a, &b, &pc);
	struct stack_config c1 = {.dev = a, .seed = 1, .ts_seed = 77, .max_socks = 16};
	struct stack_config c2 = {.dev = a, .seed = 2, .ts_seed = 77, .max_socks = 16};
	struct stack_config c3 = {.dev = a, .seed = 3, .max_socks = 16};
	struct stack *s1, *s2, *s3;

	CHECK(p != NULL);
	if (!p)
		return;
	s1 = stack_create(&c1);
	s2 = stack_create(&c2);
	s3 = stack_create(&c3);
	CHECK(s1 && s2 && s3);
	if (s1 && s2 && s3) {
		/* 10.77.1.1, 10.77.1.2, 10.77.1.3 */
		struct in6_addr ip1 = addr_from_v4(0x0a4d0101), ip2 = addr_from_v4(0x0a4d0102);
		struct in6_addr ip3 = addr_from_v4(0x0a4d0103);
		/* fd77::1, fd77::2 */
		struct in6_addr v1 = {.s6_addr = {0xfd, 0x77, [15] = 1}};
		struct in6_addr v2 = {.s6_addr = {0xfd, 0x77, [15] = 2}};

		CHECK(tcp_ts_off(s1, &ip1, &ip2) == tcp_ts_off(s2, &ip1, &ip2));
		CHECK(tcp_ts_off(s1, &ip1, &ip2) != tcp_ts_off(s3, &ip1, &ip2));
		CHECK(tcp_ts_off(s1, &ip1, &ip2) != tcp_ts_off(s1, &ip1, &ip3));
		CHECK(tcp_ts_off(s1, &v1, &v2) == tcp_ts_off(s2, &v1, &v2));
		CHECK(tcp_ts_off(s1, &v1, &v2) != tcp_ts_off(s1, &v2, &v1));
		/* ISNs stay per process, and cover the whole IPv6 4-tuple (RFC 6528) */
		CHECK(tcp_isn(s1, &ip1, 2, &ip2, 4) != tcp_isn(s2, &ip1, 2, &ip2, 4));
		CHECK(tcp_isn(s1, &v1, 2, &v2, 4) != tcp_isn(s1, &v2, 2, &v1, 4));
		/* IPv4 keyed hashes unchanged by the 16-byte form: one word, as before */
		uint64_t m[4];

		uint64_t w12 = (uint64_t)addr_v4(&ip1) << 32 | addr_v4(&ip2);

		CHECK(addr_words(m, &ip1, &ip2) == 1 && m[0] == w12);
		CHECK(addr_words(m, &v1, &ip2) == 4);
		/* flow labels: 20 bits, never 0, one per 4-tuple */
		uint32_t fl = ip6_flowlabel(s1, &v1, 80, &v2, 4000);

		CHECK(fl != 0 && fl <= 0xfffff && fl == ip6_flowlabel(s1, &v1, 80, &v2, 4000));
		CHECK(fl != ip6_flowlabel(s1, &v1, 80, &v2, 4001));
	}
	stack_destroy(s1);
	stack_destroy(s2);
	stack_destroy(s3);
	netdev_pipe_free(p);
}

int main(void)
{
	test_seq();
	test_csum();
	test_ring();
	test_ooo();
	test_options();
	test_wheel();
	test_pcap();
	test_ts_seed();
	return check_summary();
}
