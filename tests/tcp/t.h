/*
 * t.h - packet-script harness: one xtcp stack, a fake netdev, a virtual
 * clock, and a fake peer written in packetdrill vocabulary.
 *
 *	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460));
 *	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
 *	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
 *	t_accept(t);  T_STATE(t, TCP_ESTABLISHED);
 *
 * Sequence numbers in SEG() are relative, as in packetdrill: the peer's to
 * the peer's ISN, the stack's to the stack's ISN (learned from its SYN or
 * SYN|ACK; 0 before that, so RSTs to unknown flows read as absolute).
 * SACK edges are relative to the ISN of the side whose data they describe.
 * Fields left out take defaults:
 *   seq, ack: T_AUTO - t_in: the peer's next sequence / the stack's next;
 *             t_out: expect exactly those. ack is checked only with T_ACK.
 *   win:      T_AUTO - t_in sends t->peer_win; t_out does not check.
 *   mss 0 = no option; ws -1 = no option; sackok 0; nsack 0 - t_out checks
 *             these strictly (T_ANY skips a field).
 *   ts:       T_AUTO - present iff both SYNs carried timestamps. t_in then
 *             sends val = clock-based, ecr = the stack's last TSval; t_out
 *             checks val does not go backwards and ecr is a TSval the peer
 *             sent. Give .ts = 0/1 and .ts_val/.ts_ecr to be exact.
 *   flags:    PSH is ignored by t_out unless the expected flags include it.
 *   ecn:      the IP ECN field: t_in sends it (0 Not-ECT, T_ECT0, T_CE); t_out
 *             checks it strictly, so ECT where none was expected fails.
 *   data:     NULL = the harness pattern t_pat(offset), so what the app
 *             reads and what the stack sends are checked byte for byte.
 *
 * t_out() consumes the next captured segment and fails unless it matches;
 * anything left over fails the next t_nothing() and the end of the test.
 * Every captured frame is also checked: IPv4 and TCP checksums, addresses.
 * A failed assertion prints "FAIL file:line: why" and ends that test only.
 */
#ifndef XTCP_T_H
#define XTCP_T_H

#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdint.h>

#include "check.h"
#include "stack.h"
#include "netdev.h"
#include "t_seg.h"

#define T_ANY  (-1000001)
#define T_AUTO (-1000002)

#define T_LISTEN_PORT 80
#define T_MAX_FLOWS   16
#define T_CAP_MAX     256

struct seg {
	uint8_t flags;
	int64_t seq, ack;
	int win;
	int len;
	const void *data;
	int mss, ws, sackok, ts;
	int64_t ts_val, ts_ecr;
	int nsack;
	uint32_t sack[T_MAX_SACK][2];
	int ecn; /* IP ECN codepoint (0 = Not-ECT), T_ANY in t_out skips it */
	int urp; /* urgent pointer: t_in sends it; t_out checks it when URG is expected */
	/* sabotage, passed to t_seg_build() */
	const uint8_t *raw_opt;
	uint8_t raw_optlen;
	int bad_tcp_csum, bad_ip_csum, doff_delta, ip_len_delta, ihl_delta, trunc;
	int partial_tcp_csum; /* as a local kernel sends it: see t_wire */
};

/* Later designators override the defaults (the targets build with
 * -Wno-override-init / -Wno-initializer-overrides for this). */
#define SEG(...)                                                                                   \
	((struct seg){.seq = T_AUTO,                                                               \
		      .ack = T_AUTO,                                                               \
		      .win = T_AUTO,                                                               \
		      .ws = -1,                                                                    \
		      .ts = T_AUTO,                                                                \
		      .ts_val = T_AUTO,                                                            \
		      .ts_ecr = T_AUTO,                                                            \
		      __VA_ARGS__})

