/*
 * ratecli.c - a fixed-rate (open-loop) HTTP/1.1 keep-alive load generator
 * that reports latency percentiles (benchmark workload 6, bench/run.sh).
 *
 * Job: measure latency at a given request rate, which closed-loop tools
 * (ab, wrk) cannot do: they send the next request only when the previous
 * answer arrived, so a slow server lowers the load instead of showing its
 * delay. wrk2 does this but is not packaged in Debian.
 *
 * Method: request i is due at start + i/RATE. When it is due it goes out on
 * an idle connection of the pool; if none is idle it waits and is sent as
 * soon as one frees up. Latency runs from the due time (not the send time)
 * to the last byte of the response, so queueing delay caused by a slow server
 * is counted (no "coordinated omission"). Requests still unanswered 2 s after
 * the end count as timeouts.
 *
 * Call order: main() -> cli_connect() for each connection -> cli_run():
 *   loop { send due requests -> epoll_pwait2(until next due) -> conn_read()
 *   -> response complete -> record latency } -> report().
 *
 * Memory: the latency array (one uint32 of microseconds per request) and
 * the connection pool are allocated once at start.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX  16384
#define CONNS_MAX 4096
#define DRAIN_NS  2000000000ULL

struct conn {
	int fd;
	int busy;	    /* a request is outstanding */
	uint64_t due_ns;    /* due time of the outstanding request */
	size_t len;	    /* bytes in buf */
	char buf[RESP_MAX]; /* response bytes received so far */
};

struct opts {
	struct sockaddr_in addr;
	const char *host;
	const char *path;
	double rate;
	int conns;
	double seconds;
};

static struct conn *pool;
static int npool;
static int epfd;
static char request[512];
static size_t request_len;
static uint32_t *lat_us;
static uint64_t lat_cap, lat_n;
static uint64_t errors, timeouts;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cli_connect(struct conn *c, const struct sockaddr_in *sa)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int err = errno;

		close(c->fd);
		c->fd = -1;
		return -err;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int err = errno;

		close(c->fd);
		c->fd = -1;
		return -err;
	}
	c->busy = 0;
	c->len = 0;
	return 0;
}

/* A broken connection: count it, and replace it (blocking connect). */
static void conn_fail(struct conn *c, const struct opts *o)
{
	errors++;
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->busy = 0;
	cli_connect(c, &o->addr);
}

static void record(uint64_t lat_ns)
{
	uint64_t us = lat_ns / 1000;

	if (lat_n < lat_cap)
		lat_us[lat_n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Length of a complete response at the head of buf, 0 if incomplete, -1 if bad. */
static long response_len(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	size_t hdr, body = 0;

	if (end == NULL)
		return len >= RESP_MAX ? -1 : 0;
	hdr = (size_t)(end - buf) + 4;
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[9] != '2')
		return -1;
	for (const char *p = buf; p < end; p++) {
		if ((p == buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) {
			body = strtoul(p + 15, NULL, 10);
			break;
		}
	}
	if (hdr + body > RESP_MAX)
		return -1;
	return len >= hdr + body ? (long)(hdr + body) : 0;
}

static void conn_read(struct conn *c, const struct opts *o)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		long rl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_fail(c, o);
			return;
		}
		c->len += (size_t)n;
		rl = response_len(c->buf, c->len);
		if (rl < 0 || (rl > 0 && !c->busy)) {
			conn_fail(c, o); /* not HTTP 2xx, or an answer nobody asked for */
			return;
		}
		if (rl > 0) {
			record(now_ns() - c->due_ns);
			c->busy = 0;
			memmove(c->buf, c->buf + rl, c->len - (size_t)rl);
			c->len -= (size_t)rl;
			return;
		}
	}
}

static struct conn *idle_conn(void)
{
	static int next;

	for (int i = 0; i < npool; i++) {
		struct conn *c = &pool[(next + i) % npool];

		if (!c->busy && c->fd >= 0) {
			next = (next + i + 1) % npool;
			return c;
		}
	}
	return NULL;
}

static int conn_send(struct conn *c, uint64_t due, const struct opts *o)
{
	ssize_t n = send(c->fd, request, request_len, MSG_NOSIGNAL);

	if (n != (ssize_t)request_len) {
		/* A 100-byte request into an idle socket never fills its buffer. */
		conn_fail(c, o);
		return -1;
	}
	c->busy = 1;
	c->due_ns = due;
	return 0;
}

