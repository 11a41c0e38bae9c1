/*
 * test_icmp.c - packet scripts for ICMP and ICMPv6 errors about our
 * connections (stack/icmp.c, stack/pmtu.c), run once per family (ctest
 * tcp_icmp, and tcp6_icmp with T_FAMILY=inet6: link MTU 1520, MSS 1460).
 *
 * As Linux's tcp_v4_err() and tcp_v6_err(): "fragmentation needed" (RFC
 * 1191) or "packet too big" (RFC 4443 3.2, RFC 8201) quoting a segment in
 * flight lowers the path MTU and the MSS and resends at once (Linux
 * tcp_v4_mtu_reduced + tcp_simple_retransmit), never below Linux's
 * min_pmtu 552 or IPv6's 1280 (RFC 8200 5); one quoting a sequence outside
 * SND.UNA..SND.NXT, or no connection, is rejected (RFC 5927); unreachables
 * are soft errors on a connected socket and hard in SYN-SENT.
 * IPv4 only: increases ignored and the 10-minute expiry, another connection
 * to the host following, RFC 4821 black holes, the link's path MTU hint.
 * IPv6 only: quotes of another source, with extension headers, short, or
 * with a checksum missing the pseudo-header are dropped; a mini-socket is
 * dropped only by icmpv6_err_convert()'s "fatal" errors.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FULL 1448 /* MSS 1460 less the timestamp option, either family */

/* What the scripts need of each family; the scripts themselves are the same. */
struct fam {
	uint16_t hdrs;	    /* IP + TCP header bytes: MSS = MTU - hdrs */
	uint16_t narrow;    /* a router's link narrower than ours */
	uint16_t floor;	    /* the least path MTU an error can set */
	uint8_t too_big[2]; /* type, code: fragmentation needed / packet too big */
	uint8_t echo;	    /* an echo request: not an error */
	/* soft on a connected socket, the second one replacing the first */
	uint8_t soft[2], soft2[2];
	uint8_t hard[2]; /* in SYN-SENT */
	int hard_errno;
};

static const struct fam fam4 = {
	.hdrs = 40,
	.narrow = 1000,
	.floor = 552,
	.too_big = {3, 4},
	.echo = 8,
	.soft = {3, 3},	 /* port unreachable */
	.soft2 = {3, 1}, /* host unreachable */
	.hard = {3, 1},	 /* host unreachable */
	.hard_errno = EHOSTUNREACH,
};
static const struct fam fam6 = {
	.hdrs = 60,
	.narrow = 1400,
	.floor = 1280,
	.too_big = {2, 0},
	.echo = 128,
	.soft = {1, 4},	 /* port unreachable */
	.soft2 = {3, 0}, /* time exceeded */
	.hard = {1, 1},	 /* administratively prohibited */
	.hard_errno = EACCES,
};

static const struct fam *fam_of(const struct t *t)
{
	return t->v6 ? &fam6 : &fam4;
}

/* MSS for a path MTU, with the timestamp option */
static int mss_for(const struct t *t, int mtu)
{
	return mtu - fam_of(t)->hdrs - 12;
}

/* how to spoil the error on purpose */
enum {
	BAD_NONE,
	BAD_CSUM,      /* IPv4: a bit off; IPv6: the sum misses the pseudo-header, as ICMPv4's */
	BAD_QUOTE_SRC, /* IPv6: the quoted source is not our address */
	BAD_QUOTE_EXT, /* IPv6: the quoted next header is a destination-options header */
	BAD_SHORT,     /* IPv6: only 4 bytes of the TCP header quoted */
};

/*
 * An ICMP error from a router (10.77.1.254) quoting the segment w the stack
 * sent (its IP header and first 8 bytes of TCP, RFC 792). info is the
 * 32-bit field after the checksum (the next-hop MTU in its low 16 bits).
 */
