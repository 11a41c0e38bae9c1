/*
 * xfer.h - a test application: sends a generated stream, checks every byte
 * received against the peer's generator, half-closes when done.
 */
#ifndef XTCP_TEST_XFER_H
#define XTCP_TEST_XFER_H

#include <sys/socket.h>

#include "sim.h"

struct xfer {
	int sd;
	uint64_t to_send, sent;
	uint64_t to_recv, recvd;
	uint64_t seed_out, seed_in;
	uint64_t bad; /* bytes that differed */
	int eof;      /* recv returned 0 */
	int shut_wr;  /* shutdown(SHUT_WR) done */
	int err;      /* first error other than EAGAIN */
	uint64_t done_at;
};

static inline void xfer_init(struct xfer *x, int sd, uint64_t send, uint64_t recv, uint64_t so,
			     uint64_t si)
{
	memset(x, 0, sizeof(*x));
	x->sd = sd;
	x->to_send = send;
	x->to_recv = recv;
	x->seed_out = so;
	x->seed_in = si;
}

static inline void xfer_run(struct stack *st, struct xfer *x, uint64_t now)
{
	uint8_t buf[16384];

	if (x->sd < 0)
		return;
	while (x->sent < x->to_send && !x->err) {
		size_t n = sizeof(buf);

		if (x->to_send - x->sent < n)
			n = (size_t)(x->to_send - x->sent);
		for (size_t i = 0; i < n; i++)
			buf[i] = sim_byte(x->seed_out, x->sent + i);
		ssize_t r = sock_send(st, x->sd, buf, n, 0);

		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			x->err = (int)r;
			break;
		}
		x->sent += (uint64_t)r;
	}
	if (x->sent == x->to_send && !x->shut_wr && !x->err) {
		if (sock_shutdown(st, x->sd, SHUT_WR) == 0)
			x->shut_wr = 1;
	}
	while (!x->eof && !x->err) {
		ssize_t r = sock_recv(st, x->sd, buf, sizeof(buf), 0);

		if (r == -EAGAIN)
			break;
		if (r == 0) {
			x->eof = 1;
			break;
		}
		if (r < 0) {
			x->err = (int)r;
			break;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != sim_byte(x->seed_in, x->recvd + (uint64_t)i))
				x->bad++;
		x->recvd += (uint64_t)r;
	}
	if (x->eof && x->shut_wr && !x->done_at)
		x->done_at = now;
}

static inline int xfer_done(const struct xfer *x)
{
	return x->err || (x->eof && x->shut_wr);
}

/* Runs a on stack A and b on stack B until both are done or the clock reaches lim. */
static inline void xfer_pair(struct sim *s, struct xfer *a, struct xfer *b, uint64_t lim)
{
	while (!(xfer_done(a) && xfer_done(b)) && s->now < lim) {
		sim_step(s);
		xfer_run(s->a, a, s->now);
		xfer_run(s->b, b, s->now);
		sim_advance(s, lim);
	}
}

/* Run xa on s->a and xb on s->b (its socket accepted from listener l) until both are done. */
static inline void xfer_pump(struct sim *s, int l, struct xfer *xa, struct xfer *xb, uint64_t limit)
{
	while (s->now < limit && !(xfer_done(xa) && xfer_done(xb))) {
		sim_step(s);
		if (xb->sd < 0) {
			int sd = sock_accept(s->b, l, NULL);

			if (sd >= 0)
				xb->sd = sd;
		}
		xfer_run(s->a, xa, s->now);
		xfer_run(s->b, xb, s->now);
		sim_advance(s, limit);
	}
}

#endif
