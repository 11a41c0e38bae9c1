/*
 * sock.c - the socket API of stack.h, as the shim drives it.
 *
 * Each function validates the sd and its arguments, acts on the TCB and
 * marks output work (tcb_mark); nothing is sent from here: the next
 * stack_poll()/stack_flush() emits it. Errors are -errno with Linux's
 * values for the same situation (notes inline cite the Linux function whose
 * behaviour is copied). Readiness follows Linux tcp_poll().
 * Memory: a send that finds the ring full may swap it for one twice the
 * size (sbuf_autotune(), from the stack's buffer cache); nothing else here
 * allocates.
 */
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "stack_priv.h"

#define SOMAXCONN_LINUX 4096

/* Any slot in use, orphans included (for introspection). */
static struct tcb *tcb_any(struct stack *stk, int sd)
{
	if (sd < 0 || (unsigned)sd >= stk->tcb_fresh || !stk->tcbs[sd].in_use ||
	    (stk->tcbs[sd].flags & TF_FORGOTTEN))
		return NULL;
	return &stk->tcbs[sd];
}

static uint32_t rcv_data_end(const struct tcb *t)
{
	if ((t->flags & TF_FIN_RCVD) && seq_gt(t->rcv_nxt, t->fin_seq))
		return t->fin_seq;
	return t->rcv_nxt;
}

static uint32_t rx_avail(const struct tcb *t)
{
	if (!t->rbuf || t->state == TCPS_LISTEN || t->state == TCPS_SYN_SENT)
		return 0;
	uint32_t end = rcv_data_end(t);

	return seq_gt(end, t->rcv_user) ? end - t->rcv_user : 0;
}

static uint32_t tx_queued(const struct tcb *t)
{
	if (t->state == TCPS_LISTEN || t->state == TCPS_SYN_SENT)
		return 0;
	return seq_gt(t->snd_end, t->snd_una) ? t->snd_end - t->snd_una : 0;
}

/*
 * Room for the app: SO_SNDBUF bytes queued at most, as Linux's
 * sk_wmem_queued < sk_sndbuf (the ring is the power of two above it). An
 * autotuned ring (larger than the setting) is the limit itself.
 */
static uint32_t tx_free(const struct tcb *t)
{
	if (!t->sbuf)
		return 0;
	uint32_t q = tx_queued(t), size = t->smask + 1;

	if (size <= buf_ring_size(t->sndbuf))
		size = XT_MIN(size, t->sndbuf);
	return q < size ? size - q : 0;
}

static uint32_t tx_notsent(const struct tcb *t)
{
	return seq_gt(t->snd_end, t->snd_nxt) ? t->snd_end - t->snd_nxt : 0;
}

/* Linux tcp_stream_memory_free(): with TCP_NOTSENT_LOWAT, unsent bytes below it. */
static int tx_lowat_ok(const struct tcb *t)
{
	return !t->notsent_lowat || tx_notsent(t) < t->notsent_lowat;
}

/*
 * What a write may still queue under TCP_NOTSENT_LOWAT. Linux checks the
 * limit only when it starts a new skb (tcp_sendmsg_locked()): past the mark
 * a write still fills the last unsent skb, whose size goal is ~64 KiB (or
 * half the largest window) in whole segments (tcp_xmit_size_goal()).
 */
static uint32_t tx_lowat_room(const struct tcb *t)
{
	uint32_t mss = t->smss ? t->smss : TCP_MSS_NOOPT, goal, tail;

	if (tx_lowat_ok(t))
		return UINT32_MAX;
	goal = XT_MIN(65535u - 1 - 320, XT_MAX(t->max_snd_wnd / 2, mss)); /* MAX_TCP_HEADER */
	goal = XT_MAX(goal / mss, 1u) * mss;
	tail = tx_notsent(t) % goal;
	return tail ? goal - tail : 0;
}

static int sock_take_err(struct tcb *t)
{
	int e = t->err;

	t->err = 0;
	return e;
}

int sock_socket(struct stack *stk)
{
	struct tcb *t = tcb_alloc(stk);

	if (!t)
		return -ENFILE;
	return t->sd;
}

/* An AF_INET6 socket: IPV6_V6ONLY off, as Linux's default net.ipv6.bindv6only = 0. */
int sock_socket6(struct stack *stk)
{
	struct tcb *t = tcb_alloc(stk);

	if (!t)
		return -ENFILE;
	t->inet6 = 1;
	return t->sd;
}

/* Port free for t's families (t->fams): IPv4 and a v6-only IPv6 binding do not meet. */
static int port_free_for(struct stack *stk, struct tcb *t, uint16_t port)
{
	int reuse = !!(t->flags & TF_REUSEADDR);

	if ((t->fams & AFM_V4) && (stk->listen_sd[port] || (stk->port_refs[port] && !reuse)))
		return 0;
	if ((t->fams & AFM_V6) && (stk->listen6_sd[port] || (stk->port_refs6[port] && !reuse)))
		return 0;
	return 1;
}

/* The families an AF_INET6 binding to a covers (Linux inet6_bind(), ipv6_only_sock()). */
static uint8_t bind_fams(const struct tcb *t, const struct in6_addr *a)
{
	if (!t->inet6 || addr_is_v4(a))
		return AFM_V4;
	if (addr_is_unspec(a) && !t->v6only)
		return AFM_V4 | AFM_V6;
	return AFM_V6;
}

/* The range, as normalised once by stack_create(). */
static void local_range(struct stack *stk, uint32_t *lo, uint32_t *hi, uint32_t *step,
			uint32_t *rem)
{
	*lo = stk->cfg.local_port_min;
	*hi = stk->cfg.local_port_max;
	*step = stk->cfg.local_port_step;
	*rem = stk->cfg.local_port_rem;
}

/* Linux tcp_twsk_unique() (tcp_tw_reuse): a TIME-WAIT tuple with timestamps
 * may be reused by connect() once 1 s has passed; PAWS guards the rest. */
static int tw_reusable(struct stack *stk, struct tcp_hent *h)
{
	struct tcb *o = (struct tcb *)h;

	return !h->is_req && o->state == TCPS_TIME_WAIT && (o->flags & TF_TS) &&
	       (o->flags & TF_ORPHAN) && stk->now_us + TCP_TIMEWAIT_US - o->tw_until >= 1000000;
}

/*
 * RFC 6056 Algorithm 3 (hash + counter) over the ports p of the range with
 * p % step == rem. raddr/rport 0 for bind(port 0). Returns 0 and the port.
 */
