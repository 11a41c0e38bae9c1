/*
 * tcp_listen.c - passive open: listeners, half-open mini-sockets, SYN cookies.
 *
 * A SYN to a listener makes a small struct tcp_req (hashed by 4-tuple, on
 * the listener's list, on the timer wheel for SYN-ACK retransmission); the
 * SYN-ACK is sent at once (like a stateless reply). The full TCB is made
 * only when the handshake's ACK arrives; it then goes through
 * tcp_input_synced() (so data or FIN on that ACK are processed) and onto
 * the accept queue. When the SYN queue is full, SYN cookies (Linux's
 * encoding: MSS index in the ISN, window scale/SACK in the low 6 bits of
 * TSval) keep the listener answering without state.
 */
#include "stack_priv.h"

#define COOKIEBITS     24
#define COOKIEMASK     ((1u << COOKIEBITS) - 1)
#define COOKIE_MAX_AGE 2 /* minutes (Linux MAX_SYNCOOKIE_AGE) */
#define TS_OPT_WSCALE  0xfu
#define TS_OPT_SACK    0x10u
#define TS_OPT_ECN     0x20u
#define TSBITS	       6
#define TCP_SYNACK_RTO 1000000u /* TCP_TIMEOUT_INIT */

static const uint16_t msstab[] = {536, 1300, 1440, 1460};

static uint32_t cookie_hash(struct stack *stk, const struct tcp_seg_in *seg, uint32_t count,
			    unsigned c)
{
	uint64_t m[6];
	unsigned n = addr_words(m, &seg->saddr, &seg->daddr);

	m[n++] = (uint64_t)seg->sport << 16 | seg->dport;
	m[n++] = (uint64_t)count << 8 | c;
	return (uint32_t)siphash_words(stk->hkey, m, n);
}

static uint32_t cookie_time(struct stack *stk)
{
	return (uint32_t)(stk->now_us / 60000000u);
}

/*
 * Linux secure_tcp_syn_cookie(): hash + client ISN + minute counter + data.
 * Unlike Linux, the MSS index sits in the top 2 of the 24 data bits
 * (COOKIE_IND_SHIFT): the client's sequence number adds into the cookie, so
 * with Linux's dense encoding a segment starting 1-3 bytes into the stream
 * (the first, small one lost) decodes to a smaller valid index and the
 * connection starts misaligned. With indices 2^22 apart such a segment is
 * recognised (cookie_check() returns -2) and dropped until the first byte is
 * retransmitted.
 */
#define COOKIE_IND_SHIFT 22

static uint32_t cookie_make(struct stack *stk, const struct tcp_seg_in *seg, unsigned mssind)
{
	uint32_t count = cookie_time(stk);

	return cookie_hash(stk, seg, 0, 0) + seg->seq + (count << COOKIEBITS) +
	       ((cookie_hash(stk, seg, count, 1) + (mssind << COOKIE_IND_SHIFT)) & COOKIEMASK);
}

/*
 * Linux check_tcp_syn_cookie(): the MSS index; -2 for a later segment of a
 * cookie connection whose first bytes are missing; -1 for anything else.
 * seg is the third ACK (or the first data segment).
 */
static int cookie_check(struct stack *stk, const struct tcp_seg_in *seg)
{
	uint32_t sseq = seg->seq - 1, cookie = seg->ack - 1, count = cookie_time(stk);

	cookie -= cookie_hash(stk, seg, 0, 0) + sseq;
	uint32_t diff = (count - (cookie >> COOKIEBITS)) & (0xffffffffu >> COOKIEBITS);

	if (diff >= COOKIE_MAX_AGE)
		return -1;
	uint32_t v = (cookie - cookie_hash(stk, seg, count - diff, 1)) & COOKIEMASK;

	for (unsigned i = 0; i < sizeof(msstab) / sizeof(msstab[0]); i++) {
		uint32_t k = ((i << COOKIE_IND_SHIFT) - v) & COOKIEMASK;

		if (k == 0)
			return (int)i;
		if (k <= 65535)
			return -2; /* seq is k bytes into the stream */
	}
	return -1;
}

void tcp_req_free(struct stack *stk, struct tcp_req *r)
{
	tcb_hash_del(&r->h);
	wheel_cancel(&r->tm);
	list_del(&r->lnode);
	if (r->listener)
		r->listener->syn_len--;
	r->listener = NULL;
	list_add_head(&stk->free_reqs, &r->lnode); /* LIFO: reuse what is still in cache */
}

