/*
 * stack_priv.h - internal types of the TCP/IP stack (not for the shim).
 *
 * struct stack holds everything of one instance: pools of TCBs and of
 * half-open mini-sockets (struct tcp_req), the 4-tuple hash, the listener
 * table, the 1 ms timer wheel, the TIME-WAIT FIFO, the pending-output and
 * readiness lists, the TX batch and the counters. There is no global state.
 *
 * Memory: all pools are allocated by stack_create() and freed by
 * stack_destroy(). Socket buffers come from a per-stack cache of
 * power-of-two blocks (tcp_buf.c) that only grows; freed blocks are kept
 * for the next connection, so the steady-state packet path never mallocs.
 */
#ifndef XTCP_STACK_PRIV_H
#define XTCP_STACK_PRIV_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "list.h"
#include "netdev.h"
#include "stack.h"
#include "tcp_seq.h"
#include "wire.h"

#ifdef XTCP_DEBUG
#include <assert.h>
#define XT_ASSERT(x) assert(x)
#else
#define XT_ASSERT(x) ((void)0)
#endif

#define XT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* TCP states, numbered as Linux's <netinet/tcp.h> TCP_* (sock_info.state). */
enum tcp_state {
	TCPS_ESTABLISHED = 1,
	TCPS_SYN_SENT,
	TCPS_SYN_RECEIVED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_TIME_WAIT,
	TCPS_CLOSED,
	TCPS_CLOSE_WAIT,
	TCPS_LAST_ACK,
	TCPS_LISTEN,
	TCPS_CLOSING,
};

/* Drop reasons: stats.drop_reason[] index; names in stack.c. */
enum stack_drop_reason {
	DROP_ETH_SHORT,
	DROP_ETH_DST,
	DROP_ETH_TYPE,
	DROP_IP_SHORT,
	DROP_IP_VERSION,
	DROP_IP_HDR_LEN,
	DROP_IP_LEN,
	DROP_IP_CSUM,
	DROP_IP_FRAG,
	DROP_IP_DST,
	DROP_IP_SRC,
	DROP_IP_PROTO,
	DROP_TCP_SHORT,
	DROP_TCP_HDR_LEN,
	DROP_TCP_CSUM,
	/* ICMP malformed, not an error we take, or quoting no flow in flight (icmp.c); the slot
	 * of the retired "tcp_opt" (options no longer drop), so that 32 slots still hold all */
	DROP_ICMP,
	DROP_TCP_FLAGS,
	DROP_TCP_NO_SOCKET,
	DROP_TCP_SEQ,
	DROP_TCP_ACK,
	DROP_TCP_PAWS,
	DROP_TCP_RST,
	DROP_TCP_SYN,
	DROP_TCP_STATE,
	DROP_TCP_LISTEN_OVERFLOW,
	DROP_TCP_COOKIE,
	DROP_TCP_OOO_FULL,
	DROP_TCP_NO_MEM,
	DROP_TCP_PORT,
	DROP_TCP_HANDED_OFF, /* not a drop: given to the owner (cfg.on_misdirected) */
	DROP_TCP_FORGOTTEN,  /* segment of a connection handed to another stack (sock_forget) */
	DROP_IP6_EXTHDR,     /* IPv6 extension headers: too many, malformed, or not walkable */
	DROP_MAX
};

/* Timing constants (Linux defaults where Linux has one). */
#define TCP_RTO_INIT_US	      1000000u	 /* RFC 6298 2.1 */
#define TCP_RTO_MIN_US	      200000u	 /* Linux TCP_RTO_MIN */
#define TCP_RTO_MAX_US	      120000000u /* Linux TCP_RTO_MAX */
#define TCP_SYN_RETRIES	      6		 /* tcp_syn_retries */
#define TCP_SYNACK_RETRIES    5		 /* tcp_synack_retries */
#define TCP_RETRIES2	      15	 /* tcp_retries2 */
#define TCP_ORPHAN_RETRIES    8		 /* tcp_orphan_retries (0 means 8) */
#define TCP_DELACK_US	      40000u	 /* TCP_DELACK_MIN */
#define TCP_QUICKACKS	      16	 /* segments ACKed at once at start */
#define TCP_ACK_HOLD_US	      1000u	 /* a quick ACK waits this long at most for an answer */
#define TCP_TIMEWAIT_US	      60000000u	 /* TCP_TIMEWAIT_LEN */
#define TCP_FIN_TIMEOUT_US    60000000u	 /* tcp_fin_timeout */
#define TCP_KEEPIDLE_S	      7200
#define TCP_KEEPINTVL_S	      75
#define TCP_KEEPCNT_DEF	      9
#define TCP_CORK_US	      200000u /* Linux flushes a cork after 200 ms */
#define TCP_MSS_NOOPT	      536     /* RFC 9293 3.7.1 when no MSS option */
#define TCP_IW_SEGS	      10      /* RFC 6928 */
#define TCP_OOO_HOLES	      16      /* out-of-order blocks kept per connection */
#define TCP_SACK_SB	      16      /* SACK scoreboard blocks (sender side) */
#define TCP_BUF_MIN	      4096u
#define TCP_BUF_MAX	      (16u << 20)
#define TCP_RMEM_MAX	      (6u << 20) /* tcp_rmem[2]: receive autotuning's ceiling */
#define TCP_PAWS_24DAYS_US    (24ull * 86400 * 1000000)
#define TCP_CHALLENGE_ACK_LIM 1000 /* per second, per stack: Linux tcp_challenge_ack_limit */

/* replies to invalid segments, per connection: Linux tcp_invalid_ratelimit */
#define TCP_INVALID_RATELIMIT_US 500000u

