/*
 * cpuserver.c - a small epoll HTTP server whose every request costs a fixed
 * amount of application CPU (benchmark workload 3, bench/run.sh).
 *
 * Job: show whether a cheaper network stack leaves more of the core to the
 * application. Each complete GET request costs ROUNDS passes of FNV-1a over a
 * 64-byte block seeded by the request (see work(); 250 rounds are about 20 us
 * on a 3 GHz core) and is answered with a 64-byte body carrying the hash.
 *
 * Call order: main() -> srv_listen() -> srv_loop(): epoll_wait() ->
 *   srv_accept() (accept4 until EAGAIN) | conn_read() -> conn_requests()
 *   -> conn_reply() -> conn_flush(); EPOLLOUT -> conn_flush().
 *
 * Memory: one struct conn per accepted fd, allocated at accept and freed at
 * close; conns[] is indexed by fd. Nothing else is allocated after start.
 *
 * Plain POSIX sockets + epoll, one thread, no library: it runs unmodified on
 * the kernel and under LD_PRELOAD=libxtcp.so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX	   8192 /* larger request headers get 431 and a close */
#define BODY_LEN   64	/* like the nginx workloads' 64-byte file */
#define EVENTS_MAX 256
#define ROUNDS_MAX 1000000
#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

struct conn {
	int fd;
	int keep_alive;	   /* of the request being answered */
	int closing;	   /* close once out[] is flushed */
	size_t in_len;	   /* bytes in in[] */
	size_t out_len;	   /* bytes in out[] not yet written */
	size_t out_off;	   /* first unwritten byte of out[] */
	char in[REQ_MAX];  /* request bytes not yet answered */
	char out[REQ_MAX]; /* responses not yet written (EAGAIN) */
};

static volatile sig_atomic_t stop;
static struct conn **conns;
static int conns_max;
static int epfd;
static unsigned rounds = 250;
static unsigned long long served;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * The fixed work per request: FNV-1a over the request once, then ROUNDS
 * passes over a 64-byte block, each step depending on the previous one, so
 * the cost is the same for any request and cannot be optimised away.
 */
static uint64_t work(const char *req, size_t len)
{
	uint64_t h = FNV_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)req[i]) * FNV_PRIME;
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = 0; i < 64; i++)
			h = (h ^ ((r + i) & 0xff)) * FNV_PRIME;
	return h;
}

static void conn_close(struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conns[c->fd] = NULL;
	free(c);
}

/* Write what is queued; returns -1 if the connection was closed. */
static int conn_flush(struct conn *c)
{
	while (c->out_len > 0) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};

			epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (n <= 0) {
			conn_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
	}
	c->out_off = 0;
	if (c->closing) {
		conn_close(c);
		return -1;
	}
	return 0;
}

