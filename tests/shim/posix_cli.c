/*
 * posix_cli.c - test client for posix_srv: runs every case against one
 * server and prints one deterministic line per case ("ok ...", "FAIL ...",
 * "skip ..."), then "N passed, N failed". Two runs (server on the kernel,
 * server under LD_PRELOAD) must print the same lines.
 *
 *   posix_cli -a ADDR -p PORT -m block|thread|epoll [-s MiB]
 *
 * Cases: upload and download integrity at several sizes (seeded pattern,
 * every byte checked), echo with a concurrent writer and reader, half-close
 * both ways, RST handling (ECONNRESET), SIGPIPE/EPIPE on the server,
 * SO_RCVTIMEO on the server, peer death (this process's child is killed),
 * parallel transfers from 8 threads.
 * Map: main() -> run() per case -> c_* functions (one per case).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "posix_proto.h"

static struct sockaddr_in srv;
static struct sockaddr_in6 srv6; /* -a with an IPv6 address: an AF_INET6 client */
static int use6;
static char why[256];

#define FAILED(...) (snprintf(why, sizeof(why), __VA_ARGS__), -1)

static int dial(uint32_t op, uint64_t size, uint32_t seed)
{
	struct timeval tv = {.tv_sec = 30};
	uint8_t h[PROTO_HDR];
	int fd = socket(use6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	/* Bound every wait: a hung server fails the case instead of the run. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (use6 ? connect(fd, (struct sockaddr *)&srv6, sizeof(srv6))
		 : connect(fd, (struct sockaddr *)&srv, sizeof(srv))) {
		close(fd);
		return -1;
	}
	proto_hdr(h, op, size, seed);
	if (write(fd, h, sizeof(h)) != (ssize_t)sizeof(h)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read a line (up to '\n' or EOF) into buf without the newline. */
static int read_line(int fd, char *buf, size_t n)
{
	size_t i = 0;
	char c;

	while (i + 1 < n) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0 || c == '\n')
			break;
		buf[i++] = c;
	}
	buf[i] = 0;
	return 0;
}

/* Read to EOF checking the pattern; 0 if exactly size good bytes arrived. */
static int recv_pattern(int fd, uint32_t seed, uint64_t size)
{
	static __thread uint8_t buf[CHUNK];
	uint64_t got = 0;
	struct pat p;
	long bad;
	ssize_t r;

	pat_init(&p, seed);
	for (;;) {
		r = read(fd, buf, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return FAILED("read error %s after %llu bytes", strerror(errno),
				      (unsigned long long)got);
		if (r == 0)
			break;
		bad = pat_check(&p, buf, (size_t)r);
		if (bad >= 0)
			return FAILED("bad byte at offset %llu",
				      (unsigned long long)(got + (uint64_t)bad));
		got += (uint64_t)r;
		if (got > size)
			return FAILED("more than %llu bytes", (unsigned long long)size);
	}
	if (got != size)
		return FAILED("EOF after %llu of %llu bytes", (unsigned long long)got,
			      (unsigned long long)size);
	return 0;
}

static int c_upload(uint64_t size, uint32_t seed)
{
	char line[64] = "", want[64];
	int fd = dial(OP_UPLOAD, size, seed), rc = 0;

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	if (send_pattern(fd, seed, size) || shutdown(fd, SHUT_WR))
		rc = FAILED("send: %s", strerror(errno));
	else if (read_line(fd, line, sizeof(line)))
		rc = FAILED("reply: %s", strerror(errno));
	snprintf(want, sizeof(want), "ok %llu", (unsigned long long)size);
	if (!rc && strcmp(line, want) != 0)
		rc = FAILED("server said '%s'", line);
	close(fd);
	return rc;
}

static int c_download(uint64_t size, uint32_t seed)
{
	int fd = dial(OP_DOWNLOAD, size, seed), rc;

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	rc = recv_pattern(fd, seed, size);
	close(fd);
	return rc;
}

struct echo_w {
	int fd;
	uint32_t seed;
	uint64_t size;
	int rc;
};

static void *echo_writer(void *arg)
{
	struct echo_w *w = arg;

	w->rc = send_pattern(w->fd, w->seed, w->size) || shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Writer and reader at once: the server's send and receive paths both busy. */
static int c_echo(uint64_t size, uint32_t seed)
{
	struct echo_w w = {.seed = seed, .size = size};
	pthread_t th;
	int rc;

	w.fd = dial(OP_ECHO, size, seed);
	if (w.fd < 0)
		return FAILED("connect: %s", strerror(errno));
	if (pthread_create(&th, NULL, echo_writer, &w)) {
		close(w.fd);
		return FAILED("pthread_create");
	}
	rc = recv_pattern(w.fd, seed, size);
	pthread_join(th, NULL);
	close(w.fd);
	if (!rc && w.rc)
		rc = FAILED("writer failed");
	return rc;
}

/*
 * The server's verdict on a case only it can see. An epoll server cannot
 * wait for a case still in progress (its last bytes may still be in flight,
 * e.g. retransmitted after a loss) and answers "no result": ask again.
 */
static int ask_result(uint32_t seed, char *line, size_t n)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		int fd = dial(OP_RESULT, 0, seed);

		if (fd < 0)
			return FAILED("connect: %s", strerror(errno));
		if (read_line(fd, line, n)) {
			close(fd);
			return FAILED("result: %s", strerror(errno));
		}
		close(fd);
		if (strcmp(line, "no result") != 0)
			break;
		usleep(100000);
	}
	return 0;
}

