/*
 * shim_handoff.c - misdirected segments go to the process that owns them.
 *
 * Processes serving one interface take one RX queue each; one that also
 * connects picks local ports p with p % n_queues == its queue. The peer (or
 * RSS) picks the queue of the replies, so some land on another process's
 * queue. That process's stack finds no socket and, before answering with a
 * RST, calls shim_handoff_misdirected() (stack_config.on_misdirected) when
 * the port is one another process picks: the frame is copied into a batch
 * and, at the end of the RX burst, sent to the owner of queue p % n_queues.
 * Where the sender picks the queue (veth) and moves a flow after an RTO, a
 * listener's stack offers an ACK it cannot match to
 * shim_handoff_unknown_flow() (stack_config.on_unknown_flow): the owner is
 * the queue the XDP program noted at the flow's SYN (xp_prog_syn_queue()).
 *
 * Endpoint: each such process binds an abstract AF_UNIX datagram socket
 * "\0xtcp-<ifindex>-q<queue>" (abstract names are per network namespace,
 * freed when the last fd closes). One datagram per owner and burst carries
 * up to HO_DGRAM_MAX bytes of records {u32 len, u32 magic, frame, pad to 8}:
 * one sendmsg per owner per burst, not per segment. The receiver accepts
 * datagrams only from root or its own uid (SO_PASSCRED), checks every
 * record, and the stack parses the frames as any received frame.
 * Failure: no endpoint (ECONNREFUSED) -> the frames are lost (the peer
 * retransmits) and that owner's segments get RSTs as before for HO_DEAD_US;
 * owner's queue full (EAGAIN) -> lost; all counted (shim_stats.h v4).
 *
 * Receive: struct shim_handoff wraps the process's port as a netdev:
 * rx_burst() takes the port's frames first, then frames from the datagrams
 * read (recvmmsg, HO_RX_DGRAMS at a time into a fixed pool) when a sleep
 * saw the endpoint readable (poll_ready), at every poll for
 * HO_HOT polls after a read that got some, else every HO_CHECK_EVERY polls
 * while the process is too busy to sleep; rx_done()
 * gives the port its frames back and sends the batch. Frames from the pool
 * are never offered again (no ping-pong).
 *
 * Fork: the child closes its copy of the endpoint with the engine's netdev
 * (the name stays the parent's) and binds its own if it builds an engine;
 * close-on-exec. A name
 * still held (the queue's previous holder exiting) is retried for 200 ms,
 * then every HO_REBIND_EVERY polls.
 * Memory: one struct per process, allocated when the engine starts, freed
 * by close(); all calls with shim.lock held.
 */
#include "shim.h"
#include "shim_handoff.h"
#include "netdev.h"
#include "stack.h"
#include "xp.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define HO_DGRAM_MAX	(32 * 1024) /* one datagram: a batch of records */
#define HO_RX_DGRAMS	8	    /* datagrams per recvmmsg (the kernel queues 10) */
#define HO_FRAME_MAX	9216	    /* jumbo frame */
#define HO_OUT_RECS	512	    /* records per batch (32 KiB of 64-byte ACKs) */
#define HO_CHECK_EVERY	32	    /* busy (never sleeping): look every 32 polls */
#define HO_HOT		64	    /* ... or at every poll for 64 polls after a read got some */
#define HO_MAX_QUEUES	256
#define HO_MAGIC	0x31686f78u /* "xho1" */
#define HO_FLOW_BITS	8	    /* passive flows' owners remembered (flow_owner()) */
#define HO_FLOW_US	100000	    /* ... each for this long */
#define HO_DEAD_US	1000000	    /* no owner: back to RSTs for this long */
#define HO_SNDBUF	(1 << 20)
#define HO_BIND_TRIES	20   /* name still held (its holder exiting): 10 ms apart */
#define HO_REBIND_EVERY 4096 /* then try again every so many polls */
#define HO_ETH_HLEN	14
#define HO_Q_DONE	0x8000u /* out_q[]: record sent or dropped */
#define HO_Q_KEEP	0x4000u /* out_q[]: record kept for the next flush */
#define HO_KEEP_US	20000	/* an owner that does not read for this long loses them */
#define HO_RETRY_US	200	/* kept records: the next try at the latest */

struct ho_rec {
	uint32_t len; /* frame bytes that follow */
	uint32_t magic;
};

