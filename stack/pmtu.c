/*
 * pmtu.c - path MTU per destination (RFC 1191) and its effect on TCP.
 *
 * Linux's model: a "fragmentation needed" (ICMPv6 "packet too big", RFC
 * 8201) lowers the path MTU of its destination (a route exception), floored
 * at PMTU_MIN (IPv6: IP6_MIN_MTU), never raised by an ICMP, forgotten
 * PMTU_EXPIRE_US after it was set; every connection to that destination then
 * cuts its segments for the new MTU.
 *
 * In: icmp.c calls pmtu_update() then pmtu_reduced() for the connection the
 * error quoted. tcb_set_mss() reads pmtu_get(); the SYN and SYN-ACK announce
 * an MSS from it. tcp_output_data() calls pmtu_sync() when stk->pmtu_gen
 * moved (another connection's ICMP, or an expiry), stack_poll() calls
 * pmtu_expire() once the earliest entry is due. At each RTO tcp_timer.c calls
 * pmtu_rto_hint() (an MTU the link noted from an ICMP another process got)
 * and pmtu_blackhole(); with STACK_F_MTU_PROBING, tcp_output_data() asks
 * pmtu_probe_len() and tcp_input.c reports the probe's fate (RFC 4821).
 *
 * Memory: a fixed table in struct stack (PMTU_SLOTS), no allocation. It is
 * scanned only for new connections, ICMP errors and changes, never per
 * segment: connections keep their cut MSS and a generation number.
 */
#include "stack_priv.h"

/* The path MTU towards daddr: a learned one, else the link's. */
uint16_t pmtu_get(const struct stack *stk, const struct in6_addr *daddr)
{
	for (unsigned i = 0; stk->n_pmtu && i < PMTU_SLOTS; i++)
		if (stk->pmtu[i].mtu && addr_eq(&stk->pmtu[i].daddr, daddr))
			return stk->pmtu[i].mtu;
	return stk->mtu;
}

static void pmtu_next_exp(struct stack *stk)
{
	stk->pmtu_next_exp = 0;
	for (unsigned i = 0; i < PMTU_SLOTS; i++)
		if (stk->pmtu[i].mtu &&
		    (!stk->pmtu_next_exp || stk->pmtu[i].expires_us < stk->pmtu_next_exp))
			stk->pmtu_next_exp = stk->pmtu[i].expires_us;
}

/*
 * A router says datagrams to daddr must not exceed mtu. Linux
 * __ip_rt_update_pmtu(): an increase is ignored (RFC 1191 6.3: only a timer
 * raises it); below min_pmtu (1280 for IPv6), that is used (an mtu of 0 from an old
 * router too: RFC 1191 5's plateau search is not done, as in Linux); the same
 * value again refreshes the expiry. Returns the path MTU now in force.
 */
uint16_t pmtu_update(struct stack *stk, const struct in6_addr *daddr, uint32_t mtu)
{
	uint16_t cur = pmtu_get(stk, daddr);
	struct pmtu_ent *e = NULL, *oldest = NULL;
	/* IPv6: RFC 8200 5 and Linux rt6_do_update_pmtu(): never below 1280 */
	uint32_t floor = addr_is_v4(daddr) ? PMTU_MIN : IP6_MIN_MTU;

	if (mtu < floor)
		mtu = XT_MIN((uint32_t)cur, floor);
	if (mtu > cur)
		return cur;
	for (unsigned i = 0; i < PMTU_SLOTS && !e; i++) {
		struct pmtu_ent *s = &stk->pmtu[i];

		if (s->mtu && addr_eq(&s->daddr, daddr))
			e = s;
		else if (!oldest || !s->mtu || (oldest->mtu && s->expires_us < oldest->expires_us))
			oldest = s;
	}
	if (!e) {
		e = oldest; /* a free slot, else the one closest to expiry */
		if (!e->mtu)
			stk->n_pmtu++;
		e->daddr = *daddr;
	}
	e->mtu = (uint16_t)mtu;
	e->expires_us = stk->now_us + PMTU_EXPIRE_US;
	pmtu_next_exp(stk);
	if (mtu != cur)
		stk->pmtu_gen++;
	return (uint16_t)mtu;
}

/* Forget path MTUs whose time is over (Linux mtu_expires): connections grow back. */
void pmtu_expire(struct stack *stk)
{
	for (unsigned i = 0; i < PMTU_SLOTS; i++) {
		struct pmtu_ent *e = &stk->pmtu[i];

		if (e->mtu && e->expires_us <= stk->now_us) {
			e->mtu = 0;
			stk->n_pmtu--;
			stk->pmtu_gen++;
		}
	}
	pmtu_next_exp(stk);
}

