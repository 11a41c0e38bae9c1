/*
 * shim_stats.h - per-process statistics the shim publishes in shared memory,
 * for xtcpctl (tools/) and tests. Include-only: no code, no dependencies.
 *
 * File: /dev/shm/xtcp-<pid>.stats, one struct shim_stats, created when the
 * process starts its engine (first use of a served socket), removed at exit.
 * Counters are written by the owning process (under its lock); readers map
 * the file read-only and may see values mid-update (each counter is a
 * naturally aligned uint64_t, so never torn). conn[] is guarded by the
 * seqlock conn_gen. A reader checks magic and
 * version first, and whether pid is alive (kill(pid, 0)) as the file of a
 * crashed process is left behind.
 */
#ifndef XTCP_SHIM_STATS_H
#define XTCP_SHIM_STATS_H

#include <stdint.h>

/* Versions: 2: conn[] appended; 3: xsk_*; 4: handoff_*; 5: stack_syn_cookies_* and the
 * other stack counters after handoff_*, then stack_rx_csum_partial, then kernel_*; 6: conn6[]
 * and the IPv6 counters, then stack_icmp_*, stack_pmtu_lowered and xsk_tx_frames* (older
 * readers stop earlier; readers check the length). */
#define SHIM_STATS_MAGIC   0x78746370u /* "xtcp" */
#define SHIM_STATS_VERSION 6
#define SHIM_STATS_PATH	   "/dev/shm/xtcp-%d.stats"

#define SHIM_STATS_MAX_CONNS 1024

/* One xtcp socket in use (from the stack's sock_info()), for `xtcpctl conns`. */
struct shim_conn_info {
	uint32_t state;	       /* Linux TCP_* numbering (TCP_ESTABLISHED = 1 ...) */
	uint32_t laddr, raddr; /* network order */
	uint16_t lport, rport; /* host order */
	uint32_t rx_queued, tx_queued, srtt_us, rttvar_us, rto_us;
	uint32_t cwnd, ssthresh, mss, snd_wnd;
	uint64_t retrans;
};

/* conn[i]'s addresses in both families (version 6): IPv4 v4-mapped, network order. */
struct shim_conn_addr6 {
	uint8_t laddr[16], raddr[16];
	uint32_t inet6; /* an AF_INET6 socket: shown as [addr]:port, as ss does */
};

/* Why a socket that could have been on xtcp stayed on the kernel. */
enum shim_fallback {
	SHIM_FB_NO_PROGRAM = 0, /* XDP program could not be attached (privilege, driver) */
	SHIM_FB_NO_ENGINE,	/* no AF_XDP queue for this process (all taken, no privilege) */
	SHIM_FB_NOT_INET,	/* served port, an address xtcp cannot see (IPv6 loopback...) */
	SHIM_FB_FORKED,		/* an xtcp connection used in a child after fork */
	SHIM_FB_STACK,		/* the stack refused (no memory, table full) */
	SHIM_FB_KERNEL_SYN,	/* accepted by the kernel from the served interface (its SYN
				   came while no AF_XDP socket of the process served its queue) */
	SHIM_FB__COUNT = 8
};

