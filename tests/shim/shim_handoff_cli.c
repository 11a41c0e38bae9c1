/*
 * shim_handoff_cli.c - a serving process that also connects out, for
 * shim_handoff.sh: it listens on a served port (so that, under libxtcp.so,
 * its engine takes one RX queue and picks local ports of that queue), then
 * downloads PATH COUNT times from an HTTP/1.0 server over new connections
 * (XTCP_CONNECT_PORTS puts them on xtcp) and compares every body with FILE.
 *
 *   shim_handoff_cli LISTEN_PORT SERVER_IP SERVER_PORT PATH FILE COUNT [fork]
 * With HANDOFF_GO=path set, waits (10 s at most) for that file before the
 * downloads, so that several processes start together.
 * With "fork", forks once its engine has started: the child uses the
 * listener too (so it builds its own engine, on another queue, with its own
 * hand-off endpoint) and downloads as well; it prints "child listening" and
 * its own result line, and copies its statistics to HANDOFF_STATS.child.
 * With HANDOFF_END=path, keeps its engine after the downloads until that
 * file exists (40 s at most): the other processes' replies may still land on
 * its queue.
 * With HANDOFF_STATS=path, copies the shim's statistics file there before
 * it exits (the shim removes it at exit).
 * Prints "ok N failed M" (first failures on stderr); exit 0 only if M == 0.
 * Plain POSIX calls: connect (3 s at most), blocking send/recv with 5 s
 * timeouts; downloads for 30 s
 * at most (the rest count as failed), 80 s alarm.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One download; 0 when the body is exactly want. */
static int fetch(const struct sockaddr_in *srv, const char *path, const char *want, size_t want_len,
		 char *buf, size_t cap, const char **why)
{
	struct timeval tv = {5, 0};
	char req[512];
	size_t got = 0;
	ssize_t r;
	char *body;
	int fd = socket(AF_INET, SOCK_STREAM, 0), n, fl, err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd pfd;
	static int slow;
	long long t0 = now_ms(), t_conn;

	*why = "socket";
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Non-blocking connect, 3 s at most: a stalled handshake must not hold the test. */
	*why = "connect";
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, (const struct sockaddr *)srv, sizeof(*srv)) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		if (poll(&pfd, 1, 3000) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
			errno = err;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, fl);
	t_conn = now_ms();
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: handoff\r\n\r\n", path);
	*why = "send";
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto fail;
	*why = "recv";
	while ((r = recv(fd, buf + got, cap - got, 0)) > 0) {
		got += (size_t)r;
		if (got == cap)
			goto fail;
	}
	if (r < 0)
		goto fail;
	close(fd);
	if (now_ms() - t0 > 500 && slow++ < 5) /* a stall is worth a line */
		fprintf(stderr,
			"shim_handoff_cli[%d]: slow download: connect %lld ms, transfer %lld ms\n",
			(int)getpid(), (long long)(t_conn - t0), (long long)(now_ms() - t_conn));
	buf[got] = '\0';
	*why = "status";
	if (got < 12 || strncmp(buf + 9, "200", 3))
		return -1;
	*why = "body";
	body = strstr(buf, "\r\n\r\n");
	if (!body || (size_t)(buf + got - (body + 4)) != want_len ||
	    memcmp(body + 4, want, want_len))
		return -1;
	return 0;
fail:
	close(fd);
	return -1;
}

/* /dev/shm/xtcp-<pid>.stats goes at exit: copy it for the test. */
static void copy_stats(const char *to)
{
	char path[64], buf[65536];
	ssize_t r;
	int in, out;

	snprintf(path, sizeof(path), "/dev/shm/xtcp-%d.stats", (int)getpid());
	in = open(path, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	while (in >= 0 && out >= 0 && (r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r)
			break;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
}

int main(int argc, char **argv)
{
	struct sockaddr_in lis = {.sin_family = AF_INET}, srv = {.sin_family = AF_INET};
	struct pollfd pfd;
	const char *why;
	size_t want_len, cap;
	char *want, *buf;
	int lfd, one = 1, i, count, ok = 0, failed = 0, st;
	pid_t child = -1;
	char stats[512];
	time_t t_end;

	if (argc != 7 && !(argc == 8 && !strcmp(argv[7], "fork"))) {
		fprintf(stderr,
			"usage: shim_handoff_cli LISTEN_PORT SERVER_IP SERVER_PORT PATH FILE "
			"COUNT [fork]\n");
		return 2;
	}
	alarm(80);
	want = slurp(argv[5], &want_len);
	count = atoi(argv[6]);
	if (!want || count <= 0 || inet_pton(AF_INET, argv[2], &srv.sin_addr) != 1) {
		fprintf(stderr, "shim_handoff_cli: bad arguments\n");
		return 2;
	}
	srv.sin_port = htons((uint16_t)atoi(argv[3]));
	lis.sin_port = htons((uint16_t)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&lis, sizeof(lis)) < 0 || listen(lfd, 16) < 0) {
		perror("shim_handoff_cli: listen");
		return 2;
	}
	/* First use of the served listener: the engine starts and takes its queue. */
	pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
	poll(&pfd, 1, 0);
	if (argc == 8) {
		/* fork: the child uses the listener too, so it builds its own engine. */
		fflush(stdout);
		child = fork();
		if (child < 0) {
			perror("shim_handoff_cli: fork");
			return 2;
		}
		if (child == 0)
			poll(&pfd, 1, 0);
	}
	printf("%slistening\n", child == 0 ? "child " : "");
	fflush(stdout);
	/* Start together with the other processes: wait for the file $HANDOFF_GO. */
	for (i = 0; getenv("HANDOFF_GO") && access(getenv("HANDOFF_GO"), F_OK) && i < 1000; i++)
		usleep(10000);
	cap = want_len + 65536;
	buf = malloc(cap + 1);
	if (!buf)
		return 2;
	t_end = time(NULL) + 30;
	for (i = 0; i < count; i++) {
		if (time(NULL) > t_end) { /* too slow: the rest count as failed */
			fprintf(stderr, "shim_handoff_cli: 30 s over, %d downloads not tried\n",
				count - i);
			failed += count - i;
			break;
		}
		if (fetch(&srv, argv[4], want, want_len, buf, cap, &why) == 0) {
			ok++;
		} else {
			if (failed < 5)
				fprintf(stderr, "shim_handoff_cli: download %d: %s: %s\n", i, why,
					strerror(errno));
			failed++;
		}
	}
	printf("ok %d failed %d\n", ok, failed);
	fflush(stdout);
	/*
	 * Keep the engine (its queue) until every process is done: replies for
	 * the others still land on it. Idle meanwhile in the shim (it refreshes
	 * its statistics before it sleeps), then keep a copy.
	 */
	for (i = 0; getenv("HANDOFF_END") && access(getenv("HANDOFF_END"), F_OK) && i < 800; i++)
		poll(&pfd, 1, 50);
	poll(&pfd, 1, 300);
	if (getenv("HANDOFF_STATS")) {
		snprintf(stats, sizeof(stats), "%s%s", getenv("HANDOFF_STATS"),
			 child == 0 ? ".child" : "");
		copy_stats(stats);
	}
	close(lfd);
	if (child > 0 && (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)))
		failed++;
	return failed ? 1 : 0;
}