/* tcb->flags */
#define TF_TS	      0x00000001u /* timestamps negotiated */
#define TF_SACK	      0x00000002u /* SACK permitted both ways */
#define TF_WS	      0x00000004u /* window scaling negotiated */
#define TF_NODELAY    0x00000008u /* TCP_NODELAY */
#define TF_CORK	      0x00000010u /* TCP_CORK */
#define TF_MORE	      0x00000020u /* last write had MSG_MORE */
#define TF_KEEPALIVE  0x00000040u /* SO_KEEPALIVE */
#define TF_REUSEADDR  0x00000080u /* SO_REUSEADDR */
#define TF_LINGER0    0x00000100u /* SO_LINGER {1, 0}: close sends RST */
#define TF_FIN_Q      0x00000200u /* FIN queued after snd_end (shutdown/close) */
#define TF_FIN_RCVD   0x00000400u /* peer FIN seen (maybe out of order), at fin_seq */
#define TF_ORPHAN     0x00000800u /* closed by the app; the sd is gone */
#define TF_RECOVERY   0x00001000u /* in fast recovery (RFC 6675 / 6582) */
#define TF_PERSIST    0x00002000u /* t_rtx is the zero-window probe timer */
#define TF_RESOLVE    0x00004000u /* SYN waits for the next-hop MAC */
#define TF_DONE	      0x00008000u /* connection over (reset, closed, timed out): reads return EOF */
#define TF_BOUND      0x00010000u /* holds a reference on port_refs[lport] */
#define TF_RTT	      0x00020000u /* timing one segment (no timestamps) */
#define TF_CONNECTED  0x00040000u /* reached ESTABLISHED once */
#define TF_FIN_SENT   0x00080000u /* our FIN occupies snd_end in sequence space */
#define TF_ACCEPTQ    0x00100000u /* child on its listener's accept queue */
#define TF_KEEP_PROBE 0x00200000u /* keepalive probes outstanding */
#define TF_LOSS	      0x00400000u /* RTO recovery: go-back-N from snd_una */
#define TF_SOCK_DONE                                                                               \
	0x00800000u /* peer's FIN taken in order: EOF after the data (Linux RCV_SHUTDOWN) */
#define TF_ECN	     0x01000000u /* ECN negotiated (RFC 3168 6.1.1) */
#define TF_ECN_ECHO  0x02000000u /* CE received: ECE on every segment until a CWR */
#define TF_ECN_CWR   0x04000000u /* cwnd reduced: CWR on the next new data segment */
#define TF_CWR	     0x08000000u /* reduced for an ECE: no other until cwr_high is ACKed */
#define TF_OOBINLINE 0x10000000u /* SO_OOBINLINE: the urgent byte stays in the stream */
#define TF_SND_URG   0x20000000u /* urgent mode: snd_up not yet ACKed (send(MSG_OOB)) */

/* tcb->urg_data (Linux TCP_URG_*): the peer's urgent byte */
#define URG_VALID    0x0100	 /* arrived: the low 8 bits hold it */
#define URG_NOTYET   0x0200	 /* announced, not arrived yet */
#define URG_READ     0x0400	 /* read by recv(MSG_OOB) */
#define TF_FORGOTTEN 0x40000000u /* handed to another stack (sock_forget): drop its segments */
#define TF_TLP	     0x80000000u /* t_rtx is the tail loss probe timeout (tcp_rack.c) */

/* tcb->pend: work marked by input / app calls, done by output */
#define PEND_ACK      0x01 /* send an ACK now */
#define PEND_SYN      0x02 /* send SYN or SYN-ACK */
#define PEND_DATA     0x04 /* try to send data / FIN */
#define PEND_RST      0x08 /* abort: send RST and release */
#define PEND_PROBE    0x10 /* send a keepalive or zero-window probe */
#define PEND_PUSH     0x20 /* send partial segments despite Nagle/cork (cork timer) */
#define PEND_TLP      0x40 /* send a tail loss probe (tcp_rack.c) */
/* an ACK for data the app may answer at once: hold-ACKs flushes keep it (TCP_ACK_HOLD_US) */
#define PEND_ACK_SOON 0x80

/* tcb->shut (Linux sk_shutdown bits) */
#define SHUT_RCV 1
#define SHUT_SND 2

/* One timer per TCB or tcp_req: a node in the wheel, a deadline in ms. */
struct wheel_ent {
	struct list_node node;
	uint64_t when_ms; /* slot the node sits in; 0 = not on the wheel */
	uint8_t is_req;	  /* owner is a struct tcp_req, else a struct tcb */
};

/* Common head of TCBs and tcp_reqs in the 4-tuple hash. */
struct tcp_hent {
	struct tcp_hent *hnext, **hpprev;
	struct in6_addr laddr, raddr; /* IPv4 v4-mapped (addr.h) */
	uint16_t lport, rport;	      /* host order */
	uint8_t is_req;
};

struct cubic {
	uint32_t w_max;	    /* cwnd (bytes) before the last reduction */
	uint32_t k_ms;	    /* time to reach w_max again */
	uint64_t epoch_us;  /* start of the current congestion avoidance epoch; 0 none */
	uint32_t origin;    /* cwnd at the epoch start */
	uint32_t w_est;	    /* Reno-friendly estimate (bytes) */
	uint32_t cnt_bytes; /* bytes ACKed toward the next increment */
};

struct seq_range {
	uint32_t start, end;
};

