/*
 * wheel.c - hashed timer wheel, 1 ms slots (Varghese & Lauck scheme 6).
 *
 * Each TCB and tcp_req owns one wheel_ent. wheel_arm() moves the node only
 * when the new time is earlier than the slot it sits in (lazy re-arm: the
 * common "push the RTO later" costs nothing); when a slot runs, the owner
 * recomputes its real deadline and re-arms if it is not yet due. Entries
 * further than WHEEL_SLOTS ms away share slots and are skipped until their
 * lap comes. next_dl_ms is a lower bound of the earliest entry, recomputed
 * by a forward scan only after it has passed.
 *
 * Called by: tcb_timer_update(), tcp_listen.c (arm), stack_poll() (run).
 * Calls out: tcp_timer_fire(), tcp_req_timer().
 */
#include "stack_priv.h"

void wheel_init(struct stack *stk, uint64_t now_ms)
{
	for (unsigned i = 0; i < WHEEL_SLOTS; i++)
		list_init(&stk->wheel[i]);
	stk->wheel_ms = now_ms;
	stk->next_dl_ms = UINT64_MAX;
}

void wheel_arm(struct stack *stk, struct wheel_ent *e, uint64_t when_us)
{
	uint64_t ms = (when_us + 999) / 1000;

	if (ms < stk->wheel_ms)
		ms = stk->wheel_ms;
	if (stk->wheel_running && ms <= stk->now_ms)
		ms = stk->now_ms + 1; /* slots up to now are being run: next ms, not next lap */
	if (e->when_ms && e->when_ms <= ms)
		return; /* lazy: it fires earlier and re-checks */
	if (e->when_ms)
		list_del(&e->node);
	e->when_ms = ms;
	list_add_tail(&stk->wheel[ms & (WHEEL_SLOTS - 1)], &e->node);
	if (ms < stk->next_dl_ms)
		stk->next_dl_ms = ms;
}

void wheel_cancel(struct wheel_ent *e)
{
	if (e->when_ms) {
		list_del(&e->node);
		e->when_ms = 0;
	}
}

static void wheel_fire(struct stack *stk, struct wheel_ent *e)
{
	if (e->is_req)
		tcp_req_timer(stk, container_of(e, struct tcp_req, tm));
	else
		tcp_timer_fire(stk, container_of(e, struct tcb, tm));
}

static void wheel_run_slot(struct stack *stk, struct list_node *slot, uint64_t now_ms)
{
	struct list_node due, *n, *tmp;

	list_init(&due);
	list_for_each_safe (n, tmp, slot) {
		struct wheel_ent *e = container_of(n, struct wheel_ent, node);

		if (e->when_ms <= now_ms) {
			list_del(n);
			list_add_tail(&due, n);
		}
	}
	/* Owners may re-arm into any slot (even this one) or free themselves. */
	while ((n = list_pop(&due)) != NULL) {
		struct wheel_ent *e = container_of(n, struct wheel_ent, node);

		e->when_ms = 0;
		wheel_fire(stk, e);
	}
}

void wheel_run(struct stack *stk, uint64_t now_ms)
{
	if (now_ms < stk->wheel_ms)
		return;
	if (stk->next_dl_ms > now_ms) {
		stk->wheel_ms = now_ms + 1; /* nothing can be due: skip the walk */
		return;
	}
	uint64_t n = now_ms - stk->wheel_ms + 1;

	stk->wheel_running = 1;

	if (n > WHEEL_SLOTS)
		n = WHEEL_SLOTS;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t ms = n == WHEEL_SLOTS ? i : stk->wheel_ms + i;

		wheel_run_slot(stk, &stk->wheel[ms & (WHEEL_SLOTS - 1)], now_ms);
	}
	stk->wheel_running = 0;
	stk->wheel_ms = now_ms + 1;
	stk->next_dl_ms = 0; /* stale: recomputed by wheel_next() */
}

/* Earliest armed time in ms, or UINT64_MAX. */
uint64_t wheel_next(struct stack *stk)
{
	if (stk->next_dl_ms >= stk->wheel_ms)
		return stk->next_dl_ms;
	uint64_t best = UINT64_MAX;

	for (uint64_t i = 0; i < WHEEL_SLOTS; i++) {
		uint64_t ms = stk->wheel_ms + i;
		struct list_node *slot = &stk->wheel[ms & (WHEEL_SLOTS - 1)], *n;

		if (ms >= best)
			break;
		list_for_each (n, slot) {
			struct wheel_ent *e = container_of(n, struct wheel_ent, node);

			if (e->when_ms < best)
				best = e->when_ms;
		}
	}
	stk->next_dl_ms = best;
	return best;
}
