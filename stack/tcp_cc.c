/*
 * tcp_cc.c - congestion control: slow start and congestion avoidance
 * (RFC 5681 with RFC 3465 byte counting), the reduction on loss, and CUBIC
 * (RFC 9438, the default) or NewReno growth in congestion avoidance.
 * Windows are in bytes and grow only while in use (RFC 7661). Recovery
 * itself (which segments to send) lives in tcp_output.c; these functions
 * only size cwnd and ssthresh, in fast recovery by proportional rate
 * reduction (RFC 6937, as Linux tcp_cwnd_reduction()).
 */
#include "stack_priv.h"

#define CUBIC_BETA_NUM 7 /* beta_cubic = 0.7 */
#define CUBIC_BETA_DEN 10
#define CWND_MAX       (1u << 30)

void tcp_cc_init(struct stack *stk, struct tcb *t)
{
	uint32_t smss = t->smss ? t->smss : TCP_MSS_NOOPT;

	t->cwnd = TCP_IW_SEGS * smss; /* RFC 6928 */
	t->ssthresh = CWND_MAX;
	t->bytes_acked = 0;
	t->recover = t->iss; /* RFC 6582 3.2 step 1 */
	memset(&t->cubic, 0, sizeof(t->cubic));
}

/* Integer cube root (Newton), for CUBIC's K. */
uint32_t tcp_cube_root(uint64_t a)
{
	if (!a)
		return 0;
	uint64_t x = 1;

	while (x * x * x < a && x < (1u << 21))
		x <<= 1;
	for (int i = 0; i < 40; i++) {
		uint64_t nx = (2 * x + a / (x * x)) / 3;

		if (nx >= x)
			break;
		x = nx;
	}
	while (x * x * x > a)
		x--;
	return (uint32_t)x;
}

static uint32_t flight(const struct tcb *t)
{
	return t->snd_max - t->snd_una;
}

/* CUBIC window growth per ACK in congestion avoidance (RFC 9438 4.2-4.4). */
static void cubic_ack(struct stack *stk, struct tcb *t, uint32_t acked)
{
	struct cubic *c = &t->cubic;
	uint32_t smss = t->smss;

	if (!c->epoch_us) {
		c->epoch_us = stk->now_us;
		c->w_est = t->cwnd;
		c->cnt_bytes = 0;
		if (c->w_max > t->cwnd) {
			/* K = cbrt(W_max * (1 - beta) / C) seconds, C = 0.4, in segments */
			uint64_t wseg = (c->w_max - t->cwnd) / smss;
			uint64_t k3 = wseg * 1000000000ull / 400ull * 1000ull; /* (s^3) in ms^3 */

			c->k_ms = tcp_cube_root(k3);
			c->origin = c->w_max;
		} else {
			c->k_ms = 0;
			c->origin = t->cwnd;
		}
	}
	/* target at t + RTT */
	int64_t tms = (int64_t)((stk->now_us - c->epoch_us + t->srtt_us) / 1000) - c->k_ms;
	int64_t dt = tms < -100000 ? -100000 : (tms > 100000 ? 100000 : tms);
	/* C * dt^3 segments, C = 0.4, dt in ms -> 0.4 * dt^3 / 1e9 */
	int64_t wc = (int64_t)c->origin + (int64_t)(4 * dt * dt / 1000 * dt / 10000000) * smss;
	uint64_t target = wc < (int64_t)t->cwnd ? t->cwnd : (uint64_t)wc;

	if (target > t->cwnd + t->cwnd / 2)
		target = t->cwnd + t->cwnd / 2;
	/* Reno-friendly estimate: alpha = 3 (1 - beta) / (1 + beta) = 9/17 */
	c->w_est += (uint32_t)((uint64_t)9 * acked * smss / 17 / XT_MAX(t->cwnd, 1u));
	if (c->w_est > target)
		target = c->w_est;
	if (target > t->cwnd) {
		uint64_t inc = (target - t->cwnd) * (uint64_t)acked + c->cnt_bytes;

		t->cwnd += (uint32_t)(inc / t->cwnd);
		c->cnt_bytes = (uint32_t)(inc % t->cwnd);
	}
}

