/*
 * shim_attend.c - does the stack make progress while the program computes?
 * A program that makes no socket call for a second must still complete a
 * handshake and acknowledge data, as the kernel does.
 *
 *   shim_attend -s PORT        accept one connection, compute 1 s (no calls),
 *                              then read what came and print its length
 *   shim_attend -c IP PORT     non-blocking connect, compute 1 s (no calls),
 *                              print the connect start time (CLOCK_MONOTONIC us)
 *   shim_attend -k IP PORT     (the kernel peer of -s) connect, send 1000
 *                              bytes, print how long until they were ACKed
 *   shim_attend -a PORT        (the kernel peer of -c) accept one connection
 *                              and print the time it completed
 *
 * Figures go to stdout as "name=value" lines for the test script.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static volatile uint64_t sink; /* keeps the computation */

/* No system call, no socket call: the stack is on its own meanwhile. */
static void compute(uint64_t us)
{
	uint64_t end = now_us() + us;

	while (now_us() < end)
		for (int i = 0; i < 1000; i++)
			sink += (uint64_t)i * i;
}

static int listener(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8)) {
		perror("listen");
		exit(1);
	}
	printf("listening\n");
	fflush(stdout);
	return fd;
}

static int connector(const char *ip, int port, int flags)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0);

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) {
		perror("connect");
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	char buf[4096];
	int fd, c, outq;
	ssize_t n, total = 0;
	uint64_t t0;

	if (argc == 3 && !strcmp(argv[1], "-s")) {
		fd = listener(atoi(argv[2]));
		c = accept(fd, NULL, NULL);
		compute(1000000);
		fcntl(c, F_SETFL, O_NONBLOCK);
		while ((n = read(c, buf, sizeof(buf))) > 0)
			total += n;
		printf("server_read=%zd\n", total);
		return total == 1000 ? 0 : 1;
	}
	if (argc == 4 && !strcmp(argv[1], "-c")) {
		fd = connector(argv[2], atoi(argv[3]), SOCK_NONBLOCK);
		/* after connect() returns: the engine's one-time start (XDP load) is not counted */
		t0 = now_us();
		printf("connect_return_us=%llu\n", (unsigned long long)t0);
		fflush(stdout);
		compute(1000000);
		close(fd);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "-k")) {
		fd = connector(argv[2], atoi(argv[3]), 0);
		usleep(100000); /* the server is computing now */
		memset(buf, 'x', 1000);
		t0 = now_us();
		if (write(fd, buf, 1000) != 1000)
			return 1;
		do {
			if (ioctl(fd, SIOCOUTQ, &outq))
				return 1;
		} while (outq > 0 && now_us() - t0 < 3000000);
		printf("ack_us=%llu\n", (unsigned long long)(now_us() - t0));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "-a")) {
		fd = listener(atoi(argv[2]));
		c = accept(fd, NULL, NULL);
		printf("accepted_us=%llu\n", (unsigned long long)now_us());
		return c < 0;
	}
	fprintf(stderr, "usage: shim_attend -s PORT | -c IP PORT | -k IP PORT | -a PORT\n");
	return 2;
}
