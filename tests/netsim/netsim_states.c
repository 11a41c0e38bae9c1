/*
 * netsim_states.c - connection life cycles between two stacks over the
 * pipe: zero window and window update, half-close, RST in each state,
 * simultaneous close, TIME-WAIT reuse, keepalive, RTO backoff and abort,
 * SYN retry limit, and 10,000 concurrent connections with no leak.
 */
#include <netinet/tcp.h>
#include <sys/epoll.h>

#include "xfer.h"

enum {
	S_ESTABLISHED = 1,
	S_SYN_SENT,
	S_SYN_RECV,
	S_FIN_WAIT1,
	S_FIN_WAIT2,
	S_TIME_WAIT,
	S_CLOSE,
	S_CLOSE_WAIT,
	S_LAST_ACK,
	S_LISTEN,
	S_CLOSING
};

static int dead_b; /* stop polling B: a peer that vanished */

static void poll_both(struct sim *s)
{
	netdev_pipe_set_time(s->pipe, s->now);
	stack_poll(s->a, s->now);
	if (!dead_b)
		stack_poll(s->b, s->now);
	s->steps++;
}

/* Advance the clock to the next event (at most lim) when nothing is due now. */
static void advance(struct sim *s, uint64_t lim)
{
	if (stack_has_output(s->a) || (!dead_b && stack_has_output(s->b)))
		return;
	uint64_t n = dead_b ? UINT64_MAX : netdev_pipe_next_due(s->pipe), d;

	d = stack_next_deadline(s->a);
	if (d < n)
		n = d;
	if (!dead_b) {
		d = stack_next_deadline(s->b);
		if (d < n)
			n = d;
	}
	/* a dead B sends nothing: frames in the pipe all go to B, ignore them */
	if (n > lim)
		n = lim;
	if (n > s->now)
		s->now = n;
}

static void step(struct sim *s, uint64_t lim)
{
	poll_both(s);
	advance(s, lim);
}

/* Poll, test cond, then advance: cond is seen at the time it became true. */
#define RUN_UNTIL(s, cond, us)                                                                     \
	do {                                                                                       \
		uint64_t lim_ = (s)->now + (us);                                                   \
		while ((s)->now < lim_) {                                                          \
			poll_both(s);                                                              \
			if (cond)                                                                  \
				break;                                                             \
			advance(s, lim_);                                                          \
		}                                                                                  \
	} while (0)

static int state_of(struct stack *st, int sd)
{
	struct sock_info i;

	return sock_info(st, sd, &i) == 0 ? i.state : -1;
}

/* Connect A -> B:80, accept; *ca and *sb are the two ends. */
static int pair(struct sim *s, int *l, int *ca, int *sb)
{
	struct sockaddr_in dst = sim_addr(s->db, 80);

	if (*l < 0)
		*l = sim_listen(s->b, 80, 128);
	*ca = sock_socket(s->a);
	*sb = -1;
	if (sock_connect(s->a, *ca, &dst, s->now) != -EINPROGRESS)
		return -1;
	RUN_UNTIL(s, (*sb = sock_accept(s->b, *l, NULL)) >= 0, 3000000);
	RUN_UNTIL(s, sock_events(s->a, *ca) & EPOLLOUT, 3000000);
	return *sb >= 0 && state_of(s->a, *ca) == S_ESTABLISHED ? 0 : -1;
}