static int port_pick(struct stack *stk, struct tcb *t, const struct in6_addr *laddr,
		     const struct in6_addr *raddr, uint16_t rport, uint16_t *out)
{
	static const struct in6_addr any6;
	struct in6_addr any4 = addr_from_v4(0);
	const struct in6_addr *hr = raddr ? raddr : addr_is_v4(laddr) ? &any4 : &any6;
	uint32_t lo, hi, step, rem;

	local_range(stk, &lo, &hi, &step, &rem);
	uint32_t first = lo + ((rem + step - lo % step) % step);

	if (first > hi)
		return -EADDRNOTAVAIL;
	uint32_t n = (hi - first) / step + 1;
	uint64_t m[5];
	unsigned nm = addr_words(m, laddr, hr);

	m[nm++] = (uint64_t)rport << 8 | 0x6056;
	uint32_t off = (uint32_t)siphash_words(stk->hkey, m, nm);

	for (uint32_t k = 0; k < n; k++) {
		uint32_t idx = (off + stk->port_next + k) % n;
		uint16_t p = (uint16_t)(first + idx * step);

		if (((t->fams & AFM_V4) && stk->listen_sd[p]) ||
		    ((t->fams & AFM_V6) && stk->listen6_sd[p]))
			continue;
		if (raddr) {
			struct tcp_hent *h = tcb_lookup(stk, laddr, p, raddr, rport);

			if (h) {
				struct tcb *o = (struct tcb *)h;

				if (!tw_reusable(stk, h))
					continue;
				tcb_release(stk, o);
			}
		} else if (((t->fams & AFM_V4) && stk->port_refs[p]) ||
			   ((t->fams & AFM_V6) && stk->port_refs6[p])) {
			continue;
		}
		stk->port_next += k + 1;
		*out = p;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

/* A caller's address in the stack's form: port host order, scope 0 for IPv4. */
struct sock_sa {
	struct in6_addr addr;
	uint16_t port;
	uint32_t scope_id;
};

/*
 * The caller's sockaddr in the stack's form: sockaddr_in for an AF_INET
 * socket (stored v4-mapped), sockaddr_in6 for an AF_INET6 one (whose
 * v4-mapped addresses are IPv4 already). Linux refuses the other family with
 * EAFNOSUPPORT.
 */
static int sa_in(const struct tcb *t, const void *sa, int family, struct sock_sa *o)
{
	if (!sa)
		return -EFAULT;
	if (family == AF_INET) {
		const struct sockaddr_in *s = sa;

		if (s->sin_family != AF_INET || t->inet6)
			return -EAFNOSUPPORT;
		addr_set_v4(&o->addr, s->sin_addr.s_addr);
		o->port = be16(s->sin_port);
		o->scope_id = 0;
		return 0;
	}
	const struct sockaddr_in6 *s6 = sa;

	if (s6->sin6_family != AF_INET6 || !t->inet6)
		return -EAFNOSUPPORT;
	o->addr = s6->sin6_addr;
	o->port = be16(s6->sin6_port);
	o->scope_id = s6->sin6_scope_id;
	return 0;
}

/* bind() of either family once the address is in the stack's form (a, port host order). */
static int sock_bind_addr(struct stack *stk, struct tcb *t, const struct in6_addr *a, uint16_t port)
{
	if ((t->flags & TF_BOUND) || t->state != TCPS_CLOSED)
		return -EINVAL;
	if (!addr_is_any(a) && !ip_is_local(stk, a))
		return -EADDRNOTAVAIL;
	t->fams = bind_fams(t, a);
	if (port == 0) {
		int r = port_pick(stk, t, a, NULL, 0, &port);

		if (r) {
			t->fams = 0;
			return -EADDRINUSE;
		}
	} else if (!port_free_for(stk, t, port)) {
		t->fams = 0;
		return -EADDRINUSE;
	}
	t->h.laddr = *a;
	tcb_port_ref(stk, t, port);
	return 0;
}

/*
 * Linux inet_bind() and inet6_bind(): a v4-mapped address binds IPv4
 * (refused with IPV6_V6ONLY); a link-local one needs the interface as scope
 * id. Neither can come from an AF_INET socket.
 */
static int sock_bind_sa(struct stack *stk, int sd, const void *sa, int family)
{
	struct tcb *t = tcb_of_sd(stk, sd);
	struct sock_sa a;
	int r;

	if (!t)
		return -EBADF;
	if ((r = sa_in(t, sa, family, &a)) != 0)
		return r;
	if (addr_is_v4(&a.addr) && t->v6only)
		return -EINVAL;
	if (addr_is_linklocal(&a.addr) &&
	    (a.scope_id == 0 || (int)a.scope_id != stk->dev->info.ifindex))
		return a.scope_id ? -ENODEV : -EINVAL;
	return sock_bind_addr(stk, t, &a.addr, a.port);
}

int sock_bind(struct stack *stk, int sd, const struct sockaddr_in *addr)
{
	return sock_bind_sa(stk, sd, addr, AF_INET);
}

int sock_bind6(struct stack *stk, int sd, const struct sockaddr_in6 *addr)
{
	return sock_bind_sa(stk, sd, addr, AF_INET6);
}

int sock_listen(struct stack *stk, int sd, int backlog)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (backlog < 0)
		backlog = 0;
	if (backlog > SOMAXCONN_LINUX)
		backlog = SOMAXCONN_LINUX;
	if (t->state == TCPS_LISTEN) {
		t->backlog = (uint32_t)backlog;
		return 0;
	}
	if (t->state != TCPS_CLOSED || (t->flags & (TF_CONNECTED | TF_DONE)))
		return -EINVAL;
	if (!(t->flags & TF_BOUND)) {
		static const struct in6_addr any6;
		struct in6_addr any = t->inet6 ? any6 : addr_from_v4(0);
		int r = sock_bind_addr(stk, t, &any, 0);

		if (r)
			return r;
	}
	if (((t->fams & AFM_V4) && stk->listen_sd[t->h.lport]) ||
	    ((t->fams & AFM_V6) && stk->listen6_sd[t->h.lport]))
		return -EADDRINUSE;
	t->backlog = (uint32_t)backlog;
	if (t->fams & AFM_V4)
		stk->listen_sd[t->h.lport] = t->sd + 1;
	if (t->fams & AFM_V6)
		stk->listen6_sd[t->h.lport] = t->sd + 1;
	tcp_set_state(stk, t, TCPS_LISTEN);
	return 0;
}

/* sockaddr_in6 of a, as Linux fills it: flowinfo 0, the interface as scope of a link-local. */
static void addr_out6(const struct stack *stk, struct sockaddr_in6 *o, const struct in6_addr *a,
		      uint16_t port)
{
	memset(o, 0, sizeof(*o));
	o->sin6_family = AF_INET6;
	o->sin6_addr = *a;
	o->sin6_port = be16(port);
	if (addr_is_linklocal(a))
		o->sin6_scope_id = (uint32_t)stk->dev->info.ifindex;
}

/*
 * a as the caller's sockaddr of family: sockaddr_in (0.0.0.0 for an IPv6
 * address, which an AF_INET socket never holds) or sockaddr_in6.
 */
static void sa_out(const struct stack *stk, void *out, int family, const struct in6_addr *a,
		   uint16_t port)
{
	struct sockaddr_in *o = out;

	if (family == AF_INET6) {
		addr_out6(stk, out, a, port);
		return;
	}
	memset(o, 0, sizeof(*o));
	o->sin_family = AF_INET;
	o->sin_addr.s_addr = addr_is_v4(a) ? addr_v4(a) : 0;
	o->sin_port = be16(port);
}

static struct tcb *accept_one(struct stack *stk, int sd, int *err)
{
	struct tcb *l = tcb_of_sd(stk, sd);

	*err = !l ? -EBADF : l->state != TCPS_LISTEN ? -EINVAL : -EAGAIN;
	if (!l || l->state != TCPS_LISTEN)
		return NULL;
	struct list_node *n = list_pop(&l->acceptq);

	if (!n)
		return NULL;
	struct tcb *c = container_of(n, struct tcb, q_node);

	c->flags &= ~TF_ACCEPTQ;
	c->parent = NULL;
	l->acc_len--;
	return c;
}

/* An IPv4 peer of a dual-stack listener shows as ::ffff:a.b.c.d, as on Linux. */
static int sock_accept_sa(struct stack *stk, int sd, void *peer, int family)
{
	int err;
	struct tcb *c = accept_one(stk, sd, &err);

	if (!c)
		return err;
	if (peer)
		sa_out(stk, peer, family, &c->h.raddr, c->h.rport);
	return c->sd;
}

int sock_accept(struct stack *stk, int sd, struct sockaddr_in *peer)
{
	return sock_accept_sa(stk, sd, peer, AF_INET);
}

int sock_accept6(struct stack *stk, int sd, struct sockaddr_in6 *peer)
{
	return sock_accept_sa(stk, sd, peer, AF_INET6);
}

/* connect() of either family, daddr in the stack's form, dport host order. */
static int sock_connect_addr(struct stack *stk, struct tcb *t, const struct in6_addr *daddr,
			     uint16_t dport, uint64_t now_us)
{
	struct in6_addr laddr;
	int r;

	if (now_us > stk->now_us) {
		stk->now_us = now_us;
		stk->now_ms = now_us / 1000;
	}
	switch (t->state) {
	case TCPS_SYN_SENT:
	case TCPS_SYN_RECEIVED:
		return -EALREADY;
	case TCPS_CLOSED:
		if (t->flags & TF_CONNECTED)
			return -EISCONN;
		break;
	default:
		return -EISCONN;
	}
	if (addr_is_v4(daddr)) {
		uint32_t d4 = addr_v4(daddr);

		if (d4 == INADDR_ANY || (be32(d4) >> 28) >= 14)
			return -ENETUNREACH;
		laddr = addr_from_v4(stk->ip4);
	} else {
		if (addr_is_unspec(daddr) || daddr->s6_addr[0] == 0xff)
			return -ENETUNREACH;
		if ((t->flags & TF_BOUND) && !addr_is_any(&t->h.laddr))
			laddr = t->h.laddr;
		else if (ip6_src_select(stk, daddr, &laddr) != 0)
			return -EADDRNOTAVAIL;
	}
	/* a socket bound to one family's address cannot reach the other */
	if ((t->flags & TF_BOUND) && !(t->fams & (addr_is_v4(daddr) ? AFM_V4 : AFM_V6)))
		return -ENETUNREACH;
	t->err = 0;
	t->flags &= ~TF_DONE;
	t->shut = 0;
	if (!(t->flags & TF_BOUND)) {
		uint16_t p;

		t->fams = addr_is_v4(daddr) ? AFM_V4 : AFM_V6;
		r = port_pick(stk, t, &laddr, daddr, dport, &p);
		if (r) {
			t->fams = 0;
			return r;
		}
		tcb_port_ref(stk, t, p);
	} else {
		struct tcp_hent *h = tcb_lookup(stk, &laddr, t->h.lport, daddr, dport);

		if (h && !tw_reusable(stk, h))
			return -EADDRNOTAVAIL;
		if (h)
			tcb_release(stk, (struct tcb *)h);
	}
	t->h.laddr = laddr;
	t->h.raddr = *daddr;
	t->h.rport = dport;
	r = ip_resolve(stk, daddr, t->dmac);
	if (r && r != -EAGAIN)
		return r;
	t->flags &=
		~(TF_TS | TF_SACK | TF_WS | TF_FIN_Q | TF_FIN_SENT | TF_FIN_RCVD | TF_SOCK_DONE);
	if (tcb_init_buffers(stk, t) != 0)
		return -ENOBUFS;
	t->iss = tcp_isn(stk, &t->h.laddr, t->h.lport, daddr, dport);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	t->snd_end = t->iss + 1;
	t->ts_off = tcp_ts_off(stk, &t->h.laddr, daddr);
	t->rcv_ws = tcp_rcv_wscale(stk, t->rcvbuf, t->rcvbuf_lock);
	t->rto_us = TCP_RTO_INIT_US;
	t->retries = 0;
	tcb_set_mss(stk, t, 0);
	tcb_init_conn(stk, t);
	tcb_hash_add(stk, &t->h);
	tcp_set_state(stk, t, TCPS_SYN_SENT);
	stk->st.active_opens++;
	if (!addr_is_v4(daddr))
		stk->st.active_opens6++;
	if (r == -EAGAIN) {
		/* next-hop MAC unknown: retry resolve() at short intervals (tcp_timer.c) */
		t->flags |= TF_RESOLVE;
		t->resolve_us = 10000;
		t->t_rtx = stk->now_us + t->resolve_us;
		tcb_timer_update(stk, t);
	} else {
		tcb_mark(stk, t, PEND_SYN);
	}
	return -EINPROGRESS;
}

/* Linux tcp_v6_connect(): a v4-mapped destination connects over IPv4, unless IPV6_V6ONLY. */
static int sock_connect_sa(struct stack *stk, int sd, const void *sa, int family, uint64_t now_us)
{
	struct tcb *t = tcb_of_sd(stk, sd);
	struct sock_sa d;
	int r;

	if (!t)
		return -EBADF;
	if ((r = sa_in(t, sa, family, &d)) != 0)
		return r;
	if (addr_is_v4(&d.addr) && t->v6only)
		return -ENETUNREACH;
	return sock_connect_addr(stk, t, &d.addr, d.port, now_us);
}

int sock_connect(struct stack *stk, int sd, const struct sockaddr_in *dst, uint64_t now_us)
{
	return sock_connect_sa(stk, sd, dst, AF_INET, now_us);
}

int sock_connect6(struct stack *stk, int sd, const struct sockaddr_in6 *dst, uint64_t now_us)
{
	return sock_connect_sa(stk, sd, dst, AF_INET6, now_us);
}

static int send_check(struct tcb *t)
{
	if (t->err)
		return -sock_take_err(t); /* Linux sk_stream_error(): pending error first */
	if (t->shut & SHUT_SND)
		return -EPIPE;
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_CLOSE_WAIT:
		return 0;
	case TCPS_SYN_RECEIVED:
		/* a Fast Open child may write before the handshake's ACK (Linux) */
		return t->tfo_child ? 0 : -EAGAIN;
	case TCPS_SYN_SENT:
		return -EAGAIN; /* non-blocking send while connecting */
	default:
		return -EPIPE; /* Linux sk_stream_wait_connect() on a closed socket */
	}
}

