/*
 * test_urgent.c - packet scripts for urgent data with Linux's semantics
 * (RFC 6093; BSD pointer convention): the urgent byte is taken out of band
 * unless SO_OOBINLINE, reads stop at the mark, SIOCATMARK (sock_atmark),
 * EPOLLPRI, recv(MSG_OOB) errors, a pointer into a later segment; and on
 * output send(MSG_OOB): URG and the pointer until the byte is ACKed, not
 * held by Nagle.
 *
 * Stream offsets: the peer's byte at relative sequence s is t_pat(s - 1).
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static ssize_t rd(struct t *t, uint8_t *buf, size_t n, int flags)
{
	return sock_recv(t->stk, t->f->sd, buf, n, flags);
}

/* buf holds the peer's bytes from relative sequence seq on. */
static void check_pat(struct t *t, const uint8_t *buf, ssize_t n, uint32_t seq)
{
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != t_pat(seq - 1 + (uint32_t)i))
			t_fail(t, __FILE__, __LINE__,
			       "byte %zd: 0x%02x, expected the byte of seq %u", i, buf[i],
			       seq + (uint32_t)i);
}

/* 20 bytes, the 10th urgent (pointer 10: the byte after it, as BSD and Linux). */
static void urgent_segment(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 1, .ack = 1, .len = 20, .urp = 10));
	t_eq(t, t_stats(t).urgent_marks, 1);
}

/* The byte is read out of band; the normal reads stop at the mark and skip it. */
static void urgent_byte_out_of_band(struct t *t)
{
	uint8_t b[100];

	urgent_segment(t);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLPRI);
	t_eq(t, sock_atmark(t->stk, t->f->sd), 0);
	t_eq(t, rd(t, b, sizeof(b), 0), 9); /* up to the mark */
	check_pat(t, b, 9, 1);
	t_eq(t, sock_atmark(t->stk, t->f->sd), 1);
	t_eq(t, rd(t, b, 1, MSG_OOB | MSG_PEEK), 1);
	t_eq(t, b[0], t_pat(9));
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), 1);
	t_eq(t, b[0], t_pat(9));
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLPRI));
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EINVAL); /* read already */
	t_eq(t, rd(t, b, sizeof(b), 0), 10);		/* the urgent byte is not in the stream */
	check_pat(t, b, 10, 11);
	t_eq(t, sock_atmark(t->stk, t->f->sd), 0);
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EINVAL); /* no urgent data any more */
	t_drain_acks(t);
}

/* Reading on at the mark without MSG_OOB drops the urgent byte (Linux). */
static void urgent_byte_lost_to_normal_read(struct t *t)
{
	uint8_t b[100];

	urgent_segment(t);
	t_eq(t, rd(t, b, sizeof(b), 0), 9);
	t_eq(t, rd(t, b, sizeof(b), MSG_PEEK), 10); /* a peek steps over it too */
	check_pat(t, b, 10, 11);
	t_eq(t, rd(t, b, sizeof(b), 0), 10);
	check_pat(t, b, 10, 11);
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EINVAL);
	t_drain_acks(t);
}

/* SO_OOBINLINE: the byte stays in the stream; the mark still stops a read. */
static void urgent_inline(struct t *t)
{
	uint8_t b[100];
	int one = 1, v = 0;
	socklen_t len = sizeof(v);

	t_start(t, TCP_ESTABLISHED);
	t_eq(t, sock_setopt(t->stk, t->f->sd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)), 0);
	t_eq(t, sock_getopt(t->stk, t->f->sd, SOL_SOCKET, SO_OOBINLINE, &v, &len), 0);
	t_eq(t, v, 1);
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 1, .ack = 1, .len = 20, .urp = 10));
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EINVAL);
	t_eq(t, rd(t, b, sizeof(b), 0), 9);
	t_eq(t, sock_atmark(t->stk, t->f->sd), 1);
	t_eq(t, rd(t, b, sizeof(b), 0), 11);
	check_pat(t, b, 11, 10);
	t_drain_acks(t);
}

