/*
 * t.c - the packet-script harness behind t.h.
 *
 * Map:
 *   fake netdev (t_dev_*): rx_burst hands out frames queued by t_in_raw();
 *     rx_done poisons and frees them; tx_alloc/tx_queue capture every frame
 *     the stack sends into t->cap (ARP requests for the peer are answered
 *     instead); resolve knows the one peer. Breaches of the netdev contract
 *     (frames kept across stack_poll, tx frames leaked) are recorded in
 *     t->dev_err and fail the test after the poll returns.
 *   clock (t_poll, t_advance): virtual time; polls at every deadline that
 *     stack_next_deadline() reports, up to a target time.
 *   script steps (t_in_, t_out_, t_nothing_): translate relative SEG() values
 *     to absolute ones per flow, build, inject, capture, compare.
 *   runner (t_run): one fresh stack per test, counted as one check of
 *     check.h; a failure longjmps out of that test only.
 * Memory: the harness owns every frame (malloc'd struct t_frame); the stack
 *   only borrows them between rx_burst/rx_done and tx_alloc/tx_queue.
 */
#define _GNU_SOURCE
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "t_tcpinfo.h"

static const uint8_t stack_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
#define STACK_IP  "10.77.1.1"
#define PEER_IP	  "10.77.1.2"
#define STACK_IP6 "fd77:1::1"
#define PEER_IP6  "fd77:1::2"

static struct t *t_of_dev(struct netdev *dev)
{
	return (struct t *)((char *)dev - offsetof(struct t, dev));
}

static uint32_t ip_of(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static struct in6_addr ip6_of(const char *s)
{
	struct in6_addr a;

	inet_pton(AF_INET6, s, &a);
	return a;
}

static void dev_error(struct t *t, const char *msg)
{
	if (!t->dev_err[0])
		snprintf(t->dev_err, sizeof(t->dev_err), "%s", msg);
}

/* ---- fake netdev ---- */

static unsigned t_dev_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct t *t = t_of_dev(dev);
	unsigned n = 0;

	while (n < max && t->rx_head != t->rx_tail) {
		struct t_frame *fr = t->rxq[t->rx_head % (sizeof(t->rxq) / sizeof(t->rxq[0]))];

		t->rx_head++;
		pkts[n].data = fr->buf;
		pkts[n].len = fr->len;
		pkts[n].addr = (uint64_t)(uintptr_t)fr;
		n++;
	}
	t->rx_outstanding += n;
	return n;
}

static void t_dev_rx_done(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct t *t = t_of_dev(dev);
	unsigned i;

	if (n > t->rx_outstanding) {
		dev_error(t, "rx_done for more frames than rx_burst gave");
		return;
	}
	for (i = 0; i < n; i++) {
		struct t_frame *fr = (struct t_frame *)(uintptr_t)pkts[i].addr;

		/* Poison: a stack that reads a frame after rx_done sees garbage. */
		memset(fr->buf, 0xdb, sizeof(fr->buf));
		free(fr);
	}
	t->rx_outstanding -= n;
}

static int t_dev_tx_alloc(struct netdev *dev, struct pkt *pkt, uint32_t len)
{
	struct t *t = t_of_dev(dev);
	struct t_frame *fr;

	if (len > T_FRAME_MAX)
		return -ENOBUFS;
	fr = malloc(sizeof(*fr));
	if (!fr)
		return -ENOBUFS;
	memset(fr->buf, 0xa5, sizeof(fr->buf));
	pkt->data = fr->buf;
	pkt->len = len;
	pkt->addr = (uint64_t)(uintptr_t)fr;
	t->tx_alloced++;
	return 0;
}

static void t_dev_tx_free(struct netdev *dev, struct pkt *pkt)
{
	struct t *t = t_of_dev(dev);

	free((void *)(uintptr_t)pkt->addr);
	t->tx_alloced--;
}

static void inject(struct t *t, const uint8_t *frame, size_t len);

/* T_TRACE=1: print every frame in and out with the virtual time. */
static void trace(struct t *t, const char *dir, const uint8_t *f, uint32_t len)
{
	struct t_wire w;
	const char *why = "";
	char b[256];

	if (t_seg_parse(f, len, &w, &why) == 0)
		fprintf(stderr, "  %10llu %s %s\n", (unsigned long long)t->now, dir,
			t_seg_str(&w, b, sizeof(b)));
	else
		fprintf(stderr, "  %10llu %s (%u bytes: %s)\n", (unsigned long long)t->now, dir,
			len, why);
}

/* Answer an ARP request for the peer's address (the stack may ask). */
static int arp_reply(struct t *t, const uint8_t *f, uint32_t len)
{
	uint8_t r[42];
	uint32_t peer = ip_of(PEER_IP);

	if (len < 42 || f[12] != 0x08 || f[13] != 0x06 || f[20] != 0 || f[21] != 1 ||
	    memcmp(f + 38, &peer, 4) != 0)
		return 0;
	memcpy(r, f + 6, 6);
	memcpy(r + 6, peer_mac, 6);
	r[12] = 0x08;
	r[13] = 0x06;
	memcpy(r + 14, f + 14, 6); /* htype, ptype, hlen, plen */
	r[20] = 0;
	r[21] = 2;
	memcpy(r + 22, peer_mac, 6);
	memcpy(r + 28, &peer, 4);
	memcpy(r + 32, f + 22, 10); /* target = the asker */
	inject(t, r, sizeof(r));
	t->arp_replies++;
	return 1;
}