/*
 * Send-buffer autotuning (Linux tcp_sndbuf_expand(), up to tcp_wmem[2]): a
 * socket whose SO_SNDBUF was never set doubles its ring when the application
 * finds it (nearly) full while most of what it holds is already in flight and
 * the peer's window and cwnd would each take the whole ring: the buffer, not
 * the network or the peer, is then what limits the sender (a 256 KiB ring is
 * ~200 us of a 10 Gbit/s link). Queued bytes are copied once per doubling, at
 * the same sequence-relative offsets; the block comes from the buffer cache
 * (malloc only the first time a size is used). Call before taking spans.
 * "Never set" is t->sndbuf still equal to the stack's default (a request of
 * exactly half the default, which Linux doubles to it, counts as unset).
 */
#define SNDBUF_AUTO_MAX (4u << 20)

static void sbuf_autotune(struct stack *stk, struct tcb *t)
{
	uint32_t size = t->smask + 1, q = tx_queued(t), nsize = size * 2;

	if (!t->sbuf || t->sndbuf != stk->cfg.sndbuf || nsize > SNDBUF_AUTO_MAX ||
	    q < size - size / 4)
		return;
	uint32_t flight = t->snd_max - t->snd_una;

	if (seq_gt(t->snd_max, t->snd_end))
		flight = t->snd_end - t->snd_una; /* FIN sent: not in the ring */
	if (flight < q - q / 4 || t->snd_wnd < size || t->cwnd < size)
		return;
	uint8_t *nb = buf_get(stk, nsize);

	if (!nb)
		return; /* keep the small ring */
	ring_copy(nb, nsize - 1, t->sbuf, t->smask, t->snd_una - (t->iss + 1), q);
	buf_put(stk, t->sbuf, size);
	t->sbuf = nb;
	t->smask = nsize - 1;
}