/* One connection as the fake peer sees it. */
struct t_flow {
	uint16_t pport;	    /* the peer's port */
	uint16_t sport;	    /* the stack's port */
	uint32_t peer_isn;  /* absolute */
	uint32_t stack_isn; /* absolute, once seen */
	int have_stack_isn;
	uint32_t peer_nxt;		      /* relative: next byte the peer sends */
	uint32_t stack_nxt;		      /* relative: highest seq+len the stack sent */
	int ts_on, sack_on;		      /* both SYNs carried TS / SACK-permitted */
	int peer_ws, stack_ws;		      /* -1 when not offered */
	uint32_t ts_base;		      /* the peer's TSval at time 0 */
	uint32_t peer_ts_first, peer_ts_last; /* TSvals the peer sent (T_AUTO ones) */
	int peer_ts_seen;
	uint32_t stack_ts_last;
	int stack_ts_seen;
	int peer_syn_ts, peer_syn_sack;	  /* the peer's SYN offered TS / SACK */
	int stack_syn_ts, stack_syn_sack; /* the stack's SYN (or SYN|ACK) offered them */
	uint32_t app_wr, app_rd;	  /* pattern offsets the app wrote / read */
	int sd;				  /* accepted/connected socket, or -1 */
	uint32_t flow6;			  /* IPv6 flow label the stack uses (0: none seen) */
};

struct t_frame {
	uint8_t buf[T_FRAME_MAX];
	uint32_t len;
};

struct t {
	const char *name;
	struct stack *stk;
	struct stack_config cfg;
	struct netdev dev;
	uint64_t now; /* virtual clock, us */
	int listen_sd;
	struct t_flow flows[T_MAX_FLOWS];
	int nflows;
	struct t_flow *f; /* current flow */
	uint16_t peer_win;
	int v6; /* the peer speaks IPv6 to a dual-stack AF_INET6 listener (t_family) */
	/* rx: frames the stack may take in the next rx_burst */
	struct t_frame *rxq[NETDEV_BURST_MAX * 4];
	unsigned rx_head, rx_tail;
	unsigned rx_outstanding; /* handed to the stack, not yet rx_done */
	/* tx capture */
	unsigned cap_head, cap_tail;
	unsigned tx_alloced, tx_frames, arp_replies;
	struct t_wire last; /* the segment the last t_out() matched */
	char dev_err[160];  /* contract breach seen inside a netdev callback */
	int failed;
	jmp_buf jb;
	unsigned events[64];	      /* on_event() calls per sd (sd < 64), see t_events() */
	uint32_t link_path_mtu;	      /* netdev path_mtu(6)() answer; 0 = none (-ENOENT) */
	unsigned link_path_mtu_asked; /* answers given */
	uint8_t link_hop_limit;	      /* netdev hop_limit() answer (a route's metric); 0 = none */
	uint8_t want_hops;	      /* TTL / hop limit t_out() expects; 0 = 64 */
	int hold_acks; /* polls are stack_poll_hold_acks(), as before the app gets its events */
	/* corpus recording for the fuzzer (XTCP_T_CORPUS=dir) */
	void *corpus;
	uint64_t corpus_time;
	/* Last: t_init() clears everything before it, not these 512 KiB. */
	struct t_frame cap[T_CAP_MAX];
};

/* --- running --- */
typedef void (*t_fn)(struct t *t);
/* Run fn on a fresh stack (cfg may be NULL); counts one check (check.h) per
 * test, so main() ends with return check_summary(). */
void t_run(const char *name, t_fn fn, const struct stack_config *cfg);
/*
 * The fake link's checksum facts for the tests t_run() starts from now on
 * (struct netdev_info): rx_trust_local, and tx_offload, with which the link
 * finishes each sent TCP checksum as a device would, failing the test
 * unless the stack left exactly the pseudo-header sum in the field.
 */
void t_link_csum(int rx_trust_local, int tx_offload);
/*
 * The family of the tests t_run() starts from now on: AF_INET (default), or
 * AF_INET6: the peer (fd77:1::2) talks IPv6 to the stack (fd77:1::1), whose
 * listener is AF_INET6 on [::]:80, dual-stack; t_connect() uses AF_INET6.
 * t_out() then also checks one nonzero flow label per flow. In both families
 * t_out() checks the TTL / hop limit (t->want_hops, 64 unless set).
 */
void t_family(int af);
#define T_RUN(fn) t_run(#fn, fn, NULL)

/* --- set-up without running a test (the fuzzer, the harness self-test) --- */
int t_init(struct t *t, const char *name, const struct stack_config *cfg);
void t_fini(struct t *t);