/* Fill a request from a SYN; the caller chose iss and the window shift. */
static void req_from_syn(struct stack *stk, struct tcb *l, struct tcp_req *r,
			 const struct tcp_seg_in *seg)
{
	r->h.laddr = seg->daddr;
	r->h.raddr = seg->saddr;
	r->h.lport = seg->dport;
	r->h.rport = seg->sport;
	r->h.is_req = 1;
	r->listener = l;
	r->irs = seg->seq;
	r->peer_wnd = seg->wnd;
	r->mss = seg->has_mss ? seg->mss : 0;
	r->opts = 0;
	stk_mask_options(stk, (struct tcp_seg_in *)seg);
	if (seg->has_ts) {
		r->opts |= TF_TS;
		r->ts_recent = seg->tsval;
	}
	if (seg->sack_ok)
		r->opts |= TF_SACK;
	if (seg->has_ws) {
		r->opts |= TF_WS;
		r->snd_ws = seg->ws;
		r->rcv_ws = tcp_rcv_wscale(stk, l->rcvbuf, l->rcvbuf_lock);
	} else {
		r->snd_ws = 0;
		r->rcv_ws = 0;
	}
	/*
	 * RFC 3168 6.1.1: an ECN-setup SYN carries ECE and CWR. Linux with
	 * tcp_ecn = 2 (tcp_ecn_create_request()) accepts it unless the SYN
	 * itself is ECT, which a compliant sender never sends.
	 */
	r->ecn_ok = (seg->flags & (TH_ECE | TH_CWR)) == (TH_ECE | TH_CWR) && !seg->ip_ecn &&
		    !(stk->cfg.flags & STACK_F_NO_ECN);
	r->ts_off = tcp_ts_off(stk, &r->h.laddr, &r->h.raddr);
	r->retries = 0;
	r->cookie = 0;
	r->sent_us = stk->now_us;
	r->our_wnd = XT_MIN(buf_ring_size(l->rcvbuf), 65535u);
	r->user_mss = l->user_mss;
	memcpy(r->smac, seg->smac, 6);
}

/* The full TCB of a request, in SYN-RECEIVED on l's accept queue; NULL if none. */
static struct tcb *tcp_child_new(struct stack *stk, struct tcb *l, struct tcp_req *r)
{
	struct tcb *t = tcb_alloc(stk);

	if (!t) {
		stack_drop(stk, DROP_TCP_NO_MEM);
		return NULL;
	}
	t->h.laddr = r->h.laddr;
	t->h.raddr = r->h.raddr;
	t->h.rport = r->h.rport;
	t->inet6 = l->inet6;
	t->v6only = l->v6only;
	t->tclass = l->tclass;
	t->uc_ttl = l->uc_ttl;
	t->uc_hops6 = l->uc_hops6;
	tcb_port_ref(stk, t, r->h.lport);
	t->flags |= r->opts & (TF_TS | TF_SACK | TF_WS);
	if (r->ecn_ok)
		t->flags |= TF_ECN;
	t->flags |= l->flags & (TF_NODELAY | TF_KEEPALIVE | TF_LINGER0);
	t->keepidle_s = l->keepidle_s;
	t->keepintvl_s = l->keepintvl_s;
	t->keepcnt = l->keepcnt;
	t->linger_on = l->linger_on;
	t->linger_s = l->linger_s;
	t->sndbuf = l->sndbuf;
	t->rcvbuf = l->rcvbuf;
	t->rcvbuf_lock = l->rcvbuf_lock;
	t->user_mss = r->user_mss;
	t->notsent_lowat = l->notsent_lowat;
	t->snd_ws = r->snd_ws;
	t->rcv_ws = r->rcv_ws;
	t->ts_recent = r->ts_recent;
	t->ts_recent_us = stk->now_us;
	t->ts_off = r->ts_off;
	t->iss = r->iss;
	t->irs = r->irs;
	t->snd_una = r->iss;
	t->snd_nxt = t->snd_max = t->snd_end = r->iss + 1;
	t->rcv_nxt = t->rcv_user = r->irs + 1;
	t->last_ack_sent = t->rcv_nxt;
	t->snd_wl1 = r->irs;
	t->snd_wnd = r->peer_wnd;
	memcpy(t->dmac, r->smac, 6);
	tcb_set_mss(stk, t, r->mss);
	if (tcb_init_buffers(stk, t) != 0) {
		tcb_release(stk, t);
		stack_drop(stk, DROP_TCP_NO_MEM);
		return NULL;
	}
	/* the SYN-ACK advertised min(space, 65535) unscaled */
	t->rcv_adv = t->rcv_nxt + XT_MIN(t->rmask + 1, 65535u);
	tcb_init_conn(stk, t);
	if (!(t->flags & TF_TS) && r->retries == 0) {
		t->flags |= TF_RTT;
		t->rtt_seq = t->iss + 1;
		t->rtt_start_us = r->sent_us;
	}
	tcb_hash_add(stk, &t->h);
	t->parent = l;
	t->flags |= TF_ACCEPTQ;
	list_add_tail(&l->acceptq, &t->q_node);
	l->acc_len++;
	tcp_set_state(stk, t, TCPS_SYN_RECEIVED);
	stk->st.passive_opens++;
	if (!addr_is_v4(&t->h.raddr))
		stk->st.passive_opens6++;
	return t;
}

