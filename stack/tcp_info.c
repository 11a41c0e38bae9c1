/*
 * tcp_info.c - TCP_INFO as Linux fills it (tcp_get_info(), struct tcp_info
 * of <linux/tcp.h>), and the per-connection measurements behind it.
 *
 * Called in: tcp_input.c (segments and data in, ACKs taken, receiver RTT),
 * tcp_output.c (segments out), tcp_timer.c (RTT samples), sock.c
 * (getsockopt(TCP_INFO)). Everything lives in tcb->ti, zeroed with the TCB;
 * nothing here allocates or sends.
 *
 * Programs read it for logging and decisions: nginx's $tcpinfo_rtt,
 * haproxy's fc_rtt, ss(8)-style tools. Units are Linux's: times in us
 * except last_* (ms), counts of segments for the window fields.
 */
#include <linux/tcp.h>

#include "stack_priv.h"

/* Linux tcp_ca_state */
enum { CA_OPEN, CA_DISORDER, CA_CWR, CA_RECOVERY, CA_LOSS };

#define TCP_REORDERING	   3	       /* net.ipv4.tcp_reordering */
#define TCP_INIT_CWND_SEGS 10	       /* TCP_INIT_CWND: first rcv_space is 10 x advmss */
#define INFINITE_SSTHRESH  0x7fffffffu /* TCP_INFINITE_SSTHRESH */

void tcp_info_established(struct stack *stk, struct tcb *t)
{
	/* Linux sets lsndtime, lrcvtime and rcv_tstamp when the connection is made */
	t->ti.lsnd_us = t->ti.lrcv_us = t->ti.lack_us = stk->now_us;
	t->ti.rcvq_space = TCP_INIT_CWND_SEGS * tcp_advmss(stk, t);
	t->ti.rcvq_seq = t->rcv_user;
	t->ti.rcvq_us0 = stk->now_us;
}

/* Linux tcp_rcv_rtt_update(): rtt8 holds 8 x the estimate, a minimum without timestamps. */
static void rcv_rtt_update(struct tcb *t, uint32_t sample_us, int win_dep)
{
	uint32_t old = t->ti.rcv_rtt8;
	uint64_t m = (uint64_t)sample_us << 3;

	if (m > UINT32_MAX)
		m = UINT32_MAX;
	if (!old || m < old) {
		t->ti.rcv_rtt8 = (uint32_t)m;
		return;
	}
	if (win_dep || t->rcv_nxt != t->rcv_user) /* Linux: only with an empty queue */
		return;
	t->ti.rcv_rtt8 = old - (old >> 3) + sample_us;
}

/*
 * In-order data arrived (Linux tcp_rcv_rtt_measure_ts() with timestamps: the
 * echo of a full segment dates our TSval; without, tcp_rcv_rtt_measure():
 * the time to receive one window's worth).
 */
void tcp_info_rcv_rtt(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	if ((t->flags & TF_TS) && seg->has_ts) {
		if (!seg->tsecr || seg->tsecr == t->ti.rcv_rtt_tsecr)
			return;
		t->ti.rcv_rtt_tsecr = seg->tsecr;
		if (seg->len >= XT_MAX(t->rcv_mss, (uint16_t)TCP_MSS_NOOPT)) {
			int32_t d = (int32_t)(tcp_tsval(stk, t->ts_off) - seg->tsecr);

			if (d >= 0)
				rcv_rtt_update(t, d ? (uint32_t)d * 1000 : 500, 0);
		}
		return;
	}
	if (t->ti.rcv_rtt_us0 && seq_lt(t->rcv_nxt, t->ti.rcv_rtt_seq))
		return;
	if (t->ti.rcv_rtt_us0)
		rcv_rtt_update(t, (uint32_t)(stk->now_us - t->ti.rcv_rtt_us0), 1);
	t->ti.rcv_rtt_seq =
		t->rcv_nxt + (seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0);
	t->ti.rcv_rtt_us0 = stk->now_us ? stk->now_us : 1;
}

/* The receiver's RTT estimate in us (Linux rcv_rtt_est.rtt_us >> 3), 0 unknown. */
uint32_t tcp_info_rcv_rtt_us(const struct tcb *t)
{
	return t->ti.rcv_rtt8 >> 3;
}

