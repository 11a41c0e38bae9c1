/*
 * test_events.c - readiness callbacks: the stack must call on_event(sd)
 * whenever sock_events(sd) may have changed (stack.h), or a shim thread
 * blocked in read()/epoll_wait() sleeps on. Each case makes a socket
 * readable (or closed) by a different input path and checks the callback
 * came and the events are right.
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>

static void event_on_in_order_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_events(t, t->f->sd);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLIN);
	t_eq(t, t_read(t, 1000), 100);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
}

/* Out-of-order data is not readable; the segment that fills the hole makes it so. */
static void event_on_hole_fill(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{101, 201}}));
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLIN));
	t_events(t, t->f->sd);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLIN);
	t_eq(t, t_read(t, 1000), 200);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
}

/* The FIN rides on a retransmission whose data was already queued out of order. */
static void event_on_fin_after_hole(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{101, 201}}));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
	t_eq(t, t_read(t, 1000), 200);
	t_events(t, t->f->sd);
	/* now only the FIN is new: data 101..201 again, with FIN */
	t_in(t, SEG(.flags = T_ACK | T_FIN, .seq = 101, .ack = 1, .len = 100));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 1, .ack = 202, .nsack = T_ANY));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_check(t, sock_events(t->stk, t->f->sd) & (EPOLLIN | EPOLLRDHUP));
	t_eq(t, t_read(t, 1000), 0);
}

/* Data and FIN both held out of order until the hole fills: EOF after the data. */
static void event_on_fin_in_ooo_queue(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_FIN, .seq = 101, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{101, 201}}));
	t_events(t, t->f->sd);
	/* Linux keeps the FIN in the out-of-order queue: the fill delivers data + EOF */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	if (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = T_ANY, .nsack = T_ANY));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_eq(t, t_read(t, 1000), 200);
	if (t->last.ack - t->f->peer_isn == 201) { /* the FIN was dropped: the peer resends it */
		t_in(t, SEG(.flags = T_ACK | T_FIN, .seq = 201, .ack = 1));
		t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 1, .ack = 202));
		t_check(t, t_events(t, t->f->sd) > 0);
	}
	t_eq(t, t_read(t, 1000), 0);
	T_STATE(t, TCP_CLOSE_WAIT);
}

/* Writable again when the peer's ACK frees send buffer space. */
static void event_on_ack_frees_space(struct t *t)
{
	int n = 0;

	t_start(t, TCP_ESTABLISHED);
	while (sock_events(t->stk, t->f->sd) & EPOLLOUT) {
		t_write(t, 1000);
		if (++n > 10000)
			t_fail(t, __FILE__, __LINE__, "send buffer never fills");
	}
	t_wait(t, 0);
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
	t_events(t, t->f->sd);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = (int64_t)t->f->stack_nxt));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLOUT);
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
}

/* A completed handshake makes the listener readable. */
static void event_on_accept_ready(struct t *t)
{
	t_events(t, t->listen_sd);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_check(t, t_events(t, t->listen_sd) > 0);
	t_check(t, sock_events(t->stk, t->listen_sd) & EPOLLIN);
	t_accept(t);
}

/* A RST wakes the socket with EPOLLERR | EPOLLHUP. */
static void event_on_reset(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_events(t, t->f->sd);
	t_in(t, SEG(.flags = T_RST, .seq = 1));
	t_check(t, t_events(t, t->f->sd) > 0);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLHUP);
}

int main(void)
{
	T_RUN(event_on_in_order_data);
	T_RUN(event_on_hole_fill);
	T_RUN(event_on_fin_after_hole);
	T_RUN(event_on_fin_in_ooo_queue);
	T_RUN(event_on_ack_frees_space);
	T_RUN(event_on_accept_ready);
	T_RUN(event_on_reset);
	return check_summary();
}
