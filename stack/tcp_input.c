/*
 * tcp_input.c - TCP segment arrival (RFC 9293 3.10.7).
 *
 * tcp_input() validates and parses a segment once into struct tcp_seg_in,
 * finds its owner (TCB or tcp_req by 4-tuple, else a listener by port) and
 * dispatches: LISTEN and half-open segments to tcp_listen.c, SYN-SENT and
 * TIME-WAIT to their own functions here, every synchronized state to
 * tcp_input_synced(), which runs the RFC's SEGMENT ARRIVES steps in order,
 * one static function per step. Input only marks: replies are emitted by
 * tcp_output_flush() (exception: stateless RSTs and SYN-ACKs of
 * mini-sockets). Every drop counts a reason. A segment for no socket whose
 * port another process's stack picks is offered to cfg.on_misdirected
 * (hand-off to that process) before the RST reply.
 */
#include "stack_priv.h"

/* Apply a valid RTT sample source of this ACK (RFC 7323 4.1, RFC 6298 3). */
static void tcp_ack_rtt(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	if ((t->flags & TF_TS) && seg->has_ts && seg->tsecr) {
		if (!tcp_rtt_echo_ok(stk, t, seg))
			return; /* it echoes an earlier transmission (tcp_rack.c) */
		uint32_t now_ts = tcp_tsval(stk, t->ts_off);
		uint32_t d = now_ts - seg->tsecr;

		if ((int32_t)d >= 0 && d < 3600 * 1000)
			tcp_rtt_sample(t, d ? d * 1000 : 500);
		return;
	}
	if ((t->flags & TF_RTT) && seq_geq(seg->ack, t->rtt_seq)) {
		t->flags &= ~TF_RTT;
		tcp_rtt_sample(t, (uint32_t)(stk->now_us - t->rtt_start_us));
	}
}

/* Drop scoreboard blocks at or below snd_una; merge new SACK blocks (RFC 2018). */
static void tcp_sack_update(struct tcb *t, const struct tcp_seg_in *seg)
{
	for (unsigned k = 0; k < seg->nsack; k++) {
		struct seq_range b = seg->sack[k];

		if (!seq_lt(b.start, b.end) || !seq_gt(b.end, t->snd_una) ||
		    seq_gt(b.end, t->snd_max) || b.end - b.start > t->smask + 1)
			continue; /* invalid, old or D-SACK below snd_una */
		if (seq_lt(b.start, t->snd_una))
			b.start = t->snd_una;
		unsigned i = 0, n = t->n_sacked;

		while (i < n && seq_lt(t->sacked[i].end, b.start))
			i++;
		if (i == n || seq_lt(b.end, t->sacked[i].start)) {
			if (n == TCP_SACK_SB)
				continue; /* scoreboard full: ignore (only a hint) */
			memmove(&t->sacked[i + 1], &t->sacked[i], (n - i) * sizeof(b));
			t->sacked[i] = b;
			t->n_sacked++;
			continue;
		}
		t->sacked[i].start = seq_min(t->sacked[i].start, b.start);
		t->sacked[i].end = seq_max(t->sacked[i].end, b.end);
		unsigned j = i + 1;

		while (j < n && seq_leq(t->sacked[j].start, t->sacked[i].end)) {
			t->sacked[i].end = seq_max(t->sacked[i].end, t->sacked[j].end);
			j++;
		}
		if (j > i + 1) {
			memmove(&t->sacked[i + 1], &t->sacked[j], (n - j) * sizeof(b));
			t->n_sacked = (uint8_t)(n - (j - i - 1));
		}
	}
	/* trim below snd_una */
	unsigned k = 0;

	while (k < t->n_sacked && seq_leq(t->sacked[k].end, t->snd_una))
		k++;
	if (k) {
		memmove(&t->sacked[0], &t->sacked[k], (t->n_sacked - k) * sizeof(t->sacked[0]));
		t->n_sacked = (uint8_t)(t->n_sacked - k);
	}
	if (t->n_sacked && seq_lt(t->sacked[0].start, t->snd_una))
		t->sacked[0].start = t->snd_una;
	uint32_t sum = 0;

	for (k = 0; k < t->n_sacked; k++)
		sum += t->sacked[k].end - t->sacked[k].start;
	t->sacked_bytes = sum;
}

/*
 * RFC 5681 3.2 / RFC 6675 5: enter fast recovery; cwnd then follows RFC 6937
 * (PRR) from this ACK's delivered bytes on, the fast retransmit always let out.
 */
void tcp_enter_recovery(struct stack *stk, struct tcb *t, uint32_t delivered)
{
	t->ssthresh = tcp_cc_ssthresh(stk, t);
	if (t->flags & TF_ECN)
		t->flags |= TF_ECN_CWR; /* any reduction ends the peer's echo (Linux) */
	if (t->probe_size && seq_lt(t->snd_una, t->probe_end))
		pmtu_probe_lost(t);
	t->recover = t->snd_max;
	t->rtx_nxt = t->snd_una;
	t->flags |= TF_RECOVERY;
	t->flags &= ~TF_RTT; /* Karn */
	tcp_prr_init(t);
	tcp_prr_ack(t, delivered, 1);
	t->tlp.out = 0;
	if (t->flags & TF_TLP) { /* the RTO, not a probe, guards the recovery */
		t->flags &= ~TF_TLP;
		t->t_rtx = stk->now_us + t->rto_us;
	}
	tcb_mark(stk, t, PEND_DATA);
}