/* A passive flow's owner queue, as last looked up (flow_owner()). */
struct ho_flow {
	struct in6_addr peer, local;
	uint16_t peer_port, local_port;
	int queue; /* -errno: not known */
	uint64_t until_us;
};

struct shim_handoff {
	struct netdev dev; /* first: the stack's handle */
	struct netdev *inner;
	int fd;
	int fd_slot; /* index of fd in the last poll_fds(), -1 if not there */
	bool bound;  /* the endpoint has our name: poll and read it */
	bool ready;  /* readable as far as we know */
	int ifindex;
	unsigned queue, n_queues;
	unsigned polls;
	unsigned hot;	  /* polls left to look at every poll (hand-off traffic flows) */
	unsigned n_inner; /* frames of the current burst from the port */
	/* receive pool: datagrams rx_cur.. not yet handed out from rx_off */
	unsigned rx_n, rx_cur;
	uint32_t rx_off;
	uint32_t rx_len[HO_RX_DGRAMS];
	struct mmsghdr rx_msg[HO_RX_DGRAMS];
	struct iovec rx_iov[HO_RX_DGRAMS];
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} rx_ctl[HO_RX_DGRAMS];
	/* send batch: records in out_buf, by destination queue */
	unsigned out_n;
	uint32_t out_len;
	uint32_t out_off[HO_OUT_RECS];
	uint16_t out_q[HO_OUT_RECS];
	uint16_t out_idx[HO_OUT_RECS];
	uint64_t keep_since_us; /* records kept (owner's queue full) since then */
	struct iovec out_iov[HO_OUT_RECS];
	uint64_t dead_until[HO_MAX_QUEUES]; /* owner without endpoint: RST until then */
	struct ho_flow flows[1u << HO_FLOW_BITS];
	uint8_t out_buf[HO_DGRAM_MAX] __attribute__((aligned(8)));
	uint8_t rx_buf[HO_RX_DGRAMS][HO_DGRAM_MAX] __attribute__((aligned(8)));
};

static bool ho_bind(struct shim_handoff *ho);

static struct shim_handoff *ho_of(struct netdev *dev)
{
	return (struct shim_handoff *)dev;
}

static uint32_t pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

static socklen_t ho_addr(struct sockaddr_un *a, int ifindex, unsigned q)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "xtcp-%d-q%u", ifindex, q);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* --- sending --- */

