/*
 * netsim_transfer.c - data both ways between two stacks over the pipe,
 * every byte checked, at 0% and with loss + reordering + duplication +
 * corruption, completion within a bounded virtual time, then a clean close
 * with every pool slot returned. Sizes scale with XTCP_NETSIM_MB (default
 * small enough for ASan on CI; set 100 for 100 MB each way).
 */
#include "xfer.h"

static uint64_t env_mb(uint64_t def)
{
	const char *e = getenv("XTCP_NETSIM_MB");

	if (!e || !*e)
		return def;
	return strtoull(e, NULL, 10);
}

/* Family of the next transfer(): IPv4, or IPv6 to a dual-stack AF_INET6 listener. */
static int xfer_v6;

static int connect_to(struct sim *s, int c)
{
	if (!xfer_v6) {
		struct sockaddr_in dst = sim_addr(s->db, 80);

		return sock_connect(s->a, c, &dst, s->now);
	}
	struct sockaddr_in6 d6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};

	d6.sin6_addr = s->db->info.ip6[0];
	return sock_connect6(s->a, c, &d6, s->now);
}

static int listen_on(struct stack *st)
{
	if (!xfer_v6)
		return sim_listen(st, 80, 16);
	struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	int l = sock_socket6(st);

	if (l < 0 || sock_bind6(st, l, &any) || sock_listen(st, l, 16))
		return -1;
	return l;
}

/* Transfer ab bytes A->B and ba bytes B->A; returns virtual seconds taken. */
static double transfer(const char *name, const struct netdev_pipe_cfg *pc,
		       const struct stack_config *cfg, uint64_t ab, uint64_t ba, double max_s)
{
	struct sim s;
	struct stack_stats sa, sb;

	if (sim_init(&s, pc, cfg)) {
		CHECK(!"sim_init");
		return -1;
	}
	int l = listen_on(s.b);
	int c = xfer_v6 ? sock_socket6(s.a) : sock_socket(s.a);

	CHECK(l >= 0 && c >= 0);
	CHECK(connect_to(&s, c) == -EINPROGRESS);
	struct xfer xa, xb;

	xfer_init(&xa, c, ab, ba, 1, 2);
	xfer_init(&xb, -1, ba, ab, 2, 1);
	uint64_t start = s.now, limit = start + (uint64_t)(max_s * 1e6);

	xfer_pump(&s, l, &xa, &xb, limit);
	double secs = (double)(s.now - start) / 1e6;

	stack_get_stats(s.a, &sa);
	stack_get_stats(s.b, &sb);
	printf("%s: %.1f MB + %.1f MB in %.3f virtual s (%llu steps), retrans %llu/%llu, "
	       "drops %llu/%llu\n",
	       name, ab / 1e6, ba / 1e6, secs, (unsigned long long)s.steps,
	       (unsigned long long)sa.retrans_segs, (unsigned long long)sb.retrans_segs,
	       (unsigned long long)sa.rx_drop, (unsigned long long)sb.rx_drop);
	if (!(xfer_done(&xa) && xfer_done(&xb))) {
		struct sock_info ia, ib;

		sock_info(s.a, c, &ia);
		sock_info(s.b, xb.sd, &ib);
		fprintf(stderr,
			"%s: stuck: A sent %llu recvd %llu st %d txq %u rxq %u cwnd %u wnd %u rto "
			"%u | "
			"B sent %llu recvd %llu st %d txq %u rxq %u cwnd %u wnd %u rto %u\n",
			name, (unsigned long long)xa.sent, (unsigned long long)xa.recvd, ia.state,
			ia.tx_queued, ia.rx_queued, ia.cwnd, ia.snd_wnd, ia.rto_us,
			(unsigned long long)xb.sent, (unsigned long long)xb.recvd, ib.state,
			ib.tx_queued, ib.rx_queued, ib.cwnd, ib.snd_wnd, ib.rto_us);
		for (unsigned r = 0; r < 32; r++)
			if (sa.drop_reason[r] || sb.drop_reason[r])
				fprintf(stderr, "  drop %s: %llu %llu\n", stack_drop_reason_name(r),
					(unsigned long long)sa.drop_reason[r],
					(unsigned long long)sb.drop_reason[r]);
	}
	CHECK(xfer_done(&xa) && xfer_done(&xb));
	CHECK(xa.err == 0 && xb.err == 0);
	CHECK(xa.recvd == ba && xb.recvd == ab);
	CHECK(xa.bad == 0 && xb.bad == 0);
	if (xa.err || xb.err)
		fprintf(stderr, "%s: errors %d %d\n", name, xa.err, xb.err);
	/* close both; TIME-WAIT ends after 60 s: every slot must come back */
	CHECK(sock_close(s.a, c) == 0);
	if (xb.sd >= 0)
		CHECK(sock_close(s.b, xb.sd) == 0);
	uint64_t end = s.now + 200 * 1000000ull;

	while (s.now < end) {
		sim_step(&s);
		sim_advance(&s, end);
		stack_get_stats(s.a, &sa);
		stack_get_stats(s.b, &sb);
		if (sa.socks_in_use == 0 && sb.socks_in_use == 1)
			break;
	}
	CHECK(sa.socks_in_use == 0);
	CHECK(sb.socks_in_use == 1);
	CHECK(sock_close(s.b, l) == 0);
	stack_get_stats(s.b, &sb);
	CHECK(sb.socks_in_use == 0);
	sim_free(&s);
	return secs;
}