/*
 * Was the window in use? RFC 7661 (Linux tcp_is_cwnd_limited()): cwnd grows
 * only when the sender was limited by it, not by the application, its send
 * buffer or the peer's window. Otherwise an application-limited sender
 * (a bulk sender waiting on its buffer, a request/response server) grows a
 * window it never tested, without bound, and bursts it out when it has
 * data. In slow start, up to twice what was in flight before this ACK
 * (Linux: cwnd < 2 * max_packets_out); in congestion avoidance, all but one
 * segment of it.
 */
static int cwnd_limited(const struct tcb *t, uint32_t acked)
{
	uint64_t was = (uint64_t)flight(t) + acked;

	if (t->cwnd < t->ssthresh)
		return 2 * was > t->cwnd;
	return was + t->smss >= t->cwnd;
}

void tcp_cc_ack(struct stack *stk, struct tcb *t, uint32_t acked)
{
	if (t->cwnd >= CWND_MAX || !cwnd_limited(t, acked))
		return;
	if (t->cwnd < t->ssthresh) {
		/* slow start; Linux grows by all newly ACKed data */
		uint32_t room = t->ssthresh - t->cwnd;

		t->cwnd += XT_MIN(acked, room);
		return;
	}
	if (stk->cfg.cc == STACK_CC_CUBIC) {
		cubic_ack(stk, t, acked);
		return;
	}
	t->bytes_acked += acked; /* RFC 5681 3.1 eq. 3 with byte counting */
	if (t->bytes_acked >= t->cwnd) {
		t->bytes_acked -= t->cwnd;
		t->cwnd += t->smss;
	}
}

/* ssthresh after loss detected by ACKs (RFC 5681 eq. 4 / RFC 9438 4.6). */
uint32_t tcp_cc_ssthresh(struct stack *stk, struct tcb *t)
{
	uint32_t two = 2u * t->smss;

	t->bytes_acked = 0;
	if (stk->cfg.cc == STACK_CC_CUBIC) {
		struct cubic *c = &t->cubic;
		uint32_t w = t->cwnd;

		/* fast convergence (RFC 9438 4.7) */
		if (w < c->w_max)
			c->w_max = (uint32_t)((uint64_t)w * (CUBIC_BETA_DEN + CUBIC_BETA_NUM) /
					      (2 * CUBIC_BETA_DEN));
		else
			c->w_max = w;
		c->epoch_us = 0;
		return XT_MAX((uint32_t)((uint64_t)w * CUBIC_BETA_NUM / CUBIC_BETA_DEN), two);
	}
	return XT_MAX(flight(t) / 2, two);
}

void tcp_cc_rto(struct stack *stk, struct tcb *t)
{
	t->ssthresh = tcp_cc_ssthresh(stk, t);
}

/* RFC 6937: entering fast recovery (ssthresh already set). */
void tcp_prr_init(struct tcb *t)
{
	t->prr.recover_fs = t->snd_max - t->snd_una;
	t->prr.delivered = 0;
	t->prr.out = 0;
}

/*
 * RFC 6937 on each ACK in fast recovery: cwnd lets out what keeps the
 * sending rate proportional to the deliveries while pipe exceeds ssthresh
 * (no burst, no silence), then slow-starts back up to ssthresh (PRR-SSRB).
 * The ACK that starts recovery always lets the fast retransmit go.
 */
void tcp_prr_ack(struct tcb *t, uint32_t delivered, int fast_rexmit)
{
	uint32_t pipe = tcp_pipe(t), mss = t->smss, sndcnt;

	t->prr.delivered += delivered;
	if (pipe > t->ssthresh) {
		uint64_t want = ((uint64_t)t->prr.delivered * t->ssthresh + t->prr.recover_fs - 1) /
				XT_MAX(t->prr.recover_fs, 1u);

		sndcnt = want > t->prr.out ? (uint32_t)(want - t->prr.out) : 0;
	} else {
		uint32_t limit =
			XT_MAX(t->prr.delivered > t->prr.out ? t->prr.delivered - t->prr.out : 0,
			       delivered) +
			mss;

		sndcnt = XT_MIN(t->ssthresh - pipe, limit);
	}
	if (fast_rexmit && sndcnt < mss)
		sndcnt = mss;
	t->cwnd = pipe + sndcnt;
}