/* One datagram to queue q's owner: 0, -EAGAIN (its queue is full: keep), or -errno (lost). */
static int ho_send(struct shim_handoff *ho, unsigned q, struct iovec *iov, unsigned n)
{
	struct sockaddr_un a;
	struct msghdr m = {
		.msg_name = &a,
		.msg_namelen = ho_addr(&a, ho->ifindex, q),
		.msg_iov = iov,
		.msg_iovlen = n,
	};

	if (REAL(sendmsg)(ho->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
		SHIM_STAT(handoff_sent) += n;
		return 0;
	}
	if (errno == EAGAIN || errno == ENOBUFS)
		return -EAGAIN;
	SHIM_STAT(handoff_lost) += n;
	if (errno == ECONNREFUSED || errno == ENOENT) {
		ho->dead_until[q] = shim_now_us() + HO_DEAD_US;
		shim_debug("hand-off: no process serves queue %u: its segments get RSTs", q);
	} else {
		shim_debug("hand-off to queue %u: %s", q, strerror(errno));
	}
	return -errno;
}

static uint32_t rec_end(const struct shim_handoff *ho, unsigned j)
{
	return j + 1 < ho->out_n ? ho->out_off[j + 1] : ho->out_len;
}

/*
 * Send the batch: one datagram per destination queue. An owner whose queue
 * is full (the kernel holds net.unix.max_dgram_qlen = 10 datagrams) keeps
 * its records for the next flush, which sends them in one bigger datagram,
 * for HO_KEEP_US at most; with drop they are lost at once instead.
 */
static void ho_flush(struct shim_handoff *ho, bool drop)
{
	uint32_t w = 0, off, end;
	unsigned i, j, n, kept = 0;
	uint64_t now;

	for (i = 0; i < ho->out_n; i++) {
		unsigned q = ho->out_q[i];

		if (q & (HO_Q_DONE | HO_Q_KEEP))
			continue;
		for (n = 0, j = i; j < ho->out_n; j++) {
			if (ho->out_q[j] != q)
				continue;
			ho->out_iov[n] = (struct iovec){ho->out_buf + ho->out_off[j],
							rec_end(ho, j) - ho->out_off[j]};
			ho->out_idx[n++] = (uint16_t)j;
			ho->out_q[j] = HO_Q_DONE;
		}
		if (ho_send(ho, q, ho->out_iov, n) != -EAGAIN)
			continue;
		if (drop) {
			SHIM_STAT(handoff_lost) += n;
			continue;
		}
		for (j = 0; j < n; j++)
			ho->out_q[ho->out_idx[j]] = (uint16_t)(HO_Q_KEEP | q);
		kept += n;
	}
	if (!kept) {
		ho->out_n = 0;
		ho->out_len = 0;
		ho->keep_since_us = 0;
		return;
	}
	/* The kept records move to the front, in order. */
	for (i = 0, n = 0; i < ho->out_n; i++) {
		if (!(ho->out_q[i] & HO_Q_KEEP))
			continue;
		off = ho->out_off[i];
		end = rec_end(ho, i); /* before out_off[n <= i] is rewritten */
		memmove(ho->out_buf + w, ho->out_buf + off, end - off);
		ho->out_q[n] = ho->out_q[i] & ~HO_Q_KEEP;
		ho->out_off[n++] = w;
		w += end - off;
	}
	ho->out_n = n;
	ho->out_len = w;
	now = shim_now_us();
	if (!ho->keep_since_us)
		ho->keep_since_us = now;
	else if (now - ho->keep_since_us > HO_KEEP_US)
		ho_flush(ho, true); /* the owner does not read them: give up */
}

/* Queue the frame for queue q's owner: 1 taken, 0 answered here (RST). */
static int ho_queue(struct shim_handoff *ho, unsigned q, const uint8_t *frame, uint32_t len)
{
	uint32_t need = (uint32_t)sizeof(struct ho_rec) + pad8(len);
	struct ho_rec r = {.len = len, .magic = HO_MAGIC};

	/* Ours, too long, or handed to us already: answered here (RST). */
	if (q == ho->queue || len > HO_FRAME_MAX ||
	    (frame >= ho->rx_buf[0] && frame < ho->rx_buf[0] + sizeof(ho->rx_buf)))
		return 0;
	if (ho->dead_until[q]) {
		if (shim_now_us() < ho->dead_until[q]) {
			SHIM_STAT(handoff_no_owner)++;
			return 0;
		}
		ho->dead_until[q] = 0;
	}
	if (ho->out_n == HO_OUT_RECS || ho->out_len + need > HO_DGRAM_MAX)
		ho_flush(ho, false);
	if (ho->out_n == HO_OUT_RECS || ho->out_len + need > HO_DGRAM_MAX)
		ho_flush(ho, true); /* kept records fill the batch: they go */
	memcpy(ho->out_buf + ho->out_len, &r, sizeof(r));
	memcpy(ho->out_buf + ho->out_len + sizeof(r), frame, len);
	ho->out_off[ho->out_n] = ho->out_len;
	ho->out_q[ho->out_n++] = (uint16_t)q;
	ho->out_len += need;
	return 1;
}

int shim_handoff_misdirected(void *ctx, const uint8_t *frame, uint32_t len, uint16_t dport)
{
	struct shim_handoff *ho = ctx;

	return ho_queue(ho, dport % ho->n_queues, frame, len);
}

static unsigned flow_slot(const struct in6_addr *peer, uint16_t peer_port, uint16_t local_port)
{
	uint32_t h = (uint32_t)peer_port << 16 | local_port;

	for (int i = 0; i < 4; i++)
		h = (h ^ peer->s6_addr32[i]) * 0x9e3779b1u;
	return h >> (32 - HO_FLOW_BITS);
}

/*
 * The queue a passive flow started on, as the program noted at its SYN;
 * remembered for HO_FLOW_US, so that a flow whose every segment now lands
 * here costs one map lookup (a system call) per that time, not per segment.
 */
static int flow_owner(struct shim_handoff *ho, const struct in6_addr *peer, uint16_t peer_port,
		      const struct in6_addr *local, uint16_t local_port)
{
	struct ho_flow *f = &ho->flows[flow_slot(peer, peer_port, local_port)];
	uint64_t now = shim_now_us();

	if (f->until_us > now && f->peer_port == peer_port && f->local_port == local_port &&
	    !memcmp(&f->peer, peer, 16) && !memcmp(&f->local, local, 16))
		return f->queue;
	f->peer = *peer;
	f->local = *local;
	f->peer_port = peer_port;
	f->local_port = local_port;
	f->queue = shim.prog ? xp_prog_syn_queue(shim.prog, peer, peer_port, local, local_port)
			     : -ENOENT;
	f->until_us = now + HO_FLOW_US;
	return f->queue;
}

int shim_handoff_unknown_flow(void *ctx, const uint8_t *frame, uint32_t len,
			      const struct in6_addr *peer, uint16_t peer_port,
			      const struct in6_addr *local, uint16_t local_port)
{
	struct shim_handoff *ho = ctx;
	int q;

	if (frame >= ho->rx_buf[0] && frame < ho->rx_buf[0] + sizeof(ho->rx_buf))
		return 0; /* handed to us already: no owner knows it, RST */
	q = flow_owner(ho, peer, peer_port, local, local_port);
	if (q < 0 || (unsigned)q >= ho->n_queues)
		return 0;
	return ho_queue(ho, (unsigned)q, frame, len);
}

/* --- receiving --- */

/* Sent by root or by our own user? (Abstract names have no permissions.) */
static bool ho_cred_ok(struct msghdr *m, uid_t uid, uid_t euid)
{
	struct cmsghdr *c;
	struct ucred uc;

	if (m->msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return false;
	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
		    c->cmsg_len < CMSG_LEN(sizeof(uc)))
			continue;
		memcpy(&uc, CMSG_DATA(c), sizeof(uc));
		return uc.uid == 0 || uc.uid == uid || uc.uid == euid;
	}
	return false;
}