/* One segment sent (tcp_rack.c); times are the low 32 bits of now_us. */
struct rack_seg {
	uint32_t start, end; /* sequence space, FIN included */
	uint32_t xmit;	     /* last (re)transmission */
	uint32_t flags;	     /* RS_*, and its place in the order of transmissions */
};
#define RS_RXT	  1u /* retransmitted at least once */
#define RS_LOST	  2u /* deemed lost and not retransmitted since */
#define RS_SACKED 4u /* covered by the SACK scoreboard */
#define RS_ORDER  8u /* flags / RS_ORDER: the connection's transmission count then */

struct tcb {
	struct tcp_hent h;	  /* 4-tuple hash entry; first member */
	uint8_t state;		  /* enum tcp_state, written by tcp_set_state() only */
	uint8_t shut;		  /* SHUT_RCV | SHUT_SND */
	uint8_t pend;		  /* PEND_* work for output */
	uint8_t in_use;		  /* slot allocated */
	uint32_t flags;		  /* TF_* */
	int sd;			  /* index in stk->tcbs, the socket number */
	int err;		  /* pending error for SO_ERROR (positive errno) */
	void *user;		  /* caller's pointer (sock_set_user) */
	struct list_node tx_node; /* on stk->tx_pending while pend != 0 */
	struct list_node ev_node; /* on stk->ev_pending while an event is due */
	struct list_node q_node;  /* free list, accept queue or TIME-WAIT FIFO */
	struct wheel_ent tm;	  /* the one timer node */
	struct tcb *parent;	  /* listener of a child not yet accepted */
	uint8_t dmac[6];	  /* next-hop MAC of the peer */
	uint64_t ph_sum;	  /* pseudo-header partial checksum (addresses, proto) */

	/* send side (RFC 9293 3.3.1) */
	uint32_t iss;		   /* initial send sequence number */
	uint32_t snd_una;	   /* oldest unacknowledged */
	uint32_t snd_nxt;	   /* next to send (rewound to snd_una by an RTO) */
	uint32_t snd_max;	   /* highest sequence sent + 1 */
	uint32_t snd_end;	   /* sequence after the last byte the app queued */
	uint32_t snd_wl1, snd_wl2; /* segment seq/ack of the last window update */
	uint32_t snd_wnd;	   /* peer's window (scaled, bytes) */
	uint32_t max_snd_wnd;	   /* largest window the peer offered */
	uint16_t mss;		   /* peer's MSS, clamped to our MTU */
	uint16_t smss;		   /* payload per full segment (mss minus options) */
	uint8_t snd_ws;		   /* peer's window shift */
	uint8_t rcv_ws;		   /* our window shift */
	uint8_t retries;	   /* consecutive RTO expiries / probes unanswered */
	uint8_t dupacks;	   /* consecutive duplicate ACKs */
	uint8_t *sbuf;		   /* send ring: byte of seq s at (s - iss - 1) & smask */
	uint32_t smask;		   /* ring size - 1 */
	uint32_t sndbuf;	   /* SO_SNDBUF as reported (Linux doubles the request) */

	/* receive side */
	uint32_t irs;	   /* initial receive sequence number */
	uint32_t rcv_nxt;  /* next expected */
	uint32_t rcv_adv;  /* right edge of the window we advertised */
	uint32_t rcv_user; /* next byte the app reads */
	uint32_t fin_seq;  /* sequence of the peer's FIN (TF_FIN_RCVD) */
	uint8_t *rbuf;	   /* receive ring: byte of seq s at (s - irs - 1) & rmask */
	uint32_t rmask;	   /* ring size - 1 */
	uint32_t rcvbuf;   /* SO_RCVBUF as reported */
	struct seq_range ooo[TCP_OOO_HOLES]; /* out-of-order data above rcv_nxt, sorted */
	uint8_t n_ooo;			     /* blocks in ooo[] */
	uint8_t ooo_last;		     /* ooo[] index touched last: first SACK block */
	uint8_t dsack_on;		     /* dsack is to be sent (once) */
	struct seq_range dsack;		     /* duplicate data received: RFC 2883 D-SACK */
	uint8_t quickack;		     /* segments still to ACK immediately */
	uint16_t rcv_mss;		     /* largest segment seen from the peer (delayed ACK) */
	uint32_t rcv_unacked;		     /* bytes received since our last ACK */
	uint32_t ack_hold_end;		     /* low 32 bits of now_us: PEND_ACK_SOON held until */
	uint32_t snd_sml;    /* end of the last small segment sent (Minshall Nagle) */
	uint8_t keep_probes; /* keepalive probes unanswered */
	uint16_t urg_data;   /* URG_* state of the peer's urgent byte; 0 none */
	uint32_t rcv_up;     /* sequence of the peer's urgent byte (urg_data != 0) */
	uint32_t snd_up;     /* sequence after our urgent byte (TF_SND_URG) */

	/* timestamps (RFC 7323) */
	uint32_t ts_recent;	/* peer's TSval to echo */
	uint64_t ts_recent_us;	/* when ts_recent was set (PAWS 24-day rule) */
	uint32_t ts_off;	/* our TSval = now_ms + ts_off (per-connection offset) */
	uint32_t last_ack_sent; /* RCV.NXT in our last ACK (RFC 7323 4.3) */
	uint64_t oow_ack_us;	/* last reply to an invalid segment (Linux last_oow_ack_time) */

	/* RTT and RTO (RFC 6298) */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;      /* timed segment end (TF_RTT) */
	uint64_t rtt_start_us; /* when it was sent */
	uint32_t rtx_high;     /* end of the highest retransmission not yet ACKed (rtx_out) */
	uint32_t rtx_tsval;    /* TSval of the latest retransmission (tcp_rack.c) */
	uint8_t rtx_out;       /* retransmitted data below rtx_high is unacknowledged */

