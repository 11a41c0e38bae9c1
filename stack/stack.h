/*
 * stack.h - the public face of the xtcp TCP/IP stack (IPv4 and IPv6).
 *
 * One struct stack per owning process or thread; no global state. The
 * caller (the shim, or a test) drives it run-to-completion:
 *
 *	now = clock();                  // CLOCK_MONOTONIC in us, read once
 *	stack_poll(stk, now);           // RX burst, input, timers, output, one TX kick
 *	... app calls sock_*() ...      // these only mark work; output waits for
 *	stack_poll(stk, now);           // the next poll (or call stack_flush())
 *	sleep until stack_next_deadline() or the netdev's wait_fd is readable
 *
 * Readiness: whenever a socket's poll events may have changed, the stack
 * calls cfg.on_event(cfg.event_ctx, sd) from inside stack_poll() or a
 * sock_*() call; the caller re-reads sock_events().
 *
 * Sockets are small integers (sd >= 0). Every function returns 0 / a count
 * on success and -errno on failure, with Linux's errno values for the same
 * situation (EAGAIN, EINPROGRESS, ECONNREFUSED, ECONNRESET, EPIPE, ENOTCONN,
 * EADDRINUSE, EINVAL, ...). The stack never sets errno and never raises
 * signals: on EPIPE the shim decides about SIGPIPE.
 *
 * Addresses are struct sockaddr_in in network byte order, exactly as the
 * application passed them; an AF_INET6 socket (sock_socket6()) takes and
 * returns struct sockaddr_in6 through the *6 calls, with IPv4 peers as
 * ::ffff:a.b.c.d when dual-stack (IPV6_V6ONLY off), as Linux. Options use Linux's level/name
 * values (SOL_SOCKET SO_*, IPPROTO_TCP TCP_*).
 */
#ifndef XTCP_STACK_H
#define XTCP_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>

struct netdev;
struct stack;

enum stack_cc {
	STACK_CC_CUBIC = 0,
	STACK_CC_NEWRENO,
};

/* connect()'s local ports by default (Linux's ip_local_port_range ends at 60999). */
#define STACK_LOCAL_PORT_MIN 61000
#define STACK_LOCAL_PORT_MAX 65535

struct stack_config {
	struct netdev *dev;
	uint64_t seed; /* secret for ISNs (RFC 6528), cookies, port choice */
	/*
	 * Secret for the timestamp offsets (RFC 7323 7.1), 0 = from seed. Give
	 * every process of a host the same one: a 4-tuple another process used
	 * before then carries newer timestamps, and the peer's TIME-WAIT takes
	 * the new SYN (PAWS) instead of stalling it for a retransmission.
	 */
	uint64_t ts_seed;
	unsigned max_socks;	  /* sockets incl. listeners and TIME-WAIT; 0 = 16384 */
	unsigned max_syn_queue;	  /* half-open per listener before SYN cookies; 0 = 1024 */
	uint32_t sndbuf;	  /* default send buffer bytes; 0 = 256 KiB */
	uint32_t rcvbuf;	  /* default receive buffer bytes; 0 = 256 KiB */
	uint16_t local_port_min;  /* range for connect() local ports (RFC 6056 random); */
	uint16_t local_port_max;  /* 0/0 = STACK_LOCAL_PORT_MIN-STACK_LOCAL_PORT_MAX */
	uint16_t local_port_step; /* pick only ports p with p % step == local_port_rem; 0 = 1 */
	uint16_t local_port_rem;
	enum stack_cc cc;
	void (*on_event)(void *ctx, int sd); /* readiness of sd may have changed */
	void *event_ctx;
	unsigned flags; /* STACK_F_*: options not to offer or accept (Linux sysctl equivalents) */
	/*
	 * Optional hand-off of misdirected segments (several processes, one RX
	 * queue each): called for a TCP segment that matches no socket and no
	 * listener, whose destination port is a local port of the range that
	 * another stack picks (p % local_port_step != local_port_rem), before
	 * the RST reply. frame/len: the whole Ethernet frame, checksums
	 * verified, valid during the call only. Nonzero: taken (no RST, drop
	 * reason "handed_off"); 0: answered as today (RST).
	 */
	int (*on_misdirected)(void *ctx, const uint8_t *frame, uint32_t len, uint16_t dport);
	/*
	 * Optional, as on_misdirected, for a segment to a listening port that
	 * matches no connection, no half-open one and no SYN cookie, and is no
	 * SYN or RST: on a link where the sender picks the queue, the flow may
	 * have started on another process's queue. Addresses IPv6 (IPv4
	 * v4-mapped), ports host order; ctx is misdirected_ctx.
	 */
	int (*on_unknown_flow)(void *ctx, const uint8_t *frame, uint32_t len,
			       const struct in6_addr *peer, uint16_t peer_port,
			       const struct in6_addr *local, uint16_t local_port);
	void *misdirected_ctx;
	/*
	 * Challenge ACKs (RFC 5961 7) the whole stack sends per second, on
	 * average: each second's budget is drawn anew between half and one and a
	 * half times this (Linux tcp_challenge_ack_limit), so that the count
	 * tells an off-path attacker nothing (CVE-2016-5696). 0 = 1000.
	 */
	unsigned challenge_ack_limit;
	/*
	 * net.ipv4.tcp_rmem[2]: how far receive autotuning may grow a buffer
	 * (up to the stack's ring limit), and so the window scale offered, as
	 * Linux's tcp_select_initial_window(). 0 = Linux's default, 6 MiB.
	 */
	uint32_t rmem_max;
};

