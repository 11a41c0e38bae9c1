/*
 * netsim_tlp.c - tail losses between two stacks over a lossy pipe: 300
 * request/response rounds on one connection (A sends 4 segments, B answers
 * one byte once it has them all), 3% loss each way, 10 ms RTT. Every round
 * ends in a tail: a lost last segment gets no duplicate ACK. With tail loss
 * probes (RFC 8985 7) the tails come back after ~2 RTT, not after an RTO;
 * the same seeded run without them (STACK_F_NO_TLP) shows the difference.
 * Every byte is checked.
 */
#include <sys/epoll.h>

#include "xfer.h"

#define ROUNDS 300
#define REQ    (4 * 1448)

struct result {
	double secs;
	uint64_t timeouts, probes, recoveries, retrans;
	int rounds_ok;
};

static void step_until(struct sim *s, int (*done)(void *), void *arg, uint64_t max_us)
{
	uint64_t lim = s->now + max_us;

	while (s->now < lim) {
		sim_step(s);
		if (done(arg))
			return;
		sim_advance(s, lim);
	}
}

struct conn {
	struct sim *s;
	int l, ca, sb;
	uint64_t got; /* bytes B has of this round */
	uint64_t off; /* stream offset of the round */
	int bad;
};

static int accepted(void *arg)
{
	struct conn *c = arg;

	if (c->sb < 0)
		c->sb = sock_accept(c->s->b, c->l, NULL);
	return c->sb >= 0 && (sock_events(c->s->a, c->ca) & EPOLLOUT);
}

static int request_in(void *arg)
{
	struct conn *c = arg;
	uint8_t buf[REQ];
	ssize_t r;

	while ((r = sock_recv(c->s->b, c->sb, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != sim_byte(3, c->off + c->got + (uint64_t)i))
				c->bad++;
		c->got += (uint64_t)r;
	}
	if (c->got == REQ && sock_send(c->s->b, c->sb, "k", 1, 0) == 1)
		c->got++; /* answered */
	return c->got > REQ;
}

static int answer_in(void *arg)
{
	struct conn *c = arg;
	char k;

	return sock_recv(c->s->a, c->ca, &k, 1, 0) == 1;
}

static struct result rounds(unsigned flags)
{
	struct netdev_pipe_cfg pc = {.delay_us = 5000, .loss_ppm = 30000, .seed = 77};
	struct stack_config cfg = {.flags = flags};
	struct result res = {0};
	struct stack_stats st;
	struct sim s;
	struct conn c = {.s = &s, .l = -1, .sb = -1};
	struct sockaddr_in dst;
	uint8_t req[REQ];

	if (sim_init(&s, &pc, &cfg)) {
		CHECK(!"sim_init");
		return res;
	}
	dst = sim_addr(s.db, 80);
	c.l = sim_listen(s.b, 80, 8);
	c.ca = sock_socket(s.a);
	CHECK(sock_connect(s.a, c.ca, &dst, s.now) == -EINPROGRESS);
	step_until(&s, accepted, &c, 30000000);
	CHECK(c.sb >= 0);
	uint64_t t0 = s.now;

	for (int r = 0; r < ROUNDS && c.sb >= 0; r++) {
		for (unsigned i = 0; i < REQ; i++)
			req[i] = sim_byte(3, c.off + i);
		if (sock_send(s.a, c.ca, req, REQ, 0) != REQ)
			break;
		c.got = 0;
		step_until(&s, request_in, &c, 60000000);
		step_until(&s, answer_in, &c, 60000000);
		if (c.got != REQ + 1)
			break;
		c.off += REQ;
		res.rounds_ok++;
	}
	res.secs = (double)(s.now - t0) / 1e6;
	stack_get_stats(s.a, &st);
	res.timeouts = st.timeouts;
	res.probes = st.tlp_probes;
	res.recoveries = st.tlp_recoveries;
	res.retrans = st.retrans_segs;
	CHECK(c.bad == 0);
	sim_free(&s);
	return res;
}

int main(void)
{
	struct result tlp = rounds(0), rto = rounds(STACK_F_NO_TLP);

	printf("with TLP:    %d rounds in %.2f virtual s, RTOs %llu, probes %llu (%llu revealed a "
	       "loss), retransmissions %llu\n",
	       tlp.rounds_ok, tlp.secs, (unsigned long long)tlp.timeouts,
	       (unsigned long long)tlp.probes, (unsigned long long)tlp.recoveries,
	       (unsigned long long)tlp.retrans);
	printf("without TLP: %d rounds in %.2f virtual s, RTOs %llu, retransmissions %llu\n",
	       rto.rounds_ok, rto.secs, (unsigned long long)rto.timeouts,
	       (unsigned long long)rto.retrans);
	CHECK(tlp.rounds_ok == ROUNDS && rto.rounds_ok == ROUNDS);
	CHECK(rto.probes == 0);
	CHECK(tlp.probes > 0 && tlp.recoveries > 0);
	/* tails are recovered by probes: far fewer RTOs, and less time */
	CHECK(tlp.timeouts * 3 < rto.timeouts);
	CHECK(tlp.secs < rto.secs);
	return check_summary();
}
