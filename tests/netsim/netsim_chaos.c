/*
 * netsim_chaos.c - random application behaviour over a hostile link, many
 * seeds: connects, writes, reads, half-closes, graceful and abortive closes,
 * option changes, on a link with loss, duplication, reordering, corruption
 * and a small queue. Checks: no crash or sanitizer report, data that
 * arrives is the data sent (per-connection generators), every error is one
 * Linux would give, and after everything is closed and timers ran out both
 * pools are empty (no leak in any path).
 */
#include <netinet/tcp.h>
#include <sys/epoll.h>

#include "xfer.h"

#define CONNS 24

struct end {
	int sd, side, idx;
	uint64_t sent, rcvd, seed_out, seed_in;
	int closed;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static int err_ok(long r)
{
	return r >= 0 || r == -EAGAIN || r == -EPIPE || r == -ECONNRESET || r == -ETIMEDOUT ||
	       r == -ENOTCONN || r == -ECONNREFUSED;
}

static uint64_t cur_seed;

static void fail_at(const char *what, long v, const struct end *e)
{
	check_count(0);
	if (check_failed < 20)
		fprintf(stderr, "seed %llu side %d idx %d sd %d: %s %ld (sent %llu rcvd %llu)\n",
			(unsigned long long)cur_seed, e->side, e->idx, e->sd, what, v,
			(unsigned long long)e->sent, (unsigned long long)e->rcvd);
}

static void act(struct stack *st, struct end *e, uint64_t *rs)
{
	uint8_t buf[3000];

	if (e->sd < 0 || e->closed)
		return;
	switch (rnd(rs) % 16) {
	case 0 ... 5: {
		size_t n = 1 + rnd(rs) % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = sim_byte(e->seed_out, e->sent + i);
		ssize_t r = sock_send(st, e->sd, buf, n, (rnd(rs) % 4 == 0) ? MSG_MORE : 0);

		if (r > 0)
			e->sent += (uint64_t)r;
		else if (!err_ok(r))
			fail_at("send", r, e);
		break;
	}
	case 6 ... 10: {
		ssize_t r = sock_recv(st, e->sd, buf, 1 + rnd(rs) % sizeof(buf), 0);

		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				if (buf[i] != sim_byte(e->seed_in, e->rcvd + (uint64_t)i)) {
					fail_at("data", (long)(e->rcvd + (uint64_t)i), e);
					break;
				}
			e->rcvd += (uint64_t)r;
		} else if (!err_ok(r)) {
			fail_at("recv", r, e);
		}
		break;
	}
	case 11: {
		int v = (int)(rnd(rs) % 2);

		CHECK(sock_setopt(st, e->sd, IPPROTO_TCP, (rnd(rs) % 2) ? TCP_NODELAY : TCP_CORK,
				  &v, sizeof(v)) == 0);
		break;
	}
	case 12:
		if (rnd(rs) % 8 == 0) {
			int r = sock_shutdown(st, e->sd, (int)(rnd(rs) % 3));

			if (r && r != -ENOTCONN)
				fail_at("shutdown", r, e);
		}
		break;
	case 13:
		if (rnd(rs) % 16 == 0) {
			if (rnd(rs) % 3 == 0) {
				struct linger lg = {1, 0};

				sock_setopt(st, e->sd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			}
			CHECK(sock_close(st, e->sd) == 0);
			e->closed = 1;
		}
		break;
	default:
		(void)sock_events(st, e->sd);
		break;
	}
}

static void chaos(uint64_t seed)
{
	struct sim s;
	struct netdev_pipe_cfg pc = {.delay_us = 200 + (uint32_t)(seed % 5) * 500,
				     .loss_ppm = 20000,
				     .dup_ppm = 10000,
				     .reorder_ppm = 20000,
				     .corrupt_ppm = 10000,
				     .rate_bps = 200000000,
				     .queue_frames = 256,
				     .seed = seed};
	/* per seed: buffer sizes, congestion control and options vary */
	struct stack_config cfg = {.sndbuf = 4096u << (seed % 5),
				   .rcvbuf = 4096u << ((seed / 5) % 5),
				   .max_syn_queue = 8,
				   .cc = (seed & 8) ? STACK_CC_NEWRENO : STACK_CC_CUBIC,
				   .flags = (unsigned)(seed >> 4) % 8};
	struct end ca[CONNS], sb[CONNS];
	uint64_t rs = seed * 7 + 1;
	int nacc = 0;

	CHECK(sim_init(&s, &pc, &cfg) == 0);
	int l = sim_listen(s.b, 80, 8);
	struct sockaddr_in dst = sim_addr(s.db, 80);

	for (int i = 0; i < CONNS; i++) {
		ca[i] = (struct end){
			.sd = sock_socket(s.a), .idx = i, .seed_out = seed * 100 + (uint64_t)i};
		sb[i] = (struct end){
			.sd = -1, .side = 1, .idx = i, .seed_in = seed * 100 + (uint64_t)i};
		CHECK(sock_connect(s.a, ca[i].sd, &dst, s.now) == -EINPROGRESS);
	}
	uint64_t lim = s.now + 20000000;

	while (s.now < lim) {
		sim_step(&s);
		struct sockaddr_in peer;
		int c;

		while ((c = sock_accept(s.b, l, &peer)) >= 0) {
			/* match the child to its client by port */
			int k;

			for (k = 0; k < CONNS; k++) {
				struct sockaddr_in me;

				if (!ca[k].closed && sock_name(s.a, ca[k].sd, &me) == 0 &&
				    me.sin_port == peer.sin_port && sb[k].sd < 0)
					break;
			}
			if (k == CONNS) {
				sock_close(s.b, c); /* its client is gone already */
				continue;
			}
			if (getenv("CHAOS_DBG"))
				fprintf(stderr,
					"t=%llu accept sd %d port %u -> k %d (client sd %d, sent "
					"%llu)\n",
					(unsigned long long)s.now, c, ntohs(peer.sin_port), k,
					ca[k].sd, (unsigned long long)ca[k].sent);
			sb[k].sd = c;
			sb[k].seed_out = seed * 1000 + (uint64_t)k;
			ca[k].seed_in = sb[k].seed_out;
			nacc++;
		}
		for (int i = 0; i < CONNS; i++) {
			act(s.a, &ca[i], &rs);
			act(s.b, &sb[i], &rs);
		}
		sim_advance(&s, lim);
		if (s.now < lim && rnd(&rs) % 4 == 0)
			s.now += rnd(&rs) % 3000;
	}
	for (int i = 0; i < CONNS; i++) {
		if (!ca[i].closed)
			CHECK(sock_close(s.a, ca[i].sd) == 0);
		if (sb[i].sd >= 0 && !sb[i].closed)
			CHECK(sock_close(s.b, sb[i].sd) == 0);
	}
	CHECK(sock_close(s.b, l) == 0);
	lim = s.now + 2000000000ull; /* orphans may back off to 120 s RTOs */
	struct stack_stats sa = {0}, sbs = {0};

	while (s.now < lim) {
		sim_step(&s);
		sim_advance(&s, lim);
		stack_get_stats(s.a, &sa);
		stack_get_stats(s.b, &sbs);
		if (sa.socks_in_use == 0 && sbs.socks_in_use == 0)
			break;
	}
	if (sa.socks_in_use || sbs.socks_in_use)
		fprintf(stderr, "seed %llu: leak %llu/%llu\n", (unsigned long long)seed,
			(unsigned long long)sa.socks_in_use, (unsigned long long)sbs.socks_in_use);
	CHECK(sa.socks_in_use == 0 && sbs.socks_in_use == 0);
	CHECK(nacc > 0);
	sim_free(&s);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 12;
	uint64_t first = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;

	for (uint64_t seed = first; seed < first + n; seed++) {
		cur_seed = seed;
		chaos(seed);
	}
	return check_summary();
}