#define STACK_F_NO_SACK 0x1u /* net.ipv4.tcp_sack = 0 */
#define STACK_F_NO_TS	0x2u /* net.ipv4.tcp_timestamps = 0 */
#define STACK_F_NO_WS	0x4u /* net.ipv4.tcp_window_scaling = 0 */
#define STACK_F_NO_ECN	0x8u /* net.ipv4.tcp_ecn = 0: refuse ECN (default: as tcp_ecn = 2) */

/* net.ipv4.tcp_mtu_probing = 1: RFC 4821 probing once a black hole is suspected (pmtu.c) */
#define STACK_F_MTU_PROBING 0x10u
#define STACK_F_NO_TLP	    0x20u /* net.ipv4.tcp_early_retrans = 0: no tail loss probes */
#define STACK_F_TFO_SERVER  0x40u /* net.ipv4.tcp_fastopen & 2: Fast Open on listeners */
#define STACK_F_NO_RACK	    0x80u /* net.ipv4.tcp_recovery = 0: losses by dupACK count */

struct stack *stack_create(const struct stack_config *cfg);
void stack_destroy(struct stack *stk);

/* RX burst, input, timers due by now_us, output, one TX kick. Returns frames received. */
int stack_poll(struct stack *stk, uint64_t now_us);
/*
 * stack_poll() that leaves the output and its TX kick to the next
 * stack_poll() or stack_flush() (stack_has_output() then says so); events
 * are delivered. For a caller that knows a flush follows soon.
 */
int stack_poll_quiet(struct stack *stk, uint64_t now_us);
/*
 * stack_poll() for a caller about to hand the app its events: the ACK of
 * a segment that arrived in order early in a connection (sent at once,
 * Linux's quick ACKs) is kept back, so the answer the app writes next
 * carries it; the rest goes out. Kept by this and stack_flush_hold_acks()
 * for at most TCP_ACK_HOLD_US (1 ms); stack_poll() and stack_flush() send
 * it. stack_has_output() says one is owed: the caller must make sure a
 * plain poll or flush follows (before it sleeps, at the latest).
 */
int stack_poll_hold_acks(struct stack *stk, uint64_t now_us);
void stack_flush_hold_acks(struct stack *stk, uint64_t now_us);
/* Output only (after app calls, when no poll follows soon), with one TX kick. */
void stack_flush(struct stack *stk, uint64_t now_us);
/* Absolute time (us) of the earliest pending timer, or UINT64_MAX. */
uint64_t stack_next_deadline(const struct stack *stk);
/* True when output is pending that a stack_flush() would send. */
int stack_has_output(const struct stack *stk);
/*
 * Connections the app closed whose data or FIN the peer has not acknowledged
 * yet (not FIN-WAIT-2, TIME-WAIT or closed). A process about to exit waits
 * for them: the kernel would keep such orphans after exit, a stack inside the
 * process cannot. Walks the socket table: not for the packet path.
 */
