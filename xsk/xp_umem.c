/*
 * xp_umem.c - the UMEM of one AF_XDP port: the frame area (MAP_SHARED, so a
 * forked child sees the same frames), the socket it is registered on, the
 * fill and completion rings, and the TX frame pool. No allocation after
 * xp_umem_create(). The socket and rings are set up here, not by libxdp:
 * its xsk_umem__create() cannot ask for TX metadata room (tx_metadata_len);
 * libxdp's inline ring helpers (<xdp/xsk.h>) still drive the rings.
 *
 * Call order: xp_umem_create() -> (xp_port.c) xp_umem_fill() after each RX
 * batch, xp_umem_complete() before TX allocation and after each kick ->
 * xp_umem_destroy() once the socket is gone.
 *
 * Ring discipline (libxdp <xdp/xsk.h>): xsk_ring_prod__reserve() is
 * all-or-nothing and its result is always checked; submit/release publish
 * with the barriers libxdp puts in them (the kernel reads descriptors only
 * after the producer index moves).
 *
 * Shareable (a serving process's port, xp_share.c): the area is a memfd
 * with a header after the frames, so that a process finding no free queue
 * can map it and join. Until one does, nothing else differs. Shared (u->shared,
 * every member of a group): the fill and completion rings have one
 * producer/consumer per member process, so every use is under the group's
 * lock and starts by re-reading both indices (another member moved them;
 * the cached copies are ours). All frames are alike there: one free stack
 * in the header, filled by whoever reaps a completion and by RX frames the
 * fill ring has no room for, emptied by TX allocation (XP_SHARE_TX_CACHE at
 * a time into a per-process cache) and by topping the fill ring up to its
 * target (frames a member that died took with it are replaced from the
 * stack).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev.h"
#include "xp_priv.h"
#include "xp_sys.h"

#define XP_FRAME_SIZE	 4096 /* one MTU-1500 frame per 4 KiB page (aligned mode) */
#define XP_SHARE_RESERVE 256  /* free frames kept for TX before the fill ring is topped up */

static int robust_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int err;

	pthread_mutexattr_init(&a);
	err = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!err)
		err = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!err)
		err = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -err;
}

static size_t share_hdr_len(uint32_t n_frames)
{
	return (sizeof(struct xp_share_hdr) + (size_t)n_frames * sizeof(uint64_t) + 4095) &
	       ~(size_t)4095;
}

