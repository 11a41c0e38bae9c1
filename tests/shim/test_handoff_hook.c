/*
 * test_handoff_hook.c - the stack's hand-off hook (stack_config.on_misdirected)
 * that preload/shim_handoff.c uses, between two stacks over the in-memory
 * link: stack B picks local ports 61000-61999 with p % 2 == 0; A sends SYNs
 * to B's ports that have no socket.
 *   another process's port (61001), hook declines -> RST as before
 *   another process's port (61003), hook takes it -> no RST, "handed_off"
 *   B's own remainder (61000), a port out of the range (8080) -> no call, RST
 *   the frame given to the hook is the whole, valid Ethernet frame
 * Prints "N passed, N failed".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <arpa/inet.h>

#include "check.h"
#include "netdev.h"
#include "stack.h"

static int calls, take, frame_ok;
static uint16_t last_dport;

static int hook(void *ctx, const uint8_t *f, uint32_t len, uint16_t dport)
{
	const struct netdev *b = ctx;
	uint32_t ihl, tot;

	calls++;
	last_dport = dport;
	frame_ok = len >= 14 + 20 + 20 && !memcmp(f, b->info.mac, 6) && f[12] == 0x08 &&
		   f[13] == 0x00 && (f[14] >> 4) == 4;
	if (frame_ok) {
		ihl = (f[14] & 0xfu) * 4u;
		tot = (uint32_t)f[16] << 8 | f[17];
		frame_ok = len == 14 + tot && f[23] == 6 &&
			   ((uint32_t)f[14 + ihl + 2] << 8 | f[14 + ihl + 3]) == dport &&
			   (f[14 + ihl + 13] & 0x02); /* SYN */
	}
	return take;
}

static uint64_t drops(struct stack *s, const char *name)
{
	struct stack_stats st;
	unsigned i;

	stack_get_stats(s, &st);
	for (i = 0; i < 32; i++)
		if (!strcmp(stack_drop_reason_name(i), name))
			return st.drop_reason[i];
	return ~0ull;
}

struct sim {
	struct netdev_pipe *pipe;
	struct netdev *da, *db;
	struct stack *a, *b;
	uint64_t now;
};

static void run(struct sim *s, uint64_t us)
{
	for (uint64_t end = s->now + us; s->now < end; s->now += 100) {
		netdev_pipe_set_time(s->pipe, s->now);
		stack_poll(s->a, s->now);
		stack_poll(s->b, s->now);
	}
}

/* A connects to B's port; returns A's events after 300 ms of virtual time. */
static uint32_t try_port(struct sim *s, uint16_t port, int *err)
{
	struct sockaddr_in dst = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = s->db->info.ip4};
	int sd = sock_socket(s->a);
	uint32_t ev;

	CHECK(sd >= 0);
	CHECK(sock_connect(s->a, sd, &dst, s->now) == -EINPROGRESS);
	run(s, 300000);
	ev = sock_events(s->a, sd);
	*err = sock_error(s->a, sd);
	sock_close(s->a, sd);
	run(s, 1000);
	return ev;
}

int main(void)
{
	struct netdev_pipe_cfg pc = {.seed = 7};
	struct stack_config ca = {0}, cb = {0};
	struct sim s = {.now = 1000};
	uint32_t ev;
	int err;

	s.pipe = netdev_pipe_pair(&s.da, &s.db, &pc);
	CHECK(s.pipe != NULL);
	if (!s.pipe)
		return 1;
	ca.dev = s.da;
	ca.seed = 1;
	cb.dev = s.db;
	cb.seed = 2;
	cb.local_port_min = 61000;
	cb.local_port_max = 61999;
	cb.local_port_step = 2;
	cb.local_port_rem = 0;
	cb.on_misdirected = hook;
	cb.misdirected_ctx = s.db;
	s.a = stack_create(&ca);
	s.b = stack_create(&cb);
	CHECK(s.a && s.b);
	if (!s.a || !s.b)
		return 1;

	/* Another process's port, the hook declines: RST as without hand-off. */
	take = 0;
	ev = try_port(&s, 61001, &err);
	CHECK(calls == 1 && last_dport == 61001 && frame_ok);
	CHECK((ev & EPOLLERR) && err == ECONNREFUSED);
	CHECK(drops(s.b, "tcp_no_socket") == 1 && drops(s.b, "handed_off") == 0);

	/* The hook takes it: no RST (A still waits in SYN-SENT), counted. */
	take = 1;
	calls = 0;
	ev = try_port(&s, 61003, &err);
	CHECK(calls >= 1 && last_dport == 61003 && frame_ok);
	CHECK(!(ev & EPOLLERR) && err == 0);
	CHECK(drops(s.b, "tcp_no_socket") == 1 && drops(s.b, "handed_off") == (uint64_t)calls);

	/* B's own ports and ports out of the range are never offered. */
	calls = 0;
	ev = try_port(&s, 61000, &err);
	CHECK(calls == 0 && (ev & EPOLLERR) && err == ECONNREFUSED);
	ev = try_port(&s, 8080, &err);
	CHECK(calls == 0 && (ev & EPOLLERR) && err == ECONNREFUSED);
	CHECK(drops(s.b, "tcp_no_socket") == 3);

	stack_destroy(s.a);
	stack_destroy(s.b);
	netdev_pipe_free(s.pipe);
	return check_summary();
}
