/*
 * tcp_rack.c - tail loss probes (RFC 8985 7, "TLP"), as Linux schedules them.
 *
 * When the last segments of a flight are lost no duplicate ACK comes back,
 * and without a probe only the RTO (200 ms at least, often far more)
 * recovers them. After sending new data, and after each ACK that leaves
 * data outstanding, an open connection with SACK arms a probe timeout (PTO)
 * of 2 x SRTT (plus the worst-case delayed ACK when one segment is in
 * flight; 10 ms at least, the RTO's time at most) in place of the RTO. When it
 * fires, one segment goes out: new data if the windows allow, else the last
 * segment again; the RTO is armed behind it. The probe's ACK or SACK then
 * reveals the loss:
 *   - SACKed above holes: every hole was sent at least one PTO before the
 *     probe, which arrived: RACK (RFC 8985 6.2) deems them lost at once,
 *     so fast recovery starts with the probe's ACK;
 *   - a retransmitted probe cumulatively ACKed without a D-SACK: the tail
 *     was lost and the probe repaired it: cwnd is reduced as after a loss
 *     (RFC 8985 7.4.2, Linux tcp_process_tlp_ack()).
 *
 * Called from tcp_output.c (arm after new data; it sends the probe), tcp_input.c
 * (arm after an ACK, the probe's ACK) and tcp_timer.c (PTO expiry). State:
 * TF_TLP (t_rtx is the PTO) and tcb->tlp.
 */
#include "stack_priv.h"

#define TLP_WCDELACK_US 200000u /* RFC 8985 WCDelAckT, Linux TCP_DELACK_MAX */
#define TLP_MIN_US	10000u	/* Linux: at least 10 ms */

/* Arm the PTO instead of the RTO when it is due first (RFC 8985 7.2). */
void tcp_tlp_arm(struct stack *stk, struct tcb *t)
{
	uint64_t pto, when;

	if (!(t->flags & TF_SACK) || (t->flags & (TF_RECOVERY | TF_LOSS | TF_PERSIST)) ||
	    t->tlp.out || t->snd_una == t->snd_max || stk->cfg.flags & STACK_F_NO_TLP)
		return;
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_CLOSE_WAIT:
	case TCPS_FIN_WAIT_1:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
		break;
	default:
		return;
	}
	pto = t->srtt_us ? 2ull * t->srtt_us : 1000000u;
	if (t->snd_max - t->snd_una <= t->smss)
		pto += TLP_WCDELACK_US;
	pto = XT_MAX(pto, (uint64_t)TLP_MIN_US);
	when = stk->now_us + pto;
	if (!(t->flags & TF_TLP) && t->t_rtx && t->t_rtx < when)
		when = t->t_rtx; /* the probe goes when the RTO would have (RFC 8985 7.2) */
	t->t_rtx = when;
	t->flags |= TF_TLP;
}

/* PTO expiry: one probe segment at the next output, the RTO behind it. */
void tcp_tlp_fire(struct stack *stk, struct tcb *t)
{
	t->flags &= ~TF_TLP;
	if (t->snd_una == t->snd_max)
		return;
	tcb_mark(stk, t, PEND_TLP);
	t->t_rtx = stk->now_us + t->rto_us;
}

/* The probe went out (tcp_output.c): rxt when it retransmitted the last segment. */
void tcp_tlp_sent(struct stack *stk, struct tcb *t, int rxt)
{
	t->tlp.out = 1;
	t->tlp.rxt = (uint8_t)rxt;
	t->tlp.high = t->snd_max;
	stk->st.tlp_probes++;
}

/*
 * An ACK while a probe is out (RFC 8985 7.4). Returns 1 when the holes
 * below the delivered probe are to be recovered now (the caller enters fast
 * recovery).
 */
int tcp_tlp_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	int dsack = seg->nsack && seq_lt(seg->sack[0].start, seg->ack);

	if (!t->tlp.out)
		return 0;
	if (seq_geq(seg->ack, t->tlp.high)) {
		t->tlp.out = 0;
		if (t->tlp.rxt && !dsack && !(t->flags & (TF_RECOVERY | TF_LOSS))) {
			/* the probe repaired a lost tail: reduce as after a loss */
			t->ssthresh = tcp_cc_ssthresh(stk, t);
			t->cwnd = XT_MAX(t->ssthresh, (uint32_t)t->smss);
			stk->st.tlp_recoveries++;
		}
		return 0;
	}
	for (unsigned i = 0; i < t->n_sacked; i++)
		if (seq_leq(t->sacked[i].start, t->tlp.high - 1) &&
		    seq_gt(t->sacked[i].end, t->tlp.high - 1)) {
			t->tlp.out = 0;
			stk->st.tlp_recoveries++;
			return !(t->flags & (TF_RECOVERY | TF_LOSS));
		}
	return 0;
}

/*
 * A segment [seq, seq + len) went out (tcp_output.c), rxt: below snd_max,
 * a retransmission. Remembers where retransmitted data lies and the TSval
 * it carried, for tcp_rtt_echo_ok().
 */
void tcp_rack_sent(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, int rxt)
{
	if (!rxt)
		return;
	if (!t->rtx_out || seq_gt(seq + len, t->rtx_high))
		t->rtx_high = seq + len;
	t->rtx_out = 1;
	t->rtx_tsval = tcp_tsval(stk, t->ts_off);
}

/*
 * May the TSecr of this ACK, which advances SND.UNA, give an RTT sample
 * (RFC 7323 4.1)? Not when the data it ACKs was retransmitted and the echo
 * is older than the latest retransmission: the peer then echoes an earlier
 * transmission (a Linux peer in TIME-WAIT echoes the TSval of the first FIN
 * to every retransmitted one; a peer whose ACKs were lost echoes the
 * original), and now - TSecr is the whole time since, seconds of backoff
 * (RFC 6298 3, Karn). The echo of a later segment dates the retransmission.
 */
int tcp_rtt_echo_ok(const struct tcb *t, const struct tcp_seg_in *seg)
{
	if (!t->rtx_out || !seq_lt(t->snd_una, t->rtx_high))
		return 1;
	return (int32_t)(seg->tsecr - t->rtx_tsval) >= 0;
}
