/*
 * fork_inetd.c - an inetd-style server and its client, for connections
 * that cross fork() (tests/shim/shim_fork.sh).
 *
 *   fork_inetd -s PORT N MODE [HOLD]  accept N connections, fork one child each:
 *	MODE close: the child echoes and checks the data, the parent closes
 *		    its copy at once (postmaster, inetd);
 *	MODE keep:  the same, but the parent keeps its copy until the child
 *		    exited (both hold it: the peer's EOF comes with the last close);
 *	MODE exec:  the child puts the socket on fds 0 and 1 and execs cat
 *		    (sshd's fork + re-exec);
 *	MODE late:  as close, but the parent forks 300 ms after accept (with
 *		    -e the peer's data and FIN are there: CLOSE-WAIT at fork);
 *	MODE clone: as close, forking with syscall(SYS_clone, SIGCHLD) (vsftpd);
 *	MODE wclone: glibc's clone() (no at-fork handlers): the child closes its
 *		    copies of both sockets, the parent serves the connection.
 *	Prints "server: N children ok, N bad, fork avg X us", then sleeps HOLD s.
 *   fork_inetd -S PORT K        accept K connections, then one fork() (timed,
 *	the child exits at once); the parent then echoes on all K: prints
 *	"bench: K connections, fork X us".
 *   fork_inetd -X PORT FILE     accept 2 connections, write FILE to both, close
 *	the first, exit with the second open (what the kernel finishes).
 *   fork_inetd -c IP PORT N CONC LEN   N connections, CONC at a time, each
 *	sends LEN checked bytes, reads them back, half-closes and waits for
 *	EOF. Prints "client: N ok, N bad"; exit 0 only if all are ok. IP may
 *	be IPv6; FORK_INETD_V6=1 makes -s listen on AF_INET6 [::].
 *   fork_inetd -e ...           the same, but sends everything and half-closes
 *	before reading anything.
 * Data: byte i of connection id is (i * 31 + id * 7 + i / 251) & 0xff.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint8_t pat(uint32_t id, uint32_t i)
{
	return (uint8_t)(i * 31u + id * 7u + i / 251u);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);

		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

/* Child: header {id, len}, then len bytes echoed as they come and checked. */
static int echo_child(int fd)
{
	uint32_t hdr[2], id, len, off = 0;
	uint8_t buf[16384];
	int bad = 0;

	if (read_full(fd, hdr, sizeof(hdr)) || write_full(fd, hdr, sizeof(hdr)))
		return 1;
	id = ntohl(hdr[0]);
	len = ntohl(hdr[1]);
	while (off < len) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r <= 0)
			return 1;
		for (ssize_t i = 0; i < r; i++)
			bad |= buf[i] != pat(id, off + (uint32_t)i);
		if (write_full(fd, buf, (size_t)r))
			return 1;
		off += (uint32_t)r;
	}
	/* Then whatever else comes until the peer's EOF (none is expected). */
	return bad || read(fd, buf, 1) != 0;
}

static int listen_on(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	bool v6 = getenv("FORK_INETD_V6") != NULL; /* an AF_INET6 listener on [::] */
	int one = 1, fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	struct sockaddr *sa = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, sa, v6 ? sizeof(a6) : sizeof(a)) || listen(fd, 512)) {
		perror("listen");
		exit(2);
	}
	/* A first look makes xtcp serve it now, before the test's clients connect. */
	struct pollfd p = {.fd = fd, .events = POLLIN};

	poll(&p, 1, 0);
	printf("listening\n");
	fflush(stdout);
	return fd;
}

/*
 * glibc's clone() wrapper runs no at-fork handlers and is not interposed:
 * the shim finds out in the child (wipe-on-fork page). This child only
 * closes its copies; the parent serves the connection.
 */
static char wclone_stack[65536] __attribute__((aligned(16)));

static int wclone_child(void *arg)
{
	int v = (int)(intptr_t)arg;

	close(v >> 16);
	close(v & 0xffff);
	return 0;
}

