/*
 * test_tfo.c - packet scripts for TCP Fast Open on the server side (RFC
 * 7413), as Linux with net.ipv4.tcp_fastopen & 2 and TCP_FASTOPEN on the
 * listener: a cookie request gets a cookie in the SYN-ACK; a SYN carrying
 * that cookie and data opens the connection at once (the SYN-ACK ACKs the
 * data, accept() returns it readable before the handshake's ACK); a wrong
 * cookie gets an ordinary handshake, its data not taken, and a fresh
 * cookie; nothing without TCP_FASTOPEN or with the server side off.
 */
#include "t.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define TFO_KIND 34

static void set_fastopen(struct t *t, int qlen)
{
	t_eq(t, sock_setopt(t->stk, t->listen_sd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)),
	     0);
}

/* The cookie at the end of a SYN-ACK's options (kind, 10, 8 bytes, NOP, NOP); 0 if none. */
static int synack_cookie(const struct t_wire *w, uint8_t cookie[8])
{
	const uint8_t *end = w->data;

	if (end[-12] != TFO_KIND || end[-11] != 10 || end[-2] != 1 || end[-1] != 1)
		return 0;
	memcpy(cookie, end - 10, 8);
	return 1;
}

/* MSS 1460, then the Fast Open option with cookie c (n bytes; n = 0: a request). */
static uint8_t syn_opts(uint8_t *o, const uint8_t *c, unsigned n)
{
	uint8_t k = 0;

	o[k++] = 2;
	o[k++] = 4;
	o[k++] = 1460 >> 8;
	o[k++] = 1460 & 0xff;
	o[k++] = TFO_KIND;
	o[k++] = (uint8_t)(2 + n);
	if (n)
		memcpy(o + k, c, n);
	k = (uint8_t)(k + n);
	while (k % 4)
		o[k++] = 1;
	return k;
}

/* Fast Open on the listener; a client asks for a cookie in an ordinary handshake, accepted. */
static void get_cookie(struct t *t, uint8_t cookie[8])
{
	uint8_t o[40];
	const struct t_wire *w;

	set_fastopen(t, 16);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = o,
		    .raw_optlen = syn_opts(o, NULL, 0)));
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_check(t, synack_cookie(w, cookie));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .ts = 0));
	t_accept(t);
}

/* Ask for a cookie (ordinary handshake), then open a second connection with it and data. */
static void tfo_cookie_then_data(struct t *t)
{
	uint8_t o[40], cookie[8] = {0};
	const struct t_wire *w;

	get_cookie(t, cookie);

	t_flow(t, 41002);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .len = 100, .ts = 0, .raw_opt = o,
		    .raw_optlen = syn_opts(o, cookie, 8)));
	/* accept() has it at once, readable, before the SYN-ACK is even ACKed */
	int sd = t_accept(t);

	t_check(t, sock_events(t->stk, sd) & (EPOLLIN | EPOLLOUT));
	t_eq(t, t_read(t, 100), 100);
	t_write(t, 10); /* the answer follows the SYN-ACK, before the handshake's ACK */
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 101, .mss = 1460, .ts = 0));
	t_check(t, !synack_cookie(w, cookie)); /* a valid cookie is not sent again */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101, .len = 10, .ts = 0));
	T_STATE(t, TCP_SYN_RECV);
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 11, .ts = 0));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).tfo_accepted, 1);
	t_write(t, 10);
	t_out(t, SEG(.flags = T_ACK, .seq = 11, .ack = 101, .len = 10, .ts = 0));
	t_in(t, SEG(.flags = T_ACK, .seq = 101, .ack = 21, .ts = 0));
	t_nothing(t, 2000000);
}

/* The SYN-ACK and the answer sent in SYN-RECEIVED are lost: both come again. */
static void tfo_synack_lost(struct t *t)
{
	uint8_t o[40], cookie[8] = {0};

	get_cookie(t, cookie);
	t_flow(t, 41003);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .len = 50, .ts = 0, .raw_opt = o,
		    .raw_optlen = syn_opts(o, cookie, 8)));
	t_accept(t);
	t_eq(t, t_read(t, 50), 50);
	t_write(t, 20);
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 51, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 51, .len = 20, .ts = 0));
	/* both lost: the SYN-ACK timer sends the SYN-ACK and the data again */
	t_out_by(t, 1100000,
		 SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 51, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 51, .len = 20, .ts = 0));
	/* the handshake's ACK covers the SYN only: the answer is resent by the RTO
	 * (2 s: backed off by the SYN-ACK's, no RTT sample from a resent SYN-ACK) */
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 1, .ts = 0));
	T_STATE(t, TCP_ESTABLISHED);
	t_out_by(t, 2100000, SEG(.flags = T_ACK, .seq = 1, .ack = 51, .len = 20, .ts = 0));
	t_in(t, SEG(.flags = T_ACK, .seq = 51, .ack = 21, .ts = 0));
	t_nothing(t, 3000000);
}

/* A wrong cookie: ordinary handshake, the SYN's data is not taken, a fresh cookie comes. */
static void tfo_bad_cookie(struct t *t)
{
	uint8_t o[40], bad[8] = {1, 2, 3, 4, 5, 6, 7, 8}, cookie[8] = {0};
	const struct t_wire *w;

	set_fastopen(t, 16);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .len = 100, .ts = 0, .raw_opt = o,
		    .raw_optlen = syn_opts(o, bad, 8)));
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_check(t, synack_cookie(w, cookie));
	t_check(t, memcmp(cookie, bad, 8) != 0);
	t_eq(t, t_stats(t).tfo_accepted, 0);
}

/* No TCP_FASTOPEN on the listener, or the server side off: no cookie, no data taken. */
static void tfo_not_enabled(struct t *t)
{
	uint8_t o[40], cookie[8] = {0};
	const struct t_wire *w;

	t_in(t, SEG(.flags = T_SYN, .seq = 0, .ts = 0, .raw_opt = o,
		    .raw_optlen = syn_opts(o, NULL, 0)));
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460, .ts = 0));
	t_check(t, !synack_cookie(w, cookie));
}

static void tfo_server_off(struct t *t)
{
	set_fastopen(t, 16);
	tfo_not_enabled(t);
}

int main(void)
{
	struct stack_config on = {.flags = STACK_F_TFO_SERVER};

	t_run("tfo_cookie_then_data", tfo_cookie_then_data, &on);
	t_run("tfo_synack_lost", tfo_synack_lost, &on);
	t_run("tfo_bad_cookie", tfo_bad_cookie, &on);
	t_run("tfo_not_enabled", tfo_not_enabled, &on);
	T_RUN(tfo_server_off); /* net.ipv4.tcp_fastopen = 1: Linux's default, client only */
	return check_summary();
}
