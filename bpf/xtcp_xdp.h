/*
 * xtcp_xdp.h - the XDP program's maps and their key/value layouts, shared by
 * the BPF side (bpf/xtcp_xdp.bpf.c) and userspace (xsk/, tools/xtcpctl).
 * Defined once, here: both sides include this file.
 *
 *   xsks_map     XSKMAP     rx queue index -> AF_XDP socket (xsk/xp_port.c)
 *   xtcp_serve   HASH       struct xtcp_serve_key -> struct xtcp_serve_val
 *   xtcp_serve6  HASH       struct xtcp_serve6_key -> struct xtcp_serve_val (IPv6)
 *   xtcp_cfg     ARRAY[1]   struct xtcp_cfg (xtcp's local-port range)
 *   xtcp_users   ARRAY[N]   struct xtcp_user: processes using the program
 *                           (userspace only; see xsk/xp_prog.c)
 *   xtcp_stats   PERCPU_ARRAY[XTCP_STAT_SLOTS] __u64, indexed by enum xtcp_stat
 *   xtcp_drain   ARRAY[2 * XTCP_XDP_MAX_QUEUES] __u32: slot q nonzero = the
 *                socket of queue q is draining (its owner stopped listening),
 *                slot XTCP_XDP_MAX_QUEUES + q nonzero = a successor waits for
 *                queue q: either way new flows (pure SYNs) go to the kernel
 *   xtcp_kflow   ARRAY[65536] struct xtcp_kflow, by local port (host order):
 *                written by the program (and touched by xp_prog_serve())
 *   xtcp_kclean  ARRAY[65536] __u64, by local port: written by userspace
 *                only (xp_prog_kflow_sweep()); see struct xtcp_kflow
 *   xtcp_hold    LRU_HASH   struct xtcp_hold_key -> __u64: flows being handed
 *                to the kernel (xp_prog_flow_hold()); see struct xtcp_hold_key
 *   xtcp_hold6   LRU_HASH   struct xtcp_flow6_key -> __u64: the same for IPv6
 *                flows (xp_prog_flow_hold6())
 *   xtcp_pmtu    LRU_HASH[XTCP_PMTU_MAX] __u32 peer IPv4 -> struct xtcp_pmtu:
 *                the last "fragmentation needed" about an xtcp flow to that
 *                peer, whichever queue (process) it reached
 *   xtcp_pmtu6   LRU_HASH[XTCP_PMTU_MAX] struct xtcp_pmtu6_key -> struct
 *                xtcp_pmtu: the same for ICMPv6 "packet too big"
 *   xtcp_shareq  ARRAY[XTCP_SHARE_MAX_QUEUES] struct xtcp_shareq: queue q
 *                shared by several processes (xsk/xp_share.c), or members
 *                expected on it (SYNs dropped meanwhile)
 *   xtcp_share_xsks XSKMAP[XTCP_SHARE_MAX_QUEUES * XTCP_SHARE_MAX_MEMBERS]:
 *                slot q * XTCP_SHARE_MAX_MEMBERS + m -> member m's socket
 *   xtcp_flows   LRU_HASH struct xtcp_flow_key -> struct xtcp_flow_val: the
 *                member a shared queue's flow went to (set at its SYN)
 *   xtcp_flows6  LRU_HASH struct xtcp_flow6_key -> struct xtcp_flow_val: the
 *                same for IPv6 flows
 *   xtcp_synq    LRU_HASH[XTCP_SYNQ_MAX] struct xtcp_flow_key -> __u32: the
 *                RX queue a served flow's SYN arrived on, noted only where the
 *                sender picks the queue (xtcp_note_syn_queue: a veth with
 *                several queues); read by userspace for a segment that later
 *                lands on another queue (preload/shim_handoff.c)
 *   xtcp_synq6   LRU_HASH[XTCP_SYNQ_MAX] struct xtcp_flow6_key -> __u32: the
 *                same for IPv6 flows
 *
 * Byte order: addresses and ports in keys are network order (as on the
 * wire, so the program does no swapping); the local-port range is host order.
 */
#ifndef XTCP_XDP_H
#define XTCP_XDP_H

#include <linux/types.h>

#define XTCP_XDP_PROG_NAME  "xtcp_xdp" /* the program's name, to find it on an interface */
#define XTCP_XDP_MAX_QUEUES 256	       /* xsks_map entries */
#define XTCP_XDP_MAX_SERVED 4096       /* xtcp_serve entries */
#define XTCP_XDP_MAX_USERS  64	       /* xtcp_users entries */
#define XTCP_STAT_SLOTS	    64	       /* xtcp_stats entries: room for more reasons */

/* Shared queues: how many, processes on each, flows remembered (least recently used go). */
#define XTCP_SHARE_MAX_QUEUES  64
#define XTCP_SHARE_MAX_MEMBERS 16
#define XTCP_SHARE_MAX_FLOWS   16384