static int server(int port, int n, const char *mode, int hold)
{
	int lfd = listen_on(port), ok = 0, bad = 0, st;
	uint64_t fork_us = 0;
	pid_t pid;

	for (int i = 0; i < n; i++) {
		int c = accept(lfd, NULL, NULL);
		uint64_t t0;

		if (c < 0) {
			perror("accept");
			return 2;
		}
		if (!strcmp(mode, "late"))
			usleep(300000); /* the peer's data and FIN arrive before the fork */
		t0 = now_us();
		if (!strcmp(mode, "clone")) /* vsftpd's way: a fork the shim sees as syscall() */
			pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
		else if (!strcmp(mode, "wclone"))
			pid = clone(wclone_child, wclone_stack + sizeof(wclone_stack), SIGCHLD,
				    (void *)(intptr_t)(lfd << 16 | c));
		else
			pid = fork();
		fork_us += now_us() - t0;
		if (pid > 0 && !strcmp(mode, "wclone")) { /* the connection stays ours */
			if (echo_child(c))
				bad++;
		}
		if (pid == 0) {
			close(lfd);
			if (!strcmp(mode, "exec")) {
				dup2(c, 0);
				dup2(c, 1);
				close(c);
				execlp("cat", "cat", (char *)NULL);
				_exit(3);
			}
			exit(echo_child(c));
		}
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (!strcmp(mode, "keep")) {
			waitpid(pid, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				ok++;
			else
				bad++;
		}
		close(c);
	}
	while ((pid = wait(&st)) > 0) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			bad++;
	}
	printf("server: %d children ok, %d bad, fork avg %.1f us\n", ok, bad,
	       n ? (double)fork_us / n : 0.0);
	sleep((unsigned)hold); /* the test reads our statistics meanwhile */
	return bad != 0;
}

/* K connections held, one timed fork; then every connection still echoes here. */
static int bench(int port, int k)
{
	int lfd = listen_on(port), *c = calloc((size_t)k, sizeof(int)), bad = 0, st;
	uint64_t t0, dt;
	pid_t pid;

	for (int i = 0; i < k; i++)
		if ((c[i] = accept(lfd, NULL, NULL)) < 0)
			return 2;
	t0 = now_us();
	pid = fork();
	dt = now_us() - t0;
	if (pid == 0)
		_exit(0);
	waitpid(pid, &st, 0);
	for (int i = 0; i < k; i++)
		bad |= echo_child(c[i]);
	for (int i = 0; i < k; i++)
		close(c[i]);
	printf("bench: %d connections, fork %llu us, echo %s\n", k, (unsigned long long)dt,
	       bad ? "bad" : "ok");
	return bad;
}

/*
 * Exit with data in flight: accept 2 connections, write FILE to both, close
 * the first (an orphan), leave the second open, exit at once.
 */
static int exit_tail(int port, const char *file)
{
	int lfd = listen_on(port), c[2], ffd = open(file, O_RDONLY);
	off_t len = ffd >= 0 ? lseek(ffd, 0, SEEK_END) : -1;
	char *buf = len > 0 ? malloc((size_t)len) : NULL;

	if (!buf || pread(ffd, buf, (size_t)len, 0) != len)
		return 2;
	for (int i = 0; i < 2; i++)
		if ((c[i] = accept(lfd, NULL, NULL)) < 0)
			return 2;
	for (int i = 0; i < 2; i++)
		if (write_full(c[i], buf, (size_t)len))
			return 1;
	close(c[0]);
	printf("exit: wrote %lld bytes twice\n", (long long)len);
	exit(0); /* c[1] still open: closed by the exit, as the kernel does */
}

