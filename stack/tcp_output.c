/*
 * tcp_output.c - segment emission.
 *
 * tcp_output_flush() runs once per stack_poll()/stack_flush(): each TCB
 * marked by input, timers or app calls (stk->tx_pending) gets tcp_output():
 * control first (RST, SYN, SYN-ACK), then data segments cut from the send
 * ring at snd_nxt (every one carries the ACK), then a pure ACK or a probe if
 * still owed. Loss recovery sends holes from the SACK scoreboard first
 * (RFC 6675 pipe estimate), then new data. Sender rules: congestion and
 * peer window, Nagle (Linux's Minshall variant) unless TCP_NODELAY, cork
 * and MSG_MORE (200 ms ceiling), sender SWS avoidance, zero-window probes.
 *
 * Payload bytes are copied from the send ring into the frame and summed for
 * the TCP checksum in one pass (copy_csum(), AVX2 where the CPU has it).
 *
 * Stateless replies (RST to a segment without a TCB, SYN-ACK of a
 * mini-socket) are built here too and queued at once. All frames go to the
 * stack's TX batch (ip.c); the caller kicks once per poll.
 */
#include "stack_priv.h"

struct tx_seg {
	const uint8_t *dmac;
	const struct in6_addr *saddr, *daddr; /* v4-mapped: an IPv4 frame */
	uint32_t flowlabel;		      /* IPv6; 0: derived from the 4-tuple */
	uint8_t tclass;			      /* IPv6 DSCP (IPV6_TCLASS), ECN bits clear */
	uint8_t hops;			      /* IPv4 TTL, IPv6 hop limit */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t ecn;  /* IP ECN field */
	uint16_t urp; /* urgent pointer (with TH_URG) */
	uint16_t wnd;
	const uint8_t *opt;
	unsigned optlen;
	const uint8_t *ring; /* payload source: send ring */
	uint32_t mask, off, len;
};

uint32_t tcp_tsval(const struct stack *stk, uint32_t ts_off)
{
	return (uint32_t)stk->now_ms + ts_off; /* 1 ms TS clock, as Linux */
}

/*
 * Payload copy and checksum in one pass (the send path's largest user-space
 * cost was the checksum: a second read of every byte just copied). Returns
 * the one's-complement sum of src[0, len) in the 32-bit-word form of
 * csum_partial(), added to sum. The AVX2 variant (picked at run time)
 * stores what it loads and widens the 32-bit lanes into 64-bit accumulators.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

__attribute__((target("avx2"))) static uint64_t copy_csum_avx2(uint8_t *d, const uint8_t *p,
							       uint32_t len, uint64_t sum)
{
	__m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
	const __m256i z = _mm256_setzero_si256();
	uint64_t l[4];

	/* each 64-bit lane takes len/64 values < 2^32: no overflow below 2^38 bytes */
	for (; len >= 64; len -= 64, p += 64, d += 64) {
		__m256i v0 = _mm256_loadu_si256((const __m256i *)p);
		__m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));

		_mm256_storeu_si256((__m256i *)d, v0);
		_mm256_storeu_si256((__m256i *)(d + 32), v1);
		a0 = _mm256_add_epi64(a0, _mm256_unpacklo_epi32(v0, z));
		a1 = _mm256_add_epi64(a1, _mm256_unpackhi_epi32(v0, z));
		a0 = _mm256_add_epi64(a0, _mm256_unpacklo_epi32(v1, z));
		a1 = _mm256_add_epi64(a1, _mm256_unpackhi_epi32(v1, z));
	}
	_mm256_storeu_si256((__m256i *)l, _mm256_add_epi64(a0, a1));
	uint64_t t = l[0] + l[1] + l[2] + l[3];

	memcpy(d, p, len);
	t = csum_partial(d, len, t); /* the tail, < 64 bytes */
	sum += t;
	return sum + (sum < t);
}
#define HAVE_COPY_CSUM_AVX2 1
#endif

static uint64_t copy_csum(uint8_t *d, const uint8_t *p, uint32_t len, uint64_t sum)
{
#ifdef HAVE_COPY_CSUM_AVX2
	if (__builtin_cpu_supports("avx2"))
		return copy_csum_avx2(d, p, len, sum);
#endif
	memcpy(d, p, len);
	return csum_partial(d, len, sum);
}

