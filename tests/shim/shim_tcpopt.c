/*
 * shim_tcpopt.c - TCP features observed through the socket API on the
 * server side, printed line by line: run once on the kernel and once under
 * LD_PRELOAD=libxtcp.so, the two outputs (and the kernel client's) must be
 * identical (shim_tcpopt.sh diffs them).
 *
 *   shim_tcpopt -s PORT        server: PORT, and PORT+1 with TCP_MAXSEG 1000
 *   shim_tcpopt -c ADDR PORT   client (always on the kernel)
 *
 * Lock-step as shim_sem: the server sends a step's letter, the client does
 * what it asks. Covered: TCP_INFO after the handshake, after data each way
 * (counters, MSS, windows, options, RTT present and plausible), SO_SNDBUF
 * and SO_RCVBUF (doubled, clamped), TCP_MAXSEG on a connection and through a
 * listener, TCP_NOTSENT_LOWAT readiness with a corked tail, how long a
 * MSG_MORE tail waits, MSG_ZEROCOPY completions on the error queue.
 * Values that depend on timing are printed as ranges.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

static char buf[1 << 16];

static long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void rd_all(int fd, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf), 0);

		if (r <= 0) {
			printf("read failed: %zd %s\n", r, strerror(errno));
			exit(1);
		}
		n -= (size_t)r;
	}
}

static void wr_all(int fd, size_t n, int flags)
{
	memset(buf, 'x', sizeof(buf));
	while (n) {
		ssize_t r = send(fd, buf, n < sizeof(buf) ? n : sizeof(buf), flags);

		if (r <= 0) {
			printf("write failed: %zd %s\n", r, strerror(errno));
			exit(1);
		}
		n -= (size_t)r;
	}
}

static void step(int c, char s)
{
	if (send(c, &s, 1, 0) != 1)
		exit(1);
}

static struct tcp_info info(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || len != sizeof(ti))
		printf("TCP_INFO failed: len %u %s\n", len, strerror(errno));
	return ti;
}

static void info_print(const char *when, int fd)
{
	struct tcp_info ti = info(fd);

	printf("%s: state %u ca_state %u options %u wscale %u/%u snd_mss %u rcv_mss %u "
	       "advmss %u pmtu %u unacked %u lost %u retrans %u total_retrans %u reordering %u\n",
	       when, ti.tcpi_state, ti.tcpi_ca_state, ti.tcpi_options, ti.tcpi_snd_wscale,
	       ti.tcpi_rcv_wscale, ti.tcpi_snd_mss, ti.tcpi_rcv_mss, ti.tcpi_advmss, ti.tcpi_pmtu,
	       ti.tcpi_unacked, ti.tcpi_lost, ti.tcpi_retrans, ti.tcpi_total_retrans,
	       ti.tcpi_reordering);
	printf("%s: bytes_acked %llu bytes_received %llu bytes_sent %llu notsent %u "
	       "max_pacing_rate %s\n",
	       when, (unsigned long long)ti.tcpi_bytes_acked,
	       (unsigned long long)ti.tcpi_bytes_received, (unsigned long long)ti.tcpi_bytes_sent,
	       ti.tcpi_notsent_bytes, ti.tcpi_max_pacing_rate == ~0ull ? "unlimited" : "set");
	printf("%s: rtt %s rttvar %s min_rtt %s rto %s ato %s snd_cwnd %s last_data_recv %s "
	       "rcv_space %s\n",
	       when, ti.tcpi_rtt > 0 && ti.tcpi_rtt < 200000 ? "plausible" : "odd",
	       ti.tcpi_rttvar < 200000 ? "plausible" : "odd",
	       ti.tcpi_min_rtt > 0 && ti.tcpi_min_rtt <= ti.tcpi_rtt * 4 ? "plausible" : "odd",
	       ti.tcpi_rto >= 200000 && ti.tcpi_rto <= 1000000 ? "200ms..1s" : "odd",
	       ti.tcpi_ato >= 4000 && ti.tcpi_ato <= 200000 ? "4..200ms" : "odd",
	       ti.tcpi_snd_cwnd >= 10 ? ">=10" : "<10",
	       ti.tcpi_last_data_recv < 2000 ? "<2s" : ">=2s",
	       ti.tcpi_rcv_space >= 14480 ? ">=10*mss" : "small");
}

static void poll_print(struct pollfd *p, int timeout, const char *what)
{
	int r = poll(p, 1, timeout);

	printf("%s: poll %d revents %#x\n", what, r, p->revents);
}

static void opt_print(int fd, int level, int name, const char *what)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len))
		printf("get %s: %s\n", what, strerror(errno));
	else
		printf("get %s: %d\n", what, v);
}

static void opt_set(int fd, int level, int name, int v, const char *what)
{
	int r = setsockopt(fd, level, name, &v, sizeof(v));

	printf("set %s %d: %s\n", what, v, r ? strerror(errno) : "ok");
}

static void bufs(int c)
{
	static const int vals[] = {1000, 10000, 1 << 30};

	for (unsigned i = 0; i < 3; i++) {
		opt_set(c, SOL_SOCKET, SO_SNDBUF, vals[i], "SO_SNDBUF");
		opt_print(c, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF");
	}
	for (unsigned i = 0; i < 3; i++) {
		opt_set(c, SOL_SOCKET, SO_RCVBUF, vals[i], "SO_RCVBUF");
		opt_print(c, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
	}
}

/* TCP_NOTSENT_LOWAT 50 with a corked 100-byte tail: not writable until it left. */
static void lowat(int c)
{
	struct pollfd p = {.fd = c, .events = POLLOUT};

	opt_print(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT");
	opt_set(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 50, "TCP_NOTSENT_LOWAT");
	opt_print(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT");
	step(c, 'C');
	opt_set(c, IPPROTO_TCP, TCP_CORK, 1, "TCP_CORK");
	poll_print(&p, 0, "corked, empty");
	wr_all(c, 100, 0);
	poll_print(&p, 0, "corked 100 unsent");
	ssize_t r = send(c, buf, 10, MSG_DONTWAIT);

	printf("send past the mark: %zd %s\n", r, r < 0 ? strerror(errno) : "");
	usleep(500000);
	poll_print(&p, 0, "after 500 ms");
	opt_set(c, IPPROTO_TCP, TCP_CORK, 0, "TCP_CORK");
	opt_set(c, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0, "TCP_NOTSENT_LOWAT");
}

/* How long a MSG_MORE tail waits before it leaves (Linux: the probe timer, ~RTO). */
static void more(int c)
{
	long t0, waited;

	step(c, 'M');
	usleep(50000);
	t0 = ms_now();
	wr_all(c, 10, MSG_MORE);
	while (info(c).tcpi_notsent_bytes && ms_now() - t0 < 3000)
		usleep(2000);
	waited = ms_now() - t0;
	printf("MSG_MORE tail sent after %s\n", waited < 150	? "<150 ms"
						: waited <= 400 ? "150..400 ms"
								: ">400 ms");
}

static void errq_print(int c, const char *when)
{
	char ctl[256];
	struct msghdr m = {.msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *cm;
	ssize_t r = recvmsg(c, &m, MSG_ERRQUEUE | MSG_DONTWAIT);

	if (r < 0) {
		printf("%s: errqueue %s\n", when, strerror(errno));
		return;
	}
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		struct sock_extended_err ee;

		memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
		printf("%s: cmsg %d/%d errno %u origin %u code %u range %u..%u\n", when,
		       cm->cmsg_level, cm->cmsg_type, ee.ee_errno, ee.ee_origin, ee.ee_code,
		       ee.ee_info, ee.ee_data);
	}
}

static void zerocopy(int c)
{
	struct pollfd p = {.fd = c, .events = 0};

	step(c, 'Z');
	printf("MSG_ZEROCOPY without SO_ZEROCOPY: %zd\n", send(c, buf, 1000, MSG_ZEROCOPY));
	usleep(100000);
	errq_print(c, "no SO_ZEROCOPY");
	opt_set(c, SOL_SOCKET, SO_ZEROCOPY, 1, "SO_ZEROCOPY");
	opt_print(c, SOL_SOCKET, SO_ZEROCOPY, "SO_ZEROCOPY");
	printf("MSG_ZEROCOPY: %zd\n", send(c, buf, 4000, MSG_ZEROCOPY));
	poll_print(&p, 2000, "wait for POLLERR");
	errq_print(c, "first");
	errq_print(c, "again");
	printf("MSG_ZEROCOPY: %zd\n", send(c, buf, 4000, MSG_ZEROCOPY));
	printf("MSG_ZEROCOPY: %zd\n", send(c, buf, 4000, MSG_ZEROCOPY));
	usleep(300000);
	poll_print(&p, 0, "poll");
	errq_print(c, "two");
	poll_print(&p, 0, "poll");
}

static int listen_on(int port, int maxseg)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), rcvbuf = 100000;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (maxseg) { /* and a receive buffer, both before bind() (nginx's listen rcvbuf=) */
		setsockopt(l, IPPROTO_TCP, TCP_MAXSEG, &maxseg, sizeof(maxseg));
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	}
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8)) {
		perror("listen");
		exit(1);
	}
	return l;
}

