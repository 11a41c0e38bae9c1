/*
 * test_recv.c - packet scripts for the receive side of ESTABLISHED:
 * out-of-window and duplicate segments (dup ACK), PAWS (RFC 7323 5),
 * SACK blocks after holes (RFC 2018), delayed ACK timing (RFC 9293
 * 3.8.6.3 / RFC 5681 4.2), in-order delivery of what the app reads.
 */
#include "t.h"

#include <errno.h>
#include <stdio.h>

#define FULL 1448 /* MSS 1460 less the timestamp option */

/* RFC 9293 3.10.7.4: an unacceptable segment gets an ACK <SEQ=SND.NXT><ACK=RCV.NXT>. */
static void out_of_window_dup_ack(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1 + 10000000, .ack = 1, .len = 10));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_read(t, 100), -EAGAIN);
	T_STATE(t, TCP_ESTABLISHED);
}

/* A segment entirely below rcv_nxt (a retransmission) gets an immediate dup ACK. */
static void old_duplicate_dup_ack(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_eq(t, t_read(t, 1000), 100);
	t_wait(t, 500000);
	t_drain_acks(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	/* with the D-SACK block of RFC 2883 (test_dsack.c) */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .nsack = 1, .sack = {{1, 101}}));
	t_eq(t, t_read(t, 1000), -EAGAIN);
}

/* RFC 7323 5.3: a segment with an older TSval is dropped and ACKed. */
static void paws_reject(struct t *t)
{
	uint32_t old;

	t_start(t, TCP_ESTABLISHED);
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	old = t->f->peer_ts_last - 5;
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100, .ts_val = old));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	t_eq(t, t_read(t, 1000), 100); /* only the first segment's bytes */
	t_eq(t, t_read(t, 1000), -EAGAIN);
	/* The same bytes with a fresh TSval are taken. */
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_eq(t, t_read(t, 1000), 100);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
}

/* RFC 2018 4: out-of-order data is ACKed at once with SACK blocks, most recent first. */
static void sack_blocks_after_hole(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{101, 201}}));
	t_in(t, SEG(.flags = T_ACK, .seq = 301, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 2,
		     .sack = {{301, 401}, {101, 201}}));
	t_eq(t, t_read(t, 1000), -EAGAIN); /* nothing readable before the hole fills */
	/* RFC 5681 4.2: a segment that fills a hole is ACKed immediately. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 201, .nsack = 1, .sack = {{301, 401}}));
	t_eq(t, t_read(t, 1000), 200);
	t_in(t, SEG(.flags = T_ACK, .seq = 201, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 401));
	t_eq(t, t_read(t, 1000), 200);
}

/* Overlapping out-of-order segments merge into one SACK block. */
static void sack_blocks_merge(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1001, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{1001, 1101}}));
	t_in(t, SEG(.flags = T_ACK, .seq = 1051, .ack = 1, .len = 100));
	/* the overlap is a duplicate: D-SACKed first (RFC 2883), then the merged block */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 2,
		     .sack = {{1051, 1101}, {1001, 1151}}));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1151));
	t_eq(t, t_read(t, 4000), 1150);
}

/* No SACK blocks when SACK was not negotiated. */
static void no_sack_without_permission(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
}

/*
 * Delayed ACK: past the quick-ACK phase at the start, two full segments are
 * ACKed at once (RFC 5681 4.2: at least every second full-sized segment),
 * a lone segment is ACKed later but within 500 ms (RFC 9293 3.8.6.3 MUST).
 */
static void delayed_ack_timing(struct t *t)
{
	uint32_t seq = 1;
	uint64_t t0;
	int i;

	t_start(t, TCP_ESTABLISHED);
	for (i = 0; i < 20; i++) { /* leave quick-ACK mode: pairs 1 ms apart */
		t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = FULL));
		t_in(t, SEG(.flags = T_ACK, .seq = seq + FULL, .ack = 1, .len = FULL));
		seq += 2 * FULL;
		t_wait(t, 1000);
		t_drain_acks(t);
	}
	/* A pair: ACKed at once, without advancing the clock. */
	t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = seq + FULL, .ack = 1, .len = FULL));
	seq += 2 * FULL;
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = seq));
	t_nothing(t, 1000);
	/* A lone segment: not at once, but within 500 ms. */
	t_in(t, SEG(.flags = T_ACK, .seq = seq, .ack = 1, .len = FULL));
	seq += FULL;
	t0 = t->now;
	t_nothing(t, 0);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = seq));
	printf("     delayed ACK after %llu us\n", (unsigned long long)(t->now - t0));
	t_check(t, t->now - t0 >= 1000);
	t_eq(t, t_read(t, 200000), (int)(seq - 1));
}

