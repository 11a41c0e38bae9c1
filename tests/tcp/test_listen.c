/*
 * test_listen.c - packet scripts for LISTEN: passive open with and without
 * options, SYNs and ACKs to a closed port, SYN cookies when the SYN queue
 * is full. The stack listens on port 80 (t.c); the peer is 10.77.1.2.
 */
#include "t.h"

#include <errno.h>
#include <string.h>

/* Linux's SYN: MSS, SACK-permitted, timestamps, window scale 7. */
static void passive_open_full_options(struct t *t)
{
	const struct t_wire *w;
	struct sock_info info;

	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	/* MSS from the link MTU 1500 (RFC 9293 3.7.1: MTU - 40 = 1460). */
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = T_ANY,
			 .sackok = 1, .ts = 1));
	t_check(t, w->ws >= 0 && w->ws <= 14); /* RFC 7323 2.3: at most 14 */
	t_check(t, w->win > 0);
	t_check(t,
		w->df || w->v6); /* DF on IPv4 output: the stack never fragments (IPv6 has no DF) */
	t_check(t, w->ttl > 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_nothing(t, 0);
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	/* 1460, or 1448 counting the 12 bytes of the timestamp option */
	t_check(t, info.mss == 1448 || info.mss == 1460);
	t_eq(t, t_stats(t).passive_opens, 1);
}

/* RFC 7323/2018: no window scale, SACK or timestamps unless the peer offered them. */
static void passive_open_no_options(struct t *t)
{
	struct sock_info info;

	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 536, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	t_check(t, info.mss <= 536); /* the peer's MSS bounds what we send */
	/* Data goes out in segments of at most 536 bytes, no options. */
	t_write(t, 1000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 536));
	if (!t_pending(t)) /* classic Nagle holds the small tail until the ACK */
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 537));
	t_out(t, SEG(.flags = T_ACK, .seq = 537, .ack = 1, .len = 464));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1001));
	t_nothing(t, 0);
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 0);
}

/* RFC 9293 3.10.7.1 (CLOSED): a SYN gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
static void syn_to_closed_port_rst(struct t *t)
{
	t_flow(t, 40001)->sport = 81;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1, .ts = T_ANY));
	t_nothing(t, 0);
	/* The listener on port 80 is unaffected. */
	t_flow(t, 40002);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
}

/* An ACK-bearing segment to a closed port gets <SEQ=SEG.ACK><CTL=RST>. */
static void ack_to_closed_port_rst(struct t *t)
{
	t_flow(t, 40003)->sport = 81;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 77777, .len = 10, .ts = 0));
	t_out(t, SEG(.flags = T_RST, .seq = 77777, .ts = T_ANY));
	/* Never a RST in answer to a RST. */
	t_in(t, SEG(.flags = T_RST, .seq = 11, .ts = 0));
	t_nothing(t, 1000);
}

/* An unexpected ACK to a listener: RST with SEQ=SEG.ACK, the listener stays. */
static void ack_to_listener_rst(struct t *t)
{
	t_flow(t, 40004);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 4242, .ts = 0));
	t_out(t, SEG(.flags = T_RST, .seq = 4242, .ts = T_ANY));
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
}

/* SYN queue of 1: the second SYN is answered with a cookie that round-trips. */
static void syn_cookie_round_trip(struct t *t)
{
	struct sock_info info;
	struct stack_stats st;

	t_flow(t, 41000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = T_ANY,
		     .sackok = 1, .ts = 1));
	t_flow(t, 41001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	/* A cookie SYN|ACK still carries the options (Linux encodes them in TSval). */
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = T_ANY, .ws = T_ANY,
		     .sackok = T_ANY, .ts = T_ANY));
	st = t_stats(t);
	t_check(t, st.syn_cookies_sent >= 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).syn_cookies_ok, 1);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	t_check(t, info.mss >= 536 && info.mss <= 1460);
	/* Data both ways on the cookie connection. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 300));
	t_eq(t, t_read(t, 1000), 300);
	t_write(t, 50);
	t_out_by(t, 200000,
		 SEG(.flags = T_ACK, .seq = T_ANY, .ack = T_ANY, .len = T_ANY, .sackok = T_ANY,
		     .nsack = T_ANY));
	if (t->last.len == 0) /* a pure ACK of the 300 bytes came first */
		t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 301, .len = 50));
	else
		t_check(t, t->last.len == 50 && t->last.ack - t->f->peer_isn == 301);
	/* The first connection still completes from the SYN queue. */
	t_flow(t, 41000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
}

/*
 * After cookies were sent, an ACK whose cookie does not validate is counted
 * as failed (Linux SyncookiesFailed) and answered by a RST; sent and
 * validated move only with their own events.
 */
static void syn_cookie_failed_counted(struct t *t)
{
	struct stack_stats st;

	t_flow(t, 41100);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_flow(t, 41101);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = T_ANY));
	t_eq(t, t_stats(t).syn_cookies_sent, 1);
	t_eq(t, t_stats(t).syn_cookies_failed, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 7777));
	t_out(t, SEG(.flags = T_RST, .seq = 7777));
	st = t_stats(t);
	t_eq(t, st.syn_cookies_failed, 1);
	t_eq(t, st.syn_cookies_ok, 0);
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
	/* the real cookie still validates */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	st = t_stats(t);
	t_eq(t, st.syn_cookies_ok, 1);
	t_eq(t, st.syn_cookies_failed, 1);
}

/* A retransmitted SYN gets the same SYN|ACK again (same ISN), not a second request. */
static void syn_retransmit_same_isn(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_wait(t, 1000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
}

/* The SYN|ACK is retransmitted when the final ACK does not come (RFC 6298: RTO 1 s). */
static void synack_retransmitted(struct t *t)
{
	uint64_t t0;

	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t0 = t->now;
	t_out_by(t, 3100000, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_check(t, t->now - t0 >= 200000);
}

int main(void)
{
	struct stack_config small = {.max_syn_queue = 1};

	T_RUN(passive_open_full_options);
	T_RUN(passive_open_no_options);
	T_RUN(syn_to_closed_port_rst);
	T_RUN(ack_to_closed_port_rst);
	T_RUN(ack_to_listener_rst);
	t_run("syn_cookie_round_trip", syn_cookie_round_trip, &small);
	t_run("syn_cookie_failed_counted", syn_cookie_failed_counted, &small);
	T_RUN(syn_retransmit_same_isn);
	T_RUN(synack_retransmitted);
	return check_summary();
}