static void icmp4_in(struct t *t, const struct t_wire *w, const uint8_t *seg, uint8_t type,
		     uint8_t code, uint32_t info, int bad)
{
	uint8_t f[128];
	const size_t quote = 20 + 8;
	uint32_t src = inet_addr("10.77.1.254");
	uint16_t c;

	memset(f, 0, sizeof(f));
	memcpy(f, w->src_mac, 6); /* back to the stack */
	memcpy(f + 6, w->dst_mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *ic = ip + 20;

	ip[0] = 0x45;
	ip[2] = 0;
	ip[3] = (uint8_t)(20 + 8 + quote);
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &w->src_ip, 4);
	c = t_csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	ic[0] = type;
	ic[1] = code;
	ic[6] = (uint8_t)(info >> 8);
	ic[7] = (uint8_t)info;
	memcpy(ic + 8, seg + 14, quote);
	c = t_csum(ic, 8 + quote, 0);
	if (bad == BAD_CSUM)
		c ^= 0x100;
	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	t_in_raw(t, f, 14 + 20 + 8 + quote);
}

/* The same as ICMPv6 from fd77:1::fe: its IPv6 header and first 8 bytes of TCP. */
static void icmp6_in(struct t *t, const struct t_wire *w, const uint8_t *seg, uint8_t type,
		     uint8_t code, uint32_t info, int bad)
{
	uint8_t f[160];
	size_t quote = 40 + (bad == BAD_SHORT ? 4 : 8);
	uint32_t sum = 0, plen = (uint32_t)(8 + quote);
	uint16_t c;

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
	c = t_csum(ic, plen, bad == BAD_CSUM ? 0 : sum);
	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	t_in_raw(t, f, 14 + 40 + plen);
}

/*
 * Inject an error of w's family quoting w. seq_delta moves the quoted
 * sequence; sport_delta the quoted port (no such connection).
 */
static void icmp_in(struct t *t, const struct t_wire *w, const uint8_t tc[2], uint32_t info,
		    int32_t seq_delta, int sport_delta, int bad)
{
	uint8_t seg[T_FRAME_MAX];
	struct t_wire q = *w;

	q.seq += (uint32_t)seq_delta;
	q.sport = (uint16_t)(q.sport + sport_delta);
	t_check(t, t_seg_build(&q, seg) >= 14 + (w->v6 ? 40 : 20) + 8);
	if (w->v6)
		icmp6_in(t, w, seg, tc[0], tc[1], info, bad);
	else
		icmp4_in(t, w, seg, tc[0], tc[1], info, bad);
}

static void too_big(struct t *t, const struct t_wire *w, uint16_t mtu)
{
	icmp_in(t, w, fam_of(t)->too_big, mtu, 0, 0, BAD_NONE);
}

static int maxseg(struct t *t)
{
	int v = 0;
	socklen_t l = sizeof(v);

	t_eq(t, sock_getopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_MAXSEG, &v, &l), 0);
	return v;
}

/* Established, n full segments sent and popped. Returns the first. */
static struct t_wire send_full(struct t *t, int n)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, n * FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	for (int i = 1; i < n; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + (uint32_t)i * FULL, .ack = 1, .len = FULL));
	return first;
}

/* The valid case: a narrower router link; what was in flight goes again at once, smaller. */
static void too_big_resends_smaller(struct t *t)
{
	struct t_wire first = send_full(t, 3);
	int mss = mss_for(t, fam_of(t)->narrow);

	too_big(t, &first, fam_of(t)->narrow);
	/* go-back-N from SND.UNA in segments for the narrower path, without an RTO */
	for (int off = 0; off < 3 * FULL; off += mss) {
		int len = 3 * FULL - off < mss ? 3 * FULL - off : mss;

		t_out_by(t, 0, SEG(.flags = T_ACK, .seq = 1 + off, .ack = 1, .len = len));
	}
	t_eq(t, maxseg(t), mss);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, t_stats(t).icmp_rejected, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL));
	t_write(t, 2 * mss);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .ack = 1, .len = mss));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL + mss, .ack = 1, .len = mss));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0); /* the soft EMSGSIZE stays soft */
}

