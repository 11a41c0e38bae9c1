/*
 * prot_listen.c - a kernel TCP server for tests/protect: listens on each
 * PORT, answers every connection with a tiny HTTP response and closes it.
 * It stands for the kernel's own services (ssh) and for a served port whose
 * segments the XDP program passes to the kernel. Exits after SECONDS.
 * Dual-stack: [::] with IPV6_V6ONLY off takes IPv4 and IPv6 clients.
 *
 *   prot_listen SECONDS PORT...
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXL 8

int main(int argc, char **argv)
{
	static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
	struct pollfd pfd[MAXL];
	time_t end;
	int i, n = 0, one = 1, zero = 0;

	if (argc < 3 || argc - 2 > MAXL) {
		fprintf(stderr, "usage: prot_listen SECONDS PORT... (at most %d ports)\n", MAXL);
		return 2;
	}
	end = time(NULL) + atoi(argv[1]);
	for (i = 2; i < argc; i++) {
		struct sockaddr_in6 a = {.sin6_family = AF_INET6,
					 .sin6_port = htons((uint16_t)atoi(argv[i]))};
		int fd = socket(AF_INET6, SOCK_STREAM, 0);

		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 512)) {
			perror("prot_listen");
			return 1;
		}
		pfd[n].fd = fd;
		pfd[n++].events = POLLIN;
	}
	while (time(NULL) < end) {
		if (poll(pfd, (nfds_t)n, 200) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept(pfd[i].fd, NULL, NULL);
			if (c < 0)
				continue;
			if (write(c, reply, sizeof(reply) - 1) < 0)
				perror("prot_listen: write");
			close(c);
		}
	}
	return 0;
}