/* The group header, then the frames, in one memfd; 0 or -errno. */
static int umem_area_shareable(struct xp_umem *u)
{
	struct xp_share_hdr *h;
	int err;

	u->sh_len = share_hdr_len(u->n_frames);
	u->mem_fd = xp_sys_memfd("xtcp-umem", u->sh_len + u->size);
	if (u->mem_fd < 0)
		return -errno;
	h = mmap(NULL, u->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED, u->mem_fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	u->sh = h;
	u->area = mmap(NULL, u->size, PROT_READ | PROT_WRITE, MAP_SHARED, u->mem_fd,
		       (off_t)u->sh_len);
	if (u->area == MAP_FAILED) {
		u->area = NULL;
		return -errno;
	}
	err = robust_mutex_init(&h->lock);
	if (!err)
		err = robust_mutex_init(&h->join_lock);
	if (err)
		return err;
	h->n_frames = u->n_frames;
	h->ring = u->n_rx;
	h->doorbell_fd = -1;
	h->fq_target = u->n_rx;
	h->tx_reserve = XP_SHARE_RESERVE;
	return 0;
}

int xp_umem_attach(struct xp_umem *u, int mem_fd)
{
	struct xp_share_hdr *h;
	uint32_t n_frames;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->mem_fd = mem_fd;
	h = mmap(NULL, 4096, PROT_READ, MAP_SHARED, mem_fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	n_frames = h->magic == XP_SHARE_MAGIC ? h->n_frames : 0;
	munmap(h, 4096);
	if (!n_frames || n_frames > (1u << 20))
		return -EPROTO;
	u->frame_size = XP_FRAME_SIZE;
	u->n_frames = n_frames;
	u->size = (uint64_t)n_frames * XP_FRAME_SIZE;
	u->sh_len = share_hdr_len(n_frames);
	h = mmap(NULL, u->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	u->sh = h;
	u->area = mmap(NULL, u->size, PROT_READ | PROT_WRITE, MAP_SHARED, mem_fd, (off_t)u->sh_len);
	if (u->area == MAP_FAILED) {
		u->area = NULL;
		return -errno;
	}
	u->n_rx = h->ring;
	u->tx_off = h->tx_off;
	u->tx_meta = h->tx_meta;
	u->shared = true;
	u->tx_free = calloc(XP_SHARE_TX_CACHE, sizeof(*u->tx_free));
	return u->tx_free ? 0 : -ENOMEM;
}

int xp_ring_map(int fd, const struct xdp_ring_offset *off, uint32_t size, size_t entry,
		uint64_t pgoff, void **map, size_t *len, struct xsk_ring_cons *ring)
{
	*len = off->desc + size * entry;
	*map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
		    (off_t)pgoff);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return -errno;
	}
	/* Producer and consumer rings share the layout (libxdp's DEFINE_XSK_RING). */
	ring->mask = size - 1;
	ring->size = size;
	ring->producer = (uint32_t *)((char *)*map + off->producer);
	ring->consumer = (uint32_t *)((char *)*map + off->consumer);
	ring->flags = (uint32_t *)((char *)*map + off->flags);
	ring->ring = (char *)*map + off->desc;
	ring->cached_prod = *ring->producer;
	ring->cached_cons = *ring->consumer;
	return 0;
}

/*
 * Register the area; with TX metadata first, and without it where the
 * kernel refuses (before 6.8: unknown flag or a short struct).
 */
static int umem_register(struct xp_umem *u, bool tx_meta)
{
	struct xp_umem_reg mr = {
		.addr = (uint64_t)(uintptr_t)u->area,
		.len = u->size,
		.chunk_size = XP_FRAME_SIZE,
		.headroom = XP_NET_IP_ALIGN,
	};

	if (tx_meta) {
		mr.flags = XDP_UMEM_TX_METADATA_LEN;
		mr.tx_metadata_len = XP_TX_META_LEN;
		if (!xp_sys_setsockopt(u->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr))) {
			u->tx_meta = true;
			return 0;
		}
		if (errno != EINVAL)
			return -errno;
		mr.flags = 0;
		mr.tx_metadata_len = 0;
	}
	if (xp_sys_setsockopt(u->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)))
		return -errno;
	return 0;
}

/* Fill and completion rings: sized, then mapped. */
static int umem_rings(struct xp_umem *u, uint32_t ring_size)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	int err;

	if (xp_sys_setsockopt(u->fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring_size, sizeof(ring_size)) ||
	    xp_sys_setsockopt(u->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring_size,
			      sizeof(ring_size)) ||
	    xp_sys_getsockopt(u->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
		return -errno;
	err = xp_ring_map(u->fd, &off.fr, ring_size, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING,
			  &u->fq_map, &u->fq_len, (struct xsk_ring_cons *)&u->fq);
	if (err)
		return err;
	/* A producer's cached_cons runs one ring ahead (libxdp's convention). */
	u->fq.cached_cons += ring_size;
	return xp_ring_map(u->fd, &off.cr, ring_size, sizeof(uint64_t),
			   XDP_UMEM_PGOFF_COMPLETION_RING, &u->cq_map, &u->cq_len, &u->cq);
}

int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size, bool tx_meta,
		   bool shareable)
{
	uint32_t idx, i;
	int err;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->mem_fd = -1;
	/* Rings are powers of two; every fill slot owns a frame, TX gets the rest. */
	if (!ring_size || (ring_size & (ring_size - 1)) || n_frames < 2 * ring_size)
		return -EINVAL;
	u->frame_size = XP_FRAME_SIZE;
	u->n_frames = n_frames;
	u->n_rx = ring_size;
	u->size = (uint64_t)n_frames * XP_FRAME_SIZE;
	if (shareable) {
		err = umem_area_shareable(u);
		if (err)
			goto fail;
	} else {
		u->area = mmap(NULL, u->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (u->area == MAP_FAILED) {
			u->area = NULL;
			return -errno;
		}
	}
	u->tx_free = calloc(n_frames - u->n_rx, sizeof(*u->tx_free));
	if (!u->tx_free) {
		err = -ENOMEM;
		goto fail;
	}
	u->fd = xp_sys_socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		err = -errno;
		goto fail;
	}
	err = umem_register(u, tx_meta);
	if (!err)
		err = umem_rings(u, ring_size);
	if (err)
		goto fail;
	u->tx_off = u->tx_meta ? XP_TX_META_DATA_OFF : XP_NET_IP_ALIGN;
	if (u->sh) {
		u->sh->tx_off = u->tx_off;
		u->sh->tx_meta = u->tx_meta;
	}
	for (i = u->n_rx; i < n_frames; i++)
		u->tx_free[u->n_tx_free++] = (uint64_t)i * XP_FRAME_SIZE;
	/* All RX frames start in the fill ring. */
	if (xsk_ring_prod__reserve(&u->fq, u->n_rx, &idx) != u->n_rx) {
		err = -ENOSPC;
		goto fail;
	}
	for (i = 0; i < u->n_rx; i++)
		*xsk_ring_prod__fill_addr(&u->fq, idx + i) = (uint64_t)i * XP_FRAME_SIZE;
	xsk_ring_prod__submit(&u->fq, u->n_rx);
	return 0;
fail:
	xp_umem_destroy(u);
	return err;
}