static void zero_window(void)
{
	struct sim s;
	int l = -1, ca, sb, v = 8192;
	uint8_t buf[65536];

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 200, .seed = 21}, NULL) == 0);
	l = sim_listen(s.b, 80, 8);
	CHECK(sock_setopt(s.b, l, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	uint64_t sent = 0, got = 0;

	/* B does not read: A fills B's 16 KiB window, then waits with probes */
	for (int i = 0; i < 200; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = sim_byte(3, sent + k);
		ssize_t n = sock_send(s.a, ca, buf, sizeof(buf), 0);

		if (n > 0)
			sent += (uint64_t)n;
		step(&s, s.now + 1000000);
	}
	RUN_UNTIL(&s, 0, 30000000); /* 30 s of zero window */
	struct sock_info ia, ib;

	sock_info(s.b, sb, &ib);
	(void)ib;

	CHECK(sock_info(s.a, ca, &ia) == 0);
	CHECK(ia.snd_wnd < 1448); /* the receiver never advertises a silly window */
	CHECK(ia.state == S_ESTABLISHED);
	CHECK(sock_rx_avail(s.b, sb) >= 8192);
	struct stack_stats sta;

	stack_get_stats(s.a, &sta);
	uint64_t tx_before = sta.tx_frames;

	RUN_UNTIL(&s, 0, 300000000);
	stack_get_stats(s.a, &sta);
	CHECK(sta.tx_frames >= tx_before + 2); /* window probes keep going, backed off to 120 s */
	CHECK(state_of(s.a, ca) == S_ESTABLISHED); /* answered probes never time out */
	/* B reads: the window update restarts the transfer */
	uint64_t lim = s.now + 20000000;

	while (got < sent && s.now < lim) {
		ssize_t n;

		while ((n = sock_recv(s.b, sb, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t k = 0; k < n; k++)
				if (buf[k] != sim_byte(3, got + (uint64_t)k))
					check_count(0);
			got += (uint64_t)n;
		}
		if (sent < 4000000) {
			for (size_t k = 0; k < sizeof(buf); k++)
				buf[k] = sim_byte(3, sent + k);
			n = sock_send(s.a, ca, buf, sizeof(buf), 0);
			if (n > 0)
				sent += (uint64_t)n;
		}
		step(&s, lim);
	}
	CHECK(got == sent && sent >= 4000000);
	CHECK(state_of(s.a, ca) == S_ESTABLISHED);
	sim_free(&s);
}

static void half_close(void)
{
	struct sim s;
	int l = -1, ca, sb;
	uint8_t buf[4096];

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 300, .seed = 22}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);

	CHECK(sock_getopt(s.a, ca, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && tl == sizeof(ti));
	CHECK(ti.tcpi_state == S_ESTABLISHED && ti.tcpi_options == 7 && ti.tcpi_snd_mss == 1448);
	CHECK(ti.tcpi_rtt >= 500 && ti.tcpi_rtt < 5000 && ti.tcpi_snd_cwnd == 10);
	CHECK(sock_send(s.a, ca, "request", 7, 0) == 7);
	CHECK(sock_shutdown(s.a, ca, SHUT_WR) == 0);
	CHECK(sock_send(s.a, ca, "x", 1, 0) == -EPIPE);
	RUN_UNTIL(&s, sock_events(s.b, sb) & EPOLLRDHUP, 1000000);
	CHECK(sock_recv(s.b, sb, buf, sizeof(buf), 0) == 7);
	CHECK(sock_recv(s.b, sb, buf, sizeof(buf), 0) == 0);
	CHECK((sock_events(s.b, sb) & (EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLHUP)) ==
	      (EPOLLIN | EPOLLRDHUP | EPOLLOUT));
	RUN_UNTIL(&s, 0, 100000);
	CHECK(state_of(s.a, ca) == S_FIN_WAIT2);
	CHECK(state_of(s.b, sb) == S_CLOSE_WAIT);
	/* B still sends 200 KB to A, then closes */
	struct xfer xb, xa;

	xfer_init(&xb, sb, 200000, 0, 4, 0);
	xfer_init(&xa, ca, 0, 200000, 0, 4);
	xa.shut_wr = 1;
	xb.eof = 1;
	uint64_t lim = s.now + 5000000;

	while (!(xfer_done(&xa) && xfer_done(&xb)) && s.now < lim) {
		step(&s, lim);
		xfer_run(s.a, &xa, s.now);
		xfer_run(s.b, &xb, s.now);
	}
	CHECK(xa.recvd == 200000 && !xa.bad && xa.eof);
	CHECK(sock_events(s.a, ca) & EPOLLHUP);
	CHECK(sock_close(s.b, sb) == 0);
	RUN_UNTIL(&s, 0, 100000);
	CHECK(state_of(s.a, ca) == S_TIME_WAIT);
	CHECK(sock_close(s.a, ca) == 0);
	RUN_UNTIL(&s, 0, 70000000);
	CHECK(sim_socks(s.a) == 0);
	CHECK(sim_socks(s.b) == 1);
	sim_free(&s);
}

static void abort_linger0(struct stack *st, int sd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	CHECK(sock_setopt(st, sd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
	CHECK(sock_close(st, sd) == 0);
}

/* The peer aborts (RST) while we are in state `want`; check what we see. */
static void rst_in_state(int want, int expect_err)
{
	struct sim s;
	int l = -1, ca, sb;
	uint8_t buf[64];

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 300, .seed = 23}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	switch (want) {
	case S_FIN_WAIT1: /* our FIN and their RST cross */
		CHECK(sock_shutdown(s.a, ca, SHUT_WR) == 0);
		stack_flush(s.a, s.now);
		CHECK(state_of(s.a, ca) == S_FIN_WAIT1);
		break;
	case S_FIN_WAIT2:
		CHECK(sock_shutdown(s.a, ca, SHUT_WR) == 0);
		RUN_UNTIL(&s, 0, 100000);
		CHECK(state_of(s.a, ca) == S_FIN_WAIT2);
		break;
	case S_CLOSE_WAIT:
		CHECK(sock_shutdown(s.b, sb, SHUT_WR) == 0);
		RUN_UNTIL(&s, 0, 100000);
		CHECK(state_of(s.a, ca) == S_CLOSE_WAIT);
		break;
	default:
		break;
	}
	abort_linger0(s.b, sb);
	RUN_UNTIL(&s, 0, 100000);
	CHECK(state_of(s.a, ca) == S_CLOSE);
	uint32_t ev = sock_events(s.a, ca);

	CHECK((ev & (EPOLLERR | EPOLLHUP | EPOLLIN | EPOLLRDHUP)) ==
	      (EPOLLERR | EPOLLHUP | EPOLLIN | EPOLLRDHUP));
	if (want == S_CLOSE_WAIT) {
		/* Linux: the FIN was seen (SOCK_DONE), so reads give EOF; the error is in SO_ERROR
		 */
		CHECK(sock_recv(s.a, ca, buf, sizeof(buf), 0) == 0);
		CHECK(sock_error(s.a, ca) == expect_err);
	} else {
		CHECK(sock_recv(s.a, ca, buf, sizeof(buf), 0) == -expect_err);
		CHECK(sock_recv(s.a, ca, buf, sizeof(buf), 0) == 0);
	}
	CHECK(sock_send(s.a, ca, buf, 1, 0) == -EPIPE);
	CHECK(sock_close(s.a, ca) == 0);
	CHECK(sim_socks(s.a) == 0);
	CHECK(sim_socks(s.b) == 1);
	sim_free(&s);
}

/* RST while in LAST-ACK (orphan): the TCB goes away at once. */
static void rst_in_last_ack(void)
{
	struct sim s;
	int l = -1, ca, sb;

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 300, .seed = 24}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	CHECK(sock_shutdown(s.b, sb, SHUT_WR) == 0);
	RUN_UNTIL(&s, 0, 100000);
	CHECK(state_of(s.a, ca) == S_CLOSE_WAIT);
	CHECK(sock_close(s.a, ca) == 0); /* LAST-ACK, FIN on its way */
	abort_linger0(s.b, sb);		 /* ... and B's RST crosses it */
	RUN_UNTIL(&s, 0, 2000000);
	CHECK(sim_socks(s.a) == 0);
	CHECK(sim_socks(s.b) == 1);
	sim_free(&s);
}

/* Both close at once: FIN-WAIT-1 -> CLOSING -> TIME-WAIT on both sides. */
static void simultaneous_close(void)
{
	struct sim s;
	int l = -1, ca, sb;

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 1000, .seed = 25}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	CHECK(sock_shutdown(s.a, ca, SHUT_WR) == 0);
	CHECK(sock_shutdown(s.b, sb, SHUT_WR) == 0);
	RUN_UNTIL(&s, state_of(s.a, ca) == S_CLOSING, 1500);
	CHECK(state_of(s.a, ca) == S_CLOSING);
	RUN_UNTIL(&s, 0, 100000);
	CHECK(state_of(s.a, ca) == S_TIME_WAIT);
	CHECK(state_of(s.b, sb) == S_TIME_WAIT);
	sock_close(s.a, ca);
	sock_close(s.b, sb);
	RUN_UNTIL(&s, 0, 61000000);
	CHECK(sim_socks(s.a) == 0);
	sim_free(&s);
}

