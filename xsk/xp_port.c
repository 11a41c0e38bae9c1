/*
 * xp_port.c - one AF_XDP socket on one RX queue, with its own UMEM
 * (xp_umem.c), implementing struct netdev (stack/netdev.h) for the stack.
 *
 * Call order: xp_port_open() (the UMEM's socket, xp_umem.c, gets its RX and
 * TX rings and is bound with need_wakeup; then our XSKMAP slot is set) -> per loop:
 * rx_burst() -> rx_done() -> tx_alloc()/tx_queue()... -> tx_flush() -> sleep
 * in poll() on wait_fd() -> xp_port_close().
 *
 * need_wakeup: the kernel sets a flag on a ring when it needs a system call
 * to make progress. TX: tx_flush() kicks (sendto) only when the TX ring asks,
 * once per loop. RX: when the fill ring asks, rx_done() wakes the driver with
 * recvfrom(); an idle application sleeps in poll() on the socket fd, which
 * wakes the driver too. With busy_poll (xp.h) rx_burst() also calls
 * recvfrom() when the ring is empty, to run the NAPI itself; it never spins.
 *
 * Memory: the port and its UMEM are allocated at open, never per packet.
 * pkt->addr is the UMEM offset of pkt->data. pkt->data is 2 mod 4 (the IP
 * header after Ethernet is 4-byte aligned). RX frames go back to the fill ring in
 * rx_done(); TX frames come from the UMEM's free stack and return to it on
 * completion (or tx_free(), or a full TX ring, counted).
 */
#include <errno.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "netdev.h"
#include "xp_priv.h"
#include "xp_sys.h"
#include "xtcp_xdp.h"

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9 /* Linux 6.17 uapi */
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif
/* Frames the kernel had no room for: kick again this much later at the latest. */
#define XP_TX_RETRY_US 200

struct xp_port {
	struct netdev dev; /* first: the stack's handle is a pointer to this */
	struct xp_prog *prog;
	struct xp_umem umem;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	void *rx_map, *tx_map; /* the RX and TX rings' mappings */
	size_t rx_len, tx_len;
	int fd;	      /* = umem.fd: the UMEM is registered on the port's own socket */
	bool tx_csum; /* TCP checksums finished by the kernel or device (TX metadata) */
	unsigned queue_id;
	bool tx_kick_pending; /* descriptors submitted since the last kick */
	bool busy_poll;	      /* the driver's NAPI runs in our recvfrom/sendto */
	bool polled;	      /* a sendto since the last rx_burst ran the NAPI already */
	uint64_t *rx_stash;   /* RX frames the fill ring could not take yet */
	uint32_t n_stash;
	struct xp_port_stats st;
	enum xp_rx_csum rx_csum; /* the policy netdev_info.rx_csum_trust_local comes from */
	/* Shared queues (xp_share.c): umem.sh set when a process may join this queue. */
	int member;   /* our slot in the queue's group */
	int doorbell; /* first holder, solo: eventfd a joiner writes to wake us, or -1 */
	pid_t owner;  /* the process that opened the port (a forked child only lets go) */
	bool no_syn;  /* shared and not listening: SYNs already on their way are dropped */
	bool left;    /* xp_port_leave() done */
	/* routes that set a hop limit (xp_nl_route_hops()), read at open */
	struct xp_hop_route hop_routes[XP_HOP_ROUTES];
	unsigned n_hop_routes;
};

static struct xp_port *port_of(struct netdev *dev)
{
	return (struct xp_port *)dev;
}

static void rx_stash_flush(struct xp_port *p)
{
	if (p->n_stash && !xp_umem_fill(&p->umem, p->rx_stash, p->n_stash))
		p->n_stash = 0;
}

static bool pure_syn(const struct pkt *k)
{
	const uint8_t *f = k->data;
	unsigned ihl;

	/* Ethernet, IPv4 (protocol 6), TCP flags SYN without ACK: the program parsed it already. */
	if (k->len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6)
		return false;
	ihl = (f[14] & 0xf) * 4u;
	return k->len >= 14 + ihl + 20 && (f[14 + ihl + 13] & 0x12) == 0x02;
}

/*
 * A member of a shared queue that stopped listening takes no new flows (the
 * program sends them to the others), but SYNs steered to it just before may
 * still be on its ring: dropped, the peer retries and reaches a member that
 * listens, instead of meeting a stack without listener (RST).
 */
static unsigned drop_syns(struct xp_port *p, struct pkt *pkts, unsigned n)
{
	uint64_t gone[NETDEV_BURST_MAX];
	unsigned k = 0, g = 0;

	for (unsigned i = 0; i < n; i++) {
		if (pure_syn(&pkts[i]))
			gone[g++] = pkts[i].addr;
		else
			pkts[k++] = pkts[i];
	}
	/* A shared UMEM's fill never fails: what the ring cannot take goes to the free stack. */
	xp_umem_fill(&p->umem, gone, g);
	p->st.drain_syn += g;
	return k;
}