static void tcp_fin_acked(struct stack *stk, struct tcb *t)
{
	switch (t->state) {
	case TCPS_FIN_WAIT_1:
		tcp_set_state(stk, t, TCPS_FIN_WAIT_2);
		if (t->flags & TF_ORPHAN) /* Linux: tcp_fin_timeout for orphans */
			t->t_misc = stk->now_us + TCP_FIN_TIMEOUT_US;
		break;
	case TCPS_CLOSING:
		tcp_set_state(stk, t, TCPS_TIME_WAIT);
		break;
	case TCPS_LAST_ACK:
		tcb_done(stk, t, 0);
		break;
	default:
		break;
	}
}

/*
 * RFC 3168 6.1.2: ECE is congestion: reduce cwnd as for a loss, but without
 * retransmitting, at most once per window of data (Linux tcp_enter_cwr()),
 * and tell the receiver with CWR. Recovery or RTO already reduced.
 */
static void tcp_ecn_echo_rcvd(struct stack *stk, struct tcb *t, uint32_t ack)
{
	if (t->flags & (TF_RECOVERY | TF_LOSS))
		return;
	if ((t->flags & TF_CWR) && seq_leq(ack, t->cwr_high))
		return; /* this window was reduced already */
	t->ssthresh = tcp_cc_ssthresh(stk, t);
	t->cwnd = XT_MAX(t->ssthresh, (uint32_t)t->smss);
	t->cwr_high = t->snd_max;
	t->flags |= TF_CWR | TF_ECN_CWR;
	stk->st.ecn_cwnd_reductions++;
}

/* RFC 6937 DeliveredData: the change in snd_una plus the change in SACKed bytes. */
static uint32_t tcp_delivered(const struct tcb *t, uint32_t una0, uint32_t sacked0)
{
	int64_t d = (int64_t)(t->snd_una - una0) + (int64_t)t->sacked_bytes - (int64_t)sacked0;

	return d > 0 ? (uint32_t)d : 0;
}

/*
 * RACK (tcp_rack.c) marked segments lost: recover them under PRR (RFC 8985
 * 6.2: RACK, not the duplicate-ACK count, starts fast recovery). After an
 * RTO go-back-N resends them anyway.
 */
static void tcp_rack_recover(struct stack *stk, struct tcb *t, uint32_t delivered)
{
	if (!t->rack.lost_bytes || (t->flags & TF_LOSS))
		return;
	if (t->flags & TF_RECOVERY)
		tcb_mark(stk, t, PEND_DATA);
	else
		tcp_enter_recovery(stk, t, delivered);
}

/*
 * Step 5 core: process an acceptable ACK (RFC 9293 3.10.7.4 fifth, RFC 5681,
 * RFC 6582, RFC 6675, RFC 8985). Returns -1 when the TCB was released.
 */