/*
 * Re-cut t's MSS for its destination's path MTU (Linux tcp_current_mss()
 * comparing icsk_pmtu_cookie with the route's MTU): down after another
 * connection's ICMP, back up after an expiry.
 */
void pmtu_sync(struct stack *stk, struct tcb *t)
{
	t->pmtu_gen = stk->pmtu_gen;
	if (pmtu_get(stk, &t->h.raddr) != t->pmtu)
		tcb_set_mss(stk, t, t->mss_clamp);
}

/*
 * The path to t's peer got smaller (Linux tcp_v4_mtu_reduced()): cut the
 * MSS for it and resend at once what was in flight (tcp_simple_retransmit()):
 * segments cut for the old MSS were dropped by the router, and waiting for
 * the RTO would stall the connection for it. All of SND.UNA..SND.MAX goes
 * again, go-back-N: the ring keeps no segment boundaries, and a segment that
 * got through is only sent twice. The congestion window keeps its size in
 * segments, as Linux's (counted in packets) does: the data in flight did
 * not grow, only its unit shrank.
 */
void pmtu_reduced(struct stack *stk, struct tcb *t)
{
	uint16_t old_smss = t->smss;

	if (t->state == TCPS_LISTEN || t->state == TCPS_CLOSED || t->state == TCPS_TIME_WAIT)
		return;
	if (pmtu_get(stk, &t->h.raddr) >= t->pmtu)
		return; /* this connection already sends small enough segments */
	tcb_set_mss(stk, t, t->mss_clamp);
	t->pmtu_gen = stk->pmtu_gen;
	if (t->state == TCPS_SYN_SENT || t->state == TCPS_SYN_RECEIVED || !old_smss ||
	    t->smss >= old_smss)
		return;
	t->cwnd = XT_MAX((uint32_t)((uint64_t)t->cwnd * t->smss / old_smss), (uint32_t)t->smss);
	if (t->ssthresh < (1u << 30))
		t->ssthresh = XT_MAX((uint32_t)((uint64_t)t->ssthresh * t->smss / old_smss),
				     2u * t->smss);
	if (t->snd_una == t->snd_max || !t->sbuf)
		return;
	if (!(t->flags & TF_LOSS)) {
		/* Linux: ssthresh = tcp_current_ssthresh(), ca_state = Loss, cwnd kept */
		t->ssthresh = XT_MAX(t->ssthresh, t->cwnd / 2 + t->cwnd / 4);
		t->recover = t->snd_max;
		t->flags |= TF_LOSS;
	}
	t->flags &= ~(TF_RECOVERY | TF_RTT);
	t->dupacks = 0;
	t->snd_nxt = t->snd_una;
	t->t_rtx = stk->now_us + t->rto_us;
	tcb_mark(stk, t, PEND_DATA);
}

/*
 * A retransmission timeout: if the link noted a smaller next-hop MTU for t's
 * peer (netdev path_mtu(), path_mtu6(): a "fragmentation needed" or
 * "packet too big" that reached another process's queue, whose stack could
 * not match it), take it now, as that ICMP would have done here.
 * Unvalidated, hence only on an RTO, and with the same floor and expiry as
 * an ICMP of our own.
 */
void pmtu_rto_hint(struct stack *stk, struct tcb *t)
{
	const struct netdev_ops *ops = stk->dev->ops;
	uint32_t mtu = 0;
	uint16_t before, now;
	int r;

	if (addr_is_v4(&t->h.raddr))
		r = ops->path_mtu && t->pmtu > PMTU_MIN
			    ? ops->path_mtu(stk->dev, addr_v4(&t->h.raddr), PMTU_EXPIRE_US, &mtu)
			    : -ENOENT;
	else
		r = ops->path_mtu6 && t->pmtu > IP6_MIN_MTU
			    ? ops->path_mtu6(stk->dev, &t->h.raddr, PMTU_EXPIRE_US, &mtu)
			    : -ENOENT;
	if (r || mtu >= t->pmtu)
		return;
	before = pmtu_get(stk, &t->h.raddr);
	now = pmtu_update(stk, &t->h.raddr, mtu);
	if (now < before)
		stk->st.pmtu_lowered++;
	if (now < t->pmtu) {
		stk->st.pmtu_hints++;
		tcb_set_mss(stk, t, t->mss_clamp); /* the RTO's go-back-N resends at this size */
	}
}