static int tcp_tx(struct stack *stk, const struct tx_seg *s)
{
	uint32_t tcplen = TCP_HLEN + s->optlen + s->len;
	struct pkt pkt;
	int v4 = addr_is_v4(s->daddr);
	uint32_t iphlen = v4 ? IP4_HLEN : IP6_HLEN;
	uint8_t *f = ip_tx_alloc(stk, &pkt, ETH_HLEN + iphlen + tcplen);

	if (!f)
		return -1;
	struct tcp_hdr *th = (struct tcp_hdr *)(f + ETH_HLEN + iphlen);
	uint8_t *p = (uint8_t *)(th + 1);

	th->sport = be16(s->sport);
	th->dport = be16(s->dport);
	th->seq = be32(s->seq);
	th->ack = be32(s->ack);
	th->doff_res = (uint8_t)(((TCP_HLEN + s->optlen) / 4) << 4);
	th->flags = s->flags;
	th->wnd = be16(s->wnd);
	th->csum = 0;
	th->urp = be16(s->urp);
	if (s->optlen)
		memcpy(p, s->opt, s->optlen);
	uint64_t sum = addr_csum(s->saddr) + addr_csum(s->daddr) + be16(IPPROTO_TCP_NR) +
		       be16((uint16_t)tcplen);
	uint32_t off = s->off & s->mask, first = XT_MIN(s->len, s->mask + 1 - off);

	/*
	 * Offload: the device finishes the sum (CHECKSUM_PARTIAL), adding header
	 * and payload to what the field holds: the pseudo-header sum, not inverted.
	 * Otherwise: the header is a multiple of 4 bytes, so the payload's sum
	 * chains at an even offset. A payload that wraps the ring after an odd
	 * number of bytes would not: it is copied first and summed with the
	 * header (rare).
	 */
	if (stk->tx_csum_offload) {
		if (s->len)
			ring_read(s->ring, s->mask, s->off, p + s->optlen, s->len);
	} else if (first == s->len || !(first & 1)) {
		sum = csum_partial(th, TCP_HLEN + s->optlen, sum);
		if (s->len)
			sum = copy_csum(p + s->optlen, s->ring + off, first, sum);
		if (first < s->len)
			sum = copy_csum(p + s->optlen + first, s->ring, s->len - first, sum);
	} else {
		ring_read(s->ring, s->mask, s->off, p + s->optlen, s->len);
		sum = csum_partial(th, tcplen, sum);
	}
	uint16_t c = stk->tx_csum_offload ? csum_fold(sum) : (uint16_t)~csum_fold(sum);

	memcpy(&th->csum, &c, 2);
	if (v4) {
		ip_tx_fill(stk, f, s->dmac, addr_v4(s->saddr), addr_v4(s->daddr), tcplen, s->ecn,
			   s->hops);
	} else {
		uint32_t fl = s->flowlabel
				      ? s->flowlabel
				      : ip6_flowlabel(stk, s->saddr, s->sport, s->daddr, s->dport);

		ip6_tx_fill(stk, f, s->dmac, s->saddr, s->daddr, tcplen,
			    (uint8_t)((s->tclass & ~IP_ECN_MASK) | (s->ecn & IP_ECN_MASK)), fl,
			    s->hops);
	}
	pkt.len = ETH_HLEN + iphlen + tcplen;
	ip_tx_queue(stk, &pkt);
	return 0;
}

/*
 * The window to advertise (already shifted) and the new right edge. The
 * edge never moves left (RFC 9293 3.8.6.2.2 / RFC 7323 2.4) and moves right
 * only by min(buffer/2, MSS) at a time (receiver SWS avoidance).
 */
uint32_t tcp_rcv_window(struct tcb *t)
{
	if (t->rbuf) {
		uint32_t size = t->rmask + 1, used = t->rcv_nxt - t->rcv_user;
		uint32_t space = size > used ? size - used : 0;
		uint32_t maxw = 65535u << t->rcv_ws;

		if (space > maxw)
			space = maxw;
		space &= ~((1u << t->rcv_ws) - 1);
		uint32_t cand = t->rcv_nxt + space;

		if (seq_lt(t->rcv_adv, t->rcv_nxt))
			t->rcv_adv = t->rcv_nxt;
		if (seq_gt(cand, t->rcv_adv) && (cand - t->rcv_adv >= XT_MIN(size / 2, 1460u) ||
						 t->rcv_adv == t->rcv_nxt || space == maxw))
			t->rcv_adv = cand;
	}
	uint32_t w = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;

	return XT_MIN(w >> t->rcv_ws, 65535u);
}

