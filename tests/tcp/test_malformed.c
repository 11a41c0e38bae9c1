/*
 * test_malformed.c - hostile input: bad checksums dropped and counted,
 * malformed headers and lengths dropped without a reply, malformed options
 * parsed up to the bad one as Linux does, and the
 * stack still healthy afterwards. Ethernet padding (frames longer than
 * the IP total length) is legal and must be ignored, not delivered.
 */
#include "t.h"

#include <errno.h>
#include <string.h>

static uint64_t drops(struct t *t)
{
	return t_stats(t).rx_drop;
}

/* The listener still answers a good SYN on a new flow. */
static void listener_healthy(struct t *t, uint16_t port)
{
	t_flow(t, port);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
}

static void bad_tcp_checksum_dropped(struct t *t)
{
	uint64_t d0;

	t_start(t, TCP_ESTABLISHED);
	d0 = drops(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .bad_tcp_csum = 1));
	t_nothing(t, 0);
	t_eq(t, t_read(t, 1000), -EAGAIN);
	t_eq(t, drops(t), d0 + 1);
	t_check(t, t_drops(t, "csum") + t_drops(t, "checksum") >= 1);
	/* The same segment with a good checksum is taken. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_eq(t, t_read(t, 1000), 100);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
}

static void bad_ip_checksum_dropped(struct t *t)
{
	uint64_t d0 = drops(t);

	t_flow(t, 42000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0, .bad_ip_csum = 1));
	t_nothing(t, 0);
	t_eq(t, drops(t), d0 + 1);
	t_check(t, t_drops(t, "csum") + t_drops(t, "checksum") >= 1);
	listener_healthy(t, 42001);
}

/*
 * Options that break the option list's structure: as Linux's
 * tcp_parse_options(), parsing stops at the bad option and the SYN is
 * answered (as if the list ended there); the cut is counted, not dropped.
 */
static void malformed_syn_options_answered(struct t *t)
{
	static const uint8_t len0[] = {2, 0, 5, 0xb4};		 /* option length 0 */
	static const uint8_t len1[] = {4, 1, 1, 1};		 /* option length 1 */
	static const uint8_t past[] = {1, 1, 8, 14, 0, 0, 0, 0}; /* runs past the header */
	static const uint8_t cut[] = {1, 1, 1, 2};		 /* kind, no length byte */
	static const struct {
		const uint8_t *o;
		uint8_t n;
	} cases[] = {{len0, 4}, {len1, 4}, {past, 8}, {cut, 4}};
	struct sock_info info;
	unsigned i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t d0 = drops(t), c0 = t_stats(t).malformed_opt_lists;

		t_flow(t, (uint16_t)(42100 + i));
		t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = cases[i].o,
			    .raw_optlen = cases[i].n));
		t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
		t_accept(t);
		t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
		t_eq(t, info.mss, 536); /* no MSS option was taken: RFC 9293 3.7.1 */
		t_eq(t, drops(t), d0);
		t_eq(t, t_stats(t).malformed_opt_lists, c0 + 1);
	}
}

/* The options before the malformed one still count (Linux parses up to it). */
static void options_before_malformed_one_kept(struct t *t)
{
	/* MSS 1400, SACK-permitted, then a window scale of length 0 */
	static const uint8_t o[] = {2, 4, 0x05, 0x78, 4, 2, 3, 0};
	struct sock_info info;

	t_flow(t, 42110);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = o, .raw_optlen = sizeof(o)));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .sackok = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	t_eq(t, info.mss, 1400);
	t_eq(t, t_stats(t).malformed_opt_lists, 1);
}

/*
 * A known option with the wrong size for its kind, inside a well-formed
 * list: ignored, as Linux's tcp_parse_options() does, so the SYN is answered
 * as if the option were absent (no bogus MSS or window scale taken from it).
 */
static void wrong_size_options_ignored(struct t *t)
{
	static const uint8_t mss3[] = {2, 3, 0, 1}; /* MSS with length 3 */
	static const uint8_t ws2[] = {1, 3, 2, 0};  /* window scale with length 2 */
	struct sock_info info;

	t_flow(t, 42150);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = mss3, .raw_optlen = 4));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	t_check(t, info.mss == 536); /* RFC 9293 3.7.1: no MSS option means 536 */
	t_flow(t, 42151);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = ws2, .raw_optlen = 4));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460)); /* no ws */
}