/*
 * TIME-WAIT reuse: the client's only local port is in TIME-WAIT; after 1 s
 * (timestamps on) connect() reuses it (Linux tcp_twsk_unique). And a SYN to a
 * server-side TIME-WAIT with newer timestamps opens a new connection (RFC 6191).
 */
static void time_wait_reuse(void)
{
	struct sim s;
	struct stack_config cfg = {.local_port_min = 40000, .local_port_max = 40000};
	int l = -1, ca, sb;

	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 200, .seed = 26}, &cfg) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	CHECK(sock_close(s.a, ca) == 0); /* client closes first: client TIME-WAIT */
	CHECK(sock_close(s.b, sb) == 0);
	RUN_UNTIL(&s, 0, 100000);
	int c2 = sock_socket(s.a);
	struct sockaddr_in dst = sim_addr(s.db, 80);

	CHECK(sock_connect(s.a, c2, &dst, s.now) == -EADDRNOTAVAIL);
	RUN_UNTIL(&s, 0, 1500000);
	CHECK(sock_connect(s.a, c2, &dst, s.now) == -EINPROGRESS);
	int sb2 = -1;

	RUN_UNTIL(&s, (sb2 = sock_accept(s.b, l, NULL)) >= 0, 3000000);
	CHECK(sb2 >= 0);
	RUN_UNTIL(&s, state_of(s.a, c2) == S_ESTABLISHED, 1000000);
	CHECK(state_of(s.a, c2) == S_ESTABLISHED);
	/* now the server closes first: server TIME-WAIT on the same tuple */
	CHECK(sock_close(s.b, sb2) == 0);
	RUN_UNTIL(&s, 0, 100000);
	CHECK(sock_close(s.a, c2) == 0);
	RUN_UNTIL(&s, 0, 1500000);
	int c3 = sock_socket(s.a), sb3 = -1;

	CHECK(sock_connect(s.a, c3, &dst, s.now) == -EINPROGRESS);
	RUN_UNTIL(&s, (sb3 = sock_accept(s.b, l, NULL)) >= 0, 500000);
	CHECK(sb3 >= 0); /* accepted through the server's TIME-WAIT, no RST, no retry */
	CHECK(state_of(s.a, c3) == S_ESTABLISHED);
	CHECK(sock_send(s.a, c3, "ping", 4, 0) == 4);
	uint8_t buf[8];

	RUN_UNTIL(&s, sock_rx_avail(s.b, sb3) == 4, 100000);
	CHECK(sock_recv(s.b, sb3, buf, sizeof(buf), 0) == 4);
	sim_free(&s);
}