/*
 * ECN marks of a segment of an ECN connection (RFC 3168 6.1, as Linux's
 * tcp_ecn_send()): ECT(0) on new data only, never on pure ACKs or
 * retransmissions (6.1.5); CWR on the first new data after a reduction;
 * ECE on every segment while a CE mark waits for the peer's CWR.
 */
static void tcp_ecn_out(const struct tcb *t, struct tx_seg *s, uint32_t seq, uint32_t len)
{
	if (len && seq_geq(seq, t->snd_max)) {
		s->ecn = IP_ECN_ECT0;
		if (t->flags & TF_ECN_CWR)
			s->flags |= TH_CWR;
	}
	if (t->flags & TF_ECN_ECHO)
		s->flags |= TH_ECE;
}

/* A segment of t's connection: its ends, flow label and class; no payload, ECN or URG yet. */
static void tx_seg_of(struct stack *stk, struct tx_seg *s, struct tcb *t)
{
	s->dmac = t->dmac;
	s->saddr = &t->h.laddr;
	s->daddr = &t->h.raddr;
	s->flowlabel = t->flowlabel;
	s->tclass = t->tclass;
	s->hops = ip_tcb_hops(stk, t);
	s->sport = t->h.lport;
	s->dport = t->h.rport;
	s->ecn = 0;
	s->urp = 0;
	s->ring = NULL;
	s->mask = s->off = s->len = 0;
}

/* One segment of t: flags get ACK; len bytes of payload from the send ring at seq. */
static int tcp_emit(struct stack *stk, struct tcb *t, uint32_t seq, uint8_t flags, uint32_t len)
{
	uint8_t opt[40];
	unsigned nsack, optlen = tcp_opt_len(t, &nsack);
	struct tx_seg s;

	tcp_opt_write(opt, t, tcp_tsval(stk, t->ts_off), nsack);
	tx_seg_of(stk, &s, t);
	s.seq = seq;
	s.ack = t->rcv_nxt;
	s.flags = flags | TH_ACK;
	if (t->flags & TF_ECN)
		tcp_ecn_out(t, &s, seq, len);
	s.flags |= tcp_urg_output(t, seq, &s.urp);
	s.wnd = (uint16_t)tcp_rcv_window(t);
	s.opt = opt;
	s.optlen = optlen;
	s.ring = t->sbuf;
	s.mask = t->smask;
	s.off = seq - (t->iss + 1);
	s.len = len;
	if (tcp_tx(stk, &s) != 0) {
		tcb_mark(stk, t, PEND_DATA | PEND_ACK); /* out of frames: retry next flush */
		return -1;
	}
	t->ti.segs_out++;
	if (len) {
		t->ti.data_segs_out++;
		t->ti.bytes_sent += len;
		t->ti.lsnd_us = stk->now_us;
	}
	t->last_ack_sent = t->rcv_nxt;
	t->t_delack = 0;
	t->rcv_unacked = 0;
	t->dsack_on = 0; /* a D-SACK is reported once (RFC 2883 4) */
	if (s.flags & TH_CWR)
		t->flags &= ~TF_ECN_CWR;
	return 0;
}

/* SYN (active open) or SYN-ACK (simultaneous open) of a full TCB. */
static void tcp_emit_syn(struct stack *stk, struct tcb *t, int synack)
{
	uint8_t opt[40];
	struct tx_seg s;
	unsigned no = stk->cfg.flags;
	int ts = synack ? !!(t->flags & TF_TS) : !(no & STACK_F_NO_TS);
	int sack = synack ? !!(t->flags & TF_SACK) : !(no & STACK_F_NO_SACK);
	int ws = synack ? !!(t->flags & TF_WS) : !(no & STACK_F_NO_WS);
	uint32_t wnd = XT_MIN(t->rmask + 1, 65535u);

	s.optlen = tcp_opt_syn(opt, tcp_mss_ours(stk, &t->h.raddr, t->user_mss), ts,
			       tcp_tsval(stk, t->ts_off), synack ? t->ts_recent : 0, sack, ws,
			       t->rcv_ws);
	tx_seg_of(stk, &s, t); /* ECN 0: an active open does not ask for it (Linux tcp_ecn = 2) */
	s.opt = opt;
	s.seq = t->iss;
	s.ack = synack ? t->rcv_nxt : 0;
	s.flags = synack ? (TH_SYN | TH_ACK) : TH_SYN;
	s.wnd = (uint16_t)wnd;
	if (tcp_tx(stk, &s) != 0) {
		tcb_mark(stk, t, PEND_SYN);
		return;
	}
	t->ti.segs_out++;
	if (synack) {
		t->rcv_adv = t->rcv_nxt + wnd;
		t->last_ack_sent = t->rcv_nxt;
	}
	if (t->retries)
		t->flags &= ~TF_RTT; /* Karn: no sample from a retransmitted SYN */
	else if (!(t->flags & TF_RTT)) {
		t->flags |= TF_RTT;
		t->rtt_seq = t->iss + 1;
		t->rtt_start_us = stk->now_us;
	}
	t->snd_nxt = t->iss + 1;
	if (seq_lt(t->snd_max, t->snd_nxt))
		t->snd_max = t->snd_nxt;
	t->t_rtx = stk->now_us + t->rto_us;
}

