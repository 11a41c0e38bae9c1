/*
 * tcp_tcb.c - TCB life cycle: pool, 4-tuple hash, state, marks, events.
 *
 * tcb_alloc() takes a slot from the preallocated pool (recycling the oldest
 * TIME-WAIT TCB when the pool is empty, as Linux's tw bucket limit does);
 * tcb_release() returns it. tcp_set_state() is the only writer of
 * tcb->state: it keeps the hash and the TIME-WAIT FIFO in step with the
 * state. tcb_mark() queues output work, tcb_notify() queues a readiness
 * callback; both lists are drained once per stack_poll().
 *
 * Also here: keyed ISNs (RFC 6528), timestamp offsets, the window shift and
 * MSS choice.
 */
#include "stack_priv.h"

uint64_t stack_rand(struct stack *stk)
{
	uint64_t x = stk->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	stk->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/*
 * Bucket of a 4-tuple: a keyed multiply-xorshift mix (two rounds of the
 * splitmix64 finaliser over the tuple xor the secret). Much cheaper than
 * SipHash on every segment; the key still keeps bucket choice unpredictable
 * to a peer. SipHash stays for ISNs, cookies and ports, which must not leak
 * the secret.
 */
static uint32_t tuple_hash(struct stack *stk, const struct in6_addr *la, uint16_t lport,
			   const struct in6_addr *ra, uint16_t rport)
{
	/* an IPv6 address folds to one word; an IPv4 one is that word (v4-mapped: the rest
	 * is the constant ::ffff prefix) */
	uint32_t laddr = addr_v4(la), raddr = addr_v4(ra);

	if (!addr_is_v4(la) || !addr_is_v4(ra)) {
		uint32_t w[8];

		memcpy(w, la->s6_addr, 16);
		memcpy(w + 4, ra->s6_addr, 16);
		laddr = w[0] ^ w[1] ^ w[2] ^ w[3];
		raddr = w[4] ^ w[5] ^ w[6] ^ w[7] ^ 0x6;
	}
	uint64_t x = ((uint64_t)raddr << 32 | (uint32_t)rport << 16 | lport) ^ stk->hkey[0];

	x ^= (uint64_t)laddr << 13;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x ^= stk->hkey[1];
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return (uint32_t)(x ^ (x >> 31));
}

void tcb_hash_add(struct stack *stk, struct tcp_hent *h)
{
	uint32_t b = tuple_hash(stk, &h->laddr, h->lport, &h->raddr, h->rport) & stk->hmask;
	struct tcp_hent **head = &stk->htab[b];

	h->hnext = *head;
	if (*head)
		(*head)->hpprev = &h->hnext;
	h->hpprev = head;
	*head = h;
}

void tcb_hash_del(struct tcp_hent *h)
{
	if (!h->hpprev)
		return;
	*h->hpprev = h->hnext;
	if (h->hnext)
		h->hnext->hpprev = h->hpprev;
	h->hnext = NULL;
	h->hpprev = NULL;
}

struct tcp_hent *tcb_lookup(struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
			    const struct in6_addr *raddr, uint16_t rport)
{
	uint32_t b = tuple_hash(stk, laddr, lport, raddr, rport) & stk->hmask;

	for (struct tcp_hent *h = stk->htab[b]; h; h = h->hnext)
		if (h->rport == rport && h->lport == lport && addr_eq(&h->raddr, raddr) &&
		    addr_eq(&h->laddr, laddr))
			return h;
	return NULL;
}

struct tcb *tcb_alloc(struct stack *stk)
{
	struct list_node *n = list_pop(&stk->free_tcbs);

	if (!n && stk->tcb_fresh < stk->ntcb) {
		struct tcb *f = &stk->tcbs[stk->tcb_fresh];

		f->sd = (int)stk->tcb_fresh++;
		n = &f->q_node;
	}
	if (!n && !list_empty(&stk->timewait)) {
		/* pool full: recycle the oldest TIME-WAIT (Linux: tw bucket overflow) */
		struct tcb *old = container_of(stk->timewait.next, struct tcb, q_node);

		if (old->flags & TF_ORPHAN) {
			tcb_release(stk, old);
			n = list_pop(&stk->free_tcbs);
		}
	}
	if (!n)
		return NULL;
	struct tcb *t = container_of(n, struct tcb, q_node);
	int sd = t->sd;

	memset(t, 0, sizeof(*t));
	t->sd = sd;
	t->in_use = 1;
	t->state = TCPS_CLOSED;
	list_init(&t->tx_node);
	list_init(&t->ev_node);
	list_init(&t->q_node);
	list_init(&t->tm.node);
	list_init(&t->acceptq);
	list_init(&t->reqs);
	t->sndbuf = stk->cfg.sndbuf;
	t->rcvbuf = stk->cfg.rcvbuf;
	t->keepidle_s = TCP_KEEPIDLE_S;
	t->keepintvl_s = TCP_KEEPINTVL_S;
	t->keepcnt = TCP_KEEPCNT_DEF;
	t->rto_us = TCP_RTO_INIT_US;
	t->uc_ttl = t->uc_hops6 = -1;
	stk->st.socks_in_use++;
	return t;
}

static void tcb_free_buffers(struct stack *stk, struct tcb *t)
{
	if (t->sbuf) {
		buf_put(stk, t->sbuf, t->smask + 1);
		t->sbuf = NULL;
	}
	if (t->rbuf) {
		buf_put(stk, t->rbuf, t->rmask + 1);
		t->rbuf = NULL;
	}
	tcp_rack_free(stk, t);
}

void tcb_release(struct stack *stk, struct tcb *t)
{
	XT_ASSERT(t->in_use);
	if (t->state == TCPS_LISTEN)
		tcp_listen_close(stk, t);
	tcb_hash_del(&t->h);
	wheel_cancel(&t->tm);
	if (!list_unlinked(&t->tx_node))
		list_del(&t->tx_node);
	if (!list_unlinked(&t->ev_node))
		list_del(&t->ev_node);
	if (!list_unlinked(&t->q_node)) {
		list_del(&t->q_node);
		if ((t->flags & TF_ACCEPTQ) && t->parent)
			t->parent->acc_len--;
	}
	if ((t->flags & TF_BOUND) && (t->fams & AFM_V4))
		stk->port_refs[t->h.lport]--;
	if ((t->flags & TF_BOUND) && (t->fams & AFM_V6))
		stk->port_refs6[t->h.lport]--;
	tcb_free_buffers(stk, t);
	t->in_use = 0;
	t->state = TCPS_CLOSED;
	t->flags = 0;
	t->fams = 0;
	list_add_head(&stk->free_tcbs, &t->q_node); /* LIFO: reuse what is still in cache */
	stk->st.socks_in_use--;
}

/* t->fams says for which families (sock.c sets it at bind; 0: as its address says). */
void tcb_port_ref(struct stack *stk, struct tcb *t, uint16_t port)
{
	if (!t->fams)
		t->fams = addr_is_v4(&t->h.raddr) ? AFM_V4 : AFM_V6;
	t->h.lport = port;
	t->flags |= TF_BOUND;
	if (t->fams & AFM_V4)
		stk->port_refs[port]++;
	if (t->fams & AFM_V6)
		stk->port_refs6[port]++;
}

void tcp_set_state(struct stack *stk, struct tcb *t, int state)
{
	int old = t->state;

	if (old == state)
		return;
	t->state = (uint8_t)state;
	if (old == TCPS_TIME_WAIT && !list_unlinked(&t->q_node))
		list_del(&t->q_node);
	switch (state) {
	case TCPS_ESTABLISHED:
		if (!(t->flags & TF_CONNECTED))
			tcp_info_established(stk, t);
		t->flags |= TF_CONNECTED;
		break;
	case TCPS_TIME_WAIT:
		/* RFC 9293 3.10.7.4: 2 MSL; Linux uses a fixed 60 s in a FIFO */
		t->t_rtx = t->t_delack = t->t_keep = t->t_misc = 0;
		wheel_cancel(&t->tm);
		t->tw_until = stk->now_us + TCP_TIMEWAIT_US;
		if (!list_unlinked(&t->q_node))
			list_del(&t->q_node);
		list_add_tail(&stk->timewait, &t->q_node);
		if (t->sbuf) {
			buf_put(stk, t->sbuf, t->smask + 1);
			t->sbuf = NULL;
		}
		tcp_rack_free(stk, t);
		if (t->rbuf && (t->flags & TF_ORPHAN)) { /* nobody reads any more */
			buf_put(stk, t->rbuf, t->rmask + 1);
			t->rbuf = NULL;
		}
		break;
	case TCPS_CLOSED:
		tcb_hash_del(&t->h);
		break;
	default:
		break;
	}
	tcb_notify(stk, t);
}

void tcb_mark(struct stack *stk, struct tcb *t, uint8_t pend)
{
	t->pend |= pend;
	if (list_unlinked(&t->tx_node))
		list_add_tail(&stk->tx_pending, &t->tx_node);
}

void tcb_notify(struct stack *stk, struct tcb *t)
{
	if (t->flags & TF_ORPHAN)
		return;
	if ((t->flags & TF_ACCEPTQ) && t->parent) {
		tcb_notify(stk, t->parent); /* not yet visible to the app */
		return;
	}
	if (stk->cfg.on_event && list_unlinked(&t->ev_node))
		list_add_tail(&stk->ev_pending, &t->ev_node);
}

void tcb_events_flush(struct stack *stk)
{
	struct list_node *n;

	if (stk->in_events)
		return; /* the running loop below picks up new entries */
	stk->in_events = 1;
	while ((n = list_pop(&stk->ev_pending)) != NULL) {
		struct tcb *t = container_of(n, struct tcb, ev_node);

		stk->cfg.on_event(stk->cfg.event_ctx, t->sd);
	}
	stk->in_events = 0;
}

void tcb_timer_update(struct stack *stk, struct tcb *t)
{
	uint64_t dl = UINT64_MAX;

	if (t->t_rtx && t->t_rtx < dl)
		dl = t->t_rtx;
	if (t->t_delack && t->t_delack < dl)
		dl = t->t_delack;
	if (t->t_keep && t->t_keep < dl)
		dl = t->t_keep;
	if (t->t_misc && t->t_misc < dl)
		dl = t->t_misc;
	if (t->t_reo && t->t_reo < dl)
		dl = t->t_reo;
	if (dl != UINT64_MAX)
		wheel_arm(stk, &t->tm, dl);
}

int tcb_init_buffers(struct stack *stk, struct tcb *t)
{
	uint32_t ss = buf_ring_size(t->sndbuf), rs = buf_ring_size(t->rcvbuf);

	if (!t->sbuf) {
		t->sbuf = buf_get(stk, ss);
		t->smask = ss - 1;
	}
	if (!t->rbuf) {
		t->rbuf = buf_get(stk, rs);
		t->rmask = rs - 1;
	}
	if (!t->sbuf || !t->rbuf) {
		tcb_free_buffers(stk, t);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The words of an address pair for the keyed hashes (ISNs, timestamp
 * offsets, cookies, ports): an IPv4 pair packs into one word, exactly as
 * before IPv6 (so IPv4 ISNs, cookies and ports stay what they were); an
 * IPv6 pair (or a mixed one) takes all 32 bytes. m has room for 4; returns
 * the count.
 */
unsigned addr_words(uint64_t *m, const struct in6_addr *a, const struct in6_addr *b)
{
	if (addr_is_v4(a) && addr_is_v4(b)) {
		m[0] = (uint64_t)addr_v4(a) << 32 | addr_v4(b);
		return 1;
	}
	memcpy(m, a->s6_addr, 16);
	memcpy(m + 2, b->s6_addr, 16);
	return 4;
}

uint32_t tcp_isn(struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
		 const struct in6_addr *raddr, uint16_t rport)
{
	uint64_t m[6];
	unsigned n = addr_words(m, laddr, raddr);

	m[n++] = (uint64_t)lport << 16 | rport;
	m[n++] = 0x15e;
	/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 us clock */
	return (uint32_t)siphash_words(stk->hkey, m, n) + (uint32_t)(stk->now_us / 4);
}

uint32_t tcp_ts_off(struct stack *stk, const struct in6_addr *laddr, const struct in6_addr *raddr)
{
	uint64_t m[5];
	unsigned n = addr_words(m, laddr, raddr);

	m[n++] = 0x75;
	return (uint32_t)siphash_words(stk->tskey, m, n);
}

/*
 * Our window shift, as Linux tcp_select_initial_window(): from the largest
 * window we may offer, ilog2(space) - 15 within 0..14. While receive
 * autotuning is on that is tcp_rmem[2] (default 6 MiB: shift 7); once the
 * app set SO_RCVBUF it is the window that buffer gives Linux, half of it
 * (tcp_full_space() with the default scaling ratio).
 */
uint8_t tcp_rcv_wscale(const struct stack *stk, uint32_t rcvbuf, int locked)
{
	uint32_t space = locked ? rcvbuf / 2 : stk->cfg.rmem_max;
	int l = 31 - __builtin_clz(XT_MAX(space, 1u)) - 15;

	return (uint8_t)(l < 0 ? 0 : l > 14 ? 14 : l);
}

/*
 * The MSS we announce to raddr: its path MTU's (pmtu.c), or less by
 * TCP_MAXSEG (Linux tcp_mss_clamp()).
 */
uint16_t tcp_mss_ours(const struct stack *stk, const struct in6_addr *raddr, uint16_t user_mss)
{
	uint16_t m = ip_mss_own(stk, raddr);

	return user_mss && user_mss < m ? user_mss : m;
}

/* MSS of t: the peer's option, cut for the path MTU to it (pmtu.c) and TCP_MAXSEG. */
void tcb_set_mss(struct stack *stk, struct tcb *t, uint16_t peer_mss)
{
	uint16_t pmtu = pmtu_get(stk, &t->h.raddr);
	uint16_t own = tcp_mss_ours(stk, &t->h.raddr, t->user_mss);
	uint16_t m = peer_mss ? peer_mss : TCP_MSS_NOOPT;

	t->mss_clamp = m;
	t->pmtu = pmtu;
	t->pmtu_gen = stk->pmtu_gen;
	if (m > own)
		m = own;
	if (t->probe_on && m > t->probe_low - ip_tcp_hlen(&t->h.raddr))
		m = (uint16_t)(t->probe_low -
			       ip_tcp_hlen(&t->h.raddr)); /* RFC 4821 search (pmtu.c) */
	if (m < 64)
		m = 64; /* Linux tcp_min_snd_mss: no tiny-segment floods */
	t->mss = m;
	t->smss = (uint16_t)(m - ((t->flags & TF_TS) ? 12 : 0));
}

/* Connection-wide setup once addresses and options are known. */
void tcb_init_conn(struct stack *stk, struct tcb *t)
{
	uint16_t proto = be16(IPPROTO_TCP_NR);

	t->ph_sum = addr_csum(&t->h.laddr) + addr_csum(&t->h.raddr) + proto;
	t->flowlabel = addr_is_v4(&t->h.raddr) ? 0
					       : ip6_flowlabel(stk, &t->h.laddr, t->h.lport,
							       &t->h.raddr, t->h.rport);
	t->last_rx_us = stk->now_us;
	t->quickack = TCP_QUICKACKS;
	tcp_cc_init(stk, t);
}

/*
 * The connection is over (reset, timeout, or fully closed): Linux tcp_done().
 * Reads return queued data, then the error or EOF; an orphan is released.
 */
void tcb_done(struct stack *stk, struct tcb *t, int err)
{
	if (err)
		t->err = err;
	t->shut = SHUT_RCV | SHUT_SND;
	t->flags |= TF_DONE;
	t->t_rtx = t->t_delack = t->t_keep = t->t_misc = 0;
	wheel_cancel(&t->tm);
	t->pend = 0;
	if (!list_unlinked(&t->tx_node))
		list_del(&t->tx_node);
	tcp_set_state(stk, t, TCPS_CLOSED);
	if (t->sbuf) {
		buf_put(stk, t->sbuf, t->smask + 1);
		t->sbuf = NULL;
	}
	tcp_rack_free(stk, t);
	if ((t->flags & TF_ORPHAN) || t->parent)
		tcb_release(stk, t); /* nobody can read it: orphan, or child not accepted */
}

/* Expire TIME-WAIT TCBs whose time is over (FIFO order = expiry order). */
void tcb_time_wait_reap(struct stack *stk)
{
	while (!list_empty(&stk->timewait)) {
		struct tcb *t = container_of(stk->timewait.next, struct tcb, q_node);

		if (t->tw_until > stk->now_us)
			break;
		list_del(&t->q_node);
		if (t->flags & TF_ORPHAN)
			tcb_release(stk, t);
		else
			tcb_done(stk, t, 0);
	}
}