static int tcp_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	uint32_t ack = seg->ack;
	uint32_t wnd = seg->wnd << t->snd_ws;
	uint32_t una0 = t->snd_una, sacked0 = t->sacked_bytes;
	uint32_t fack0 = t->n_sacked ? t->sacked[t->n_sacked - 1].end : una0;
	struct seq_range sb0[TCP_SACK_SB]; /* the scoreboard before, for RACK */
	unsigned nsb0 = seg->nsack && t->rack.seg ? t->n_sacked : 0;

	memcpy(sb0, t->sacked, nsb0 * sizeof(sb0[0]));

	/* window update (RFC 9293: SND.WL1 < SEG.SEQ or (= and SND.WL2 =< SEG.ACK)) */
	if (seq_lt(t->snd_wl1, seg->seq) || (t->snd_wl1 == seg->seq && seq_leq(t->snd_wl2, ack))) {
		int opened = wnd > t->snd_wnd;

		t->snd_wnd = wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = ack;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
		if (opened) {
			if ((t->flags & TF_PERSIST) && wnd) {
				t->flags &= ~TF_PERSIST;
				t->t_rtx = 0;
				t->retries = 0;
			}
			tcb_mark(stk, t, PEND_DATA);
		}
	}
	if (t->flags & TF_PERSIST)
		t->retries = 0; /* the peer answers probes: it is alive (Linux probes_out = 0) */

	if ((t->flags & TF_ECN) && (seg->flags & TH_ECE))
		tcp_ecn_echo_rcvd(stk, t, ack);
	if (seq_gt(ack, t->snd_una)) {
		uint32_t acked = ack - t->snd_una;
		int fin_acked = (t->flags & TF_FIN_SENT) && seq_gt(ack, t->snd_end);

		tcp_ack_rtt(stk, t, seg);
		tcp_info_acked(stk, t, acked);
		t->snd_una = ack;
		if (t->probe_size)
			pmtu_probe_acked(stk, t, ack); /* RFC 4821 probe (pmtu.c) */
		if (seq_lt(t->snd_nxt, ack))
			t->snd_nxt = ack;
		if ((t->flags & TF_SND_URG) && seq_geq(ack, t->snd_up))
			t->flags &= ~TF_SND_URG; /* urgent byte delivered: urgent mode ends */
		if (t->flags & TF_SACK)
			tcp_sack_update(t, seg);
		if (t->rtx_out && seq_geq(ack, t->rtx_high))
			t->rtx_out = 0; /* every retransmission is ACKed */
		tcp_rack_ack(stk, t, seg, una0, fack0, sb0, nsb0);
		t->retries = 0;
		t->keep_probes = 0;
		t->soft_err = 0;  /* Linux tcp_ack(): data got through, forget ICMP errors */
		tcp_rto_reset(t); /* new data ACKed: drop the backoff (Linux icsk_backoff = 0) */
		if (t->flags & TF_RECOVERY) {
			if (seq_geq(ack, t->recover)) {
				t->flags &= ~TF_RECOVERY; /* full ACK: RFC 6582 3.2 step 3 */
				t->cwnd = XT_MAX(t->ssthresh, (uint32_t)t->smss);
				tcp_rack_recovered(t);
			} else {
				/* partial ACK (RFC 6582 3.2 step 4): retransmit from here */
				if (!(t->flags & TF_SACK) || seq_lt(t->rtx_nxt, ack))
					t->rtx_nxt = ack;
				tcp_prr_ack(t, tcp_delivered(t, una0, sacked0), 0);
			}
		} else {
			if ((t->flags & TF_LOSS) && seq_geq(ack, t->recover))
				t->flags &= ~TF_LOSS;
			if ((t->flags & TF_CWR) && seq_gt(ack, t->cwr_high))
				t->flags &= ~TF_CWR;
			/* RFC 3168 6.1.2: no growth in the window reduced for an ECE */
			if (!(t->flags & TF_CWR))
				tcp_cc_ack(stk, t, acked);
		}
		t->dupacks = 0;
		t->flags &= ~TF_TLP;
		if (t->snd_una == t->snd_max) {
			if (!(t->flags & TF_PERSIST))
				t->t_rtx = 0;
		} else {
			t->flags &= ~TF_PERSIST;
			t->t_rtx = stk->now_us + t->rto_us;
		}
		if (tcp_tlp_ack(stk, t, seg)) /* RACK: holes below the delivered probe */
			tcp_enter_recovery(stk, t, tcp_delivered(t, una0, sacked0));
		else
			tcp_rack_recover(stk, t, tcp_delivered(t, una0, sacked0));
		tcp_tlp_arm(stk, t);
		tcb_mark(stk, t, PEND_DATA);
		tcb_notify(stk, t); /* send space freed */
		if (fin_acked) {
			tcp_fin_acked(stk, t);
			if (!t->in_use || t->state == TCPS_CLOSED)
				return -1;
		}
		return 0;
	}
	if (t->flags & TF_SACK)
		tcp_sack_update(t, seg);
	tcp_rack_ack(stk, t, seg, una0, fack0, sb0, nsb0);
	if (tcp_tlp_ack(stk, t, seg)) { /* RACK: the holes below the delivered probe are lost */
		tcp_enter_recovery(stk, t, tcp_delivered(t, una0, sacked0));
		return 0;
	}
	if (t->rack.lost_bytes && !(t->flags & TF_LOSS)) {
		int entering = !(t->flags & TF_RECOVERY);

		tcp_rack_recover(stk, t, tcp_delivered(t, una0, sacked0));
		if (entering)
			return 0;
	}
	/* duplicate ACK (RFC 5681 2): no data, window unchanged, data outstanding */
	if (ack == t->snd_una && seg->len == 0 && !(seg->flags & (TH_SYN | TH_FIN)) &&
	    t->snd_max != t->snd_una && wnd == t->snd_wnd) {
		/* without SACK a duplicate ACK stands for one segment delivered */
		uint32_t delivered =
			(t->flags & TF_SACK) ? tcp_delivered(t, una0, sacked0) : t->smss;

		t->dupacks = (uint8_t)XT_MIN(t->dupacks + 1, 250);
		if (t->flags & TF_RECOVERY) {
			tcp_prr_ack(t, delivered, 0);
			tcb_mark(stk, t, PEND_DATA); /* pipe shrank: maybe send */
		} else if (!t->rack.seg &&
			   (t->dupacks >= 3 ||
			    ((t->flags & TF_SACK) && t->sacked_bytes >= 3u * t->smss)) &&
			   !(t->flags & TF_LOSS) && seq_geq(ack, t->recover)) {
			tcp_enter_recovery(stk, t, delivered);
		} else if (t->dupacks <= 2) {
			tcb_mark(stk, t, PEND_DATA); /* RFC 3042 limited transmit */
		}
	}
	return 0;
}

/*
 * RFC 2883: remember duplicate data [start, end) for the first SACK block of
 * the next segment we send (Linux tcp_dsack_set(): the latest one wins).
 */
static void tcp_dsack_set(struct tcb *t, uint32_t start, uint32_t end)
{
	if (!(t->flags & TF_SACK) || !seq_lt(start, end))
		return;
	t->dsack.start = start;
	t->dsack.end = end;
	t->dsack_on = 1;
}

/* Data of seg below RCV.NXT is a duplicate (Linux tcp_send_dupack(), tcp_data_queue()). */
static void tcp_dsack_below(struct tcb *t, const struct tcp_seg_in *seg)
{
	uint32_t start = seg->seq + !!(seg->flags & TH_SYN);

	if (seg->len && seq_lt(start, t->rcv_nxt))
		tcp_dsack_set(t, start, seq_min(start + seg->len, t->rcv_nxt));
}

