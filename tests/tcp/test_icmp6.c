/*
 * test_icmp6.c - packet scripts for ICMPv6 errors about our connections
 * (stack/ip6.c -> stack/icmp.c icmp6_input(), stack/pmtu.c), the peer
 * talking IPv6 (t_family(AF_INET6): link MTU 1500, MSS 1440).
 *
 * As Linux's tcp_v6_err(): "packet too big" (RFC 4443 3.2, RFC 8201)
 * quoting a segment in flight lowers the path MTU, never below 1280 (RFC
 * 8200 5), cuts the MSS to MTU - 60 and resends at once; a quote outside
 * SND.UNA..SND.NXT, of no connection, of another source, with extension
 * headers or with a checksum missing the pseudo-header is rejected (RFC
 * 5927); unreachables and time exceeded are soft errors on a connected
 * socket and hard in SYN-SENT, with icmpv6_err_convert()'s errnos; a
 * mini-socket is dropped only by the "fatal" ones.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define FULL	 1428 /* MTU 1500 less 60 and the timestamp option */
#define MSS_1280 (1280 - 60 - 12)
#define MSS_1400 (1400 - 60 - 12)

/* how to spoil the error on purpose */
enum {
	BAD_NONE,
	BAD_CSUM_NO_PSEUDO, /* checksum over the message alone, as ICMPv4's */
	BAD_QUOTE_SRC,	    /* the quoted source is not our address */
	BAD_QUOTE_EXT,	    /* the quoted next header is a destination-options header */
	BAD_SHORT,	    /* only 4 bytes of the TCP header quoted */
};

/*
 * Inject an ICMPv6 error from a router (fd77:1::fe) quoting the segment w
 * the stack sent (its IPv6 header and first 8 bytes of TCP). info is the
 * 32-bit field after the checksum (the MTU of "packet too big").
 */
static void icmp6_in(struct t *t, const struct t_wire *w, uint8_t type, uint8_t code, uint32_t info,
		     int32_t seq_delta, int sport_delta, int bad)
{
	uint8_t seg[T_FRAME_MAX], f[160];
	struct t_wire q = *w;
	size_t quote = 40 + (bad == BAD_SHORT ? 4 : 8);
	uint32_t sum = 0, plen = (uint32_t)(8 + quote);
	uint16_t c;

	t_check(t, w->v6);
	q.seq += (uint32_t)seq_delta;
	q.sport = (uint16_t)(q.sport + sport_delta);
	t_check(t, t_seg_build(&q, seg) >= 14 + 40 + 8);
	memset(f, 0, sizeof(f));
	memcpy(f, w->src_mac, 6); /* back to the stack */
	memcpy(f + 6, w->dst_mac, 6);
	f[12] = 0x86;
	f[13] = 0xdd;
	uint8_t *ip = f + 14, *ic = ip + 40;

	ip[0] = 0x60;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	ip[6] = 58; /* ICMPv6 */
	ip[7] = 64;
	t_check(t, inet_pton(AF_INET6, "fd77:1::fe", ip + 8) == 1);
	memcpy(ip + 24, w->src_ip6, 16);
	ic[0] = type;
	ic[1] = code;
	ic[4] = (uint8_t)(info >> 24);
	ic[5] = (uint8_t)(info >> 16);
	ic[6] = (uint8_t)(info >> 8);
	ic[7] = (uint8_t)info;
	memcpy(ic + 8, seg + 14, quote);
	if (bad == BAD_QUOTE_SRC)
		ic[8 + 8 + 15] ^= 1;
	if (bad == BAD_QUOTE_EXT)
		ic[8 + 6] = 60;
	/* RFC 4443 2.3: the pseudo-header of RFC 8200 8.1, next header 58 */
	for (int i = 8; i < 40; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	sum += 58 + plen;
	c = t_csum(ic, plen, bad == BAD_CSUM_NO_PSEUDO ? 0 : sum);
	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	t_in_raw(t, f, 14 + 40 + plen);
}

static void too_big(struct t *t, const struct t_wire *w, uint32_t mtu)
{
	icmp6_in(t, w, 2, 0, mtu, 0, 0, BAD_NONE);
}

static int maxseg(struct t *t)
{
	int v = 0;
	socklen_t l = sizeof(v);

	t_eq(t, sock_getopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_MAXSEG, &v, &l), 0);
	return v;
}

