/*
 * posix_srv.c - test server written against plain POSIX sockets, to run
 * once on the kernel and once under LD_PRELOAD=libxtcp.so with identical
 * results (the client, posix_cli, prints what it observed).
 *
 *   posix_srv -m block|thread|epoll -p PORT [-a ADDR]
 *
 * block:  one connection at a time, blocking calls, in the main thread
 * thread: a detached thread per connection, blocking calls
 * epoll:  one thread, non-blocking sockets, edge-triggered epoll; serves
 *         OP_UPLOAD, OP_DOWNLOAD, OP_ECHO, OP_RST, OP_HALFCLOSE, OP_RESULT
 * Map: main() -> serve_block() / serve_threads() / serve_epoll();
 * conn_handle() runs one connection of the blocking modes (one function
 * per op); results of ops the client cannot see itself (SIGPIPE, peer
 * death, half-close) are kept by seed and fetched with OP_RESULT.
 * Prints "listening" on stdout once the socket listens.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "posix_proto.h"

static volatile sig_atomic_t sigpipes;

/* ---- results, kept by seed ---- */
#define NRES 64
static struct {
	uint32_t seed;
	int valid;
	char line[128];
} results[NRES];
static unsigned res_next;
static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t res_cv = PTHREAD_COND_INITIALIZER;

static void result_put(uint32_t seed, const char *line)
{
	pthread_mutex_lock(&res_mu);
	results[res_next % NRES].seed = seed;
	results[res_next % NRES].valid = 1;
	snprintf(results[res_next % NRES].line, sizeof(results[0].line), "%s", line);
	res_next++;
	pthread_cond_broadcast(&res_cv);
	pthread_mutex_unlock(&res_mu);
}

