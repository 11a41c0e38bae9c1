/*
 * tcp_rack.c - loss detection by time, RACK-TLP (RFC 8985), as Linux does it
 * by default (net.ipv4.tcp_recovery = 1): RACK finds the losses (below),
 * tail loss probes make the ACKs that let it (this part first).
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

/*
 * RACK (RFC 8985 6), with SACK unless STACK_F_NO_RACK: every segment sent
 * leaves a record (tcb->rack.seg, a ring in sequence order over [snd_una,
 * snd_max), grown by doubling from the buffer cache) with the time and the
 * place in the order of its last transmission. Each ACK drops the records
 * below snd_una and marks the ones the scoreboard covers; the latest sent of
 * those just delivered (a retransmission only when the echo or min_RTT says
 * it was the one delivered) gives RACK.xmit_ts and RACK.rtt. A record sent
 * before it and still missing is lost once RACK.rtt plus the reordering
 * window have passed since it was sent; until then the reorder timer
 * (t_reo) waits for it. The window is min_RTT / 4 (times a multiplier that
 * D-SACKs raise, at most SRTT), or 0 for a plain loss. Records marked lost
 * are what recovery resends (tcp_output.c asks tcp_rack_next_lost()), under
 * PRR (tcp_cc.c), and what the pipe leaves out; a lost retransmission is
 * found like any segment. An RTO clears the marks: go-back-N resends all.
 *
 * Calls: tcp_output.c tcp_rack_sent() per segment sent, tcp_rack_next_lost();
 * tcp_input.c tcp_rack_ack() per acceptable ACK, then enters recovery if
 * bytes are marked lost; tcp_timer.c tcp_rack_timeout() and tcp_rack_rto();
 * tcp_tcb.c/sock.c tcp_rack_free() where the send ring goes.
 */

