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
	int shareq_fd, share_xsks_fd;				     /* shared queues */
	int user_slot;	/* our slot in xtcp_users, -1 if none */
	pid_t user_pid; /* the process that holds user_slot */
	int log_level;
};

/* Start time of a process (clock ticks since boot), 0 if gone or a zombie. */
uint64_t xp_proc_start_time(pid_t pid);

/* Log to stderr with the "xtcp: " prefix when level <= the handle's level. */
void xp_log(int level, int max_level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * UMEM (xp_umem.c): frame_size-byte frames in one MAP_SHARED area, with the
 * fill and completion rings. Frames [0, n_rx) cycle through the fill ring,
 * the RX ring and the stack (rx_done() puts them straight back), so the fill
 * ring (n_rx entries) can always take them. Frames [n_rx, n_frames) are the
 * TX pool: a free stack, popped by tx_alloc(), pushed back on completion.
 */
#include <pthread.h>
#include <xdp/xsk.h>

#include "xtcp_xdp.h"

/*
 * The part of a shared queue's group that lives in MAP_SHARED memory
 * (xp_share.c): every member process sees it. lock serialises the fill and
 * completion rings and the free stack among all members; it is held only
 * around ring and stack updates, never across a system call. Robust: a
 * member killed while holding it leaves it to the next locker, and every
 * update under it leaves the rings consistent at each store (producer and
 * consumer indices are re-read from the rings at each lock).
 */
struct xp_share_member {
	uint32_t pid;	     /* 0 = free */
	uint16_t left;	     /* left cleanly (xp_port_leave), frames returned */
	uint16_t listening;  /* takes new flows (it has a listener) */
	uint32_t gen;	     /* the group's generation when it joined */
	uint64_t start_time; /* tells a reused pid apart (xp_proc_start_time) */
};

struct xp_share_hdr {
	pthread_mutex_t lock;	   /* fill ring, completion ring, free stack */
	pthread_mutex_t join_lock; /* members[] */
	struct xp_share_member members[XTCP_SHARE_MAX_MEMBERS];
	uint64_t wait_until;	/* struct xtcp_shareq's: set by xp_share_expect() */
	uint64_t last_join_ns;	/* CLOCK_MONOTONIC of the latest join */
	uint32_t gen;		/* generation: bumped by a join after a reload */
	uint32_t gen_listening; /* the generation listen_ns belongs to */
	uint64_t listen_ns;	/* when its first member listened */
	uint32_t deaths;	/* members that died without leaving */
	uint32_t n_free;	/* frames on free[] */
	uint32_t fq_target;	/* keep this many frames on the fill ring */
	uint32_t tx_reserve;	/* the fill ring is topped up only above this many free */
	uint64_t free[];	/* free frame addresses, a stack */
};

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
	uint64_t *tx_free; /* free TX frame addresses (a stack; shared: this process's cache) */
	uint32_t n_tx_free;
	uint32_t tx_in_flight;	 /* queued to the TX ring, not yet completed */
	struct xp_share_hdr *sh; /* shared UMEM of a group (xp_share.c), or NULL: ours alone */
};

/* Frames a member of a shared UMEM keeps for TX between trips to the shared stack. */
#define XP_SHARE_TX_CACHE 128

int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size);
void xp_umem_destroy(struct xp_umem *u);
/* Give frames (any address inside a frame) to the fill ring: 0 or -ENOSPC. */
int xp_umem_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n);
/* Move completed TX frames back to the pool; returns how many. */
unsigned xp_umem_complete(struct xp_umem *u);
/* A TX frame from the pool: 0 and *addr (frame start), or -ENOBUFS. */
int xp_umem_tx_get(struct xp_umem *u, uint64_t *addr);
/* Back to the pool: a TX frame that will not be sent (any address inside it). */
void xp_umem_tx_put(struct xp_umem *u, uint64_t addr);
/* Shared UMEM: a view of group area for one member port (no kernel objects made). */
void xp_umem_share_view(struct xp_umem *u, const struct xp_umem *group, struct xp_share_hdr *sh);
/* Shared UMEM: give this process's cached TX frames back to the group. */
void xp_umem_share_return(struct xp_umem *u);
void xp_share_lock(struct xp_share_hdr *sh);
void xp_share_unlock(struct xp_share_hdr *sh);

/*
 * A group (xp_share.c): one queue's shared UMEM, registered on an anchor
 * socket bound to the queue that takes no traffic (it is in no XSKMAP) and
 * lives as long as any process of the family holds it, so members come and
 * go (and die) without the UMEM's fill and completion rings going away.
 */
struct xp_share_q {
	struct xp_umem umem;	   /* area, fill/completion rings, libxdp umem; sh set */
	struct xsk_socket *anchor; /* bound first: the socket the others share the UMEM of */
	struct xsk_ring_prod anchor_tx;
	size_t hdr_size;
};

int xp_share_join(struct xp_share *sh, unsigned queue, unsigned *member);
void xp_share_leave(struct xp_share *sh, unsigned queue, unsigned member);
int xp_share_listen(struct xp_share *sh, unsigned queue, unsigned member, bool on);

struct xp_share {
	struct xp_prog *prog;
	unsigned n_queues;
	uint32_t ring_size;
	struct xp_share_q q[];
};

static inline uint64_t xp_umem_frame(const struct xp_umem *u, uint64_t addr)
{
	/* RX addresses include headroom: mask back to the frame start (aligned mode). */
	return addr & ~(uint64_t)(u->frame_size - 1);
}

#endif