/*
 * The first holder of a queue, alone on its rings, sees that a process asks
 * to join (xp_share.c): from now on it uses them under the group's lock.
 * Here, at the start of a poll, no ring operation of ours is under way.
 */
static void share_switch(struct xp_port *p)
{
	uint64_t v;

	rx_stash_flush(p);
	xp_umem_share_begin(&p->umem);
	if (p->doorbell >= 0) {
		xp_sys_read(p->doorbell, &v, sizeof(v));
		xp_sys_close(p->doorbell);
		p->doorbell = -1;
	}
	xp_log(2, p->prog->log_level, "%s queue %u: shared with another process from now on",
	       p->prog->ifname, p->queue_id);
}

static unsigned xp_rx_burst(struct netdev *dev, struct pkt *pkts, unsigned max)
{
	struct xp_port *p = port_of(dev);
	uint32_t idx, n;

	if (p->umem.sh && !p->umem.shared &&
	    __atomic_load_n(&p->umem.sh->join_req, __ATOMIC_ACQUIRE) != p->umem.sh->join_ack)
		share_switch(p);
	if (max > NETDEV_BURST_MAX)
		max = NETDEV_BURST_MAX;
	n = xsk_ring_cons__peek(&p->rx, max, &idx);
	if (!n && p->busy_poll && !p->polled) {
		/*
		 * Preferred busy polling: nothing arrives unless we run the NAPI;
		 * a TX kick since the last burst ran it already (xsk_sendmsg).
		 */
		xp_sys_recvfrom(p->fd, NULL, 0, MSG_DONTWAIT);
		n = xsk_ring_cons__peek(&p->rx, max, &idx);
	}
	p->polled = false;
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&p->rx, idx + i);

		pkts[i].addr = d->addr;
		pkts[i].data = xsk_umem__get_data(p->umem.area, d->addr);
		pkts[i].len = d->len;
	}
	/* The descriptors are copied: the slots go back, the frames stay ours. */
	if (n)
		xsk_ring_cons__release(&p->rx, n);
	p->st.rx_packets += n;
	return p->no_syn ? drop_syns(p, pkts, n) : n;
}

static void xp_rx_done(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	struct xp_port *p = port_of(dev);
	uint64_t addrs[NETDEV_BURST_MAX];
	unsigned i, k;

	rx_stash_flush(p);
	for (i = 0; i < n; i += k) {
		k = n - i < NETDEV_BURST_MAX ? n - i : NETDEV_BURST_MAX;
		for (unsigned j = 0; j < k; j++)
			addrs[j] = pkts[i + j].addr;
		if (p->n_stash || xp_umem_fill(&p->umem, addrs, k)) {
			/* Cannot happen while each RX frame owns a fill slot; keep them. */
			for (unsigned j = 0; j < k && p->n_stash < p->umem.n_rx; j++)
				p->rx_stash[p->n_stash++] = xp_umem_frame(&p->umem, addrs[j]);
		}
	}
	if (xsk_ring_prod__needs_wakeup(&p->umem.fq))
		xp_sys_recvfrom(p->fd, NULL, 0, MSG_DONTWAIT);
}

static int xp_tx_alloc(struct netdev *dev, struct pkt *pkt, uint32_t len)
{
	struct xp_port *p = port_of(dev);
	struct xp_umem *u = &p->umem;
	uint64_t addr;

	if (len > u->frame_size - u->tx_off)
		return -EMSGSIZE;
	if (u->shared) {
		if (xp_umem_share_tx_get(u, &addr))
			return -ENOBUFS;
		addr += u->tx_off;
		goto got;
	}
	if (!u->n_tx_free)
		xp_umem_complete(u);
	if (!u->n_tx_free)
		return -ENOBUFS;
	addr = u->tx_free[--u->n_tx_free] + u->tx_off;
got:
	pkt->addr = addr;
	pkt->data = xsk_umem__get_data(u->area, addr);
	pkt->len = len;
	return 0;
}

static void xp_tx_free(struct netdev *dev, struct pkt *pkt)
{
	struct xp_umem *u = &port_of(dev)->umem;
	uint64_t addr = xp_umem_frame(u, pkt->addr);

	if (u->shared) {
		xp_umem_share_tx_put(u, addr);
		return;
	}
	/* Only TX frames belong to the pool (an RX frame here would be a caller bug). */
	if (addr >= (uint64_t)u->n_rx * u->frame_size && addr < u->size &&
	    u->n_tx_free < u->n_frames - u->n_rx)
		u->tx_free[u->n_tx_free++] = addr;
}