/*
 * RFC 4821 black hole detection, as Linux's tcp_mtu_probing() with
 * tcp_mtu_probing = 1 (STACK_F_MTU_PROBING): from the RTO after
 * PROBE_RETRIES in a row, the path may drop big segments without a word (no
 * ICMP, or the ICMP reaching another process's queue). The first time the
 * search starts with segments of PROBE_BASE_MSS; each further RTO halves the
 * lower bound (not below PROBE_FLOOR). pmtu_probe_len() then probes upwards.
 */
void pmtu_blackhole(struct stack *stk, struct tcb *t)
{
	uint32_t hl = ip_tcp_hlen(&t->h.raddr), m;

	if (!(stk->cfg.flags & STACK_F_MTU_PROBING) || t->retries <= PROBE_RETRIES)
		return;
	if (!t->probe_on) {
		t->probe_on = 1;
		t->probe_low = PROBE_BASE_MSS + hl;
		t->probe_high = (uint16_t)XT_MIN((uint32_t)t->mss_clamp + hl,
						 (uint32_t)pmtu_get(stk, &t->h.raddr));
	} else {
		m = (uint32_t)(t->probe_low - hl) / 2;
		m = XT_MAX(XT_MIN(m, (uint32_t)PROBE_BASE_MSS), (uint32_t)PROBE_FLOOR);
		t->probe_low = (uint16_t)(m + hl);
	}
	if (t->probe_high < t->probe_low)
		t->probe_high = t->probe_low;
	t->probe_cut_us = stk->now_us;
	stk->st.mtu_blackholes++;
	tcb_set_mss(stk, t, t->mss_clamp);
}

/*
 * Linux tcp_mtu_probe(): with the search on, no probe in flight, no loss
 * being repaired and cwnd of 11 segments or more, the next new segment may
 * be a probe of the MTU halfway between probe_low and probe_high. Returns
 * its payload (more than maxseg, the payload of a normal segment), or 0.
 * The search ends when the bounds are within PROBE_THRESH, and starts again
 * from the path MTU PROBE_AGAIN_US later (tcp_mtu_check_reprobe()).
 */
uint32_t pmtu_probe_len(struct stack *stk, struct tcb *t, uint32_t maxseg)
{
	uint32_t hl = ip_tcp_hlen(&t->h.raddr);
	uint32_t top = XT_MIN((uint32_t)t->mss_clamp + hl, (uint32_t)t->pmtu);
	uint32_t mtu, len, opts = t->mss - maxseg;

	if (t->probe_size || (t->flags & (TF_RECOVERY | TF_LOSS)) || t->cwnd < 11u * t->smss)
		return 0;
	if (t->probe_high > top)
		t->probe_high = (uint16_t)top;
	if (t->probe_high < t->probe_low + PROBE_THRESH) {
		if (stk->now_us - t->probe_cut_us < PROBE_AGAIN_US)
			return 0;
		t->probe_high = (uint16_t)top;
		t->probe_cut_us = stk->now_us;
		if (t->probe_high < t->probe_low + PROBE_THRESH)
			return 0;
	}
	mtu = (t->probe_low + t->probe_high + 1u) / 2;
	len = mtu - hl - opts;
	return len > maxseg ? len : 0;
}

/* A probe of len payload bytes left at seq; maxseg as given to pmtu_probe_len(). */
void pmtu_probe_sent(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, uint32_t maxseg)
{
	t->probe_size = (uint16_t)(len + ip_tcp_hlen(&t->h.raddr) + (t->mss - maxseg));
	t->probe_end = seq + len;
	stk->st.mtu_probes++;
}

/* The probe arrived (Linux tcp_mtup_probe_success()): segments grow to its size. */
void pmtu_probe_acked(struct stack *stk, struct tcb *t, uint32_t ack)
{
	if (!seq_geq(ack, t->probe_end))
		return;
	t->probe_low = t->probe_size;
	t->probe_size = 0;
	if (t->probe_high < t->probe_low + PROBE_THRESH)
		t->probe_cut_us = stk->now_us;
	tcb_set_mss(stk, t, t->mss_clamp);
}

/*
 * The probe was lost (Linux tcp_mtup_probe_failed()): the path's MTU is
 * below its size. Loss recovery goes on as for any loss; Linux instead resends
 * without reducing cwnd (a difference: one reduction per failed probe).
 */
void pmtu_probe_lost(struct tcb *t)
{
	if (!t->probe_size)
		return;
	t->probe_high = (uint16_t)(t->probe_size - 1);
	t->probe_size = 0;
}