static uint64_t cli_run(const struct opts *o)
{
	uint64_t period = (uint64_t)(1e9 / o->rate);
	uint64_t start = now_ns(), end = start + (uint64_t)(o->seconds * 1e9);
	uint64_t next_due = start, sent = 0;
	struct epoll_event evs[64];

	for (;;) {
		uint64_t now = now_ns(), wait_ns;
		struct timespec ts;
		int outstanding = 0, n;

		while (next_due < end && next_due <= now) {
			struct conn *c = idle_conn();

			if (c == NULL)
				break;
			if (conn_send(c, next_due, o) == 0) {
				sent++;
				next_due += period;
			}
		}
		for (int i = 0; i < npool; i++)
			outstanding += pool[i].busy;
		if (next_due >= end && outstanding == 0)
			break;
		if (now > end + DRAIN_NS) {
			timeouts += (uint64_t)outstanding;
			break;
		}
		wait_ns = next_due < end && next_due > now ? next_due - now : 1000000;
		if (next_due < end && next_due <= now)
			wait_ns = 1000000; /* due but no idle connection: wait for one */
		ts.tv_sec = (time_t)(wait_ns / 1000000000ULL);
		ts.tv_nsec = (long)(wait_ns % 1000000000ULL);
		n = epoll_pwait2(epfd, evs, 64, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			perror("ratecli: epoll_pwait2");
			break;
		}
		for (int i = 0; i < n; i++)
			conn_read(evs[i].data.ptr, o);
	}
	/* Requests never sent because every connection stayed busy count as timeouts. */
	if (next_due < end)
		timeouts += (end - next_due) / period;
	return sent;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	uint64_t i;

	if (lat_n == 0)
		return 0;
	i = (uint64_t)(p / 100.0 * (double)(lat_n - 1) + 0.5);
	return lat_us[i];
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ratecli -a IPV4 [-p PORT] [-u PATH] -r RATE [-c CONNS] [-d SECONDS]\n"
		"  fixed-rate HTTP/1.1 keep-alive GETs; latency from each request's due time\n"
		"  -r  requests per second (1-10000000)   -c  connections (1-%d, default 32)\n"
		"  -d  seconds (default 10)               -u  path (default /)\n",
		CONNS_MAX);
}

static double parse_num(const char *s, double lo, double hi, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "ratecli: bad %s '%s' (expected %g-%g)\n", what, s, lo, hi);
		usage();
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct opts o = {.path = "/", .conns = 32, .seconds = 10};
	uint64_t t0, t1, sent;
	int opt, port = 80;

	o.addr.sin_family = AF_INET;
	while ((opt = getopt(argc, argv, "a:p:u:r:c:d:h")) != -1) {
		switch (opt) {
		case 'a':
			o.host = optarg;
			break;
		case 'p':
			port = (int)parse_num(optarg, 1, 65535, "port");
			break;
		case 'u':
			o.path = optarg;
			break;
		case 'r':
			o.rate = parse_num(optarg, 1, 1e7, "rate");
			break;
		case 'c':
			o.conns = (int)parse_num(optarg, 1, CONNS_MAX, "connections");
			break;
		case 'd':
			o.seconds = parse_num(optarg, 0.1, 3600, "seconds");
			break;
		default:
			usage();
			return 2;
		}
	}
	if (o.host == NULL || o.rate == 0 || optind != argc) {
		usage();
		return 2;
	}
	if (inet_pton(AF_INET, o.host, &o.addr.sin_addr) != 1) {
		fprintf(stderr, "ratecli: bad IPv4 address '%s'\n", o.host);
		return 2;
	}
	o.addr.sin_port = htons((uint16_t)port);
	request_len = (size_t)snprintf(
		request, sizeof(request),
		"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xtcp-ratecli\r\n\r\n", o.path, o.host);
	if (request_len >= sizeof(request)) {
		fprintf(stderr, "ratecli: path too long\n");
		return 2;
	}
	lat_cap = (uint64_t)(o.rate * o.seconds) + 16;
	lat_us = malloc(lat_cap * sizeof(*lat_us));
	pool = calloc((size_t)o.conns, sizeof(*pool));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lat_us == NULL || pool == NULL || epfd < 0) {
		fprintf(stderr, "ratecli: out of memory\n");
		return 1;
	}
	for (npool = 0; npool < o.conns; npool++) {
		int err = cli_connect(&pool[npool], &o.addr);

		if (err < 0) {
			fprintf(stderr, "ratecli: connect %s:%d: %s\n", o.host, port,
				strerror(-err));
			return 1;
		}
	}
	t0 = now_ns();
	sent = cli_run(&o);
	t1 = now_ns();
	qsort(lat_us, lat_n, sizeof(*lat_us), cmp_u32);
	printf("ratecli: target_rate %.0f sent %llu done %llu errors %llu timeouts %llu "
	       "seconds %.3f achieved_rate %.1f p50_us %.0f p90_us %.0f p99_us %.0f "
	       "p999_us %.0f max_us %.0f\n",
	       o.rate, (unsigned long long)sent, (unsigned long long)lat_n,
	       (unsigned long long)errors, (unsigned long long)timeouts, (double)(t1 - t0) / 1e9,
	       (double)lat_n / o.seconds, pct(50), pct(90), pct(99), pct(99.9),
	       lat_n ? (double)lat_us[lat_n - 1] : 0.0);
	for (int i = 0; i < npool; i++)
		if (pool[i].fd >= 0)
			close(pool[i].fd);
	free(pool);
	free(lat_us);
	return errors || timeouts ? 1 : 0;
}