/* New data ACKed: byte and segment counts, and the delivery rate over about one RTT. */
void tcp_info_acked(struct stack *stk, struct tcb *t, uint32_t acked)
{
	uint64_t span;

	t->ti.bytes_acked += acked;
	t->ti.delivered += t->smss ? (acked + t->smss - 1) / t->smss : 1;
	t->ti.lack_us = stk->now_us;
	if (!t->ti.rate_us0) {
		t->ti.rate_us0 = stk->now_us ? stk->now_us : 1;
		t->ti.rate_acked0 = t->ti.bytes_acked - acked;
		return;
	}
	span = stk->now_us - t->ti.rate_us0;
	if (span && span >= XT_MAX(t->srtt_us, 1000u)) {
		t->ti.delivery_rate = (t->ti.bytes_acked - t->ti.rate_acked0) * 1000000 / span;
		t->ti.rate_us0 = stk->now_us;
		t->ti.rate_acked0 = t->ti.bytes_acked;
	}
}

/* The MSS we announce, less the timestamp option (Linux tp->advmss). */
uint32_t tcp_advmss(const struct stack *stk, const struct tcb *t)
{
	uint32_t m = tcp_mss_ours(stk, &t->h.raddr, t->user_mss);

	if (t->flags & TF_TS)
		m -= 12;
	return m;
}

/* Bytes in the scoreboard's holes below the highest SACK: deemed lost (RFC 6675). */
static uint32_t lost_bytes(const struct tcb *t)
{
	uint32_t start = t->snd_una, lost = 0;

	if (t->flags & TF_LOSS)
		return t->snd_max - t->snd_una;
	if (!(t->flags & TF_RECOVERY))
		return 0;
	if (!(t->flags & TF_SACK) || !t->n_sacked)
		return XT_MIN(t->snd_max - t->snd_una, (uint32_t)t->smss);
	for (unsigned i = 0; i < t->n_sacked; i++) {
		if (seq_lt(start, t->sacked[i].start))
			lost += t->sacked[i].start - start;
		start = seq_max(start, t->sacked[i].end);
	}
	return lost;
}

/* Linux tcp_update_pacing_rate(): 200% of cwnd/srtt in slow start, 120% after. */
static uint64_t pacing_rate(const struct tcb *t)
{
	uint64_t r;

	if (!t->srtt_us)
		return 0;
	r = (uint64_t)t->cwnd * 1000000 / t->srtt_us;
	return t->cwnd < t->ssthresh / 2 ? r * 2 : r * 6 / 5;
}

static uint8_t ca_state(const struct tcb *t)
{
	if (t->flags & TF_LOSS)
		return CA_LOSS;
	if (t->flags & TF_RECOVERY)
		return CA_RECOVERY;
	if (t->flags & TF_CWR)
		return CA_CWR;
	if (t->dupacks || t->n_sacked)
		return CA_DISORDER;
	return CA_OPEN;
}

static uint32_t ms_since(const struct stack *stk, uint64_t us)
{
	return us ? (uint32_t)((stk->now_us - us) / 1000) : (uint32_t)(stk->now_us / 1000);
}

static void fill_windows(const struct stack *stk, const struct tcb *t, struct tcp_info *ti)
{
	uint32_t mss = t->smss ? t->smss : TCP_MSS_NOOPT;
	uint32_t rcv_ssthresh = t->rbuf ? t->rmask + 1 : buf_ring_size(t->rcvbuf);

	ti->tcpi_snd_mss = mss;
	ti->tcpi_rcv_mss = XT_MIN(XT_MAX(t->rcv_mss, (uint16_t)TCP_MSS_NOOPT), tcp_advmss(stk, t));
	ti->tcpi_snd_cwnd = t->cwnd / mss;
	/* the stack's "infinite" initial ssthresh is any value from 2^30 up */
	ti->tcpi_snd_ssthresh = t->ssthresh >= (1u << 30) ? INFINITE_SSTHRESH : t->ssthresh / mss;
	ti->tcpi_rcv_ssthresh = XT_MIN(rcv_ssthresh, 65535u << t->rcv_ws);
	ti->tcpi_advmss = tcp_advmss(stk, t);
	ti->tcpi_rcv_space =
		t->ti.rcvq_space ? t->ti.rcvq_space : TCP_INIT_CWND_SEGS * ti->tcpi_advmss;
	ti->tcpi_snd_wnd = t->snd_wnd;
	if (t->state == TCPS_LISTEN) { /* Linux: the accept queue and its limit */
		ti->tcpi_unacked = t->acc_len;
		ti->tcpi_sacked = t->backlog;
		return;
	}
	if (t->state == TCPS_SYN_SENT || t->state == TCPS_CLOSED)
		return;
	ti->tcpi_unacked = (t->snd_max - t->snd_una + mss - 1) / mss;
	ti->tcpi_sacked = (t->sacked_bytes + mss - 1) / mss;
	ti->tcpi_lost = (lost_bytes(t) + mss - 1) / mss;
	if (t->rack.seg && !(t->flags & TF_LOSS)) { /* RACK's marks (tcp_rack.c) */
		uint32_t lost, rxt;

		tcp_rack_counts(t, &lost, &rxt);
		ti->tcpi_lost = (lost + mss - 1) / mss;
		ti->tcpi_retrans = (rxt + mss - 1) / mss;
	} else if (t->flags & TF_LOSS)
		ti->tcpi_retrans = (t->snd_nxt - t->snd_una + mss - 1) / mss;
	else if ((t->flags & TF_RECOVERY) && seq_gt(t->rtx_nxt, t->snd_una))
		ti->tcpi_retrans = XT_MIN((t->rtx_nxt - t->snd_una + mss - 1) / mss, ti->tcpi_lost);
	ti->tcpi_notsent_bytes = seq_gt(t->snd_end, t->snd_nxt) ? t->snd_end - t->snd_nxt : 0;
}

