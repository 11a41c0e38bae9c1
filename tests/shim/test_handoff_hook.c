/*
 * test_handoff_hook.c - the stack's hand-off hook (stack_config.on_misdirected)
 * that preload/shim_handoff.c uses, between two stacks over the in-memory
 * link: stack B picks local ports 61000-61999 with p % 2 == 0; A sends SYNs
 * to B's ports that have no socket.
 *   another process's port (61001), hook declines -> RST as before
 *   another process's port (61003), hook takes it -> no RST, "handed_off"
 *   B's own remainder (61000), a port out of the range (8080) -> no call, RST
 *   the frame given to the hook is the whole, valid Ethernet frame
 * and the hook for flows that started on another queue (on_unknown_flow):
 * A's connection to B's port 80 meets a new stack on B's link (as another
 * process's, after the sender moved the flow to its queue), listening on 80:
 *   its data segment is offered with the flow's tuple; declined -> RST
 *   (ECONNRESET at A), taken -> no RST, "handed_off"; a SYN is never offered
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

static int flow_calls, syn_offered;
static struct in6_addr flow_peer, flow_local;
static uint16_t flow_peer_port, flow_local_port;

static int flow_hook(void *ctx, const uint8_t *f, uint32_t len, const struct in6_addr *peer,
		     uint16_t peer_port, const struct in6_addr *local, uint16_t local_port)
{
	(void)ctx;
	flow_calls++;
	frame_ok = len >= 14 + 20 + 20 && f[12] == 0x08 && f[13] == 0x00;
	if (frame_ok && (f[47] & 0x02))
		syn_offered++;
	flow_peer = *peer;
	flow_local = *local;
	flow_peer_port = peer_port;
	flow_local_port = local_port;
	return take;
}

static int v4_is(const struct in6_addr *a, uint32_t ip4)
{
	return IN6_IS_ADDR_V4MAPPED(a) && !memcmp(&a->s6_addr[12], &ip4, 4);
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

static int listen80(struct stack *stk)
{
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(80)};
	int sd = sock_socket(stk);

	CHECK(sd >= 0 && sock_bind(stk, sd, &any) == 0 && sock_listen(stk, sd, 16) == 0);
	return sd;
}

/*
 * A connects to B's port 80 and sends; B is then replaced by a fresh stack
 * on the same link (the other process, which never saw the flow) whose hook
 * takes or declines A's next segment.
 */
static void moved_flow(struct sim *s, struct stack_config *cb, int taking)
{
	struct sockaddr_in dst = {
		.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = s->db->info.ip4};
	struct sockaddr_in me;
	int sd, lsd, err;
	uint32_t ev;

	stack_destroy(s->b); /* a B without the hook, listening on 80 */
	cb->on_misdirected = NULL;
	cb->on_unknown_flow = NULL;
	cb->seed++;
	s->b = stack_create(cb);
	CHECK(s->b != NULL);
	if (!s->b)
		return;
	lsd = listen80(s->b);
	sd = sock_socket(s->a);
	CHECK(sd >= 0 && sock_connect(s->a, sd, &dst, s->now) == -EINPROGRESS);
	run(s, 10000);
	CHECK(sock_accept(s->b, lsd, NULL) >= 0);
	CHECK(sock_name(s->a, sd, &me) == 0);

	stack_destroy(s->b);
	cb->on_unknown_flow = flow_hook;
	cb->seed++;
	s->b = stack_create(cb);
	CHECK(s->b != NULL);
	if (!s->b)
		return;
	listen80(s->b);
	take = taking;
	flow_calls = 0;
	CHECK(sock_send(s->a, sd, "moved", 5, 0) == 5);
	run(s, 300000);
	ev = sock_events(s->a, sd);
	err = sock_error(s->a, sd);
	CHECK(flow_calls >= 1 && frame_ok);
	CHECK(v4_is(&flow_peer, s->da->info.ip4) && flow_peer_port == ntohs(me.sin_port));
	CHECK(v4_is(&flow_local, s->db->info.ip4) && flow_local_port == 80);
	if (taking) {
		CHECK(!(ev & EPOLLERR) && err == 0);
		CHECK(drops(s->b, "handed_off") == (uint64_t)flow_calls);
	} else {
		CHECK((ev & EPOLLERR) && err == ECONNRESET);
		CHECK(drops(s->b, "handed_off") == 0);
	}
	/* a new flow's SYN is the listener's, never offered */
	CHECK(try_port(s, 80, &err) & EPOLLOUT);
	CHECK(syn_offered == 0);
	sock_close(s->a, sd);
	run(s, 1000);
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

	moved_flow(&s, &cb, 0);
	moved_flow(&s, &cb, 1);

	stack_destroy(s.a);
	stack_destroy(s.b);
	netdev_pipe_free(s.pipe);
	return check_summary();
}