/* RFC 5927 4.1: a quote outside SND.UNA..SND.NXT is not a segment in flight: ignored. */
static void too_big_bad_sequence_rejected(struct t *t)
{
	const struct fam *fm = fam_of(t);
	struct t_wire first = send_full(t, 2);

	icmp_in(t, &first, fm->too_big, fm->narrow, 2 * FULL + 1, 0, BAD_NONE); /* past SND.NXT */
	icmp_in(t, &first, fm->too_big, fm->narrow, -1, 0, BAD_NONE);		/* below SND.UNA */
	icmp_in(t, &first, fm->too_big, fm->narrow, 0x40000000, 0, BAD_NONE);
	t_nothing(t, 0);
	t_eq(t, maxseg(t), FULL);
	t_eq(t, t_stats(t).icmp_errors, 3);
	t_eq(t, t_stats(t).icmp_rejected, 3);
	t_eq(t, t_stats(t).icmp_acted, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 0);
	t_eq(t, t_drops(t, "icmp"), 3);
	/* the edges SND.UNA and SND.NXT themselves are in (Linux between()) */
	icmp_in(t, &first, fm->too_big, fm->narrow, 2 * FULL, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, maxseg(t), mss_for(t, fm->narrow));
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
}

/* A quote of no connection (another port), a bad checksum, a non-error type: dropped. */
static void icmp_not_ours_dropped(struct t *t)
{
	const struct fam *fm = fam_of(t);
	const uint8_t echo[2] = {fm->echo, 0};
	struct t_wire first = send_full(t, 1);

	icmp_in(t, &first, fm->too_big, fm->narrow, 0, 1, BAD_NONE);
	icmp_in(t, &first, fm->too_big, fm->narrow, 0, 0, BAD_CSUM);
	icmp_in(t, &first, echo, 0, 0, 0, BAD_NONE);
	t_nothing(t, 0);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_rejected, 1);
	t_eq(t, t_drops(t, "icmp"), 3);
	t_eq(t, maxseg(t), FULL);
}

/*
 * IPv6 (RFC 4443 2.3/2.4): a forged quote (another source, an extension
 * header, too short) or a non-error type is dropped, not counted as an error.
 */
static void icmp6_malformed_dropped(struct t *t)
{
	const struct fam *fm = fam_of(t);
	const uint8_t ns[2] = {135, 0}; /* a neighbour solicitation */
	struct t_wire first = send_full(t, 2);

	icmp_in(t, &first, fm->too_big, 1280, 0, 0, BAD_QUOTE_SRC);
	icmp_in(t, &first, fm->too_big, 1280, 0, 0, BAD_QUOTE_EXT);
	icmp_in(t, &first, fm->too_big, 1280, 0, 0, BAD_SHORT);
	icmp_in(t, &first, ns, 0, 0, 0, BAD_NONE);
	t_nothing(t, 0);
	t_eq(t, t_stats(t).icmp_errors, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 0);
	t_eq(t, t_drops(t, "icmp"), 4);
	t_eq(t, maxseg(t), FULL);
}

/*
 * Linux min_pmtu (552), IPV6_MIN_MTU (1280, RFC 8200 5): whatever (even 0)
 * the router says, the path MTU stays at the floor.
 */
static void too_big_floor(struct t *t)
{
	struct t_wire w = send_full(t, 1);
	int mss = mss_for(t, fam_of(t)->floor);

	too_big(t, &w, 500);
	t_eq(t, maxseg(t), mss);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	for (int off = 0; off < FULL; off += mss) {
		int len = FULL - off < mss ? FULL - off : mss;

		w = *t_out(t, SEG(.flags = T_ACK, .seq = 1 + off, .ack = 1, .len = len));
	}
	too_big(t, &w, 0);
	t_nothing(t, 0); /* already at the floor: nothing to resend */
	t_eq(t, maxseg(t), mss);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_eq(t, t_stats(t).icmp_errors, 2);
}

