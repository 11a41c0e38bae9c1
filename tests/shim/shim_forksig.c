/*
 * shim_forksig.c - fork() from a signal handler while the shim starts its
 * engine and while it serves (the PostgreSQL postmaster pattern: signals
 * unblocked only around select(), a handler that forks a child).
 *
 *   shim_forksig -s PORT N    serve N connections (select, accept, echo,
 *                             close) with SIGALRM every 200 us whose handler
 *                             forks a child that exits at once
 *   shim_forksig -c IP PORT N N connections: send "ping", expect "ping" back
 *
 * A deadlock shows as the test script's timeout; the server prints how many
 * forks and connections it made.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t forks, fork_errors;
static uint64_t last_fork_end_us; /* touched by the handler only */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Fork at most once per timer period after the last fork ended: on a loaded
 * machine a fork can outlast the 200 us period, and a handler that forked at
 * every signal would then leave the program no time outside it (a livelock
 * of the test itself, not of the shim).
 */
static void on_alarm(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	if (mono_us() - last_fork_end_us < 200)
		return;
	pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		forks++;
	else
		fork_errors++;
	last_fork_end_us = mono_us();
	errno = saved;
}

static void on_child(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static int serve(int port, int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct sigaction sa = {.sa_flags = SA_RESTART};
	struct itimerval it = {{0, 200}, {0, 200}};
	sigset_t block, old;
	int fd, one = 1, served = 0;
	char buf[16];

	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	/* As the postmaster: signals blocked except while waiting in select(). */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	setitimer(ITIMER_REAL, &it, NULL);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64)) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (served < n) {
		fd_set rd;
		struct timeval tv = {1, 0};
		int c, r;

		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		r = select(fd + 1, &rd, NULL, NULL, &tv);
		sigprocmask(SIG_BLOCK, &block, NULL);
		if (r <= 0)
			continue;
		c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		r = (int)read(c, buf, sizeof(buf));
		if (r > 0 && write(c, buf, (size_t)r) != r)
			fprintf(stderr, "short write\n");
		close(c);
		served++;
	}
	it = (struct itimerval){0};
	setitimer(ITIMER_REAL, &it, NULL);
	printf("served=%d forks=%d fork_errors=%d\n", served, (int)forks, (int)fork_errors);
	return 0;
}

static int client(const char *ip, int port, int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int ok = 0;
	char buf[16];

	inet_pton(AF_INET, ip, &a.sin_addr);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a)) &&
		    write(fd, "ping", 4) == 4 && read(fd, buf, sizeof(buf)) == 4 &&
		    !memcmp(buf, "ping", 4))
			ok++;
		close(fd);
	}
	printf("echoed=%d\n", ok);
	return ok == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "-s"))
		return serve(atoi(argv[2]), atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "-c"))
		return client(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: shim_forksig -s PORT N | -c IP PORT N\n");
	return 2;
}
