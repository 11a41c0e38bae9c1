/*
 * test_tlp.c - packet scripts for loss recovery beyond RFC 6675: tail loss
 * probes (RFC 8985 7: the probe timeout after the last segment of a flight,
 * what the probe carries, the loss it reveals, when none is armed) and
 * proportional rate reduction in fast recovery (RFC 6937).
 */
#include "t.h"

#include <sys/socket.h>

#define FULL 1448

/* The flight's last segment is lost: the probe resends it after 2 x SRTT, no RTO. */
static void probe_resends_lost_tail(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 3 * FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .len = FULL)); /* lost */
	t_wait(t, 5000); /* within the first PTO (10 ms: SRTT is 0.5 ms) */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	/* PTO now 2 x SRTT + the delayed-ACK allowance (one segment out): ~202 ms */
	t_nothing(t, 200000);
	t_out_by(t, 10000, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 3 * FULL));
	struct stack_stats st = t_stats(t);

	t_eq(t, st.tlp_probes, 1);
	t_eq(t, st.tlp_recoveries, 1); /* repaired without a D-SACK: cwnd reduced */
	t_eq(t, st.timeouts, 0);
	t_nothing(t, 2000000);
}

/* With more data queued than the window took, the probe sends new data. */
static void probe_sends_new_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 12 * FULL);
	for (int i = 0; i < 10; i++) /* initial window: 10 segments */
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .len = FULL));
	t_nothing(t, 9000);
	t_out_by(t, 2000, SEG(.flags = T_ACK, .seq = 1 + 10 * FULL, .len = FULL));
	struct stack_stats st = t_stats(t);

	t_eq(t, st.tlp_probes, 1);
	t_eq(t, st.retrans_segs, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 11 * FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 11 * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 12 * FULL));
	t_nothing(t, 0);
}

/* The last 3 of 5 are lost: the probe is SACKed, the holes below it are resent at once. */
static void probe_sacked_starts_recovery(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 5 * FULL);
	for (int i = 0; i < 5; i++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + i * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL));
	t_out_by(t, 20000, SEG(.flags = T_ACK, .seq = 1 + 4 * FULL, .len = FULL)); /* probe */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL, .nsack = 1,
		    .sack = {{1 + 4 * FULL, 1 + 5 * FULL}}));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 2 * FULL, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + 3 * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 5 * FULL));
	struct stack_stats st = t_stats(t);

	t_eq(t, st.tlp_probes, 1);
	t_eq(t, st.timeouts, 0);
	t_nothing(t, 2000000);
}

/* The original tail arrives too: the D-SACK says the probe was not needed, cwnd stays. */
static void probe_dsack_spurious(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 2 * FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .len = FULL));
	t_out_by(t, 20000, SEG(.flags = T_ACK, .seq = 1 + FULL, .len = FULL)); /* probe */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + 2 * FULL, .nsack = 1,
		    .sack = {{1 + FULL, 1 + 2 * FULL}}));
	struct stack_stats st = t_stats(t);

	t_eq(t, st.tlp_probes, 1);
	t_eq(t, st.tlp_recoveries, 0);
	t_nothing(t, 2000000);
}

/* No SACK: no probe; the RTO recovers the tail (Linux needs SACK for TLP too). */
static void no_probe_without_sack(struct t *t)
{
	t_start_plain(t, TCP_ESTABLISHED);
	t_write(t, 1460);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 1460));
	t_nothing(t, 150000);
	t_out_by(t, 1000000, SEG(.flags = T_ACK, .seq = 1, .len = 1460));
	t_eq(t, t_stats(t).tlp_probes, 0);
	t_eq(t, t_stats(t).timeouts, 1);
}

/* STACK_F_NO_TLP (tcp_early_retrans = 0): the same tail waits for the RTO. */
static void no_probe_when_disabled(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 2 * FULL);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = FULL));
	t_out(t, SEG(.flags = T_ACK, .seq = 1 + FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1 + FULL));
	t_nothing(t, 150000);
	t_out_by(t, 1000000, SEG(.flags = T_ACK, .seq = 1 + FULL, .len = FULL));
	t_eq(t, t_stats(t).tlp_probes, 0);
	t_eq(t, t_stats(t).timeouts, 1);
}

/*
 * PRR: a flight of 20 with the first segment lost. Recovery starts at the
 * third SACK with pipe (16) above ssthresh (14): the fast retransmit goes at
 * once (RFC 6675 alone waited until pipe fell below ssthresh), then new data
 * at ssthresh / RecoverFS = 14/20 segment per segment delivered while pipe
 * is above ssthresh, then what holds pipe at ssthresh (PRR-SSRB).
 */
static void prr_proportional(struct t *t)
{
	uint32_t b = 1 + 10 * FULL; /* after the first window */
	int k, sent[12] = {0}, total = 0;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 10 * FULL);
	for (k = 0; k < 10; k++)
		t_out(t, SEG(.flags = T_ACK, .seq = 1 + k * FULL, .len = FULL));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b)); /* slow start: cwnd 20 */
	t_write(t, 40 * FULL);
	for (k = 0; k < 20; k++)
		t_out(t, SEG(.flags = T_ACK, .seq = b + k * FULL, .len = FULL));
	/* S0 lost; SACKs for S1.. one by one (the first two: limited transmit) */
	for (k = 1; k <= 11; k++) {
		struct t_wire w;

		t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = b, .nsack = 1,
			    .sack = {{b + FULL, b + (uint32_t)(k + 1) * FULL}}));
		while (t_next(t, &w) == 0) {
			if (k == 3 && !sent[k])
				t_eq(t, w.seq,
				     t->f->stack_isn + b); /* the fast retransmit, at once */
			sent[k]++;
		}
		total += k >= 3 ? sent[k] : 0;
	}
	t_eq(t, sent[1] + sent[2], 0); /* cwnd-limited: no limited transmit */
	t_eq(t, sent[3], 1);
	/* per ACK: ceil(delivered x 14 / 20) - out while pipe > 14, then pipe held at 14 */
	t_eq(t, sent[4] + sent[5] + sent[6], 2);
	t_eq(t, sent[7] + sent[8] + sent[9], 2);
	t_eq(t, sent[10], 0); /* pipe reached ssthresh */
	t_eq(t, sent[11], 1);
	t_eq(t, total, 6);
	t_eq(t, t_stats(t).timeouts, 0);
}

int main(void)
{
	struct stack_config no_tlp = {.flags = STACK_F_NO_TLP};

	T_RUN(probe_resends_lost_tail);
	T_RUN(probe_sends_new_data);
	T_RUN(probe_sacked_starts_recovery);
	T_RUN(probe_dsack_spurious);
	T_RUN(no_probe_without_sack);
	T_RUN(prr_proportional);
	t_run("no_probe_when_disabled", no_probe_when_disabled, &no_tlp);
	return check_summary();
}