/* Make the full TCB of a completed handshake and run the ACK through it. */
static void tcp_child_create(struct stack *stk, struct tcb *l, struct tcp_req *r,
			     struct tcp_seg_in *seg)
{
	if (l->acc_len > l->backlog) {
		stack_drop(stk, DROP_TCP_LISTEN_OVERFLOW); /* Linux: drop, the peer retransmits */
		return;
	}
	struct tcb *t = tcp_child_new(stk, l, r);

	if (!t)
		return;
	tcp_input_synced(stk, t, seg);
	if (t->in_use && t->state != TCPS_CLOSED)
		tcb_timer_update(stk, t);
	if (t->in_use && t->parent == l && t->state != TCPS_SYN_RECEIVED)
		tcb_notify(stk, l);
}

/* RFC 7413 4.1.2: the server's cookie, a MAC of the client's address under the stack's key. */
void tcp_tfo_cookie(const struct stack *stk, const struct in6_addr *saddr,
		    const struct in6_addr *daddr, uint8_t *out)
{
	uint64_t m[5], h;
	unsigned n = addr_words(m, saddr, daddr);

	m[n++] = 0x74666f;
	h = siphash_words(stk->hkey, m, n);
	memcpy(out, &h, TCP_TFO_COOKIE_LEN);
}

/* Fast Open children of l still in SYN-RECEIVED (Linux fastopenq.qlen). */
static uint32_t tfo_pending(struct tcb *l)
{
	struct list_node *n;
	uint32_t k = 0;

	for (n = l->acceptq.next; n != &l->acceptq; n = n->next) {
		struct tcb *c = container_of(n, struct tcb, q_node);

		k += c->tfo_child && c->state == TCPS_SYN_RECEIVED;
	}
	return k;
}

/*
 * RFC 7413 server side, as Linux tcp_try_fastopen() with net.ipv4.tcp_fastopen
 * & 2 and TCP_FASTOPEN on the listener: a SYN with our valid cookie and data
 * makes the connection at once (the data is readable, accept() returns it,
 * the SYN-ACK acknowledges the data); any other SYN with the option gets a
 * fresh cookie in the SYN-ACK and an ordinary handshake (its data is
 * dropped, the client sends it again). Returns 1 when r became a child.
 */
static int tcp_tfo_syn(struct stack *stk, struct tcb *l, struct tcp_req *r,
		       const struct tcp_seg_in *seg)
{
	uint8_t c[TCP_TFO_COOKIE_LEN];
	struct tcb *t;

	if (!seg->has_tfo || !l->tfo_qlen || !(stk->cfg.flags & STACK_F_TFO_SERVER))
		return 0;
	tcp_tfo_cookie(stk, &seg->saddr, &seg->daddr, c);
	if (!seg->len || seg->tfo_len != TCP_TFO_COOKIE_LEN ||
	    memcmp(c, seg->tfo_cookie, sizeof(c)) != 0 || tfo_pending(l) >= l->tfo_qlen ||
	    l->acc_len > l->backlog) {
		r->tfo = 1;
		return 0;
	}
	t = tcp_child_new(stk, l, r);
	if (!t)
		return 0;
	t->tfo_child = 1;
	/* the SYN's data, in order: what fits the window we are about to offer */
	uint32_t n = XT_MIN(seg->len, XT_MIN(t->rmask + 1, 65535u));

	ring_write(t->rbuf, t->rmask, 0, seg->data, n);
	t->rcv_nxt += n;
	t->ti.bytes_received += n;
	t->ti.segs_in++;
	t->ti.data_segs_in++;
	t->ti.lrcv_us = stk->now_us;
	t->rcv_mss = (uint16_t)XT_MAX(n, (uint32_t)t->rcv_mss);
	t->retries = 0;
	t->rto_us = TCP_RTO_INIT_US;
	t->flags &= ~TF_RTT; /* the SYN-ACK timer gives the sample (tcp_emit_syn) */
	tcb_mark(stk, t, PEND_SYN);
	tcb_notify(stk, l); /* accept() has it now */
	stk->st.tfo_accepted++;
	return 1;
}