/*
 * A member of a shared queue as a joining process finds it (userspace
 * only): the process and the numbers of its AF_XDP socket and of the
 * frame area's memfd there (pidfd_getfd, xsk/xp_share.c).
 */
struct xtcp_share_member {
	__u32 pid; /* 0 = free */
	__s32 sock_fd;
	__s32 mem_fd;
	__u32 gen;	  /* the group's generation when it joined (reloads) */
	__u64 start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
};

/*
 * Queue q when no socket holds it in xsks_map: shared by a group of
 * processes (one AF_XDP socket each on one UMEM), or about to be served
 * (wait_until). Written by userspace under the group's lock
 * (xsk/xp_share.c), read by the program on that fallback path only.
 */
struct xtcp_shareq {
	__u64 wait_until; /* bpf_ktime_get_ns(): till then a SYN nobody takes is dropped */
	__u64 new_until;  /* bpf_ktime_get_ns(): till then only slot[0..n_new) take new flows,
			   * and a SYN none of them takes is dropped (a reload's workers start) */
	__u32 shared;	  /* nonzero: the members in xtcp_share_xsks serve the queue */
	__u32 n;	  /* members that take new flows (listen): slot[0..n) */
	__u32 n_new;	  /* the newest generation (a reload's workers), listed first */
	__u32 dflt;	  /* member for a segment of no remembered flow: the first holder */
	__u8 slot[XTCP_SHARE_MAX_MEMBERS];
	struct xtcp_share_member member[XTCP_SHARE_MAX_MEMBERS]; /* userspace only */
};

/* A flow on a shared queue, as the peer's segments carry it (network order). */
struct xtcp_flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
};

/* An IPv6 flow on a shared queue (network order); its own map keeps the IPv4 key small. */
struct xtcp_flow6_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
};

/* Flows whose SYN queue is remembered (xtcp_synq, xtcp_synq6): the LRU forgets the oldest. */
#define XTCP_SYNQ_MAX 65536

struct xtcp_flow_val {
	__u32 member;
	__u32 isn; /* the SYN's sequence number (network order), for tools */
};

/* A served TCP destination: ip4 0 means any address of the interface. */
struct xtcp_serve_key {
	__u32 ip4;  /* network order; 0 = any */
	__u16 port; /* network order */
	__u16 pad;  /* must be 0 */
};

/* A served IPv6 TCP destination: addr all zero means any address of the interface. */
struct xtcp_serve6_key {
	__u8 addr[16]; /* network order; :: = any */
	__u16 port;    /* network order */
	__u16 pad;     /* must be 0 */
};

/* IPv6 extension headers the program walks to find TCP (more: passed to the kernel). */
#define XTCP_IP6_EXT_MAX 4

struct xtcp_serve_val {
	__u32 flags; /* reserved, 0 */
};

struct xtcp_cfg {
	__u16 lport_min; /* xtcp's local-port range for its own connections, */
	__u16 lport_max; /* host order, inclusive; 0/0 = none */
	__u32 flags;	 /* XTCP_CFG_F_* */
};

/*
 * Steer 802.1Q/802.1ad-tagged frames too. Off by default: the stack has no
 * VLAN support, and tagged frames belong to the kernel's VLAN interfaces
 * (a wildcard-address port would otherwise steal their traffic).
 */
#define XTCP_CFG_F_VLAN 0x1

/*
 * Kernel flows on served ports, so that only ports where the kernel may own
 * a connection pay for the socket lookup (bpf_skc_lookup_tcp). On a served
 * port, the kernel gets new flows only through this program: pure SYNs it
 * passes (a draining queue, no AF_XDP socket on the queue) and SYN|ACKs of
 * the kernel's own connects from that port (always looked up). Each bumps
 * gen and stamps last_ns before the frame goes up. Userspace, having seen no
 * kernel connection on the port (sock_diag) with gen unchanged across the
 * check and last_ns older than a grace period, stores gen + 1 in
 * xtcp_kclean; the program skips the lookup while xtcp_kclean == gen + 1.
 * Connections from before the port was served: xp_prog_serve() bumps gen.
 */
struct xtcp_kflow {
	__u64 gen;     /* SYNs of served ports handed to the kernel, and serve events */
	__u64 last_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the last bump */
};
#define XTCP_KFLOW_PORTS 65536

/*
 * A flow on its way to the kernel (preload/shim_repair.c): its kernel socket
 * is connected but still in TCP_REPAIR mode, its queues, options and clocks
 * not yet set. A segment the kernel took then would be answered from that
 * unfinished state (seen: an ACK whose TSval had no offset yet, after which
 * the peer's PAWS check dropped everything the socket sent). So while
 * the value (bpf_ktime_get_ns() deadline) lies ahead, the program drops the
 * flow's segments that would go to the kernel: the peer retransmits them to
 * the finished socket. Key as on the wire: the peer is the source.
 */
struct xtcp_hold_key {
	__u32 saddr, daddr; /* network order: peer, local */
	__u16 sport, dport; /* network order: peer, local */
};
/*
 * IPv6 flows are held in their own map (xtcp_hold6), keyed by struct
 * xtcp_flow6_key the same way (peer as source), so that the IPv4 key stays
 * 12 bytes.
 */