unsigned stack_orphans_unsettled(const struct stack *stk);

struct stack_stats {
	uint64_t rx_frames, tx_frames;
	uint64_t rx_drop;	  /* all input drops, each also counted by reason */
	uint64_t drop_reason[32]; /* indexed by the stack's drop reasons */
	uint64_t active_opens, passive_opens, attempt_fails, estab_resets;
	uint64_t retrans_segs;
	uint64_t syn_cookies_sent; /* SYN-ACKs with a cookie (Linux SyncookiesSent) */
	uint64_t syn_cookies_ok;   /* handshakes completed by a valid cookie (SyncookiesRecv) */
	uint64_t challenge_acks;   /* RFC 5961 challenge ACKs sent (TCPChallengeACK) */

	uint64_t socks_in_use; /* pool occupancy: returns to 0 when all closed */
	uint64_t tx_nobufs;    /* frames that could not be allocated */
	/* segments whose option list ended at a malformed option (length 0 or 1,
	 * or past the header): taken with the options before it, as Linux does */
	uint64_t malformed_opt_lists;
	/* ACKs to invalid segments not sent: one per connection per 500 ms
	 * (Linux TCPACKSkippedChallenge/Seq/PAWS), or the stack's challenge-ACK
	 * budget of the second spent */
	uint64_t invalid_acks_limited;
	/* ACKs to a listener after cookies were sent that carry no valid cookie
	 * (Linux SyncookiesFailed): answered by a RST, or dropped when the
	 * cookie is good but the segment starts past the first byte */
	uint64_t syn_cookies_failed;
	uint64_t ecn_ce_rcvd;	      /* data segments received with CE (congestion marked) */
	uint64_t ecn_cwnd_reductions; /* cwnd reduced for an ECE, once per window */
	uint64_t urgent_marks;	      /* new urgent pointers taken from the peer */
	/*
	 * Segments accepted with an unfinished checksum (a local kernel's
	 * CHECKSUM_PARTIAL form) on a link that trusts it; bad ones count as
	 * drop_reason "tcp_csum" whatever the link.
	 */
	uint64_t rx_csum_partial;
	/* per address family: IPv6 frames and opens (the totals above count both) */
	uint64_t rx_frames6, tx_frames6, active_opens6, passive_opens6;
	/*
	 * ICMP errors (destination unreachable, time exceeded, parameter
	 * problem) that reached the stack with a valid checksum; of them, those
	 * acted on (path MTU lowered, error noted or connect failed) and those
	 * rejected (the quote names no connection of ours, or its sequence is
	 * outside SND.UNA..SND.NXT: RFC 5927). The rest changed nothing (a
	 * larger MTU, TIME-WAIT).
	 */
	uint64_t icmp_errors, icmp_acted, icmp_rejected;
	uint64_t pmtu_lowered; /* path MTUs lowered by "fragmentation needed" (RFC 1191) */
	/* of which taken at an RTO from the link (an ICMP that reached another queue) */
	uint64_t pmtu_hints;
	/* STACK_F_MTU_PROBING (RFC 4821): black holes suspected, probes sent */
	uint64_t mtu_blackholes, mtu_probes;
	uint64_t timeouts;	 /* RTO expiries with data outstanding (Linux TCPTimeouts) */
	uint64_t tlp_probes;	 /* tail loss probes sent (Linux TCPLossProbes) */
	uint64_t tlp_recoveries; /* losses a probe revealed (TCPLossProbeRecovery) */
	uint64_t tfo_accepted;	 /* connections opened by a SYN with data and a valid
				  * Fast Open cookie (Linux TCPFastOpenPassive) */
};
void stack_get_stats(const struct stack *stk, struct stack_stats *out);
const char *stack_drop_reason_name(unsigned reason);

/* Per-connection snapshot for xtcpctl conns / tests. */
struct sock_info {
	int state; /* TCP_ESTABLISHED.. as in <netinet/tcp.h> (Linux numbering) */
	struct sockaddr_in local, peer;
	uint32_t rx_queued, tx_queued;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t cwnd, ssthresh, snd_wnd, rcv_wnd, mss;
	uint64_t retrans;
	/* both families: IPv4 v4-mapped (local/peer above hold 0 for IPv6 ones) */
	struct sockaddr_in6 local6, peer6;
	int inet6; /* an AF_INET6 socket */
};
int sock_info(struct stack *stk, int sd, struct sock_info *out);
/* Iterate sockets in use: returns the next sd >= from, or -1. */
int sock_next(struct stack *stk, int from);

