/*
 * tcp_timer.c - the per-TCB timers: retransmission (RFC 6298), SYN retry
 * and next-hop resolution retry, zero-window persist, delayed ACK,
 * keepalive, FIN-WAIT-2 timeout and the cork ceiling.
 *
 * All live in one wheel entry (tcb->tm) at the earliest of t_rtx, t_delack,
 * t_keep and t_misc; wheel.c calls tcp_timer_fire() when that slot comes,
 * which handles whatever is due and re-arms at the next deadline. Timers
 * only mark work (tcb_mark) or end the connection (tcb_done).
 */
#include "stack_priv.h"

/* RFC 6298 2.3 with Linux's floor: RTO = SRTT + max(4 * RTTVAR, RTO_MIN). */
void tcp_rto_reset(struct tcb *t)
{
	if (!t->srtt_us)
		return;
	uint64_t rto = (uint64_t)t->srtt_us + XT_MAX(4u * t->rttvar_us, TCP_RTO_MIN_US);

	t->rto_us = (uint32_t)XT_MIN(rto, (uint64_t)TCP_RTO_MAX_US);
}

void tcp_rtt_sample(struct tcb *t, uint32_t r)
{
	if (!r)
		r = 1;
	if (!t->ti.min_rtt_us || r < t->ti.min_rtt_us)
		t->ti.min_rtt_us = r;
	if (!t->srtt_us) {
		t->srtt_us = r; /* RFC 6298 2.2 */
		t->rttvar_us = r / 2;
	} else {
		uint32_t d = t->srtt_us > r ? t->srtt_us - r : r - t->srtt_us;

		t->rttvar_us = t->rttvar_us - t->rttvar_us / 4 + d / 4;
		t->srtt_us = t->srtt_us - t->srtt_us / 8 + r / 8;
		if (!t->srtt_us)
			t->srtt_us = 1;
	}
	tcp_rto_reset(t);
}

/*
 * The error a timed-out connection reports (Linux tcp_write_err()): the last
 * ICMP error it got, soft until now (RFC 1122 4.2.3.9), else ETIMEDOUT.
 */
static int tcp_timeout_err(const struct tcb *t)
{
	return t->soft_err ? t->soft_err : ETIMEDOUT;
}

static uint32_t tcp_backoff(struct tcb *t)
{
	uint64_t rto = (uint64_t)t->rto_us * 2;

	t->rto_us = (uint32_t)XT_MIN(rto, (uint64_t)TCP_RTO_MAX_US);
	return t->rto_us;
}

static void tcp_syn_timeout(struct stack *stk, struct tcb *t)
{
	if (t->flags & TF_RESOLVE) {
		int r = ip_resolve(stk, &t->h.raddr, t->dmac);

		if (r == 0) {
			t->flags &= ~TF_RESOLVE;
			t->retries = 0;
			tcb_mark(stk, t, PEND_SYN);
			return;
		}
		/* retry at 10, 20, 40 ... ms; give up after the SYN budget of time */
		if (r != -EAGAIN || stk->now_us - t->last_rx_us > 3000000) {
			stk->st.attempt_fails++;
			tcb_done(stk, t, r == -EAGAIN ? EHOSTUNREACH : -r);
			return;
		}
		t->resolve_us = XT_MIN(t->resolve_us * 2, 1000000u);
		t->t_rtx = stk->now_us + t->resolve_us;
		return;
	}
	if (++t->retries > TCP_SYN_RETRIES) {
		stk->st.attempt_fails++;
		tcb_done(stk, t, tcp_timeout_err(t));
		return;
	}
	tcp_backoff(t);
	tcb_mark(stk, t, PEND_SYN);
}

/* RTO expiry with data or FIN outstanding (RFC 6298 5.4-5.6, RFC 5681 3.1). */
static void tcp_rto_expire(struct stack *stk, struct tcb *t)
{
	unsigned limit = (t->flags & TF_ORPHAN) ? TCP_ORPHAN_RETRIES : TCP_RETRIES2;

	if (t->snd_una == t->snd_max)
		return;
	if (++t->retries > limit) {
		tcb_done(stk, t, tcp_timeout_err(t));
		return;
	}
	pmtu_rto_hint(stk, t); /* an ICMP that reached another process (pmtu.c) */
	pmtu_probe_lost(t);
	pmtu_blackhole(stk, t); /* RFC 4821 with STACK_F_MTU_PROBING (pmtu.c) */
	stk->st.timeouts++;
	if (!(t->flags & TF_LOSS))
		tcp_cc_rto(stk, t); /* ssthresh from the flight before the first RTO */
	t->cwnd = t->smss;	    /* loss window: one segment */
	t->flags &= ~(TF_RECOVERY | TF_RTT);
	t->flags |= TF_LOSS;
	t->tlp.out = 0; /* RFC 8985 7.4: an RTO ends the probe's episode */
	if (t->flags & TF_ECN)
		t->flags |= TF_ECN_CWR; /* Linux tcp_enter_loss(): ends the peer's echo too */
	t->recover = t->snd_max;
	t->n_sacked = 0; /* the receiver may have reneged (RFC 2018 8) */
	t->sacked_bytes = 0;
	tcp_rack_rto(t);
	t->dupacks = 0;
	t->snd_nxt = t->snd_una; /* go back N: retransmission re-reads from snd_una */
	tcp_backoff(t);
	tcb_mark(stk, t, PEND_DATA);
	t->t_rtx = stk->now_us + t->rto_us;
}