/* A SYN-ACK's hop limit: the listener's IP_TTL / IPV6_UNICAST_HOPS, else the route's. */
static uint8_t synack_hops(const struct stack *stk, const struct tcp_req *r)
{
	int v4 = addr_is_v4(&r->h.raddr);
	int16_t own = !r->listener ? -1 : v4 ? r->listener->uc_ttl : r->listener->uc_hops6;

	return own >= 0 ? (uint8_t)own : ip_hop_limit(stk, &r->h.raddr);
}

void tcp_send_synack(struct stack *stk, struct tcp_req *r)
{
	uint8_t opt[40];
	struct tx_seg s;
	uint32_t tsval = tcp_tsval(stk, r->ts_off);

	if (r->cookie) {
		/* Linux cookie_init_timestamp(): options in the low 6 bits of TSval */
		uint32_t o = (r->opts & TF_WS) ? r->snd_ws : 0xfu;

		if (r->opts & TF_SACK)
			o |= 0x10u;
		if (r->ecn_ok)
			o |= 0x20u; /* Linux TS_OPT_ECN */
		uint32_t ts = (tsval & ~0x3fu) | o;

		if ((int32_t)(ts - tsval) > 0)
			ts -= 64;
		tsval = ts;
	}
	s.optlen = tcp_opt_syn(opt, tcp_mss_ours(stk, &r->h.raddr, r->user_mss),
			       !!(r->opts & TF_TS), tsval, r->ts_recent, !!(r->opts & TF_SACK),
			       !!(r->opts & TF_WS), r->rcv_ws);
	if (r->tfo) {
		/* RFC 7413 4.1.1, Linux's layout: kind, length, cookie, NOP, NOP;
		 * only the first SYN-ACK carries it (Linux tcp_rtx_synack() does not) */
		uint8_t *p = opt + s.optlen;

		p[0] = TCPOPT_FASTOPEN;
		p[1] = 2 + TCP_TFO_COOKIE_LEN;
		tcp_tfo_cookie(stk, &r->h.raddr, &r->h.laddr, p + 2);
		p[2 + TCP_TFO_COOKIE_LEN] = TCPOPT_NOP;
		p[3 + TCP_TFO_COOKIE_LEN] = TCPOPT_NOP;
		s.optlen += 4 + TCP_TFO_COOKIE_LEN;
		r->tfo = 0;
	}
	s.opt = opt;
	s.dmac = r->smac;
	s.saddr = &r->h.laddr;
	s.daddr = &r->h.raddr;
	s.flowlabel = 0;
	s.tclass = r->listener ? r->listener->tclass : 0;
	s.hops = synack_hops(stk, r);
	s.sport = r->h.lport;
	s.dport = r->h.rport;
	s.seq = r->iss;
	s.ack = r->irs + 1;
	s.flags = TH_SYN | TH_ACK;
	/* RFC 3168 6.1.1: an ECN-setup SYN-ACK has ECE, and is not ECT itself */
	if (r->ecn_ok)
		s.flags |= TH_ECE;
	s.ecn = 0;
	s.urp = 0;
	s.wnd = (uint16_t)(r->our_wnd ? r->our_wnd : 65535u);
	s.ring = NULL;
	s.mask = s.off = s.len = 0;
	tcp_tx(stk, &s);
}