static void t_dev_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct t *t = t_of_dev(dev);
	unsigned i;

	for (i = 0; i < n; i++) {
		struct t_frame *fr = (struct t_frame *)(uintptr_t)pkts[i].addr;

		t->tx_alloced--;
		t->tx_frames++;
		if (pkts[i].len > T_FRAME_MAX || pkts[i].data < fr->buf ||
		    pkts[i].data + pkts[i].len > fr->buf + T_FRAME_MAX) {
			dev_error(t, "tx_queue: frame length or data outside the allocation");
		} else if (t->dev.info.tx_csum_offload && pkts[i].len >= 54 &&
			   pkts[i].data[pkts[i].data[12] == 0x86 ? 20 : 23] == 6 &&
			   t_seg_finish_partial(pkts[i].data, pkts[i].len)) {
			dev_error(t, "tx_queue: TCP checksum field is not the pseudo-header sum");
		} else if (!arp_reply(t, pkts[i].data, pkts[i].len)) {
			if (t->cap_tail - t->cap_head >= T_CAP_MAX) {
				dev_error(t, "more than T_CAP_MAX frames sent without t_out()");
			} else {
				struct t_frame *c = &t->cap[t->cap_tail++ % T_CAP_MAX];

				memcpy(c->buf, pkts[i].data, pkts[i].len);
				c->len = pkts[i].len;
				if (getenv("T_TRACE"))
					trace(t, "out", c->buf, c->len);
			}
		}
		free(fr);
	}
}

static int t_dev_tx_flush(struct netdev *dev)
{
	return 0;
}

static int t_dev_resolve(struct netdev *dev, uint32_t dst, uint8_t mac[6])
{
	if (dst != ip_of(PEER_IP))
		return -EHOSTUNREACH;
	memcpy(mac, peer_mac, 6);
	return 0;
}

static int t_dev_resolve6(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6])
{
	struct in6_addr peer = ip6_of(PEER_IP6);

	if (memcmp(dst, &peer, 16) != 0)
		return -EHOSTUNREACH;
	memcpy(mac, peer_mac, 6);
	return 0;
}

/* The link's path MTU hint (t->link_path_mtu; 0: none), as the XDP program's map gives it. */
static int t_dev_path_mtu(struct netdev *dev, uint32_t dst, uint64_t max_age_us, uint32_t *mtu)
{
	struct t *t = t_of_dev(dev);

	(void)max_age_us;
	if (dst != ip_of(PEER_IP) || !t->link_path_mtu)
		return -ENOENT;
	t->link_path_mtu_asked++;
	*mtu = t->link_path_mtu;
	return 0;
}

/* t_dev_path_mtu() for the IPv6 peer. */
static int t_dev_path_mtu6(struct netdev *dev, const struct in6_addr *dst, uint64_t max_age_us,
			   uint32_t *mtu)
{
	struct t *t = t_of_dev(dev);
	struct in6_addr peer = ip6_of(PEER_IP6);

	(void)max_age_us;
	if (memcmp(dst, &peer, 16) || !t->link_path_mtu)
		return -ENOENT;
	t->link_path_mtu_asked++;
	*mtu = t->link_path_mtu;
	return 0;
}

/* A route's hop limit metric (t->link_hop_limit), for the peer in either family. */
static uint8_t t_dev_hop_limit(struct netdev *dev, const struct in6_addr *dst)
{
	(void)dst;
	return t_of_dev(dev)->link_hop_limit;
}

static const struct netdev_ops t_dev_ops = {
	.rx_burst = t_dev_rx_burst,
	.rx_done = t_dev_rx_done,
	.tx_alloc = t_dev_tx_alloc,
	.tx_free = t_dev_tx_free,
	.tx_queue = t_dev_tx_queue,
	.tx_flush = t_dev_tx_flush,
	.resolve = t_dev_resolve,
	.resolve6 = t_dev_resolve6,
	.path_mtu = t_dev_path_mtu,
	.path_mtu6 = t_dev_path_mtu6,
	.hop_limit = t_dev_hop_limit,
};

/* ---- corpus recording ---- */

static void rec(struct t *t, uint8_t op, const uint8_t *b, size_t len)
{
	uint8_t h[3] = {op, (uint8_t)(len >> 8), (uint8_t)len};

	if (!t->corpus)
		return;
	fwrite(h, 1, 3, t->corpus);
	if (b && len)
		fwrite(b, 1, len, t->corpus);
}

static void rec_time(struct t *t)
{
	uint64_t ms = (t->now - t->corpus_time) / 1000;

	while (ms > 0) {
		uint64_t step = ms > 65535 ? 65535 : ms;

		rec(t, T_REC_TIME, NULL, (size_t)step);
		ms -= step;
		t->corpus_time += step * 1000;
	}
}

/* ---- clock ---- */