/* --- socket API --- */
int sock_socket(struct stack *stk);
int sock_bind(struct stack *stk, int sd, const struct sockaddr_in *addr);
/* AF_INET6: sock_socket6() (IPV6_V6ONLY off; IPPROTO_IPV6 IPV6_V6ONLY/IPV6_TCLASS options). */
int sock_socket6(struct stack *stk);
int sock_bind6(struct stack *stk, int sd, const struct sockaddr_in6 *addr);
int sock_accept6(struct stack *stk, int sd, struct sockaddr_in6 *peer);
int sock_connect6(struct stack *stk, int sd, const struct sockaddr_in6 *dst, uint64_t now_us);
int sock_name6(struct stack *stk, int sd, struct sockaddr_in6 *out);
int sock_peer6(struct stack *stk, int sd, struct sockaddr_in6 *out);
int sock_listen(struct stack *stk, int sd, int backlog);
/* -EAGAIN when no connection is ready; peer may be NULL. */
int sock_accept(struct stack *stk, int sd, struct sockaddr_in *peer);
/* -EINPROGRESS; completion shows as EPOLLOUT, failure as EPOLLERR + sock_error(). */
int sock_connect(struct stack *stk, int sd, const struct sockaddr_in *dst, uint64_t now_us);
/*
 * flags: MSG_MORE (cork this write), MSG_OOB (the last byte written is
 * urgent: URG and the pointer go out until it is ACKed, Nagle and cork do not
 * hold it), MSG_DONTWAIT is the caller's; never blocks: -EAGAIN.
 */
ssize_t sock_send(struct stack *stk, int sd, const void *buf, size_t len, int flags);
ssize_t sock_sendv(struct stack *stk, int sd, const struct iovec *iov, int iovcnt, int flags);
/*
 * Zero-copy fill of the send buffer (sendfile): up to two spans of free
 * space are returned; the caller writes into them and commits n bytes.
 * Returns free bytes (0 when full), or -errno (-EPIPE after shutdown).
 */
ssize_t sock_send_reserve(struct stack *stk, int sd, struct iovec span[2]);
int sock_send_commit(struct stack *stk, int sd, size_t n, int flags);
/*
 * flags: MSG_PEEK, MSG_TRUNC, MSG_OOB. 0 = EOF, -EAGAIN = nothing yet. Urgent
 * data as Linux: a read stops at the urgent mark and, unless SO_OOBINLINE,
 * steps over the urgent byte. MSG_OOB reads that byte: 1 (0 into no room,
 * which Linux reports with MSG_TRUNC), -EINVAL when there is none (or
 * SO_OOBINLINE, or already read), -EAGAIN before it arrives. The caller sets
 * MSG_OOB in msg_flags and raises SIGURG: the stack sends no signals.
 */
ssize_t sock_recv(struct stack *stk, int sd, void *buf, size_t len, int flags);
ssize_t sock_recvv(struct stack *stk, int sd, const struct iovec *iov, int iovcnt, int flags);
int sock_shutdown(struct stack *stk, int sd, int how); /* SHUT_RD / SHUT_WR / SHUT_RDWR */
/* Graceful close (FIN after queued data), or RST when SO_LINGER{1,0} is set. sd is freed. */
int sock_close(struct stack *stk, int sd);
int sock_setopt(struct stack *stk, int sd, int level, int name, const void *val, socklen_t len);
int sock_getopt(struct stack *stk, int sd, int level, int name, void *val, socklen_t *len);
int sock_name(struct stack *stk, int sd, struct sockaddr_in *out);
int sock_peer(struct stack *stk, int sd, struct sockaddr_in *out); /* -ENOTCONN */
/* EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLHUP | EPOLLERR, Linux poll semantics
 * (EPOLLPRI: an urgent byte to read with MSG_OOB). */