void tcp_req_input(struct stack *stk, struct tcp_req *r, struct tcp_seg_in *seg)
{
	struct tcb *l = r->listener;

	if (seg->flags & TH_RST) {
		if (seg->seq == r->irs + 1) /* RFC 5961 3.2: exact match only */
			tcp_req_free(stk, r);
		stack_drop(stk, DROP_TCP_RST);
		return;
	}
	if (seg->flags & TH_SYN) {
		if (!(seg->flags & TH_ACK) && seg->seq == r->irs)
			tcp_send_synack(stk, r); /* our SYN-ACK was lost */
		stack_drop(stk, DROP_TCP_SYN);
		return;
	}
	if (!(seg->flags & TH_ACK)) {
		stack_drop(stk, DROP_TCP_ACK);
		return;
	}
	if (seg->ack != r->iss + 1) {
		tcp_send_rst_reply(stk, seg);
		stack_drop(stk, DROP_TCP_ACK);
		return;
	}
	if (!seq_between(seg->seq, r->irs + 1, r->irs + 1 + 65535)) {
		stack_drop(stk, DROP_TCP_SEQ);
		return;
	}
	if ((r->opts & TF_TS) && seg->has_ts && (int32_t)(seg->tsval - r->ts_recent) < 0) {
		stack_drop(stk, DROP_TCP_PAWS);
		return;
	}
	if (l->acc_len > l->backlog) {
		/* Linux: keep the request, drop the ACK; the SYN-ACK retransmission
		 * makes the peer ACK again once accept() made room */
		stack_drop(stk, DROP_TCP_LISTEN_OVERFLOW);
		return;
	}
	struct tcp_req copy = *r;

	copy.listener = NULL;
	tcp_req_free(stk, r);
	tcp_child_create(stk, l, &copy, seg);
}

/* An ACK to a listener with no request: maybe a SYN cookie (Linux cookie_v4_check). */
static int tcp_cookie_ack(struct stack *stk, struct tcb *l, struct tcp_seg_in *seg)
{
	if (!l->cookie_us || stk->now_us - l->cookie_us > 2ull * 60 * 1000000)
		return -1;
	if (seg->flags & (TH_SYN | TH_RST))
		return -1;
	int ind = cookie_check(stk, seg);

	if (ind < 0)
		stk->st.syn_cookies_failed++;
	if (ind == -2) {
		stack_drop(stk, DROP_TCP_COOKIE); /* no RST: the peer resends the first bytes */
		return 0;
	}
	if (ind < 0)
		return -1;
	struct tcp_req r;

	memset(&r, 0, sizeof(r));
	r.h.laddr = seg->daddr;
	r.h.raddr = seg->saddr;
	r.h.lport = seg->dport;
	r.h.rport = seg->sport;
	r.iss = seg->ack - 1;
	r.irs = seg->seq - 1;
	r.mss = msstab[ind];
	r.peer_wnd = seg->wnd;
	r.retries = 1; /* no RTT sample from the SYN-ACK */
	r.user_mss = l->user_mss;
	r.ts_off = tcp_ts_off(stk, &r.h.laddr, &r.h.raddr);
	memcpy(r.smac, seg->smac, 6);
	if (seg->has_ts && seg->tsecr) {
		uint32_t opt = seg->tsecr & ((1u << TSBITS) - 1);

		r.opts |= TF_TS;
		r.ts_recent = seg->tsval;
		if (opt & TS_OPT_SACK)
			r.opts |= TF_SACK;
		r.ecn_ok = (opt & TS_OPT_ECN) && !(stk->cfg.flags & STACK_F_NO_ECN);
		if ((opt & TS_OPT_WSCALE) != TS_OPT_WSCALE) {
			if ((opt & TS_OPT_WSCALE) > 14)
				return -1;
			r.opts |= TF_WS;
			r.snd_ws = (uint8_t)(opt & TS_OPT_WSCALE);
			r.rcv_ws = tcp_rcv_wscale(stk, l->rcvbuf, l->rcvbuf_lock);
		}
	}
	stk->st.syn_cookies_ok++;
	tcp_child_create(stk, l, &r, seg);
	return 0;
}