static void poll_at(struct t *t, uint64_t now, const char *file, int line)
{
	t->now = now;
	if (t->hold_acks)
		stack_poll_hold_acks(t->stk, now);
	else
		stack_poll(t->stk, now);
	if (t->rx_outstanding)
		dev_error(t, "stack kept rx frames after stack_poll() returned");
	if (t->tx_alloced)
		dev_error(t, "stack kept tx frames after stack_poll() returned");
	if (t->dev_err[0])
		t_fail(t, file, line, "netdev contract: %s", t->dev_err);
}

/* Advance to target, polling at each deadline; stop early on output if asked. */
static void advance(struct t *t, uint64_t target, int stop_on_output, const char *file, int line)
{
	unsigned guard = 0;

	poll_at(t, t->now, file, line);
	while (!(stop_on_output && t_pending(t))) {
		uint64_t d = stack_next_deadline(t->stk);

		if (d > target)
			break;
		if (d <= t->now)
			d = t->now + 1;
		if (++guard > 2000000)
			t_fail(t, file, line, "timer storm: deadline keeps being due at %llu us",
			       (unsigned long long)t->now);
		poll_at(t, d, file, line);
	}
	if (!(stop_on_output && t_pending(t)) && target > t->now)
		poll_at(t, target, file, line);
}

void t_wait(struct t *t, uint64_t us)
{
	advance(t, t->now + us, 0, __FILE__, __LINE__);
}

unsigned t_pending(const struct t *t)
{
	return t->cap_tail - t->cap_head;
}

/* ---- failures ---- */

void t_fail(struct t *t, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: [%s t=%llu us] ", file, line, t->name,
		(unsigned long long)t->now);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (t->stk) { /* drop reasons help tell a harness mistake from a stack bug */
		struct stack_stats st;
		unsigned i;

		stack_get_stats(t->stk, &st);
		for (i = 0; i < 32; i++)
			if (st.drop_reason[i])
				fprintf(stderr, "  drops %s: %llu\n", stack_drop_reason_name(i),
					(unsigned long long)st.drop_reason[i]);
	}
	t->failed = 1;
	longjmp(t->jb, 1);
}

void t_check_(struct t *t, int ok, const char *what, const char *file, int line)
{
	if (!ok)
		t_fail(t, file, line, "check failed: %s", what);
}

void t_eq_(struct t *t, long long a, long long b, const char *what, const char *file, int line)
{
	if (a != b)
		t_fail(t, file, line, "%s: %lld != %lld", what, a, b);
}

/* ---- flows ---- */

struct t_flow *t_flow(struct t *t, uint16_t pport)
{
	struct t_flow *f;
	int i;

	for (i = 0; i < t->nflows; i++)
		if (t->flows[i].pport == pport)
			return t->f = &t->flows[i];
	if (t->nflows == T_MAX_FLOWS)
		t_fail(t, __FILE__, __LINE__, "too many flows");
	f = &t->flows[t->nflows++];
	memset(f, 0, sizeof(*f));
	f->pport = pport;
	f->sport = T_LISTEN_PORT;
	f->peer_isn = 1000000u * pport + 12345u;
	f->ts_base = 500000u + pport;
	f->peer_ws = f->stack_ws = -1;
	f->sd = -1;
	return t->f = f;
}

static struct t_flow *cur(struct t *t)
{
	return t->f ? t->f : t_flow(t, 40000);
}

static uint32_t peer_tsval(struct t *t, struct t_flow *f)
{
	return f->ts_base + (uint32_t)(t->now / 1000);
}

static int seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* ---- building and injecting ---- */

static void inject(struct t *t, const uint8_t *frame, size_t len)
{
	struct t_frame *fr;
	unsigned cap = sizeof(t->rxq) / sizeof(t->rxq[0]);

	if (len > T_FRAME_MAX || t->rx_tail - t->rx_head >= cap) {
		dev_error(t, "harness rx queue full");
		return;
	}
	fr = malloc(sizeof(*fr));
	if (!fr) {
		dev_error(t, "out of memory");
		return;
	}
	memcpy(fr->buf, frame, len);
	fr->len = (uint32_t)len;
	if (getenv("T_TRACE"))
		trace(t, "in ", frame, (uint32_t)len);
	t->rxq[t->rx_tail++ % cap] = fr;
}

void t_in_raw(struct t *t, const uint8_t *frame, size_t len)
{
	rec_time(t);
	rec(t, T_REC_FRAME, frame, len);
	inject(t, frame, len);
	poll_at(t, t->now, __FILE__, __LINE__);
}