/* Copy the result for seed into out; waits up to 5 s. 0 or -1. */
static int result_get(uint32_t seed, char *out, size_t n, int wait)
{
	struct timespec dl;
	int i, rc = -1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&res_mu);
	for (;;) {
		for (i = 0; i < NRES; i++)
			if (results[i].valid && results[i].seed == seed) {
				snprintf(out, n, "%s", results[i].line);
				rc = 0;
			}
		if (rc == 0 || !wait || pthread_cond_timedwait(&res_cv, &res_mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&res_mu);
	return rc;
}

static const char *errname(int e)
{
	switch (e) {
	case 0:
		return "0";
	case EPIPE:
		return "EPIPE";
	case ECONNRESET:
		return "ECONNRESET";
	case EAGAIN:
		return "EAGAIN";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ENOTCONN:
		return "ENOTCONN";
	case EINTR:
		return "EINTR";
	default:
		return "other";
	}
}

/* ---- blocking helpers ---- */

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Read until EOF; returns the byte count, or -1 on error / mismatch / excess. */
static int64_t recv_pattern(int fd, uint32_t seed, uint64_t size)
{
	static __thread uint8_t buf[CHUNK];
	uint64_t got = 0;
	struct pat p;
	ssize_t r;

	pat_init(&p, seed);
	for (;;) {
		r = read(fd, buf, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (int64_t)got;
		if (got + (uint64_t)r > size || pat_check(&p, buf, (size_t)r) >= 0)
			return -1;
		got += (uint64_t)r;
	}
}

/* ---- one op each (blocking modes) ---- */

static void op_upload(int fd, uint64_t size, uint32_t seed)
{
	char line[64];
	int64_t got = recv_pattern(fd, seed, size);

	if (got == (int64_t)size)
		snprintf(line, sizeof(line), "ok %llu\n", (unsigned long long)size);
	else
		snprintf(line, sizeof(line), "bad %lld\n", (long long)got);
	write_full(fd, line, strlen(line));
}

static void op_echo(int fd)
{
	static __thread uint8_t buf[CHUNK];
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
		if (r > 0 && write_full(fd, buf, (size_t)r))
			break;
}

static void op_rst(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static void op_sigpipe(int fd, uint32_t seed)
{
	char line[128], c;
	ssize_t r;
	int e_recv, e_w, e_s, s0, s1, s2;
	ssize_t rw, rs;

	if (write_full(fd, "R", 1))
		return;
	r = recv(fd, &c, 1, 0); /* blocks until the client's reset */
	e_recv = r < 0 ? errno : 0;
	s0 = sigpipes;
	rw = write(fd, "x", 1);
	e_w = rw < 0 ? errno : 0;
	s1 = sigpipes;
	rs = send(fd, "x", 1, MSG_NOSIGNAL);
	e_s = rs < 0 ? errno : 0;
	s2 = sigpipes;
	snprintf(line, sizeof(line), "recv=%zd/%s write=%zd/%s sig=%d send_nosignal=%zd/%s sig=%d",
		 r, errname(e_recv), rw, errname(e_w), s1 - s0, rs, errname(e_s), s2 - s1);
	result_put(seed, line);
}

static void op_timeo(int fd)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
	struct timespec a, b;
	char line[96], c;
	ssize_t r;
	long ms;
	int e;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = recv(fd, &c, 1, 0);
	e = r < 0 ? errno : 0;
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	snprintf(line, sizeof(line), "timeo r=%zd errno=%s elapsed_ok=%d\n", r,
		 e == EWOULDBLOCK ? "EAGAIN" : errname(e), ms >= 250 && ms < 3000);
	if (write_full(fd, line, strlen(line)))
		return;
	/* The socket still works after a timeout. */
	tv.tv_sec = 10;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r = recv(fd, &c, 1, 0);
	snprintf(line, sizeof(line), "got %c\n", r == 1 ? c : '?');
	write_full(fd, line, strlen(line));
}

static void op_peerdeath(int fd, uint32_t seed)
{
	uint8_t buf[1000];
	char line[64];
	ssize_t r;

	if (read_full(fd, buf, sizeof(buf)) || write_full(fd, "R", 1))
		return;
	do
		r = read(fd, buf, sizeof(buf));
	while (r > 0 || (r < 0 && errno == EINTR));
	snprintf(line, sizeof(line), "peerdeath %s", r == 0 ? "eof" : errname(errno));
	result_put(seed, line);
}

static void op_halfclose(int fd, uint64_t size, uint32_t seed)
{
	char line[64];
	int64_t got;

	if (send_pattern(fd, seed, size) || shutdown(fd, SHUT_WR)) {
		result_put(seed, "halfclose send failed");
		return;
	}
	got = recv_pattern(fd, seed + 1, size);
	snprintf(line, sizeof(line), "halfclose %s %lld", got == (int64_t)size ? "ok" : "bad",
		 (long long)got);
	result_put(seed, line);
}

static void op_result(int fd, uint32_t seed)
{
	char line[140];

	if (result_get(seed, line, sizeof(line) - 1, 1))
		snprintf(line, sizeof(line), "no result");
	strcat(line, "\n");
	write_full(fd, line, strlen(line));
}

static void conn_handle(int fd)
{
	uint8_t h[PROTO_HDR];
	uint32_t op, seed;
	uint64_t size;

	if (read_full(fd, h, sizeof(h)) || proto_parse(h, &op, &size, &seed)) {
		close(fd);
		return;
	}
	switch (op) {
	case OP_UPLOAD:
		op_upload(fd, size, seed);
		break;
	case OP_DOWNLOAD:
		send_pattern(fd, seed, size);
		break;
	case OP_ECHO:
		op_echo(fd);
		break;
	case OP_RST:
		op_rst(fd);
		break;
	case OP_SIGPIPE:
		op_sigpipe(fd, seed);
		break;
	case OP_TIMEO:
		op_timeo(fd);
		break;
	case OP_PEERDEATH:
		op_peerdeath(fd, seed);
		break;
	case OP_HALFCLOSE:
		op_halfclose(fd, size, seed);
		break;
	case OP_RESULT:
		op_result(fd, seed);
		break;
	}
	close(fd);
}

/* ---- the three server shapes ---- */

static void serve_block(int ls)
{
	for (;;) {
		int fd = accept(ls, NULL, NULL);

		if (fd >= 0)
			conn_handle(fd);
		else if (errno != EINTR)
			perror("accept");
	}
}

static void *conn_thread(void *arg)
{
	conn_handle((int)(intptr_t)arg);
	return NULL;
}

static void serve_threads(int ls)
{
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t th;
		int fd = accept(ls, NULL, NULL);

		if (fd < 0) {
			if (errno != EINTR)
				perror("accept");
			continue;
		}
		if (pthread_create(&th, &at, conn_thread, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}

/* Edge-triggered: each event runs the connection as far as it can go. */
struct econn {
	int fd;
	uint8_t h[PROTO_HDR];
	unsigned hlen;
	uint32_t op, seed;
	uint64_t size, done; /* bytes sent (download, halfclose phase 1) */
	uint64_t got;	     /* bytes received and checked */
	int phase, bad;
	struct pat tx, rx;
	uint8_t buf[CHUNK];
	size_t boff, blen; /* echo: bytes buffered, not yet written */
	char line[64];
	size_t loff, llen; /* a reply line being written */
};

/* Write what is pending in c->line; 1 when all written, 0 on EAGAIN, -1 error. */
static int e_flush_line(struct econn *c)
{
	while (c->loff < c->llen) {
		ssize_t r = write(c->fd, c->line + c->loff, c->llen - c->loff);

		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		c->loff += (size_t)r;
	}
	return 1;
}

/* Send the pattern up to c->size; 1 done, 0 EAGAIN, -1 error. */
static int e_send(struct econn *c)
{
	while (c->done < c->size) {
		size_t n = c->size - c->done < CHUNK ? (size_t)(c->size - c->done) : CHUNK;
		ssize_t r;

		if (!c->blen) { /* keep the unsent rest of a chunk in buf */
			pat_fill(&c->tx, c->buf, n);
			c->boff = 0;
			c->blen = n;
		}
		r = write(c->fd, c->buf + c->boff, c->blen);
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		c->boff += (size_t)r;
		c->blen -= (size_t)r;
		c->done += (size_t)r;
	}
	return 1;
}

/* Receive and check until EOF; 1 at EOF, 0 EAGAIN, -1 error. */
static int e_recv(struct econn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->buf, CHUNK);

		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		if (r == 0)
			return 1;
		if (c->got + (uint64_t)r > c->size || pat_check(&c->rx, c->buf, (size_t)r) >= 0)
			c->bad = 1;
		c->got += (uint64_t)r;
	}
}

/* Returns 1 when the connection is finished (caller closes it). */
static int e_progress(struct econn *c)
{
	int r;

	while (c->hlen < PROTO_HDR) {
		ssize_t n = read(c->fd, c->h + c->hlen, PROTO_HDR - c->hlen);

		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return 1;
		c->hlen += (unsigned)n;
		if (c->hlen == PROTO_HDR) {
			if (proto_parse(c->h, &c->op, &c->size, &c->seed))
				return 1;
			pat_init(&c->tx, c->seed);
			pat_init(&c->rx, c->op == OP_HALFCLOSE ? c->seed + 1 : c->seed);
		}
	}
	switch (c->op) {
	case OP_UPLOAD:
		if (c->phase == 0) {
			r = e_recv(c);
			if (r <= 0)
				return r < 0;
			c->bad |= c->got != c->size;
			c->llen = (size_t)snprintf(c->line, sizeof(c->line),
						   c->bad ? "bad %llu\n" : "ok %llu\n",
						   (unsigned long long)c->got);
			c->phase = 1;
		}
		return e_flush_line(c) != 0;
	case OP_DOWNLOAD:
		return e_send(c) != 0;
	case OP_ECHO:
		for (;;) {
			ssize_t n;

			while (c->blen) {
				n = write(c->fd, c->buf + c->boff, c->blen);
				if (n < 0)
					return errno == EAGAIN ? 0 : 1;
				c->boff += (size_t)n;
				c->blen -= (size_t)n;
			}
			n = read(c->fd, c->buf, CHUNK);
			if (n < 0)
				return errno == EAGAIN ? 0 : 1;
			if (n == 0)
				return 1;
			c->boff = 0;
			c->blen = (size_t)n;
		}
	case OP_RST:
		op_rst(c->fd);
		return 1;
	case OP_HALFCLOSE:
		if (c->phase == 0) {
			r = e_send(c);
			if (r <= 0)
				return r < 0;
			shutdown(c->fd, SHUT_WR);
			c->phase = 1;
		}
		r = e_recv(c);
		if (r == 0)
			return 0;
		snprintf(c->line, sizeof(c->line), "halfclose %s %lld",
			 r == 1 && !c->bad && c->got == c->size ? "ok" : "bad", (long long)c->got);
		result_put(c->seed, c->line);
		return 1;
	case OP_RESULT:
		if (c->phase == 0) {
			if (result_get(c->seed, c->line, sizeof(c->line) - 1, 0))
				snprintf(c->line, sizeof(c->line), "no result");
			strcat(c->line, "\n");
			c->llen = strlen(c->line);
			c->phase = 1;
		}
		return e_flush_line(c) != 0;
	default:
		return 1;
	}
}

static void serve_epoll(int ls)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = NULL}, evs[64];
	int ep = epoll_create1(0), n, i;

	fcntl(ls, F_SETFL, O_NONBLOCK);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev)) {
		perror("epoll");
		exit(1);
	}
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			struct econn *c = evs[i].data.ptr;

			if (!c) { /* the listener: accept until EAGAIN (edge-triggered) */
				int fd;

				while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			if (e_progress(c)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				free(c);
			}
		}
	}
}

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6}; /* -a with an IPv6 address */
	int use6 = 0;
	struct sigaction sa = {.sa_handler = on_sigpipe};
	const char *mode = "block";
	int opt, ls, one = 1;

	while ((opt = getopt(argc, argv, "m:p:a:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'p':
			a.sin_port = htons((uint16_t)atoi(optarg));
			a6.sin6_port = a.sin_port;
			break;
		case 'a':
			use6 = strchr(optarg, ':') != NULL;
			if (use6 ? inet_pton(AF_INET6, optarg, &a6.sin6_addr) != 1
				 : inet_pton(AF_INET, optarg, &a.sin_addr) != 1) {
				fprintf(stderr, "bad address %s\n", optarg);
				return 2;
			}
			break;
		default:
			fprintf(stderr,
				"usage: posix_srv -m block|thread|epoll -p PORT [-a ADDR]\n");
			return 2;
		}
	}
	/* A handler (not SIG_IGN) so the test sees whether SIGPIPE was raised. */
	sigaction(SIGPIPE, &sa, NULL);
	ls = socket(use6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (use6 ? bind(ls, (struct sockaddr *)&a6, sizeof(a6))
		  : bind(ls, (struct sockaddr *)&a, sizeof(a))) ||
	    listen(ls, 128)) {
		perror("posix_srv: listen");
		return 1;
	}
	/*
	 * A first look makes xtcp serve the listener now (its AF_XDP socket
	 * opens at first use): a SYN before that goes to the kernel's listener.
	 */
	struct pollfd first = {.fd = ls, .events = POLLIN};

	poll(&first, 1, 0);
	printf("listening\n");
	fflush(stdout);
	if (strcmp(mode, "block") == 0)
		serve_block(ls);
	else if (strcmp(mode, "thread") == 0)
		serve_threads(ls);
	else if (strcmp(mode, "epoll") == 0)
		serve_epoll(ls);
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}