/*
 * Data of seg that out-of-order blocks already hold is a duplicate too: the
 * overlap with the first such block (Linux tcp_data_queue_ofo(),
 * tcp_ofo_queue()). RFC 2883 4: the block holding it then follows the
 * D-SACK, as ooo_insert() makes it the most recent one.
 */
static void tcp_dsack_ooo(struct tcb *t, const struct tcp_seg_in *seg)
{
	uint32_t end = seg->seq + seg->len;

	for (unsigned i = 0; i < t->n_ooo; i++) {
		if (seq_lt(t->ooo[i].start, end) && seq_lt(seg->seq, t->ooo[i].end)) {
			tcp_dsack_set(t, seq_max(seg->seq, t->ooo[i].start),
				      seq_min(end, t->ooo[i].end));
			return;
		}
	}
}

/*
 * An unacceptable segment (PAWS or sequence): a SYN gets a challenge ACK
 * (RFC 5961 4.2, Linux syn_challenge), a RST nothing, anything else the ACK
 * of RFC 9293 3.10.7.4, both rate-limited per connection as in Linux.
 */
static int step1_reject(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg,
			unsigned reason)
{
	if (seg->flags & TH_SYN) {
		tcp_send_challenge_ack(stk, t);
		reason = DROP_TCP_SYN;
	} else if (!(seg->flags & TH_RST)) {
		tcp_dsack_below(t, seg);
		tcp_send_oow_ack(stk, t, seg);
	}
	stack_drop(stk, reason);
	return -1;
}

/* Step 1: sequence number check, with PAWS first (RFC 7323 5.3). */
static int step1_seq(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	if ((t->flags & TF_TS) && seg->has_ts && !(seg->flags & TH_RST) &&
	    (int32_t)(seg->tsval - t->ts_recent) < 0) {
		if (stk->now_us - t->ts_recent_us <= TCP_PAWS_24DAYS_US)
			return step1_reject(stk, t, seg, DROP_TCP_PAWS);
		t->ts_recent = seg->tsval; /* idle > 24 days: ts_recent is invalid */
	}
	uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t seglen = seg->len + !!(seg->flags & TH_SYN) + !!(seg->flags & TH_FIN);

	/* Linux tcp_sequence(): not wholly before RCV.NXT, not after the window */
	if (seq_lt(seg->seq + seglen, t->rcv_nxt) || seq_gt(seg->seq, t->rcv_nxt + wnd))
		return step1_reject(stk, t, seg, DROP_TCP_SEQ);
	/* a retransmission wholly below RCV.NXT: re-ACK at once */
	if (seglen && seq_leq(seg->seq + seglen, t->rcv_nxt) && !(seg->flags & TH_RST))
		tcb_mark(stk, t, PEND_ACK);
	if (!(seg->flags & TH_RST))
		tcp_dsack_below(t, seg);
	/* RFC 7323 4.3: update TS.Recent if SEG.SEQ =< Last.ACK.sent */
	if ((t->flags & TF_TS) && seg->has_ts && seq_leq(seg->seq, t->last_ack_sent) &&
	    (int32_t)(seg->tsval - t->ts_recent) >= 0) {
		t->ts_recent = seg->tsval;
		t->ts_recent_us = stk->now_us;
	}
	/* trim to the window: drop what is before RCV.NXT and beyond the window */
	if (seg->flags & TH_SYN) {
		if (seq_lt(seg->seq, t->rcv_nxt)) {
			seg->flags &= (uint8_t)~TH_SYN;
			seg->seq++;
		}
	}
	if (seq_lt(seg->seq, t->rcv_nxt)) {
		uint32_t d = XT_MIN(t->rcv_nxt - seg->seq, seg->len);

		seg->data += d;
		seg->len -= d;
		seg->seq += d;
		if (seq_lt(seg->seq, t->rcv_nxt)) { /* only an old FIN remains */
			seg->flags &= (uint8_t)~TH_FIN;
			seg->seq = t->rcv_nxt;
		}
	}
	if (seg->len && seq_gt(seg->seq + seg->len, t->rcv_nxt + wnd)) {
		uint32_t keep =
			seq_gt(t->rcv_nxt + wnd, seg->seq) ? t->rcv_nxt + wnd - seg->seq : 0;

		seg->len = keep;
		seg->flags &= (uint8_t)~TH_FIN; /* the FIN lies beyond the window */
		tcb_mark(stk, t, PEND_ACK);
	}
	return 0;
}

/* Step 2: RST (RFC 5961 3.2: exact match resets, in-window gets a challenge ACK). */
static int step2_rst(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg, uint32_t seq0)
{
	if (!(seg->flags & TH_RST))
		return 0;
	if (seq0 != t->rcv_nxt) {
		tcp_send_challenge_ack(stk, t);
		stack_drop(stk, DROP_TCP_RST);
		return -1;
	}
	int err;

	switch (t->state) {
	case TCPS_SYN_RECEIVED:
		err = ECONNREFUSED;
		break;
	case TCPS_CLOSE_WAIT:
		err = EPIPE; /* Linux tcp_reset() */
		break;
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
	case TCPS_TIME_WAIT:
		err = 0;
		break;
	default:
		err = ECONNRESET;
		break;
	}
	if (t->state == TCPS_ESTABLISHED || t->state == TCPS_CLOSE_WAIT)
		stk->st.estab_resets++;
	tcb_done(stk, t, err);
	stack_drop(stk, DROP_TCP_RST);
	return -1;
}