/* RFC 9293 3.10.7.1: RST for a segment that has no connection. */
void tcp_send_rst_reply(struct stack *stk, const struct tcp_seg_in *seg)
{
	struct tx_seg s;

	s.dmac = seg->smac;
	s.saddr = &seg->daddr;
	s.daddr = &seg->saddr;
	s.flowlabel = 0;
	s.tclass = 0;
	s.hops = ip_hop_limit(stk, &seg->saddr);
	s.sport = seg->dport;
	s.dport = seg->sport;
	if (seg->flags & TH_ACK) {
		s.seq = seg->ack;
		s.ack = 0;
		s.flags = TH_RST;
	} else {
		s.seq = 0;
		s.ack = seg->seq + seg->len + !!(seg->flags & TH_SYN) + !!(seg->flags & TH_FIN);
		s.flags = TH_RST | TH_ACK;
	}
	s.wnd = 0;
	s.ecn = 0;
	s.urp = 0;
	s.opt = NULL;
	s.optlen = 0;
	s.ring = NULL;
	s.mask = s.off = s.len = 0;
	tcp_tx(stk, &s);
}

/* A bare control segment of t (RST, ACK, probe) at seq, sent now. */
void tcp_send_ctl(struct stack *stk, struct tcb *t, uint8_t flags, uint32_t seq)
{
	tcp_emit(stk, t, seq, flags, 0);
}

/*
 * Linux __tcp_oow_rate_limited(): one ACK to invalid segments per connection
 * per TCP_INVALID_RATELIMIT_US, so that two endpoints that disagree about
 * the sequence space (or a flood of forged segments) do not ping-pong ACKs.
 */
static int tcp_oow_limited(struct stack *stk, struct tcb *t)
{
	if (t->oow_ack_us && stk->now_us - t->oow_ack_us < TCP_INVALID_RATELIMIT_US) {
		stk->st.invalid_acks_limited++;
		return 1;
	}
	t->oow_ack_us = stk->now_us ? stk->now_us : 1; /* 0 means never */
	return 0;
}

/*
 * The ACK owed to an unacceptable segment (RFC 9293 3.10.7.4 first check, or
 * TIME-WAIT). Segments with data or FIN always get it: they are not part of
 * an ACK loop, and a retransmission must learn our RCV.NXT at once (Linux
 * tcp_oow_rate_limited(): seq != end_seq and no SYN).
 */
void tcp_send_oow_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg)
{
	if ((seg->len || (seg->flags & TH_FIN)) && !(seg->flags & TH_SYN)) {
		tcb_mark(stk, t, PEND_ACK);
		return;
	}
	if (!tcp_oow_limited(stk, t))
		tcb_mark(stk, t, PEND_ACK);
}

/*
 * RFC 5961 7 challenge ACKs, as Linux's tcp_send_challenge_ack(): first the
 * connection's 500 ms limit, then the stack's budget for this second, drawn
 * from [limit/2, limit*3/2) by a keyed hash: a fixed shared budget is the
 * side channel of CVE-2016-5696 (count the challenge ACKs a probe draws).
 */
void tcp_send_challenge_ack(struct stack *stk, struct tcb *t)
{
	uint64_t sec = stk->now_us / 1000000;

	if (tcp_oow_limited(stk, t))
		return;
	if (stk->cack_sec != sec + 1) {
		uint32_t lim = stk->cfg.challenge_ack_limit, half = (lim + 1) / 2;
		uint64_t m[2] = {sec, 0x63616b6275646774ULL};

		stk->cack_sec = sec + 1;
		stk->cack_left = half + (uint32_t)(siphash_words(stk->hkey, m, 2) % lim);
	}
	if (!stk->cack_left) {
		stk->st.invalid_acks_limited++;
		return;
	}
	stk->cack_left--;
	stk->st.challenge_acks++;
	tcb_mark(stk, t, PEND_ACK);
}

/* Next byte range to retransmit in recovery; 0 when none is known lost. */
static int tcp_next_hole(const struct tcb *t, uint32_t maxseg, uint32_t *h, uint32_t *hend)
{
	uint32_t start = seq_max(t->rtx_nxt, t->snd_una);

	if (t->rack.seg) /* RACK (tcp_rack.c): what it marked lost */
		return tcp_rack_next_lost(t, maxseg, h, hend);
	if (!(t->flags & TF_SACK) || !t->n_sacked) {
		if (t->rtx_nxt != t->snd_una || t->snd_una == t->snd_max)
			return 0;
		*h = t->snd_una;
		*hend = seq_min(t->snd_una + maxseg, t->snd_max);
		return 1;
	}
	for (unsigned i = 0; i < t->n_sacked; i++) {
		if (seq_lt(start, t->sacked[i].start)) {
			*h = start;
			*hend = t->sacked[i].start;
			return 1;
		}
		start = seq_max(start, t->sacked[i].end);
	}
	return 0; /* above the highest SACK nothing is deemed lost */
}

