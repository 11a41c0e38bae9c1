/*
 * xp_umem.c - the UMEM of one AF_XDP port: the frame area (MAP_SHARED, so a
 * forked child sees the same frames), the fill and completion rings, and
 * the TX frame pool. No allocation after xp_umem_create().
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
 * Shared UMEM (u->sh set: a member's view of a group, xsk/xp_share.c): the
 * fill and completion rings have one producer/consumer per member process,
 * so every use is under the group's lock and starts by re-reading both ring
 * indices (another member moved them; libxdp's cached copies are ours). All
 * frames are alike there: one free stack in the shared memory, filled by
 * whoever reaps a completion and by RX frames the fill ring has no room for,
 * emptied by TX allocation (XP_SHARE_TX_CACHE at a time into a per-process
 * cache) and by topping the fill ring up to its target (frames a member that
 * died took with it are replaced from the stack).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "netdev.h"
#include "xp_priv.h"

#define XP_FRAME_SIZE 4096 /* one MTU-1500 frame per 4 KiB page (aligned mode) */

int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size)
{
	struct xsk_umem_config cfg = {
		.fill_size = ring_size,
		.comp_size = ring_size,
		.frame_size = XP_FRAME_SIZE,
		.frame_headroom = XP_NET_IP_ALIGN,
		.flags = 0,
	};
	uint32_t idx, i;
	int err;

	memset(u, 0, sizeof(*u));
	/* Rings are powers of two; every fill slot owns a frame, TX gets the rest. */
	if (!ring_size || (ring_size & (ring_size - 1)) || n_frames < 2 * ring_size)
		return -EINVAL;
	u->frame_size = XP_FRAME_SIZE;
	u->n_frames = n_frames;
	u->n_rx = ring_size;
	u->size = (uint64_t)n_frames * XP_FRAME_SIZE;
	u->area = mmap(NULL, u->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (u->area == MAP_FAILED) {
		u->area = NULL;
		return -errno;
	}
	u->tx_free = calloc(n_frames - u->n_rx, sizeof(*u->tx_free));
	if (!u->tx_free) {
		err = -ENOMEM;
		goto fail;
	}
	err = xsk_umem__create(&u->umem, u->area, u->size, &u->fq, &u->cq, &cfg);
	if (err)
		goto fail;
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
	if (u->sh) {
		/* A member's view: the group (xp_share.c) owns the area and the rings. */
		free(u->tx_free);
		memset(u, 0, sizeof(*u));
		return;
	}
	if (u->umem)
		xsk_umem__delete(u->umem);
	if (u->area)
		munmap(u->area, u->size);
	free(u->tx_free);
	memset(u, 0, sizeof(*u));
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

	if (u->sh)
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

	if (u->sh) {
		/*
		 * The completion ring holds every frame of the group, so it never
		 * overflows: reaped when TX allocation finds the cache empty, and
		 * here only once it is half full (a hint, read unlocked), instead
		 * of taking the lock at every kick.
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

int xp_umem_tx_get(struct xp_umem *u, uint64_t *addr)
{
	struct xp_share_hdr *sh = u->sh;

	if (!u->n_tx_free && sh) {
		xp_share_lock(sh);
		share_reap(u);
		while (sh->n_free && u->n_tx_free < XP_SHARE_TX_CACHE / 2)
			u->tx_free[u->n_tx_free++] = sh->free[--sh->n_free];
		xp_share_unlock(sh);
	} else if (!u->n_tx_free) {
		xp_umem_complete(u);
	}
	if (!u->n_tx_free)
		return -ENOBUFS;
	*addr = u->tx_free[--u->n_tx_free];
	return 0;
}

void xp_umem_tx_put(struct xp_umem *u, uint64_t addr)
{
	addr = xp_umem_frame(u, addr);
	if (u->sh) {
		if (u->n_tx_free == XP_SHARE_TX_CACHE) {
			xp_share_lock(u->sh);
			while (u->n_tx_free > XP_SHARE_TX_CACHE / 2)
				share_push(u, u->tx_free[--u->n_tx_free]);
			xp_share_unlock(u->sh);
		}
		if (addr < u->size)
			u->tx_free[u->n_tx_free++] = addr;
		return;
	}
	/* Only TX frames belong to the pool (an RX frame here would be a caller bug). */
	if (addr >= (uint64_t)u->n_rx * u->frame_size && addr < u->size &&
	    u->n_tx_free < u->n_frames - u->n_rx)
		u->tx_free[u->n_tx_free++] = addr;
}

void xp_umem_share_view(struct xp_umem *u, const struct xp_umem *group, struct xp_share_hdr *sh)
{
	*u = *group;
	u->sh = sh;
	u->tx_free = calloc(XP_SHARE_TX_CACHE, sizeof(*u->tx_free));
	u->n_tx_free = 0;
	u->tx_in_flight = 0;
	/* The rings' indices are re-read under the lock; the cached ones start fresh. */
}

void xp_umem_share_return(struct xp_umem *u)
{
	if (!u->sh || !u->n_tx_free)
		return;
	xp_share_lock(u->sh);
	while (u->n_tx_free)
		share_push(u, u->tx_free[--u->n_tx_free]);
	xp_share_unlock(u->sh);
}