static void keepalive(void)
{
	struct sim s;
	int l = -1, ca, sb, one = 1, idle = 10, intvl = 2, cnt = 3;

	dead_b = 0;
	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 500, .seed = 27}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	CHECK(sock_setopt(s.a, ca, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0);
	CHECK(sock_setopt(s.a, ca, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) == 0);
	CHECK(sock_setopt(s.a, ca, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) == 0);
	CHECK(sock_setopt(s.a, ca, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) == 0);
	struct stack_stats sb0, sb1;

	stack_get_stats(s.b, &sb0);
	RUN_UNTIL(&s, 0, 100000000); /* 100 s idle, peer alive: probes answered */
	stack_get_stats(s.b, &sb1);
	CHECK(state_of(s.a, ca) == S_ESTABLISHED);
	CHECK(sb1.rx_frames - sb0.rx_frames >= 9); /* one probe per 10 s */
	CHECK(sb1.rx_frames - sb0.rx_frames <= 12);
	dead_b = 1;
	uint64_t t0 = s.now;

	RUN_UNTIL(&s, sock_events(s.a, ca) & EPOLLERR, 60000000);
	CHECK(sock_error(s.a, ca) == ETIMEDOUT);
	printf("keepalive: dead peer detected after %.1f s\n", (double)(s.now - t0) / 1e6);
	/* last answer <= idle before death; then 3 probes 2 s apart: idle + 3 x 2 s at most */
	CHECK(s.now - t0 >= 6000000 && s.now - t0 <= 16500000);
	dead_b = 0;
	sim_free(&s);
}