	/* congestion control */
	uint32_t cwnd, ssthresh; /* bytes */
	uint32_t recover;	 /* RFC 6582 recover */
	uint32_t bytes_acked;	 /* RFC 3465 byte counting in congestion avoidance */
	struct cubic cubic;
	struct seq_range sacked[TCP_SACK_SB]; /* scoreboard: SACKed above snd_una, sorted */
	uint8_t n_sacked;
	uint32_t sacked_bytes; /* sum of the scoreboard */
	uint32_t rtx_nxt;      /* next hole byte to retransmit in recovery */
	uint32_t cwr_high;     /* snd_max at the last ECE reduction (TF_CWR) */

	/* timers (absolute us; 0 = off); tm sits at the earliest */
	uint64_t t_rtx;	     /* retransmission, SYN, persist */
	uint64_t t_delack;   /* delayed ACK */
	uint64_t t_keep;     /* keepalive idle / probe interval */
	uint64_t t_misc;     /* FIN-WAIT-2 timeout, cork flush */
	uint64_t tw_until;   /* TIME-WAIT end (FIFO, not wheel) */
	uint64_t last_rx_us; /* last segment from the peer (keepalive idle) */
	uint64_t resolve_us; /* next-hop resolution retry interval */

	/* options set by the app */
	uint32_t keepidle_s, keepintvl_s, keepcnt;
	int linger_s; /* SO_LINGER l_linger (l_onoff kept in TF_LINGER0) */
	uint8_t linger_on;
	uint8_t rcvbuf_lock; /* SO_RCVBUF set: no receive autotuning (Linux SOCK_RCVBUF_LOCK) */
	uint16_t user_mss;   /* TCP_MAXSEG before the handshake (Linux rx_opt.user_mss); 0 none */
	uint32_t notsent_lowat; /* TCP_NOTSENT_LOWAT; 0 = off (Linux default UINT_MAX) */
	uint32_t tfo_qlen;	/* listener: TCP_FASTOPEN, Fast Open children in SYN-RECEIVED */
	uint8_t tfo_child;	/* made by a SYN with a valid cookie and data (RFC 7413) */

	/* listener */
	struct list_node acceptq; /* children ready for accept() */
	struct list_node reqs;	  /* tcp_req mini-sockets */
	uint32_t acc_len, backlog, syn_len;
	uint64_t cookie_us; /* last SYN cookie sent (cookies checked for 2 min) */

	uint64_t retrans; /* segments retransmitted */

	/* address family (the socket's, not the wire's: see addr.h) */
	uint8_t inet6;	    /* an AF_INET6 socket (sock_socket6) */
	uint8_t v6only;	    /* IPV6_V6ONLY */
	uint8_t fams;	    /* AFM_*: families the binding covers (listener, port refs) */
	uint8_t tclass;	    /* IPV6_TCLASS: DSCP of IPv6 output (ECN bits are TCP's) */
	int16_t uc_ttl;	    /* IP_TTL: TTL of IPv4 output; -1 = the default (Linux uc_ttl) */
	int16_t uc_hops6;   /* IPV6_UNICAST_HOPS: hop limit of IPv6 output; -1 = the route's */
	uint8_t hop_route;  /* the route's hop limit towards raddr (ip_hop_limit()); 0 = not yet */
	uint32_t flowlabel; /* IPv6 flow label (RFC 6437), 0 for IPv4 */
	/* path MTU (pmtu.c) and ICMP errors (icmp.c) */
	uint16_t mss_clamp; /* the peer's MSS option (536 without one): mss never exceeds it */
	uint16_t pmtu;	    /* path MTU mss was cut for (Linux icsk_pmtu_cookie) */
	uint32_t pmtu_gen;  /* stk->pmtu_gen when mss was cut: a change re-cuts it */
	int soft_err;	    /* last ICMP error (positive errno), reported only on a timeout */
	/* RFC 4821 probing (STACK_F_MTU_PROBING; Linux icsk_mtup), MTUs in bytes */
	uint8_t probe_on;      /* a black hole was suspected: mss follows probe_low */
	uint16_t probe_low;    /* largest MTU known to pass (search_low) */
	uint16_t probe_high;   /* smallest MTU known to fail, minus one (search_high) */
	uint16_t probe_size;   /* MTU of the probe in flight; 0 = none */
	uint32_t probe_end;    /* sequence after the probe's payload */
	uint64_t probe_cut_us; /* when the search last ended (re-probe 10 min later) */
	/* proportional rate reduction in recovery (RFC 6937), bytes */
	struct {
		uint32_t recover_fs; /* flight when recovery began */
		uint32_t delivered;  /* delivered to the peer since (prr_delivered) */
		uint32_t out;	     /* sent since (prr_out) */
	} prr;

	/* tail loss probe out (RFC 8985 7): high = snd_max after it, rxt = it resent data */
	struct {
		uint32_t high;
		uint8_t out, rxt;
	} tlp;

	/*
	 * RACK (RFC 8985 6, tcp_rack.c): one record per segment sent, in
	 * sequence order over [snd_una, snd_max), and what the latest
	 * delivered one says. seg is NULL without SACK or with RACK off.
	 */
	struct {
		struct rack_seg *seg; /* ring of cap records, [head, head + n) */
		uint32_t cap, head, n;
		uint32_t order;	     /* RACK.xmit_ts: latest sent of those delivered,
				      * as a transmission count (RS_ORDER units) */
		uint32_t tx_order;   /* the count: one RS_ORDER per transmission */
		uint32_t rtt_us;     /* RACK.rtt: its RTT (valid with .seen) */
		uint32_t lost_bytes; /* in records marked lost, not yet retransmitted */
		uint32_t nsacked;    /* records marked SACKed (Linux sacked_out) */
		uint32_t dsack_seq;  /* snd_max when steps last grew; 0 never */
		uint8_t seen;	     /* order and rtt_us are set: a segment was delivered */
		uint8_t reord;	     /* reordering seen (RACK.reordering_seen) */
		uint8_t steps;	     /* RACK.reo_wnd_mult */
		uint8_t recoveries;  /* recoveries since steps last grew (reset at 16) */
	} rack;
	uint64_t t_reo; /* RACK reorder timer (absolute us; 0 = off) */