/* Established over IPv6, n full segments sent and popped. Returns the first. */
static struct t_wire send_full(struct t *t, int n)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_check(t, t->v6);
	t_write(t, n * FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	for (int i = 1; i < n; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + (uint32_t)i * FULL, .ack = 1, .len = FULL));
	return first;
}

/* The valid case: a 1400-byte link; what was in flight goes again at once, smaller. */
static void too_big_resends_smaller(struct t *t)
{
	struct t_wire first = send_full(t, 3);

	too_big(t, &first, 1400);
	for (int off = 0; off < 3 * FULL; off += MSS_1400) {
		int len = 3 * FULL - off < MSS_1400 ? 3 * FULL - off : MSS_1400;

		t_out_by(t, 0, SEG(.flags = T_ACK, .seq = 1 + off, .ack = 1, .len = len));
	}
	t_eq(t, maxseg(t), MSS_1400);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, t_stats(t).icmp_rejected, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL));
	t_write(t, 2 * MSS_1400);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .ack = 1, .len = MSS_1400));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL + MSS_1400, .ack = 1, .len = MSS_1400));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0); /* the soft EMSGSIZE stays soft */
}

/* RFC 5927 and RFC 4443 2.3/2.4: forged or foreign quotes change nothing. */
static void too_big_bad_quotes_rejected(struct t *t)
{
	struct t_wire first = send_full(t, 2);

	icmp6_in(t, &first, 2, 0, 1280, 2 * FULL + 1, 0, BAD_NONE); /* past SND.NXT */
	icmp6_in(t, &first, 2, 0, 1280, -1, 0, BAD_NONE);	    /* below SND.UNA */
	icmp6_in(t, &first, 2, 0, 1280, 0, 1, BAD_NONE);	    /* no such connection */
	t_eq(t, t_stats(t).icmp_errors, 3);
	t_eq(t, t_stats(t).icmp_rejected, 3);
	/* malformed: not even counted as errors */
	icmp6_in(t, &first, 2, 0, 1280, 0, 0, BAD_CSUM_NO_PSEUDO);
	icmp6_in(t, &first, 2, 0, 1280, 0, 0, BAD_QUOTE_SRC);
	icmp6_in(t, &first, 2, 0, 1280, 0, 0, BAD_QUOTE_EXT);
	icmp6_in(t, &first, 2, 0, 1280, 0, 0, BAD_SHORT);
	icmp6_in(t, &first, 128, 0, 0, 0, 0, BAD_NONE); /* an echo request */
	icmp6_in(t, &first, 135, 0, 0, 0, 0, BAD_NONE); /* a neighbour solicitation */
	t_nothing(t, 0);
	t_eq(t, t_stats(t).icmp_errors, 3);
	t_eq(t, t_stats(t).icmp_acted, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 0);
	t_eq(t, t_drops(t, "icmp"), 9);
	t_eq(t, maxseg(t), FULL);
	/* the edge SND.NXT itself is in (Linux between()) */
	icmp6_in(t, &first, 2, 0, 1400, 2 * FULL, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, maxseg(t), MSS_1400);
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
}

/* RFC 8200 5, Linux IPV6_MIN_MTU: whatever the router says, the path MTU stays >= 1280. */
static void too_big_floor_1280(struct t *t)
{
	struct t_wire first = send_full(t, 1);

	too_big(t, &first, 576);
	t_eq(t, maxseg(t), MSS_1280);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = MSS_1280));
	first = *t_out(t,
		       SEG(.flags = T_ACK, .seq = 1 + MSS_1280, .ack = 1, .len = FULL - MSS_1280));
	too_big(t, &first, 0);
	t_nothing(t, 0); /* already at the floor: nothing to resend */
	t_eq(t, maxseg(t), MSS_1280);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_eq(t, t_stats(t).icmp_errors, 2);
}

/*
 * Linux tcp_v6_err(): port unreachable (ECONNREFUSED) on a connected socket
 * is soft; a later time exceeded (EHOSTUNREACH) replaces it, and it is
 * what the timeout reports instead of ETIMEDOUT.
 */
static void unreachable_soft_until_timeout(struct t *t)
{
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	icmp6_in(t, &w, 1, 4, 0, 0, 0, BAD_NONE);
	t_nothing(t, 0);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
	t_eq(t, t_stats(t).icmp_acted, 1);
	icmp6_in(t, &w, 3, 0, 0, 0, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_acted, 2);
	for (int i = 0; i < 30; i++) {
		struct sock_info si;
		struct t_wire x;

		t_wait(t, 130000000ull);
		while (t_next(t, &x) == 0)
			t_check(t, x.len == 100 && x.seq == w.seq); /* only the retransmissions */
		if (sock_info(t->stk, t->f->sd, &si) == 0 && si.state == TCP_CLOSE)
			break;
	}
	T_STATE(t, TCP_CLOSE);
	t_eq(t, sock_error(t->stk, t->f->sd), EHOSTUNREACH);
}

