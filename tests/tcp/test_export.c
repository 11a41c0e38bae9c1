/*
 * test_export.c - packet scripts for handing a connection to another TCP
 * implementation: sock_export() describes it exactly (sequence numbers,
 * unacknowledged, unsent and unread bytes, options, windows), and
 * sock_forget() removes it without a FIN or a RST, dropping the segments
 * still in flight to it for STACK_FORGET_GRACE_US.
 */
#include "t.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

/* The spans hold n bytes of the pattern from stream offset off. */
static int spans_match(const struct iovec v[2], uint32_t n, uint32_t off)
{
	uint32_t i = 0;

	if (v[0].iov_len + v[1].iov_len != n)
		return 0;
	for (int k = 0; k < 2; k++)
		for (size_t j = 0; j < v[k].iov_len; j++, i++)
			if (((const uint8_t *)v[k].iov_base)[j] != t_pat(off + i))
				return 0;
	return 1;
}

/* Consume everything sent so far without matching. */
static void drain(struct t *t)
{
	struct t_wire w;

	while (!t_next(t, &w))
		;
}

/* Data both ways, part of ours unsent for want of window: every count and byte. */
static void export_established(struct t *t)
{
	struct sock_export e;
	struct t_flow *f;

	t_start_plain(t, TCP_ESTABLISHED);
	f = t->f;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 50, .win = 2920));
	t_write(t, 5000);
	t_wait(t, 1000);
	drain(t);
	t_eq(t, sock_export(t->stk, f->sd, &e), 0);
	t_eq(t, e.state, TCP_ESTABLISHED);
	t_eq(t, e.orphan, 0);
	t_eq(t, e.snd_una, f->stack_isn + 1);
	t_eq(t, e.snd_nxt, f->stack_isn + 1 + 2920);
	t_eq(t, e.n_unacked, 2920);
	t_eq(t, e.n_unsent, 2080);
	t_check(t, spans_match(e.unacked, 2920, 0));
	t_check(t, spans_match(e.unsent, 2080, 2920));
	t_eq(t, e.rcv_nxt, f->peer_isn + 51);
	t_eq(t, e.rcv_data_end, e.rcv_nxt);
	t_eq(t, e.n_unread, 50);
	t_check(t, spans_match(e.unread, 50, 0));
	t_eq(t, e.snd_wnd, 2920);
	t_eq(t, e.mss_peer, 1460);
	t_eq(t, e.ws + e.sack + e.ts, 0);
	t_eq(t, e.fin_rcvd + e.fin_queued + e.fin_acked, 0);
	t_eq(t, ntohs(e.local.sin_port), T_LISTEN_PORT);
	t_eq(t, ntohs(e.peer.sin_port), f->pport);
	t_check(t, e.rcv_wnd > 0);
	/* Reading moves the unread span; acknowledging moves the unacked one. */
	t_eq(t, t_read(t, 20), 20);
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 1001, .win = 2920));
	t_wait(t, 1000);
	drain(t);
	t_eq(t, sock_export(t->stk, f->sd, &e), 0);
	t_eq(t, e.n_unread, 30);
	t_check(t, spans_match(e.unread, 30, 20));
	t_eq(t, e.snd_una, f->stack_isn + 1001);
	t_eq(t, e.n_unacked + e.n_unsent, 4000);
	t_check(t, spans_match(e.unacked, e.n_unacked, 1000));
	t_check(t, spans_match(e.unsent, e.n_unsent, 1000 + e.n_unacked));
}

/* Options as Linux offers them: all negotiated, our TSval continues the clock. */
static void export_options(struct t *t)
{
	struct sock_export e;
	int one = 1;

	t_start(t, TCP_ESTABLISHED);
	t_eq(t, sock_setopt(t->stk, t->f->sd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 10));
	t_eq(t, sock_export(t->stk, t->f->sd, &e), 0);
	t_eq(t, e.ws, 1);
	t_eq(t, e.sack, 1);
	t_eq(t, e.ts, 1);
	t_eq(t, e.snd_ws, 7);
	t_eq(t, e.nodelay, 1);
	t_check(t, (int32_t)(e.tsval - t->f->stack_ts_last) >= 0);
	t_eq(t, e.tsval, (uint32_t)(t->now / 1000) + e.ts_off);
	t_eq(t, e.ts_recent, t->f->peer_ts_last);
	t_eq(t, e.snd_wnd, (uint32_t)t->peer_win << 7);
}

