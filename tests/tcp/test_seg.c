/*
 * test_seg.c - self-test of the packet-script harness's frame builder and
 * parser (t_seg.c), without a stack: round trips of every option, the
 * RFC 1071 checksum on a known vector, and each sabotage the scripts use
 * being caught by the strict parser.
 */
#include "check.h"
#include "t_seg.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static void base(struct t_wire *w)
{
	memset(w, 0, sizeof(*w));
	memcpy(w->src_mac, "\x02\0\0\0\0\x02", 6);
	memcpy(w->dst_mac, "\x02\0\0\0\0\x01", 6);
	inet_pton(AF_INET, "10.77.1.2", &w->src_ip);
	inet_pton(AF_INET, "10.77.1.1", &w->dst_ip);
	w->sport = 40000;
	w->dport = 80;
	w->seq = 0xfffffff0u;
	w->ack = 12345;
	w->flags = T_ACK | T_PSH;
	w->win = 29200;
	w->ws = -1;
	w->df = 1;
}

static void test_csum_vector(void)
{
	/* RFC 1071 section 3 example: sum 0xddf2, checksum ~ = 0x220d. */
	static const uint8_t v[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	CHECK(t_csum(v, sizeof(v), 0) == 0x220d);
	/* Odd length pads with a zero byte. */
	CHECK(t_csum("\x01", 1, 0) == (uint16_t)~0x0100);
}

static void test_roundtrip_syn(void)
{
	struct t_wire w, p;
	uint8_t buf[T_FRAME_MAX];
	const char *why = NULL;
	size_t n;

	base(&w);
	w.flags = T_SYN;
	w.mss = 1460;
	w.ws = 7;
	w.sackok = 1;
	w.ts = 1;
	w.ts_val = 0xdeadbeef;
	w.ts_ecr = 0;
	n = t_seg_build(&w, buf);
	CHECK(n == 14 + 20 + 40); /* Linux's SYN: 20 bytes of options */
	if (!CHECK(t_seg_parse(buf, n, &p, &why) == 0, "%s", why))
		return;
	CHECK(p.flags == T_SYN && p.seq == w.seq && p.mss == 1460 && p.ws == 7 && p.sackok);
	CHECK(p.ts && p.ts_val == 0xdeadbeef && p.ts_ecr == 0 && p.len == 0 && p.df);
	CHECK(p.sport == 40000 && p.dport == 80 && p.src_ip == w.src_ip);
}

static void test_roundtrip_data_sack(void)
{
	struct t_wire w, p;
	uint8_t buf[T_FRAME_MAX], pay[777];
	size_t n, i;

	for (i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 31);
	base(&w);
	w.ts = 1;
	w.ts_val = 5;
	w.ts_ecr = 6;
	w.nsack = 3;
	w.sack[0][0] = 100, w.sack[0][1] = 200;
	w.sack[1][0] = 300, w.sack[1][1] = 400;
	w.sack[2][0] = 0xfffffff0u, w.sack[2][1] = 16;
	w.data = pay;
	w.len = sizeof(pay);
	n = t_seg_build(&w, buf);
	if (!CHECK(t_seg_parse(buf, n, &p, NULL) == 0))
		return;
	CHECK(p.nsack == 3 && p.sack[2][0] == 0xfffffff0u && p.sack[2][1] == 16);
	CHECK(p.len == sizeof(pay) && memcmp(p.data, pay, sizeof(pay)) == 0);
	CHECK(p.ts_val == 5 && p.ts_ecr == 6 && p.mss == 0 && p.ws == -1);
}

static void expect_bad(struct t_wire *w, const char *want)
{
	uint8_t buf[T_FRAME_MAX];
	struct t_wire p;
	const char *why = "";
	size_t n = t_seg_build(w, buf);

	CHECK(t_seg_parse(buf, n, &p, &why) < 0);
	CHECK(strstr(why, want) != NULL, "want \"%s\", got \"%s\"", want, why);
}

static void test_sabotage_caught(void)
{
	static const uint8_t opt_len0[] = {2, 0, 0, 0};
	static const uint8_t opt_past[] = {1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
	struct t_wire w;

	base(&w);
	w.bad_tcp_csum = 1;
	expect_bad(&w, "TCP checksum");
	base(&w);
	w.bad_ip_csum = 1;
	expect_bad(&w, "IP checksum");
	base(&w);
	w.doff_delta = 3; /* data offset past the end of the segment */
	expect_bad(&w, "data offset");
	base(&w);
	w.ip_len_delta = 8;
	expect_bad(&w, "total length");
	base(&w);
	w.ihl_delta = -1;
	expect_bad(&w, "IP header");
	base(&w);
	w.raw_opt = opt_len0;
	w.raw_optlen = sizeof(opt_len0);
	expect_bad(&w, "option");
	base(&w);
	w.raw_opt = opt_past;
	w.raw_optlen = sizeof(opt_past);
	w.doff_delta = -1; /* the TS option now runs past the header */
	expect_bad(&w, "option");
	base(&w);
	w.trunc = 10;
	expect_bad(&w, "length");
}

static void test_fix_csum(void)
{
	struct t_wire w, p;
	uint8_t buf[T_FRAME_MAX];
	size_t n;

	base(&w);
	w.bad_tcp_csum = 1;
	w.bad_ip_csum = 1;
	n = t_seg_build(&w, buf);
	CHECK(t_seg_parse(buf, n, &p, NULL) < 0);
	t_seg_fix_csum(buf, n);
	CHECK(t_seg_parse(buf, n, &p, NULL) == 0);
}

int main(void)
{
	test_csum_vector();
	test_roundtrip_syn();
	test_roundtrip_data_sack();
	test_sabotage_caught();
	test_fix_csum();
	return check_summary();
}