/* Only the urgent byte waiting: no EPOLLIN (it is not normal data), but EPOLLPRI. */
static void only_urgent_byte_not_readable(struct t *t)
{
	uint8_t b[10];
	uint32_t ev;

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_URG | T_PSH, .seq = 1, .ack = 1, .len = 1, .urp = 1));
	ev = sock_events(t->stk, t->f->sd);
	t_check(t, (ev & EPOLLPRI) && !(ev & EPOLLIN));
	t_eq(t, sock_atmark(t->stk, t->f->sd), 1);
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), 1);
	t_eq(t, b[0], t_pat(0));
	t_eq(t, rd(t, b, sizeof(b), 0), -EAGAIN);
	t_drain_acks(t);
}

/* A pointer into a later segment: EAGAIN until the byte arrives, then EPOLLPRI. */
static void urgent_pointer_ahead(struct t *t)
{
	uint8_t b[100];

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 1, .ack = 1, .len = 10, .urp = 15));
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLPRI));
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EAGAIN);
	t_eq(t, rd(t, b, sizeof(b), 0), 10);
	t_in(t, SEG(.flags = T_ACK, .seq = 11, .ack = 1, .len = 10));
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLPRI);
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), 1);
	t_eq(t, b[0], t_pat(14)); /* relative seq 15 */
	t_eq(t, rd(t, b, sizeof(b), 0), 4);
	t_eq(t, rd(t, b, sizeof(b), 0), 5);
	check_pat(t, b, 5, 16);
	t_drain_acks(t);
}

/* A pointer to data already received, or older than the current one, is ignored. */
static void stale_urgent_pointer_ignored(struct t *t)
{
	uint8_t b[100];

	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 20));
	t_eq(t, rd(t, b, sizeof(b), 0), 20);
	/* partly old, pointing below rcv_nxt: no replay (Linux tcp_check_urg()) */
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 16, .ack = 1, .len = 10, .urp = 2));
	t_eq(t, t_stats(t).urgent_marks, 0);
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 26, .ack = 1, .len = 0, .urp = 0x1000));
	t_in(t, SEG(.flags = T_ACK | T_URG, .seq = 26, .ack = 1, .len = 5, .urp = 3));
	t_eq(t, t_stats(t).urgent_marks, 1); /* the later pointer stays */
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLPRI));
	t_eq(t, rd(t, b, sizeof(b), MSG_OOB), -EAGAIN);
	t_eq(t, rd(t, b, sizeof(b), 0), 10);
	t_drain_acks(t);
}

/*
 * send(MSG_OOB): URG with the pointer after the last byte (BSD/Linux), on
 * the retransmission too, not held by Nagle; it ends when the byte is ACKed.
 */
static void send_oob(struct t *t)
{
	static const uint8_t x[3] = {1, 2, 3};

	t_start(t, TCP_ESTABLISHED);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 10));
	/* 10 bytes unacknowledged: Nagle would hold a small write; urgent data goes */
	t_eq(t, sock_send(t->stk, t->f->sd, x, 3, MSG_OOB), 3);
	t_out(t, SEG(.flags = T_ACK | T_PSH | T_URG, .seq = 11, .ack = 1, .len = 3, .data = x,
		     .urp = 3));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 11));
	t_out_by(t, 3000000,
		 SEG(.flags = T_ACK | T_PSH | T_URG, .seq = 11, .ack = 1, .len = 3, .data = x,
		     .urp = 3));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 14));
	t_eq(t, sock_send(t->stk, t->f->sd, x, 3, 0), 3);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 14, .ack = 1, .len = 3, .data = x));
}

int main(void)
{
	T_RUN(urgent_byte_out_of_band);
	T_RUN(urgent_byte_lost_to_normal_read);
	T_RUN(urgent_inline);
	T_RUN(only_urgent_byte_not_readable);
	T_RUN(urgent_pointer_ahead);
	T_RUN(stale_urgent_pointer_ignored);
	T_RUN(send_oob);
	return check_summary();
}
