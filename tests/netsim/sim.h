/*
 * sim.h - two stacks over the in-memory pipe on a virtual clock.
 *
 * sim_init() builds stack A (10.77.1.1) and stack B (10.77.1.2) joined by
 * netdev_pipe; sim_step() polls both at the current virtual time, then
 * advances the clock to the next event (timer, frame due) when nothing is
 * left to do now. Each test drives its applications between steps.
 */
#ifndef XTCP_TEST_SIM_H
#define XTCP_TEST_SIM_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "netdev.h"
#include "stack.h"

struct sim {
	struct netdev_pipe *pipe;
	struct netdev *da, *db;
	struct stack *a, *b;
	uint64_t now;
	uint64_t steps;
	int events_a, events_b;
	int *evq[2]; /* if set: sds whose readiness changed, per stack (A, B) */
	unsigned evn[2], evcap[2];
};

static inline void sim_evq_push(struct sim *s, int side, int sd)
{
	if (s->evq[side] && s->evn[side] < s->evcap[side])
		s->evq[side][s->evn[side]++] = sd;
}

static void sim_on_event_a(void *ctx, int sd)
{
	((struct sim *)ctx)->events_a++;
	sim_evq_push(ctx, 0, sd);
}

static void sim_on_event_b(void *ctx, int sd)
{
	((struct sim *)ctx)->events_b++;
	sim_evq_push(ctx, 1, sd);
}

static inline int sim_init(struct sim *s, const struct netdev_pipe_cfg *pc,
			   const struct stack_config *tmpl)
{
	struct stack_config c;

	memset(s, 0, sizeof(*s));
	s->now = 1000000;
	s->pipe = netdev_pipe_pair(&s->da, &s->db, pc);
	if (!s->pipe)
		return -1;
	if (tmpl)
		c = *tmpl;
	else
		memset(&c, 0, sizeof(c));
	c.dev = s->da;
	c.seed = (pc ? pc->seed : 0) + 11;
	c.on_event = sim_on_event_a;
	c.event_ctx = s;
	s->a = stack_create(&c);
	c.dev = s->db;
	c.seed = (pc ? pc->seed : 0) + 22;
	c.on_event = sim_on_event_b;
	s->b = stack_create(&c);
	return s->a && s->b ? 0 : -1;
}

static inline void sim_free(struct sim *s)
{
	stack_destroy(s->a);
	stack_destroy(s->b);
	netdev_pipe_free(s->pipe);
}

static inline struct sockaddr_in sim_addr(const struct netdev *d, uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = d->info.ip4;
	a.sin_port = htons(port);
	return a;
}

/* Poll both stacks at s->now, then move the clock to the next event if idle. */
static inline void sim_step(struct sim *s)
{
	netdev_pipe_set_time(s->pipe, s->now);
	stack_poll(s->a, s->now);
	stack_poll(s->b, s->now);
	s->steps++;
}

/* After the apps ran: advance virtual time when nothing is due now. */
static inline void sim_advance(struct sim *s, uint64_t limit)
{
	if (stack_has_output(s->a) || stack_has_output(s->b))
		return;
	uint64_t n = netdev_pipe_next_due(s->pipe), d;

	d = stack_next_deadline(s->a);
	if (d < n)
		n = d;
	d = stack_next_deadline(s->b);
	if (d < n)
		n = d;
	if (n > limit)
		n = limit;
	if (n > s->now)
		s->now = n;
}

/* Sockets a stack holds now (its pool's use, TIME-WAIT and orphans included). */
static inline uint64_t sim_socks(struct stack *st)
{
	struct stack_stats ss;

	stack_get_stats(st, &ss);
	return ss.socks_in_use;
}

static inline int sim_listen(struct stack *st, uint16_t port, int backlog)
{
	int l = sock_socket(st);
	struct sockaddr_in any;

	memset(&any, 0, sizeof(any));
	any.sin_family = AF_INET;
	any.sin_port = htons(port);
	if (l < 0 || sock_bind(st, l, &any) || sock_listen(st, l, backlog))
		return -1;
	return l;
}

/* Byte i of a test stream: position-dependent so every byte is checked. */
static inline uint8_t sim_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (i >> 6) * 0x9E3779B97F4A7C15ULL + seed;

	return (uint8_t)((x >> 29) ^ i);
}

#endif
