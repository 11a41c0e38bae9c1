/*
 * stack_bench.c - micro-benchmark of the stack alone: two stacks joined by
 * the in-memory link (netdev_pipe, no impairment), driven by one thread on
 * one core, so every cycle counted is the stack's (plus the pipe's copy).
 *
 *   stack_bench                      bulk 4096 MiB, then conn 200000 64 (each at most 20 s)
 *   stack_bench bulk [MB]            one connection, client -> server, Gbit/s
 *   stack_bench conn [N] [PARALLEL]  short connections: open, 64-byte request,
 *                                    64-byte reply, server closes, client closes
 *
 * Map: main() -> bench_bulk() / bench_conn(); both call pump() which reads
 * the clock once, moves the link's clock, polls each stack once (RX burst,
 * timers, TX). The clock is CLOCK_MONOTONIC (us), as the shim would pass it.
 * Data is checked: bulk byte k is k % 251, which the server verifies;
 * every reply must equal its request. Exit 1 on any error or stall.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "netdev.h"
#include "stack.h"

struct bench {
	struct netdev_pipe *pipe;
	struct netdev *da, *db;
	struct stack *cli, *srv;
	uint64_t now;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* CPU time of this process: rates per CPU-second hold on a busy shared machine. */
static uint64_t cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void pump(struct bench *b)
{
	b->now = mono_us();
	netdev_pipe_set_time(b->pipe, b->now);
	stack_poll(b->cli, b->now);
	stack_poll(b->srv, b->now);
}

static int setup(struct bench *b, uint32_t bufsize, unsigned max_socks)
{
	struct netdev_pipe_cfg pc = {.seed = 1};
	struct stack_config cc = {.seed = 11,
				  .sndbuf = bufsize,
				  .rcvbuf = bufsize,
				  .max_socks = max_socks,
				  .local_port_min = 1025,
				  .local_port_max = 65535};
	struct stack_config sc = cc;

	memset(b, 0, sizeof(*b));
	b->pipe = netdev_pipe_pair(&b->da, &b->db, &pc);
	if (!b->pipe)
		return -1;
	cc.dev = b->da;
	sc.dev = b->db;
	sc.seed = 22;
	b->cli = stack_create(&cc);
	b->srv = stack_create(&sc);
	return b->cli && b->srv ? 0 : -1;
}

static void teardown(struct bench *b)
{
	if (b->cli)
		stack_destroy(b->cli);
	if (b->srv)
		stack_destroy(b->srv);
	if (b->pipe)
		netdev_pipe_free(b->pipe);
}

static int listen_on(struct bench *b, uint16_t port, struct sockaddr_in *dst)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int sd = sock_socket(b->srv);

	a.sin_addr.s_addr = b->db->info.ip4;
	if (sd < 0 || sock_bind(b->srv, sd, &a) < 0 || sock_listen(b->srv, sd, 4096) < 0)
		return -1;
	*dst = a;
	return sd;
}

#define CHUNK	 (256 * 1024)
#define LIMIT_US 20000000 /* each run stops after 20 s and reports what it did */

static int bench_bulk(uint64_t mb)
{
	struct bench b;
	struct sockaddr_in dst;
	static uint8_t buf[CHUNK], pat[CHUNK + 251];
	uint64_t total = mb << 20, sent = 0, rcvd = 0, t0, t1, c0, c1, stall;
	int ls, cs, ss = -1, rc = 1;
	ssize_t n;

	for (sent = 0; sent < sizeof(pat); sent++) /* byte k of the stream is k % 251 */
		pat[sent] = (uint8_t)(sent % 251);
	sent = 0;
	if (setup(&b, 1u << 20, 64) || (ls = listen_on(&b, 5001, &dst)) < 0) {
		fprintf(stderr, "bulk: set-up failed\n");
		goto out;
	}
	cs = sock_socket(b.cli);
	pump(&b);
	if (cs < 0 || sock_connect(b.cli, cs, &dst, b.now) != -EINPROGRESS) {
		fprintf(stderr, "bulk: connect failed\n");
		goto out;
	}
	t0 = mono_us();
	c0 = cpu_us();
	b.now = t0;
	stall = t0;
	while (rcvd < total && b.now - t0 < LIMIT_US) {
		pump(&b);
		if (ss < 0)
			ss = sock_accept(b.srv, ls, NULL);
		while (sent < total) {
			size_t want = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;

			n = sock_send(b.cli, cs, pat + sent % 251, want, 0);
			if (n <= 0)
				break;
			sent += (uint64_t)n;
			if ((uint64_t)n < want)
				break;
		}
		while (ss >= 0 && (n = sock_recv(b.srv, ss, buf, CHUNK, 0)) > 0) {
			if (memcmp(buf, pat + rcvd % 251, (size_t)n) != 0) {
				fprintf(stderr, "bulk: bad data near byte %llu\n",
					(unsigned long long)rcvd);
				goto out;
			}
			rcvd += (uint64_t)n;
			stall = b.now;
		}
		if (b.now - stall > 5000000) {
			fprintf(stderr, "bulk: stalled at %llu of %llu bytes\n",
				(unsigned long long)rcvd, (unsigned long long)total);
			goto out;
		}
	}
	t1 = mono_us();
	c1 = cpu_us();
	printf("bulk: %.2f Gbit/s (%llu MiB in %.3f s, one core, both stacks; %.2f Gbit/s per CPU "
	       "second)\n",
	       (double)rcvd * 8 / ((double)(t1 - t0) * 1000), (unsigned long long)(rcvd >> 20),
	       (double)(t1 - t0) / 1e6, (double)rcvd * 8 / ((double)(c1 - c0 + 1) * 1000));
	rc = 0;
out:
	teardown(&b);
	return rc;
}