/* Descriptors on the TX ring the kernel has not taken yet. */
static uint32_t tx_unsent(const struct xp_port *p)
{
	return *p->tx.producer - __atomic_load_n(p->tx.consumer, __ATOMIC_ACQUIRE);
}

/*
 * Make the kernel send what the TX ring holds. In copy mode one sendto()
 * sends a batch (32 by default, the ring with XDP_MAX_TX_SKB_BUDGET) and
 * answers EAGAIN while more is left, but also when the kernel has no room:
 * the socket's send buffer is full of frames the peer has not consumed yet
 * (veth: until the receiver's NAPI takes them), or the device queue is
 * stopped. EBUSY: the device dropped one frame (the rest still wait). So
 * call again only while a call made progress: retrying a kernel without
 * room is a futile system call, and a bulk sender would make one for every
 * few frames it sends. What is left waits for the next loop
 * (xp_tx_pending(): the stack kicks again at its next poll, which comes
 * with the next ACK or at xp_next_deadline(), XP_TX_RETRY_US later). Bounded. In zero-copy mode one
 * call wakes the driver, which sends on its own.
 */
static int tx_kick(struct xp_port *p)
{
	unsigned max = p->umem.n_rx / 8 + 8; /* 4x the kicks a full ring needs at 32 */
	uint32_t left = tx_unsent(p);
	int err = 0;

	xp_umem_complete(&p->umem); /* room on the completion ring */
	for (unsigned i = 0; i < max && left; i++) {
		int e = 0;

		p->st.tx_kicks++;
		p->polled = true;
		if (xp_sys_sendto(p->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
			if (p->st.zero_copy)
				break;
		} else {
			e = errno;
			if (e != EAGAIN && e != EINTR && e != EBUSY) {
				if (e != ENOBUFS && e != ENETDOWN)
					err = -e;
				break;
			}
		}
		uint32_t now_left = tx_unsent(p);

		if (now_left == left && e != EINTR)
			break; /* no room in the kernel: nothing moves until it frees some */
		left = now_left;
	}
	xp_umem_complete(&p->umem);
	return err;
}

static int xp_tx_flush(struct netdev *dev)
{
	struct xp_port *p = port_of(dev);
	int err = 0;

	if (p->tx_kick_pending && xsk_ring_prod__needs_wakeup(&p->tx))
		err = tx_kick(p);
	xp_umem_complete(&p->umem);
	/* Anything the kernel did not take needs another kick (xp_tx_pending()). */
	p->tx_kick_pending = tx_unsent(p) != 0;
	return err;
}

/*
 * Options of one TX descriptor: with checksum offload, an IPv4 or IPv6 TCP frame
 * (the stack left the pseudo-header sum in its checksum field) carries a
 * request to sum from the TCP header on and store at its offset 16. The
 * request sits in the metadata room before the frame (XP_TX_META_LEN).
 */
static uint32_t tx_options(const struct xp_port *p, const struct pkt *pkt)
{
	const uint8_t *f = pkt->data;
	struct xp_tx_meta m = {.flags = XDP_TXMD_FLAGS_CHECKSUM, .csum_offset = 16};
	uint32_t ihl;

	if (!p->tx_csum)
		return 0;
	/* IPv6: the stack writes no extension headers, TCP follows the fixed header */
	if (pkt->len >= 14 + 40 + 20 && f[12] == 0x86 && f[13] == 0xdd && f[20] == 6) {
		m.csum_start = 14 + 40;
		memcpy(pkt->data - XP_TX_META_LEN, &m, sizeof(m));
		return XDP_TX_METADATA;
	}
	if (pkt->len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 ||
	    f[23] != 6 /* IPPROTO_TCP */)
		return 0;
	ihl = (f[14] & 0xfu) * 4;
	if (ihl < 20 || 14 + ihl + 20 > pkt->len)
		return 0;
	m.csum_start = (uint16_t)(14 + ihl);
	memcpy(pkt->data - XP_TX_META_LEN, &m, sizeof(m));
	return XDP_TX_METADATA;
}

/* Put up to one burst on the TX ring; a full ring is drained once, then drops. */
static void tx_queue_burst(struct xp_port *p, struct pkt *pkts, unsigned n)
{
	uint32_t idx;
	unsigned i;

	if (xsk_ring_prod__reserve(&p->tx, n, &idx) != n) {
		tx_kick(p);
		if (xsk_ring_prod__reserve(&p->tx, n, &idx) != n) {
			/* Still full (the kernel is behind): dropped, counted. */
			p->st.tx_ring_full += n;
			for (i = 0; i < n; i++)
				xp_tx_free(&p->dev, &pkts[i]);
			return;
		}
	}
	for (i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&p->tx, idx + i);

		d->addr = pkts[i].addr;
		d->len = pkts[i].len;
		d->options = tx_options(p, &pkts[i]);
	}
	xsk_ring_prod__submit(&p->tx, n);
	p->umem.tx_in_flight += n;
	p->st.tx_packets += n;
	p->tx_kick_pending = true;
}