/* The peer's FIN taken: counted in rcv_nxt, not in the data. */
static void export_close_wait(struct t *t)
{
	struct sock_export e;

	t_start(t, TCP_CLOSE_WAIT);
	t_eq(t, sock_export(t->stk, t->f->sd, &e), 0);
	t_eq(t, e.state, TCP_CLOSE_WAIT);
	t_eq(t, e.fin_rcvd, 1);
	t_eq(t, e.rcv_nxt, t->f->peer_isn + 2);
	t_eq(t, e.rcv_data_end, t->f->peer_isn + 1);
	t_eq(t, e.n_unread, 0);
}

/* Listeners, handshakes and bad sds are not exported. */
static void export_refused(struct t *t)
{
	struct sock_export e;

	t_eq(t, sock_export(t->stk, t->listen_sd, &e), -EINVAL);
	t_eq(t, sock_forget(t->stk, t->listen_sd), -EINVAL);
	t_eq(t, sock_export(t->stk, 999, &e), -EBADF);
	t_eq(t, sock_forget(t->stk, -1), -EBADF);
	t_start(t, TCP_ESTABLISHED);
	t_eq(t, sock_export(t->stk, t->f->sd, NULL), -EFAULT);
}

static int sd_count(struct t *t)
{
	int n = 0;

	for (int sd = sock_next(t->stk, 0); sd >= 0; sd = sock_next(t->stk, sd + 1))
		n++;
	return n;
}

/*
 * Forgotten: no FIN, no RST, no retransmission; segments still in flight
 * are dropped and counted, also a data segment the listener would answer;
 * after the grace period the 4-tuple is unknown again (RST).
 */
static void forget_quietly(struct t *t)
{
	uint64_t in_use;
	int sd;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	in_use = t_stats(t).socks_in_use;
	sd = t->f->sd;
	t_eq(t, sock_forget(t->stk, sd), 0);
	t->f->sd = -1;
	t_eq(t, sd_count(t), 1); /* the listener only */
	t_eq(t, sock_events(t->stk, sd), POLLNVAL);
	t_eq(t, sock_send(t->stk, sd, "x", 1, 0), -EBADF);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 51, .len = 10));
	t_in(t, SEG(.flags = T_FIN | T_ACK, .seq = 11, .ack = 101));
	t_in(t, SEG(.flags = T_RST, .seq = 12));
	t_nothing(t, STACK_FORGET_GRACE_US - 100000);
	t_eq(t, t_drops(t, "forgotten"), 3);
	t_eq(t, t_stats(t).socks_in_use, in_use);
	t_eq(t, stack_orphans_unsettled(t->stk), 0);
	t_wait(t, 200000);
	t_eq(t, t_stats(t).socks_in_use, in_use - 1);
	t_in(t, SEG(.flags = T_ACK, .seq = 12, .ack = 101));
	t_out(t, SEG(.flags = T_RST, .seq = T_ANY, .ts = T_ANY));
	t_eq(t, t_drops(t, "forgotten"), 3);
}

/* An orphan with data and FIN unacknowledged: exported as such, forgotten without resends. */
static void forget_orphan(struct t *t)
{
	struct sock_export e;
	int sd;

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 100));
	t_eq(t, sock_close(t->stk, t->f->sd), 0);
	t->f->sd = -1;
	t_out(t, SEG(.flags = T_FIN | T_ACK, .seq = 101, .ack = 1));
	t_eq(t, stack_orphans_unsettled(t->stk), 1);
	sd = sock_next(t->stk, 0);
	if (sd == t->listen_sd)
		sd = sock_next(t->stk, sd + 1);
	t_eq(t, sock_export(t->stk, sd, &e), 0);
	t_eq(t, e.orphan, 1);
	t_eq(t, e.state, TCP_FIN_WAIT1);
	t_eq(t, e.n_unacked, 100);
	t_eq(t, e.n_unsent, 0);
	t_eq(t, e.fin_queued, 1);
	t_eq(t, e.fin_acked, 0);
	t_check(t, spans_match(e.unacked, 100, 0));
	t_eq(t, sock_forget(t->stk, sd), 0);
	t_eq(t, stack_orphans_unsettled(t->stk), 0);
	t_nothing(t, 10000000); /* no retransmission of data or FIN */
}

int main(void)
{
	T_RUN(export_established);
	T_RUN(export_options);
	T_RUN(export_close_wait);
	T_RUN(export_refused);
	T_RUN(forget_quietly);
	T_RUN(forget_orphan);
	return check_summary();
}