/* Fill w from s for the current flow; updates what the peer has sent. */
static void to_wire(struct t *t, const struct seg *s, struct t_wire *w, uint8_t *pay)
{
	struct t_flow *f = cur(t);
	uint32_t rel = s->seq == T_AUTO ? f->peer_nxt : (uint32_t)s->seq;
	uint32_t end;
	int i;

	memset(w, 0, sizeof(*w));
	memcpy(w->src_mac, peer_mac, 6);
	memcpy(w->dst_mac, stack_mac, 6);
	w->src_ip = ip_of(PEER_IP);
	w->dst_ip = ip_of(STACK_IP);
	if (t->v6) {
		struct in6_addr ps = ip6_of(PEER_IP6), ss = ip6_of(STACK_IP6);

		w->v6 = 1;
		memcpy(w->src_ip6, &ps, 16);
		memcpy(w->dst_ip6, &ss, 16);
	}
	w->sport = f->pport;
	w->dport = f->sport;
	w->seq = f->peer_isn + rel;
	if (s->flags & T_ACK)
		w->ack = f->stack_isn + (s->ack == T_AUTO ? f->stack_nxt : (uint32_t)s->ack);
	w->flags = s->flags;
	w->win = (uint16_t)(s->win == T_AUTO ? t->peer_win : s->win);
	w->df = 1;
	w->ecn = (uint8_t)(s->ecn & 3);
	w->urg = (uint16_t)s->urp;
	w->mss = s->mss;
	w->ws = s->ws;
	w->sackok = s->sackok;
	w->ts = s->ts == T_AUTO ? f->ts_on : s->ts;
	if (w->ts) {
		w->ts_val = s->ts_val == T_AUTO ? peer_tsval(t, f) : (uint32_t)s->ts_val;
		w->ts_ecr = s->ts_ecr == T_AUTO ? f->stack_ts_last : (uint32_t)s->ts_ecr;
		if (s->ts_val == T_AUTO) {
			if (!f->peer_ts_seen)
				f->peer_ts_first = w->ts_val;
			f->peer_ts_last = w->ts_val;
			f->peer_ts_seen = 1;
		}
	}
	w->nsack = s->nsack;
	for (i = 0; i < s->nsack && i < T_MAX_SACK; i++) {
		w->sack[i][0] = f->stack_isn + s->sack[i][0];
		w->sack[i][1] = f->stack_isn + s->sack[i][1];
	}
	w->len = (uint16_t)s->len;
	if (s->len > 0 && !s->data) {
		uint32_t off = rel - 1 + ((s->flags & T_SYN) ? 1 : 0);

		for (i = 0; i < s->len; i++)
			pay[i] = t_pat(off + (uint32_t)i);
		w->data = pay;
	} else {
		w->data = s->data;
	}
	w->raw_opt = s->raw_opt;
	w->raw_optlen = s->raw_optlen;
	w->bad_tcp_csum = s->bad_tcp_csum;
	w->bad_ip_csum = s->bad_ip_csum;
	w->partial_tcp_csum = s->partial_tcp_csum;
	w->doff_delta = s->doff_delta;
	w->ip_len_delta = s->ip_len_delta;
	w->ihl_delta = s->ihl_delta;
	w->trunc = s->trunc;

	if ((s->flags & T_SYN) && rel == 0) {
		f->peer_syn_ts = w->ts;
		f->peer_syn_sack = w->sackok;
		f->peer_ws = w->ws;
		if (s->flags & T_ACK) { /* we answer the stack's SYN */
			f->ts_on = f->stack_syn_ts && w->ts;
			f->sack_on = f->stack_syn_sack && w->sackok;
		}
	}
	/*
	 * The peer's next sequence advances with in-order (or overlapping)
	 * segments only; not with sabotaged ones, nor with a SYN other than
	 * the first (RFC 5961 tests send SYNs in the window).
	 */
	end = rel + (uint32_t)s->len + ((s->flags & T_SYN) ? 1 : 0) + ((s->flags & T_FIN) ? 1 : 0);
	if (s->raw_opt || s->bad_tcp_csum || s->bad_ip_csum || s->doff_delta || s->ip_len_delta ||
	    s->ihl_delta || s->trunc || ((s->flags & T_SYN) && rel != 0) || (s->flags & T_RST) ||
	    (s->partial_tcp_csum && !t->dev.info.rx_csum_trust_local))
		return;
	if (!seq_gt(rel, f->peer_nxt) && seq_gt(end, f->peer_nxt))
		f->peer_nxt = end;
}

size_t t_build(struct t *t, struct seg s, uint8_t *buf)
{
	struct t_wire w;
	uint8_t pay[T_FRAME_MAX];

	if (s.len < 0 || s.len > 1460 + 40)
		t_fail(t, __FILE__, __LINE__, "SEG len %d out of range", s.len);
	to_wire(t, &s, &w, pay);
	return t_seg_build(&w, buf);
}

void t_in_(struct t *t, struct seg s, const char *file, int line)
{
	uint8_t buf[T_FRAME_MAX];
	size_t n = t_build(t, s, buf);

	rec_time(t);
	rec(t, T_REC_FRAME, buf, n);
	inject(t, buf, n);
	poll_at(t, t->now, file, line);
}

/* ---- matching output ---- */

int t_next(struct t *t, struct t_wire *w)
{
	static struct t_frame hold;
	const char *why;

	if (!t_pending(t))
		return -1;
	hold = t->cap[t->cap_head++ % T_CAP_MAX];
	if (t_seg_parse(hold.buf, hold.len, w, &why))
		t_fail(t, __FILE__, __LINE__, "stack sent a bad frame (%u bytes): %s", hold.len,
		       why);
	return 0;
}

/* The segment w in the flow's relative numbers, for messages. */
static const char *rel_str(const struct t_flow *f, const struct t_wire *w, char *buf, size_t n)
{
	struct t_wire r = *w;
	int i;

	r.seq -= f->stack_isn;
	r.ack -= f->peer_isn;
	for (i = 0; i < r.nsack; i++) {
		r.sack[i][0] -= f->peer_isn;
		r.sack[i][1] -= f->peer_isn;
	}
	return t_seg_str(&r, buf, n);
}