void xp_umem_destroy(struct xp_umem *u)
{
	if (u->fq_map)
		munmap(u->fq_map, u->fq_len);
	if (u->cq_map)
		munmap(u->cq_map, u->cq_len);
	if (u->fd >= 0)
		xp_sys_close(u->fd);
	if (u->area)
		munmap(u->area, u->size);
	if (u->sh)
		munmap(u->sh, u->sh_len);
	if (u->mem_fd >= 0)
		xp_sys_close(u->mem_fd);
	free(u->tx_free);
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->mem_fd = -1;
}

void xp_share_lock(struct xp_share_hdr *sh)
{
	/* Its holder died (kill -9): each store under the lock left a consistent state. */
	if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->lock);
}

void xp_share_unlock(struct xp_share_hdr *sh)
{
	pthread_mutex_unlock(&sh->lock);
}

static void share_push(struct xp_umem *u, uint64_t addr)
{
	struct xp_share_hdr *sh = u->sh;

	if (addr < u->size && sh->n_free < u->n_frames)
		sh->free[sh->n_free++] = addr;
}

/* Completed TX frames to the shared stack. Lock held. */
static unsigned share_reap(struct xp_umem *u)
{
	uint32_t idx, n;

	u->cq.cached_cons = *u->cq.consumer;
	u->cq.cached_prod = __atomic_load_n(u->cq.producer, __ATOMIC_ACQUIRE);
	n = xsk_ring_cons__peek(&u->cq, u->n_frames, &idx);
	for (uint32_t i = 0; i < n; i++)
		share_push(u, xp_umem_frame(u, *xsk_ring_cons__comp_addr(&u->cq, idx + i)));
	if (n)
		xsk_ring_cons__release(&u->cq, n);
	return n;
}

/*
 * RX frames back to the shared fill ring, topped up from the free stack to
 * its target while TX keeps its reserve; what does not fit goes to the stack.
 */
static int share_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n)
{
	struct xp_share_hdr *sh = u->sh;
	uint32_t idx, room, level, take, top = 0;

	xp_share_lock(sh);
	u->fq.cached_prod = *u->fq.producer;
	u->fq.cached_cons = __atomic_load_n(u->fq.consumer, __ATOMIC_ACQUIRE) + u->fq.size;
	room = u->fq.cached_cons - u->fq.cached_prod;
	level = u->fq.size - room;
	take = n < room ? n : room;
	if (level + take < sh->fq_target && sh->n_free > sh->tx_reserve) {
		top = sh->fq_target - level - take;
		if (top > sh->n_free - sh->tx_reserve)
			top = sh->n_free - sh->tx_reserve;
		if (top > NETDEV_BURST_MAX)
			top = NETDEV_BURST_MAX;
	}
	if (take + top && xsk_ring_prod__reserve(&u->fq, take + top, &idx) == take + top) {
		for (uint32_t i = 0; i < take; i++)
			*xsk_ring_prod__fill_addr(&u->fq, idx + i) = xp_umem_frame(u, addrs[i]);
		for (uint32_t i = 0; i < top; i++)
			*xsk_ring_prod__fill_addr(&u->fq, idx + take + i) = sh->free[--sh->n_free];
		xsk_ring_prod__submit(&u->fq, take + top);
	} else {
		take = 0;
	}
	for (uint32_t i = take; i < n; i++)
		share_push(u, xp_umem_frame(u, addrs[i]));
	xp_share_unlock(sh);
	return 0;
}