static int server(int port)
{
	int l = listen_on(port, 0), l2 = listen_on(port + 1, 1000), c;

	printf("listening\n");
	fflush(stdout);
	opt_print(l2, IPPROTO_TCP, TCP_MAXSEG, "listener TCP_MAXSEG");
	/* xtcp takes a listener into its stack at its first use in the process:
	 * use it now, before the client's SYN comes */
	fcntl(l2, F_SETFL, O_NONBLOCK);
	c = accept(l2, NULL, NULL);
	printf("accept on the idle listener: %d %s\n", c, c < 0 ? strerror(errno) : "");
	fcntl(l2, F_SETFL, 0);
	c = accept(l, NULL, NULL);
	if (c < 0)
		return 1;
	info_print("accepted", c);
	opt_print(c, IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG");
	step(c, 'W');
	rd_all(c, 5000);
	info_print("5000 in", c);
	step(c, 'R');
	wr_all(c, 10000, 0);
	rd_all(c, 1);
	usleep(50000);
	info_print("10000 out", c);
	bufs(c);
	lowat(c);
	more(c);
	zerocopy(c);
	step(c, 'Q');
	rd_all(c, 1);
	close(c);

	struct pollfd p2 = {.fd = l2, .events = POLLIN};

	poll(&p2, 1, 10000);
	c = accept(l2, NULL, NULL);
	opt_print(c, IPPROTO_TCP, TCP_MAXSEG, "MAXSEG 1000 listener: TCP_MAXSEG");
	opt_print(c, SOL_SOCKET, SO_RCVBUF, "MAXSEG 1000 listener: SO_RCVBUF");
	rd_all(c, 5000);
	wr_all(c, 5000, 0);
	rd_all(c, 1);
	info_print("MAXSEG 1000 listener", c);
	close(c);
	return 0;
}

static int client(const char *addr, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int c = socket(AF_INET, SOCK_STREAM, 0);
	char s;

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (connect(c, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return 1;
	}
	for (;;) {
		rd_all(c, 1);
		s = buf[0];
		if (s == 'W')
			wr_all(c, 5000, 0);
		else if (s == 'R') {
			rd_all(c, 10000);
			wr_all(c, 1, 0);
		} else if (s == 'C')
			rd_all(c, 100);
		else if (s == 'M')
			rd_all(c, 10);
		else if (s == 'Z')
			rd_all(c, 13000);
		else if (s == 'Q')
			break;
	}
	wr_all(c, 1, 0);
	rd_all(c, 0);
	close(c);

	c = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons((uint16_t)(port + 1));
	if (connect(c, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return 1;
	}
	wr_all(c, 5000, 0);
	rd_all(c, 5000);
	struct tcp_info ti = info(c);

	printf("client of the MAXSEG 1000 listener: snd_mss %u\n", ti.tcpi_snd_mss);
	wr_all(c, 1, 0);
	while (recv(c, buf, sizeof(buf), 0) > 0) /* the server reads TCP_INFO, then closes */
		;
	close(c);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "-s"))
		return server(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "-c"))
		return client(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: shim_tcpopt -s PORT | -c ADDR PORT\n");
	return 2;
}