/* One connection: send and read back len checked bytes, half-close, wait for EOF. */
static int client_one(const char *ip, int port, uint32_t id, uint32_t len, bool eager)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	bool v6 = strchr(ip, ':') != NULL;
	uint32_t hdr[2] = {htonl(id), htonl(len)}, back[2], sent = 0, got = 0;
	uint8_t buf[16384];
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), bad = 0;
	struct timeval tv = {.tv_sec = 20};

	if (v6)
		inet_pton(AF_INET6, ip, &a6.sin6_addr);
	else
		inet_pton(AF_INET, ip, &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a,
		    v6 ? sizeof(a6) : sizeof(a)) ||
	    write_full(fd, hdr, sizeof(hdr))) {
		fprintf(stderr, "connection %u: connect: %s\n", id, strerror(errno));
		close(fd);
		return 1;
	}
	if (eager) { /* everything and the FIN at once: the server sees them before it forks */
		uint8_t *all = malloc(len ? len : 1);

		for (uint32_t i = 0; i < len; i++)
			all[i] = pat(id, i);
		bad |= write_full(fd, all, len);
		free(all);
		shutdown(fd, SHUT_WR);
		sent = len;
	}
	if (read_full(fd, back, sizeof(back)) || memcmp(hdr, back, sizeof(hdr))) {
		fprintf(stderr, "connection %u: header echo: %s\n", id, strerror(errno));
		close(fd);
		return 1;
	}
	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};

		if (sent == len)
			p.events = POLLIN;
		if (poll(&p, 1, 20000) <= 0)
			break;
		if ((p.revents & POLLOUT) && sent < len) {
			uint32_t n = len - sent < sizeof(buf) ? len - sent : (uint32_t)sizeof(buf);

			for (uint32_t i = 0; i < n; i++)
				buf[i] = pat(id, sent + i);
			ssize_t w = send(fd, buf, n, MSG_DONTWAIT);

			if (w > 0)
				sent += (uint32_t)w;
			if (sent == len)
				shutdown(fd, SHUT_WR);
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r <= 0)
				break;
			for (ssize_t i = 0; i < r; i++)
				bad |= buf[i] != pat(id, got + (uint32_t)i);
			got += (uint32_t)r;
		}
	}
	if (sent == len && len == 0)
		shutdown(fd, SHUT_WR);
	bad |= got != len || read(fd, buf, 1) != 0; /* then EOF */
	if (bad)
		fprintf(stderr, "connection %u: sent %u, got %u of %u (%s), then %s\n", id, sent,
			got, len, strerror(errno), got == len ? "no EOF or bad bytes" : "");
	close(fd);
	return bad;
}

static int client(const char *ip, int port, int n, int conc, uint32_t len, bool eager)
{
	int ok = 0, bad = 0, st;
	pid_t pid;

	for (int w = 0; w < conc; w++) {
		pid = fork();
		if (pid == 0) {
			int b = 0;

			for (int i = w; i < n; i += conc)
				b += client_one(ip, port, (uint32_t)i, len, eager);
			_exit(b > 250 ? 250 : b);
		}
	}
	while ((pid = wait(&st)) > 0)
		bad += WIFEXITED(st) ? WEXITSTATUS(st) : n;
	ok = n - bad;
	printf("client: %d ok, %d bad\n", ok, bad);
	return bad != 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "-s"))
		return server(atoi(argv[2]), atoi(argv[3]), argv[4], argc == 6 ? atoi(argv[5]) : 0);
	if (argc == 4 && !strcmp(argv[1], "-X"))
		return exit_tail(atoi(argv[2]), argv[3]);
	if (argc == 4 && !strcmp(argv[1], "-S"))
		return bench(atoi(argv[2]), atoi(argv[3]));
	if (argc == 7 && (!strcmp(argv[1], "-c") || !strcmp(argv[1], "-e")))
		return client(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
			      (uint32_t)strtoul(argv[6], NULL, 0), argv[1][1] == 'e');
	fprintf(stderr,
		"usage: fork_inetd -s PORT N close|keep|exec|late|clone|wclone [HOLD] | -S PORT K |"
		" -X PORT FILE | -c|-e IP PORT N CONC LEN\n");
	return 2;
}
