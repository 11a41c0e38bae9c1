/*
 * test_rfc5961.c - packet scripts for blind-attack defences in ESTABLISHED
 * (RFC 5961): challenge ACKs for in-window SYN and RST, RST accepted only
 * exactly at rcv_nxt, out-of-window RST ignored, ACK range check.
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>

/* RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset. */
static void challenge_ack_in_window_syn(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_SYN, .seq = 5000, .mss = 1460));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).challenge_acks, 1);
	/* The connection still carries data. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 10));
	t_eq(t, t_read(t, 100), 10);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 11));
}

/* A SYN exactly at rcv_nxt is no exception (RFC 5961 4.2 replaces RFC 793's reset). */
static void challenge_ack_syn_at_rcv_nxt(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_SYN, .seq = 1, .mss = 1460));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
}

/* RFC 5961 3.2: a RST in the window but not at rcv_nxt gets a challenge ACK. */
static void challenge_ack_in_window_rst(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).challenge_acks, 1);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
}

/* RFC 5961 3.2: a RST exactly at rcv_nxt resets the connection, silently. */
static void rst_exactly_at_rcv_nxt(struct t *t)
{
	uint32_t ev;
	int err;

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 20));
	t_eq(t, t_read(t, 100), 20);
	t_wait(t, 500000); /* let any delayed ACK go */
	t_drain_acks(t);
	t_in(t, SEG(.flags = T_RST, .seq = 21));
	t_nothing(t, 0);
	T_STATE(t, TCP_CLOSE);
	ev = sock_events(t->stk, t->f->sd);
	t_check(t, ev & EPOLLHUP);
	t_check(t, ev & EPOLLERR);
	err = sock_error(t->stk, t->f->sd);
	t_check(t, err == ECONNRESET || err == -ECONNRESET);
	t_eq(t, t_stats(t).estab_resets, 1);
}

/* RFC 5961 3.2: a RST outside the window is dropped without a reply. */
static void rst_out_of_window_ignored(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 1 + 50000000));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_RST, .seq = (uint32_t)(1 - 1000)));
	t_nothing(t, 0);
	T_STATE(t, TCP_ESTABLISHED);
}

/* RFC 5961 5.2: an ACK for data never sent is answered with an ACK and dropped. */
static void ack_of_unsent_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 5000, .len = 10));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_read(t, 100), -EAGAIN);
	T_STATE(t, TCP_ESTABLISHED);
}

/* Challenge ACKs may be rate-limited (RFC 5961 7), but not to fewer than two. */
static void challenge_ack_twice(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 200));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_in(t, SEG(.flags = T_SYN, .seq = 300));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_stats(t).challenge_acks, 2);
}

int main(void)
{
	T_RUN(challenge_ack_in_window_syn);
	T_RUN(challenge_ack_syn_at_rcv_nxt);
	T_RUN(challenge_ack_in_window_rst);
	T_RUN(rst_exactly_at_rcv_nxt);
	T_RUN(rst_out_of_window_ignored);
	T_RUN(ack_of_unsent_data);
	T_RUN(challenge_ack_twice);
	return check_summary();
}
