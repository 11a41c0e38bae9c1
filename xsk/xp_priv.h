/*
 * xp_priv.h - what the files of xsk/ share with each other (not with the
 * shim): the program handle's fields, logging, the user table.
 */
#ifndef XTCP_XP_PRIV_H
#define XTCP_XP_PRIV_H

#include <net/if.h>
#include <stdbool.h>
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
	int serve6_fd;						     /* xtcp_serve6 (IPv6) */
	int hold_fd;						     /* ... flows in hand-over */
	int pmtu_fd;	/* xtcp_pmtu: path MTU hints (xp_pmtu.c) */
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

/*
 * AF_XDP TX metadata (Linux 6.8+, include/uapi/linux/if_xdp.h), spelled out
 * for headers that predate it: the UMEM reserves tx_metadata_len bytes in
 * front of each TX descriptor's addr; a descriptor with XDP_TX_METADATA in
 * its options carries a request there. XDP_TXMD_FLAGS_CHECKSUM asks the
 * kernel (copy mode: the skb goes out CHECKSUM_PARTIAL) or the driver to
 * sum from csum_start and store at csum_start + csum_offset.
 */
#ifndef XDP_UMEM_TX_METADATA_LEN
#define XDP_UMEM_TX_METADATA_LEN (1 << 2)
#endif
#ifndef XDP_TX_METADATA
#define XDP_TX_METADATA (1 << 1)
#endif
#ifndef XDP_TXMD_FLAGS_CHECKSUM
#define XDP_TXMD_FLAGS_CHECKSUM (1 << 1)
#endif
struct xp_tx_meta { /* union xsk_tx_metadata, the request side */
	uint64_t flags;
	uint16_t csum_start;  /* from the descriptor's addr */
	uint16_t csum_offset; /* from csum_start */
	uint32_t pad;
	uint64_t launch_time;
};
#define XP_TX_META_LEN	    24 /* sizeof(union xsk_tx_metadata): a multiple of 8 */
/*
 * TX frames start here with metadata room: still 2 mod 4 (the IP header
 * aligned, as netdev.h promises), so the request itself is 2 mod 8. The
 * kernel reads it with plain loads (fine on x86 and arm64); we write it with
 * memcpy.
 */
#define XP_TX_META_DATA_OFF (XP_NET_IP_ALIGN + XP_TX_META_LEN)

/* struct xdp_umem_reg of Linux 6.8+ (tx_metadata_len after flags). */
struct xp_umem_reg {
	uint64_t addr;
	uint64_t len;
	uint32_t chunk_size;
	uint32_t headroom;
	uint32_t flags;
	uint32_t tx_metadata_len;
};

struct xp_umem {
	void *area;
	uint64_t size;
	uint32_t frame_size;
	uint32_t n_frames;
	uint32_t n_rx;	 /* frames owned by the RX cycle (= fill ring size) */
	int fd;		 /* the AF_XDP socket the UMEM is registered on (the port's) */
	uint32_t tx_off; /* TX data offset in a frame: XP_NET_IP_ALIGN or XP_TX_META_DATA_OFF */
	bool tx_meta;	 /* registered with tx_metadata_len = XP_TX_META_LEN */
	void *fq_map, *cq_map; /* the rings' mappings */
	size_t fq_len, cq_len;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	uint64_t *tx_free; /* free TX frame addresses (a stack) */
	uint32_t n_tx_free;
	uint32_t tx_in_flight; /* queued to the TX ring, not yet completed */
};

/*
 * Make the socket, register the frame area on it (with TX metadata room when
 * tx_meta and the kernel takes it: u->tx_meta says), map fill and completion
 * rings, fill the fill ring. 0 or -errno.
 */
int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size, bool tx_meta);
/* Map a ring of the socket fd at pgoff (XDP_PGOFF_RX_RING, ...): 0 or -errno. */
int xp_ring_map(int fd, const struct xdp_ring_offset *off, uint32_t size, size_t entry,
		uint64_t pgoff, void **map, size_t *len, struct xsk_ring_cons *ring);
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