/* RFC 6675 4 "pipe": octets believed in flight. */
uint32_t tcp_pipe(const struct tcb *t)
{
	uint32_t out = t->snd_max - t->snd_una, gone;

	if (t->rack.seg) {
		gone = t->sacked_bytes + t->rack.lost_bytes; /* RFC 8985 with RFC 6675's pipe */
	} else if ((t->flags & TF_SACK) && t->n_sacked) {
		uint32_t start = seq_max(t->rtx_nxt, t->snd_una), lost = 0;

		for (unsigned i = 0; i < t->n_sacked; i++) {
			if (seq_lt(start, t->sacked[i].start))
				lost += t->sacked[i].start - start;
			start = seq_max(start, t->sacked[i].end);
		}
		gone = t->sacked_bytes + lost;
	} else {
		gone = (uint32_t)t->dupacks * t->smss;
	}
	return out > gone ? out - gone : 0;
}

static int tcp_send_seg(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, int fin)
{
	uint8_t flags = fin ? TH_FIN : 0;

	if (len && seq + len == t->snd_end)
		flags |= TH_PSH;
	if (tcp_emit(stk, t, seq, flags, len) != 0)
		return -1;
	if (t->flags & TF_RECOVERY)
		t->prr.out += len + fin; /* RFC 6937 prr_out */
	tcp_rack_sent(stk, t, seq, len + fin, seq_lt(seq, t->snd_max));
	if (seq_lt(seq, t->snd_max)) {
		t->ti.bytes_retrans += len;
		t->retrans++;
		stk->st.retrans_segs++;
		if ((t->flags & TF_RTT) && seq_lt(seq, t->rtt_seq))
			t->flags &= ~TF_RTT; /* Karn */
	} else if (!(t->flags & (TF_TS | TF_RTT)) && len) {
		t->flags |= TF_RTT;
		t->rtt_seq = seq + len;
		t->rtt_start_us = stk->now_us;
	}
	if (fin)
		t->flags |= TF_FIN_SENT;
	if (seq_gt(seq + len + fin, t->snd_max))
		t->snd_max = seq + len + fin;
	if (!t->t_rtx || (t->flags & TF_PERSIST)) {
		t->flags &= ~TF_PERSIST;
		t->t_rtx = stk->now_us + t->rto_us;
	}
	return 0;
}

/*
 * The tail loss probe (RFC 8985 7.3, tcp_rack.c): new data if there is some
 * and the peer's window takes it (cwnd does not hold a probe back), else the
 * last segment sent, again.
 */
static void tcp_output_tlp(struct stack *stk, struct tcb *t, uint32_t maxseg)
{
	uint32_t nxt = t->snd_max, wend = t->snd_una + t->snd_wnd, dend, seq, len;
	int fin;

	if (seq_lt(nxt, t->snd_end) && seq_gt(wend, nxt)) {
		len = XT_MIN(XT_MIN(t->snd_end - nxt, maxseg), wend - nxt);
		fin = (t->flags & TF_FIN_Q) && nxt + len == t->snd_end;
		if (tcp_send_seg(stk, t, nxt, len, fin) == 0) {
			t->snd_nxt = t->snd_max;
			tcp_tlp_sent(stk, t, 0);
		}
		return;
	}
	dend = seq_min(t->snd_max, t->snd_end);
	seq = dend - XT_MIN(dend - t->snd_una, maxseg);
	len = dend - seq;
	fin = (t->flags & TF_FIN_SENT) && seq_gt(t->snd_max, t->snd_end);
	if ((len || fin) && tcp_send_seg(stk, t, seq, len, fin) == 0)
		tcp_tlp_sent(stk, t, 1);
}