/* RFC 1191 6.3: an ICMP never raises the path MTU; only the expiry does (10 min, Linux). */
static void increase_ignored_then_expires(struct t *t)
{
	const struct fam *fm = fam_of(t);
	struct t_wire w = send_full(t, 1);
	int mss = mss_for(t, fm->narrow);

	too_big(t, &w, fm->narrow);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = mss));
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1 + mss, .ack = 1, .len = FULL - mss));
	too_big(t, &w, fm->narrow + 100);
	t_nothing(t, 0);
	t_eq(t, maxseg(t), mss);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + FULL));
	t_wait(t, 590000000ull);
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = mss));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL + mss, .ack = 1, .len = FULL - mss));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	t_wait(t, 11000000ull); /* 601 s after the ICMP */
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .ack = 1, .len = FULL));
	t_eq(t, maxseg(t), FULL);
}

/* The path MTU is per destination: another connection to the same host follows it. */
static void other_connection_follows(struct t *t)
{
	const struct fam *fm = fam_of(t);
	int mss = mss_for(t, fm->narrow);
	struct t_wire w;

	t_flow(t, 40000);
	t_start(t, TCP_ESTABLISHED);
	struct t_flow *a = t->f;

	t_flow(t, 40001);
	t_start(t, TCP_ESTABLISHED);
	t->f = a;
	t_write(t, FULL);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	too_big(t, &w, fm->narrow);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = mss));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + mss, .ack = 1, .len = FULL - mss));
	t_flow(t, 40001);
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = mss));
	if (!t_pending(t)) /* Nagle: the small tail waits for the ACK */
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + mss));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + mss, .ack = 1, .len = FULL - mss));
	t_eq(t, maxseg(t), mss);
}

/*
 * RFC 1122 4.2.3.9, Linux: port unreachable (ECONNREFUSED) on a connected
 * socket is soft; a later host unreachable or time exceeded (EHOSTUNREACH)
 * replaces it, and it is what the timeout reports instead of ETIMEDOUT.
 */