#define XTCP_XDP_MAX_HOLDS 1024

/*
 * Path MTU hints: an ICMP error lands on the RX queue its own addresses hash
 * to, often another process's than the flow's, whose stack rejects the quote.
 * So the program notes every "fragmentation needed" (xtcp_pmtu) and ICMPv6
 * "packet too big" (xtcp_pmtu6) it steers here, and a stack whose
 * connection to that peer times out asks (xp_prog_path_mtu(),
 * xp_prog_path_mtu6()). Not validated like the ICMP itself (no sequence
 * check): used only on an RTO, never below 552 (IPv4) or 1280 (IPv6,
 * stack/pmtu.c).
 */
struct xtcp_pmtu {
	__u32 mtu; /* next-hop MTU field of the ICMP (host order) */
	__u32 pad;
	__u64 ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when noted */
};
#define XTCP_PMTU_MAX 4096

/* The peer of an ICMPv6 "packet too big" hint (xtcp_pmtu6): its address, network order. */
struct xtcp_pmtu6_key {
	__u8 addr[16];
};

/* One process that attached or adopted the program (0 pid = free slot). */
struct xtcp_user {
	__u32 pid;
	__u32 pad;
	__u64 start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
};

/*
 * Counters, X(enum, name shown by tools). Every frame increments exactly one
 * verdict counter (the first three); the others count causes and may
 * overlap with each other.
 */
#define XTCP_STATS(X)                                                                              \
	X(XTCP_STAT_REDIRECTED, "redirected") /* verdict: to an AF_XDP socket */                   \
	X(XTCP_STAT_PASSED, "passed")	      /* verdict: XDP_PASS to the kernel */                \
	X(XTCP_STAT_DROPPED, "dropped")	      /* verdict: XDP_DROP (flood protection, holds) */    \
	X(XTCP_STAT_MALFORMED, "malformed")   /* truncated or inconsistent headers (passed) */     \
	X(XTCP_STAT_FRAGMENTS, "fragments")   /* IPv4 fragments (passed: no reassembly here) */    \
	X(XTCP_STAT_IP_OPTIONS, "ip_options") /* IPv4 with options (steered normally) */           \
	X(XTCP_STAT_NO_SOCKET, "no_socket")   /* served, no AF_XDP socket on the queue (passed) */ \
	X(XTCP_STAT_VLAN, "vlan")	      /* frames with one 802.1Q/802.1ad tag */             \
	X(XTCP_STAT_NOT_IP4, "not_ipv4")      /* ARP, IPv6, ... (passed) */                        \
	X(XTCP_STAT_NOT_TCP, "not_tcp")	      /* IPv4 but not TCP (passed) */                      \
	X(XTCP_STAT_LOCAL_PORT, "local_port") /* steered by the local-port range */                \
	X(XTCP_STAT_KERNEL_FLOW, "kernel_flow")	  /* served port, kernel's connection (passed) */  \
	X(XTCP_STAT_DRAIN, "drain_syn")		  /* SYN on a draining queue (passed) */           \
	X(XTCP_STAT_KFLOW_LOOKUP, "kflow_lookup") /* served segment that paid the socket lookup */ \
	X(XTCP_STAT_IP6, "ipv6")		  /* IPv6 frames (each also has its verdict) */    \
	X(XTCP_STAT_IP6_REDIRECTED, "ipv6_redirected") /* IPv6 segments to AF_XDP */               \
	X(XTCP_STAT_IP6_FRAG, "ipv6_fragments")	       /* IPv6 fragments (passed) */               \
	X(XTCP_STAT_IP6_EXT,                                                                       \
	  "ipv6_exthdr")	     /* had extension headers (walked), or too many (passed) */    \
	X(XTCP_STAT_ICMP6, "icmpv6") /* ND, RA, echo, others' errors (passed) */                   \
	X(XTCP_STAT_ICMP_ERROR, "icmp_error")	  /* ICMP(v6) errors whose quote was parsed */     \
	X(XTCP_STAT_ICMP_STEERED, "icmp_steered") /* of which about an xtcp flow: to its socket */ \
	X(XTCP_STAT_HANDOVER_HOLD, "handover_hold") /* kernel flow still in repair (dropped) */    \
	X(XTCP_STAT_SHARE_WAIT,                                                                    \
	  "share_wait_syn")		      /* no socket yet, members expected: SYN dropped */   \
	X(XTCP_STAT_SHARE_GONE, "share_gone") /* shared queue: the flow's member is gone (passed)  \
					       */

#define XTCP_STAT_ENUM_(e, name) e,
enum xtcp_stat {
	XTCP_STATS(XTCP_STAT_ENUM_) XTCP_STAT__COUNT /* first free slot; <= XTCP_STAT_SLOTS */
};
#undef XTCP_STAT_ENUM_

#endif
