/*
 * shim_sem.c - readiness and socket-call semantics, observed on the server
 * side of one connection, printed line by line: run once on the kernel and
 * once under LD_PRELOAD=libxtcp.so, the two outputs must be identical
 * (shim_sem.sh diffs them).
 *
 *   shim_sem -s PORT         server: accept one connection, run the steps
 *   shim_sem -c ADDR PORT    client (always on the kernel): do what each step asks
 *
 * Lock-step: before each step the server sends the step's letter; the client
 * performs that action and answers nothing, so every "nothing ready" check
 * happens when no client action is pending. Covered: EPOLLOUT at once,
 * level-triggered, edge-triggered, EPOLLONESHOT + MOD, EPOLL_CTL errors,
 * timeouts 0 / positive, epoll_pwait, MSG_PEEK, MSG_DONTWAIT / O_NONBLOCK
 * EAGAIN, FIONREAD, SIOCOUTQ after ACK, poll and select mixed with a pipe,
 * getpeername, a blocking recv across SIGALRM (restarted with SA_RESTART,
 * EINTR without), half-close (EPOLLRDHUP, EOF), then RST (events, recv and
 * send results, SO_ERROR).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int ep, c;
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static const char *evs(uint32_t e)
{
	static char b[128];

	snprintf(b, sizeof(b), "%s%s%s%s%s%s", e & EPOLLIN ? "IN " : "", e & EPOLLOUT ? "OUT " : "",
		 e & EPOLLRDHUP ? "RDHUP " : "", e & EPOLLHUP ? "HUP " : "",
		 e & EPOLLERR ? "ERR " : "", e & EPOLLPRI ? "PRI " : "");
	return b;
}

/* epoll_wait on ep: print what came back. */
static void wait_print(const char *what, int timeout)
{
	struct epoll_event e[4];
	int n = epoll_wait(ep, e, 4, timeout);

	if (n < 0)
		printf("%s: epoll_wait -1 %s\n", what, strerror(errno));
	else if (n == 0)
		printf("%s: nothing\n", what);
	else
		printf("%s: %d event(s) data%s %s\n", what, n,
		       e[0].data.fd == c ? "=conn" : "!=conn", evs(e[0].events));
}

static void step(char s)
{
	if (send(c, &s, 1, MSG_NOSIGNAL) != 1)
		printf("step %c: send failed\n", s);
}

static void mod(uint32_t events)
{
	struct epoll_event e = {.events = events, .data.fd = c};

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c, &e))
		printf("MOD: %s\n", strerror(errno));
}

static void rd(const char *what, size_t n, int flags)
{
	char buf[256];
	ssize_t r = recv(c, buf, n, flags);

	if (r < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: %zd \"%.*s\"\n", what, r, (int)r, buf);
}

