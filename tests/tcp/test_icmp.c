/*
 * test_icmp.c - packet scripts for ICMP errors about our connections
 * (stack/icmp.c, stack/pmtu.c): "fragmentation needed" quoting a segment
 * in flight lowers the path MTU and the MSS and resends at once (RFC 1191,
 * Linux tcp_v4_mtu_reduced + tcp_simple_retransmit); one quoting a sequence
 * outside SND.UNA..SND.NXT, or no connection, is rejected (RFC 5927);
 * floor, ignored increases and the 10-minute expiry as Linux; port and host
 * unreachable are soft errors on a connected socket, hard in SYN-SENT.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define FULL	 1448 /* MSS 1460 less the timestamp option */
#define ROUTER	 "10.77.1.254"
#define MSS_1000 (1000 - 40 - 12)

/*
 * Inject an ICMP error from a router quoting the segment w the stack sent
 * (its IP header and first 8 bytes of TCP, RFC 792). seq_delta moves the
 * quoted sequence; sport_delta the quoted port (no such connection).
 */
static void icmp_in(struct t *t, const struct t_wire *w, uint8_t type, uint8_t code, uint16_t mtu,
		    int32_t seq_delta, int sport_delta, int bad_csum)
{
	uint8_t seg[T_FRAME_MAX], f[128];
	struct t_wire q = *w;
	const size_t quote = 20 + 8;
	uint16_t c;

	q.seq += (uint32_t)seq_delta;
	q.sport = (uint16_t)(q.sport + sport_delta);
	t_check(t, t_seg_build(&q, seg) >= 14 + quote);
	memset(f, 0, sizeof(f));
	memcpy(f, w->src_mac, 6); /* back to the stack */
	memcpy(f + 6, w->dst_mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *ic = ip + 20;
	uint32_t src = inet_addr(ROUTER);

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
	ic[6] = (uint8_t)(mtu >> 8);
	ic[7] = (uint8_t)mtu;
	memcpy(ic + 8, seg + 14, quote);
	c = t_csum(ic, 8 + quote, 0);
	if (bad_csum)
		c ^= 0x100;
	ic[2] = (uint8_t)(c >> 8);
	ic[3] = (uint8_t)c;
	t_in_raw(t, f, 14 + 20 + 8 + quote);
}

static void frag_needed(struct t *t, const struct t_wire *w, uint16_t mtu)
{
	icmp_in(t, w, 3, 4, mtu, 0, 0, 0);
}

static int maxseg(struct t *t)
{
	int v = 0;
	socklen_t l = sizeof(v);

	t_eq(t, sock_getopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_MAXSEG, &v, &l), 0);
	return v;
}

/* The valid case: the router's MTU 1000; what was in flight goes again at once, smaller. */
static void frag_needed_resends_smaller(struct t *t)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 3 * FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .ack = 1, .len = FULL));
	frag_needed(t, &first, 1000);
	/* go-back-N from SND.UNA in segments for a 1000-byte path, without an RTO */
	for (int off = 0; off < 3 * FULL; off += MSS_1000) {
		int len = 3 * FULL - off < MSS_1000 ? 3 * FULL - off : MSS_1000;

		t_out_by(t, 0, SEG(.flags = T_ACK, .seq = 1 + off, .ack = 1, .len = len));
	}
	t_eq(t, maxseg(t), MSS_1000);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, t_stats(t).icmp_rejected, 0);
	t_eq(t, t_stats(t).pmtu_lowered, 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL));
	t_write(t, 2 * MSS_1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .ack = 1, .len = MSS_1000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL + MSS_1000, .ack = 1, .len = MSS_1000));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0); /* the soft EMSGSIZE stays soft */
}

/* RFC 5927 4.1: a quote outside SND.UNA..SND.NXT is not a segment in flight: ignored. */
static void frag_needed_bad_sequence_rejected(struct t *t)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 2 * FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = FULL));
	icmp_in(t, &first, 3, 4, 1000, 2 * FULL + 1, 0, 0); /* past SND.NXT */
	icmp_in(t, &first, 3, 4, 1000, -1, 0, 0);	    /* below SND.UNA */
	icmp_in(t, &first, 3, 4, 1000, 0x40000000, 0, 0);
	t_nothing(t, 0);
	t_eq(t, maxseg(t), FULL);
	t_eq(t, t_stats(t).icmp_errors, 3);
	t_eq(t, t_stats(t).icmp_rejected, 3);
	t_eq(t, t_stats(t).icmp_acted, 0);
	t_eq(t, t_drops(t, "icmp"), 3);
	/* the edges SND.UNA and SND.NXT themselves are in (Linux between()) */
	icmp_in(t, &first, 3, 4, 1200, 2 * FULL, 0, 0);
	t_eq(t, t_stats(t).icmp_acted, 1);
	t_eq(t, maxseg(t), 1200 - 40 - 12);
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
}

/* A quote of no connection (another port), a bad checksum, a non-error type: dropped. */
static void icmp_not_ours_dropped(struct t *t)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	icmp_in(t, &first, 3, 4, 1000, 0, 1, 0);
	icmp_in(t, &first, 3, 4, 1000, 0, 0, 1);
	icmp_in(t, &first, 8, 0, 0, 0, 0, 0); /* an echo request is not an error */
	t_nothing(t, 0);
	t_eq(t, t_stats(t).icmp_errors, 1);
	t_eq(t, t_stats(t).icmp_rejected, 1);
	t_eq(t, t_drops(t, "icmp"), 3);
	t_eq(t, maxseg(t), FULL);
}

