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
	int hold6_fd;						     /* ... IPv6 ones */
	int pmtu_fd;		      /* xtcp_pmtu: path MTU hints (xp_pmtu.c) */
	int pmtu6_fd;		      /* xtcp_pmtu6: the same for IPv6 peers */
	int synq_fd;		      /* xtcp_synq: a served flow's SYN queue (-1: none) */
	int synq6_fd;		      /* xtcp_synq6: the same for IPv6 flows */
	bool notes_syn_queue;	      /* the program notes SYN queues (sender_picks_queue()) */
	int shareq_fd, share_xsks_fd; /* shared queues */
	int user_slot;		      /* our slot in xtcp_users, -1 if none */
	pid_t user_pid;		      /* the process that holds user_slot */
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

/*
 * The part of a shareable UMEM that other processes map (xp_share.c): it
 * sits in the frame area's memfd, after the frames. The queue's first
 * holder drives the fill and completion rings alone, without a lock, as an
 * unshared port does (mode XP_SHARE_SOLO) until a process asks to join;
 * then it switches at its next poll (join_ack) and from there every member
 * uses them under lock. lock is held only around ring and free-stack
 * updates, never across a system call. Robust: a member killed while
 * holding it leaves it to the next locker, and each update under it leaves
 * the rings consistent at every store (indices are re-read at each lock).
 */
#define XP_SHARE_MAGIC 0x78747071u /* "xtpq" */
enum { XP_SHARE_SOLO = 0, XP_SHARE_SHARED = 1 };
struct xp_share_hdr {
	uint32_t magic, ifindex, queue, n_frames;
	uint32_t ring;		   /* fill and completion ring size */
	uint32_t tx_off, tx_meta;  /* the UMEM's registration, for members */
	pthread_mutex_t lock;	   /* fill ring, completion ring, free stack (shared) */
	pthread_mutex_t join_lock; /* members, listening, the handshake, the map value */
	uint32_t mode;		   /* XP_SHARE_SOLO / XP_SHARE_SHARED */
	uint32_t join_req;	   /* bumped by a joiner; join_ack = join_req once switched */
	uint32_t join_ack;
	int32_t doorbell_fd; /* the first holder's eventfd (its number there): wakes it */
	uint32_t first;	     /* the first holder's member slot */
	uint32_t deaths;     /* members that died without leaving */
	uint64_t last_join_ns,
		gen_ns; /* CLOCK_MONOTONIC: the latest join, the newest generation's */
	uint32_t gen;	/* generation (reloads) */
	struct xtcp_share_member members[XTCP_SHARE_MAX_MEMBERS];
	uint8_t listening[XTCP_SHARE_MAX_MEMBERS]; /* takes new flows (has a listener) */
	uint8_t left[XTCP_SHARE_MAX_MEMBERS];	   /* left cleanly, frames returned */
	uint32_t n_free;			   /* frames on free[] */
	uint32_t fq_target;			   /* keep this many frames on the fill ring */
	uint32_t tx_reserve; /* the fill ring is topped up only above this many free */
	uint64_t free[];     /* free frame addresses, a stack */
};

/* Frames a member of a shared UMEM keeps for TX between trips to the shared stack. */
#define XP_SHARE_TX_CACHE 128

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
	/* Shareable (xp_share.c): the area is a memfd with a header after the frames. */
	struct xp_share_hdr *sh; /* NULL: never shared */
	size_t sh_len;
	int mem_fd;  /* the area's memfd, -1 if anonymous */
	bool shared; /* rings and frames used under sh->lock (mode XP_SHARE_SHARED) */
};

/*
 * Make the socket, register the frame area on it (with TX metadata room when
 * tx_meta and the kernel takes it: u->tx_meta says), map fill and completion
 * rings, fill the fill ring. 0 or -errno.
 */
int xp_umem_create(struct xp_umem *u, uint32_t n_frames, uint32_t ring_size, bool tx_meta,
		   bool shareable);
/*
 * A member's view of a shared UMEM: map its memfd (frames and header; mem_fd
 * is taken over), rings come later from the member's own bound socket.
 */
int xp_umem_attach(struct xp_umem *u, int mem_fd);
/* Map a ring of the socket fd at pgoff (XDP_PGOFF_RX_RING, ...): 0 or -errno. */
int xp_ring_map(int fd, const struct xdp_ring_offset *off, uint32_t size, size_t entry,
		uint64_t pgoff, void **map, size_t *len, struct xsk_ring_cons *ring);
void xp_umem_destroy(struct xp_umem *u);
/* Give frames (any address inside a frame) to the fill ring: 0 or -ENOSPC. */
int xp_umem_fill(struct xp_umem *u, const uint64_t *addrs, unsigned n);
/* Move completed TX frames back to the pool; returns how many. */
unsigned xp_umem_complete(struct xp_umem *u);
/* Shared UMEM: a TX frame (its start) from the pool: 0, or -ENOBUFS. */
int xp_umem_share_tx_get(struct xp_umem *u, uint64_t *addr);
/* Shared UMEM: back to the pool, a TX frame that will not be sent (any address inside). */
void xp_umem_share_tx_put(struct xp_umem *u, uint64_t addr);
/* The first holder switches to shared use (a joiner asked): lock, frames to the stack. */
void xp_umem_share_begin(struct xp_umem *u);
/* Shared UMEM: give this process's cached TX frames back to the group. */
void xp_umem_share_return(struct xp_umem *u);
void xp_share_lock(struct xp_share_hdr *sh);
void xp_share_unlock(struct xp_share_hdr *sh);

/* --- shared queues (xp_share.c) --- */
/* The first holder of queue q: its slot in a fresh group (solo), published. */
int xp_share_offer(struct xp_prog *prog, struct xp_umem *u, int sock_fd, int doorbell_fd);
/*
 * A joiner: a group's memfd and one member's socket (copies of another
 * process's fds) for queue q: 0, or -errno (-ENOENT: none to join).
 */
int xp_share_find(struct xp_prog *prog, unsigned q, int *mem_fd, int *sock_fd);
/*
 * Take a member slot in the group (sh mapped). A solo group's first holder
 * is asked to switch first (woken through its doorbell; bounded). join_lock
 * is held on success, until xp_share_commit().
 */
int xp_share_join(struct xp_prog *prog, struct xp_share_hdr *sh, unsigned *member);
/*
 * Enter the program's maps: our socket in xtcp_share_xsks (the first holder's
 * too, from other_fd, when the group was solo), then the queue as shared,
 * then the first holder's xsks_map slot removed. Drops join_lock.
 */
int xp_share_commit(struct xp_prog *prog, struct xp_share_hdr *sh, unsigned member, int sock_fd,
		    int other_fd, int mem_fd);
/* Member takes new flows (it listens) or not. */
int xp_share_listen(struct xp_prog *prog, struct xp_share_hdr *sh, unsigned member, bool on);
/* Leave cleanly (exit): out of the maps and the lists. */
void xp_share_leave(struct xp_prog *prog, struct xp_share_hdr *sh, unsigned member);

static inline uint64_t xp_umem_frame(const struct xp_umem *u, uint64_t addr)
{
	/* RX addresses include headroom: mask back to the frame start (aligned mode). */
	return addr & ~(uint64_t)(u->frame_size - 1);
}

#endif