int tcp_info_get(struct stack *stk, struct tcb *t, void *val, socklen_t *len)
{
	struct tcp_info ti;

	if (!val || !len)
		return -EFAULT;
	memset(&ti, 0, sizeof(ti));
	ti.tcpi_state = t->state;
	ti.tcpi_ca_state = ca_state(t);
	ti.tcpi_retransmits = (t->flags & TF_PERSIST) ? 0 : t->retries;
	ti.tcpi_probes = (t->flags & TF_PERSIST) ? t->retries : t->keep_probes;
	ti.tcpi_backoff = t->retries;
	if (t->flags & TF_TS)
		ti.tcpi_options |= TCPI_OPT_TIMESTAMPS;
	if (t->flags & TF_SACK)
		ti.tcpi_options |= TCPI_OPT_SACK;
	if (t->flags & TF_WS) {
		ti.tcpi_options |= TCPI_OPT_WSCALE;
		ti.tcpi_snd_wscale = t->snd_ws & 0xf;
		ti.tcpi_rcv_wscale = t->rcv_ws & 0xf;
	}
	if (t->flags & TF_ECN)
		ti.tcpi_options |= TCPI_OPT_ECN;
	ti.tcpi_rto = t->rto_us;
	ti.tcpi_ato = t->ti.data_segs_in ? TCP_DELACK_US : 0; /* Linux: set by the first data */
	fill_windows(stk, t, &ti);
	ti.tcpi_last_data_sent = ms_since(stk, t->ti.lsnd_us);
	ti.tcpi_last_data_recv = ms_since(stk, t->ti.lrcv_us);
	ti.tcpi_last_ack_recv = ms_since(stk, t->ti.lack_us);
	ti.tcpi_pmtu = t->pmtu ? t->pmtu : pmtu_get(stk, &t->h.raddr); /* pmtu.c */
	ti.tcpi_rtt = t->srtt_us;
	ti.tcpi_rttvar = t->rttvar_us;
	ti.tcpi_reordering = TCP_REORDERING;
	ti.tcpi_rcv_rtt = tcp_info_rcv_rtt_us(t);
	ti.tcpi_total_retrans = (uint32_t)t->retrans;
	ti.tcpi_pacing_rate = pacing_rate(t);
	ti.tcpi_max_pacing_rate = UINT64_MAX; /* SO_MAX_PACING_RATE unset */
	ti.tcpi_bytes_acked = t->ti.bytes_acked;
	ti.tcpi_bytes_received = t->ti.bytes_received;
	ti.tcpi_segs_out = t->ti.segs_out;
	ti.tcpi_segs_in = t->ti.segs_in;
	ti.tcpi_min_rtt = t->ti.min_rtt_us ? t->ti.min_rtt_us : UINT32_MAX;
	ti.tcpi_data_segs_in = t->ti.data_segs_in;
	ti.tcpi_data_segs_out = t->ti.data_segs_out;
	ti.tcpi_delivery_rate = t->ti.delivery_rate;
	ti.tcpi_delivered = t->ti.delivered;
	ti.tcpi_bytes_sent = t->ti.bytes_sent;
	ti.tcpi_bytes_retrans = t->ti.bytes_retrans;
	ti.tcpi_dsack_dups = t->ti.dsack_dups;
	ti.tcpi_rcv_ooopack = t->ti.rcv_ooopack;

	socklen_t n = *len < (socklen_t)sizeof(ti) ? *len : (socklen_t)sizeof(ti);

	memcpy(val, &ti, n);
	*len = n;
	return 0;
}