int xp_umem_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n)
{
	uint32_t idx;

	if (u->shared)
		return share_fill(u, addrs, n);
	if (!n)
		return 0;
	if (xsk_ring_prod__reserve(&u->fq, n, &idx) != n)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&u->fq, idx + i) = xp_umem_frame(u, addrs[i]);
	xsk_ring_prod__submit(&u->fq, n);
	return 0;
}

unsigned xp_umem_complete(struct xp_umem *u)
{
	uint32_t idx, n;

	if (u->shared) {
		/*
		 * The completion ring can hold every frame of the group, so it
		 * never overflows: reaped when TX allocation finds the cache
		 * empty, and here only once it is half full (a hint, read
		 * unlocked), instead of taking the lock at every kick.
		 */
		if (__atomic_load_n(u->cq.producer, __ATOMIC_ACQUIRE) - *u->cq.consumer <
		    u->cq.size / 2)
			return 0;
		xp_share_lock(u->sh);
		n = share_reap(u);
		xp_share_unlock(u->sh);
		return n;
	}

	n = xsk_ring_cons__peek(&u->cq, u->n_frames, &idx);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = xp_umem_frame(u, *xsk_ring_cons__comp_addr(&u->cq, idx + i));

		/* Only TX frames were sent; anything else would corrupt the pool. */
		if (addr >= (uint64_t)u->n_rx * u->frame_size && addr < u->size &&
		    u->n_tx_free < u->n_frames - u->n_rx)
			u->tx_free[u->n_tx_free++] = addr;
	}
	if (n)
		xsk_ring_cons__release(&u->cq, n);
	u->tx_in_flight = n > u->tx_in_flight ? 0 : u->tx_in_flight - n;
	return n;
}

int xp_umem_share_tx_get(struct xp_umem *u, uint64_t *addr)
{
	struct xp_share_hdr *sh = u->sh;

	if (!u->n_tx_free) {
		xp_share_lock(sh);
		share_reap(u);
		while (sh->n_free && u->n_tx_free < XP_SHARE_TX_CACHE / 2)
			u->tx_free[u->n_tx_free++] = sh->free[--sh->n_free];
		xp_share_unlock(sh);
	}
	if (!u->n_tx_free)
		return -ENOBUFS;
	*addr = u->tx_free[--u->n_tx_free];
	return 0;
}

void xp_umem_share_tx_put(struct xp_umem *u, uint64_t addr)
{
	addr = xp_umem_frame(u, addr);
	if (u->n_tx_free >= XP_SHARE_TX_CACHE) {
		xp_share_lock(u->sh);
		while (u->n_tx_free > XP_SHARE_TX_CACHE / 2)
			share_push(u, u->tx_free[--u->n_tx_free]);
		xp_share_unlock(u->sh);
	}
	if (addr < u->size)
		u->tx_free[u->n_tx_free++] = addr;
}

void xp_umem_share_begin(struct xp_umem *u)
{
	struct xp_share_hdr *sh = u->sh;

	xp_share_lock(sh);
	/* Our TX pool beyond one cache's worth becomes the group's. */
	while (u->n_tx_free > XP_SHARE_TX_CACHE / 2)
		share_push(u, u->tx_free[--u->n_tx_free]);
	u->shared = true;
	sh->mode = XP_SHARE_SHARED;
	__atomic_store_n(&sh->join_ack, __atomic_load_n(&sh->join_req, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
	xp_share_unlock(sh);
}

void xp_umem_share_return(struct xp_umem *u)
{
	if (!u->shared || !u->n_tx_free)
		return;
	xp_share_lock(u->sh);
	while (u->n_tx_free)
		share_push(u, u->tx_free[--u->n_tx_free]);
	xp_share_unlock(u->sh);
}