/* Refill the pool (all of it handed out and returned): one recvmmsg. */
static void ho_read(struct shim_handoff *ho)
{
	unsigned i;
	int r;

	for (i = 0; i < HO_RX_DGRAMS; i++) {
		ho->rx_iov[i] = (struct iovec){ho->rx_buf[i], HO_DGRAM_MAX};
		ho->rx_msg[i].msg_hdr = (struct msghdr){
			.msg_iov = &ho->rx_iov[i],
			.msg_iovlen = 1,
			.msg_control = ho->rx_ctl[i].buf,
			.msg_controllen = sizeof(ho->rx_ctl[i].buf),
		};
		ho->rx_msg[i].msg_len = 0;
	}
	ho->rx_n = ho->rx_cur = 0;
	ho->rx_off = 0;
	r = REAL(recvmmsg)(ho->fd, ho->rx_msg, HO_RX_DGRAMS, MSG_DONTWAIT, NULL);
	/*
	 * While hand-off traffic flows, look at every poll: the kernel queues
	 * only 10 datagrams (net.unix.max_dgram_qlen) before the senders get
	 * EAGAIN, and a busy process may not sleep for a long time.
	 */
	if (r > 0)
		ho->hot = HO_HOT;
	else if (ho->hot)
		ho->hot--;
	if (r <= 0) {
		if (r < 0 && errno != EAGAIN)
			shim_debug("hand-off endpoint: %s", strerror(errno));
		ho->ready = false;
		return;
	}
	ho->ready = r == HO_RX_DGRAMS; /* more may wait */
	uid_t uid = getuid(), euid = geteuid();

	for (i = 0; i < (unsigned)r; i++) {
		ho->rx_len[i] = ho->rx_msg[i].msg_len;
		if (!ho_cred_ok(&ho->rx_msg[i].msg_hdr, uid, euid)) {
			SHIM_STAT(handoff_rejected)++;
			ho->rx_len[i] = 0;
		}
	}
	ho->rx_n = (unsigned)r;
}

/*
 * Frames from the pool into pkts (at most max); a record that does not
 * check out ends its datagram.
 */
static unsigned ho_take(struct shim_handoff *ho, struct pkt *pkts, unsigned max)
{
	unsigned n = 0;
	struct ho_rec r;

	if (ho->rx_cur >= ho->rx_n) {
		if (!ho->ready && !ho->hot && ++ho->polls % HO_CHECK_EVERY)
			return 0;
		ho_read(ho); /* the previous frames all came back with rx_done */
	}
	while (n < max && ho->rx_cur < ho->rx_n) {
		uint8_t *b = ho->rx_buf[ho->rx_cur];
		uint32_t len = ho->rx_len[ho->rx_cur], off = ho->rx_off;

		if (off >= len || len - off < sizeof(r)) {
			ho->rx_cur++;
			ho->rx_off = 0;
			continue;
		}
		memcpy(&r, b + off, sizeof(r));
		if (r.magic != HO_MAGIC || r.len < HO_ETH_HLEN || r.len > HO_FRAME_MAX ||
		    r.len > len - off - (uint32_t)sizeof(r)) {
			SHIM_STAT(handoff_rejected)++;
			ho->rx_cur++;
			ho->rx_off = 0;
			continue;
		}
		pkts[n++] = (struct pkt){.data = b + off + sizeof(r), .len = r.len, .addr = 0};
		ho->rx_off = off + (uint32_t)sizeof(r) + pad8(r.len);
	}
	SHIM_STAT(handoff_received) += n;
	return n;
}