static void xp_tx_queue(struct netdev *dev, struct pkt *pkts, unsigned n)
{
	unsigned k;

	for (unsigned i = 0; i < n; i += k) {
		k = n - i < NETDEV_BURST_MAX ? n - i : NETDEV_BURST_MAX;
		tx_queue_burst(port_of(dev), pkts + i, k);
	}
}

static unsigned xp_poll_fds(struct netdev *dev, int *fds, unsigned max)
{
	struct xp_port *p = port_of(dev);

	if (!max)
		return 0;
	fds[0] = p->fd;
	/* Alone on a shareable queue: a joiner rings (the next poll switches, rx_burst). */
	if (p->doorbell < 0 || max < 2)
		return 1;
	fds[1] = p->doorbell;
	return 2;
}

static int xp_tx_pending(struct netdev *dev)
{
	struct xp_port *p = port_of(dev);

	if (!p->tx_kick_pending)
		return 0;
	/* Zero-copy: the driver sends on its own unless it asks to be woken. */
	return !p->st.zero_copy || xsk_ring_prod__needs_wakeup(&p->tx);
}

static uint64_t xp_next_deadline(struct netdev *dev, uint64_t now_us)
{
	return xp_tx_pending(dev) ? now_us + XP_TX_RETRY_US : UINT64_MAX;
}

static void xp_close_dev(struct netdev *dev)
{
	xp_port_close(port_of(dev));
}

static int xp_resolve(struct netdev *dev, uint32_t dst_ip4, uint8_t mac[6])
{
	uint32_t nh;
	int oif, err;

	err = xp_nl_route(dst_ip4, &nh, &oif);
	if (err)
		return err == -ENETUNREACH ? -EHOSTUNREACH : err;
	/* Only destinations reached through this interface can be sent to. */
	if (oif != dev->info.ifindex)
		return -EHOSTUNREACH;
	return xp_nl_neigh(oif, nh, mac);
}

static int xp_resolve6(struct netdev *dev, const struct in6_addr *dst, uint8_t mac[6])
{
	struct in6_addr nh;
	int oif, err;

	err = xp_nl_route6(dst, dev->info.ifindex, &nh, &oif);
	if (err)
		return err == -ENETUNREACH ? -EHOSTUNREACH : err;
	if (oif != dev->info.ifindex)
		return -EHOSTUNREACH;
	return xp_nl_neigh6(oif, &nh, mac);
}

static int xp_path_mtu(struct netdev *dev, uint32_t dst_ip4, uint64_t max_age_us, uint32_t *mtu)
{
	return xp_prog_path_mtu(port_of(dev)->prog, dst_ip4, max_age_us, mtu);
}

static int xp_path_mtu6(struct netdev *dev, const struct in6_addr *dst, uint64_t max_age_us,
			uint32_t *mtu)
{
	return xp_prog_path_mtu6(port_of(dev)->prog, dst, max_age_us, mtu);
}

static uint8_t xp_hop_limit(struct netdev *dev, const struct in6_addr *dst)
{
	struct xp_port *p = port_of(dev);

	return xp_hop_route_find(p->hop_routes, p->n_hop_routes, dst);
}

static const struct netdev_ops xp_netdev_ops = {
	.rx_burst = xp_rx_burst,
	.rx_done = xp_rx_done,
	.tx_alloc = xp_tx_alloc,
	.tx_free = xp_tx_free,
	.tx_queue = xp_tx_queue,
	.tx_flush = xp_tx_flush,
	.resolve = xp_resolve,
	.resolve6 = xp_resolve6,
	.path_mtu = xp_path_mtu,
	.path_mtu6 = xp_path_mtu6,
	.hop_limit = xp_hop_limit,
	.poll_fds = xp_poll_fds,
	.tx_pending = xp_tx_pending,
	.next_deadline = xp_next_deadline,
	.close = xp_close_dev,
};

/*
 * Preferred busy polling (XTCP_BUSY_POLL): the queue's NAPI runs inside our
 * own recvfrom()/sendto() instead of in the driver's thread or softirq, as
 * long as the device defers its interrupts (napi_defer_hard_irqs and
 * gro_flush_timeout, docs/configuration.md). Returns 0 or -errno.
 */
