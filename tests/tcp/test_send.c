/*
 * test_send.c - packet scripts for the send side: segment sizes, the FIN
 * riding on the last data segment when the app closes right after
 * writing, the reply carrying the ACK of the request, zero-window probing
 * (RFC 9293 3.8.6.1), and retransmission of unacknowledged data.
 */
#include "t.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#define FULL 1448 /* MSS 1460 less the timestamp option */

/* Data is cut into full segments of MSS less options; the initial window is 10. */
static void bulk_segments(struct t *t)
{
	int i;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 3 * FULL + 100);
	for (i = 0; i < 3; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .ack = 1, .len = FULL));
	if (!t_pending(t)) /* classic Nagle: the small tail waits for an ACK */
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .ack = 1, .len = 100));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL + 100));
	t_nothing(t, 0);
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 0);
}

/* RFC 6928: an initial window of 10 segments, then wait for ACKs. */
static void initial_window_ten(struct t *t)
{
	int i;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 20 * FULL);
	for (i = 0; i < 10; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .ack = 1, .len = FULL));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	/* Slow start: two segments ACKed open room for at least two more. */
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 10 * FULL, .ack = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 11 * FULL, .ack = 1, .len = FULL));
	while (t_pending(t))
		t_out(t, SEG(.flags = T_ACK, .seq = T_AUTO, .ack = 1, .len = FULL));
}

/* The app writes and closes at once: one segment carries data and FIN (as Linux). */
static void fin_rides_on_last_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 102)); /* FIN-WAIT-2 */
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 102)); /* TIME-WAIT */
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 102, .ack = 2));
}

/* Request/response: the reply carries the ACK of the request, no pure ACK after it. */
static void reply_carries_ack(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 64));
	if (t_pending(t)) /* a quick ACK at connection start is allowed */
		t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 65));
	t_eq(t, t_read(t, 1000), 64);
	t_write(t, 64);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 65, .len = 64));
	t_nothing(t, 150000); /* no delayed ACK of the request follows (RTO is >= 200 ms) */
	t_in(t, SEG(.flags = T_ACK, .seq = 65, .ack = 65));
	t_nothing(t, 0);
}

/* Is w a zero-window probe: no new data beyond one byte at snd_una? */
static int is_probe(struct t *t, const struct t_wire *w)
{
	uint32_t rel = w->seq - t->f->stack_isn;

	if ((w->flags & (uint8_t)~T_PSH) != T_ACK)
		return 0;
	/* Linux: seq snd_una - 1 and no data; RFC 9293: one byte of new data. */
	return (rel == 0 && w->len == 0) || (rel == 1 && w->len == 1 && w->data[0] == t_pat(0));
}

/* RFC 9293 3.8.6.1: with a zero window, probe with backoff; resume when it opens. */
static void zero_window_probe(struct t *t)
{
	struct t_wire w;
	uint64_t t0, gap1, gap2;
	char buf[256];

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 0));
	t_write(t, 100);
	t_nothing(t, 0); /* no data into a zero window */
	t0 = t->now;
	t_wait(t, 0);
	while (!t_pending(t) && t->now - t0 < 5000000)
		t_wait(t, 10000);
	t_check(t, t_next(t, &w) == 0);
	if (!is_probe(t, &w))
		t_fail(t, __FILE__, __LINE__, "not a window probe: %s",
		       t_seg_str(&w, buf, sizeof(buf)));
	gap1 = t->now - t0;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 0));
	t_nothing(t, 0);
	t0 = t->now;
	while (!t_pending(t) && t->now - t0 < 10000000)
		t_wait(t, 10000);
	t_check(t, t_next(t, &w) == 0);
	if (!is_probe(t, &w))
		t_fail(t, __FILE__, __LINE__, "not a window probe: %s",
		       t_seg_str(&w, buf, sizeof(buf)));
	gap2 = t->now - t0;
	printf("     probes after %llu us, then %llu us\n", (unsigned long long)gap1,
	       (unsigned long long)gap2);
	t_check(t, gap2 >= gap1); /* backoff, never faster */
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 100);
	/* The window opens: all 100 bytes go out. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 1000));
	t_out_by(t, 1000000, SEG(.flags = T_ACK, .seq = T_ANY, .ack = 1, .len = T_ANY));
	t_check(t, t->last.seq - t->f->stack_isn + t->last.len == 101);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .win = 1000));
	t_nothing(t, 0);
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 0);
}

/* RFC 6298: unacknowledged data is retransmitted after the RTO, with backoff. */
static void rto_retransmit(struct t *t)
{
	uint64_t t0, gap1;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 500);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 500));
	t0 = t->now;
	t_out_by(t, 3000000, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 500));
	gap1 = t->now - t0;
	t_check(t, gap1 >= 200000); /* RFC 6298 2.4 allows a 200 ms minimum (Linux) */
	t0 = t->now;
	t_out_by(t, 6000000, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 500));
	t_check(t, t->now - t0 >= 2 * gap1 - 2000); /* 5.5: back off the timer */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 501));
	t_nothing(t, 5000000);
	t_check(t, t_stats(t).retrans_segs >= 2);
}

/* Three duplicate ACKs trigger a fast retransmit of snd_una (RFC 5681 3.2). */
static void fast_retransmit(struct t *t)
{
	int i;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 6 * FULL);
	for (i = 0; i < 6; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .ack = 1, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + FULL));
	for (i = 0; i < 3; i++)
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + FULL, .nsack = 1,
			    .sack = {{1 + 2 * FULL, 1 + (3 + i) * FULL}}));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .ack = 1, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 6 * FULL));
	t_drain_acks(t);
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 0);
}

static void psh_is(struct t *t, const struct t_wire *w, int want)
{
	t_eq(t, !!(w->flags & T_PSH), want);
}

/*
 * PSH as Linux's tcp_push(): on the last segment of each write, not on the
 * full segments before it. A write whose tail waits (window) and a second
 * write that joins it: Linux appends to the same skb, whose PSH then moves
 * to its last segment (tcp_fragment() keeps it on the tail only).
 */
static void psh_on_last_segment_of_write(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED); /* no options: the window is exact bytes */
	t_write(t, 3000);
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 1460)), 0);
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 1461, .len = 1460)), 0);
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 2921, .len = 80)), 1);
	t->peer_win = 1460;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 3001));
	t_write(t, 2000); /* the window takes one segment: 540 bytes wait */
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 3001, .len = 1460)), 0);
	t_nothing(t, 0);
	t_write(t, 2000);
	t_nothing(t, 0);
	t->peer_win = 10000;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 4461));
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 4461, .len = 1460)), 0);
	psh_is(t, t_out(t, SEG(.flags = T_ACK, .seq = 5921, .len = 1080)), 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 7001));
	t_nothing(t, 0);
}

int main(void)
{
	T_RUN(bulk_segments);
	T_RUN(initial_window_ten);
	T_RUN(fin_rides_on_last_data);
	T_RUN(reply_carries_ack);
	T_RUN(zero_window_probe);
	/* the RTO's backoff, without the tail loss probe that would go first */
	t_run("rto_retransmit", rto_retransmit, &(struct stack_config){.flags = STACK_F_NO_TLP});
	T_RUN(fast_retransmit);
	T_RUN(psh_on_last_segment_of_write);
	return check_summary();
}
