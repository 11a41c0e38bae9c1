/*
 * test_rack.c - packet scripts for RACK, time-based loss detection (RFC
 * 8985 6, Linux net.ipv4.tcp_recovery = 1): a SACKed segment sent after a
 * missing one makes it lost once RACK.rtt plus the reordering window have
 * passed since it was sent (the reorder timer), reordering within the window
 * is not a loss (and widens later verdicts), a lost retransmission is found
 * by the data sent after it, and the tail loss probe works with it. The
 * path has a 10 ms RTT (handshake and every ACK 10 ms after the data), so
 * the window (min_RTT / 4) is 2.5 ms.
 */
#include "t.h"

#include <string.h>

#include "t_tcpinfo.h"

#define FULL 1448

static struct t_tcpinfo info_of(struct t *t)
{
	struct t_tcpinfo ti;

	t_tcpinfo_get(t, t->f->sd, &ti);
	return ti;
}

/* Handshake with a 10 ms RTT: min_RTT and SRTT 10 ms. */
static void start_10ms(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = T_ANY, .ws = T_ANY,
		     .sackok = T_ANY, .ts = T_ANY));
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
}

/* SACK of [1 + from * FULL, 1 + to * FULL) with snd_una at 1 (S1 missing). */
static void sack_upto(struct t *t, uint32_t ack, int from, int to)
{
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = ack, .nsack = 1,
		    .sack = {{1 + (uint32_t)from * FULL, 1 + (uint32_t)to * FULL}}));
}

/* n segments sent; 10 ms later S2 and S3 are SACKed, S1 is not. Returns when they went. */
static uint64_t s1_missing(struct t *t, int n)
{
	uint64_t t0;

	start_10ms(t);
	t_write(t, n * FULL);
	for (int i = 0; i < n; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .len = FULL));
	t0 = t->now;
	t_wait(t, 10000);
	sack_upto(t, 1, 1, 2);
	sack_upto(t, 1, 1, 3);
	return t0;
}

/*
 * S1 of four is lost; S2 and S3 are SACKed 10 ms later (two: below the
 * duplicate-ACK threshold). RACK resends S1 when 10 ms + 2.5 ms have passed
 * since it was sent: no probe, no RTO.
 */
static void sack_loss_after_rtt_and_window(struct t *t)
{
	uint64_t t0 = s1_missing(t, 4);

	t_nothing(t, 2000);
	t_out_by(t, 2000, SEG(.flags = T_ACK, .seq = 1, .len = FULL));
	t_check(t, t->now - t0 >= 12500 && t->now - t0 <= 14000);
	struct stack_stats st = t_stats(t);

	t_eq(t, st.retrans_segs, 1);
	t_eq(t, st.tlp_probes, 0);
	t_eq(t, st.timeouts, 0);
	struct t_tcpinfo ti = info_of(t);

	t_eq(t, ti.ca_state, 3); /* TCP_CA_Recovery */
	t_eq(t, ti.sacked, 2);
	t_eq(t, ti.lost, 1); /* Linux lost_out: marked lost, retransmitted or not */
	t_eq(t, ti.retrans, 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 4 * FULL));
	ti = info_of(t);
	t_eq(t, ti.ca_state, 0);
	t_eq(t, ti.lost + ti.retrans + ti.sacked, 0);
	t_nothing(t, 1000000);
}

/* The same with tcp_recovery = 0: two SACKs are no loss; the probe comes later. */
static void no_rack_waits_for_probe(struct t *t)
{
	s1_missing(t, 4);
	t_nothing(t, 5000);
	t_eq(t, t_stats(t).retrans_segs, 0);
}

/*
 * S1 comes 1 ms after S2 and S3 (reordering, not loss): nothing is resent.
 * RACK has now seen reordering: in the next flight, three SACKed segments
 * (the duplicate-ACK threshold) no longer make the hole lost at once; it
 * gets the 2.5 ms window too (RFC 8985 6.2 step 4).
 */
static void reordering_within_window(struct t *t)
{
	s1_missing(t, 4);
	t_nothing(t, 1000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 4 * FULL));
	t_nothing(t, 100000);
	t_eq(t, t_stats(t).retrans_segs, 0);

	uint32_t b = 1 + 4 * FULL;

	t_write(t, 5 * FULL);
	for (int i = 0; i < 5; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = b + i * FULL, .len = FULL));
	t_wait(t, 10000);
	for (int k = 2; k <= 4; k++)
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b, .nsack = 1,
			    .sack = {{b + FULL, b + (uint32_t)k * FULL}}));
	t_nothing(t, 2000);
	t_out_by(t, 2000, SEG(.flags = T_ACK, .seq = b, .len = FULL));
	t_eq(t, t_stats(t).timeouts, 0);
}

/*
 * S1 comes 4 ms late, after RACK resent it: the peer's D-SACK of the
 * retransmission says it was spurious, and the window doubles to 5 ms
 * (RFC 8985 6.2 step 4): in the next flight a missing segment is resent
 * 10 + 5 ms after it was sent, not 12.5 ms.
 */
