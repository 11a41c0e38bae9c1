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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
	if (u->umem)
		xsk_umem__delete(u->umem);
	if (u->area)
		munmap(u->area, u->size);
	free(u->tx_free);
	memset(u, 0, sizeof(*u));
}

int xp_umem_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n)
{
	uint32_t idx;

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
