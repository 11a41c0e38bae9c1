/*
 * test_close.c - packet scripts for closing: passive close (CLOSE-WAIT,
 * LAST-ACK), abortive close (SO_LINGER {1,0} sends RST), TIME-WAIT
 * answering a new SYN for the same 4-tuple (RFC 6191 with timestamps,
 * Linux tcp_tw_reuse on the passive side) and rate-limiting its ACKs, RST
 * of a half-open request.
 */
#include "t.h"

#include <errno.h>
#include <sys/socket.h>

/* Peer closes first: CLOSE-WAIT; our close sends FIN; its ACK ends LAST-ACK. */
static void passive_close(struct t *t)
{
	uint64_t in_use;

	t_start(t, TCP_CLOSE_WAIT);
	t_eq(t, t_read(t, 100), 0);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2, .len = 10));
	t_eq(t, sock_shutdown(t->stk, t->f->sd, SHUT_WR), 0);
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 11, .ack = 2));
	T_STATE(t, TCP_LAST_ACK);
	in_use = t_stats(t).socks_in_use;
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_in(t, SEG(.flags = T_ACK, .seq = 2, .ack = 12));
	t_nothing(t, 1000000);
	t_check(t, t_stats(t).socks_in_use < in_use); /* the connection is gone */
}

/* SO_LINGER {1, 0}: close() aborts with a RST, unsent data discarded. */
static void linger_zero_sends_rst(struct t *t)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 0));
	t_write(t, 100); /* stays queued: the window is closed */
	t_eq(t, sock_setopt(t->stk, t->f->sd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 1, .ack = 1, .ts = T_ANY));
	t_nothing(t, 2000000);
}

/* Closing with unread data sends a RST (RFC 2525 2.17, Linux). */
static void close_with_unread_data_rst(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 50));
	t_drain_acks(t);
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 1, .ack = 51, .ts = T_ANY));
	t_nothing(t, 1000000);
}

/* A RST for a request still in the SYN queue removes it: nothing to accept. */
static void rst_in_syn_received(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_RST, .seq = 1, .ts = 0));
	t_nothing(t, 5000000); /* no SYN|ACK retransmissions */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_out(t, SEG(.flags = T_RST, .seq = 1, .ts = T_ANY)); /* unknown now */
	t_eq(t, sock_accept(t->stk, t->listen_sd, NULL), -EAGAIN);
}

/* Our active close, the peer's FIN and our ACK: the connection is in TIME-WAIT. */
static void to_time_wait(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 1));
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 2));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 2, .ack = 2));
}

/* Our active close leaves TIME-WAIT; the same peer port connects again with a
 * newer timestamp and a higher ISN: accepted (RFC 6191). */
static void time_wait_accepts_new_syn(struct t *t)
{
	to_time_wait(t);
	t_wait(t, 1000000);
	/* New incarnation: ISN well above the old sequence space, newer TSval. */
	t->f->peer_isn += 1000000;
	t->f->peer_nxt = 0;
	t->f->have_stack_isn = 0;
	t->f->stack_nxt = 0;
	t->f->stack_isn = 0;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = T_ANY,
		     .sackok = 1, .ts = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
}

/*
 * TIME-WAIT answers a retransmitted FIN every time, but stray ACKs at most
 * once per 500 ms (Linux tcp_timewait_check_oow_rate_limit()).
 */
static void time_wait_acks_limited(struct t *t)
{
	to_time_wait(t);
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 2));
	t_out(t, SEG(.flags = T_ACK, .seq = 2, .ack = 2));
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 2));
	t_out(t, SEG(.flags = T_ACK, .seq = 2, .ack = 2));
	t_in(t, SEG(.flags = T_ACK, .seq = 100, .ack = 2));
	t_out(t, SEG(.flags = T_ACK, .seq = 2, .ack = 2));
	t_in(t, SEG(.flags = T_ACK, .seq = 100, .ack = 2));
	t_nothing(t, 0);
	t_eq(t, t_stats(t).invalid_acks_limited, 1);
	t_wait(t, 500000);
	t_in(t, SEG(.flags = T_ACK, .seq = 100, .ack = 2));
	t_out(t, SEG(.flags = T_ACK, .seq = 2, .ack = 2));
}

int main(void)
{
	T_RUN(passive_close);
	T_RUN(linger_zero_sends_rst);
	T_RUN(close_with_unread_data_rst);
	T_RUN(rst_in_syn_received);
	T_RUN(time_wait_accepts_new_syn);
	T_RUN(time_wait_acks_limited);
	return check_summary();
}