int main(void)
{
	uint64_t mb = env_mb(1);
	struct netdev_pipe_cfg clean = {.delay_us = 100, .seed = 1, .rate_bps = 10000000000ull};
	struct netdev_pipe_cfg lossy = {.delay_us = 1000,
					.loss_ppm = 10000,
					.reorder_ppm = 10000,
					.dup_ppm = 5000,
					.corrupt_ppm = 5000,
					.rate_bps = 1000000000ull,
					.seed = 7};

	struct stack_config reno = {.cc = STACK_CC_NEWRENO,
				    .flags = STACK_F_NO_SACK | STACK_F_NO_TS | STACK_F_NO_WS};

	double t0 = transfer("clean", &clean, NULL, mb << 20, mb << 20, 60);

	CHECK(t0 >= 0 && t0 < 10);
	double t1 = transfer("lossy 3%", &lossy, NULL, mb << 20, mb << 20, 600);

	CHECK(t1 >= 0 && t1 < 120);
	/* NewReno without SACK, timestamps or window scaling (64 KiB windows) */
	double t2 =
		transfer("lossy 3% newreno, no sack/ts/ws", &lossy, &reno, mb << 19, mb << 19, 600);

	CHECK(t2 >= 0 && t2 < 300);
	/*
	 * Long fat pipe: 1 Gbit/s, 20 ms RTT, 4 MiB buffers (window scaling):
	 * 8 MB must take well under what 64 KiB windows allow (3.3 MB/s).
	 */
	struct netdev_pipe_cfg lfn = {
		.delay_us = 10000, .rate_bps = 1000000000ull, .queue_frames = 8192, .seed = 9};
	struct stack_config big = {.sndbuf = 4u << 20, .rcvbuf = 4u << 20};
	double t3 = transfer("1 Gbit/s x 20 ms, 4 MiB buffers", &lfn, &big, 8u << 20, 0, 60);

	CHECK(t3 >= 0 && t3 < 0.5); /* 0.07 s at line rate + slow start */
	/*
	 * The same pipe with the default 256 KiB buffers: receive autotuning
	 * (Linux tcp_rcv_space_adjust()) must grow the window past what 256 KiB
	 * allows (13 MB/s: 16 MB in 1.28 s).
	 */
	double t4 = transfer("1 Gbit/s x 20 ms, default buffers, autotuned", &lfn, NULL, 16u << 20,
			     0, 60);

	CHECK(t4 >= 0 && t4 < 0.6);
	/* IPv6: the same integrity and timing, clean and lossy */
	xfer_v6 = 1;
	double t5 = transfer("IPv6 clean", &clean, NULL, mb << 20, mb << 20, 60);

	CHECK(t5 >= 0 && t5 < 10);
	double t6 = transfer("IPv6 lossy 3%", &lossy, NULL, mb << 20, mb << 20, 600);

	CHECK(t6 >= 0 && t6 < 120);
	return check_summary();
}