uint32_t sock_events(struct stack *stk, int sd);
/* Pending error (SO_ERROR) as a positive errno value (0 = none), cleared by
 * reading; -EBADF for a bad sd. */
int sock_error(struct stack *stk, int sd);
uint32_t sock_rx_avail(struct stack *stk, int sd);  /* FIONREAD */
int sock_atmark(struct stack *stk, int sd);	    /* SIOCATMARK: 1 at the urgent mark, else 0 */
uint32_t sock_tx_queued(struct stack *stk, int sd); /* SIOCOUTQ: unacked + unsent */
/*
 * Hand-over of a connection to another TCP implementation (the shim gives
 * it to the Linux kernel with TCP_REPAIR): sock_export() describes it,
 * sock_forget() then removes it without a FIN or a RST. Both take orphans
 * too (sds from sock_next() that the app closed). Sequence numbers are
 * absolute. The iovecs point into the socket's rings: valid until the
 * next call on the stack. Synchronized states only: -EINVAL for a
 * listener or a connection still in its handshake, -EBADF for a bad sd.
 */
struct sock_export {
	int state; /* Linux TCP_* numbering, as sock_info */
	int orphan;
	struct sockaddr_in local, peer;	   /* IPv4 ones; 0 for IPv6 */
	struct sockaddr_in6 local6, peer6; /* both families, IPv4 v4-mapped */
	int inet6;			   /* an AF_INET6 socket */
	uint32_t snd_una;		   /* oldest unacknowledged sequence */
	uint32_t snd_nxt;	 /* sequence after the last data byte sent (not counting a FIN) */
	uint32_t snd_wl1;	 /* peer's sequence of the last window update */
	struct iovec unacked[2]; /* data [snd_una, snd_nxt): sent, not acknowledged */
	struct iovec unsent[2];	 /* data queued after snd_nxt, never sent */
	uint32_t n_unacked, n_unsent;
	uint32_t rcv_nxt;	/* next sequence expected (after the peer's FIN if taken) */
	uint32_t rcv_data_end;	/* rcv_nxt without the peer's FIN */
	struct iovec unread[2]; /* received in order, not read by the app */
	uint32_t n_unread;
	uint32_t snd_wnd;	/* peer's window in bytes (scaled) */
	uint32_t max_snd_wnd;	/* largest window the peer offered */
	uint32_t rcv_wnd;	/* window we advertised beyond rcv_nxt, bytes */
	uint16_t mss_peer;	/* the peer's MSS option (clamped to our MTU) */
	uint16_t mss_ours;	/* the MSS we announced */
	uint8_t ws, sack, ts;	/* negotiated: window scaling, SACK, timestamps */
	uint8_t snd_ws, rcv_ws; /* window shifts: the peer's, ours */
	uint8_t fin_rcvd;	/* the peer's FIN taken in order (counted in rcv_nxt) */
	uint8_t fin_queued;	/* our FIN follows the data (close/shutdown) */
	uint8_t fin_acked;	/* our FIN acknowledged (FIN-WAIT-2, CLOSING excluded) */
	uint32_t ts_off;	/* our TSval = now_ms + ts_off (CLOCK_MONOTONIC ms) */
	uint32_t tsval;		/* our TSval at the stack's last clock */
	uint32_t ts_recent;	/* the peer's TSval we echo */
	int nodelay, keepalive; /* TCP_NODELAY, SO_KEEPALIVE */
	int uc_ttl, uc_hops6;	/* IP_TTL, IPV6_UNICAST_HOPS; -1 = not set */
	uint32_t keepidle_s, keepintvl_s, keepcnt;
};
int sock_export(struct stack *stk, int sd, struct sock_export *out);
/*
 * The connection leaves this stack quietly: no FIN, no RST, buffers freed.
 * For STACK_FORGET_GRACE_US its 4-tuple stays known, and segments of it
 * still on their way here are dropped silently (drop reason "forgotten")
 * rather than answered with a RST that would kill the connection's new
 * owner; a listener on the port does not see them either.
 */
#define STACK_FORGET_GRACE_US 2000000u
int sock_forget(struct stack *stk, int sd);

/* Opaque per-socket pointer for the caller. */
void sock_set_user(struct stack *stk, int sd, void *user);
void *sock_get_user(struct stack *stk, int sd);

#endif