/* --- the netdev wrapper --- */

static unsigned ho_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct shim_handoff *ho = ho_of(dev);
	unsigned c, room = max;

	if (ho->out_n)
		ho_flush(ho, false);
	/*
	 * Hand-off frames waiting or flowing: the port gets half the burst, or
	 * a busy port (full bursts) would starve them and their senders would
	 * find our queue full.
	 */
	if (ho->bound && (ho->ready || ho->hot || ho->rx_cur < ho->rx_n))
		room = max - max / 2;
	c = ho->inner->ops->rx_burst(ho->inner, pkts, room);
	ho->n_inner = c;
	if (c < max && ho->bound)
		c += ho_take(ho, pkts + c, max - c);
	else if (!ho->bound && ++ho->polls % HO_REBIND_EVERY == 0 && ho_bind(ho))
		shim_info("hand-off endpoint xtcp-%d-q%u bound", ho->ifindex, ho->queue);
	return c;
}

static void ho_rx_done(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct shim_handoff *ho = ho_of(dev);
	unsigned c = ho->n_inner < n ? ho->n_inner : n;

	if (c)
		ho->inner->ops->rx_done(ho->inner, pkts, c);
	ho->n_inner = 0;
	if (ho->out_n)
		ho_flush(ho, false); /* what this burst handed off */
}

static int ho_tx_alloc(struct netdev *dev, struct pkt *pkt, uint32_t len)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->tx_alloc(p, pkt, len);
}

static void ho_tx_free(struct netdev *dev, struct pkt *pkt)
{
	struct netdev *p = ho_of(dev)->inner;

	p->ops->tx_free(p, pkt);
}

static void ho_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct netdev *p = ho_of(dev)->inner;

	p->ops->tx_queue(p, pkts, n);
}

static int ho_tx_flush(struct netdev *dev)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->tx_flush(p);
}

static int ho_tx_pending(struct netdev *dev)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->tx_pending ? p->ops->tx_pending(p) : 0;
}

static int ho_resolve(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6])
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->resolve ? p->ops->resolve(p, dst_ip4, mac) : -EHOSTUNREACH;
}

static int ho_resolve6(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6])
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->resolve6 ? p->ops->resolve6(p, dst, mac) : -ENETUNREACH;
}

static int ho_path_mtu(struct netdev *dev, uint32_t dst_ip4, uint64_t max_age_us, uint32_t *mtu)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->path_mtu ? p->ops->path_mtu(p, dst_ip4, max_age_us, mtu) : -ENOENT;
}

static int ho_path_mtu6(struct netdev *dev, const struct in6_addr *dst, uint64_t max_age_us,
			uint32_t *mtu)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->path_mtu6 ? p->ops->path_mtu6(p, dst, max_age_us, mtu) : -ENOENT;
}

static uint8_t ho_hop_limit(struct netdev *dev, const struct in6_addr *dst)
{
	struct netdev *p = ho_of(dev)->inner;

	return p->ops->hop_limit ? p->ops->hop_limit(p, dst) : 0;
}

/* The port's fds, then the endpoint while it has our name. */
static unsigned ho_poll_fds(struct netdev *dev, int *fds, unsigned max)
{
	struct shim_handoff *ho = ho_of(dev);
	unsigned n = ho->inner->ops->poll_fds ? ho->inner->ops->poll_fds(ho->inner, fds, max) : 0;

	ho->fd_slot = -1;
	if (ho->bound && n < max) {
		ho->fd_slot = (int)n;
		fds[n++] = ho->fd;
	}
	return n;
}