static void unreachable_soft_until_timeout(struct t *t)
{
	const struct fam *fm = fam_of(t);
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	icmp_in(t, &w, fm->soft, 0, 0, 0, BAD_NONE);
	t_nothing(t, 0);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
	t_eq(t, t_stats(t).icmp_acted, 1);
	/* an ACK of new data forgets it (Linux tcp_ack) ... */
	t_write(t, 100);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	/* ... a new one, then silence: the timeout reports it instead of ETIMEDOUT */
	icmp_in(t, &w, fm->soft2, 0, 0, 0, BAD_NONE);
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

/*
 * Linux tcp_v4_err(), tcp_v6_err(): in SYN-SENT an unreachable is hard:
 * connect() fails at once (host unreachable: EHOSTUNREACH; IPv6's
 * administratively prohibited: EACCES).
 */
static void unreachable_fails_connect(struct t *t)
{
	const struct fam *fm = fam_of(t);
	struct t_wire syn;

	t_connect(t, 8080);
	t_wait(t, 1000);
	t_eq(t, t_next(t, &syn), 0);
	t_check(t, syn.flags == T_SYN && syn.v6 == t->v6);
	icmp_in(t, &syn, fm->hard, 0, 2, 0, BAD_NONE); /* ISN + 2 is past SND.NXT: rejected */
	T_STATE(t, TCP_SYN_SENT);
	icmp_in(t, &syn, fm->hard, 0, 0, 0, BAD_NONE);
	T_STATE(t, TCP_CLOSE);
	t_eq(t, sock_error(t->stk, t->f->sd), fm->hard_errno);
	t_eq(t, t_stats(t).icmp_rejected, 1);
	t_eq(t, t_stats(t).attempt_fails, 1);
	t_nothing(t, 0);
}

/*
 * IPv6: a half-open connection (Linux tcp_req_err() with
 * icmpv6_err_convert()'s "fatal"): time exceeded quoting the SYN-ACK leaves
 * it to its retransmissions (fatal for IPv4, not for IPv6); port
 * unreachable drops it, and its SYN-ACK is not sent again.
 */
static void icmp6_half_open_fatal_only(struct t *t)
{
	const uint8_t time_exceeded[2] = {3, 0};
	struct t_wire sa;

	t_flow(t, 40000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
	sa = *t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_check(t, sa.v6);
	icmp_in(t, &sa, time_exceeded, 0, 0, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_acted, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);

	t_flow(t, 40001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
	sa = *t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	icmp_in(t, &sa, fam6.soft, 0, 1, 0, BAD_NONE); /* not its ISN: rejected */
	t_eq(t, t_stats(t).icmp_rejected, 1);
	icmp_in(t, &sa, fam6.soft, 0, 0, 0, BAD_NONE);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_nothing(t, 5000000); /* no SYN-ACK retransmission: the mini-socket is gone */
}

/* Pop what the stack sent; the peer ACKs all of it. Returns the largest payload seen. */
static int ack_round(struct t *t, int *n_len, int len)
{
	struct t_wire w;
	uint32_t hi = 0;
	int big = 0;

	while (t_next(t, &w) == 0) {
		uint32_t end = w.seq - t->f->stack_isn + w.len;

		if (w.len > big)
			big = w.len;
		if (w.len == len)
			(*n_len)++;
		if (w.len && end - hi < 0x80000000u)
			hi = end;
	}
	if (hi)
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = hi));
	return big;
}

/*
 * RFC 4821 as Linux tcp_mtu_probing = 1: a path that drops full segments
 * without an ICMP. From the 4th RTO in a row the stack tries PROBE_BASE_MSS
 * (1024), then half of it; once the ACKs flow again it probes upwards.
 */
static void blackhole_then_probe(struct t *t)
{
	struct t_wire w;
	int lens[8], n = 0, seen = 0, probe = (552 + 1500 + 1) / 2 - 40 - 12;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 200000);
	t_wait(t, 1000);
	for (int i = 0; i < 10; i++) { /* the initial window: lost behind the hole */
		t_eq(t, t_next(t, &w), 0);
		t_eq(t, w.len, FULL);
	}
	while (n < 5) {
		t_wait(t, 200000);
		while (t_next(t, &w) == 0 && n < 8)
			lens[n++] = w.len;
	}
	t_eq(t, lens[0], FULL);
	t_eq(t, lens[1], FULL);
	t_eq(t, lens[2], FULL);
	t_eq(t, lens[3], 1024 - 12); /* 4th RTO: a black hole is suspected */
	t_eq(t, lens[4], 512 - 12);  /* 5th: half of it */
	t_eq(t, t_stats(t).mtu_blackholes, 2);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 500));
	/* the small ones pass: the peer ACKs; later new data carries a probe of MTU 1026 */
	for (int r = 0; r < 200 && !seen; r++) {
		t_wait(t, 1000);
		ack_round(t, &seen, probe);
	}
	t_check(t, seen == 1);
	t_check(t, t_stats(t).mtu_probes >= 1);
	/* the probe was ACKed: segments grow to it, and the next probe is larger */
	seen = 0;
	for (int r = 0; r < 50; r++) {
		t_wait(t, 1000);
		ack_round(t, &seen, probe);
	}
	t_check(t, seen >= 2);
	t_check(t, t_stats(t).mtu_probes >= 2);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
}

/* Without STACK_F_MTU_PROBING (the default, as Linux) the same hole is never worked around. */
static void blackhole_without_probing(struct t *t)
{
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 20000);
	for (int i = 0; i < 8; i++) {
		t_wait(t, 2000000);
		while (t_next(t, &w) == 0)
			t_check(t, w.len == FULL);
	}
	t_eq(t, t_stats(t).mtu_blackholes, 0);
}

/*
 * The ICMP reached another process's queue: its stack rejected it, the XDP
 * program noted it (netdev path_mtu()). The owner takes it at its first RTO.
 */