/* Arm the PTO instead of the RTO when it is due first (RFC 8985 7.2). */
void tcp_tlp_arm(struct stack *stk, struct tcb *t)
{
	uint64_t pto, when;

	if (!(t->flags & TF_SACK) || (t->flags & (TF_RECOVERY | TF_LOSS | TF_PERSIST)) ||
	    t->tlp.out || t->snd_una == t->snd_max || stk->cfg.flags & STACK_F_NO_TLP ||
	    t->t_reo) /* Linux: no probe while the reorder timer runs */
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

/* ---- RACK: time-based loss detection (RFC 8985 6, Linux tcp_recovery = 1) ---- */

#define RACK_SEGS_MIN  64u   /* records of a first flight */
#define RACK_SEGS_MAX  4096u /* beyond, new segments extend the last record */
#define RACK_DUPTHRESH 3u    /* net.ipv4.tcp_reordering: segments SACKed above a loss */

static struct rack_seg *rs_at(const struct tcb *t, uint32_t i)
{
	return &t->rack.seg[(t->rack.head + i) & (t->rack.cap - 1)];
}

/* Full microsecond time of a record's transmission (records live < 35 min). */
static uint64_t rs_xmit_us(const struct stack *stk, const struct rack_seg *r)
{
	return stk->now_us - (uint32_t)((uint32_t)stk->now_us - r->xmit);
}

/* Was a sent after b? (flags of records, or RACK.xmit_ts: RS_ORDER units) */
static int rs_after(uint32_t a, uint32_t b)
{
	return (int32_t)((a & ~(RS_ORDER - 1)) - (b & ~(RS_ORDER - 1))) > 0;
}

/* The next place in the order of transmissions. */
static uint32_t rs_next(struct tcb *t)
{
	t->rack.tx_order += RS_ORDER;
	return t->rack.tx_order;
}

void tcp_rack_free(struct stack *stk, struct tcb *t)
{
	if (t->rack.seg)
		buf_put(stk, t->rack.seg, t->rack.cap * (uint32_t)sizeof(struct rack_seg));
	t->rack.seg = NULL;
	t->rack.cap = t->rack.n = t->rack.head = 0;
	t->rack.lost_bytes = t->rack.nsacked = 0;
	t->t_reo = 0;
}

/* The ring is full: grow it (doubling) up to RACK_SEGS_MAX. */
static int rack_grow(struct stack *stk, struct tcb *t)
{
	uint32_t cap = t->rack.cap ? t->rack.cap * 2 : RACK_SEGS_MIN;
	struct rack_seg *ns;

	if (cap > RACK_SEGS_MAX)
		return 0;
	ns = buf_get(stk, cap * (uint32_t)sizeof(*ns));
	if (!ns)
		return 0;
	for (uint32_t i = 0; i < t->rack.n; i++)
		ns[i] = *rs_at(t, i);
	if (t->rack.seg)
		buf_put(stk, t->rack.seg, t->rack.cap * (uint32_t)sizeof(*ns));
	t->rack.seg = ns;
	t->rack.cap = cap;
	t->rack.head = 0;
	return 1;
}

/* Room for one more record. */
static inline int rack_room(struct stack *stk, struct tcb *t)
{
	return t->rack.n < t->rack.cap || rack_grow(stk, t);
}

/* Split record i at seq (strictly inside it): i keeps [start, seq), i + 1 the rest. */
static int rack_split(struct stack *stk, struct tcb *t, uint32_t i, uint32_t seq)
{
	if (!rack_room(stk, t))
		return 0;
	for (uint32_t k = t->rack.n; k > i + 1; k--)
		*rs_at(t, k) = *rs_at(t, k - 1);
	t->rack.n++;
	*rs_at(t, i + 1) = *rs_at(t, i);
	rs_at(t, i)->end = seq;
	rs_at(t, i + 1)->start = seq;
	if (rs_at(t, i)->flags & RS_SACKED)
		t->rack.nsacked++; /* both halves are */
	return 1;
}

static void rack_unlose(struct tcb *t, struct rack_seg *r)
{
	if (r->flags & RS_LOST) {
		r->flags &= ~RS_LOST;
		t->rack.lost_bytes -= r->end - r->start;
	}
}

/* The first record that ends after seq (records are in sequence order). */
static uint32_t rack_find(const struct tcb *t, uint32_t seq)
{
	uint32_t lo = 0, hi = t->rack.n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (seq_gt(rs_at(t, mid)->end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Records of new data; a retransmission restamps the ones it covers. */
static void rack_record(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, int rxt)
{
	uint32_t now = (uint32_t)stk->now_us, end = seq + len, i;

	if (!rxt) {
		struct rack_seg *last = t->rack.n ? rs_at(t, t->rack.n - 1) : NULL;

		if (last && seq_lt(seq, last->end))
			return;
		if (!rack_room(stk, t)) {
			if (!last || last->end != seq || (last->flags & (RS_ORDER - 1)))
				return;	 /* no memory: RACK does not see this segment */
			last->end = end; /* coarser: the tail is timed from now */
			last->xmit = now;
			last->flags = rs_next(t);
			return;
		}
		struct rack_seg *r = rs_at(t, t->rack.n++);

		r->start = seq;
		r->end = end;
		r->xmit = now;
		r->flags = rs_next(t);
		return;
	}
	for (i = rack_find(t, seq); i < t->rack.n; i++) {
		struct rack_seg *r = rs_at(t, i);

		if (seq_geq(r->start, end))
			break;
		/* cut the record at the retransmission's edges; without room
		 * for the cut, the whole record counts as retransmitted now */
		if (seq_lt(r->start, seq) && rack_split(stk, t, i, seq))
			continue; /* record i + 1 starts at seq */
		if (seq_gt(r->end, end))
			rack_split(stk, t, i, end);
		r = rs_at(t, i);
		rack_unlose(t, r);
		r->flags = rs_next(t) | (r->flags & (RS_ORDER - 1)) | RS_RXT;
		r->xmit = now;
	}
}

/* What one ACK delivered, for RACK_update() (RFC 8985 6.2 steps 2-3). */
struct rack_acked {
	const struct stack *stk;
	const struct tcp_seg_in *seg;
	uint32_t fack0;	      /* highest SACKed sequence before the ACK */
	struct rack_seg last; /* the latest sent of those that count (valid with n) */
	unsigned n;
};

/*
 * Record r was delivered by this ACK. Sent once and below data delivered
 * earlier: reordering (step 3, Linux tcp_check_sack_reordering()). The
 * latest sent of the deliveries that count gives RACK.rtt and xmit_ts once
 * the ACK is walked (step 2 takes them in order of sending, the last wins).
 */
static void rack_delivered(struct tcb *t, struct rack_acked *a, const struct rack_seg *r)
{
	if (!(r->flags & RS_RXT)) {
		if (seq_leq(r->end, a->fack0))
			t->rack.reord = 1;
	} else {
		/* Which transmission arrived? The echo tells: older than the
		 * last one, an earlier one. Without it, one faster than the
		 * path ever was cannot be the last one. */
		uint64_t x = rs_xmit_us(a->stk, r);
		const struct tcp_seg_in *seg = a->seg;

		if ((t->flags & TF_TS) && seg->has_ts && seg->tsecr) {
			if ((int32_t)(seg->tsecr - ((uint32_t)(x / 1000) + t->ts_off)) < 0)
				return;
		} else if (a->stk->now_us - x < t->ti.min_rtt_us) {
			return;
		}
	}
	if (!a->n++ || rs_after(r->flags, a->last.flags))
		a->last = *r;
}

/* Step 2's result (Linux tcp_rack_advance()): RACK.rtt and RACK.xmit_ts. */
static void rack_advance(struct tcb *t, const struct rack_acked *a)
{
	if (!a->n)
		return;
	t->rack.rtt_us = (uint32_t)(a->stk->now_us - rs_xmit_us(a->stk, &a->last));
	if (!t->rack.seen || rs_after(a->last.flags, t->rack.order))
		t->rack.order = a->last.flags & ~(RS_ORDER - 1);
	t->rack.seen = 1;
}

/* Records meeting [s, e), newly SACKed: those scoreboard block b holds whole. */
static void rack_sack_new(struct tcb *t, struct rack_acked *a, uint32_t s, uint32_t e,
			  const struct seq_range *b)
{
	for (uint32_t i = rack_find(t, s); i < t->rack.n; i++) {
		struct rack_seg *r = rs_at(t, i);

		if (!seq_lt(r->start, e))
			break;
		if ((r->flags & RS_SACKED) || seq_lt(r->start, b->start) || seq_gt(r->end, b->end))
			continue;
		r->flags |= RS_SACKED;
		t->rack.nsacked++;
		rack_unlose(t, r);
		rack_delivered(t, a, r);
	}
}

/*
 * Mark what the scoreboard holds and sb0 (the scoreboard before this ACK)
 * did not: a receiver's first SACK block spans everything above the first
 * hole, so walking whole blocks would visit the flight on every ACK.
 */
static void rack_sack_walk(struct tcb *t, struct rack_acked *a, const struct seq_range *sb0,
			   unsigned nsb0)
{
	for (unsigned k = 0; k < t->n_sacked; k++) {
		const struct seq_range *b = &t->sacked[k];
		uint32_t s = b->start;

		for (unsigned j = 0; j < nsb0 && seq_lt(s, b->end); j++) {
			if (seq_leq(sb0[j].end, s))
				continue;
			if (seq_geq(sb0[j].start, b->end))
				break;
			if (seq_lt(s, sb0[j].start))
				rack_sack_new(t, a, s, sb0[j].start, b);
			s = seq_max(s, sb0[j].end);
		}
		if (seq_lt(s, b->end))
			rack_sack_new(t, a, s, b->end, b);
	}
}

/*
 * The reordering window (RFC 8985 6.2 step 4, Linux tcp_rack_reo_wnd()):
 * none while no reordering was seen and the loss is plain (in recovery, or
 * three segments' worth SACKed: the duplicate-ACK threshold), else a quarter
 * of the minimum RTT times the multiplier D-SACKs raised, at most SRTT.
 */
static uint32_t rack_reo_wnd(const struct tcb *t)
{
	uint64_t w;

	if (!t->rack.reord && ((t->flags & TF_RECOVERY) || t->rack.nsacked >= RACK_DUPTHRESH))
		return 0;
	w = (uint64_t)(t->ti.min_rtt_us / 4) * XT_MAX(t->rack.steps, (uint8_t)1);
	return (uint32_t)XT_MIN(w, (uint64_t)t->srtt_us);
}

/*
 * RFC 8985 6.2 step 5 (Linux tcp_rack_detect_loss()): a segment sent before
 * the latest delivered one and not delivered itself within RACK.rtt plus
 * the reordering window of its sending is lost. Those that still have time
 * arm the reorder timer at the latest of their deadlines. Returns how many
 * were marked.
 */
static int rack_detect(struct stack *stk, struct tcb *t)
{
	uint64_t now = stk->now_us, wait = 0;
	uint32_t reo = rack_reo_wnd(t);
	int lost = 0;

	t->t_reo = 0;
	if (!t->rack.seen)
		return 0;
	for (uint32_t i = 0; i < t->rack.n; i++) {
		struct rack_seg *r = rs_at(t, i);
		uint64_t x, due;

		if (!rs_after(t->rack.order, r->flags)) {
			/* sent after the latest delivered: no verdict. Data is
			 * first sent in sequence order and a retransmission is
			 * later still, so no record beyond a first transmission
			 * sent after it was sent before. */
			if (!(r->flags & RS_RXT))
				break;
			continue;
		}
		if (r->flags & (RS_SACKED | RS_LOST))
			continue;
		x = rs_xmit_us(stk, r);
		due = x + t->rack.rtt_us + reo;
		if (due <= now) {
			r->flags |= RS_LOST;
			t->rack.lost_bytes += r->end - r->start;
			lost++;
		} else if (due - now > wait) {
			wait = due - now;
		}
	}
	if (wait)
		t->t_reo = now + wait;
	return lost;
}

/*
 * RFC 8985 6.2 steps 1-3 (Linux tcp_rack_mark_lost() with the SACK walk):
 * an acceptable ACK, after snd_una and the scoreboard moved. Records below
 * snd_una go, newly SACKed ones are marked; each delivered one updates RACK;
 * then losses are detected. D-SACKs widen the reordering window (6.2 step
 * 4). una0, fack0: snd_una and the highest SACKed sequence before the ACK;
 * sb0[nsb0]: the scoreboard then, if the ACK has SACK blocks. Returns how
 * many segments were marked lost.
 */
int tcp_rack_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg, uint32_t una0,
		 uint32_t fack0, const struct seq_range *sb0, unsigned nsb0)
{
	struct rack_acked a = {.stk = stk, .seg = seg, .fack0 = fack0};

	if (!t->rack.seg)
		return 0;
	while (t->rack.n) {
		struct rack_seg *r = rs_at(t, 0);

		if (seq_gt(r->end, t->snd_una)) {
			if (seq_lt(r->start, t->snd_una)) { /* in part */
				if (r->flags & RS_LOST)
					t->rack.lost_bytes -= t->snd_una - r->start;
				r->start = t->snd_una;
				rack_delivered(t, &a, r);
			}
			break;
		}
		if (!(r->flags & RS_SACKED))
			rack_delivered(t, &a, r);
		else
			t->rack.nsacked--;
		rack_unlose(t, r);
		t->rack.head = (t->rack.head + 1) & (t->rack.cap - 1);
		t->rack.n--;
	}
	if (seg->nsack)
		rack_sack_walk(t, &a, sb0, nsb0);
	rack_advance(t, &a);
	/* a D-SACK (RFC 2883): a retransmission was not needed; at most one
	 * step per round trip, back to one after 16 recoveries without */
	if (seg->nsack && seq_lt(seg->sack[0].start, seg->ack) &&
	    (!t->rack.dsack_seq || seq_geq(una0, t->rack.dsack_seq))) {
		t->rack.steps = (uint8_t)XT_MIN(XT_MAX(t->rack.steps, (uint8_t)1) + 1, 255);
		t->rack.dsack_seq = t->snd_max ? t->snd_max : 1;
		t->rack.recoveries = 0;
	}
	if (t->flags & TF_LOSS)
		return 0; /* after an RTO, go-back-N resends everything anyway */
	if (!t->n_sacked && !t->rtx_out) {
		t->t_reo = 0; /* in order: nothing can have been passed */
		return 0;
	}
	return rack_detect(stk, t);
}

/* The reorder timer (RFC 8985 6.3, Linux tcp_rack_reo_timeout()). */
void tcp_rack_timeout(struct stack *stk, struct tcb *t)
{
	t->t_reo = 0;
	if (!t->rack.seg || (t->flags & TF_LOSS) || t->snd_una == t->snd_max ||
	    !rack_detect(stk, t))
		return;
	if (t->flags & TF_RECOVERY)
		tcb_mark(stk, t, PEND_DATA);
	else
		tcp_enter_recovery(stk, t, 0);
}

/* An RTO: the scoreboard is gone and go-back-N resends all (RFC 8985 6.3). */
void tcp_rack_rto(struct tcb *t)
{
	for (uint32_t i = 0; t->rack.seg && i < t->rack.n; i++)
		rs_at(t, i)->flags &= ~(RS_SACKED | RS_LOST);
	t->rack.lost_bytes = 0;
	t->rack.nsacked = 0;
	t->t_reo = 0;
}

/* End of recovery: 16 without a D-SACK bring the reordering window back. */
void tcp_rack_recovered(struct tcb *t)
{
	if (t->rack.steps > 1 && ++t->rack.recoveries >= 16) {
		t->rack.steps = 1;
		t->rack.recoveries = 0;
	}
}

/*
 * The first range to retransmit: the lowest record marked lost, without
 * what the scoreboard holds of it (a coarse record may be SACKed in part).
 * Returns 0 when none is.
 */
int tcp_rack_next_lost(const struct tcb *t, uint32_t maxseg, uint32_t *h, uint32_t *hend)
{
	for (uint32_t i = 0; i < t->rack.n; i++) {
		const struct rack_seg *r = rs_at(t, i);
		uint32_t s = r->start, e = r->end;

		if (!(r->flags & RS_LOST))
			continue;
		for (unsigned k = 0; k < t->n_sacked; k++) {
			if (seq_leq(t->sacked[k].end, s))
				continue;
			if (seq_leq(t->sacked[k].start, s))
				s = t->sacked[k].end;
			else if (seq_lt(t->sacked[k].start, e))
				e = t->sacked[k].start;
		}
		if (seq_lt(s, e)) {
			*h = s;
			*hend = seq_min(e, s + maxseg);
			return 1;
		}
	}
	return 0;
}

/* Nothing of [seq, end) can be sent (tcp_output.c): it is no longer owed. */
void tcp_rack_skip(struct tcb *t, uint32_t seq, uint32_t end)
{
	for (uint32_t i = 0; i < t->rack.n; i++) {
		struct rack_seg *r = rs_at(t, i);

		if (seq_lt(r->start, end) && seq_gt(r->end, seq))
			rack_unlose(t, r);
	}
}

/*
 * A segment [seq, seq + len) went out (tcp_output.c), rxt: below snd_max,
 * a retransmission. Remembers where retransmitted data lies and the TSval
 * it carried, for tcp_rtt_echo_ok().
 */
void tcp_rack_sent(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, int rxt)
{
	if ((t->flags & TF_SACK) && !(stk->cfg.flags & STACK_F_NO_RACK) && len)
		rack_record(stk, t, seq, len, rxt);
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
 * is older than the retransmission: the peer then echoes an earlier
 * transmission (a Linux peer in TIME-WAIT echoes the TSval of the first FIN
 * to every retransmitted one; a peer whose ACKs were lost echoes the
 * original), and now - TSecr is the whole time since, seconds of backoff
 * (RFC 6298 3, Karn). The echo of a later segment dates the retransmission.
 * With RACK's records, each retransmitted segment the ACK covers is checked;
 * without, the latest retransmission of all.
 */
int tcp_rtt_echo_ok(const struct stack *stk, const struct tcb *t, const struct tcp_seg_in *seg)
{
	if (!t->rtx_out || !seq_lt(t->snd_una, t->rtx_high))
		return 1;
	if (!t->rack.seg)
		return (int32_t)(seg->tsecr - t->rtx_tsval) >= 0;
	for (uint32_t i = 0; i < t->rack.n; i++) {
		const struct rack_seg *r = rs_at(t, i);
		uint32_t ts = (uint32_t)(rs_xmit_us(stk, r) / 1000) + t->ts_off;

		if (!seq_lt(r->start, seg->ack))
			break;
		if ((r->flags & RS_RXT) && (int32_t)(seg->tsecr - ts) < 0)
			return 0;
	}
	return 1;
}

/*
 * TCP_INFO's lost and retrans in RACK's terms (Linux lost_out and
 * retrans_out, in bytes): marked lost, retransmitted or not, until
 * delivered; retransmitted and not yet delivered.
 */
void tcp_rack_counts(const struct tcb *t, uint32_t *lost, uint32_t *rxt)
{
	*lost = t->rack.lost_bytes;
	*rxt = 0;
	for (uint32_t i = 0; i < t->rack.n; i++) {
		const struct rack_seg *r = rs_at(t, i);

		if ((r->flags & (RS_RXT | RS_SACKED)) == RS_RXT) {
			*lost += r->end - r->start;
			*rxt += r->end - r->start;
		}
	}
}