static void rto_backoff_abort(void)
{
	struct sim s;
	int l = -1, ca, sb;

	dead_b = 0;
	CHECK(sim_init(&s, &(struct netdev_pipe_cfg){.delay_us = 1000, .seed = 28}, NULL) == 0);
	CHECK(pair(&s, &l, &ca, &sb) == 0);
	dead_b = 1;
	CHECK(sock_send(s.a, ca, "lost forever", 12, 0) == 12);
	uint64_t t0 = s.now;
	struct stack_stats st;

	RUN_UNTIL(&s, sock_events(s.a, ca) & EPOLLERR, 3000000000ull);
	stack_get_stats(s.a, &st);
	double secs = (double)(s.now - t0) / 1e6;

	printf("rto: aborted after %.1f s, %llu retransmissions\n", secs,
	       (unsigned long long)st.retrans_segs);
	CHECK(sock_error(s.a, ca) == ETIMEDOUT);
	/* a tail loss probe at the first RTO's time, then tcp_retries2 RTOs (as Linux) */
	CHECK(st.tlp_probes == 1);
	CHECK(st.timeouts == 15);
	CHECK(st.retrans_segs == 16);
	CHECK(secs > 600 && secs < 1000); /* Linux: ~924 s with a 200 ms start */
	CHECK(state_of(s.a, ca) == S_CLOSE);
	dead_b = 0;
	sim_free(&s);
}

static void syn_retries(void)
{
	struct sim s;

	dead_b = 1;
	CHECK(sim_init(&s, NULL, NULL) == 0);
	int c = sock_socket(s.a);
	struct sockaddr_in dst = sim_addr(s.db, 80);
	uint64_t t0 = s.now;

	CHECK(sock_connect(s.a, c, &dst, s.now) == -EINPROGRESS);
	RUN_UNTIL(&s, sock_events(s.a, c) & EPOLLERR, 300000000);
	CHECK(sock_error(s.a, c) == ETIMEDOUT);
	double secs = (double)(s.now - t0) / 1e6;

	CHECK(secs > 126 && secs < 128.5); /* 1+2+4+...+64 s, Linux tcp_syn_retries 6 */
	dead_b = 0;
	sim_free(&s);
}

/*
 * 10,000 connections open at once, each echoes 100 bytes, all closed: no
 * leak. Driven by the readiness callbacks (on_event), as the shim does.
 */