/* Both directions half-closed in turn: server SHUT_WR first, the client still sends. */
static int c_halfclose(uint64_t size, uint32_t seed)
{
	char line[128], want[64];
	int fd = dial(OP_HALFCLOSE, size, seed), rc;

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	rc = recv_pattern(fd, seed, size); /* to the server's FIN */
	if (!rc && (send_pattern(fd, seed + 1, size) || shutdown(fd, SHUT_WR)))
		rc = FAILED("send after the server's FIN: %s", strerror(errno));
	if (!rc && read(fd, line, 1) != 0)
		rc = FAILED("expected EOF again");
	close(fd);
	if (rc || ask_result(seed, line, sizeof(line)))
		return -1;
	snprintf(want, sizeof(want), "halfclose ok %llu", (unsigned long long)size);
	return strcmp(line, want) ? FAILED("server said '%s'", line) : 0;
}

/* The server aborts with SO_LINGER {1,0}: read sees ECONNRESET, not EOF. */
static int c_rst(void)
{
	char c;
	int fd = dial(OP_RST, 0, 1), rc = 0;
	ssize_t r;

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	r = read(fd, &c, 1);
	if (!(r < 0 && errno == ECONNRESET))
		rc = FAILED("read returned %zd (%s), expected ECONNRESET", r,
			    r < 0 ? strerror(errno) : "no error");
	close(fd);
	return rc;
}

/* We reset the connection; the server's write then raises SIGPIPE and fails with EPIPE. */
static int c_sigpipe(uint32_t seed)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	const char *want = "recv=-1/ECONNRESET write=-1/EPIPE sig=1 send_nosignal=-1/EPIPE sig=0";
	char line[160], c;
	int fd = dial(OP_SIGPIPE, 0, seed);

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	if (read(fd, &c, 1) != 1) {
		close(fd);
		return FAILED("no ready byte");
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	if (ask_result(seed, line, sizeof(line)))
		return -1;
	return strcmp(line, want) ? FAILED("server saw '%s'", line) : 0;
}

static int c_timeo(void)
{
	char line[96];
	int fd = dial(OP_TIMEO, 0, 1), rc = 0;

	if (fd < 0)
		return FAILED("connect: %s", strerror(errno));
	if (read_line(fd, line, sizeof(line)) ||
	    strcmp(line, "timeo r=-1 errno=EAGAIN elapsed_ok=1"))
		rc = FAILED("server said '%s'", line);
	else if (write_full(fd, "z", 1) || read_line(fd, line, sizeof(line)) ||
		 strcmp(line, "got z"))
		rc = FAILED("after the timeout: '%s'", line);
	close(fd);
	return rc;
}