static void send_done(struct stack *stk, struct tcb *t, int flags)
{
	if (flags & MSG_OOB) { /* Linux tcp_mark_urg(): the last byte written is urgent */
		t->snd_up = t->snd_end;
		t->flags |= TF_SND_URG;
	}
	if (flags & MSG_MORE)
		t->flags |= TF_MORE;
	else
		t->flags &= ~TF_MORE;
	tcb_mark(stk, t, PEND_DATA);
}

ssize_t sock_sendv(struct stack *stk, int sd, const struct iovec *iov, int iovcnt, int flags)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	int r = send_check(t);

	if (r)
		return r;
	sbuf_autotune(stk, t);
	uint32_t room = XT_MIN(tx_free(t), tx_lowat_room(t));
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total == 0)
		return 0;
	if (!room)
		return -EAGAIN;
	uint32_t base = t->iss + 1;
	size_t done = 0;

	for (int i = 0; i < iovcnt && room; i++) {
		uint32_t n = (uint32_t)XT_MIN(iov[i].iov_len, (size_t)room);

		if (!n)
			continue;
		if (!iov[i].iov_base)
			return done ? (ssize_t)done : -EFAULT;
		ring_write(t->sbuf, t->smask, t->snd_end - base, iov[i].iov_base, n);
		t->snd_end += n;
		room -= n;
		done += n;
	}
	send_done(stk, t, flags);
	return (ssize_t)done;
}

ssize_t sock_send(struct stack *stk, int sd, const void *buf, size_t len, int flags)
{
	struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};

	return sock_sendv(stk, sd, &v, 1, flags);
}

ssize_t sock_send_reserve(struct stack *stk, int sd, struct iovec span[2])
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (!span)
		return -EFAULT;
	int r = send_check(t);

	if (r)
		return r;
	sbuf_autotune(stk, t);
	uint32_t room = XT_MIN(tx_free(t), tx_lowat_room(t)), size = t->smask + 1;
	uint32_t off = (t->snd_end - (t->iss + 1)) & t->smask;
	uint32_t first = XT_MIN(room, size - off);

	span[0].iov_base = t->sbuf + off;
	span[0].iov_len = first;
	span[1].iov_base = t->sbuf;
	span[1].iov_len = room - first;
	return room;
}

int sock_send_commit(struct stack *stk, int sd, size_t n, int flags)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	int r = send_check(t);

	if (r)
		return r;
	if (n > tx_free(t))
		return -EINVAL;
	if (!n)
		return 0;
	t->snd_end += (uint32_t)n;
	send_done(stk, t, flags);
	return 0;
}

/* Linux tcp_cleanup_rbuf(): ACK at once when a read at least doubled the window. */
static void recv_window_update(struct stack *stk, struct tcb *t)
{
	uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t size = t->rmask + 1, used = t->rcv_nxt - t->rcv_user;
	uint32_t clamp = XT_MIN(size, 65535u << t->rcv_ws);
	uint32_t space = XT_MIN(size > used ? size - used : 0, clamp);

	if (t->state != TCPS_ESTABLISHED && t->state != TCPS_FIN_WAIT_1 &&
	    t->state != TCPS_FIN_WAIT_2)
		return;
	if (2 * cur <= clamp && space >= 2 * cur && space - cur >= XT_MIN(size / 2, 1460u))
		tcb_mark(stk, t, PEND_ACK);
}

/* recv(MSG_OOB): the urgent byte into the first non-empty buffer (Linux tcp_recv_urg()). */
static ssize_t recv_oob(struct tcb *t, const struct iovec *iov, int iovcnt, int flags)
{
	uint8_t c;
	int i = 0;

	while (i < iovcnt && !iov[i].iov_len)
		i++;
	if (i == iovcnt) { /* no room: Linux marks it read all the same (MSG_TRUNC) */
		int r = tcp_urg_read_oob(t, &c, flags & MSG_PEEK);

		return r > 0 ? 0 : r;
	}
	if (!iov[i].iov_base && !(flags & MSG_TRUNC))
		return -EFAULT;
	int r = tcp_urg_read_oob(t, &c, flags & MSG_PEEK);

	if (r > 0 && !(flags & MSG_TRUNC))
		*(uint8_t *)iov[i].iov_base = c;
	return r;
}