static const char *exp_str(const struct seg *s, char *buf, size_t n)
{
	struct t_wire w;
	int i;

	memset(&w, 0, sizeof(w));
	w.flags = s->flags;
	w.seq = s->seq == T_AUTO ? 0xffffffffu : (uint32_t)s->seq;
	w.ack = s->ack == T_AUTO ? 0xffffffffu : (uint32_t)s->ack;
	w.win = s->win < 0 ? 0 : (uint16_t)s->win;
	w.len = s->len < 0 ? 0 : (uint16_t)s->len;
	w.mss = s->mss < 0 ? 0 : s->mss;
	w.ws = s->ws;
	w.sackok = s->sackok > 0;
	w.ts = s->ts > 0;
	w.ts_val = (uint32_t)s->ts_val;
	w.ts_ecr = (uint32_t)s->ts_ecr;
	w.nsack = s->nsack < 0 ? 0 : s->nsack;
	w.ecn = s->ecn < 0 ? 0 : (uint8_t)s->ecn;
	w.urg = s->urp < 0 ? 0 : (uint16_t)s->urp;
	for (i = 0; i < w.nsack && i < T_MAX_SACK; i++) {
		w.sack[i][0] = s->sack[i][0];
		w.sack[i][1] = s->sack[i][1];
	}
	t_seg_str(&w, buf, n);
	if (s->seq == T_AUTO || s->ack == T_AUTO)
		strncat(buf, " (4294967295 = auto)", n - strlen(buf) - 1);
	return buf;
}

#define MISMATCH(field)                                                                            \
	t_fail(t, file, line, "%s mismatch\n  expected: %s\n  got:      %s", field,                \
	       exp_str(&s, eb, sizeof(eb)), rel_str(f, w, gb, sizeof(gb)))

static void check_ts(struct t *t, struct t_flow *f, struct seg s, const struct t_wire *w,
		     const char *file, int line)
{
	char eb[256], gb[256];
	int want = s.ts;

	if (want == T_AUTO)
		want = (w->flags & T_SYN) ? ((w->flags & T_ACK) ? f->peer_syn_ts : T_ANY)
					  : f->ts_on;
	if (want != T_ANY && want != w->ts)
		MISMATCH("timestamp option presence");
	if (!w->ts)
		return;
	if (s.ts_val != T_AUTO && s.ts_val != T_ANY && (uint32_t)s.ts_val != w->ts_val)
		MISMATCH("TSval");
	if (s.ts_val == T_AUTO && f->stack_ts_seen && seq_gt(f->stack_ts_last, w->ts_val))
		MISMATCH("TSval went backwards");
	if (s.ts_ecr != T_AUTO && s.ts_ecr != T_ANY && (uint32_t)s.ts_ecr != w->ts_ecr)
		MISMATCH("TSecr");
	if (s.ts_ecr == T_AUTO && (w->flags & T_ACK) && f->peer_ts_seen &&
	    (seq_gt(f->peer_ts_first, w->ts_ecr) || seq_gt(w->ts_ecr, f->peer_ts_last)))
		MISMATCH("TSecr is not a TSval the peer sent");
}

