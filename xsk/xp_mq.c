/*
 * xp_mq.c - one struct netdev over several AF_XDP ports (RX queues) of one
 * interface, for a process that must see every queue: a client-only process
 * (XTCP_CONNECT_PORTS, no served listener), whose replies arrive on whatever
 * queue the peer's hashing picks, and a process started by exec that takes
 * every free queue. Processes forked to serve listeners take one queue each
 * instead (share-nothing, see preload/shim_engine.c).
 *
 * Call order (the stack's, once per stack_poll): rx_burst() gathers from the
 * ports in turn, starting one further each time (fairness), and remembers how
 * many frames came from which port; rx_done() returns them to their own
 * port's fill ring in the same order (the stack returns exactly the burst it
 * got). Transmit always uses the first port: any queue can send.
 * poll_fds() is one epoll fd holding every port's sockets, so one sleep
 * waits for all queues however many there are.
 * Memory: the decorator owns its ports; close() closes them all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "netdev.h"
#include "xp.h"
#include "xp_sys.h"

#define MQ_MAX 64

struct xp_mq {
	struct netdev dev; /* first: the stack's handle */
	unsigned n;
	struct netdev *port[MQ_MAX];
	unsigned start;	 /* first port of the next burst */
	unsigned n_last; /* ports in the last burst's record */
	unsigned last_port[MQ_MAX], last_cnt[MQ_MAX];
	int epfd;
};

static struct xp_mq *mq_of(struct netdev *dev)
{
	return (struct xp_mq *)dev;
}

static struct netdev *mq_tx_port(struct netdev *dev)
{
	return mq_of(dev)->port[0];
}

static unsigned mq_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct xp_mq *mq = mq_of(dev);
	unsigned k, i, c, total = 0;

	mq->n_last = 0;
	for (k = 0; k < mq->n && total < max; k++) {
		i = (mq->start + k) % mq->n;
		c = mq->port[i]->ops->rx_burst(mq->port[i], pkts + total, max - total);
		if (!c)
			continue;
		mq->last_port[mq->n_last] = i;
		mq->last_cnt[mq->n_last++] = c;
		total += c;
	}
	mq->start = (mq->start + 1) % mq->n;
	return total;
}

static void mq_rx_done(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct xp_mq *mq = mq_of(dev);
	unsigned j, off = 0, c;

	for (j = 0; j < mq->n_last && off < n; j++) {
		struct netdev *p = mq->port[mq->last_port[j]];

		c = mq->last_cnt[j] < n - off ? mq->last_cnt[j] : n - off;
		p->ops->rx_done(p, pkts + off, c);
		off += c;
	}
	mq->n_last = 0;
}

static int mq_tx_alloc(struct netdev *dev, struct pkt *pkt, uint32_t len)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->tx_alloc(p, pkt, len);
}

static void mq_tx_free(struct netdev *dev, struct pkt *pkt)
{
	struct netdev *p = mq_tx_port(dev);

	p->ops->tx_free(p, pkt);
}

static void mq_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct netdev *p = mq_tx_port(dev);

	p->ops->tx_queue(p, pkts, n);
}

static int mq_tx_flush(struct netdev *dev)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->tx_flush(p);
}

static int mq_tx_pending(struct netdev *dev)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->tx_pending ? p->ops->tx_pending(p) : 0;
}

static unsigned mq_poll_fds(struct netdev *dev, int *fds, unsigned max)
{
	if (!max)
		return 0;
	fds[0] = mq_of(dev)->epfd;
	return 1;
}

static uint64_t mq_next_deadline(struct netdev *dev, uint64_t now_us)
{
	struct xp_mq *mq = mq_of(dev);
	uint64_t until = UINT64_MAX;

	for (unsigned i = 0; i < mq->n; i++) {
		struct netdev *p = mq->port[i];
		uint64_t t = p->ops->next_deadline ? p->ops->next_deadline(p, now_us) : UINT64_MAX;

		if (t < until)
			until = t;
	}
	return until;
}

static int mq_resolve(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6])
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->resolve ? p->ops->resolve(p, dst_ip4, mac) : -EHOSTUNREACH;
}

static int mq_resolve6(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6])
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->resolve6 ? p->ops->resolve6(p, dst, mac) : -ENETUNREACH;
}

static int mq_path_mtu(struct netdev *dev, uint32_t dst_ip4, uint64_t max_age_us, uint32_t *mtu)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->path_mtu ? p->ops->path_mtu(p, dst_ip4, max_age_us, mtu) : -ENOENT;
}

static int mq_path_mtu6(struct netdev *dev, const struct in6_addr *dst, uint64_t max_age_us,
			uint32_t *mtu)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->path_mtu6 ? p->ops->path_mtu6(p, dst, max_age_us, mtu) : -ENOENT;
}

static uint8_t mq_hop_limit(struct netdev *dev, const struct in6_addr *dst)
{
	struct netdev *p = mq_tx_port(dev);

	return p->ops->hop_limit ? p->ops->hop_limit(p, dst) : 0;
}

static void mq_close(struct netdev *dev)
{
	struct xp_mq *mq = mq_of(dev);

	for (unsigned i = 0; i < mq->n; i++)
		if (mq->port[i]->ops->close)
			mq->port[i]->ops->close(mq->port[i]);
	xp_sys_close(mq->epfd);
	free(mq);
}

static const struct netdev_ops mq_ops = {
	.rx_burst = mq_rx_burst,
	.rx_done = mq_rx_done,
	.tx_alloc = mq_tx_alloc,
	.tx_free = mq_tx_free,
	.tx_queue = mq_tx_queue,
	.tx_flush = mq_tx_flush,
	.resolve = mq_resolve,
	.resolve6 = mq_resolve6,
	.path_mtu = mq_path_mtu,
	.path_mtu6 = mq_path_mtu6,
	.hop_limit = mq_hop_limit,
	.poll_fds = mq_poll_fds,
	.tx_pending = mq_tx_pending,
	.next_deadline = mq_next_deadline,
	.close = mq_close,
};

struct netdev *xp_mq_create(struct netdev **ports, unsigned n)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct xp_mq *mq;
	int fds[NETDEV_POLL_FDS_MAX];

	if (n == 0 || n > MQ_MAX)
		return NULL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return NULL;
	mq->epfd = xp_sys_epoll_create1(EPOLL_CLOEXEC);
	if (mq->epfd < 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		unsigned k =
			ports[i]->ops->poll_fds ? ports[i]->ops->poll_fds(ports[i], fds, 1) : 0;

		mq->port[i] = ports[i];
		ev.data.u32 = i;
		if (k && xp_sys_epoll_ctl(mq->epfd, EPOLL_CTL_ADD, fds[0], &ev))
			goto fail;
	}
	mq->n = n;
	mq->dev.ops = &mq_ops;
	mq->dev.info = ports[0]->info;
	return &mq->dev;
fail:
	if (mq->epfd >= 0)
		xp_sys_close(mq->epfd);
	free(mq);
	return NULL;
}