static int set_busy_poll(int fd)
{
	int one = 1, usecs = 20, budget = NETDEV_BURST_MAX;

	if (xp_sys_setsockopt(fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
	    xp_sys_setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
	    xp_sys_setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
		return -errno;
	return 0;
}

/* A number from /sys/class/net/IFACE/NAME, or 0. */
static unsigned long sysfs_net_num(const char *ifname, const char *name)
{
	char path[128], buf[32];
	unsigned long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, name);
	fd = xp_sys_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = xp_sys_read(fd, buf, sizeof(buf) - 1);
	xp_sys_close(fd);
	if (n > 0) {
		buf[n] = 0;
		v = strtoul(buf, NULL, 10);
	}
	return v;
}

/* Busy polling as asked; auto: where the device defers its interrupts (xp.h). */
static bool want_busy_poll(const struct xp_prog *prog, enum xp_busy_poll bp)
{
	if (bp != XP_BUSY_POLL_AUTO)
		return bp == XP_BUSY_POLL_ON;
	return sysfs_net_num(prog->ifname, "napi_defer_hard_irqs") &&
	       sysfs_net_num(prog->ifname, "gro_flush_timeout");
}

static int port_link_facts(struct xp_port *p)
{
	struct xp_link l;
	int err = xp_nl_link(p->prog->ifname, &l);

	if (err)
		return err;
	memcpy(p->dev.info.mac, l.mac, 6);
	p->dev.info.mtu = l.mtu > 0xffff ? 0xffff : (uint16_t)l.mtu;
	p->dev.info.ip4 = l.n_addrs ? l.addr[0] : 0;
	p->dev.info.prefix_len = l.n_addrs ? l.prefix_len[0] : 0;
	for (unsigned i = 0; i < l.n_addrs6 && i < NETDEV_IP6_MAX; i++) {
		p->dev.info.ip6[i] = l.addr6[i];
		p->dev.info.ip6_prefix[i] = l.prefix_len6[i];
		p->dev.info.ip6_scope[i] = l.scope6[i];
		p->dev.info.n_ip6 = (uint8_t)(i + 1);
	}
	p->dev.info.ifindex = l.ifindex;
	/* hop limits as the kernel's output (ip4_dst_hoplimit(), ip6_dst_hoplimit()) */
	p->dev.info.hop_limit6 = l.hop_limit6;
	p->dev.info.ttl4 = xp_nl_default_ttl();
	err = xp_nl_route_hops(l.ifindex, p->hop_routes, XP_HOP_ROUTES);
	p->n_hop_routes = err > 0 ? (unsigned)err : 0;
	p->dev.info.queue_id = p->queue_id;
	p->dev.info.n_queues = l.n_rx_queues;
	p->dev.info.rx_csum_trust_local = p->rx_csum == XP_RX_CSUM_TRUST_LOCAL ||
					  (p->rx_csum == XP_RX_CSUM_AUTO && xp_link_local_only(&l));
	/* A frame must fit one UMEM frame after the kernel's headroom (and ours, to send). */
	uint32_t fs = p->umem.frame_size;

	if (p->dev.info.mtu + 14u + 4u > fs - XDP_PACKET_HEADROOM - XP_NET_IP_ALIGN ||
	    p->dev.info.mtu + 14u > fs - p->umem.tx_off)
		return -EMSGSIZE;
	return 0;
}

/* RX and TX rings of the socket, sized and mapped. */
static int port_rings(struct xp_port *p, uint32_t ring)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	int err;

	if (xp_sys_setsockopt(p->fd, SOL_XDP, XDP_RX_RING, &ring, sizeof(ring)) ||
	    xp_sys_setsockopt(p->fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)) ||
	    xp_sys_getsockopt(p->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		return -errno;
	err = xp_ring_map(p->fd, &off.rx, ring, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING,
			  &p->rx_map, &p->rx_len, &p->rx);
	if (err)
		return err;
	err = xp_ring_map(p->fd, &off.tx, ring, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING,
			  &p->tx_map, &p->tx_len, (struct xsk_ring_cons *)&p->tx);
	/* A producer's cached_cons runs one ring ahead (libxdp's convention). */
	p->tx.cached_cons += ring;
	return err;
}

/*
 * Bind the UMEM's socket to the queue (our program is not touched: the
 * caller puts the socket in the XSKMAP), then tune it.
 */
static int port_socket(struct xp_port *p, const struct xp_port_config *cfg, uint32_t ring)
{
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)p->dev.info.ifindex,
		.sxdp_queue_id = p->queue_id,
		.sxdp_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options xopt = {0};
	socklen_t optlen = sizeof(xopt);
	int err;

	p->fd = p->umem.fd;
	if (cfg->zero_copy == 1)
		sxdp.sxdp_flags |= XDP_ZEROCOPY;
	else if (cfg->zero_copy == 0)
		sxdp.sxdp_flags |= XDP_COPY;
	err = port_rings(p, ring);
	if (err)
		return err;
	if (xp_sys_bind(p->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		return -errno;
	if (!xp_sys_getsockopt(p->fd, SOL_XDP, XDP_OPTIONS, &xopt, &optlen))
		p->st.zero_copy = xopt.flags & XDP_OPTIONS_ZEROCOPY;
	/*
	 * Checksum offload: in copy mode the kernel builds an skb and marks it
	 * CHECKSUM_PARTIAL, which any device handles (finished in hardware or
	 * by skb_checksum_help() before it leaves; a veth peer takes it as it
	 * is). In zero-copy mode only drivers with TX metadata support do it,
	 * and others would send the unfinished sum: software there.
	 */
	p->tx_csum = p->umem.tx_meta && !p->st.zero_copy && cfg->tx_csum == XP_TX_CSUM_AUTO;
	p->dev.info.tx_csum_offload = p->tx_csum;
	/*
	 * Copy mode sends at most 32 frames per sendto() by default; where the
	 * kernel lets us (6.17+), one kick may send a whole ring. Harmless if not.
	 */
	xp_sys_setsockopt(p->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &ring, sizeof(ring));
	if (want_busy_poll(p->prog, cfg->busy_poll)) {
		err = set_busy_poll(p->fd);
		if (err)
			xp_log(0, p->prog->log_level, "no busy polling on %s queue %u: %s",
			       p->prog->ifname, p->queue_id, strerror(-err));
		p->busy_poll = !err;
	}
	return 0;
}

/*
 * A serving process's queue may be joined by processes that find no free
 * queue (xp_share.c): publish how, and make the doorbell they wake us with.
 * Otherwise clear what a group that served the queue before left.
 */
static int share_offer(struct xp_port *p)
{
	struct xtcp_shareq none = {0};
	uint32_t k = p->queue_id;

	if (!p->umem.sh) {
		if (k < XTCP_SHARE_MAX_QUEUES)
			bpf_map_update_elem(p->prog->shareq_fd, &k, &none, BPF_ANY);
		return 0;
	}
	p->doorbell = xp_sys_eventfd();
	if (p->doorbell < 0)
		return -errno;
	p->umem.sh->ifindex = (uint32_t)p->dev.info.ifindex;
	p->umem.sh->queue = p->queue_id;
	p->member = xp_share_offer(p->prog, &p->umem, p->fd, p->doorbell);
	return p->member < 0 ? p->member : 0;
}

/* A port of queue_id not yet opened or joined: no fds, no member slot, owned by this process. */
static struct xp_port *port_alloc(struct xp_prog *prog, unsigned queue_id,
				  const struct xp_port_config *cfg)
{
	struct xp_port *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->dev.ops = &xp_netdev_ops;
	p->prog = prog;
	p->queue_id = queue_id;
	p->fd = -1;
	p->member = -1;
	p->doorbell = -1;
	p->owner = getpid();
	p->rx_csum = cfg->rx_csum;
	return p;
}

int xp_port_open(struct xp_prog *prog, unsigned queue_id, const struct xp_port_config *cfg,
		 struct xp_port **out)
{
	static const struct xp_port_config defaults = {.zero_copy = -1};
	uint32_t frames, ring;
	struct xp_port *p;
	int err;

	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	frames = cfg->frames ? cfg->frames : 4096;
	ring = cfg->ring_size ? cfg->ring_size : 2048;
	if (queue_id >= XTCP_XDP_MAX_QUEUES || cfg->zero_copy < -1 || cfg->zero_copy > 1 ||
	    cfg->rx_csum > XP_RX_CSUM_TRUST_LOCAL || cfg->tx_csum > XP_TX_CSUM_OFF)
		return -EINVAL;
	p = port_alloc(prog, queue_id, cfg);
	if (!p)
		return -ENOMEM;
	err = xp_umem_create(&p->umem, frames, ring, cfg->tx_csum == XP_TX_CSUM_AUTO,
			     cfg->shareable && queue_id < XTCP_SHARE_MAX_QUEUES);
	if (err == -ENOBUFS) {
		/*
		 * The kernel pins UMEM pages against RLIMIT_MEMLOCK unless
		 * CAP_IPC_LOCK (-EPERM is the AF_XDP socket itself: CAP_NET_RAW).
		 */
		xp_log(0, prog->log_level,
		       "cannot register %u MiB of AF_XDP frames on %s queue %u: raise the "
		       "locked-memory limit (ulimit -l) or grant CAP_IPC_LOCK",
		       (unsigned)((uint64_t)frames * 4096 >> 20), prog->ifname, queue_id);
	}
	if (err)
		goto fail;
	p->rx_stash = calloc(p->umem.n_rx, sizeof(*p->rx_stash));
	if (!p->rx_stash) {
		err = -ENOMEM;
		goto fail;
	}
	err = port_link_facts(p);
	if (err)
		goto fail;

	err = port_socket(p, cfg, ring);
	if (err)
		goto fail;
	err = xp_prog_add_user(prog);
	if (err)
		goto fail;
	/* A new socket on the queue ends an earlier owner's drain, and its own wait. */
	err = xp_port_drain(p, false);
	if (!err)
		err = xp_prog_drain_successor(prog, queue_id, false);
	if (err)
		goto fail;
	/* Last: from here the program steers this queue's served segments to us. */
	if (bpf_map_update_elem(prog->xsks_fd, &p->queue_id, &p->fd, BPF_ANY)) {
		err = -errno;
		goto fail;
	}
	err = share_offer(p);
	if (err)
		goto fail;
	xp_log(2, prog->log_level, "AF_XDP socket on %s queue %u (%s mode%s%s)", prog->ifname,
	       queue_id, p->st.zero_copy ? "zero-copy" : "copy",
	       p->busy_poll ? ", busy polling" : "",
	       p->tx_csum ? ", TCP checksums finished by the kernel" : "");
	*out = p;
	return 0;
fail:
	xp_port_close(p);
	return err;
}

int xp_port_drain(struct xp_port *port, bool on)
{
	uint32_t q = port->queue_id, v = on;

	/* A member of a shared queue takes new flows while it listens. */
	if (port->umem.shared) {
		port->no_syn = on;
		return xp_share_listen(port->prog, port->umem.sh, (unsigned)port->member, !on);
	}
	if (bpf_map_update_elem(port->prog->drain_fd, &q, &v, BPF_ANY))
		return -errno;
	if (port->umem.sh && port->member >= 0)
		return xp_share_listen(port->prog, port->umem.sh, (unsigned)port->member, !on);
	return 0;
}

/* Bind our socket to the group's UMEM (XDP_SHARED_UMEM on the same queue: its rings). */
static int port_bind_shared(struct xp_port *p, const struct xp_port_config *cfg, int other_fd)
{
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)p->dev.info.ifindex,
		.sxdp_queue_id = p->queue_id,
		.sxdp_flags = XDP_SHARED_UMEM, /* need_wakeup and mode come with the UMEM */
		.sxdp_shared_umem_fd = (uint32_t)other_fd,
	};
	struct xdp_options xopt = {0};
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(xopt), olen = sizeof(off);
	uint32_t ring = p->umem.n_rx;
	int err;

	p->fd = p->umem.fd = xp_sys_socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	err = port_rings(p, ring);
	if (err)
		return err;
	if (xp_sys_bind(p->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)))
		return -errno;
	/* The group's fill and completion rings, mapped through our own bound socket. */
	if (xp_sys_getsockopt(p->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen))
		return -errno;
	err = xp_ring_map(p->fd, &off.fr, ring, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING,
			  &p->umem.fq_map, &p->umem.fq_len, (struct xsk_ring_cons *)&p->umem.fq);
	if (!err)
		err = xp_ring_map(p->fd, &off.cr, ring, sizeof(uint64_t),
				  XDP_UMEM_PGOFF_COMPLETION_RING, &p->umem.cq_map, &p->umem.cq_len,
				  &p->umem.cq);
	if (err)
		return err;
	if (!xp_sys_getsockopt(p->fd, SOL_XDP, XDP_OPTIONS, &xopt, &optlen))
		p->st.zero_copy = xopt.flags & XDP_OPTIONS_ZEROCOPY;
	p->tx_csum = p->umem.tx_meta && !p->st.zero_copy && cfg->tx_csum == XP_TX_CSUM_AUTO;
	p->dev.info.tx_csum_offload = p->tx_csum;
	xp_sys_setsockopt(p->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &ring, sizeof(ring));
	if (want_busy_poll(p->prog, cfg->busy_poll))
		p->busy_poll = !set_busy_poll(p->fd);
	return 0;
}