struct shim_stats {
	uint32_t magic;
	uint32_t version;
	int32_t pid;
	uint32_t queue; /* RX queue this process serves */
	char iface[16];
	uint64_t started_us; /* CLOCK_MONOTONIC */
	uint64_t updated_us; /* last refresh of the stack_* fields */
	/* sockets */
	uint64_t listeners;	  /* listening sockets on xtcp now */
	uint64_t conns;		  /* xtcp connections open now */
	uint64_t accepted_xtcp;	  /* accept() results from xtcp, total */
	uint64_t accepted_kernel; /* accept() results from the kernel placeholder (loopback..) */
	uint64_t connected_xtcp;  /* connect() on xtcp, total */
	uint64_t fallback[SHIM_FB__COUNT]; /* sockets left on the kernel, by enum shim_fallback */
	/* engine */
	uint64_t polls;	 /* stack_poll calls */
	uint64_t sleeps; /* blocking waits that slept */
	/* copied from stack_get_stats(), refreshed at least every 100 ms while active */
	uint64_t stack_rx_frames, stack_tx_frames, stack_rx_drop;
	uint64_t stack_active_opens, stack_passive_opens, stack_retrans_segs;
	uint64_t stack_socks_in_use;
	uint64_t stack_drop[32]; /* input drops by reason: stack_drop_reason_name(i) */
	/* version 2: the sockets in use, rewritten with the stack_* fields */
	uint64_t conn_gen;   /* seqlock: odd while conn[] is rewritten (at most every 250 ms) */
	uint64_t n_conn;     /* valid entries in conn[] */
	uint64_t conn_total; /* sockets in use, even beyond the table */
	struct shim_conn_info conn[SHIM_STATS_MAX_CONNS];
	/* version 3: xp_port_get_stats() summed over this process's AF_XDP sockets */
	uint64_t xsk_ports; /* AF_XDP sockets this process drives */
	uint64_t xsk_rx_packets, xsk_tx_packets, xsk_rx_ring_full, xsk_fill_empty;
	uint64_t xsk_tx_ring_full, xsk_tx_invalid, xsk_rx_invalid, xsk_rx_dropped, xsk_tx_kicks;
	uint64_t xsk_zero_copy; /* 1 if every port is zero-copy */
	/* version 4: misdirected segments handed between processes (shim_handoff.c) */
	uint64_t handoff_sent;	   /* frames sent to the process that owns their local port */
	uint64_t handoff_lost;	   /* taken but not delivered (owner gone or full): peer resends */
	uint64_t handoff_no_owner; /* no endpoint for the owner's queue: RST as without hand-off */
	uint64_t handoff_received; /* frames from other processes fed to this stack */
	uint64_t handoff_rejected; /* datagrams or records refused (other user, malformed) */
	/* version 5: more of stack_get_stats(), refreshed with the stack_* fields above */
	uint64_t stack_syn_cookies_sent;      /* SYN-ACKs carrying a SYN cookie */
	uint64_t stack_syn_cookies_validated; /* handshakes completed by a valid cookie */
	uint64_t stack_syn_cookies_failed;    /* ACKs after cookies were sent with no valid one */
	uint64_t stack_challenge_acks;	      /* RFC 5961 challenge ACKs sent */
	uint64_t stack_invalid_acks_limited;  /* replies to invalid segments held back (limits) */
	uint64_t stack_malformed_opt_lists;   /* segments whose options ended at a malformed one */
	/* version 5, last: segments accepted with a local kernel's unfinished checksum */
	uint64_t stack_rx_csum_partial;
	/* version 5: connections handed to the kernel (shim_repair.c) */
	uint64_t kernel_at_fork; /* live connections made kernel sockets before a fork */
	uint64_t kernel_at_exit; /* connections the kernel finishes after this process exits */
	uint64_t kernel_failed;	 /* hand-overs the kernel refused: stayed on xtcp */
	uint64_t kernel_left;	 /* not handed over (state, privilege): stayed on xtcp */
	/* version 6: IPv6 */
	struct shim_conn_addr6 conn6[SHIM_STATS_MAX_CONNS]; /* under conn_gen, as conn[] */
	uint64_t stack_rx_frames6, stack_tx_frames6;	    /* IPv6 share of stack_rx/tx_frames */
	uint64_t stack_active_opens6, stack_passive_opens6; /* ... and of the opens */
	/* version 6: ICMP errors about our connections (stack/icmp.c, stack/pmtu.c) */
	uint64_t stack_icmp_errors;   /* received with a valid checksum */
	uint64_t stack_icmp_acted;    /* acted on: path MTU lowered, error noted, connect failed */
	uint64_t stack_icmp_rejected; /* quote of no connection, or sequence out of window */
	uint64_t stack_pmtu_lowered;  /* path MTUs lowered by "fragmentation needed" */
	/* version 6: UMEM TX frames of this process's AF_XDP sockets (a gauge) */
	uint64_t xsk_tx_frames;	       /* the TX pools' size */
	uint64_t xsk_tx_frames_in_use; /* not free: batched, in the TX or completion ring */
	/* version 6, last: path MTU from the link at an RTO, RFC 4821 probing (stack/pmtu.c) */
	uint64_t stack_pmtu_hints;     /* MTUs another process's ICMP left in the program's map */
	uint64_t stack_mtu_blackholes; /* XTCP_MTU_PROBING: black holes suspected */
	uint64_t stack_mtu_probes;     /* XTCP_MTU_PROBING: probes sent */
};

#endif
