/*
 * test_nagle.c - packet scripts for when small writes go out: Nagle
 * (RFC 9293 3.7.4: hold a small segment while data is unacknowledged),
 * TCP_NODELAY, MSG_MORE and TCP_CORK (Linux: coalesce until uncorked).
 */
#include "t.h"

#include <sys/socket.h>

static void set_opt(struct t *t, int name, int v)
{
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, name, &v, sizeof(v)), 0);
}

/* The first small segment goes at once; the second waits for the ACK. */
static void nagle_holds_second_small_write(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 10));
	t_write(t, 10);
	t_write(t, 10);
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 11));
	t_out(t, SEG(.flags = T_ACK, .seq = 11, .ack = 1, .len = 20)); /* both, coalesced */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 31));
	t_nothing(t, 0);
}

static void nodelay_sends_each_write(struct t *t)
{
	int v = 0;
	socklen_t len = sizeof(v);

	t_start(t, TCP_ESTABLISHED);
	set_opt(t, TCP_NODELAY, 1);
	t_eq(t, sock_getopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	t_check(t, v != 0);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 10));
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 11, .ack = 1, .len = 10));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 21));
	t_nothing(t, 0);
}

/* MSG_MORE holds the bytes; the next write without it sends everything as one segment. */
static void msg_more_coalesces(struct t *t)
{
	uint8_t buf[20];
	int i;

	t_start(t, TCP_ESTABLISHED);
	for (i = 0; i < 20; i++)
		buf[i] = t_pat((uint32_t)i);
	t_eq(t, sock_send(t->stk, t->f->sd, buf, 10, MSG_MORE), 10);
	t_nothing(t, 0);
	t_eq(t, sock_send(t->stk, t->f->sd, buf + 10, 10, 0), 10);
	t->f->app_wr = 20;
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 20));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 21));
	t_nothing(t, 0);
}

/* TCP_CORK: nothing leaves until uncorked (or a full segment is ready). */
static void cork_until_uncorked(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	set_opt(t, TCP_CORK, 1);
	t_write(t, 10);
	t_write(t, 10);
	t_nothing(t, 0);
	set_opt(t, TCP_CORK, 0);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 20));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 21));
	t_nothing(t, 0);
}

/* Corked, full segments still go (only the small tail waits). */
static void cork_sends_full_segments(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	set_opt(t, TCP_CORK, 1);
	t_write(t, 1448 + 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1448));
	t_nothing(t, 0);
	set_opt(t, TCP_CORK, 0);
	t_out(t, SEG(.flags = T_ACK, .seq = 1449, .ack = 1, .len = 100));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1549));
	t_nothing(t, 0);
}

int main(void)
{
	T_RUN(nagle_holds_second_small_write);
	T_RUN(nodelay_sends_each_write);
	T_RUN(msg_more_coalesces);
	T_RUN(cork_until_uncorked);
	T_RUN(cork_sends_full_segments);
	return check_summary();
}
