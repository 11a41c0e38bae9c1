/*
 * xp_priv.h - what the files of xsk/ share with each other (not with the
 * shim): the program handle's fields, logging, the user table.
 */
#ifndef XTCP_XP_PRIV_H
#define XTCP_XP_PRIV_H

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include "xp.h"

struct xtcp_xdp;
struct xdp_program;

struct xp_prog {
	struct xtcp_xdp *skel;	   /* our loaded skeleton; NULL when adopted */
	struct xdp_program *xprog; /* libxdp handle of the attached program, or NULL */
	char ifname[IF_NAMESIZE];
	int ifindex;
	int mode; /* enum xdp_attach_mode it runs in */
	uint32_t prog_id;
	int xsks_fd, serve_fd, cfg_fd, users_fd, stats_fd, drain_fd; /* map fds (ours) */
	int kflow_fd, kclean_fd;				     /* ... and the kflow pair */
	int user_slot;	/* our slot in xtcp_users, -1 if none */
	pid_t user_pid; /* the process that holds user_slot */
	int log_level;
};

/* Log to stderr with the "xtcp: " prefix when level <= the handle's level. */
void xp_log(int level, int max_level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * UMEM (xp_umem.c): frame_size-byte frames in one MAP_SHARED area, with the
 * fill and completion rings. Frames [0, n_rx) cycle through the fill ring,
 * the RX ring and the stack (rx_done() puts them straight back), so the fill
 * ring (n_rx entries) can always take them. Frames [n_rx, n_frames) are the
 * TX pool: a free stack, popped by tx_alloc(), pushed back on completion.
 */
#include <xdp/xsk.h>

/*
 * Frames start XP_NET_IP_ALIGN bytes into their buffer (RX: the UMEM
 * headroom; TX: tx_alloc()), so that after the 14-byte Ethernet header the
 * IP header is 4-byte aligned, as Linux does with NET_IP_ALIGN.
 */
#define XP_NET_IP_ALIGN 2

struct xp_umem {
	void *area;
	uint64_t size;
	uint32_t frame_size;
	uint32_t n_frames;
	uint32_t n_rx; /* frames owned by the RX cycle (= fill ring size) */
	struct xsk_umem *umem;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	uint64_t *tx_free; /* free TX frame addresses (a stack) */
	uint32_t n_tx_free;
	uint32_t tx_in_flight; /* queued to the TX ring, not yet completed */
};

int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size);
void xp_umem_destroy(struct xp_umem *u);
/* Give frames (any address inside a frame) to the fill ring: 0 or -ENOSPC. */
int xp_umem_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n);
/* Move completed TX frames back to the pool; returns how many. */
unsigned xp_umem_complete(struct xp_umem *u);

static inline uint64_t xp_umem_frame(const struct xp_umem *u, uint64_t addr)
{
	/* RX addresses include headroom: mask back to the frame start (aligned mode). */
	return addr & ~(uint64_t)(u->frame_size - 1);
}

#endif
