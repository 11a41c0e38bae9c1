/*
 * test_sockopt.c - packet scripts for the socket options whose effect shows
 * on the wire or in readiness, as Linux: TCP_MAXSEG (clamps the MSS we
 * announce and use; getsockopt gives user_mss before a connection, mss_cache
 * after), TCP_NOTSENT_LOWAT (writable only while fewer unsent bytes wait),
 * SO_SNDBUF (doubled, and the limit of queued bytes), and the window scale
 * we offer (Linux's 7 from tcp_rmem[2]; from the buffer once SO_RCVBUF is set).
 */
#include "t.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static int get_int(struct t *t, int sd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	t_eq(t, sock_getopt(t->stk, sd, level, name, &v, &len), 0);
	return v;
}

static void set_int(struct t *t, int sd, int level, int name, int v)
{
	t_eq(t, sock_setopt(t->stk, sd, level, name, &v, sizeof(v)), 0);
}

/* TCP_MAXSEG on the listener: the SYN-ACK announces it, segments respect it. */
static void maxseg_listener(struct t *t)
{
	int v = 50;

	t_eq(t, sock_setopt(t->stk, t->listen_sd, IPPROTO_TCP, TCP_MAXSEG, &v, sizeof(v)), -EINVAL);
	set_int(t, t->listen_sd, IPPROTO_TCP, TCP_MAXSEG, 1000);
	t_eq(t, get_int(t, t->listen_sd, IPPROTO_TCP, TCP_MAXSEG), 1000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_val = 100, .ts_ecr = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1000, .ws = 7, .sackok = 1,
		     .ts = T_ANY));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, get_int(t, t->f->sd, IPPROTO_TCP, TCP_MAXSEG), 988); /* 1000 - timestamps */
	t_write(t, 2000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .len = 988));
	t_out(t, SEG(.flags = T_ACK, .seq = 989, .len = 988));
	t_out(t, SEG(.flags = T_ACK, .seq = 1977, .len = 24));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 2001));
	t_nothing(t, 0);
}

/* TCP_MAXSEG before connect(): the SYN carries it; unset, getsockopt says 536. */
static void maxseg_connect(struct t *t)
{
	int sd = sock_socket(t->stk);

	t_eq(t, get_int(t, sd, IPPROTO_TCP, TCP_MAXSEG), 536);
	set_int(t, sd, IPPROTO_TCP, TCP_MAXSEG, 1200);
	t_eq(t, get_int(t, sd, IPPROTO_TCP, TCP_MAXSEG), 1200);
	sock_close(t->stk, sd);
	t_connect(t, 5000);
	/* the SYN leaves at the next poll: set now, it is as before connect() on Linux */
	set_int(t, t->f->sd, IPPROTO_TCP, TCP_MAXSEG, 1200);
	t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1200, .ws = 7, .sackok = 1, .ts = T_ANY));
}

/* TCP_NOTSENT_LOWAT: a corked tail is unsent data; writable again once it left. */
static void notsent_lowat_readiness(struct t *t)
{
	uint8_t b[100];

	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = t_pat(100 + i);

	t_start(t, TCP_ESTABLISHED);
	t_eq(t, get_int(t, t->f->sd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), 0);
	set_int(t, t->f->sd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 50);
	t_eq(t, get_int(t, t->f->sd, IPPROTO_TCP, TCP_NOTSENT_LOWAT), 50);
	set_int(t, t->f->sd, IPPROTO_TCP, TCP_CORK, 1);
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLOUT);
	t_write(t, 100);
	t_nothing(t, 0);
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLOUT));
	/* past the mark a write still fills the last unsent skb (Linux: 64 KiB goal) */
	t_eq(t, sock_send(t->stk, t->f->sd, b, sizeof(b), 0), sizeof(b));
	t->f->app_wr += sizeof(b);
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLOUT));
	t_out_by(t, 200000, SEG(.flags = T_ACK, .seq = 1, .len = 200)); /* the cork's ceiling */
	t_check(t, sock_events(t->stk, t->f->sd) & EPOLLOUT);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 201));
	t_nothing(t, 0);
}

/* SO_SNDBUF: doubled with Linux's floor, and no more than that is queued. */
static void sndbuf_limits_queue(struct t *t)
{
	static uint8_t b[100000];

	t_start(t, TCP_ESTABLISHED);
	set_int(t, t->f->sd, SOL_SOCKET, SO_SNDBUF, 1000);
	t_eq(t, get_int(t, t->f->sd, SOL_SOCKET, SO_SNDBUF), 4608);
	set_int(t, t->f->sd, SOL_SOCKET, SO_SNDBUF, 10000);
	t_eq(t, get_int(t, t->f->sd, SOL_SOCKET, SO_SNDBUF), 20000);
	t->peer_win = 0; /* the peer's window is shut: everything stays queued */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .win = 0));
	t_eq(t, sock_send(t->stk, t->f->sd, b, sizeof(b), 0), 20000);
	t_eq(t, sock_send(t->stk, t->f->sd, b, sizeof(b), 0), -EAGAIN);
	t_check(t, !(sock_events(t->stk, t->f->sd) & EPOLLOUT));
	t_eq(t, sock_tx_queued(t->stk, t->f->sd), 20000);
}

/* The window shift: 7 as Linux offers with autotuning; from SO_RCVBUF once set. */
static void wscale_offered(struct t *t)
{
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = 7));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	set_int(t, t->listen_sd, SOL_SOCKET, SO_RCVBUF, 65536); /* 128 KiB, window 64 KiB: 1 */
	t_flow(t, 41001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ws = 7));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ws = 1));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
}

int main(void)
{
	T_RUN(maxseg_listener);
	T_RUN(maxseg_connect);
	T_RUN(notsent_lowat_readiness);
	T_RUN(sndbuf_limits_queue);
	T_RUN(wscale_offered);
	return check_summary();
}