	/* Linux tcp_sock's counters and clocks behind TCP_INFO (tcp_info.c) */
	struct tcb_info {
		uint64_t bytes_acked, bytes_received; /* RFC 4898 HCThruOctets */
		uint64_t bytes_sent, bytes_retrans;   /* payload, retransmissions included */
		uint32_t segs_in, segs_out;	      /* every segment, pure ACKs too */
		uint32_t data_segs_in, data_segs_out;
		uint32_t delivered;		    /* segments' worth of data ACKed (rounded up) */
		uint32_t rcv_ooopack;		    /* data segments received out of order */
		uint32_t dsack_dups;		    /* D-SACK blocks received */
		uint32_t min_rtt_us;		    /* smallest RTT sample; 0 none yet */
		uint64_t lsnd_us, lrcv_us, lack_us; /* last data sent / data received / ACK taken */
		/* receiver RTT (Linux rcv_rtt_est): rtt8 is 8 x the estimate in us */
		uint32_t rcv_rtt8, rcv_rtt_seq, rcv_rtt_tsecr;
		uint64_t rcv_rtt_us0;
		/* rate of delivery: ACKed bytes over about one RTT */
		uint64_t rate_us0, rate_acked0, delivery_rate;
		/* receive-buffer autotuning (Linux rcvq_space): bytes read in the
		 * last receiver RTT, and where and when that measure began */
		uint32_t rcvq_space, rcvq_seq;
		uint64_t rcvq_us0;
	} ti;
};

/* tcb->fams */
#define AFM_V4 1u
#define AFM_V6 2u

/* A half-open passive connection (SYN received, SYN-ACK sent). */
struct tcp_req {
	struct tcp_hent h;
	struct wheel_ent tm;	/* SYN-ACK retransmission */
	struct list_node lnode; /* on the listener's reqs list, or the free list */
	struct tcb *listener;
	uint32_t iss, irs;
	uint32_t ts_recent, ts_off;
	uint32_t peer_wnd; /* window of the SYN (unscaled) */
	uint16_t mss;	   /* peer's MSS option (clamped) */
	uint8_t snd_ws, rcv_ws;
	uint8_t opts; /* TF_TS | TF_SACK | TF_WS (low bits) */
	uint8_t retries;
	uint8_t smac[6];  /* source MAC of the SYN: replies go there */
	uint64_t sent_us; /* first SYN-ACK sent (RTT sample without timestamps) */
	uint32_t our_wnd; /* window of our SYN-ACK (unscaled) */
	uint8_t cookie;	  /* SYN cookie reply: TSval carries the options */
	uint8_t ecn_ok;	  /* the SYN asked for ECN and we accept (SYN-ACK with ECE) */

	uint16_t user_mss; /* the listener's TCP_MAXSEG (our MSS option); 0 none */
	uint8_t tfo;	   /* the first SYN-ACK carries our Fast Open cookie */
};

/* A segment parsed once by tcp_input() and passed by pointer. */
struct tcp_seg_in {
	struct in6_addr saddr, daddr; /* IPv4 v4-mapped */
	uint16_t sport, dport;	      /* host order */
	uint32_t seq, ack;
	uint32_t wnd; /* raw window field */
	uint8_t flags;
	uint8_t has_mss, has_ws, has_ts, sack_ok;
	uint8_t ws, nsack;
	uint8_t ip_ecn; /* ECN field of the IP header (IP_ECN_*) */
	uint16_t mss;
	uint16_t urp; /* urgent pointer field (meaningful with TH_URG) */
	uint32_t len; /* payload bytes */
	uint32_t tsval, tsecr;
	uint8_t has_tfo, tfo_len; /* Fast Open option (RFC 7413), its cookie's length */
	struct seq_range sack[4];
	const uint8_t *data;
	const uint8_t *smac;
	uint32_t tw_isn;	/* ISN to use when a SYN reopens a TIME-WAIT tuple; 0 none */
	uint8_t tfo_cookie[16]; /* valid while has_tfo */
};

/*
 * One learned path MTU (RFC 1191), Linux's route exception (fnhe): kept per
 * destination address, lowered by "fragmentation needed", never raised by
 * one, and forgotten PMTU_EXPIRE_US after its last change (mtu_expires).
 */
struct pmtu_ent {
	struct in6_addr daddr; /* IPv4 v4-mapped (addr.h); valid while mtu != 0 */
	uint16_t mtu;	       /* bytes of IP datagram */
	uint64_t expires_us;   /* back to the link MTU then */
};
#define PMTU_SLOTS     64	    /* destinations remembered; the oldest is replaced */
#define PMTU_MIN       552	    /* Linux net.ipv4.route.min_pmtu */
#define PMTU_EXPIRE_US 600000000ull /* Linux net.ipv4.route.mtu_expires: 10 min */
#define PROBE_BASE_MSS 1024	    /* Linux tcp_base_mss: where a black hole starts the search */
#define PROBE_FLOOR    48	    /* Linux tcp_mtu_probe_floor (MSS) */
#define PROBE_THRESH   8	    /* Linux tcp_probe_threshold: search done within 8 bytes */
#define PROBE_AGAIN_US 600000000ull /* Linux tcp_probe_interval: search again after 10 min */
#define PROBE_RETRIES  3	    /* Linux tcp_retries1: RTOs before a black hole is suspected */

