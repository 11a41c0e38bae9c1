/*
 * netsim_handshake.c - handshake variants between two stacks over the pipe:
 * SYN to a closed port is refused by RST, simultaneous open, a SYN flood
 * from a spoofed source filling the SYN queue (legitimate clients are then
 * served through SYN cookies at once), accept backlog, lost handshake
 * segments.
 */
#include <sys/epoll.h>

#include "rawseg.h"
#include "xfer.h"

/* Run the sim until cond holds or limit (virtual us from now). */
#define RUN_UNTIL(s, cond, limit_us)                                                               \
	do {                                                                                       \
		uint64_t lim_ = (s)->now + (limit_us);                                             \
		while (!(cond) && (s)->now < lim_) {                                               \
			sim_step(s);                                                               \
			if (cond)                                                                  \
				break;                                                             \
			sim_advance(s, lim_);                                                      \
		}                                                                                  \
	} while (0)

static void closed_port_refused(void)
{
	struct sim s;

	CHECK(sim_init(&s, NULL, NULL) == 0);
	int c = sock_socket(s.a);
	struct sockaddr_in dst = sim_addr(s.db, 81);

	CHECK(sock_connect(s.a, c, &dst, s.now) == -EINPROGRESS);
	RUN_UNTIL(&s, sock_events(s.a, c) & EPOLLERR, 100000);
	CHECK(sock_events(s.a, c) & EPOLLERR);
	CHECK(sock_error(s.a, c) == ECONNREFUSED);
	CHECK(sock_send(s.a, c, "x", 1, 0) == -EPIPE);
	struct stack_stats st;

	stack_get_stats(s.b, &st);
	CHECK(st.drop_reason[17] == 1); /* tcp_no_socket, answered by RST */
	CHECK(strcmp(stack_drop_reason_name(17), "tcp_no_socket") == 0);
	CHECK(sock_close(s.a, c) == 0);
	CHECK(sim_socks(s.a) == 0);
	sim_free(&s);
}

static void simultaneous_open(void)
{
	struct sim s;

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 500, .seed = 3}, NULL) == 0);
	int ca = sock_socket(s.a), cb = sock_socket(s.b);
	struct sockaddr_in la = sim_addr(s.da, 5000), lb = sim_addr(s.db, 6000);

	CHECK(sock_bind(s.a, ca, &la) == 0 && sock_bind(s.b, cb, &lb) == 0);
	CHECK(sock_connect(s.a, ca, &lb, s.now) == -EINPROGRESS);
	CHECK(sock_connect(s.b, cb, &la, s.now) == -EINPROGRESS);
	RUN_UNTIL(&s, (sock_events(s.a, ca) & EPOLLOUT) && (sock_events(s.b, cb) & EPOLLOUT),
		  3000000);
	struct sock_info ia, ib;

	CHECK(sock_info(s.a, ca, &ia) == 0 && ia.state == 1);
	CHECK(sock_info(s.b, cb, &ib) == 0 && ib.state == 1);
	struct xfer xa, xb;

	xfer_init(&xa, ca, 100000, 50000, 5, 6);
	xfer_init(&xb, cb, 50000, 100000, 6, 5);
	xfer_pair(&s, &xa, &xb, s.now + 5000000);
	CHECK(xa.recvd == 50000 && xb.recvd == 100000 && !xa.bad && !xb.bad);
	CHECK(!xa.err && !xb.err);
	sim_free(&s);
}

/*
 * 300 SYNs from a spoofed, silent source fill a SYN queue of 16: the rest
 * get SYN cookies; a real client connecting right after is served at once.
 */