/* A sleep saw the endpoint readable: the next rx_burst reads it. */
static void ho_poll_ready(struct netdev *dev, uint32_t ready)
{
	struct shim_handoff *ho = ho_of(dev);

	if (ho->fd_slot >= 0 && (ready & (1u << ho->fd_slot)))
		ho->ready = true;
	if (ho->inner->ops->poll_ready)
		ho->inner->ops->poll_ready(ho->inner, ready);
}

/*
 * Poll again now while frames read from the endpoint wait in the pool, soon
 * while frames for an owner whose queue was full wait to be sent again.
 */
static uint64_t ho_next_deadline(struct netdev *dev, uint64_t now_us)
{
	struct shim_handoff *ho = ho_of(dev);
	uint64_t until = ho->inner->ops->next_deadline
				 ? ho->inner->ops->next_deadline(ho->inner, now_us)
				 : UINT64_MAX;

	if (ho->rx_cur < ho->rx_n)
		return now_us;
	if (ho->out_n && now_us + HO_RETRY_US < until)
		until = now_us + HO_RETRY_US;
	return until;
}

/*
 * Close the endpoint and the port. In a fork child only this copy of the
 * endpoint closes: the parent keeps its name.
 */
static void ho_close(struct netdev *dev)
{
	struct shim_handoff *ho = ho_of(dev);

	if (ho->inner->ops->close)
		ho->inner->ops->close(ho->inner);
	REAL(close)(ho->fd);
	free(ho);
}

static const struct netdev_ops ho_ops = {
	.rx_burst = ho_rx_burst,
	.rx_done = ho_rx_done,
	.tx_alloc = ho_tx_alloc,
	.tx_free = ho_tx_free,
	.tx_queue = ho_tx_queue,
	.tx_flush = ho_tx_flush,
	.resolve = ho_resolve,
	.resolve6 = ho_resolve6,
	.path_mtu = ho_path_mtu,
	.path_mtu6 = ho_path_mtu6,
	.hop_limit = ho_hop_limit,
	.poll_fds = ho_poll_fds,
	.poll_ready = ho_poll_ready,
	.next_deadline = ho_next_deadline,
	.tx_pending = ho_tx_pending,
	.close = ho_close,
};

/* --- life cycle --- */

static bool ho_bind(struct shim_handoff *ho)
{
	struct sockaddr_un a;

	ho->bound =
		REAL(bind)(ho->fd, (struct sockaddr *)&a, ho_addr(&a, ho->ifindex, ho->queue)) == 0;
	return ho->bound;
}

struct netdev *shim_handoff_attach(struct netdev *dev, unsigned queue, unsigned n_queues,
				   struct stack_config *cfg)
{
	struct shim_handoff *ho;
	int one = 1, sz = HO_SNDBUF;

	if (n_queues < 2 || n_queues > HO_MAX_QUEUES || queue >= n_queues)
		return dev;
	ho = calloc(1, sizeof(*ho));
	if (!ho)
		return dev;
	ho->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ho->fd < 0) {
		shim_warn("no hand-off endpoint (%s): replies landing on other queues get RSTs",
			  strerror(errno));
		free(ho);
		return dev;
	}
	if (REAL(setsockopt)(ho->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)))
		shim_debug("hand-off: SO_PASSCRED: %s", strerror(errno));
	if (REAL(setsockopt)(ho->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		REAL(setsockopt)(ho->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	ho->inner = dev;
	ho->ifindex = dev->info.ifindex;
	ho->queue = queue;
	ho->n_queues = n_queues;
	/*
	 * EADDRINUSE: the queue's previous holder (a replaced nginx worker) may
	 * be exiting right now; its name goes with its last fd. Then retry in
	 * the background (ho_rebind).
	 */
	for (int i = 0; i < HO_BIND_TRIES && !ho_bind(ho); i++)
		usleep(10000);
	if (!ho->bound)
		shim_warn("hand-off endpoint xtcp-%d-q%u: %s: replies for this process landing "
			  "on other queues get RSTs until it is free",
			  ho->ifindex, queue, strerror(errno));
	ho->dev.ops = &ho_ops;
	ho->dev.info = dev->info;
	cfg->on_misdirected = shim_handoff_misdirected;
	if (shim.prog && xp_prog_notes_syn_queue(shim.prog))
		cfg->on_unknown_flow = shim_handoff_unknown_flow;
	cfg->misdirected_ctx = ho;
	shim_debug("hand-off endpoint xtcp-%d-q%u of %u", ho->ifindex, queue, n_queues);
	return &ho->dev;
}