/* A child connects, sends, and is killed: the server sees a clean EOF (no unread data). */
static int c_peerdeath(uint32_t seed)
{
	char line[96];
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return FAILED("fork");
	if (pid == 0) {
		uint8_t buf[1000] = {0};
		char c;
		int fd = dial(OP_PEERDEATH, 0, seed);

		if (fd < 0 || write_full(fd, buf, sizeof(buf)) || read(fd, &c, 1) != 1)
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
		return FAILED("child did not die by signal (status %d)", status);
	if (ask_result(seed, line, sizeof(line)))
		return -1;
	return strcmp(line, "peerdeath eof") ? FAILED("server saw '%s'", line) : 0;
}

struct par {
	uint32_t seed;
	uint64_t size;
	int rc;
	char why[256];
};

static void *par_worker(void *arg)
{
	struct par *p = arg;

	p->rc = c_upload(p->size, p->seed) || c_download(p->size, p->seed + 100);
	return NULL;
}

static int c_parallel(uint64_t size)
{
	struct par p[8];
	pthread_t th[8];
	int i, rc = 0;

	for (i = 0; i < 8; i++) {
		p[i].seed = 1000 + (uint32_t)i;
		p[i].size = size;
		if (pthread_create(&th[i], NULL, par_worker, &p[i]))
			return FAILED("pthread_create");
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		if (p[i].rc)
			rc = FAILED("worker %d failed", i);
	}
	return rc;
}

static void report(const char *name, int rc)
{
	if (check_count(rc == 0))
		printf("ok %s\n", name);
	else
		printf("FAIL %s: %s\n", name, why);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const uint64_t sizes[] = {0, 1, 1000, 65536, 1 << 20};
	const char *mode = "block";
	uint64_t big = 16;
	char name[64];
	int opt, epoll_mode;
	unsigned i;

	srv.sin_family = AF_INET;
	srv6.sin6_family = AF_INET6;
	while ((opt = getopt(argc, argv, "a:p:m:s:")) != -1) {
		switch (opt) {
		case 'a':
			use6 = strchr(optarg, ':') != NULL;
			if (use6 ? inet_pton(AF_INET6, optarg, &srv6.sin6_addr) != 1
				 : inet_pton(AF_INET, optarg, &srv.sin_addr) != 1)
				return 2;
			break;
		case 'p':
			srv.sin_port = htons((uint16_t)atoi(optarg));
			srv6.sin6_port = srv.sin_port;
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			big = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: posix_cli -a ADDR -p PORT -m block|thread|epoll "
					"[-s MiB]\n");
			return 2;
		}
	}
	epoll_mode = strcmp(mode, "epoll") == 0;
	signal(SIGPIPE, SIG_IGN);
	alarm(300); /* the whole run is bounded */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(name, sizeof(name), "upload %llu", (unsigned long long)sizes[i]);
		report(name, c_upload(sizes[i], 10 + i));
		snprintf(name, sizeof(name), "download %llu", (unsigned long long)sizes[i]);
		report(name, c_download(sizes[i], 20 + i));
	}
	snprintf(name, sizeof(name), "upload %llu MiB", (unsigned long long)big);
	report(name, c_upload(big << 20, 30));
	snprintf(name, sizeof(name), "download %llu MiB", (unsigned long long)big);
	report(name, c_download(big << 20, 31));
	report("echo 4 MiB", c_echo(4 << 20, 32));
	report("halfclose 1 MiB", c_halfclose(1 << 20, 33));
	report("rst", c_rst());
	if (epoll_mode) {
		printf("skip sigpipe, rcvtimeo, peerdeath (blocking-mode cases)\n");
	} else {
		report("sigpipe", c_sigpipe(34));
		report("rcvtimeo", c_timeo());
		report("peerdeath", c_peerdeath(35));
	}
	report("parallel 8 x 2 MiB", c_parallel(2 << 20));
	return check_summary();
}