#define WHEEL_BITS	12
#define WHEEL_SLOTS	(1u << WHEEL_BITS)
#define BUFCACHE_ORDERS 25

struct stack {
	struct stack_config cfg;
	struct netdev *dev;
	uint64_t now_us;
	uint64_t now_ms;
	uint32_t ip4; /* dev->info.ip4 */
	uint16_t mtu;
	uint8_t rx_csum_trust;	 /* dev->info.rx_csum_trust_local */
	uint8_t tx_csum_offload; /* dev->info.tx_csum_offload */

	struct tcb *tcbs; /* max_socks slots; sd = index */
	unsigned ntcb;
	unsigned tcb_fresh; /* slots [tcb_fresh, ntcb) never used yet */
	struct list_node free_tcbs;
	struct tcp_req *reqs;
	unsigned nreq;
	unsigned req_fresh; /* reqs [req_fresh, nreq) never used yet */
	struct list_node free_reqs;
	struct tcp_hent **htab;
	uint32_t hmask;
	uint64_t hkey[2];    /* SipHash key of everything keyed */
	uint64_t tskey[2];   /* SipHash key of the timestamp offsets (cfg.ts_seed) */
	int32_t *listen_sd;  /* by local port: IPv4 listener sd + 1, 0 = none */
	uint16_t *port_refs; /* by local port: sockets holding it for IPv4 */
	int32_t *listen6_sd; /* the same for IPv6 (a dual-stack socket holds both) */
	uint16_t *port_refs6;

	struct list_node wheel[WHEEL_SLOTS];
	uint64_t wheel_ms;	     /* all slots before this ms were run */
	uint8_t wheel_running;	     /* inside wheel_run(): arms go at least to now + 1 ms */
	uint64_t next_dl_ms;	     /* no timer is due before this (a lower bound) */
	struct list_node timewait;   /* FIFO of TIME-WAIT TCBs by tw_until */
	struct list_node tx_pending; /* TCBs with pend != 0 */
	struct list_node ev_pending; /* TCBs whose readiness may have changed */
	int in_events;		     /* on_event callbacks running */

	struct pkt txq[NETDEV_BURST_MAX];
	unsigned ntx;
	uint8_t tx_dirty; /* frames queued since the last kick */
	uint16_t ip_id;
	uint32_t port_next; /* RFC 6056 Algorithm 3 counter */
	uint64_t cack_sec;  /* second of cack_left, plus one (0: none drawn yet) */
	uint32_t cack_left; /* challenge ACKs the stack may still send in cack_sec */
	uint64_t rng;	    /* xorshift state for non-secret choices */

	void *bufcache[BUFCACHE_ORDERS]; /* free blocks by log2 size, linked through themselves */

	struct pmtu_ent pmtu[PMTU_SLOTS]; /* learned path MTUs (pmtu.c), unordered */
	unsigned n_pmtu;		  /* slots in use */
	uint32_t pmtu_gen;		  /* bumped when a path MTU changes or expires */
	uint64_t pmtu_next_exp;		  /* earliest expires_us in pmtu[]; 0 = none */

	struct stack_stats st;
};

/* Bytes of IP and TCP header (no options) in front of a segment to a. */
static inline uint32_t ip_tcp_hlen(const struct in6_addr *a)
{
	return (addr_is_v4(a) ? IP4_HLEN : IP6_HLEN) + TCP_HLEN;
}

static inline struct tcb *tcb_of_sd(struct stack *stk, int sd)
{
	if (sd < 0 || (unsigned)sd >= stk->ntcb)
		return NULL;
	struct tcb *t = &stk->tcbs[sd];

	if (!t->in_use || (t->flags & TF_ORPHAN))
		return NULL;
	return t;
}

/* Options switched off by cfg.flags are treated as not offered by the peer. */
static inline void stk_mask_options(const struct stack *stk, struct tcp_seg_in *seg)
{
	if (stk->cfg.flags & STACK_F_NO_TS)
		seg->has_ts = 0;
	if (stk->cfg.flags & STACK_F_NO_SACK)
		seg->sack_ok = 0;
	if (stk->cfg.flags & STACK_F_NO_WS)
		seg->has_ws = 0;
}

/* csum.c */
uint64_t csum_partial(const void *buf, size_t len, uint64_t sum);
uint16_t csum_fold(uint64_t sum);
uint64_t siphash_words(const uint64_t key[2], const uint64_t *m, unsigned n);

/* wheel.c */
void wheel_init(struct stack *stk, uint64_t now_ms);
void wheel_arm(struct stack *stk, struct wheel_ent *e, uint64_t when_us);
void wheel_cancel(struct wheel_ent *e);
void wheel_run(struct stack *stk, uint64_t now_ms);
uint64_t wheel_next(struct stack *stk);

/* tcp_buf.c */
void *buf_get(struct stack *stk, uint32_t size);
void buf_put(struct stack *stk, void *b, uint32_t size);
void buf_cache_free(struct stack *stk);
uint32_t buf_ring_size(uint32_t bytes);
void ring_write(uint8_t *ring, uint32_t mask, uint32_t off, const void *src, uint32_t len);
void ring_read(const uint8_t *ring, uint32_t mask, uint32_t off, void *dst, uint32_t len);
void ring_copy(uint8_t *dst, uint32_t dmask, const uint8_t *src, uint32_t smask, uint32_t off,
	       uint32_t len);