/* Step 5: the ACK field. */
static int step5_ack(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	if (!(seg->flags & TH_ACK)) {
		stack_drop(stk, DROP_TCP_ACK);
		return -1;
	}
	if (t->state == TCPS_SYN_RECEIVED) {
		if (!seq_between(seg->ack, t->snd_una + 1, t->snd_max)) {
			tcp_send_rst_reply(stk, seg);
			stack_drop(stk, DROP_TCP_ACK);
			return -1;
		}
		t->snd_una = seg->ack;
		t->snd_wnd = seg->wnd << t->snd_ws;
		t->max_snd_wnd = t->snd_wnd;
		t->snd_wl1 = seg->seq;
		t->snd_wl2 = seg->ack;
		t->t_rtx = 0;
		t->retries = 0;
		tcp_ack_rtt(stk, t, seg);
		tcp_set_state(stk, t, TCPS_ESTABLISHED);
		if (t->flags & TF_KEEPALIVE)
			t->t_keep = stk->now_us + (uint64_t)t->keepidle_s * 1000000;
		if (t->tfo_child) { /* data sent in SYN-RECEIVED: some may be unacknowledged */
			if (seq_gt(seg->ack, t->iss + 1))
				tcp_info_acked(stk, t, seg->ack - t->iss - 1);
			if (t->snd_una != t->snd_max)
				t->t_rtx = stk->now_us + t->rto_us;
			tcb_mark(stk, t, PEND_DATA);
		}
		return 0;
	}
	/* RFC 5961 5.2: acceptable range SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT */
	if (seq_gt(seg->ack, t->snd_max)) {
		tcb_mark(stk, t, PEND_ACK);
		stack_drop(stk, DROP_TCP_ACK);
		return -1;
	}
	if (seq_lt(seg->ack, t->snd_una - XT_MAX(t->max_snd_wnd, 65535u))) {
		tcp_send_challenge_ack(stk, t);
		stack_drop(stk, DROP_TCP_ACK);
		return -1;
	}
	return tcp_ack(stk, t, seg);
}

/*
 * RFC 3168 6.1.3, as Linux's tcp_ecn_accept_cwr() and tcp_ecn_check_ce():
 * CWR ends the echo; a CE mark on data starts it (ECE on every segment until
 * the peer's CWR). Both are ACKed at once: the sender's cwnd may be small.
 */
static void tcp_ecn_data_in(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	if (seg->flags & TH_CWR) {
		t->flags &= ~TF_ECN_ECHO;
		tcb_mark(stk, t, PEND_ACK);
	}
	if (seg->ip_ecn == IP_ECN_CE) {
		stk->st.ecn_ce_rcvd++;
		if (!(t->flags & TF_ECN_ECHO)) {
			t->flags |= TF_ECN_ECHO;
			tcb_mark(stk, t, PEND_ACK);
		}
	}
}

/* Step 6: the URG bit (RFC 9293 3.10.7.4 sixth; Linux semantics in tcp_urg.c). */
static void step6_urg(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg, uint32_t seq0)
{
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_FIN_WAIT_1:
	case TCPS_FIN_WAIT_2:
		if ((seg->flags & TH_URG) || t->urg_data == URG_NOTYET)
			tcp_urg_input(stk, t, seg, seq0);
		break;
	default:
		break; /* after the peer's FIN: ignore (RFC 9293) */
	}
}

/* Step 7: segment text. */
static int step7_data(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	if (!seg->len)
		return 0;
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_FIN_WAIT_1:
	case TCPS_FIN_WAIT_2:
		break;
	default:
		return 0; /* after the peer's FIN: ignore */
	}
	if (t->flags & TF_ECN)
		tcp_ecn_data_in(stk, t, seg);
	if ((t->shut & SHUT_RCV) && t->state != TCPS_ESTABLISHED) {
		/* RFC 1122 4.2.2.13 / Linux: data for a closed reader resets */
		tcp_send_ctl(stk, t, TH_RST | TH_ACK, t->snd_max);
		tcb_done(stk, t, ECONNRESET);
		return -1;
	}
	if (!t->rbuf)
		return 0;
	uint32_t base = t->irs + 1;

	tcp_dsack_ooo(t, seg);
	ring_write(t->rbuf, t->rmask, seg->seq - base, seg->data, seg->len);
	if (seg->len > t->rcv_mss)
		t->rcv_mss = (uint16_t)XT_MIN(seg->len, 65535u);
	t->ti.lrcv_us = stk->now_us;
	if (seg->seq == t->rcv_nxt) {
		int had_ooo = t->n_ooo != 0;
		uint32_t nxt0 = t->rcv_nxt;

		t->rcv_nxt += seg->len;
		ooo_advance(t);
		t->ti.bytes_received += t->rcv_nxt - nxt0;
		tcp_info_rcv_rtt(stk, t, seg);
		t->rcv_unacked += seg->len;
		if (had_ooo) {
			tcb_mark(stk, t, PEND_ACK);
		} else if (t->quickack) {
			t->quickack--;
			/* a request's answer written soon after carries the ACK */
			if (t->flags & TF_ORPHAN) {
				tcb_mark(stk, t, PEND_ACK);
			} else {
				if (!(t->pend & PEND_ACK_SOON))
					t->ack_hold_end = (uint32_t)stk->now_us + TCP_ACK_HOLD_US;
				tcb_mark(stk, t, PEND_ACK_SOON);
			}
		} else if (t->rcv_unacked >= 2u * XT_MAX(t->rcv_mss, (uint16_t)536)) {
			tcb_mark(stk, t, PEND_ACK); /* RFC 9293 3.8.6.3: every 2nd full segment */
		} else if (!t->t_delack) {
			t->t_delack = stk->now_us + TCP_DELACK_US;
		}
		tcb_notify(stk, t);
	} else {
		t->ti.rcv_ooopack++;
		if (ooo_insert(t, seg->seq, seg->seq + seg->len) != 0)
			stack_drop(stk, DROP_TCP_OOO_FULL);
		tcb_mark(stk, t, PEND_ACK); /* RFC 5681 4.2: out of order: ACK at once */
	}
	return 0;
}

