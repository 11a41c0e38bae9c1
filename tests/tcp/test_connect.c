/*
 * test_connect.c - packet scripts for active open (SYN-SENT, RFC 9293
 * 3.10.7.3): the SYN's options, completion, refusal by RST, SYN
 * retransmission with backoff, an unacceptable SYN|ACK, simultaneous open.
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>

#define PEER_PORT 5000

static void active_open_options(struct t *t)
{
	const struct t_wire *w;
	int sd = t_connect(t, PEER_PORT);

	w = t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
			 .ts_ecr = 0));
	t_check(t, w->ws >= 0 && w->ws <= 14);
	t_check(t, w->sport >= 61000); /* the default local port range 61000-65535 */
	t_check(t, !(sock_events(t->stk, sd) & EPOLLOUT));
	t_events(t, sd);
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = 7, .sackok = 1,
		    .ts = 1));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_check(t, t_events(t, sd) > 0);
	t_check(t, sock_events(t->stk, sd) & EPOLLOUT);
	t_eq(t, sock_error(t->stk, sd), 0);
	t_eq(t, t_stats(t).active_opens, 1);
	/* Data flows with timestamps and the peer's scaled window. */
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .len = 10));
	t_eq(t, t_read(t, 100), 10);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 101, .ack = 11));
}

/* RFC 9293 3.10.7.3: RST|ACK acknowledging our SYN: "connection reset" (ECONNREFUSED). */
static void connect_refused(struct t *t)
{
	int sd = t_connect(t, PEER_PORT), err;
	uint32_t ev;

	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t_events(t, sd);
	t_in(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1, .ts = 0));
	t_nothing(t, 0);
	t_check(t, t_events(t, sd) > 0);
	ev = sock_events(t->stk, sd);
	t_check(t, ev & EPOLLERR);
	t_check(t, ev & EPOLLHUP);
	err = sock_error(t->stk, sd);
	t_check(t, err == ECONNREFUSED || err == -ECONNREFUSED);
	t_nothing(t, 5000000); /* no more SYNs */
}

/* A RST without an acceptable ACK is ignored in SYN-SENT (RFC 9293, RFC 5961 3.2). */
static void rst_without_ack_ignored(struct t *t)
{
	int sd = t_connect(t, PEER_PORT);

	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t_in(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 77, .ts = 0));
	t_in(t, SEG(.flags = T_RST, .seq = 0, .ts = 0));
	t_eq(t, sock_error(t->stk, sd), 0);
	T_STATE(t, TCP_SYN_SENT);
	t_drain_acks(t);
}

/* RFC 6298 2.1/5.5: the SYN is retransmitted after 1 s, then backed off. */
static void syn_retransmit_backoff(struct t *t)
{
	uint64_t t0, g1;

	t_connect(t, PEER_PORT);
	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t0 = t->now;
	t_out_by(t, 3100000,
		 SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = T_ANY,
		     .ts = T_ANY, .ts_ecr = T_ANY));
	g1 = t->now - t0;
	t_check(t, g1 >= 900000);
	t0 = t->now;
	t_out_by(t, 6100000,
		 SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = T_ANY,
		     .ts = T_ANY, .ts_ecr = T_ANY));
	t_check(t, t->now - t0 >= 2 * g1 - 2000);
	/* The SYN|ACK still completes the handshake. */
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
}

/* A SYN|ACK that acknowledges something else: <SEQ=SEG.ACK><CTL=RST>, stay in SYN-SENT. */
static void synack_bad_ack_rst(struct t *t)
{
	t_connect(t, PEER_PORT);
	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1000, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_RST, .seq = 1000, .ts = T_ANY));
	T_STATE(t, TCP_SYN_SENT);
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
}

/* RFC 9293 3.5 figure 8: both SYNs cross; each side answers SYN|ACK. */
static void simultaneous_open(struct t *t)
{
	t_connect(t, PEER_PORT);
	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = T_ANY,
		     .sackok = T_ANY, .ts = T_ANY));
	T_STATE(t, TCP_SYN_RECV);
	/*
	 * The peer's SYN|ACK (seq = its ISN, below RCV.NXT) is not acceptable in
	 * SYN-RECEIVED: RFC 9293 3.10.7.4 answers <SEQ=SND.NXT><ACK=RCV.NXT><ACK>
	 * (Linux: a challenge ACK). That ACK is what completes the peer's side.
	 */
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	/* ... and the peer's own ACK completes ours. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
}

/* Active close: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT; the sd is freed at close. */
static void active_close_time_wait(struct t *t)
{
	int sd = t_connect(t, PEER_PORT);

	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = T_ANY, .sackok = 1, .ts = 1,
		     .ts_ecr = 0));
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, sock_shutdown(t->stk, sd, SHUT_WR), 0);
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_FIN_WAIT1);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2));
	T_STATE(t, TCP_FIN_WAIT2);
	/* Half-closed: we still receive. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2, .len = 50));
	if (t_pending(t)) /* quick ACK of the data */
		t_out(t, SEG(.flags = T_ACK, .seq = 2, .ack = 51));
	t_eq(t, t_read(t, 100), 50);
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 51, .ack = 2));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 2, .ack = 52));
	T_STATE(t, TCP_TIME_WAIT);
	t_eq(t, t_read(t, 100), 0);
	/* A retransmitted FIN in TIME-WAIT is ACKed again (RFC 9293 3.10.7.4). */
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 51, .ack = 2));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 2, .ack = 52));
	t_eq(t, sock_close(t->stk, sd), 0);
	t->f->sd = -1;
	t_nothing(t, 0);
}

int main(void)
{
	T_RUN(active_open_options);
	T_RUN(connect_refused);
	T_RUN(rst_without_ack_ignored);
	T_RUN(syn_retransmit_backoff);
	T_RUN(synack_bad_ack_rst);
	T_RUN(simultaneous_open);
	T_RUN(active_close_time_wait);
	return check_summary();
}