int ooo_insert(struct tcb *t, uint32_t start, uint32_t end);
void ooo_advance(struct tcb *t);

/* tcp_opt.c */
int tcp_opt_parse(struct tcp_seg_in *seg, const uint8_t *opt, unsigned len);
unsigned tcp_opt_syn(uint8_t *p, uint16_t mss, int ts, uint32_t tsval, uint32_t tsecr, int sack,
		     int ws, uint8_t rcv_ws);
unsigned tcp_opt_len(const struct tcb *t, unsigned *nsack);
unsigned tcp_opt_write(uint8_t *p, const struct tcb *t, uint32_t tsval, unsigned nsack);

/* ip.c */
int eth_input(struct stack *stk, uint8_t *frame, uint32_t len);
int ip_is_local(const struct stack *stk, const struct in6_addr *a);
/* The MSS we announce to raddr: its path MTU (pmtu.c) less the headers, as Linux's advmss. */
uint16_t ip_mss_own(const struct stack *stk, const struct in6_addr *raddr);
int ip_resolve(struct stack *stk, const struct in6_addr *dst, uint8_t mac[6]);
uint8_t *ip_tx_alloc(struct stack *stk, struct pkt *pkt, uint32_t len);
void ip_tx_fill(struct stack *stk, uint8_t *frame, const uint8_t dmac[6], uint32_t saddr,
		uint32_t daddr, uint32_t l4len, uint8_t ecn, uint8_t ttl);
/*
 * The hop limit (IPv4: TTL) towards raddr of a socket that set none, as
 * Linux's ip4_dst_hoplimit() / ip6_dst_hoplimit(): the route's hoplimit
 * metric, else net.ipv4.ip_default_ttl / the interface's hop_limit.
 */
uint8_t ip_hop_limit(const struct stack *stk, const struct in6_addr *raddr);
/* What t sends with: its IP_TTL / IPV6_UNICAST_HOPS, else the route's (cached in t). */
uint8_t ip_tcb_hops(struct stack *stk, struct tcb *t);
void ip_tx_queue(struct stack *stk, struct pkt *pkt);

/* ip6.c */
int ip6_input(struct stack *stk, uint8_t *frame, uint32_t len);
void ip6_tx_fill(struct stack *stk, uint8_t *frame, const uint8_t dmac[6],
		 const struct in6_addr *saddr, const struct in6_addr *daddr, uint32_t l4len,
		 uint8_t tclass, uint32_t flowlabel, uint8_t hlim);
uint32_t ip6_flowlabel(const struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
		       const struct in6_addr *raddr, uint16_t rport);
int ip6_src_select(const struct stack *stk, const struct in6_addr *dst, struct in6_addr *src);
void ip_tx_kick(struct stack *stk);

/* tcp_tcb.c */
struct tcb *tcb_alloc(struct stack *stk);
void tcb_release(struct stack *stk, struct tcb *t);
void tcb_hash_add(struct stack *stk, struct tcp_hent *h);
void tcb_hash_del(struct tcp_hent *h);
struct tcp_hent *tcb_lookup(struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
			    const struct in6_addr *raddr, uint16_t rport);
void tcp_set_state(struct stack *stk, struct tcb *t, int state);
void tcb_mark(struct stack *stk, struct tcb *t, uint8_t pend);
void tcb_notify(struct stack *stk, struct tcb *t);
void tcb_events_flush(struct stack *stk);
void tcb_timer_update(struct stack *stk, struct tcb *t);
int tcb_init_buffers(struct stack *stk, struct tcb *t);
void tcb_init_conn(struct stack *stk, struct tcb *t);
void tcb_done(struct stack *stk, struct tcb *t, int err);
void tcb_port_ref(struct stack *stk, struct tcb *t, uint16_t port);
unsigned addr_words(uint64_t *m, const struct in6_addr *a, const struct in6_addr *b);
uint32_t tcp_isn(struct stack *stk, const struct in6_addr *laddr, uint16_t lport,
		 const struct in6_addr *raddr, uint16_t rport);
uint32_t tcp_ts_off(struct stack *stk, const struct in6_addr *laddr, const struct in6_addr *raddr);
uint8_t tcp_rcv_wscale(const struct stack *stk, uint32_t rcvbuf, int locked);
uint16_t tcp_mss_ours(const struct stack *stk, const struct in6_addr *raddr, uint16_t user_mss);
void tcb_set_mss(struct stack *stk, struct tcb *t, uint16_t peer_mss);
void tcb_time_wait_reap(struct stack *stk);
uint64_t stack_rand(struct stack *stk);

/* tcp_listen.c */
/* 1: an ACK that matches nothing here, left for the caller to answer; else 0. */
int tcp_listen_input(struct stack *stk, struct tcb *l, struct tcp_seg_in *seg);
void tcp_req_input(struct stack *stk, struct tcp_req *r, struct tcp_seg_in *seg);
void tcp_req_free(struct stack *stk, struct tcp_req *r);
void tcp_req_timer(struct stack *stk, struct tcp_req *r);
void tcp_listen_close(struct stack *stk, struct tcb *l);

/* tcp_input.c */
/* One TCP segment from eth_input()/ip6_input(): frame is the Ethernet header (source MAC,
 * hand-off), ecn the IP header's ECN field. */
void tcp_input(struct stack *stk, const uint8_t *frame, const struct in6_addr *saddr,
	       const struct in6_addr *daddr, uint8_t ecn, uint8_t *tcp, uint32_t len);
void tcp_input_synced(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg);
int tcp_timewait_input(struct stack *stk, struct tcb *t, struct tcp_seg_in *seg);