ssize_t sock_recvv(struct stack *stk, int sd, const struct iovec *iov, int iovcnt, int flags)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	if (t->state == TCPS_LISTEN)
		return -ENOTCONN;
	if (flags & MSG_OOB)
		return recv_oob(t, iov, iovcnt, flags);
	uint32_t avail = rx_avail(t), from = t->rcv_user;

	tcp_urg_read_span(t, &from, &avail); /* stop at the mark, skip the urgent byte */
	if (!(flags & MSG_PEEK) && from != t->rcv_user) {
		t->rcv_user = from;
		tcp_urg_read_done(t);
		recv_window_update(stk, t);
	}
	if (!avail) {
		/* Linux tcp_recvmsg(): SOCK_DONE (FIN seen) before sk_err, then shutdown */
		if (t->flags & TF_SOCK_DONE)
			return 0;
		if (t->err)
			return -sock_take_err(t);
		if ((t->shut & SHUT_RCV) || (t->flags & TF_DONE))
			return 0;
		if (t->state == TCPS_CLOSED)
			return -ENOTCONN;
		return -EAGAIN;
	}
	size_t done = 0;
	uint32_t base = t->irs + 1;

	for (int i = 0; i < iovcnt && done < avail; i++) {
		uint32_t n = (uint32_t)XT_MIN(iov[i].iov_len, (size_t)(avail - done));

		if (!n)
			continue;
		if (!(flags & MSG_TRUNC)) {
			if (!iov[i].iov_base)
				return done ? (ssize_t)done : -EFAULT;
			ring_read(t->rbuf, t->rmask, from + (uint32_t)done - base, iov[i].iov_base,
				  n);
		}
		done += n;
	}
	if (!(flags & MSG_PEEK) && done) {
		t->rcv_user += (uint32_t)done;
		tcp_urg_read_done(t);
		tcp_rcv_space_adjust(stk, t);
		recv_window_update(stk, t);
	}
	return (ssize_t)done;
}

ssize_t sock_recv(struct stack *stk, int sd, void *buf, size_t len, int flags)
{
	struct iovec v = {.iov_base = buf, .iov_len = len};

	return sock_recvv(stk, sd, &v, 1, flags);
}

/* Queue our FIN after the data (RFC 9293 3.10.4 CLOSE / Linux tcp_shutdown()). */
static void queue_fin(struct stack *stk, struct tcb *t)
{
	t->shut |= SHUT_SND;
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_SYN_RECEIVED:
		tcp_set_state(stk, t, TCPS_FIN_WAIT_1);
		break;
	case TCPS_CLOSE_WAIT:
		tcp_set_state(stk, t, TCPS_LAST_ACK);
		break;
	default:
		return;
	}
	t->flags |= TF_FIN_Q;
	t->flags &= ~(TF_MORE | TF_CORK);
	tcb_mark(stk, t, PEND_DATA);
}

int sock_shutdown(struct stack *stk, int sd, int how)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	switch (t->state) {
	case TCPS_CLOSED:
	case TCPS_LISTEN:
		return -ENOTCONN;
	case TCPS_SYN_SENT:
		tcb_done(stk, t, 0); /* Linux inet_shutdown(): disconnect */
		return 0;
	default:
		break;
	}
	if (how == SHUT_RD || how == SHUT_RDWR)
		t->shut |= SHUT_RCV;
	if ((how == SHUT_WR || how == SHUT_RDWR) && !(t->shut & SHUT_SND))
		queue_fin(stk, t);
	tcb_notify(stk, t);
	return 0;
}

int sock_close(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	t->user = NULL;
	if (!list_unlinked(&t->ev_node))
		list_del(&t->ev_node);
	switch (t->state) {
	case TCPS_LISTEN:
	case TCPS_CLOSED:
	case TCPS_SYN_SENT:
		tcb_release(stk, t);
		return 0;
	case TCPS_TIME_WAIT:
		t->flags |= TF_ORPHAN;
		if (t->rbuf) {
			buf_put(stk, t->rbuf, t->rmask + 1);
			t->rbuf = NULL;
		}
		return 0;
	default:
		break;
	}
	t->flags |= TF_ORPHAN;
	/* RFC 2525 2.17 / Linux tcp_close(): unread data or SO_LINGER{1,0} aborts */
	if (rx_avail(t) || ((t->flags & TF_LINGER0))) {
		if (t->state == TCPS_ESTABLISHED || t->state == TCPS_CLOSE_WAIT)
			stk->st.estab_resets++;
		tcb_mark(stk, t, PEND_RST);
		return 0;
	}
	t->shut |= SHUT_RCV;
	if (!(t->shut & SHUT_SND))
		queue_fin(stk, t);
	if (t->state == TCPS_FIN_WAIT_2) {
		t->t_misc = stk->now_us + TCP_FIN_TIMEOUT_US;
		tcb_timer_update(stk, t);
	}
	return 0;
}

