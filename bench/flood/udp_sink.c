/*
 * udp_sink.c - a UDP service for the DDoS benchmark: reads every datagram
 * that reaches PORT (recvmmsg, 64 at a time) and throws it away, like a busy
 * DNS or syslog server would read its queries. Under a UDP flood at its port
 * the kernel then pays for socket delivery and this process's reads, the cost
 * that the XDP protection saves by dropping first. Exits after SECONDS.
 *
 *   udp_sink PORT SECONDS       prints "received=N"
 */
#define _GNU_SOURCE /* recvmmsg */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv)
{
	static char bufs[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	unsigned long long received = 0;
	time_t end;
	int fd, i, n;

	if (argc != 3 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: udp_sink PORT SECONDS\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	end = time(NULL) + atoi(argv[2]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("udp_sink");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (time(NULL) < end) {
		n = recvmmsg(fd, msgs, BATCH, 0, NULL);
		if (n > 0)
			received += (unsigned long long)n;
	}
	printf("received=%llu\n", received);
	return 0;
}
