/*
 * shim_fdnum.c - the fd numbers and closed-fd answers a server sees for its
 * accepted connections, printed line by line: run once on the kernel and
 * once under LD_PRELOAD=libxtcp.so, the two outputs must be identical
 * (shim_sem.sh BUILD shim_fdnum 10 diffs them). Under xtcp a closed connection's number may
 * be kept open for the next one (preload/shim_fdpool.c): for the program
 * it must still be closed, reused by the next accept as Linux reuses the
 * lowest free number, with the flags accept4() asked for, and never
 * inherited by an exec'd child.
 *
 *   shim_fdnum -s PORT         server: accept STEPS connections, one per step
 *   shim_fdnum -c ADDR PORT    client (on the kernel): per step connect, send
 *                              one byte, read to EOF
 *   shim_fdnum -x              what an exec'd child holds: its open fds >= 3
 *
 * Map: main() -> server() -> one step_*() per accepted connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEPS 7

static int ls, ep;
static char self[4096];

/* "0" or "-1 EBADF": what a call on a closed fd answered. */
static const char *res(long r)
{
	static char b[8][64];
	static unsigned k;
	char *o = b[k++ % 8];

	if (r < 0)
		snprintf(o, 64, "-1 %s", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	else
		snprintf(o, 64, "%ld", r);
	return o;
}

/* Accept one connection with flags, take its byte; -1 on failure. */
static int take(int flags)
{
	char x;
	int c = accept4(ls, NULL, NULL, flags);

	if (c < 0 || read(c, &x, 1) != 1) {
		printf("accept/read failed: %s\n", strerror(errno));
		return -1;
	}
	return c;
}

/* Every call on a closed fd: the kernel's EBADF, whatever keeps the number. */
static void closed_calls(const char *what, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;
	char x = 'x';

	printf("%s: close %s", what, res(close(fd)));
	printf(" fcntl(F_GETFD) %s", res(fcntl(fd, F_GETFD)));
	printf(" fcntl(F_DUPFD) %s", res(fcntl(fd, F_DUPFD, 0)));
	printf(" dup %s", res(dup(fd)));
	printf(" dup2 %s", res(dup2(fd, fd)));
	printf(" dup3 %s\n", res(dup3(fd, 200, 0)));
	printf("%s: write %s", what, res(write(fd, &x, 1)));
	printf(" read %s", res(read(fd, &x, 1)));
	printf(" getsockname %s", res(getsockname(fd, (struct sockaddr *)&a, &al)));
	printf(" shutdown %s", res(shutdown(fd, SHUT_RDWR)));
	printf(" FIONBIO %s", res(ioctl(fd, FIONBIO, &one)));
	printf(" epoll_ctl %s\n", res(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)));
	printf("%s: poll %s", what, res(poll(&p, 1, 0)));
	printf(" revents %#x", (unsigned)p.revents);
	printf(" syscall(SYS_close) %s\n", res(syscall(SYS_close, fd)));
}

/* An answer on c, then close: the client reads it (the connection works). */
static void answer_close(int c)
{
	if (write(c, "ok\n", 3) != 3)
		printf("write failed: %s\n", strerror(errno));
	close(c);
}

/* Fork and exec ourselves with -x: which fds does the child hold? */
static void exec_child(void)
{
	char buf[256] = "";
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	pid = fork();
	if (!pid) {
		char *argv[] = {self, "-x", NULL}, *envp[] = {NULL};

		dup2(p[1], 1);
		execve(self, argv, envp); /* without LD_PRELOAD: the child's own fds only */
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	waitpid(pid, &st, 0);
	buf[n > 0 ? n : 0] = 0;
	printf("exec'd child holds: %s", buf);
}

static int server(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, c, first;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ep < 0 || ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 8))
		return perror("listen"), 1;
	printf("listening\n");

	/* 1: closed is closed, for every call */
	first = c = take(0);
	if (c < 0)
		return 1;
	answer_close(c);
	closed_calls("closed", c);

	/* 2: the next accept reuses the lowest free number, non-close-on-exec as asked */
	c = take(0);
	printf("step 2: same number %s, F_GETFD %s\n", c == first ? "yes" : "no",
	       res(fcntl(c, F_GETFD)));
	answer_close(c);

	/* 3: close-on-exec asked for: the same number, the flag set */
	c = take(SOCK_CLOEXEC);
	printf("step 3: same number %s, F_GETFD %s\n", c == first ? "yes" : "no",
	       res(fcntl(c, F_GETFD)));
	answer_close(c);

	/* 4: dup2 onto the closed number: it names the pipe now, then closes for real */
	int p[2];

	if (pipe(p))
		return 1;
	printf("step 4: dup2 onto it %s", res(dup2(p[0], first) == first));
	printf(", close %s", res(close(first)));
	printf(", close again %s\n", res(close(first)));
	close(p[0]);
	close(p[1]);
	c = take(0);
	printf("step 4: same number %s, F_GETFD %s\n", c == first ? "yes" : "no",
	       res(fcntl(c, F_GETFD)));
	answer_close(c);

	/* 5: close_range(CLOSE_RANGE_CLOEXEC) over the closed number, then accept4(0) */
	printf("step 5: close_range cloexec %s\n",
	       res(close_range((unsigned)first, (unsigned)first, CLOSE_RANGE_CLOEXEC)));
	c = take(0);
	printf("step 5: same number %s, F_GETFD %s\n", c == first ? "yes" : "no",
	       res(fcntl(c, F_GETFD)));
	answer_close(c);

	/* 6: an exec'd child inherits no closed connection's number */
	exec_child();

	/* 7: close_range over it (not closefrom: the shim's own later fds lie above), accept */
	printf("step 7: close_range %s\n", res(close_range((unsigned)first, (unsigned)first, 0)));
	c = take(0);
	printf("step 7: same number %s, F_GETFD %s\n", c == first ? "yes" : "no",
	       res(fcntl(c, F_GETFD)));
	answer_close(c);
	return 0;
}

static int client(const char *addr, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char buf[16];
	int s, i;

	inet_pton(AF_INET, addr, &a.sin_addr);
	for (i = 0; i < STEPS; i++) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) || write(s, "x", 1) != 1)
			return perror("client"), 1;
		while (read(s, buf, sizeof(buf)) > 0)
			;
		close(s);
	}
	return 0;
}

/* The exec'd child: its open fds from 3 up (its own pipe end is on fd 1). */
static int child_fds(void)
{
	int n = 0;

	for (int fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	printf("%d fd(s) >= 3\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
		return 1;
	if (argc == 3 && !strcmp(argv[1], "-s"))
		return server(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "-c"))
		return client(argv[2], atoi(argv[3]));
	if (argc == 2 && !strcmp(argv[1], "-x"))
		return child_fds();
	fprintf(stderr, "usage: shim_fdnum -s PORT | -c ADDR PORT | -x\n");
	return 2;
}