/* Join queue's group: its UMEM, our own socket and member slot. */
static int port_join(struct xp_prog *prog, unsigned queue, const struct xp_port_config *cfg,
		     struct xp_port *p)
{
	int mem_fd, other_fd, err;
	unsigned member;

	err = xp_share_find(prog, queue, &mem_fd, &other_fd);
	if (err)
		return err;
	err = xp_umem_attach(&p->umem, mem_fd);
	if (!err && (p->umem.sh->ifindex != (uint32_t)prog->ifindex || p->umem.sh->queue != queue))
		err = -EPROTO;
	if (!err)
		err = port_link_facts(p);
	if (!err)
		err = port_bind_shared(p, cfg, other_fd);
	if (!err)
		err = xp_prog_add_user(prog);
	if (!err)
		err = xp_share_join(prog, p->umem.sh, &member);
	if (!err) {
		p->member = (int)member;
		err = xp_share_commit(prog, p->umem.sh, member, p->fd, other_fd, p->umem.mem_fd);
	}
	xp_sys_close(other_fd); /* the other member's socket must die with its process */
	return err;
}

int xp_port_join(struct xp_prog *prog, unsigned n_queues, const struct xp_port_config *cfg,
		 struct xp_port **out)
{
	static const struct xp_port_config defaults = {.zero_copy = -1};
	unsigned queue;
	struct xp_port *p;
	int err;