static unsigned tcp_output_recovery(struct stack *stk, struct tcb *t, uint32_t maxseg)
{
	unsigned sent = 0;

	while (tcp_pipe(t) < t->cwnd && sent < 64) {
		uint32_t h, hend;

		if (tcp_next_hole(t, maxseg, &h, &hend)) {
			uint32_t dend = seq_min(hend, t->snd_end);
			uint32_t len = seq_gt(dend, h) ? XT_MIN(dend - h, maxseg) : 0;
			int fin = (t->flags & TF_FIN_SENT) && h + len == t->snd_end &&
				  seq_gt(hend, t->snd_end);

			if (!len && !fin) {
				t->rtx_nxt = hend;
				tcp_rack_skip(t, h, hend);
				continue;
			}
			if (tcp_send_seg(stk, t, h, len, fin) != 0)
				break;
			t->rtx_nxt = h + len + fin;
			sent++;
			continue;
		}
		uint32_t nxt = t->snd_max;
		uint32_t avail = seq_lt(nxt, t->snd_end) ? t->snd_end - nxt : 0;
		uint32_t wend = t->snd_una + t->snd_wnd;
		uint32_t usable = seq_gt(wend, nxt) ? wend - nxt : 0;
		uint32_t len = XT_MIN(avail, maxseg);

		if (!len || len > usable)
			break;
		int fin = (t->flags & TF_FIN_Q) && nxt + len == t->snd_end;

		if (tcp_send_seg(stk, t, nxt, len, fin) != 0)
			break;
		t->snd_nxt = t->snd_max;
		sent++;
	}
	return sent;
}

static unsigned tcp_output_data(struct stack *stk, struct tcb *t, uint8_t pend)
{
	unsigned nsack, sent = 0;

	if (t->pmtu_gen != stk->pmtu_gen)
		pmtu_sync(stk, t); /* a path MTU changed or expired (pmtu.c) */
	uint32_t maxseg = t->mss - tcp_opt_len(t, &nsack);

	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_CLOSE_WAIT:
	case TCPS_FIN_WAIT_1:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
		break;
	case TCPS_SYN_RECEIVED: /* a Fast Open child sends before the handshake's ACK */
		if (t->tfo_child)
			break;
		return 0;
	default:
		return 0;
	}
	if (!t->sbuf)
		return 0;
	if ((pend & PEND_TLP) && !(t->flags & (TF_RECOVERY | TF_LOSS))) {
		tcp_output_tlp(stk, t, maxseg);
		return 1;
	}
	if (t->flags & TF_RECOVERY)
		return tcp_output_recovery(stk, t, maxseg);
	/* RFC 4821: the next new segment may be a larger probe (pmtu.c) */
	uint32_t plen = t->probe_on ? pmtu_probe_len(stk, t, maxseg) : 0;

	for (;;) {
		uint32_t nxt = t->snd_nxt;
		uint32_t avail = seq_lt(nxt, t->snd_end) ? t->snd_end - nxt : 0;
		int fin_due = (t->flags & TF_FIN_Q) && seq_leq(nxt, t->snd_end);
		int rexmit = seq_lt(nxt, t->snd_max);

		if (!avail && !fin_due)
			break;
		uint32_t wend = t->snd_una + XT_MIN(t->snd_wnd, t->cwnd);
		uint32_t usable = seq_gt(wend, nxt) ? wend - nxt : 0;
		uint32_t len = XT_MIN(avail, maxseg);
		int probe = plen && !rexmit && avail >= plen && usable >= plen;

		if (probe)
			len = plen;
		if (len > usable) {
			/* sender SWS avoidance (RFC 9293 3.8.6.2.1) */
			int peer_limited = t->snd_wnd < t->cwnd;

			/* or the persist timer fired on a window below one MSS:
			 * send what fits (Linux tcp_write_wakeup()), else a
			 * peer whose window stays that small would stall forever */
			if (usable && peer_limited &&
			    (usable >= t->max_snd_wnd / 2 || (pend & PEND_PROBE)))
				len = usable;
			else
				break;
		}
		/* urgent mode sends at once, as Linux tcp_nagle_test() */
		if (len && len < maxseg && len == avail && !rexmit && !(pend & PEND_PUSH) &&
		    !(t->flags & (TF_FIN_Q | TF_SND_URG))) {
			if (t->flags & (TF_CORK | TF_MORE)) {
				if (!t->t_misc)
					t->t_misc = stk->now_us + TCP_CORK_US;
				break;
			}
			/* Nagle, Linux's Minshall variant: one small segment in flight
			 * (tcp_minshall_check(); snd_sml starts outside the window) */
			if (!(t->flags & TF_NODELAY) && t->snd_una != t->snd_max &&
			    seq_gt(t->snd_sml, t->snd_una) && seq_leq(t->snd_sml, t->snd_max))
				break;
		}
		int fin = fin_due && nxt + len == t->snd_end;

		if (!len && !fin)
			break;
		if (tcp_send_seg(stk, t, nxt, len, fin) != 0)
			break;
		if (probe) {
			pmtu_probe_sent(stk, t, nxt, len, maxseg);
			plen = 0;
		}
		if (len < maxseg && len)
			t->snd_sml = nxt + len;
		t->snd_nxt = nxt + len + fin;
		sent++;
		if (fin)
			break;
	}
	if (sent)
		tcp_tlp_arm(stk, t); /* Linux tcp_schedule_loss_probe() after new data */
	/* nothing in flight and the window too small: probe it (RFC 9293 3.8.6.1) */
	if (seq_lt(t->snd_nxt, t->snd_end) && t->snd_una == t->snd_max && !t->t_rtx &&
	    t->snd_wnd < t->smss) {
		t->flags |= TF_PERSIST;
		t->t_rtx = stk->now_us + XT_MAX(t->rto_us, TCP_RTO_MIN_US);
	}
	return sent;
}