static void dsack_widens_window(struct t *t)
{
	uint64_t t0 = s1_missing(t, 4);
	uint32_t b = 1 + 4 * FULL, ts_orig = t->last.ts_val; /* the flight's TSval */

	t_out_by(t, 4000, SEG(.flags = T_ACK, .seq = 1, .len = FULL)); /* at 12.5 ms */
	t_wait(t, 1000);
	/* the original arrives (14 ms): its ACK echoes the original's TSval */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b, .ts_ecr = ts_orig));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b, .nsack = 1, .sack = {{1, 1 + FULL}}));
	t_eq(t, t_stats(t).retrans_segs, 1);
	t_nothing(t, 100000);
	t_write(t, 4 * FULL);
	for (int i = 0; i < 4; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = b + i * FULL, .len = FULL));
	t0 = t->now;
	t_wait(t, 10000);
	for (int k = 2; k <= 3; k++)
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b, .nsack = 1,
			    .sack = {{b + FULL, b + (uint32_t)k * FULL}}));
	t_nothing(t, 4000);
	t_out_by(t, 2000, SEG(.flags = T_ACK, .seq = b, .len = FULL));
	t_check(t, t->now - t0 >= 15000 && t->now - t0 <= 16500);
	t_eq(t, t_stats(t).timeouts, 0);
}

/* Without reordering seen, three SACKed segments make the hole lost at once. */
static void dupthresh_sacks_at_once(struct t *t)
{
	s1_missing(t, 5);
	t_nothing(t, 0);
	sack_upto(t, 1, 1, 4);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 5 * FULL));
	t_eq(t, t_stats(t).timeouts, 0);
}

/* Every segment the stack sent since the last call: count of seq (relative). */
static unsigned sent_of(struct t *t, uint32_t seq, uint32_t *max_end)
{
	struct t_wire w;
	unsigned n = 0;

	while (t_next(t, &w) == 0) {
		uint32_t rel = w.seq - t->f->stack_isn;

		n += rel == seq && w.len;
		if (w.len && (int32_t)(rel + w.len - *max_end) > 0)
			*max_end = rel + w.len;
	}
	return n;
}

/*
 * Linux's headline RACK case: the fast retransmission of S1 is lost too.
 * New data sent after it is SACKed one RTT later, while S1 still is not:
 * RACK deems the retransmission lost and sends S1 a third time at once,
 * where dupACK counting waits for the RTO.
 */
static void lost_retransmission(struct t *t)
{
	uint32_t end = 1 + 10 * FULL;
	unsigned s1 = 0;

	start_10ms(t);
	t_write(t, 14 * FULL);
	for (int i = 0; i < 10; i++) /* initial window */
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .len = FULL));
	t_wait(t, 10000);
	for (int k = 2; k <= 10; k++) { /* S1 lost: SACKs of S2..S10 */
		sack_upto(t, 1, 1, k);
		s1 += sent_of(t, 1, &end);
	}
	t_eq(t, s1, 1);			 /* the fast retransmission */
	t_check(t, end > 1 + 10 * FULL); /* and new data after it (PRR) */
	uint32_t sacked_to = end;

	/* one RTT later: the new data arrived, the retransmission did not */
	t_wait(t, 10000);
	s1 += sent_of(t, 1, &end);
	t_eq(t, s1, 1);
	t_in(t,
	     SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{1 + FULL, sacked_to}}));
	s1 += sent_of(t, 1, &end);
	t_eq(t, s1, 2);
	struct stack_stats st = t_stats(t);

	t_eq(t, st.timeouts, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = end));
	t_eq(t, t_stats(t).timeouts, 0);
	t_wait(t, 50000);
	sent_of(t, 1, &end);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = end));
	t_wait(t, 1000000);
	t_eq(t, t_stats(t).timeouts, 0);
}

/*
 * Tail loss: S3 and S4 of four are lost. The probe (S4 again, one PTO
 * later) is SACKed: S3 was sent a PTO before it, beyond RACK.rtt plus the
 * window, so RACK resends it with that ACK (RFC 8985 7.4.2).
 */
static void probe_then_rack(struct t *t)
{
	start_10ms(t);
	t_write(t, 4 * FULL);
	for (int i = 0; i < 4; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .len = FULL));
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	/* PTO 2 x SRTT = 20 ms */
	t_nothing(t, 18000);
	t_out_by(t, 5000, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .len = FULL));
	t_wait(t, 10000);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL, .nsack = 1,
		    .sack = {{1 + 3 * FULL, 1 + 4 * FULL}}));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 4 * FULL));
	struct stack_stats st = t_stats(t);

	t_eq(t, st.tlp_probes, 1);
	t_eq(t, st.tlp_recoveries, 1);
	t_eq(t, st.timeouts, 0);
	t_nothing(t, 1000000);
}

/*
 * More segments in flight than RACK keeps records for (4096): 4200 one-byte
 * segments (TCP_NODELAY). The last records grow to cover the rest; a loss
 * of the first is still found by three SACKs, and the whole flight is ACKed.
 */
static void more_segments_than_records(struct t *t)
{
	const int n = 4200;
	int one = 1, sent = 0;
	struct t_wire w;

	start_10ms(t);
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	for (int i = 0; i < n; i++) {
		t_write(t, 1);
		t_wait(t, 0);
		while (t_next(t, &w) == 0)
			sent += w.len == 1;
	}
	t_eq(t, sent, n);
	t_wait(t, 10000);
	for (int k = 2; k <= 4; k++)
		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{2, 1 + k}}));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .nsack = 1, .sack = {{2, 1 + n}}));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + n));
	t_nothing(t, 1000000);
	t_eq(t, t_stats(t).timeouts, 0);
	t_eq(t, t_stats(t).retrans_segs, 1);
}

int main(void)
{
	struct stack_config no_rack = {.flags = STACK_F_NO_RACK};

	T_RUN(sack_loss_after_rtt_and_window);
	T_RUN(reordering_within_window);
	T_RUN(dupthresh_sacks_at_once);
	T_RUN(dsack_widens_window);
	T_RUN(lost_retransmission);
	T_RUN(probe_then_rack);
	T_RUN(more_segments_than_records);
	t_run("no_rack_waits_for_probe", no_rack_waits_for_probe, &no_rack);
	return check_summary();
}