	*out = NULL;
	if (!cfg)
		cfg = &defaults;
	err = xp_share_pick(prog, n_queues, &queue);
	if (err)
		return err;
	p = port_alloc(prog, queue, cfg);
	if (!p)
		return -ENOMEM;
	err = port_join(prog, queue, cfg, p);
	if (err) {
		p->member = -1; /* not in the group: nothing to leave */
		xp_port_close(p);
		return err;
	}
	p->rx_stash = calloc(p->umem.n_rx, sizeof(*p->rx_stash));
	p->no_syn = true; /* until its first listener (xp_port_drain(false)) */
	xp_log(2, prog->log_level, "AF_XDP socket on %s queue %u, member %u of its group (%s mode)",
	       prog->ifname, queue, p->member, p->st.zero_copy ? "zero-copy" : "copy");
	*out = p;
	return 0;
}

void xp_port_leave(struct xp_port *p)
{
	uint64_t addrs[NETDEV_BURST_MAX];
	uint32_t idx, n;

	if (!p->umem.shared || p->left || p->member < 0 || p->owner != getpid())
		return;
	p->left = true;
	xp_share_leave(p->prog, p->umem.sh, (unsigned)p->member);
	/* What reached our RX ring goes back to the group's fill ring, unread. */
	while (p->rx_map && (n = xsk_ring_cons__peek(&p->rx, NETDEV_BURST_MAX, &idx))) {
		for (uint32_t i = 0; i < n; i++)
			addrs[i] = xsk_ring_cons__rx_desc(&p->rx, idx + i)->addr;
		xsk_ring_cons__release(&p->rx, n);
		xp_umem_fill(&p->umem, addrs, n);
	}
	if (p->rx_stash)
		xp_umem_fill(&p->umem, p->rx_stash, p->n_stash);
	p->n_stash = 0;
	xp_umem_share_return(&p->umem);
}