/* --- script steps; each fails the test on mismatch --- */
#define t_in(t, s)	   t_in_(t, s, __FILE__, __LINE__)
#define t_out(t, s)	   t_out_(t, s, 0, __FILE__, __LINE__)
#define t_out_by(t, us, s) t_out_(t, s, us, __FILE__, __LINE__)
#define t_nothing(t, us)   t_nothing_(t, us, __FILE__, __LINE__)
#define t_check(t, cond)   t_check_(t, !!(cond), #cond, __FILE__, __LINE__)
#define t_eq(t, a, b)	   t_eq_(t, (long long)(a), (long long)(b), #a " == " #b, __FILE__, __LINE__)
#define T_STATE(t, st)	   t_state_(t, st, __FILE__, __LINE__)

void t_in_(struct t *t, struct seg s, const char *file, int line);
/* Poll, advancing the clock by at most within_us; match the next segment. */
const struct t_wire *t_out_(struct t *t, struct seg s, uint64_t within_us, const char *file,
			    int line);
void t_nothing_(struct t *t, uint64_t us, const char *file, int line);
void t_check_(struct t *t, int ok, const char *what, const char *file, int line);
void t_eq_(struct t *t, long long a, long long b, const char *what, const char *file, int line);
void t_state_(struct t *t, int state, const char *file, int line);
void t_fail(struct t *t, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

/* Inject a raw frame (bytes as given) and poll. */
void t_in_raw(struct t *t, const uint8_t *frame, size_t len);
/* Build the frame SEG() would send on the current flow (for sabotage tests). */
size_t t_build(struct t *t, struct seg s, uint8_t *buf);
/* Advance the virtual clock by us, polling at every timer; output accumulates. */
void t_wait(struct t *t, uint64_t us);
/* Captured segments not yet consumed by t_out(). */
unsigned t_pending(const struct t *t);
/* Consume every segment sent so far; each must be a pure ACK (no data, no SYN/FIN/RST). */
#define t_drain_acks(t) t_drain_acks_(t, __FILE__, __LINE__)
void t_drain_acks_(struct t *t, const char *file, int line);
/* Pop the next captured segment into *w (no matching); 0, or -1 if none. */
int t_next(struct t *t, struct t_wire *w);

/* --- flows and the app side --- */
/* Make (or switch to) the flow from peer port pport; peer ISN derived from it. */
struct t_flow *t_flow(struct t *t, uint16_t pport);
/* Handshake to TCP_ESTABLISHED or TCP_CLOSE_WAIT on the current flow, options as
 * Linux offers them (MSS 1460, wscale 7, SACK-permitted, timestamps). */
#define t_start(t, state)	t_start_(t, state, 1, __FILE__, __LINE__)
#define t_start_plain(t, state) t_start_(t, state, 0, __FILE__, __LINE__)
void t_start_(struct t *t, int state, int with_opts, const char *file, int line);
/* Active open: a socket connecting to the peer's port pport (a new flow); -EINPROGRESS
 * is expected. The stack's port and ISN are learned from its SYN. Returns the sd. */
int t_connect(struct t *t, uint16_t pport);
/* Accept the pending connection into the current flow; fails if none. */
int t_accept(struct t *t);
/* Write n pattern bytes (continuing the stream) on the current flow's socket. */
void t_write(struct t *t, int n);
/* Read up to n bytes; checks them against the pattern; returns bytes read. */
int t_read(struct t *t, int n);
/* Pattern byte at stream offset off (either direction). */
static inline uint8_t t_pat(uint32_t off)
{
	return (uint8_t)(off * 7u + (off >> 8) * 13u + 3u);
}
struct stack_stats t_stats(const struct t *t);
/* getsockopt(TCP_INFO) of sd, decoded (t_tcpinfo.h); fails the test on error. */
struct t_tcpinfo;
void t_tcpinfo_get(struct t *t, int sd, struct t_tcpinfo *out);
/* on_event() calls for sd since the last t_events() for it (then reset). */
unsigned t_events(struct t *t, int sd);
/* Sum of drop_reason[] over reasons whose name contains sub (case-insensitive). */
uint64_t t_drops(const struct t *t, const char *sub);

/* --- fuzz corpus format (tests/fuzz): records [op][len hi][len lo][bytes] --- */
enum t_rec_op {
	T_REC_FRAME = 0, /* inject bytes as a frame */
	T_REC_FIXED = 1, /* inject after fixing checksums (reaches deeper) */
	T_REC_TIME = 2,	 /* advance the clock by len * 1000 us */
	T_REC_APP = 3,	 /* app action on the established socket, chosen by len */
};

#endif
