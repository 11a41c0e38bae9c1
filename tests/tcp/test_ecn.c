/*
 * test_ecn.c - packet scripts for ECN (RFC 3168) as a Linux server with
 * tcp_ecn = 2: ECN is accepted when the SYN asks (ECE|CWR -> SYN-ACK with
 * ECE), never requested by an active open; ECT(0) on new data only when
 * negotiated; a CE mark is echoed with ECE until the peer's CWR; an ECE
 * reduces cwnd once per window without a retransmission and the next new
 * data carries CWR. Every other script checks that nothing is ECT (t_out
 * compares the IP ECN field strictly).
 */
#include "t.h"

#include <errno.h>

#define MSS 1460 /* no timestamps in these handshakes */

/* Passive open with an ECN-setup SYN; the SYN-ACK must accept it. */
static void ecn_start(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN | T_ECE | T_CWR, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK | T_ECE, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
}

static uint32_t cwnd(struct t *t)
{
	struct sock_info si;

	if (sock_info(t->stk, t->f->sd, &si))
		t_fail(t, __FILE__, __LINE__, "sock_info");
	return si.cwnd;
}

/* Negotiated: data is ECT(0), the ACKs we send are not ECT. */
static void ecn_negotiated_data_ect0(struct t *t)
{
	ecn_start(t);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = T_ECT0));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .len = 10));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 101, .ack = 11)); /* Not-ECT */
	t_eq(t, t_read(t, 100), 10);
}

/* A SYN with ECE alone, or ECT itself, or ECN switched off: no ECN, nothing ECT. */
static void ecn_refused(struct t *t)
{
	t_flow(t, 44000);
	t_in(t, SEG(.flags = T_SYN | T_ECE, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = 0));

	/* RFC 3168 6.1.1: a SYN is never ECT; Linux then refuses ECN */
	t_flow(t, 44001);
	t_in(t, SEG(.flags = T_SYN | T_ECE | T_CWR, .seq = 0, .mss = 1460, .ts = 0, .ecn = T_ECT0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
}

static void ecn_switched_off(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN | T_ECE | T_CWR, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
}

/* An active open does not ask for ECN, and ignores an ECE on the SYN-ACK. */
static void ecn_not_requested_by_connect(struct t *t)
{
	t_connect(t, 9000);
	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = T_ANY, .ws = T_ANY, .sackok = T_ANY,
		     .ts = T_ANY));
	t_in(t, SEG(.flags = T_SYN | T_ACK | T_ECE, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = 0));
}

/* CE on data: ECE on every ACK until the peer's CWR, each ACKed at once. */
static void ce_echoed_until_cwr(struct t *t)
{
	ecn_start(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .ecn = T_CE));
	t_out(t, SEG(.flags = T_ACK | T_ECE, .seq = 1, .ack = 101));
	t_eq(t, t_stats(t).ecn_ce_rcvd, 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100, .ecn = T_ECT0));
	t_out_by(t, 500000, SEG(.flags = T_ACK | T_ECE, .seq = 1, .ack = 201));
	/* our data carries the echo too */
	t_write(t, 10);
	t_out(t,
	      SEG(.flags = T_ACK | T_PSH | T_ECE, .seq = 1, .ack = 201, .len = 10, .ecn = T_ECT0));
	t_in(t, SEG(.flags = T_ACK | T_CWR, .seq = 201, .ack = 11, .len = 100, .ecn = T_ECT0));
	t_out(t, SEG(.flags = T_ACK, .seq = 11, .ack = 301));
	t_in(t, SEG(.flags = T_ACK, .seq = 301, .ack = 11, .len = 100, .ecn = T_ECT0));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 11, .ack = 401));
	t_eq(t, t_read(t, 1000), 400);
}

/* CE on a connection without ECN is not echoed (RFC 3168 6.1.1: needs negotiation). */
static void ce_ignored_without_ecn(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100, .ecn = T_CE));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	t_eq(t, t_stats(t).ecn_ce_rcvd, 0);
}

/*
 * ECE halves (CUBIC: x0.7) cwnd once per window, without a retransmission;
 * the first new data after it carries CWR; no growth until the reduced
 * window is ACKed; an ECE for data sent after the reduction reduces again.
 */