/* Step 8: FIN (also a FIN that arrived out of order and is now reached). */
static void step8_fin(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	if (seg->flags & TH_FIN) {
		uint32_t fseq = seg->seq + seg->len;

		if (!(t->flags & TF_FIN_RCVD)) {
			t->flags |= TF_FIN_RCVD;
			t->fin_seq = fseq;
		}
	}
	if (!(t->flags & TF_FIN_RCVD) || t->rcv_nxt != t->fin_seq) {
		if ((seg->flags & TH_FIN) && t->rcv_nxt == t->fin_seq + 1)
			tcb_mark(stk, t, PEND_ACK); /* retransmitted FIN */
		return;
	}
	t->rcv_nxt = t->fin_seq + 1;
	t->shut |= SHUT_RCV;
	t->flags |= TF_SOCK_DONE;
	tcb_mark(stk, t, PEND_ACK);
	switch (t->state) {
	case TCPS_SYN_RECEIVED:
	case TCPS_ESTABLISHED:
		tcp_set_state(stk, t, TCPS_CLOSE_WAIT);
		break;
	case TCPS_FIN_WAIT_1:
		tcp_set_state(stk, t, TCPS_CLOSING);
		break;
	case TCPS_FIN_WAIT_2:
		t->t_misc = 0;
		tcp_set_state(stk, t, TCPS_TIME_WAIT);
		break;
	default:
		break;
	}
	tcb_notify(stk, t);
}

/* SEGMENT ARRIVES, synchronized states (RFC 9293 3.10.7.4). */
void tcp_input_synced(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	uint32_t seq0 = seg->seq;
	uint8_t flags0 = seg->flags;

	t->last_rx_us = stk->now_us;
	t->ti.segs_in++;
	if (seg->len)
		t->ti.data_segs_in++;
	if (step1_seq(stk, t, seg))
		return;
	if (step2_rst(stk, t, seg, seq0))
		return;
	/* Step 4: SYN in a synchronized state: challenge ACK (RFC 5961 4.2) */
	if (flags0 & TH_SYN) {
		tcp_send_challenge_ack(stk, t);
		stack_drop(stk, DROP_TCP_SYN);
		return;
	}
	if (step5_ack(stk, t, seg))
		return;
	step6_urg(stk, t, seg, seq0);
	if (step7_data(stk, t, seg))
		return;
	step8_fin(stk, t, seg);
}

/* SYN-SENT (RFC 9293 3.10.7.3). */
static void tcp_synsent_input(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	if (seg->flags & TH_ACK) {
		if (seq_leq(seg->ack, t->iss) || seq_gt(seg->ack, t->snd_max)) {
			if (!(seg->flags & TH_RST))
				tcp_send_rst_reply(stk, seg);
			stack_drop(stk, DROP_TCP_ACK);
			return;
		}
	}
	if (seg->flags & TH_RST) {
		if (seg->flags & TH_ACK) {
			stk->st.attempt_fails++;
			tcb_done(stk, t, ECONNREFUSED);
		}
		stack_drop(stk, DROP_TCP_RST);
		return;
	}
	if (!(seg->flags & TH_SYN)) {
		stack_drop(stk, DROP_TCP_FLAGS);
		return;
	}
	t->irs = seg->seq;
	t->rcv_nxt = seg->seq + 1;
	t->rcv_user = t->rcv_nxt;
	t->last_ack_sent = t->rcv_nxt;
	t->flags &= ~(TF_TS | TF_SACK | TF_WS);
	stk_mask_options(stk, seg);
	if (seg->has_ts) {
		t->flags |= TF_TS;
		t->ts_recent = seg->tsval;
		t->ts_recent_us = stk->now_us;
	}
	if (seg->sack_ok)
		t->flags |= TF_SACK;
	if (seg->has_ws) {
		t->flags |= TF_WS;
		t->snd_ws = seg->ws;
	} else {
		t->snd_ws = 0;
		t->rcv_ws = 0; /* RFC 7323 2.2: scaling only when both sides offer it */
	}
	tcb_set_mss(stk, t, seg->has_mss ? seg->mss : 0);
	tcp_cc_init(stk, t);
	t->snd_wnd = seg->wnd; /* RFC 7323 2.2: the window of a SYN is never scaled */
	t->max_snd_wnd = t->snd_wnd;
	t->snd_wl1 = seg->seq;
	t->rcv_adv = t->rcv_nxt + XT_MIN(t->rmask + 1, 65535u); /* what our SYN offered */
	t->last_rx_us = stk->now_us;
	t->retries = 0;
	if (seg->flags & TH_ACK) {
		t->snd_wl2 = seg->ack;
		tcp_ack_rtt(stk, t, seg);
		t->snd_una = seg->ack;
		t->t_rtx = 0;
		tcp_set_state(stk, t, TCPS_ESTABLISHED);
		if (t->flags & TF_KEEPALIVE)
			t->t_keep = stk->now_us + (uint64_t)t->keepidle_s * 1000000;
		tcb_mark(stk, t, PEND_ACK | PEND_DATA);
		seg->seq++;
		seg->flags &= (uint8_t)~TH_SYN;
		if (seg->len || (seg->flags & TH_FIN)) {
			if (step7_data(stk, t, seg) == 0)
				step8_fin(stk, t, seg);
		}
		return;
	}
	/* simultaneous open: SYN-RECEIVED, SYN-ACK with our ISS */
	t->flags &= ~TF_RTT;
	tcp_set_state(stk, t, TCPS_SYN_RECEIVED);
	t->snd_nxt = t->iss;
	tcb_mark(stk, t, PEND_SYN);
}