/* In SYN-SENT every error is hard: administratively prohibited fails connect() with EACCES. */
static void prohibited_fails_connect(struct t *t)
{
	struct t_wire syn;

	t_connect(t, 8080);
	t_wait(t, 1000);
	t_eq(t, t_next(t, &syn), 0);
	t_check(t, syn.flags == T_SYN && syn.v6);
	icmp6_in(t, &syn, 1, 1, 0, 2, 0, BAD_NONE); /* ISN + 2 is past SND.NXT: rejected */
	T_STATE(t, TCP_SYN_SENT);
	icmp6_in(t, &syn, 1, 1, 0, 0, 0, BAD_NONE);
	T_STATE(t, TCP_CLOSE);
	t_eq(t, sock_error(t->stk, t->f->sd), EACCES);
	t_eq(t, t_stats(t).icmp_rejected, 1);
	t_eq(t, t_stats(t).attempt_fails, 1);
	t_nothing(t, 0);
}

/*
 * A half-open connection (Linux tcp_req_err() with icmpv6_err_convert()'s
 * "fatal"): time exceeded quoting the SYN-ACK leaves it to its
 * retransmissions (fatal for IPv4, not for IPv6); port unreachable drops
 * it, and its SYN-ACK is not sent again.
 */
static void half_open_fatal_only(struct t *t)
{
	struct t_wire sa;

	t_flow(t, 40000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
	sa = *t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	t_check(t, sa.v6);
	icmp6_in(t, &sa, 3, 0, 0, 0, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_acted, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);

	t_flow(t, 40001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
	sa = *t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	icmp6_in(t, &sa, 1, 4, 0, 1, 0, BAD_NONE); /* not its ISN: rejected */
	t_eq(t, t_stats(t).icmp_rejected, 1);
	icmp6_in(t, &sa, 1, 4, 0, 0, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_nothing(t, 5000000); /* no SYN-ACK retransmission: the mini-socket is gone */
}

/*
 * The "packet too big" reached another process's queue and the XDP program
 * noted it (netdev path_mtu6()): the owner takes it at its first RTO, not
 * before; a hint below 1280 gives 1280, one no smaller than the path is
 * ignored.
 */
static void hint_from_link_at_rto(struct t *t)
{
	struct t_wire w;

	send_full(t, 2);
	t->link_path_mtu = 1400;
	t_nothing(t, 0);
	t_eq(t, t->link_path_mtu_asked, 0); /* not per packet: only at an RTO */
	t_wait(t, 1200000);
	t_eq(t, t_next(t, &w), 0);
	t_eq(t, w.len, MSS_1400); /* the RTO's retransmission already fits */
	t_check(t, t->link_path_mtu_asked >= 1);
	t_eq(t, t_stats(t).pmtu_hints, 1);
	t_eq(t, maxseg(t), MSS_1400);
	t->link_path_mtu = 1000;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + MSS_1400));
	while (t_next(t, &w) == 0) /* sent on that ACK, before the next RTO */
		t_check(t, w.len <= MSS_1400);
	t_wait(t, 3000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= MSS_1280);
	t_eq(t, maxseg(t), MSS_1280);
	t_eq(t, t_stats(t).pmtu_hints, 2);
	t->link_path_mtu = 1500;
	t_wait(t, 6000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= MSS_1280);
	t_eq(t, maxseg(t), MSS_1280);
	t_eq(t, t_stats(t).pmtu_hints, 2);
}

int main(void)
{
	t_family(AF_INET6);
	T_RUN(too_big_resends_smaller);
	T_RUN(too_big_bad_quotes_rejected);
	T_RUN(too_big_floor_1280);
	T_RUN(unreachable_soft_until_timeout);
	T_RUN(prohibited_fails_connect);
	T_RUN(half_open_fatal_only);
	{
		/* tail loss probes off: the first segment out is the RTO's */
		struct stack_config cfg = {.flags = STACK_F_NO_TLP};

		t_run("hint_from_link_at_rto", hint_from_link_at_rto, &cfg);
	}
	return check_summary();
}