static void check_seg(struct t *t, struct t_flow *f, struct seg s, const struct t_wire *w,
		      const char *file, int line)
{
	char eb[256], gb[256];
	uint8_t want_flags = s.flags, got_flags = w->flags;
	uint32_t rel_seq, rel_ack;
	int i;

	if (t->v6) {
		struct in6_addr ps = ip6_of(PEER_IP6), ss = ip6_of(STACK_IP6);

		if (!w->v6 || memcmp(w->src_ip6, &ss, 16) || memcmp(w->dst_ip6, &ps, 16))
			MISMATCH("IPv6 addresses");
		/* RFC 6437: one nonzero label per connection; no extension headers (parsed) */
		if (w->flow == 0 || (f->flow6 && w->flow != f->flow6))
			MISMATCH("IPv6 flow label");
		f->flow6 = w->flow;
	} else if (w->v6 || w->src_ip != ip_of(STACK_IP) || w->dst_ip != ip_of(PEER_IP)) {
		MISMATCH("addresses");
	}
	if (w->ttl != (t->want_hops ? t->want_hops : 64))
		MISMATCH(w->v6 ? "IPv6 hop limit" : "IPv4 TTL");
	if (memcmp(w->src_mac, stack_mac, 6) || memcmp(w->dst_mac, peer_mac, 6))
		MISMATCH("addresses");
	if (w->dport != f->pport || (f->sport && w->sport != f->sport))
		MISMATCH("ports (segment for another flow? use t_flow())");
	if (!(want_flags & T_PSH))
		got_flags &= (uint8_t)~T_PSH;
	if (want_flags != got_flags)
		MISMATCH("flags");
	if ((w->flags & T_SYN) && !f->have_stack_isn) {
		f->stack_isn = w->seq;
		f->have_stack_isn = 1;
		f->sport = w->sport;
	}
	rel_seq = w->seq - f->stack_isn;
	rel_ack = w->ack - f->peer_isn;
	if (s.seq != T_ANY && rel_seq != (s.seq == T_AUTO ? f->stack_nxt : (uint32_t)s.seq))
		MISMATCH("seq");
	if ((want_flags & T_ACK) && s.ack != T_ANY &&
	    rel_ack != (s.ack == T_AUTO ? f->peer_nxt : (uint32_t)s.ack))
		MISMATCH("ack");
	if (s.win != T_AUTO && s.win != T_ANY && s.win != w->win)
		MISMATCH("window");
	if (s.mss != T_ANY && s.mss != w->mss)
		MISMATCH("MSS option");
	if (s.ws != T_ANY && s.ws != w->ws)
		MISMATCH("window scale option");
	if (s.sackok != T_ANY && s.sackok != w->sackok)
		MISMATCH("SACK-permitted option");
	check_ts(t, f, s, w, file, line);
	if (s.nsack != T_ANY) {
		if (s.nsack != w->nsack)
			MISMATCH("number of SACK blocks");
		for (i = 0; i < w->nsack; i++)
			if (w->sack[i][0] - f->peer_isn != s.sack[i][0] ||
			    w->sack[i][1] - f->peer_isn != s.sack[i][1])
				MISMATCH("SACK block");
	}
	if (s.len != T_ANY && s.len != w->len)
		MISMATCH("payload length");
	if (s.ecn != T_ANY && s.ecn != w->ecn)
		MISMATCH("IP ECN field");
	if ((want_flags & T_URG) && s.urp != T_ANY && s.urp != w->urg)
		MISMATCH("urgent pointer");
	for (i = 0; i < w->len && s.len != T_ANY; i++) {
		uint8_t want =
			s.data ? ((const uint8_t *)s.data)[i] : t_pat(rel_seq - 1 + (uint32_t)i);

		if (w->data[i] != want)
			t_fail(t, file, line,
			       "payload byte %d (stream offset %u): 0x%02x, expected 0x%02x", i,
			       rel_seq - 1 + (uint32_t)i, w->data[i], want);
	}
}

/* What the flow learns from a segment the stack sent. */
static void learn(struct t_flow *f, const struct t_wire *w)
{
	uint32_t rel = w->seq - f->stack_isn;
	uint32_t end = rel + w->len + ((w->flags & T_SYN) ? 1 : 0) + ((w->flags & T_FIN) ? 1 : 0);

	if (!(w->flags & T_RST) && seq_gt(end, f->stack_nxt))
		f->stack_nxt = end;
	if (w->flags & T_SYN) {
		f->stack_syn_ts = w->ts;
		f->stack_syn_sack = w->sackok;
		f->stack_ws = w->ws;
		if (w->flags & T_ACK) {
			f->ts_on = f->peer_syn_ts && w->ts;
			f->sack_on = f->peer_syn_sack && w->sackok;
		}
	}
	if (w->ts) {
		f->stack_ts_last = w->ts_val;
		f->stack_ts_seen = 1;
	}
}

const struct t_wire *t_out_(struct t *t, struct seg s, uint64_t within_us, const char *file,
			    int line)
{
	struct t_flow *f = cur(t);
	char eb[256];

	advance(t, t->now + within_us, 1, file, line);
	if (t_next(t, &t->last))
		t_fail(t, file, line, "expected %s, got nothing%s", exp_str(&s, eb, sizeof(eb)),
		       within_us ? " in time" : "");
	check_seg(t, f, s, &t->last, file, line);
	learn(f, &t->last);
	return &t->last;
}

void t_nothing_(struct t *t, uint64_t us, const char *file, int line)
{
	struct t_wire w;
	char gb[256];

	advance(t, t->now, 1, file, line);
	if (!t_pending(t) && us)
		advance(t, t->now + us, 1, file, line);
	if (t_pending(t)) {
		t_next(t, &w);
		t_fail(t, file, line, "expected nothing, got %s",
		       rel_str(cur(t), &w, gb, sizeof(gb)));
	}
}

void t_drain_acks_(struct t *t, const char *file, int line)
{
	struct t_wire w;
	char gb[256];

	advance(t, t->now, 0, file, line);
	while (t_next(t, &w) == 0)
		if ((w.flags & (uint8_t)~T_PSH) != T_ACK || w.len)
			t_fail(t, file, line, "expected only pure ACKs, got %s",
			       rel_str(cur(t), &w, gb, sizeof(gb)));
		else
			learn(cur(t), &w);
}

/* ---- app side ---- */

int t_accept(struct t *t)
{
	struct t_flow *f = cur(t);
	struct sockaddr_in peer;
	struct sockaddr_in6 p6;
	int sd;

	if (t->v6) {
		struct in6_addr want = ip6_of(PEER_IP6);

		sd = sock_accept6(t->stk, t->listen_sd, &p6);
		if (sd >= 0 && (p6.sin6_family != AF_INET6 || memcmp(&p6.sin6_addr, &want, 16) ||
				p6.sin6_flowinfo || p6.sin6_scope_id))
			t_fail(t, __FILE__, __LINE__, "accepted the wrong IPv6 peer");
		peer.sin_port = p6.sin6_port;
		peer.sin_addr.s_addr = ip_of(PEER_IP);
	} else {
		sd = sock_accept(t->stk, t->listen_sd, &peer);
	}
	if (sd < 0)
		t_fail(t, __FILE__, __LINE__, "sock_accept: %d (%s)", sd, strerror(-sd));
	if (ntohs(peer.sin_port) != f->pport || peer.sin_addr.s_addr != ip_of(PEER_IP))
		t_fail(t, __FILE__, __LINE__, "accepted the wrong peer (port %u)",
		       ntohs(peer.sin_port));
	f->sd = sd;
	return sd;
}