unsigned xp_port_queue(const struct xp_port *port)
{
	return port->queue_id;
}

struct netdev *xp_port_netdev(struct xp_port *port)
{
	return &port->dev;
}

void xp_port_get_stats(struct xp_port *p, struct xp_port_stats *out)
{
	struct xdp_statistics ks = {0};
	socklen_t len = sizeof(ks);

	*out = p->st;
	out->tx_csum = p->tx_csum;
	out->tx_frames = p->umem.n_frames - p->umem.n_rx;
	out->tx_frames_in_use = out->tx_frames - p->umem.n_tx_free;
	out->shared = p->umem.shared;
	if (xp_sys_getsockopt(p->fd, SOL_XDP, XDP_STATISTICS, &ks, &len))
		return;
	out->rx_dropped = ks.rx_dropped;
	out->rx_invalid = ks.rx_invalid_descs;
	out->tx_invalid = ks.tx_invalid_descs;
	/* Fields added in Linux 5.9; older kernels return the short struct. */
	if (len >= sizeof(ks)) {
		out->rx_ring_full = ks.rx_ring_full;
		out->fill_empty = ks.rx_fill_ring_empty_descs;
	}
}

void xp_port_close(struct xp_port *p)
{
	if (!p)
		return;
	if (p->owner == getpid())
		xp_port_leave(p);
	if (p->doorbell >= 0)
		xp_sys_close(p->doorbell);
	/*
	 * Deleting the socket closes our fd: the kernel removes it from the
	 * XSKMAP when the last reference goes (in a forked child the parent
	 * still holds it, so this only drops the child's view).
	 */
	if (p->rx_map)
		munmap(p->rx_map, p->rx_len);
	if (p->tx_map)
		munmap(p->tx_map, p->tx_len);
	xp_umem_destroy(&p->umem);
	free(p->rx_stash);
	free(p);
}