/*
 * TIME-WAIT (Linux tcp_timewait_state_process()). Returns 1 when the
 * segment is a new SYN that may reopen the tuple (RFC 6191): the TCB is gone
 * and the caller passes the SYN to the listener.
 */
int tcp_timewait_input(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg)
{
	int paws_reject =
		(t->flags & TF_TS) && seg->has_ts && (int32_t)(seg->tsval - t->ts_recent) < 0;

	if (!paws_reject && seg->seq == t->rcv_nxt && (seg->len == 0 || (seg->flags & TH_RST)) &&
	    !(seg->flags & (TH_SYN | TH_FIN))) {
		if (seg->flags & TH_RST) {
			stack_drop(stk, DROP_TCP_RST);
			if (t->flags & TF_ORPHAN)
				tcb_release(stk, t);
			else
				tcb_done(stk, t, 0);
			return 0;
		}
		return 0; /* bare ACK */
	}
	if ((seg->flags & (TH_SYN | TH_RST | TH_ACK)) == TH_SYN && !paws_reject &&
	    (seq_gt(seg->seq, t->rcv_nxt) ||
	     (seg->has_ts && (t->flags & TF_TS) && (int32_t)(t->ts_recent - seg->tsval) < 0))) {
		seg->tw_isn = t->snd_max + 65535 + 2;
		if (!seg->tw_isn)
			seg->tw_isn = 1;
		if (t->flags & TF_ORPHAN)
			tcb_release(stk, t);
		else
			tcb_done(stk, t, 0);
		return 1;
	}
	if (!(seg->flags & TH_RST)) {
		if (paws_reject || (seg->flags & TH_ACK)) {
			list_del(&t->q_node); /* restart 2 MSL: back to the FIFO tail */
			t->tw_until = stk->now_us + TCP_TIMEWAIT_US;
			list_add_tail(&stk->timewait, &t->q_node);
		}
		tcp_send_oow_ack(stk, t, seg); /* Linux tcp_timewait_check_oow_rate_limit() */
	}
	stack_drop(stk, DROP_TCP_STATE);
	return 0;
}

/*
 * No socket here: is the destination a local port another stack picks (same
 * range, other remainder)? Then offer the whole frame to its owner
 * (cfg.on_misdirected). frame is the Ethernet header eth_input() parsed;
 * the length passed excludes any Ethernet padding.
 */
static int tcp_misdirected(struct stack *stk, const uint8_t *frame, const uint8_t *tcp,
			   uint32_t len, uint16_t dport)
{
	uint32_t lo = stk->cfg.local_port_min, hi = stk->cfg.local_port_max;
	uint32_t step = stk->cfg.local_port_step;

	if (step <= 1)
		return 0;
	if (dport < lo || dport > hi || dport % step == stk->cfg.local_port_rem)
		return 0;
	if (!stk->cfg.on_misdirected(stk->cfg.misdirected_ctx, frame, (uint32_t)(tcp + len - frame),
				     dport))
		return 0;
	stack_drop(stk, DROP_TCP_HANDED_OFF);
	return 1;
}

/*
 * A segment may come from a kernel on this host: on a veth, a segment the
 * sender left CHECKSUM_PARTIAL arrives with only the folded pseudo-header
 * sum in its checksum field (Linux __tcp_v4_send_check()), as nothing on the
 * way finishes it. Accepted only where the link says every frame comes from
 * this host (netdev_info); the reasoning is in docs/design-notes.md,
 * "Checksums". Tried before the full sum: on such a link most segments are
 * partial, and the set accepted (valid or partial) does not depend on the order.
 */
