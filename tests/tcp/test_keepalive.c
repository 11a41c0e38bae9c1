/*
 * test_keepalive.c - packet scripts for keepalive (RFC 9293 3.8.4, Linux
 * knobs TCP_KEEPIDLE/KEEPINTVL/KEEPCNT): probes after the idle time, an
 * answered probe keeps the connection, unanswered ones end it with
 * ETIMEDOUT (and a RST, as Linux sends).
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static void keepalive_on(struct t *t, int idle, int intvl, int cnt)
{
	int one = 1;

	t_eq(t, sock_setopt(t->stk, t->f->sd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), 0);
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)), 0);
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)),
	     0);
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)), 0);
}

/* A probe is an ACK at SND.UNA - 1 with no data (or one old byte). */
static void expect_probe(struct t *t, uint64_t within)
{
	t_out_by(t, within, SEG(.flags = T_ACK, .seq = 0, .ack = 1));
}

static void keepalive_answered(struct t *t)
{
	uint64_t t0;

	t_start(t, TCP_ESTABLISHED);
	keepalive_on(t, 2, 1, 3);
	t0 = t->now;
	expect_probe(t, 2100000);
	t_check(t, t->now - t0 >= 1990000); /* not before the idle time */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	/* Answered: the next probe comes after another idle period, not the interval. */
	t0 = t->now;
	expect_probe(t, 2100000);
	t_check(t, t->now - t0 >= 1990000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
}

static void keepalive_dead_peer(struct t *t)
{
	uint64_t t0;
	struct t_wire w;
	int err, i;

	t_start(t, TCP_ESTABLISHED);
	keepalive_on(t, 2, 1, 3);
	expect_probe(t, 2100000);
	for (i = 0; i < 2; i++) {
		t0 = t->now;
		expect_probe(t, 1100000);
		t_check(t, t->now - t0 >= 990000);
	}
	/* The third unanswered probe times out: the connection is dropped. */
	t0 = t->now;
	t_wait(t, 1100000);
	if (t_next(t, &w) == 0) /* Linux resets the peer */
		t_check(t, (w.flags & T_RST) != 0);
	T_STATE(t, TCP_CLOSE);
	err = sock_error(t->stk, t->f->sd);
	t_check(t, err == ETIMEDOUT || err == -ETIMEDOUT);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLHUP);
	t_nothing(t, 5000000);
}

/* Data traffic resets the idle clock. */
static void keepalive_quiet_while_busy(struct t *t)
{
	int i;

	t_start(t, TCP_ESTABLISHED);
	keepalive_on(t, 2, 1, 3);
	for (i = 0; i < 3; i++) {
		t_wait(t, 1500000);
		t_drain_acks(t);
		t_in(t, SEG(.flags = T_ACK, .seq = 1 + 10 * i, .ack = 1, .len = 10));
		t_eq(t, t_read(t, 100), 10);
	}
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 31));
	t_nothing(t, 1000000); /* still less than 2 s since the last data */
}

int main(void)
{
	T_RUN(keepalive_answered);
	T_RUN(keepalive_dead_peer);
	T_RUN(keepalive_quiet_while_busy);
	return check_summary();
}