static void ece_reduces_cwnd_once_per_window(struct t *t)
{
	int i;
	uint32_t c0, c1;

	ecn_start(t);
	t_write(t, 30 * MSS);
	for (i = 0; i < 10; i++) /* initial window: 10 segments, all ECT(0) */
		t_out(t,
		      SEG(.flags = T_ACK, .seq = 1 + i * MSS, .ack = 1, .len = MSS, .ecn = T_ECT0));
	t_nothing(t, 0);
	c0 = cwnd(t);
	t_eq(t, c0, 10 * MSS);
	t_in(t, SEG(.flags = T_ACK | T_ECE, .seq = 1, .ack = 1 + MSS));
	c1 = cwnd(t);
	t_eq(t, c1, c0 * 7 / 10);
	t_eq(t, t_stats(t).ecn_cwnd_reductions, 1);
	t_nothing(t, 0); /* 9 segments in flight exceed the new cwnd */
	/* more ECE in the same window: no second reduction, no growth */
	t_in(t, SEG(.flags = T_ACK | T_ECE, .seq = 1, .ack = 1 + 4 * MSS));
	t_eq(t, cwnd(t), c1);
	t_out(t, SEG(.flags = T_ACK | T_CWR, .seq = 1 + 10 * MSS, .ack = 1, .len = MSS,
		     .ecn = T_ECT0));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 6 * MSS));
	t_eq(t, cwnd(t), c1);
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 11 * MSS, .ack = 1, .len = MSS, .ecn = T_ECT0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 12 * MSS, .ack = 1, .len = MSS, .ecn = T_ECT0));
	t_nothing(t, 0);
	t_eq(t, t_stats(t).ecn_cwnd_reductions, 1);
	/* an ECE that ACKs data sent after the reduction: a new window, a new reduction */
	t_in(t, SEG(.flags = T_ACK | T_ECE, .seq = 1, .ack = 1 + 11 * MSS));
	t_eq(t, t_stats(t).ecn_cwnd_reductions, 2);
	t_eq(t, cwnd(t), (c1 * 7 / 10 > 2 * MSS ? c1 * 7 / 10 : 2 * MSS));
	t_out(t, SEG(.flags = T_ACK | T_CWR, .seq = 1 + 13 * MSS, .ack = 1, .len = MSS,
		     .ecn = T_ECT0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 14 * MSS, .ack = 1, .len = MSS, .ecn = T_ECT0));
	t_nothing(t, 0);
	t_eq(t, t_stats(t).retrans_segs, 0);
}

/* A retransmission is not ECT (RFC 3168 6.1.5); the RTO makes the next new data CWR. */
static void retransmission_not_ect(struct t *t)
{
	ecn_start(t);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = T_ECT0));
	t_out_by(t, 3000000, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = 0));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	t_write(t, 100);
	t_out(t,
	      SEG(.flags = T_ACK | T_PSH | T_CWR, .seq = 101, .ack = 1, .len = 100, .ecn = T_ECT0));
}

/* ECN survives a SYN cookie (Linux: bit 5 of the cookie's TSval). */
static void ecn_through_syn_cookie(struct t *t)
{
	t_flow(t, 44100);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 1, .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 1));
	t_flow(t, 44101);
	t_in(t, SEG(.flags = T_SYN | T_ECE | T_CWR, .seq = 0, .mss = 1460, .ts = 1, .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK | T_ECE, .seq = 0, .ack = 1, .mss = T_ANY, .ts = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, t_stats(t).syn_cookies_ok, 1);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100, .ecn = T_ECT0));
}

int main(void)
{
	struct stack_config no_ecn = {.flags = STACK_F_NO_ECN};
	struct stack_config small = {.max_syn_queue = 1};

	T_RUN(ecn_negotiated_data_ect0);
	T_RUN(ecn_refused);
	t_run("ecn_switched_off", ecn_switched_off, &no_ecn);
	T_RUN(ecn_not_requested_by_connect);
	T_RUN(ce_echoed_until_cwr);
	T_RUN(ce_ignored_without_ecn);
	T_RUN(ece_reduces_cwnd_once_per_window);
	T_RUN(retransmission_not_ect);
	t_run("ecn_through_syn_cookie", ecn_through_syn_cookie, &small);
	return check_summary();
}