static int tcp_csum_partial_ok(struct stack *stk, const struct tcp_hdr *th, uint64_t ph)
{
	if (!stk->rx_csum_trust || th->csum != csum_fold(ph))
		return 0;
	stk->st.rx_csum_partial++;
	return 1;
}

/*
 * The listener for a segment to daddr:dport: the port's listener of the
 * segment's family (a dual-stack one holds both slots), if bound to any
 * address or to daddr itself.
 */
static struct tcb *tcp_listener(struct stack *stk, const struct in6_addr *daddr, uint16_t dport)
{
	int32_t lsd = addr_is_v4(daddr) ? stk->listen_sd[dport] : stk->listen6_sd[dport];

	if (!lsd)
		return NULL;
	struct tcb *l = &stk->tcbs[lsd - 1];

	if (!addr_is_any(&l->h.laddr) && !addr_eq(&l->h.laddr, daddr))
		return NULL;
	return l;
}

void tcp_input(struct stack *stk, const uint8_t *frame, const struct in6_addr *saddr,
	       const struct in6_addr *daddr, uint8_t ecn, uint8_t *tcp, uint32_t len)
{
	const struct tcp_hdr *th = (const struct tcp_hdr *)tcp;
	struct tcp_seg_in seg;

	if (len < TCP_HLEN) {
		stack_drop(stk, DROP_TCP_SHORT);
		return;
	}
	uint32_t doff = (uint32_t)(th->doff_res >> 4) * 4u;

	if (doff < TCP_HLEN || doff > len) {
		stack_drop(stk, DROP_TCP_HDR_LEN);
		return;
	}
	/* RFC 8200 8.1: IPv6's upper-layer length is 32 bits, but a segment here is < 64 KiB */
	uint64_t ph =
		addr_csum(saddr) + addr_csum(daddr) + be16(IPPROTO_TCP_NR) + be16((uint16_t)len);

	if (!tcp_csum_partial_ok(stk, th, ph) && csum_fold(csum_partial(tcp, len, ph)) != 0xffff) {
		stack_drop(stk, DROP_TCP_CSUM);
		return;
	}
	memset(&seg, 0, offsetof(struct tcp_seg_in, sack));
	seg.tw_isn = 0;
	seg.saddr = *saddr;
	seg.daddr = *daddr;
	seg.sport = be16(th->sport);
	seg.dport = be16(th->dport);
	seg.seq = be32(th->seq);
	seg.ack = be32(th->ack);
	seg.wnd = be16(th->wnd);
	seg.flags = th->flags;
	seg.ip_ecn = ecn;
	seg.urp = be16(th->urp);
	seg.len = len - doff;
	seg.data = tcp + doff;
	seg.smac = frame + 6; /* the Ethernet source */
	if (doff > TCP_HLEN && tcp_opt_parse(&seg, tcp + TCP_HLEN, doff - TCP_HLEN) != 0)
		stk->st.malformed_opt_lists++; /* processed with the options before the bad one */
	if ((seg.flags & (TH_SYN | TH_FIN)) == (TH_SYN | TH_FIN) ||
	    (seg.flags & (TH_SYN | TH_RST)) == (TH_SYN | TH_RST) || seg.sport == 0 ||
	    seg.dport == 0) {
		stack_drop(stk, DROP_TCP_FLAGS);
		return;
	}
	struct tcp_hent *h = tcb_lookup(stk, &seg.daddr, seg.dport, &seg.saddr, seg.sport);

	if (h && h->is_req) {
		tcp_req_input(stk, (struct tcp_req *)h, &seg);
		return;
	}
	if (h) {
		struct tcb *t = (struct tcb *)h;

		/* Handed to another stack: its segments still in flight here are not ours. */
		if (t->flags & TF_FORGOTTEN) {
			stack_drop(stk, DROP_TCP_FORGOTTEN);
			return;
		}
		switch (t->state) {
		case TCPS_SYN_SENT:
			tcp_synsent_input(stk, t, &seg);
			if (t->in_use && t->state != TCPS_CLOSED)
				tcb_timer_update(stk, t);
			return;
		case TCPS_TIME_WAIT:
			if (!tcp_timewait_input(stk, t, &seg))
				return;
			break; /* a new SYN: to the listener */
		default:
			tcp_input_synced(stk, t, &seg);
			if (t->in_use && t->state != TCPS_CLOSED)
				tcb_timer_update(stk, t); /* input may have set timers */
			return;
		}
	}
	struct tcb *l = tcp_listener(stk, &seg.daddr, seg.dport);

	if (l) {
		if (!tcp_listen_input(stk, l, &seg))
			return;
		if (stk->cfg.on_unknown_flow &&
		    stk->cfg.on_unknown_flow(stk->cfg.misdirected_ctx, frame,
					     (uint32_t)(tcp + len - frame), &seg.saddr, seg.sport,
					     &seg.daddr, seg.dport)) {
			stack_drop(stk, DROP_TCP_HANDED_OFF);
			return;
		}
		tcp_send_rst_reply(stk, &seg);
		stack_drop(stk, DROP_TCP_COOKIE);
		return;
	}
	if (stk->cfg.on_misdirected && tcp_misdirected(stk, frame, tcp, len, seg.dport))
		return;
	if (!(seg.flags & TH_RST))
		tcp_send_rst_reply(stk, &seg);
	stack_drop(stk, DROP_TCP_NO_SOCKET);
}