static void tcp_persist_expire(struct stack *stk, struct tcb *t)
{
	/* Linux tcp_probe_timer(): an orphan whose probes backed off to the
	 * maximum is given up even if the peer keeps answering with window 0 */
	if (++t->retries > TCP_RETRIES2 ||
	    ((t->flags & TF_ORPHAN) && t->rto_us >= TCP_RTO_MAX_US)) {
		tcb_done(stk, t, tcp_timeout_err(t));
		return;
	}
	tcb_mark(stk, t, PEND_PROBE | PEND_DATA);
	t->t_rtx = stk->now_us + XT_MAX(tcp_backoff(t), TCP_RTO_MIN_US);
}

static void tcp_keep_expire(struct stack *stk, struct tcb *t)
{
	uint64_t idle = (uint64_t)t->keepidle_s * 1000000,
		 intvl = (uint64_t)t->keepintvl_s * 1000000;

	t->t_keep = 0;
	if (!(t->flags & TF_KEEPALIVE) ||
	    (t->state != TCPS_ESTABLISHED && t->state != TCPS_CLOSE_WAIT &&
	     t->state != TCPS_FIN_WAIT_2))
		return;
	uint64_t since = stk->now_us - t->last_rx_us;

	/* Linux keepalive_time_elapsed(): idle counts from the last segment
	 * received, so an answered probe restarts the whole idle time (unanswered
	 * probes all go out after last_rx_us + idle, so since >= idle then) */
	if (since < idle) {
		t->keep_probes = 0;
		t->t_keep = t->last_rx_us + idle;
		return;
	}
	if (t->keep_probes >= t->keepcnt) {
		/* Linux tcp_keepalive_timer(): reset and report ETIMEDOUT */
		tcp_send_ctl(stk, t, TH_RST | TH_ACK, t->snd_max);
		tcb_done(stk, t, tcp_timeout_err(t));
		return;
	}
	if (t->snd_una == t->snd_max && !seq_lt(t->snd_nxt, t->snd_end)) {
		t->keep_probes++;
		tcb_mark(stk, t, PEND_PROBE);
	}
	t->t_keep = stk->now_us + intvl;
}

void tcp_timer_fire(struct stack *stk, struct tcb *t)
{
	uint64_t now = stk->now_us;

	if (t->flags & TF_FORGOTTEN) { /* sock_forget(): only its grace period is left */
		if (t->t_misc <= now)
			tcb_release(stk, t);
		else
			tcb_timer_update(stk, t);
		return;
	}
	if (t->t_delack && t->t_delack <= now) {
		t->t_delack = 0;
		if (t->rcv_unacked || t->last_ack_sent != t->rcv_nxt)
			tcb_mark(stk, t, PEND_ACK);
	}
	if (t->t_misc && t->t_misc <= now) {
		t->t_misc = 0;
		if (t->state == TCPS_FIN_WAIT_2 && (t->flags & TF_ORPHAN)) {
			tcb_done(stk, t, 0); /* releases the orphan */
			return;
		}
		if (t->flags & (TF_CORK | TF_MORE))
			tcb_mark(stk, t, PEND_PUSH | PEND_DATA);
	}
	if (t->t_reo && t->t_reo <= now) {
		tcp_rack_timeout(stk, t); /* RACK's reorder timer (tcp_rack.c) */
		if (!t->in_use || t->state == TCPS_CLOSED)
			return;
	}
	if (t->t_rtx && t->t_rtx <= now) {
		t->t_rtx = 0;
		switch (t->state) {
		case TCPS_SYN_SENT:
		case TCPS_SYN_RECEIVED:
			tcp_syn_timeout(stk, t);
			break;
		default:
			if (t->flags & TF_PERSIST)
				tcp_persist_expire(stk, t);
			else if (t->flags & TF_TLP)
				tcp_tlp_fire(stk, t);
			else
				tcp_rto_expire(stk, t);
			break;
		}
		if (!t->in_use || t->state == TCPS_CLOSED)
			return;
	}
	if (t->t_keep && t->t_keep <= now) {
		tcp_keep_expire(stk, t);
		if (!t->in_use || t->state == TCPS_CLOSED)
			return;
	}
	tcb_timer_update(stk, t);
}