static void tcp_send_cookie(struct stack *stk, struct tcb *l, struct tcp_seg_in *seg)
{
	struct tcp_req r;
	unsigned ind = 0;
	uint16_t mss = seg->has_mss ? seg->mss : TCP_MSS_NOOPT;

	for (unsigned i = sizeof(msstab) / sizeof(msstab[0]); i-- > 0;)
		if (mss >= msstab[i]) {
			ind = i;
			break;
		}
	memset(&r, 0, sizeof(r));
	req_from_syn(stk, l, &r, seg);
	r.listener = NULL;
	r.mss = msstab[ind];
	if (!seg->has_ts) {
		r.opts = 0; /* Linux: without timestamps no option survives a cookie */
		r.ecn_ok = 0;
	}
	r.iss = cookie_make(stk, seg, ind);
	r.cookie = 1;
	l->cookie_us = stk->now_us;
	stk->st.syn_cookies_sent++;
	tcp_send_synack(stk, &r);
}

int tcp_listen_input(struct stack *stk, struct tcb *l, struct tcp_seg_in *seg)
{
	if (seg->flags & TH_RST) {
		stack_drop(stk, DROP_TCP_RST);
		return 0;
	}
	if (seg->flags & TH_ACK) {
		if (seg->flags & TH_SYN) {
			tcp_send_rst_reply(stk, seg);
			stack_drop(stk, DROP_TCP_COOKIE);
			return 0;
		}
		return tcp_cookie_ack(stk, l, seg) != 0;
	}
	if (!(seg->flags & TH_SYN)) {
		stack_drop(stk, DROP_TCP_FLAGS);
		return 0;
	}
	if (l->acc_len > l->backlog) {
		stack_drop(stk, DROP_TCP_LISTEN_OVERFLOW); /* Linux: accept queue full, drop SYN */
		return 0;
	}
	struct list_node *n = NULL;

	if (l->syn_len < stk->cfg.max_syn_queue) {
		n = list_pop(&stk->free_reqs);
		if (!n && stk->req_fresh < stk->nreq)
			n = &stk->reqs[stk->req_fresh++].lnode;
	}
	if (!n) {
		tcp_send_cookie(stk, l, seg);
		return 0;
	}
	struct tcp_req *r = container_of(n, struct tcp_req, lnode);

	memset(&r->h, 0, sizeof(r->h));
	req_from_syn(stk, l, r, seg);
	r->iss = seg->tw_isn ? seg->tw_isn
			     : tcp_isn(stk, &r->h.laddr, r->h.lport, &r->h.raddr, r->h.rport);
	r->tfo = 0;
	if (tcp_tfo_syn(stk, l, r, seg)) {
		list_add_head(&stk->free_reqs, &r->lnode); /* a full TCB took its place */
		return 0;
	}
	r->tm.is_req = 1;
	r->tm.when_ms = 0;
	list_init(&r->tm.node);
	tcb_hash_add(stk, &r->h);
	list_add_tail(&l->reqs, &r->lnode);
	l->syn_len++;
	tcp_send_synack(stk, r);
	wheel_arm(stk, &r->tm, stk->now_us + TCP_SYNACK_RTO);
	return 0;
}

void tcp_req_timer(struct stack *stk, struct tcp_req *r)
{
	if (++r->retries > TCP_SYNACK_RETRIES) {
		tcp_req_free(stk, r);
		return;
	}
	tcp_send_synack(stk, r);
	wheel_arm(stk, &r->tm, stk->now_us + ((uint64_t)TCP_SYNACK_RTO << r->retries));
}

/* Listener closing: forget half-open requests, reset children never accepted. */
void tcp_listen_close(struct stack *stk, struct tcb *l)
{
	struct list_node *n;

	while (!list_empty(&l->reqs))
		tcp_req_free(stk, container_of(l->reqs.next, struct tcp_req, lnode));
	while ((n = list_pop(&l->acceptq)) != NULL) {
		struct tcb *c = container_of(n, struct tcb, q_node);

		c->flags &= ~TF_ACCEPTQ;
		l->acc_len--;
		if (c->state != TCPS_CLOSED && c->state != TCPS_TIME_WAIT)
			tcp_send_ctl(stk, c, TH_RST | TH_ACK, c->snd_max);
		c->parent = NULL;
		c->flags |= TF_ORPHAN;
		tcb_release(stk, c);
	}
	if (stk->listen_sd[l->h.lport] == l->sd + 1)
		stk->listen_sd[l->h.lport] = 0;
	if (stk->listen6_sd[l->h.lport] == l->sd + 1)
		stk->listen6_sd[l->h.lport] = 0;
}