int t_connect(struct t *t, uint16_t pport)
{
	struct t_flow *f = t_flow(t, pport);
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(pport)};
	struct sockaddr_in6 d6 = {.sin6_family = AF_INET6, .sin6_port = htons(pport)};
	int sd = t->v6 ? sock_socket6(t->stk) : sock_socket(t->stk), rc;

	dst.sin_addr.s_addr = ip_of(PEER_IP);
	d6.sin6_addr = ip6_of(PEER_IP6);
	if (sd < 0)
		t_fail(t, __FILE__, __LINE__, "sock_socket: %d", sd);
	rc = t->v6 ? sock_connect6(t->stk, sd, &d6, t->now)
		   : sock_connect(t->stk, sd, &dst, t->now);
	if (rc != -EINPROGRESS)
		t_fail(t, __FILE__, __LINE__, "sock_connect: %d, expected -EINPROGRESS", rc);
	f->sport = 0; /* learned from the SYN */
	f->sd = sd;
	return sd;
}

void t_write(struct t *t, int n)
{
	struct t_flow *f = cur(t);
	uint8_t *buf = malloc((size_t)n);
	ssize_t r;
	int i;

	if (!buf)
		t_fail(t, __FILE__, __LINE__, "out of memory");
	for (i = 0; i < n; i++)
		buf[i] = t_pat(f->app_wr + (uint32_t)i);
	r = sock_send(t->stk, f->sd, buf, (size_t)n, 0);
	free(buf);
	if (r != n)
		t_fail(t, __FILE__, __LINE__, "sock_send(%d) = %zd", n, r);
	f->app_wr += (uint32_t)n;
}

int t_read(struct t *t, int n)
{
	struct t_flow *f = cur(t);
	uint8_t *buf = malloc((size_t)n);
	ssize_t r, i;

	if (!buf)
		t_fail(t, __FILE__, __LINE__, "out of memory");
	r = sock_recv(t->stk, f->sd, buf, (size_t)n, 0);
	for (i = 0; i < r; i++) {
		if (buf[i] != t_pat(f->app_rd + (uint32_t)i)) {
			uint8_t got = buf[i];

			free(buf);
			t_fail(t, __FILE__, __LINE__,
			       "read byte at stream offset %u: 0x%02x, expected 0x%02x",
			       f->app_rd + (uint32_t)i, got, t_pat(f->app_rd + (uint32_t)i));
		}
	}
	free(buf);
	if (r > 0)
		f->app_rd += (uint32_t)r;
	return (int)r;
}

void t_state_(struct t *t, int state, const char *file, int line)
{
	struct sock_info info;
	int rc;

	if (cur(t)->sd < 0)
		t_fail(t, file, line, "T_STATE: the flow has no socket (t_accept() first)");
	rc = sock_info(t->stk, cur(t)->sd, &info);
	if (rc < 0)
		t_fail(t, file, line, "sock_info: %d", rc);
	if (info.state != state)
		t_fail(t, file, line, "state %d, expected %d", info.state, state);
}

void t_start_(struct t *t, int state, int with_opts, const char *file, int line)
{
	struct t_flow *f = cur(t);

	if (with_opts)
		t_in_(t,
		      SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
			  .ts_ecr = 0),
		      file, line);
	else
		t_in_(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0), file, line);
	t_out_(t,
	       SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = T_ANY, .ws = T_ANY,
		   .sackok = T_ANY, .ts = T_ANY),
	       0, file, line);
	t_in_(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1), file, line);
	t_accept(t);
	if (state == TCP_CLOSE_WAIT) {
		t_in_(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 1), file, line);
		t_out_(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2), 200000, file, line);
	} else if (state != TCP_ESTABLISHED) {
		t_fail(t, file, line, "t_start: state %d not supported", state);
	}
	t_state_(t, state, file, line);
	(void)f;
}

void t_tcpinfo_get(struct t *t, int sd, struct t_tcpinfo *out)
{
	uint8_t buf[512];
	socklen_t len = sizeof(buf);

	t_eq(t, sock_getopt(t->stk, sd, IPPROTO_TCP, TCP_INFO, buf, &len), 0);
	t_tcpinfo_decode(buf, out);
}

struct stack_stats t_stats(const struct t *t)
{
	struct stack_stats st;

	stack_get_stats(t->stk, &st);
	return st;
}

uint64_t t_drops(const struct t *t, const char *sub)
{
	struct stack_stats st = t_stats(t);
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < 32; i++) {
		const char *name = stack_drop_reason_name(i);

		if (name && strcasestr(name, sub))
			sum += st.drop_reason[i];
	}
	return sum;
}

