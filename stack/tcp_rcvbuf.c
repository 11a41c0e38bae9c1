/*
 * tcp_rcvbuf.c - receive-buffer autotuning (Linux tcp_rcv_space_adjust(),
 * "dynamic right-sizing").
 *
 * Called by sock_recvv() after the app read data. Once per receiver RTT
 * (tcp_info.c estimates it from the echo of our timestamps, or the time a
 * window takes to arrive) it compares what the app read in that RTT with the
 * previous RTT; when the rate grew, the receive ring grows to twice what was
 * read plus 16 segments, and more while the rate still climbs (slow start),
 * up to tcp_rmem[2] (stack_config.rmem_max) and the stack's ring limit. The
 * window we advertise follows the ring. A socket with SO_RCVBUF set keeps
 * its size (Linux SOCK_RCVBUF_LOCK).
 *
 * Memory: the larger ring comes from the buffer cache; the bytes in the
 * window are copied to the same sequence-relative places and the old ring
 * goes back to the cache. Never more than once per RTT, and only growing.
 */
#include "stack_priv.h"

/* The ring becomes nsize bytes (a larger power of two); 0, or -ENOMEM (kept). */
static int rbuf_grow(struct stack *stk, struct tcb *t, uint32_t nsize)
{
	uint32_t size = t->rmask + 1;
	uint8_t *nb = buf_get(stk, nsize);

	if (!nb)
		return -ENOMEM;
	/* everything the window can hold lies in [rcv_user, rcv_user + size) */
	ring_copy(nb, nsize - 1, t->rbuf, t->rmask, t->rcv_user - (t->irs + 1), size);
	buf_put(stk, t->rbuf, size);
	t->rbuf = nb;
	t->rmask = nsize - 1;
	return 0;
}

void tcp_rcv_space_adjust(struct stack *stk, struct tcb *t)
{
	uint64_t time = stk->now_us - t->ti.rcvq_us0;
	uint32_t rtt = tcp_info_rcv_rtt_us(t), copied, space = t->ti.rcvq_space;

	if (!t->rbuf || !rtt || time < rtt || !space)
		return;
	copied = t->rcv_user - t->ti.rcvq_seq;
	if (copied > space) {
		if (!t->rcvbuf_lock) {
			/* twice the last RTT's reading plus 16 segments for losses, and
			 * twice the growth again while the sender still speeds up */
			uint64_t rcvwin = 2ull * copied + 16ull * tcp_advmss(stk, t);
			uint64_t grow = rcvwin * (copied - space) / space;
			uint32_t cap = XT_MIN(stk->cfg.rmem_max, TCP_BUF_MAX), nsize;

			rcvwin += 2 * grow;
			if (rcvwin > cap)
				rcvwin = cap;
			nsize = buf_ring_size((uint32_t)rcvwin);
			if (nsize > cap) /* the power of two above: stay within tcp_rmem[2] */
				nsize >>= 1;
			/* a ring past the largest window we can announce would be idle */
			if (nsize > t->rmask + 1 && t->rmask + 1 < (65535u << t->rcv_ws) &&
			    rbuf_grow(stk, t, nsize) == 0)
				t->rcvbuf = (uint32_t)rcvwin;
		}
		t->ti.rcvq_space = copied;
	}
	t->ti.rcvq_seq = t->rcv_user;
	t->ti.rcvq_us0 = stk->now_us;
}