static void syn_flood_cookies(void)
{
	struct sim s;
	struct stack_config cfg = {.max_syn_queue = 16};

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 100, .seed = 4}, &cfg) == 0);
	int l = sim_listen(s.b, 80, 128);
	uint32_t spoof = htonl(0x0a4d0307); /* 10.77.3.7: never answers */

	for (int i = 0; i < 300; i++)
		CHECK(raw_send(s.da, s.db->info.mac, spoof, s.db->info.ip4, (uint16_t)(20000 + i),
			       80, (uint32_t)i * 7919u, 0, 0x02, 64240) == 0);
	for (int i = 0; i < 20; i++) {
		sim_step(&s);
		sim_advance(&s, s.now + 1000);
	}
	struct stack_stats st;

	stack_get_stats(s.b, &st);
	CHECK(st.syn_cookies_sent == 300 - 16);
	int c = sock_socket(s.a);
	struct sockaddr_in dst = sim_addr(s.db, 80);
	uint64_t t0 = s.now;
	int sd = -1;

	CHECK(sock_connect(s.a, c, &dst, s.now) == -EINPROGRESS);
	RUN_UNTIL(&s, (sd = sock_accept(s.b, l, NULL)) >= 0, 5000000);
	CHECK(sd >= 0);
	CHECK(s.now - t0 < 10000); /* served by the first SYN, no retransmission */
	stack_get_stats(s.b, &st);
	CHECK(st.syn_cookies_ok == 1);
	struct sock_info ib;

	CHECK(sock_info(s.b, sd, &ib) == 0 && ib.mss == 1448);
	struct xfer xa, xb;

	xfer_init(&xa, c, 300000, 200000, 8, 9);
	xfer_init(&xb, sd, 200000, 300000, 9, 8);
	xfer_pair(&s, &xa, &xb, s.now + 5000000);
	CHECK(xa.recvd == 200000 && xb.recvd == 300000 && !xa.bad && !xb.bad);
	/* the half-open requests expire after their SYN-ACK retries */
	sock_close(s.a, c);
	sock_close(s.b, sd);
	RUN_UNTIL(&s, 0, 200000000);
	CHECK(sim_socks(s.b) == 1);
	sim_free(&s);
}

/* A full accept queue drops new SYNs (Linux); after accept() they get in. */
static void backlog_full(void)
{
	struct sim s;

	CHECK(sim_init(&s, NULL, NULL) == 0);
	int l = sim_listen(s.b, 80, 1), c[4];
	struct sockaddr_in dst = sim_addr(s.db, 80);

	for (int i = 0; i < 4; i++) {
		c[i] = sock_socket(s.a);
		CHECK(sock_connect(s.a, c[i], &dst, s.now) == -EINPROGRESS);
	}
	RUN_UNTIL(&s, 0, 100000);
	int n = 0;

	while (sock_accept(s.b, l, NULL) >= 0)
		n++;
	CHECK(n == 2); /* backlog 1 admits 2, as Linux */
	RUN_UNTIL(&s, 0, 5000000);
	while (sock_accept(s.b, l, NULL) >= 0)
		n++;
	CHECK(n == 4);
	for (int i = 0; i < 4; i++)
		CHECK(sock_events(s.a, c[i]) & EPOLLOUT);
	sim_free(&s);
}

/* Lost SYN and SYN-ACK are retransmitted (1 s initial RTO, RFC 6298 2.1). */
static void lossy_handshakes(void)
{
	struct sim s;
	struct netdev_pipe_cfg pc = {.delay_us = 1000, .loss_ppm = 100000, .seed = 12};

	CHECK(sim_init(&s, &pc, NULL) == 0);
	int l = sim_listen(s.b, 80, 64), c[20], ok = 0, acc = 0;
	struct sockaddr_in dst = sim_addr(s.db, 80);

	for (int i = 0; i < 20; i++) {
		c[i] = sock_socket(s.a);
		CHECK(sock_connect(s.a, c[i], &dst, s.now) == -EINPROGRESS);
	}
	uint64_t lim = s.now + 60000000;

	while (s.now < lim && (ok < 20 || acc < 20)) {
		sim_step(&s);
		while (sock_accept(s.b, l, NULL) >= 0)
			acc++;
		ok = 0;
		for (int i = 0; i < 20; i++)
			ok += !!(sock_events(s.a, c[i]) & EPOLLOUT);
		sim_advance(&s, lim);
	}
	CHECK(ok == 20);
	CHECK(acc == 20);
	sim_free(&s);
}

int main(void)
{
	closed_port_refused();
	simultaneous_open();
	syn_flood_cookies();
	backlog_full();
	lossy_handshakes();
	return check_summary();
}
