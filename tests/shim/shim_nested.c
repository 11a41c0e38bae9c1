/*
 * shim_nested.c - a tiny HTTP responder whose event loop is an epoll fd
 * nested in another epoll fd (as libraries with their own loop do), and
 * which also waits in poll() on the inner epoll fd every other round:
 * run under LD_PRELOAD it checks that an epoll fd holding xtcp sockets is
 * itself pollable and nestable.
 *
 *   shim_nested PORT COUNT   answer COUNT requests with "nested-ok\n", then exit 0
 *
 * Map: main() -> setup (listener in inner, inner in outer) -> loop: wait on
 * outer (or poll the inner fd) -> epoll_wait(inner, 0) -> accept / read the
 * request / write the answer / close. Prints "listening" when ready.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char answer[] = "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nnested-ok\n";

static int die(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct epoll_event ev, evs[16];
	int lfd, inner, outer, one = 1, served = 0, count, round = 0, i, n;

	if (argc != 3)
		return fprintf(stderr, "usage: shim_nested PORT COUNT\n"), 2;
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	count = atoi(argv[2]);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 128))
		return die("listen");
	inner = epoll_create1(EPOLL_CLOEXEC);
	outer = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = inner};
	/* Nested before any xtcp item exists: the order a library's loop uses. */
	if (inner < 0 || outer < 0 || epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev))
		return die("epoll nest");
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(inner, EPOLL_CTL_ADD, lfd, &ev))
		return die("epoll add listener");
	printf("listening\n");
	fflush(stdout);
	while (served < count) {
		if (round++ & 1) {
			struct pollfd p = {.fd = inner, .events = POLLIN};

			if (poll(&p, 1, 10000) != 1 || !(p.revents & POLLIN))
				return die("poll on the inner epoll fd");
		} else {
			n = epoll_wait(outer, evs, 16, 10000);
			if (n != 1 || evs[0].data.fd != inner)
				return fprintf(stderr, "outer epoll_wait: %d\n", n), 1;
		}
		n = epoll_wait(inner, evs, 16, 0);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			char buf[4096];
			ssize_t r;

			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

				ev = (struct epoll_event){.events = EPOLLIN | EPOLLET,
							  .data.fd = c};
				if (c >= 0 && epoll_ctl(inner, EPOLL_CTL_ADD, c, &ev))
					return die("epoll add conn");
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 0 && memmem(buf, (size_t)r, "\r\n\r\n", 4)) {
				if (write(fd, answer, sizeof(answer) - 1) != sizeof(answer) - 1)
					return die("write");
				served++;
			}
			close(fd);
		}
	}
	printf("served %d\n", served);
	return 0;
}