static int server(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct epoll_event e = {.events = EPOLLOUT, .data.fd = 0};
	int l, one = 1, v, p[2];
	socklen_t len = sizeof(a);
	long t0;

	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8))
		return perror("listen"), 1;
	printf("listening\n");
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0)
		return perror("accept"), 1;
	getpeername(c, (struct sockaddr *)&a, &len);
	printf("peer %s len %u\n", inet_ntoa(a.sin_addr), (unsigned)len);
	ep = epoll_create1(0);
	e.data.fd = c;
	v = epoll_ctl(ep, EPOLL_CTL_MOD, c, &e);
	printf("ctl MOD before ADD: %d %s\n", v, v ? strerror(errno) : "");
	epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
	v = epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
	printf("ctl ADD twice: %d %s\n", v, v ? strerror(errno) : "");
	wait_print("fresh, OUT", 1000);
	mod(EPOLLIN);
	wait_print("IN, nothing sent", 0);
	t0 = ms_now();
	wait_print("IN, 150 ms timeout", 150);
	v = ms_now() - t0 >= 140 && ms_now() - t0 < 2000;
	printf("timeout slept about 150 ms: %s\n", v ? "yes" : "no");
	rd("recv MSG_DONTWAIT", 10, MSG_DONTWAIT);

	step('a'); /* client sends "0123456789" */
	wait_print("LT data", 2000);
	rd("recv MSG_PEEK 4", 4, MSG_PEEK);
	ioctl(c, FIONREAD, &v);
	printf("FIONREAD %d\n", v);
	rd("recv 4", 4, 0);
	wait_print("LT still readable", 0);
	rd("recv rest", 100, 0);
	wait_print("LT drained", 0);

	mod(EPOLLIN | EPOLLET);
	step('b'); /* "abc" */
	wait_print("ET data", 2000);
	wait_print("ET again, not read", 0);
	step('c'); /* "def" */
	wait_print("ET new data", 2000);
	rd("recv all", 100, 0);

	mod(EPOLLIN | EPOLLONESHOT);
	step('d'); /* "ghi" */
	wait_print("ONESHOT", 2000);
	step('e'); /* "jkl" */
	usleep(200000);
	wait_print("ONESHOT disarmed", 0);
	mod(EPOLLIN | EPOLLONESHOT);
	wait_print("ONESHOT re-armed by MOD", 1000);
	rd("recv all", 100, 0);

	/* poll and select with a pipe next to the socket */
	if (pipe(p))
		return 1;
	struct pollfd pf[2] = {{.fd = p[0], .events = POLLIN},
			       {.fd = c, .events = POLLIN | POLLOUT}};

	v = poll(pf, 2, 1000);
	printf("poll: %d revents pipe=%x sock=%x\n", v, pf[0].revents, pf[1].revents);
	if (write(p[1], "x", 1) != 1)
		return 1;
	pf[1].events = POLLIN;
	v = poll(pf, 2, 1000);
	printf("poll pipe ready: %d revents pipe=%x sock=%x\n", v, pf[0].revents, pf[1].revents);
	step('f'); /* "mno" */
	fd_set rs;
	struct timeval tv = {2, 0};

	FD_ZERO(&rs);
	FD_SET(c, &rs);
	v = select(c + 1, &rs, NULL, NULL, &tv);
	printf("select: %d isset %d\n", v, FD_ISSET(c, &rs));
	rd("recv all", 100, 0);

	/* urgent data: "ab", then "c" with MSG_OOB, then "de" */
	step('u');
	usleep(300000);
	pf[1] = (struct pollfd){.fd = c, .events = POLLIN | POLLPRI};
	v = poll(&pf[1], 1, 1000);
	printf("poll with urgent data: %d revents %x\n", v, pf[1].revents);
	ioctl(c, SIOCATMARK, &v);
	printf("SIOCATMARK before reading %d\n", v);
	rd("recv MSG_OOB", 4, MSG_OOB);
	rd("recv up to the mark", 100, 0);
	ioctl(c, SIOCATMARK, &v);
	printf("SIOCATMARK at the mark %d\n", v);
	rd("recv MSG_OOB again", 4, MSG_OOB);
	rd("recv after the mark", 100, 0);

	/* SIOCOUTQ drops to 0 once the client has ACKed */
	if (send(c, "pqr", 3, 0) != 3)
		return 1;
	usleep(300000);
	ioctl(c, SIOCOUTQ, &v);
	printf("SIOCOUTQ after ACK %d\n", v);

	/* a blocking recv and SIGALRM: restarted with SA_RESTART, EINTR without */
	struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	struct itimerval it = {.it_value = {0, 100000}};

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	step('i'); /* "late1" after 400 ms */
	rd("recv across SIGALRM, SA_RESTART", 100, 0);
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	step('j'); /* "late2" after 400 ms */
	rd("recv across SIGALRM, no SA_RESTART", 100, 0);
	rd("recv again", 100, 0);
	printf("alarms %d\n", (int)alarms);

	mod(EPOLLIN | EPOLLRDHUP);
	step('g'); /* client shutdown(SHUT_WR) */
	wait_print("half-close", 2000);
	rd("recv at EOF", 10, 0);
	v = (int)send(c, "stu", 3, MSG_NOSIGNAL);
	printf("send after peer's FIN: %d\n", v);
	sigset_t m;

	sigemptyset(&m);
	struct epoll_event pe;

	v = epoll_pwait(ep, &pe, 1, 1000, &m);
	printf("epoll_pwait: %d\n", v);

	mod(EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	step('h'); /* client: SO_LINGER {1,0} close -> RST */
	usleep(300000);
	wait_print("after RST", 2000);
	rd("recv after RST", 10, 0);
	v = (int)send(c, "x", 1, MSG_NOSIGNAL);
	printf("send after RST: %d %s\n", v, v < 0 ? strerror(errno) : "");
	printf("SO_ERROR read twice: ");
	len = sizeof(v);
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len);
	printf("%d ", v);
	getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len);
	printf("%d\n", v);
	v = close(c);
	printf("close: %d\n", v);
	v = epoll_wait(ep, &pe, 1, 0);
	printf("epoll after close: %d\n", v);
	return 0;
}

static int client(const char *addr, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct linger lg = {1, 0};
	const char *data[] = {"0123456789", "abc", "def", "ghi", "jkl", "mno"};
	char s, buf[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return perror("connect"), 1;
	while (recv(fd, &s, 1, 0) == 1) {
		if (s >= 'a' && s <= 'f') {
			if (send(fd, data[s - 'a'], strlen(data[s - 'a']), 0) < 0)
				return 1;
		} else if (s == 'i' || s == 'j') {
			usleep(400000);
			if (send(fd, s == 'i' ? "late1" : "late2", 5, 0) != 5)
				return 1;
		} else if (s == 'u') {
			if (send(fd, "ab", 2, 0) != 2 || send(fd, "c", 1, MSG_OOB) != 1)
				return 1;
			usleep(50000);
			if (send(fd, "de", 2, 0) != 2)
				return 1;
		} else if (s == 'g') {
			shutdown(fd, SHUT_WR);
		} else if (s == 'h') {
			while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				; /* "pqr" */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
			return 0;
		} else if (s == 'p') {
			continue;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "-s"))
		return server(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "-c"))
		return client(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: shim_sem -s PORT | -c ADDR PORT\n");
	return 2;
}