/* Header length fields that do not fit the frame. */
static void malformed_lengths_dropped(struct t *t)
{
	const struct seg bad[] = {
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .doff_delta = -1), /* data offset 4 */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .doff_delta = 6),  /* offset past the end */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .ip_len_delta = 40), /* IP length > frame */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0,
		    .ip_len_delta = -30),				 /* < IP + TCP headers */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .ihl_delta = -1), /* IHL 4 */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .ihl_delta = 10), /* IHL past the end */
		SEG(.flags = T_SYN, .seq = 0, .ts = 0, .trunc = 30),	 /* truncated frame */
	};
	unsigned i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t d0 = drops(t);

		t_flow(t, (uint16_t)(42200 + i));
		t_in(t, bad[i]);
		t_nothing(t, 0);
		if (drops(t) != d0 + 1)
			t_fail(t, __FILE__, __LINE__, "case %u: rx_drop %llu -> %llu", i,
			       (unsigned long long)d0, (unsigned long long)drops(t));
	}
	listener_healthy(t, 42299);
}

/* Frames too short for the headers they claim, and not-IPv4 frames. */
static void runt_frames_dropped(struct t *t)
{
	uint8_t f[T_FRAME_MAX];
	size_t n, cut;

	t_flow(t, 42300);
	n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0), f);
	for (cut = 0; cut < n; cut += 7)
		t_in_raw(t, f, cut);
	f[14] = 0x65; /* IP version 6 in an IPv4 frame */
	t_in_raw(t, f, n);
	t_nothing(t, 0);
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
	listener_healthy(t, 42301);
}

/*
 * Bad options on an established connection: Linux ignores a wrong-sized
 * option and stops parsing at a malformed one; the data is taken either way.
 */
static void malformed_options_established(struct t *t)
{
	static const uint8_t ts_short[] = {8, 8, 0, 0, 0, 1, 1, 1}; /* TS with length 8 */
	static const uint8_t zero_len[] = {1, 1, 5, 0};		    /* SACK with length 0 */

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 50, .raw_opt = ts_short,
		    .raw_optlen = sizeof(ts_short)));
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 1, .len = 50, .raw_opt = zero_len,
		    .raw_optlen = sizeof(zero_len)));
	t_eq(t, t_stats(t).malformed_opt_lists, 1);
	t_eq(t, t_read(t, 1000), 100);
	T_STATE(t, TCP_ESTABLISHED);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 51));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
}

/* Ethernet pads short frames to 60 bytes: bytes past the IP total length are not data. */
static void ethernet_padding_ignored(struct t *t)
{
	uint8_t f[T_FRAME_MAX];
	size_t n;

	t_start_plain(t, TCP_ESTABLISHED);
	n = t_build(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 2), f); /* 56 bytes */
	memset(f + n, 0xee, 60 - n);
	t_in_raw(t, f, 60);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 3));
	t_eq(t, t_read(t, 1000), 2);
	t_eq(t, t_read(t, 1000), -EAGAIN);
}

/* A segment addressed to another IP or to another MAC is not ours. */
static void not_for_us_dropped(struct t *t)
{
	uint8_t f[T_FRAME_MAX];
	size_t n;

	t_flow(t, 42400);
	n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0), f);
	f[14 + 19] ^= 0x40; /* destination 10.77.1.65 */
	t_seg_fix_csum(f, n);
	t_in_raw(t, f, n);
	t_nothing(t, 0);
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
	listener_healthy(t, 42401);
}

int main(void)
{
	T_RUN(bad_tcp_checksum_dropped);
	T_RUN(bad_ip_checksum_dropped);
	T_RUN(malformed_syn_options_answered);
	T_RUN(options_before_malformed_one_kept);
	T_RUN(wrong_size_options_ignored);
	T_RUN(malformed_lengths_dropped);
	T_RUN(runt_frames_dropped);
	T_RUN(malformed_options_established);
	T_RUN(ethernet_padding_ignored);
	T_RUN(not_for_us_dropped);
	return check_summary();
}
