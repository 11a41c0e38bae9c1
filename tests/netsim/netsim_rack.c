/*
 * netsim_rack.c - bulk data between two stacks over a lossy pipe (10 ms RTT,
 * 50 Mbit/s), with RACK (RFC 8985 6, the default) and the same seeded runs
 * without it (STACK_F_NO_RACK: duplicate-ACK/SACK counting): losses alone,
 * and losses with reordering. RACK also finds lost retransmissions, which
 * counting leaves to the RTO, so it needs fewer RTOs; reordering beyond the
 * window costs spurious retransmissions, which D-SACKs then widen the window
 * against. Every byte is checked; the figures are printed.
 */
#include "xfer.h"

#define BYTES (3u << 20)

struct result {
	double secs;
	uint64_t timeouts, retrans;
	int ok;
};

static struct result transfer(const struct netdev_pipe_cfg *pc, unsigned flags)
{
	struct stack_config cfg = {.flags = flags};
	struct result res = {0};
	struct stack_stats st;
	struct sim s;

	if (sim_init(&s, pc, &cfg)) {
		CHECK(!"sim_init");
		return res;
	}
	struct sockaddr_in dst = sim_addr(s.db, 80);
	int l = sim_listen(s.b, 80, 8), c = sock_socket(s.a);
	struct xfer xa, xb;

	CHECK(l >= 0 && c >= 0);
	CHECK(sock_connect(s.a, c, &dst, s.now) == -EINPROGRESS);
	xfer_init(&xa, c, BYTES, 0, 1, 2);
	xfer_init(&xb, -1, 0, BYTES, 2, 1);
	uint64_t start = s.now, limit = start + 300 * 1000000ull;

	xfer_pump(&s, l, &xa, &xb, limit);
	res.secs = (double)(s.now - start) / 1e6;
	res.ok = xfer_done(&xa) && xfer_done(&xb) && xb.recvd == BYTES && !xb.bad && !xa.err &&
		 !xb.err;
	stack_get_stats(s.a, &st);
	res.timeouts = st.timeouts;
	res.retrans = st.retrans_segs;
	sim_free(&s);
	return res;
}

static void compare(const char *name, const struct netdev_pipe_cfg *pc, struct result *r,
		    struct result *n)
{
	*r = transfer(pc, 0);
	*n = transfer(pc, STACK_F_NO_RACK);
	printf("%s: RACK %.2f virtual s, RTOs %llu, retransmissions %llu | counting %.2f s, "
	       "RTOs %llu, retransmissions %llu\n",
	       name, r->secs, (unsigned long long)r->timeouts, (unsigned long long)r->retrans,
	       n->secs, (unsigned long long)n->timeouts, (unsigned long long)n->retrans);
	CHECK(r->ok && n->ok);
}

int main(void)
{
	struct netdev_pipe_cfg loss = {
		.delay_us = 5000, .rate_bps = 50000000, .loss_ppm = 50000, .seed = 11};
	struct netdev_pipe_cfg reorder = loss;
	struct result r, n;

	compare("5% loss", &loss, &r, &n);
	/* lost retransmissions: counting waits for the RTO, RACK does not */
	CHECK(r.timeouts * 2 < n.timeouts);
	CHECK(r.secs < n.secs);
	reorder.reorder_ppm = 20000;
	reorder.seed = 12;
	compare("5% loss, 2% reordered", &reorder, &r, &n);
	/* reordering within the window is no loss; beyond it, D-SACKs widen it */
	CHECK(r.retrans < n.retrans);
	CHECK(r.timeouts <= n.timeouts);
	return check_summary();
}