static void many_connections(void)
{
	enum { N = 10000 };
	struct sim s;
	struct stack_config cfg = {.sndbuf = 8192,
				   .rcvbuf = 8192,
				   .local_port_min = 20000,
				   .local_port_max = 60000,
				   .max_syn_queue = 4096};
	static int cstate[16384], evq_a[1 << 18], evq_b[1 << 18];
	uint8_t buf[256];

	CHECK(sim_init(
		      &s,
		      &(struct netdev_pipe_cfg){.delay_us = 100, .seed = 29, .queue_frames = 16384},
		      &cfg) == 0);
	s.evq[0] = evq_a;
	s.evq[1] = evq_b;
	s.evcap[0] = s.evcap[1] = 1 << 18;
	int l = sim_listen(s.b, 80, 4096), nacc = 0, done = 0, opened = 0;
	struct sockaddr_in dst = sim_addr(s.db, 80);
	uint64_t t0 = s.now, lim = s.now + 60000000;

	memset(cstate, 0, sizeof(cstate));
	while (done < N && s.now < lim) {
		for (int k = 0; k < 1000 && opened < N; k++, opened++) {
			int c = sock_socket(s.a);

			if (c < 0 || c >= 16384 ||
			    sock_connect(s.a, c, &dst, s.now) != -EINPROGRESS) {
				check_count(0);
				continue;
			}
			cstate[c] = 1;
		}
		s.evn[0] = s.evn[1] = 0;
		poll_both(&s);
		for (unsigned e = 0; e < s.evn[1]; e++) {
			int sd = evq_b[e];

			if (sd == l) {
				/* a request may have come with the handshake: read at once */
				int c;

				while ((c = sock_accept(s.b, l, NULL)) >= 0) {
					nacc++;
					if (s.evn[1] < s.evcap[1])
						evq_b[s.evn[1]++] = c;
				}
				continue;
			}
			if (sock_rx_avail(s.b, sd) == 100 &&
			    sock_recv(s.b, sd, buf, sizeof(buf), 0) == 100) {
				CHECK(sock_send(s.b, sd, buf, 100, 0) == 100);
				sock_close(s.b, sd);
			}
		}
		for (unsigned e = 0; e < s.evn[0]; e++) {
			int c = evq_a[e];

			if (c < 0 || c >= 16384)
				continue;
			if (cstate[c] == 1 && (sock_events(s.a, c) & EPOLLOUT)) {
				memset(buf, (uint8_t)c, 100);
				if (sock_send(s.a, c, buf, 100, 0) == 100)
					cstate[c] = 2;
			} else if (cstate[c] == 2 && sock_rx_avail(s.a, c) == 100) {
				if (sock_recv(s.a, c, buf, sizeof(buf), 0) != 100 ||
				    buf[0] != (uint8_t)c || buf[99] != (uint8_t)c)
					check_count(0);
				sock_close(s.a, c);
				cstate[c] = 3;
				done++;
			}
		}
		advance(&s, lim);
	}
	printf("many: %d connections done in %.3f virtual s, %llu steps\n", done,
	       (double)(s.now - t0) / 1e6, (unsigned long long)s.steps);
	CHECK(done == N);
	CHECK(nacc == N);
	s.evq[0] = s.evq[1] = NULL;
	struct stack_stats sa, sbs;

	stack_get_stats(s.a, &sa);
	stack_get_stats(s.b, &sbs);
	CHECK(sbs.socks_in_use >= N); /* the server closed first: its TIME-WAITs */
	RUN_UNTIL(&s, 0, 70000000);
	stack_get_stats(s.a, &sa);
	stack_get_stats(s.b, &sbs);
	CHECK(sa.socks_in_use == 0);
	CHECK(sbs.socks_in_use == 1);
	CHECK(sa.active_opens == N && sbs.passive_opens == N);
	sim_free(&s);
}

static void rst_established(void)
{
	rst_in_state(S_ESTABLISHED, ECONNRESET);
}

static void rst_fin_wait1(void)
{
	rst_in_state(S_FIN_WAIT1, ECONNRESET);
}

static void rst_fin_wait2(void)
{
	rst_in_state(S_FIN_WAIT2, ECONNRESET);
}

static void rst_close_wait(void)
{
	rst_in_state(S_CLOSE_WAIT, EPIPE);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
#define T(f) {#f, f}
		T(zero_window),	     T(half_close),	T(rst_established),   T(rst_fin_wait1),
		T(rst_fin_wait2),    T(rst_close_wait), T(rst_in_last_ack),   T(simultaneous_close),
		T(time_wait_reuse),  T(keepalive),	T(rto_backoff_abort), T(syn_retries),
		T(many_connections),
	};

	for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		int f0 = check_failed;

		tests[i].fn();
		printf("%s %s\n", check_failed == f0 ? "ok  " : "FAIL", tests[i].name);
		fflush(stdout);
	}
	return check_summary();
}