void tcp_output(struct stack *stk, struct tcb *t)
{
	uint8_t pend = t->pend;

	t->pend = 0;
	if (pend & PEND_ACK_SOON)
		pend |= PEND_ACK;
	if (pend & PEND_RST) {
		if (t->state != TCPS_CLOSED && t->state != TCPS_LISTEN &&
		    t->state != TCPS_SYN_SENT && t->state != TCPS_TIME_WAIT)
			tcp_emit(stk, t, t->snd_max, TH_RST, 0);
		tcb_done(stk, t, 0);
		return;
	}
	switch (t->state) {
	case TCPS_SYN_SENT:
		if (pend & PEND_SYN)
			tcp_emit_syn(stk, t, 0);
		break;
	case TCPS_SYN_RECEIVED: {
		/* a Fast Open child's data follows its SYN-ACK (Linux, RFC 7413 4.2.2) */
		unsigned sent = 0;

		if (pend & PEND_SYN)
			tcp_emit_syn(stk, t, 1);
		if (t->tfo_child)
			sent = tcp_output_data(stk, t, pend);
		if (!(pend & PEND_SYN) && !sent && (pend & PEND_ACK))
			tcp_emit(stk, t, t->snd_max, 0, 0);
		break;
	}
	case TCPS_CLOSED:
	case TCPS_LISTEN:
		return;
	case TCPS_TIME_WAIT:
		if (pend & PEND_ACK)
			tcp_emit(stk, t, t->snd_max, 0, 0);
		return;
	default: {
		/*
		 * Pure ACKs carry SND.MAX, not a rewound SND.NXT: after go-back-N the
		 * peer may have more of our data than snd_nxt, and an ACK below its
		 * RCV.NXT would be unacceptable there (Linux never rewinds snd_nxt).
		 */
		unsigned sent = tcp_output_data(stk, t, pend);

		if ((pend & PEND_PROBE) && !sent)
			tcp_emit(stk, t, t->snd_una - 1, 0, 0); /* keepalive / window probe */
		else if ((pend & PEND_ACK) && !sent)
			tcp_emit(stk, t, t->snd_max, 0, 0);
		break;
	}
	}
	tcb_timer_update(stk, t);
}

void tcp_output_flush(struct stack *stk, int hold_acks)
{
	struct list_node work, *n;

	if (list_empty(&stk->tx_pending))
		return;
	/* take the list: TCBs re-marked while sending wait for the next flush */
	work.next = stk->tx_pending.next;
	work.prev = stk->tx_pending.prev;
	work.next->prev = &work;
	work.prev->next = &work;
	list_init(&stk->tx_pending);
	while ((n = list_pop(&work)) != NULL) {
		struct tcb *t = container_of(n, struct tcb, tx_node);

		if (hold_acks && t->pend == PEND_ACK_SOON &&
		    (int32_t)((uint32_t)stk->now_us - t->ack_hold_end) < 0) {
			list_add_tail(&stk->tx_pending, &t->tx_node);
			continue;
		}
		tcp_output(stk, t);
	}
}