static void hint_from_link_at_rto(struct t *t)
{
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 2 * FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = FULL));
	t->link_path_mtu = 1000;
	t_nothing(t, 0);
	t_eq(t, t->link_path_mtu_asked, 0); /* not per packet: only at an RTO */
	t_wait(t, 1200000);
	t_eq(t, t_next(t, &w), 0);
	t_eq(t, w.len, mss_for(t, 1000));	 /* the RTO's retransmission already fits */
	t_check(t, t->link_path_mtu_asked >= 1); /* once per RTO */
	t_eq(t, t_stats(t).pmtu_hints, 1);
	t_eq(t, maxseg(t), mss_for(t, 1000));
	/* a hint no smaller than the path is ignored; one below 552 gives 552 */
	t->link_path_mtu = 1400;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + mss_for(t, 1000)));
	t_wait(t, 3000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= mss_for(t, 1000));
	t_eq(t, maxseg(t), mss_for(t, 1000));
	t_eq(t, t_stats(t).pmtu_hints, 1);
}

/*
 * The same over IPv6 (netdev path_mtu6()); a hint below 1280 gives 1280, one
 * no smaller than the path is ignored.
 */
static void icmp6_hint_from_link_at_rto(struct t *t)
{
	struct t_wire w;

	send_full(t, 2);
	t->link_path_mtu = 1400;
	t_nothing(t, 0);
	t_eq(t, t->link_path_mtu_asked, 0); /* not per packet: only at an RTO */
	t_wait(t, 1200000);
	t_eq(t, t_next(t, &w), 0);
	t_eq(t, w.len, mss_for(t, 1400)); /* the RTO's retransmission already fits */
	t_check(t, t->link_path_mtu_asked >= 1);
	t_eq(t, t_stats(t).pmtu_hints, 1);
	t_eq(t, maxseg(t), mss_for(t, 1400));
	t->link_path_mtu = 1000;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + mss_for(t, 1400)));
	while (t_next(t, &w) == 0) /* sent on that ACK, before the next RTO */
		t_check(t, w.len <= mss_for(t, 1400));
	t_wait(t, 3000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= mss_for(t, 1280));
	t_eq(t, maxseg(t), mss_for(t, 1280));
	t_eq(t, t_stats(t).pmtu_hints, 2);
	t->link_path_mtu = 1500;
	t_wait(t, 6000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= mss_for(t, 1280));
	t_eq(t, maxseg(t), mss_for(t, 1280));
	t_eq(t, t_stats(t).pmtu_hints, 2);
}

int main(void)
{
	const char *fam = getenv("T_FAMILY");
	int v6 = fam && !strcmp(fam, "inet6");

	T_RUN(too_big_resends_smaller);
	T_RUN(too_big_bad_sequence_rejected);
	T_RUN(icmp_not_ours_dropped);
	T_RUN(too_big_floor);
	T_RUN(increase_ignored_then_expires);
	T_RUN(other_connection_follows);
	T_RUN(unreachable_soft_until_timeout);
	T_RUN(unreachable_fails_connect);
	if (v6) {
		T_RUN(icmp6_malformed_dropped);
		T_RUN(icmp6_half_open_fatal_only);
		/* tail loss probes off: the first segment out is the RTO's */
		struct stack_config cfg = {.flags = STACK_F_NO_TLP};

		t_run("icmp6_hint_from_link_at_rto", icmp6_hint_from_link_at_rto, &cfg);
		return check_summary();
	}
	T_RUN(blackhole_without_probing);
	{
		/* tail loss probes off: the script counts the RTOs' segments alone */
		struct stack_config cfg = {.flags = STACK_F_MTU_PROBING | STACK_F_NO_TLP};

		t_run("blackhole_then_probe", blackhole_then_probe, &cfg);
		cfg.flags = STACK_F_NO_TLP; /* the first segment out is the RTO's */
		t_run("hint_from_link_at_rto", hint_from_link_at_rto, &cfg);
	}
	return check_summary();
}