static int conn_queue(struct conn *c, const char *buf, size_t len)
{
	if (c->out_off + c->out_len + len > sizeof(c->out)) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	if (c->out_len + len > sizeof(c->out))
		return -1; /* a client that pipelines without reading: drop it */
	memcpy(c->out + c->out_off + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

/* Case-insensitive search for a header line "name: value" inside hdr. */
static int has_header(const char *hdr, size_t len, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	for (size_t i = 0; i + nl + vl + 2 <= len; i++) {
		if ((i == 0 || hdr[i - 1] == '\n') && strncasecmp(hdr + i, name, nl) == 0 &&
		    hdr[i + nl] == ':') {
			size_t j = i + nl + 1;

			while (j < len && hdr[j] == ' ')
				j++;
			return j + vl <= len && strncasecmp(hdr + j, value, vl) == 0;
		}
	}
	return 0;
}

static int conn_reply(struct conn *c, const char *req, size_t len)
{
	char resp[512], body[BODY_LEN + 1];
	const char *eol = memchr(req, '\n', len);
	int http10 = eol != NULL && memmem(req, (size_t)(eol - req), "HTTP/1.0", 8) != NULL;
	int is_get = len >= 4 && memcmp(req, "GET ", 4) == 0;
	int n;

	if (http10)
		c->keep_alive = has_header(req, len, "Connection", "keep-alive");
	else
		c->keep_alive = !has_header(req, len, "Connection", "close");
	if (!is_get) {
		static const char bad[] = "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
					  "Connection: close\r\n\r\n";
		c->closing = 1;
		return conn_queue(c, bad, sizeof(bad) - 1);
	}
	n = snprintf(body, sizeof(body), "%016llx", (unsigned long long)work(req, len));
	memset(body + n, '.', BODY_LEN - 1 - n);
	body[BODY_LEN - 1] = '\n';
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 200 OK\r\nServer: xtcp-cpuserver\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\nConnection: %s\r\n\r\n",
		     BODY_LEN, c->keep_alive ? "keep-alive" : "close");
	memcpy(resp + n, body, BODY_LEN);
	if (!c->keep_alive)
		c->closing = 1;
	served++;
	return conn_queue(c, resp, (size_t)n + BODY_LEN);
}

/* Answer every complete request in in[]; returns -1 if the conn was closed. */
static int conn_requests(struct conn *c)
{
	size_t off = 0;

	while (!c->closing) {
		char *end = memmem(c->in + off, c->in_len - off, "\r\n\r\n", 4);
		size_t len;

		if (end == NULL)
			break;
		len = (size_t)(end - (c->in + off)) + 4;
		if (conn_reply(c, c->in + off, len) < 0) {
			conn_close(c);
			return -1;
		}
		off += len;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->in_len == sizeof(c->in)) {
		static const char big[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
					  "Content-Length: 0\r\nConnection: close\r\n\r\n";
		c->in_len = 0;
		c->closing = 1;
		conn_queue(c, big, sizeof(big) - 1);
	}
	return conn_flush(c);
}

static void conn_read(struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		if (conn_requests(c) < 0)
			return;
		if (c->closing)
			return; /* waiting for out[] to drain */
	}
}

static void srv_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		struct conn *c;
		int one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("cpuserver: accept4");
			return;
		}
		c = fd < conns_max ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			fprintf(stderr, "cpuserver: dropping fd %d (out of memory or fds)\n", fd);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		conns[fd] = c;
		ev.data.fd = fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("cpuserver: epoll_ctl");
			conns[fd] = NULL;
			close(fd);
			free(c);
		}
	}
}

static int srv_listen(const char *addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct epoll_event ev = {.events = EPOLLIN};
	int one = 1, fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "cpuserver: bad IPv4 address '%s'\n", addr);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("cpuserver: socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8192) < 0) {
		fprintf(stderr, "cpuserver: bind/listen %s:%d: %s\n", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	ev.data.fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("cpuserver: epoll_ctl");
		close(fd);
		return -1;
	}
	return fd;
}

static void srv_loop(int lfd)
{
	struct epoll_event evs[EVENTS_MAX];

	while (!stop) {
		int n = epoll_wait(epfd, evs, EVENTS_MAX, 1000);

		if (n < 0 && errno != EINTR) {
			perror("cpuserver: epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct conn *c;

			if (fd == lfd) {
				srv_accept(lfd);
				continue;
			}
			c = conns[fd];
			if (c == NULL)
				continue;
			if ((evs[i].events & EPOLLOUT) && c->out_len > 0) {
				struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

				epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
				if (conn_flush(c) < 0)
					continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: cpuserver [-a IPV4] [-p PORT] [-r ROUNDS]\n"
		"  -a  address to listen on (default 0.0.0.0)\n"
		"  -p  TCP port (default 80)\n"
		"  -r  hash rounds over the request per request, 0-%d (default 250)\n",
		ROUNDS_MAX);
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cpuserver: bad %s '%s' (expected %ld-%ld)\n", what, s, lo, hi);
		usage();
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *addr = "0.0.0.0";
	struct sigaction sa = {.sa_handler = on_signal};
	struct rlimit rl;
	int port = 80, opt, lfd;

	while ((opt = getopt(argc, argv, "a:p:r:h")) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = (int)parse_num(optarg, 1, 65535, "port");
			break;
		case 'r':
			rounds = (unsigned)parse_num(optarg, 0, ROUNDS_MAX, "rounds");
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	conns_max = 65536;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)conns_max)
		conns_max = (int)rl.rlim_cur;
	conns = calloc((size_t)conns_max, sizeof(*conns));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (conns == NULL || epfd < 0) {
		perror("cpuserver: setup");
		return 1;
	}
	lfd = srv_listen(addr, port);
	if (lfd < 0)
		return 1;
	fprintf(stderr, "cpuserver: listening on %s:%d, %u hash rounds per request\n", addr, port,
		rounds);
	srv_loop(lfd);
	for (int fd = 0; fd < conns_max; fd++)
		if (conns[fd] != NULL)
			conn_close(conns[fd]);
	close(lfd);
	close(epfd);
	free(conns);
	fprintf(stderr, "cpuserver: served %llu requests\n", served);
	return 0;
}