static void t_on_event(void *ctx, int sd)
{
	struct t *t = ctx;

	if (sd >= 0 && sd < (int)(sizeof(t->events) / sizeof(t->events[0])))
		t->events[sd]++;
}

unsigned t_events(struct t *t, int sd)
{
	unsigned n;

	if (sd < 0 || sd >= (int)(sizeof(t->events) / sizeof(t->events[0])))
		t_fail(t, __FILE__, __LINE__, "t_events: sd %d out of range", sd);
	n = t->events[sd];
	t->events[sd] = 0;
	return n;
}

/* ---- set-up and runner ---- */

static struct {
	uint8_t rx_trust_local, tx_offload;
} link_csum;

void t_link_csum(int rx_trust_local, int tx_offload)
{
	link_csum.rx_trust_local = rx_trust_local != 0;
	link_csum.tx_offload = tx_offload != 0;
}

static int family_v6;

void t_family(int af)
{
	family_v6 = af == AF_INET6;
}

int t_init(struct t *t, const char *name, const struct stack_config *cfg)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(T_LISTEN_PORT)};
	const char *dir = getenv("XTCP_T_CORPUS");
	int sd;

	memset(t, 0, offsetof(struct t, cap)); /* the capture ring needs no zeroing */
	t->name = name;
	t->now = 1000000;
	t->peer_win = 65535;
	t->listen_sd = -1;
	t->dev.ops = &t_dev_ops;
	memcpy(t->dev.info.mac, stack_mac, 6);
	t->dev.info.mtu = 1500;
	t->dev.info.ip4 = ip_of(STACK_IP);
	t->dev.info.prefix_len = 24;
	t->v6 = family_v6;
	/*
	 * T_FAMILY=inet6 runs the IPv4 scripts over IPv6: the link's MTU is
	 * then 1520, so that MTU - 60 is the 1460 (and 1448-byte segments) the
	 * scripts expect of MTU 1500 - 40.
	 */
	if (getenv("T_FAMILY") && !strcmp(getenv("T_FAMILY"), "inet6")) {
		t->v6 = 1;
		t->dev.info.mtu = 1520;
	}
	t->dev.info.ip6[0] = ip6_of(STACK_IP6);
	t->dev.info.ip6_prefix[0] = 64;
	t->dev.info.n_ip6 = 1;
	t->dev.info.ifindex = 1;
	t->dev.info.n_queues = 1;
	t->dev.info.rx_csum_trust_local = link_csum.rx_trust_local;
	t->dev.info.tx_csum_offload = link_csum.tx_offload;
	if (cfg)
		t->cfg = *cfg;
	t->cfg.dev = &t->dev;
	if (!t->cfg.on_event) {
		t->cfg.on_event = t_on_event;
		t->cfg.event_ctx = t;
	}
	if (!t->cfg.seed)
		t->cfg.seed = 0x5eed;
	t->stk = stack_create(&t->cfg);
	if (!t->stk) {
		fprintf(stderr, "%s: stack_create failed\n", name);
		return -1;
	}
	/* IPv6: a dual-stack listener on [::], as nginx's "listen [::]:80 ipv6only=off" */
	sd = t->v6 ? sock_socket6(t->stk) : sock_socket(t->stk);
	a.sin_port = htons(T_LISTEN_PORT);
	a.sin_addr.s_addr = ip_of(STACK_IP);
	if (sd < 0 || (t->v6 ? sock_bind6(t->stk, sd, &a6) : sock_bind(t->stk, sd, &a)) < 0 ||
	    sock_listen(t->stk, sd, 128) < 0) {
		fprintf(stderr, "%s: listener on port %d failed\n", name, T_LISTEN_PORT);
		stack_destroy(t->stk);
		t->stk = NULL;
		return -1;
	}
	t->listen_sd = sd;
	if (dir) {
		char path[512];

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		t->corpus = fopen(path, "wb");
	}
	t->corpus_time = t->now;
	return 0;
}

void t_fini(struct t *t)
{
	while (t->rx_head != t->rx_tail)
		free(t->rxq[t->rx_head++ % (sizeof(t->rxq) / sizeof(t->rxq[0]))]);
	if (t->stk)
		stack_destroy(t->stk);
	t->stk = NULL;
	if (t->corpus)
		fclose(t->corpus);
	t->corpus = NULL;
}

void t_run(const char *name, t_fn fn, const struct stack_config *cfg)
{
	const char *only = getenv("T_ONLY");
	struct t *t;

	if (only && strcmp(name, only) != 0)
		return;
	t = calloc(1, sizeof(*t));
	if (!t || t_init(t, name, cfg)) {
		fprintf(stderr, "FAIL %s: set-up\n", name);
		check_count(0);
		free(t);
		return;
	}
	if (setjmp(t->jb) == 0) {
		fn(t);
		if (t_pending(t)) {
			struct t_wire w;
			char gb[256];

			t_next(t, &w);
			t_fail(t, __FILE__, __LINE__, "test ended with unconsumed output: %s",
			       rel_str(cur(t), &w, gb, sizeof(gb)));
		}
	}
	if (check_count(!t->failed))
		printf("ok   %s\n", name);
	t_fini(t);
	free(t);
}