enum { C_FREE, C_CONNECTING, C_WAIT_REPLY, C_WAIT_EOF };

struct slot {
	int state, cs;
	uint8_t req[64];
};

struct srv_conn {
	int sd;
	uint8_t got;
};

static int bench_conn(unsigned total, unsigned par)
{
	struct bench b;
	struct sockaddr_in dst;
	struct slot *sl = calloc(par, sizeof(*sl));
	struct srv_conn *sv = calloc(par * 4 + 16, sizeof(*sv));
	unsigned started = 0, done = 0, nsv = 0, i, j;
	uint64_t t0, t1, c0, c1, last_progress;
	uint8_t buf[128];
	int ls, rc = 1;
	ssize_t n;

	if (!sl || !sv || setup(&b, 16384, total + par * 4 + 64) ||
	    (ls = listen_on(&b, 5002, &dst)) < 0) {
		fprintf(stderr, "conn: set-up failed\n");
		goto out;
	}
	t0 = mono_us();
	c0 = cpu_us();
	b.now = t0;
	last_progress = t0;
	while (done < total && b.now - t0 < LIMIT_US) {
		pump(&b);
		/* Server: accept, read the 64-byte request, echo it, close. */
		while (nsv < par * 4 + 16) {
			int sd = sock_accept(b.srv, ls, NULL);

			if (sd < 0)
				break;
			sv[nsv].sd = sd;
			sv[nsv++].got = 0;
		}
		for (j = 0; j < nsv; j++) {
			n = sock_recv(b.srv, sv[j].sd, buf, 64 - sv[j].got, 0);
			if (n <= 0)
				continue;
			sv[j].got = (uint8_t)(sv[j].got + n);
			if (sv[j].got < 64)
				continue;
			/* The request is a counter pattern; the reply repeats its first byte. */
			memset(buf, buf[0], 64);
			if (sock_send(b.srv, sv[j].sd, buf, 64, 0) != 64 ||
			    sock_close(b.srv, sv[j].sd) != 0) {
				fprintf(stderr, "conn: server send/close failed\n");
				goto out;
			}
			sv[j--] = sv[--nsv];
		}
		/* Clients. */
		for (i = 0; i < par; i++) {
			struct slot *s = &sl[i];

			switch (s->state) {
			case C_FREE:
				if (started >= total)
					break;
				s->cs = sock_socket(b.cli);
				if (s->cs < 0 ||
				    sock_connect(b.cli, s->cs, &dst, b.now) != -EINPROGRESS) {
					fprintf(stderr, "conn: socket/connect: %d\n", s->cs);
					goto out;
				}
				memset(s->req, (uint8_t)started, 64);
				started++;
				s->state = C_CONNECTING;
				break;
			case C_CONNECTING:
				if (!(sock_events(b.cli, s->cs) & EPOLLOUT))
					break;
				if (sock_send(b.cli, s->cs, s->req, 64, 0) != 64) {
					fprintf(stderr, "conn: connect failed: %d\n",
						sock_error(b.cli, s->cs));
					goto out;
				}
				s->state = C_WAIT_REPLY;
				break;
			case C_WAIT_REPLY:
				n = sock_recv(b.cli, s->cs, buf, 64, 0);
				if (n == -EAGAIN)
					break;
				if (n != 64 || memcmp(buf, s->req, 64) != 0) {
					fprintf(stderr, "conn: bad reply (%zd)\n", n);
					goto out;
				}
				s->state = C_WAIT_EOF;
				/* fall through */
			case C_WAIT_EOF:
				n = sock_recv(b.cli, s->cs, buf, sizeof(buf), 0);
				if (n == -EAGAIN)
					break;
				if (n != 0) {
					fprintf(stderr, "conn: expected EOF, got %zd\n", n);
					goto out;
				}
				sock_close(b.cli, s->cs);
				s->state = C_FREE;
				done++;
				last_progress = b.now;
				break;
			}
		}
		if (b.now - last_progress > 5000000) {
			fprintf(stderr, "conn: stalled after %u of %u connections\n", done, total);
			goto out;
		}
	}
	t1 = mono_us();
	c1 = cpu_us();
	/* Let the last FINs and ACKs settle before the counts. */
	for (i = 0; i < 100; i++)
		pump(&b);
	printf("conn: %.0f connections/s (%u in %.3f s, %u in parallel, one core, both stacks; "
	       "%.0f per CPU second)\n",
	       done / ((double)(t1 - t0) / 1e6), done, (double)(t1 - t0) / 1e6, par,
	       done / ((double)(c1 - c0 + 1) / 1e6));
	rc = 0;
out:
	teardown(&b);
	free(sl);
	free(sv);
	return rc;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (argc == 1) /* bench/run.sh runs it without arguments: both, bounded */
		return bench_bulk(4096) | bench_conn(200000, 64);
	if (strcmp(mode, "bulk") == 0)
		return bench_bulk(argc > 2 ? strtoull(argv[2], NULL, 0) : 1024);
	if (strcmp(mode, "conn") == 0)
		return bench_conn(argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 50000,
				  argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 64);
	fprintf(stderr, "usage: stack_bench bulk [MB] | conn [N] [PARALLEL]\n");
	return 2;
}
