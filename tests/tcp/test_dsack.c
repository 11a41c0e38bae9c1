/*
 * test_dsack.c - packet scripts for D-SACK generation (RFC 2883): duplicate
 * data below rcv_nxt, or already held out of order, is reported in the first
 * SACK block of the next segment, once, only when SACK was negotiated; the
 * block holding an out-of-order duplicate follows it (RFC 2883 4).
 */
#include "t.h"

#include <errno.h>

/* Data and its ACK, so that rcv_nxt is 101 and nothing is pending. */
static void first_100(struct t *t)
{
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_eq(t, t_read(t, 1000), 100);
	t_wait(t, 500000);
	t_drain_acks(t);
}

/* A retransmission that ends exactly at rcv_nxt: D-SACK of all of it, once. */
static void dsack_duplicate_at_rcv_nxt(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	first_100(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .nsack = 1, .sack = {{1, 101}}));
	t_eq(t, t_read(t, 1000), -EAGAIN);
	/* the next ACK has no D-SACK */
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
	t_eq(t, t_read(t, 1000), 100);
}

/* A segment wholly below rcv_nxt (out of the window): its ACK carries the D-SACK. */
static void dsack_old_duplicate(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	first_100(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 50));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .nsack = 1, .sack = {{1, 51}}));
	/* data segments are not rate-limited: a second one is reported too */
	t_in(t, SEG(.flags = T_ACK, .seq = 21, .ack = 1, .len = 30));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .nsack = 1, .sack = {{21, 51}}));
}

/* Partly old, partly new: the old part is D-SACKed, the new part taken. */
static void dsack_partial_overlap(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	first_100(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 1, .len = 100));
	t_out_by(t, 500000,
		 SEG(.flags = T_ACK, .seq = 1, .ack = 151, .nsack = 1, .sack = {{51, 101}}));
	t_eq(t, t_read(t, 1000), 50);
}

/*
 * A duplicate of out-of-order data: the D-SACK first, then the block that
 * holds it; a segment that overlaps a block and extends it reports only the
 * overlap. With timestamps three blocks fit: the D-SACK and two others.
 */
static void dsack_out_of_order_duplicate(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 501, .ack = 1, .len = 100));
	t_in(t, SEG(.flags = T_ACK, .seq = 301, .ack = 1, .len = 100));
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	for (int i = 0; i < 3; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = T_ANY));
	t_in(t, SEG(.flags = T_ACK, .seq = 321, .ack = 1, .len = 50));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 3,
		     .sack = {{321, 371}, {301, 401}, {501, 601}}));
	t_in(t, SEG(.flags = T_ACK, .seq = 151, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 3,
		     .sack = {{151, 201}, {101, 251}, {501, 601}}));
	t_eq(t, t_read(t, 1000), -EAGAIN);
}

/*
 * A D-SACK rides on data too, not only on pure ACKs: the duplicate reopens
 * the peer's window, and the data it releases carries the report.
 */
static void dsack_on_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	first_100(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .win = 0));
	t_write(t, 10);
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 101, .len = 10, .nsack = 1,
		     .sack = {{1, 101}}));
}

/* Without SACK negotiated there is no D-SACK (RFC 2883 needs SACK-permitted). */
static void no_dsack_without_sack(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	first_100(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
}

int main(void)
{
	T_RUN(dsack_duplicate_at_rcv_nxt);
	T_RUN(dsack_old_duplicate);
	T_RUN(dsack_partial_overlap);
	T_RUN(dsack_out_of_order_duplicate);
	T_RUN(dsack_on_data);
	T_RUN(no_dsack_without_sack);
	return check_summary();
}