/* Linux min_pmtu: 552 at least, whatever (even 0) the router says. */
static void frag_needed_floor(struct t *t)
{
	struct t_wire first;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, FULL);
	first = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	frag_needed(t, &first, 0);
	t_eq(t, maxseg(t), 552 - 40 - 12);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 500));
	t_out(t, SEG(.flags = T_ACK, .seq = 501, .ack = 1, .len = 500));
	t_out(t, SEG(.flags = T_ACK, .seq = 1001, .ack = 1, .len = FULL - 1000));
}

/* RFC 1191 6.3: an ICMP never raises the path MTU; only the expiry does (10 min, Linux). */
static void increase_ignored_then_expires(struct t *t)
{
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, FULL);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	frag_needed(t, &w, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = MSS_1000));
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1 + MSS_1000, .ack = 1, .len = FULL - MSS_1000));
	frag_needed(t, &w, 1400);
	t_nothing(t, 0);
	t_eq(t, maxseg(t), MSS_1000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + FULL));
	t_wait(t, 590000000ull);
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = MSS_1000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL + MSS_1000, .ack = 1, .len = FULL - MSS_1000));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	t_wait(t, 11000000ull); /* 601 s after the ICMP */
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .ack = 1, .len = FULL));
	t_eq(t, maxseg(t), FULL);
}

/* The path MTU is per destination: another connection to the same host follows it. */
static void other_connection_follows(struct t *t)
{
	struct t_wire w;

	t_flow(t, 40000);
	t_start(t, TCP_ESTABLISHED);
	struct t_flow *a = t->f;

	t_flow(t, 40001);
	t_start(t, TCP_ESTABLISHED);
	t->f = a;
	t_write(t, FULL);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = FULL));
	frag_needed(t, &w, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = MSS_1000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + MSS_1000, .ack = 1, .len = FULL - MSS_1000));
	t_flow(t, 40001);
	t_write(t, FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = MSS_1000));
	if (!t_pending(t)) /* Nagle: the small tail waits for the ACK */
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + MSS_1000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + MSS_1000, .ack = 1, .len = FULL - MSS_1000));
	t_eq(t, maxseg(t), MSS_1000);
}

/* RFC 1122 4.2.3.9, Linux: port unreachable on a connected socket is soft until the timeout. */
static void port_unreachable_soft_until_timeout(struct t *t)
{
	struct t_wire w;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	icmp_in(t, &w, 3, 3, 0, 0, 0, 0);
	t_nothing(t, 0);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
	t_eq(t, t_stats(t).icmp_acted, 1);
	/* an ACK of new data forgets it (Linux tcp_ack) ... */
	t_write(t, 100);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	w = *t_out(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	/* ... a new one, then silence: the timeout reports it instead of ETIMEDOUT */
	icmp_in(t, &w, 3, 1, 0, 0, 0, 0);
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

/* Linux tcp_v4_err(): in SYN-SENT an unreachable is hard: connect() fails at once. */
static void host_unreachable_fails_connect(struct t *t)
{
	struct t_wire syn;

	t_connect(t, 8080);
	t_wait(t, 1000);
	t_eq(t, t_next(t, &syn), 0);
	t_check(t, syn.flags == T_SYN);
	icmp_in(t, &syn, 3, 1, 0, 2, 0, 0); /* ISN + 2 is past SND.NXT: rejected */
	T_STATE(t, TCP_SYN_SENT);
	icmp_in(t, &syn, 3, 1, 0, 0, 0, 0);
	T_STATE(t, TCP_CLOSE);
	t_eq(t, sock_error(t->stk, t->f->sd), EHOSTUNREACH);
	t_eq(t, t_stats(t).icmp_rejected, 1);
	t_eq(t, t_stats(t).attempt_fails, 1);
	t_nothing(t, 0);
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
	t_eq(t, w.len, MSS_1000);		 /* the RTO's retransmission already fits */
	t_check(t, t->link_path_mtu_asked >= 1); /* once per RTO */
	t_eq(t, t_stats(t).pmtu_hints, 1);
	t_eq(t, maxseg(t), MSS_1000);
	/* a hint no smaller than the path is ignored; one below 552 gives 552 */
	t->link_path_mtu = 1400;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + MSS_1000));
	t_wait(t, 3000000);
	while (t_next(t, &w) == 0)
		t_check(t, w.len <= MSS_1000);
	t_eq(t, maxseg(t), MSS_1000);
	t_eq(t, t_stats(t).pmtu_hints, 1);
}

int main(void)
{
	T_RUN(frag_needed_resends_smaller);
	T_RUN(frag_needed_bad_sequence_rejected);
	T_RUN(icmp_not_ours_dropped);
	T_RUN(frag_needed_floor);
	T_RUN(increase_ignored_then_expires);
	T_RUN(other_connection_follows);
	T_RUN(port_unreachable_soft_until_timeout);
	T_RUN(host_unreachable_fails_connect);
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