/* A data segment whose payload overlaps what was already received: only new bytes count. */
static void overlapping_retransmission(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_wait(t, 500000);
	t_drain_acks(t);
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 1, .len = 100));
	/* Partly old: ACKed at once or after the delay, with or without a D-SACK. */
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 151, .nsack = T_ANY));
	t_eq(t, t_read(t, 1000), 150);
	t_wait(t, 500000);
	t_drain_acks(t);
}

/* The FIN is delivered as EOF after the data, and ACKed. */
static void fin_after_data_is_eof(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_FIN, .seq = 1, .ack = 1, .len = 30));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 1, .ack = 32));
	T_STATE(t, TCP_CLOSE_WAIT);
	t_eq(t, t_read(t, 1000), 30);
	t_eq(t, t_read(t, 1000), 0);
}

/*
 * Reading a few bytes must not send a second ACK that repeats the first
 * (same ACK number, same window): the peer would count it as a duplicate
 * ACK (RFC 5681 2). A window update is due only when the window opens by
 * at least an MSS or half the buffer (RFC 9293 3.8.6.2.2, receiver SWS).
 */
static void no_redundant_window_update(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 2));
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 3));
	t_eq(t, t_read(t, 1000), 2);
	t_nothing(t, 300000);
}

/*
 * Polls that hand the app its events keep a request's quick ACK back: the
 * answer carries it. Without an answer it goes within 1 ms, and a plain
 * poll (the one before a sleep) sends it at once.
 */
static void quick_ack_rides_on_answer(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t->hold_acks = 1;
	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 78));
	t_nothing(t, 0);
	t_eq(t, t_read(t, 1000), 78);
	t_write(t, 296);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 79, .len = 296));
	t_nothing(t, 0);
	t_eq(t, t_stats(t).tx_frames, 2); /* the SYN-ACK and the answer: no pure ACK */
}

static void held_ack_goes_within_1ms(struct t *t)
{
	uint64_t t0;

	t_start(t, TCP_ESTABLISHED);
	t->hold_acks = 1;
	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100));
	t0 = t->now;
	t_wait(t, 999);
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 101, .ack = 1, .len = 100));
	t_nothing(t, 0); /* a second segment does not extend the first one's wait */
	t_wait(t, 1);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
	t_check(t, t->now - t0 == 1000);
	/* a plain poll sends a held ACK at once */
	t_in(t, SEG(.flags = T_ACK | T_PSH, .seq = 201, .ack = 1, .len = 100));
	t_nothing(t, 0);
	t->hold_acks = 0;
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 301));
}

/* What the peer needs at once is never held: duplicate ACKs, the ACK of a FIN. */
static void hold_keeps_urgent_acks(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t->hold_acks = 1;
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 1, .len = 100)); /* a hole */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = T_ANY));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100)); /* fills it */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
	t_in(t, SEG(.flags = T_ACK | T_FIN, .seq = 201, .ack = 1));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 202));
}

int main(void)
{
	T_RUN(out_of_window_dup_ack);
	T_RUN(old_duplicate_dup_ack);
	T_RUN(paws_reject);
	T_RUN(sack_blocks_after_hole);
	T_RUN(sack_blocks_merge);
	T_RUN(no_sack_without_permission);
	T_RUN(delayed_ack_timing);
	T_RUN(overlapping_retransmission);
	T_RUN(fin_after_data_is_eof);
	T_RUN(no_redundant_window_update);
	T_RUN(quick_ack_rides_on_answer);
	T_RUN(held_ack_goes_within_1ms);
	T_RUN(hold_keeps_urgent_acks);
	return check_summary();
}
