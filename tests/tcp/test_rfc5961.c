/*
 * test_rfc5961.c - packet scripts for blind-attack defences in ESTABLISHED
 * (RFC 5961): challenge ACKs for in-window SYN and RST, RST accepted only
 * exactly at rcv_nxt, out-of-window RST ignored, ACK range check; replies to
 * invalid segments rate-limited per connection (Linux tcp_invalid_ratelimit)
 * and challenge ACKs per stack by a randomised budget (RFC 5961 7).
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>

/* RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK, never a reset. */
static void challenge_ack_in_window_syn(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_SYN, .seq = 5000, .mss = 1460));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).challenge_acks, 1);
	/* The connection still carries data. */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 10));
	t_eq(t, t_read(t, 100), 10);
	t_out_by(t, 500000, SEG(.flags = T_ACK, .seq = 1, .ack = 11));
}

/* A SYN exactly at rcv_nxt is no exception (RFC 5961 4.2 replaces RFC 793's reset). */
static void challenge_ack_syn_at_rcv_nxt(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_SYN, .seq = 1, .mss = 1460));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
}

/* RFC 5961 3.2: a RST in the window but not at rcv_nxt gets a challenge ACK. */
static void challenge_ack_in_window_rst(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).challenge_acks, 1);
	t_eq(t, sock_error(t->stk, t->f->sd), 0);
}

/* RFC 5961 3.2: a RST exactly at rcv_nxt resets the connection, silently. */
static void rst_exactly_at_rcv_nxt(struct t *t)
{
	uint32_t ev;
	int err;

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 20));
	t_eq(t, t_read(t, 100), 20);
	t_wait(t, 500000); /* let any delayed ACK go */
	t_drain_acks(t);
	t_in(t, SEG(.flags = T_RST, .seq = 21));
	t_nothing(t, 0);
	T_STATE(t, TCP_CLOSE);
	ev = sock_events(t->stk, t->f->sd);
	t_check(t, ev & EPOLLHUP);
	t_check(t, ev & EPOLLERR);
	err = sock_error(t->stk, t->f->sd);
	t_check(t, err == ECONNRESET || err == -ECONNRESET);
	t_eq(t, t_stats(t).estab_resets, 1);
}

/* RFC 5961 3.2: a RST outside the window is dropped without a reply. */
static void rst_out_of_window_ignored(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 1 + 50000000));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_RST, .seq = (uint32_t)(1 - 1000)));
	t_nothing(t, 0);
	T_STATE(t, TCP_ESTABLISHED);
}

/* RFC 5961 5.2: an ACK for data never sent is answered with an ACK and dropped. */
static void ack_of_unsent_data(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 5000, .len = 10));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_read(t, 100), -EAGAIN);
	T_STATE(t, TCP_ESTABLISHED);
}

/*
 * Linux tcp_invalid_ratelimit: one ACK to invalid segments per connection
 * per 500 ms; a RST and a SYN right after it share that one.
 */
static void challenge_ack_once_per_500ms(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 200));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_in(t, SEG(.flags = T_SYN, .seq = 300));
	t_nothing(t, 0);
	t_wait(t, 499999);
	t_in(t, SEG(.flags = T_RST, .seq = 200));
	t_nothing(t, 0);
	t_wait(t, 1);
	t_in(t, SEG(.flags = T_SYN, .seq = 300));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_stats(t).challenge_acks, 2);
	t_eq(t, t_stats(t).invalid_acks_limited, 2);
	T_STATE(t, TCP_ESTABLISHED);
}

/* Five in-window RSTs within 20 ms draw one challenge ACK, as from Linux. */
static void rst_burst_one_connection(struct t *t)
{
	int i;

	t_start(t, TCP_ESTABLISHED);
	for (i = 0; i < 5; i++) {
		t_in(t, SEG(.flags = T_RST, .seq = 100 + 1000 * i));
		t_wait(t, 4000);
	}
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_nothing(t, 0);
	t_eq(t, t_stats(t).challenge_acks, 1);
	T_STATE(t, TCP_ESTABLISHED);
}

/*
 * Out-of-window segments without data share the limit (Linux
 * tcp_oow_rate_limited()); with data they are always answered, and an
 * out-of-window SYN is answered by a challenge ACK.
 */
static void out_of_window_acks_limited(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1 + 50000000, .ack = 1));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1 + 50000000, .ack = 1));
	t_nothing(t, 0);
	t_in(t, SEG(.flags = T_ACK, .seq = 1 + 50000000, .ack = 1, .len = 10));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_stats(t).invalid_acks_limited, 1);
	t_wait(t, 500000);
	t_in(t, SEG(.flags = T_SYN, .seq = 1 + 50000000));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_eq(t, t_stats(t).challenge_acks, 1);
	t_eq(t, t_read(t, 100), -EAGAIN);
}

/*
 * RST bursts across many connections: each connection may answer, but the
 * stack's challenge ACKs per second stay within its budget, which is drawn
 * anew each second from [limit/2, limit*3/2) (Linux tcp_challenge_ack_limit,
 * CVE-2016-5696): an attacker cannot learn it by counting.
 */
static void rst_burst_across_connections(struct t *t)
{
	enum { NFLOW = T_MAX_FLOWS, ROUNDS = 8 };
	unsigned sent[ROUNDS], total = 0, r, i, differ = 0;
	struct t_wire w;

	for (i = 0; i < NFLOW; i++) {
		t_flow(t, (uint16_t)(43000 + i));
		t_start(t, TCP_ESTABLISHED);
	}
	t_wait(t, 1000000);
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < NFLOW; i++) {
			t_flow(t, (uint16_t)(43000 + i));
			t_in(t, SEG(.flags = T_RST, .seq = 100));
		}
		sent[r] = 0;
		while (t_next(t, &w) == 0) {
			t_check(t, w.flags == T_ACK && w.len == 0);
			sent[r]++;
		}
		t_check(t, sent[r] >= 2 && sent[r] <= 5); /* limit 4: [2, 5] */
		total += sent[r];
		differ |= sent[r] != sent[0];
		t_wait(t, 1000000);
	}
	t_check(t, differ);
	t_eq(t, t_stats(t).challenge_acks, total);
	t_eq(t, t_stats(t).invalid_acks_limited, NFLOW * ROUNDS - total);
	for (i = 0; i < NFLOW; i++) {
		t_flow(t, (uint16_t)(43000 + i));
		T_STATE(t, TCP_ESTABLISHED);
	}
}

int main(void)
{
	T_RUN(challenge_ack_in_window_syn);
	T_RUN(challenge_ack_syn_at_rcv_nxt);
	T_RUN(challenge_ack_in_window_rst);
	T_RUN(rst_exactly_at_rcv_nxt);
	T_RUN(rst_out_of_window_ignored);
	T_RUN(ack_of_unsent_data);
	T_RUN(challenge_ack_once_per_500ms);
	T_RUN(rst_burst_one_connection);
	T_RUN(out_of_window_acks_limited);
	{
		struct stack_config cfg = {.challenge_ack_limit = 4};

		t_run("rst_burst_across_connections", rst_burst_across_connections, &cfg);
	}
	return check_summary();
}
