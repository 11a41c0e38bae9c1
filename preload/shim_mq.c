/*
 * shim_mq.c - one struct netdev over several AF_XDP ports (RX queues) of one
 * interface, for a process that must see every queue: a client-only process
 * (XTCP_CONNECT_PORTS, no served listener), whose replies arrive on whatever
 * queue the peer's hashing picks. Processes that serve listeners take one
 * queue each instead (share-nothing, see shim_engine.c).
 *
 * Call order (the stack's, once per stack_poll): rx_burst() gathers from the
 * ports in turn, starting one further each time (fairness), and remembers how
 * many frames came from which port; rx_done() returns them to their own
 * port's fill ring in the same order (the stack returns exactly the burst it
 * got). Transmit always uses the first port: any queue can send.
 * wait_fd() is an epoll fd holding every port's socket, so one poll waits
 * for all queues.
 * Memory: one struct per process, never freed; frames belong to the ports.
 */
#include "shim.h"
#include "netdev.h"
#include "xp.h"

#include <stdlib.h>
#include <string.h>

#define MQ_MAX 64

struct shim_mq {
	struct netdev dev; /* first: the stack's handle */
	unsigned n;
	struct netdev *port[MQ_MAX];
	unsigned start;	 /* first port of the next burst */
	unsigned n_last; /* ports in the last burst's record */
	unsigned last_port[MQ_MAX], last_cnt[MQ_MAX];
	int epfd;
};

static struct shim_mq *mq_of(struct netdev *dev)
{
	return (struct shim_mq *)dev;
}

static unsigned mq_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct shim_mq *mq = mq_of(dev);
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
	struct shim_mq *mq = mq_of(dev);
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
	struct netdev *p = mq_of(dev)->port[0];

	return p->ops->tx_alloc(p, pkt, len);
}

static void mq_tx_free(struct netdev *dev, struct pkt *pkt)
{
	struct netdev *p = mq_of(dev)->port[0];

	p->ops->tx_free(p, pkt);
}

static void mq_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct netdev *p = mq_of(dev)->port[0];

	p->ops->tx_queue(p, pkts, n);
}

static int mq_tx_flush(struct netdev *dev)
{
	struct netdev *p = mq_of(dev)->port[0];

	return p->ops->tx_flush(p);
}

static int mq_wait_fd(struct netdev *dev)
{
	return mq_of(dev)->epfd;
}

static int mq_resolve(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6])
{
	struct netdev *p = mq_of(dev)->port[0];

	return p->ops->resolve ? p->ops->resolve(p, dst_ip4, mac) : -EHOSTUNREACH;
}

static const struct netdev_ops mq_ops = {
	.rx_burst = mq_rx_burst,
	.rx_done = mq_rx_done,
	.tx_alloc = mq_tx_alloc,
	.tx_free = mq_tx_free,
	.tx_queue = mq_tx_queue,
	.tx_flush = mq_tx_flush,
	.wait_fd = mq_wait_fd,
	.resolve = mq_resolve,
};

struct netdev *shim_mq_create(struct netdev **ports, unsigned n)
{
	struct shim_mq *mq;
	struct epoll_event ev = {.events = EPOLLIN};
	unsigned i;

	if (n == 0 || n > MQ_MAX)
		return NULL;
	mq = calloc(1, sizeof(*mq));
	if (!mq)
		return NULL;
	mq->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (mq->epfd < 0) {
		free(mq);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		mq->port[i] = ports[i];
		ev.data.u32 = i;
		if (REAL(epoll_ctl)(mq->epfd, EPOLL_CTL_ADD, ports[i]->ops->wait_fd(ports[i]),
				    &ev)) {
			REAL(close)(mq->epfd);
			free(mq);
			return NULL;
		}
	}
	mq->n = n;
	mq->dev.ops = &mq_ops;
	mq->dev.info = ports[0]->info;
	return &mq->dev;
}