static int opt_int(const void *val, socklen_t len, int *out)
{
	if (!val || len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

static uint32_t buf_req(int v, uint32_t floor)
{
	/* Linux sock_setsockopt(): the value is doubled, with a floor */
	uint64_t d = v < 0 ? 0 : (uint64_t)v * 2;

	if (d < floor)
		d = floor;
	if (d > TCP_BUF_MAX)
		d = TCP_BUF_MAX;
	return (uint32_t)d;
}

static void keep_arm(struct stack *stk, struct tcb *t)
{
	if ((t->flags & TF_KEEPALIVE) &&
	    (t->state == TCPS_ESTABLISHED || t->state == TCPS_CLOSE_WAIT)) {
		t->t_keep = t->last_rx_us + (uint64_t)t->keepidle_s * 1000000;
		tcb_timer_update(stk, t);
	}
}

static int setopt_socket(struct stack *stk, struct tcb *t, int name, const void *val, socklen_t len)
{
	int v, r;

	if (name == SO_LINGER) {
		struct linger lg;

		if (!val || len < (socklen_t)sizeof(lg))
			return -EINVAL;
		memcpy(&lg, val, sizeof(lg));
		t->linger_on = lg.l_onoff != 0;
		t->linger_s = lg.l_linger;
		if (lg.l_onoff && lg.l_linger == 0)
			t->flags |= TF_LINGER0;
		else
			t->flags &= ~TF_LINGER0;
		return 0;
	}
	if ((r = opt_int(val, len, &v)) != 0)
		return r;
	switch (name) {
	case SO_REUSEADDR:
		t->flags = v ? t->flags | TF_REUSEADDR : t->flags & ~TF_REUSEADDR;
		return 0;
	case SO_KEEPALIVE:
		t->flags = v ? t->flags | TF_KEEPALIVE : t->flags & ~TF_KEEPALIVE;
		keep_arm(stk, t);
		return 0;
	case SO_SNDBUF:
		t->sndbuf = buf_req(v, 4608); /* SOCK_MIN_SNDBUF */
		if (t->sbuf && tx_queued(t) == 0 && buf_ring_size(t->sndbuf) != t->smask + 1) {
			buf_put(stk, t->sbuf, t->smask + 1);
			t->sbuf = NULL;
			if (tcb_init_buffers(stk, t) != 0)
				return -ENOMEM;
		}
		return 0;
	case SO_RCVBUF:
		t->rcvbuf = buf_req(v, 2304); /* SOCK_MIN_RCVBUF; for connections not yet opened */
		t->rcvbuf_lock = 1;	      /* and ends receive autotuning (SOCK_RCVBUF_LOCK) */
		return 0;
	case SO_OOBINLINE:
		t->flags = v ? t->flags | TF_OOBINLINE : t->flags & ~TF_OOBINLINE;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

static int setopt_tcp(struct stack *stk, struct tcb *t, int name, const void *val, socklen_t len)
{
	int v, r;

	if ((r = opt_int(val, len, &v)) != 0)
		return r;
	switch (name) {
	case TCP_NODELAY:
		t->flags = v ? t->flags | TF_NODELAY : t->flags & ~TF_NODELAY;
		if (v)
			tcb_mark(stk, t, PEND_DATA | PEND_PUSH);
		return 0;
	case TCP_CORK:
		if (v) {
			t->flags |= TF_CORK;
		} else {
			t->flags &= ~TF_CORK;
			tcb_mark(stk, t, PEND_DATA | PEND_PUSH); /* uncork pushes partial frames */
		}
		return 0;
	case TCP_KEEPIDLE:
		if (v < 1 || v > 32767)
			return -EINVAL;
		t->keepidle_s = (uint32_t)v;
		keep_arm(stk, t);
		return 0;
	case TCP_KEEPINTVL:
		if (v < 1 || v > 32767)
			return -EINVAL;
		t->keepintvl_s = (uint32_t)v;
		return 0;
	case TCP_KEEPCNT:
		if (v < 1 || v > 127)
			return -EINVAL;
		t->keepcnt = (uint32_t)v;
		return 0;
	case TCP_MAXSEG:
		/* Linux do_tcp_setsockopt(): 0 clears, else TCP_MIN_MSS..MAX_TCP_WINDOW;
		 * it clamps the MSS of handshakes still to come */
		if (v && (v < 88 || v > 32767))
			return -EINVAL;
		t->user_mss = (uint16_t)v;
		return 0;
	case TCP_FASTOPEN:
		/* Linux: the queue of Fast Open children, on a closed or listening socket */
		if (v < 0 || (t->state != TCPS_CLOSED && t->state != TCPS_LISTEN))
			return -EINVAL;
		t->tfo_qlen = (uint32_t)XT_MIN(v, SOMAXCONN_LINUX);
		return 0;
	case TCP_NOTSENT_LOWAT:
		t->notsent_lowat = (uint32_t)v; /* Linux keeps a u32; 0 = the sysctl (off) */
		tcb_notify(stk, t);		/* writability may change at once */
		return 0;
	case TCP_QUICKACK:
		if (v) {
			t->quickack = TCP_QUICKACKS;
			if (t->rcv_unacked)
				tcb_mark(stk, t, PEND_ACK);
		}
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

/* IPPROTO_IPV6 of an AF_INET6 socket (Linux do_ipv6_setsockopt()). */
static int setopt_ipv6(struct tcb *t, int name, const void *val, socklen_t len)
{
	int v, r;

	if (!t->inet6)
		return -ENOPROTOOPT;
	if ((r = opt_int(val, len, &v)) != 0)
		return r;
	switch (name) {
	case IPV6_V6ONLY:
		if (t->flags & TF_BOUND)
			return -EINVAL; /* Linux: only before bind (inet_num) */
		t->v6only = !!v;
		return 0;
	case IPV6_TCLASS:
		if (v < -1 || v > 0xff)
			return -EINVAL;
		t->tclass = (uint8_t)(v < 0 ? 0 : v);
		return 0;
	case IPV6_UNICAST_HOPS:
		/* Linux: -1 (the route's) to 255; 0 is allowed */
		if (v < -1 || v > 255)
			return -EINVAL;
		t->uc_hops6 = (int16_t)v;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

/*
 * IPPROTO_IP (Linux do_ip_setsockopt(); an AF_INET6 socket takes them too,
 * for its IPv4 peers). Only IP_TTL has an effect; the caller decides what to
 * do with the others (-ENOPROTOOPT).
 */
static int setopt_ip(struct tcb *t, int name, const void *val, socklen_t len)
{
	int v;

	if (name != IP_TTL)
		return -ENOPROTOOPT;
	/* Linux takes an int, or a single byte */
	if (!val || len < 1)
		return -EINVAL;
	if (len >= (socklen_t)sizeof(int))
		memcpy(&v, val, sizeof(int));
	else
		v = *(const unsigned char *)val;
	if (v != -1 && (v < 1 || v > 255))
		return -EINVAL;
	t->uc_ttl = (int16_t)v;
	return 0;
}

int sock_setopt(struct stack *stk, int sd, int level, int name, const void *val, socklen_t len)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (level == SOL_SOCKET)
		return setopt_socket(stk, t, name, val, len);
	if (level == IPPROTO_TCP)
		return setopt_tcp(stk, t, name, val, len);
	if (level == IPPROTO_IPV6)
		return setopt_ipv6(t, name, val, len);
	if (level == IPPROTO_IP)
		return setopt_ip(t, name, val, len);
	return -ENOPROTOOPT;
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len || *len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

/*
 * IPV6_UNICAST_HOPS as Linux reports it: the socket's, else the hop limit of
 * its route (connected to an IPv6 peer), else the default (Linux: the
 * "all" hop_limit; here the interface's, the only one the link reports).
 */
static int getopt_hops6(struct stack *stk, struct tcb *t)
{
	int connected = t->state != TCPS_CLOSED && t->state != TCPS_LISTEN;

	if (t->uc_hops6 >= 0)
		return t->uc_hops6;
	if (connected && !addr_is_v4(&t->h.raddr))
		return ip_tcb_hops(stk, t);
	return stk->dev->info.hop_limit6 ? stk->dev->info.hop_limit6 : IP6_HOPLIMIT;
}

int sock_getopt(struct stack *stk, int sd, int level, int name, void *val, socklen_t *len)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_ERROR:
			return put_int(val, len, sock_take_err(t));
		case SO_TYPE:
			return put_int(val, len, SOCK_STREAM);
		case SO_ACCEPTCONN:
			return put_int(val, len, t->state == TCPS_LISTEN);
		case SO_REUSEADDR:
			return put_int(val, len, !!(t->flags & TF_REUSEADDR));
		case SO_KEEPALIVE:
			return put_int(val, len, !!(t->flags & TF_KEEPALIVE));
		case SO_SNDBUF:
			/* autotuned: the ring's size, as Linux reports sk_sndbuf */
			if (t->sbuf && t->smask + 1 > buf_ring_size(t->sndbuf))
				return put_int(val, len, (int)(t->smask + 1));
			return put_int(val, len, (int)t->sndbuf);
		case SO_RCVBUF:
			return put_int(val, len, (int)t->rcvbuf);
		case SO_OOBINLINE:
			return put_int(val, len, !!(t->flags & TF_OOBINLINE));
		case SO_LINGER: {
			struct linger lg = {.l_onoff = t->linger_on, .l_linger = t->linger_s};

			if (!val || !len || *len < (socklen_t)sizeof(lg))
				return -EINVAL;
			memcpy(val, &lg, sizeof(lg));
			*len = sizeof(lg);
			return 0;
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY:
			return put_int(val, len, !!(t->flags & TF_NODELAY));
		case TCP_CORK:
			return put_int(val, len, !!(t->flags & TF_CORK));
		case TCP_KEEPIDLE:
			return put_int(val, len, (int)t->keepidle_s);
		case TCP_KEEPINTVL:
			return put_int(val, len, (int)t->keepintvl_s);
		case TCP_KEEPCNT:
			return put_int(val, len, (int)t->keepcnt);
		case TCP_MAXSEG:
			/* Linux: mss_cache, or user_mss before a connection exists */
			if (t->user_mss && (t->state == TCPS_CLOSED || t->state == TCPS_LISTEN))
				return put_int(val, len, t->user_mss);
			return put_int(val, len, t->smss ? t->smss : TCP_MSS_NOOPT);
		case TCP_NOTSENT_LOWAT:
			return put_int(val, len, (int)t->notsent_lowat);
		case TCP_FASTOPEN:
			return put_int(val, len, (int)t->tfo_qlen);
		case TCP_INFO:
			return tcp_info_get(stk, t, val, len);
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_IPV6 && t->inet6) {
		switch (name) {
		case IPV6_V6ONLY:
			return put_int(val, len, t->v6only);
		case IPV6_TCLASS:
			return put_int(val, len, t->tclass);
		case IPV6_UNICAST_HOPS:
			return put_int(val, len, getopt_hops6(stk, t));
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_IP && name == IP_TTL) {
		/* Linux: the socket's, else net.ipv4.ip_default_ttl (not the route's) */
		uint8_t d = stk->dev->info.ttl4 ? stk->dev->info.ttl4 : IP4_TTL;

		return put_int(val, len, t->uc_ttl >= 0 ? t->uc_ttl : d);
	}
	return -ENOPROTOOPT;
}

static int peer_known(const struct tcb *t)
{
	return !(t->state == TCPS_LISTEN || t->state == TCPS_SYN_SENT ||
		 (t->state == TCPS_CLOSED && !(t->flags & TF_CONNECTED)) ||
		 addr_is_any(&t->h.raddr));
}

/* getsockname() (the port only once bound) and getpeername() of either family. */
static int sock_name_sa(struct stack *stk, int sd, void *out, int family, int peer)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	if (!out)
		return -EFAULT;
	if (!peer) {
		sa_out(stk, out, family, &t->h.laddr, (t->flags & TF_BOUND) ? t->h.lport : 0);
		return 0;
	}
	if (!peer_known(t))
		return -ENOTCONN;
	sa_out(stk, out, family, &t->h.raddr, t->h.rport);
	return 0;
}

int sock_name(struct stack *stk, int sd, struct sockaddr_in *out)
{
	return sock_name_sa(stk, sd, out, AF_INET, 0);
}

int sock_name6(struct stack *stk, int sd, struct sockaddr_in6 *out)
{
	return sock_name_sa(stk, sd, out, AF_INET6, 0);
}

int sock_peer(struct stack *stk, int sd, struct sockaddr_in *out)
{
	return sock_name_sa(stk, sd, out, AF_INET, 1);
}

int sock_peer6(struct stack *stk, int sd, struct sockaddr_in6 *out)
{
	return sock_name_sa(stk, sd, out, AF_INET6, 1);
}

/* Linux tcp_poll(). */
uint32_t sock_events(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);
	uint32_t m = 0;

	if (!t)
		return POLLNVAL;
	if (t->state == TCPS_LISTEN)
		return list_empty(&t->acceptq) ? 0 : EPOLLIN | EPOLLRDNORM;
	if (t->shut == (SHUT_RCV | SHUT_SND) || t->state == TCPS_CLOSED)
		m |= EPOLLHUP;
	if (t->shut & SHUT_RCV)
		m |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	/* Linux tcp_poll(): a Fast Open child in SYN-RECEIVED is readable and writable */
	if (t->state != TCPS_SYN_SENT && (t->state != TCPS_SYN_RECEIVED || t->tfo_child)) {
		if (rx_avail(t) > tcp_urg_hidden(t)) /* the urgent byte is not normal data */
			m |= EPOLLIN | EPOLLRDNORM;
		if (t->urg_data & URG_VALID)
			m |= EPOLLPRI;
		if (!(t->shut & SHUT_SND)) {
			/* sk_stream_is_writeable(): free space >= queued / 2 */
			uint32_t q = tx_queued(t), f = tx_free(t);

			if (t->sbuf && f >= q / 2 && f > 0 && tx_lowat_ok(t))
				m |= EPOLLOUT | EPOLLWRNORM;
			else if (!t->sbuf && t->state == TCPS_CLOSED)
				m |= EPOLLOUT | EPOLLWRNORM;
		} else {
			m |= EPOLLOUT | EPOLLWRNORM;
		}
	}
	if (t->err)
		m |= EPOLLERR;
	return m;
}

int sock_error(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	return sock_take_err(t);
}

uint32_t sock_rx_avail(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	return t ? rx_avail(t) : 0;
}

int sock_atmark(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (!t)
		return -EBADF;
	return t->urg_data && t->rcv_up == t->rcv_user; /* Linux SIOCATMARK */
}

uint32_t sock_tx_queued(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	return t ? tx_queued(t) : 0;
}

void sock_set_user(struct stack *stk, int sd, void *user)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	if (t)
		t->user = user;
}

void *sock_get_user(struct stack *stk, int sd)
{
	struct tcb *t = tcb_of_sd(stk, sd);

	return t ? t->user : NULL;
}

/* Both ends in both families' forms, for the introspection and export records. */
static void sock_addrs_out(const struct stack *stk, const struct tcb *t, struct sockaddr_in *local,
			   struct sockaddr_in *peer, struct sockaddr_in6 *local6,
			   struct sockaddr_in6 *peer6)
{
	sa_out(stk, local, AF_INET, &t->h.laddr, t->h.lport);
	sa_out(stk, peer, AF_INET, &t->h.raddr, t->h.rport);
	addr_out6(stk, local6, &t->h.laddr, t->h.lport);
	addr_out6(stk, peer6, &t->h.raddr, t->h.rport);
}

int sock_info(struct stack *stk, int sd, struct sock_info *out)
{
	struct tcb *t = tcb_any(stk, sd);

	if (!t)
		return -EBADF;
	if (!out)
		return -EFAULT;
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	sock_addrs_out(stk, t, &out->local, &out->peer, &out->local6, &out->peer6);
	out->inet6 = t->inet6;
	out->rx_queued = rx_avail(t);
	out->tx_queued = tx_queued(t);
	out->srtt_us = t->srtt_us;
	out->rttvar_us = t->rttvar_us;
	out->rto_us = t->rto_us;
	out->cwnd = t->cwnd;
	out->ssthresh = t->ssthresh;
	out->snd_wnd = t->snd_wnd;
	out->rcv_wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	out->mss = t->smss;
	out->retrans = t->retrans;
	return 0;
}

int sock_next(struct stack *stk, int from)
{
	if (from < 0)
		from = 0;
	for (unsigned i = (unsigned)from; i < stk->tcb_fresh; i++)
		if (stk->tcbs[i].in_use && !(stk->tcbs[i].flags & TF_FORGOTTEN))
			return (int)i;
	return -1;
}

/* Up to two spans of ring holding sequence-relative offsets [off, off + n). */
static void ring_spans(uint8_t *ring, uint32_t mask, uint32_t off, uint32_t n, struct iovec v[2])
{
	uint32_t o = off & mask, first = XT_MIN(n, mask + 1 - o);

	v[0].iov_base = n ? ring + o : NULL;
	v[0].iov_len = n ? first : 0;
	v[1].iov_base = n > first ? ring : NULL;
	v[1].iov_len = n - first;
}

static int export_state_ok(const struct tcb *t)
{
	switch (t->state) {
	case TCPS_ESTABLISHED:
	case TCPS_CLOSE_WAIT:
	case TCPS_FIN_WAIT_1:
	case TCPS_FIN_WAIT_2:
	case TCPS_CLOSING:
	case TCPS_LAST_ACK:
		return !(t->flags & TF_ACCEPTQ);
	default:
		return 0;
	}
}

static void export_send(const struct tcb *t, struct sock_export *out)
{
	/* Data is [iss + 1, snd_end); a FIN sent occupies snd_end. */
	uint32_t una = seq_lt(t->snd_una, t->snd_end) ? t->snd_una : t->snd_end;
	uint32_t sent = seq_lt(t->snd_max, t->snd_end) ? t->snd_max : t->snd_end;
	uint32_t base = t->iss + 1;

	out->snd_una = t->snd_una;
	out->snd_nxt = sent;
	out->n_unacked = seq_gt(sent, una) ? sent - una : 0;
	out->n_unsent = t->snd_end - sent;
	out->fin_queued = !!(t->flags & TF_FIN_Q);
	out->fin_acked = out->fin_queued && seq_gt(t->snd_una, t->snd_end);
	if (!t->sbuf) {
		out->n_unacked = out->n_unsent = 0;
		return;
	}
	ring_spans(t->sbuf, t->smask, una - base, out->n_unacked, out->unacked);
	ring_spans(t->sbuf, t->smask, sent - base, out->n_unsent, out->unsent);
}

int sock_export(struct stack *stk, int sd, struct sock_export *out)
{
	struct tcb *t = tcb_any(stk, sd);

	if (!t)
		return -EBADF;
	if (!out)
		return -EFAULT;
	if (!export_state_ok(t))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->state = t->state;
	out->orphan = !!(t->flags & TF_ORPHAN);
	sock_addrs_out(stk, t, &out->local, &out->peer, &out->local6, &out->peer6);
	out->inet6 = t->inet6;
	export_send(t, out);
	out->snd_wl1 = t->snd_wl1;
	out->rcv_nxt = t->rcv_nxt;
	out->rcv_data_end = rcv_data_end(t);
	out->fin_rcvd = (t->flags & TF_FIN_RCVD) && seq_gt(t->rcv_nxt, t->fin_seq);
	out->n_unread = out->orphan ? 0 : rx_avail(t);
	if (t->rbuf)
		ring_spans(t->rbuf, t->rmask, t->rcv_user - (t->irs + 1), out->n_unread,
			   out->unread);
	else
		out->n_unread = 0;
	out->snd_wnd = t->snd_wnd;
	out->max_snd_wnd = XT_MAX(t->max_snd_wnd, t->snd_wnd);
	out->rcv_wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	out->mss_peer = t->mss;
	out->mss_ours = ip_mss_own(stk, &t->h.raddr);
	out->ws = !!(t->flags & TF_WS);
	out->sack = !!(t->flags & TF_SACK);
	out->ts = !!(t->flags & TF_TS);
	out->snd_ws = t->snd_ws;
	out->rcv_ws = t->rcv_ws;
	out->ts_off = t->ts_off;
	out->tsval = tcp_tsval(stk, t->ts_off);
	out->ts_recent = t->ts_recent;
	out->nodelay = !!(t->flags & TF_NODELAY);
	out->keepalive = !!(t->flags & TF_KEEPALIVE);
	out->uc_ttl = t->uc_ttl;
	out->uc_hops6 = t->uc_hops6;
	out->keepidle_s = t->keepidle_s;
	out->keepintvl_s = t->keepintvl_s;
	out->keepcnt = t->keepcnt;
	return 0;
}

int sock_forget(struct stack *stk, int sd)
{
	struct tcb *t = tcb_any(stk, sd);

	if (!t)
		return -EBADF;
	if (t->state == TCPS_CLOSED && !(t->flags & TF_ORPHAN)) {
		tcb_release(stk, t); /* nothing left to hand over, nothing in flight */
		return 0;
	}
	if (!export_state_ok(t))
		return -EINVAL;
	t->user = NULL;
	t->pend = 0;
	if (!list_unlinked(&t->tx_node))
		list_del(&t->tx_node);
	if (!list_unlinked(&t->ev_node))
		list_del(&t->ev_node);
	if (t->sbuf)
		buf_put(stk, t->sbuf, t->smask + 1);
	if (t->rbuf)
		buf_put(stk, t->rbuf, t->rmask + 1);
	t->sbuf = t->rbuf = NULL;
	tcp_rack_free(stk, t);
	t->flags |= TF_ORPHAN | TF_FORGOTTEN;
	/* The 4-tuple stays in the hash for the grace period; the timer ends it. */
	t->t_rtx = t->t_delack = t->t_keep = 0;
	t->t_misc = stk->now_us + STACK_FORGET_GRACE_US;
	wheel_cancel(&t->tm);
	tcb_timer_update(stk, t);
	return 0;
}