/* stack.c: a dropped frame (any layer) counted with its reason */
void stack_drop(struct stack *stk, unsigned reason);

/* tcp_output.c */
void tcp_output_flush(struct stack *stk, int hold_acks);
void tcp_output(struct stack *stk, struct tcb *t);
void tcp_send_rst_reply(struct stack *stk, const struct tcp_seg_in *seg);
void tcp_send_synack(struct stack *stk, struct tcp_req *r);
void tcp_send_ctl(struct stack *stk, struct tcb *t, uint8_t flags, uint32_t seq);
void tcp_send_challenge_ack(struct stack *stk, struct tcb *t);
void tcp_send_oow_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg);
uint32_t tcp_pipe(const struct tcb *t);
uint32_t tcp_rcv_window(struct tcb *t);
uint32_t tcp_tsval(const struct stack *stk, uint32_t ts_off);

/* tcp_urg.c */
void tcp_urg_input(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg, uint32_t seq0);
void tcp_urg_read_span(const struct tcb *t, uint32_t *from, uint32_t *avail);
void tcp_urg_read_done(struct tcb *t);
int tcp_urg_read_oob(struct tcb *t, uint8_t *byte, int peek);
uint32_t tcp_urg_hidden(const struct tcb *t);
uint8_t tcp_urg_output(const struct tcb *t, uint32_t seq, uint16_t *urp);

/* tcp_timer.c */
void tcp_timer_fire(struct stack *stk, struct tcb *t);
void tcp_rtt_sample(struct tcb *t, uint32_t rtt_us);
void tcp_rto_reset(struct tcb *t);

/* icmp.c */
void icmp_input(struct stack *stk, const struct ip4_hdr *ip, const uint8_t *p, uint32_t len);
/* An ICMPv6 datagram (p, len: the ICMPv6 header on) from src to our dst. */
void icmp6_input(struct stack *stk, const struct in6_addr *src, const struct in6_addr *dst,
		 const uint8_t *p, uint32_t len);

/* pmtu.c */
uint16_t pmtu_get(const struct stack *stk, const struct in6_addr *daddr);
uint16_t pmtu_update(struct stack *stk, const struct in6_addr *daddr, uint32_t mtu);
void pmtu_expire(struct stack *stk);
void pmtu_sync(struct stack *stk, struct tcb *t);
void pmtu_reduced(struct stack *stk, struct tcb *t);
void pmtu_rto_hint(struct stack *stk, struct tcb *t);
void pmtu_blackhole(struct stack *stk, struct tcb *t);
uint32_t pmtu_probe_len(struct stack *stk, struct tcb *t, uint32_t maxseg);
void pmtu_probe_sent(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, uint32_t maxseg);
void pmtu_probe_acked(struct stack *stk, struct tcb *t, uint32_t ack);
void pmtu_probe_lost(struct tcb *t);
/* tcp_info.c */
void tcp_info_established(struct stack *stk, struct tcb *t);
void tcp_info_rcv_rtt(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg);
uint32_t tcp_info_rcv_rtt_us(const struct tcb *t);
void tcp_info_acked(struct stack *stk, struct tcb *t, uint32_t acked);
uint32_t tcp_advmss(const struct stack *stk, const struct tcb *t);
int tcp_info_get(struct stack *stk, struct tcb *t, void *val, socklen_t *len);

/* tcp_listen.c: TCP Fast Open, server side (RFC 7413) */
#define TCP_TFO_COOKIE_LEN 8 /* as Linux's */
void tcp_tfo_cookie(const struct stack *stk, const struct in6_addr *saddr,
		    const struct in6_addr *daddr, uint8_t *out);

/* tcp_rack.c */
void tcp_tlp_arm(struct stack *stk, struct tcb *t);
void tcp_tlp_fire(struct stack *stk, struct tcb *t);
void tcp_tlp_sent(struct stack *stk, struct tcb *t, int rxt);
int tcp_tlp_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg);
void tcp_rack_sent(struct stack *stk, struct tcb *t, uint32_t seq, uint32_t len, int rxt);
int tcp_rtt_echo_ok(const struct stack *stk, const struct tcb *t, const struct tcp_seg_in *seg);
int tcp_rack_ack(struct stack *stk, struct tcb *t, const struct tcp_seg_in *seg, uint32_t una0,
		 uint32_t fack0, const struct seq_range *sb0, unsigned nsb0);
void tcp_rack_timeout(struct stack *stk, struct tcb *t);
void tcp_rack_rto(struct tcb *t);
void tcp_rack_free(struct stack *stk, struct tcb *t);
int tcp_rack_next_lost(const struct tcb *t, uint32_t maxseg, uint32_t *h, uint32_t *hend);
void tcp_rack_skip(struct tcb *t, uint32_t seq, uint32_t end);
void tcp_rack_recovered(struct tcb *t);
void tcp_rack_counts(const struct tcb *t, uint32_t *lost, uint32_t *rxt);
void tcp_enter_recovery(struct stack *stk, struct tcb *t, uint32_t delivered);

/* tcp_rcvbuf.c */
void tcp_rcv_space_adjust(struct stack *stk, struct tcb *t);

/* tcp_cc.c */
void tcp_cc_init(struct stack *stk, struct tcb *t);
void tcp_cc_ack(struct stack *stk, struct tcb *t, uint32_t acked);
uint32_t tcp_cc_ssthresh(struct stack *stk, struct tcb *t);
void tcp_cc_rto(struct stack *stk, struct tcb *t);
uint32_t tcp_cube_root(uint64_t a);
void tcp_prr_init(struct tcb *t);
void tcp_prr_ack(struct tcb *t, uint32_t delivered, int fast_rexmit);

#endif
