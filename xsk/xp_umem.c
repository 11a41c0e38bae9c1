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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xp_priv.h"
#include "xp_sys.h"

#define XP_FRAME_SIZE 4096 /* one MTU-1500 frame per 4 KiB page (aligned mode) */

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

int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size, bool tx_meta)
{
	uint32_t idx, i;
	int err;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
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
	free(u->tx_free);
	memset(u, 0, sizeof(*u));
	u->fd = -1;
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
