/*
 * test_hops.c - packet scripts for the hop limit (IPv6) and TTL (IPv4) the
 * stack sends with, as Linux: a socket's IPV6_UNICAST_HOPS / IP_TTL, else
 * the route's hoplimit metric (netdev hop_limit()), else the interface's
 * net.ipv6.conf.IF.hop_limit / net.ipv4.ip_default_ttl (netdev_info
 * hop_limit6 / ttl4). getsockopt gives what Linux gives: the socket's
 * value, else the connected route's (IPv6) or ip_default_ttl (IP_TTL);
 * sock_export() hands the socket's value to the kernel.
 * Every t_out() checks the field against t->want_hops; the IPv6 scripts run
 * with t_family(AF_INET6), the IPv4 ones before it.
 */
#include "t.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int get_int(struct t *t, int sd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	t_eq(t, sock_getopt(t->stk, sd, level, name, &v, &len), 0);
	return v;
}

static int set_int(struct t *t, int sd, int level, int name, int v)
{
	return sock_setopt(t->stk, sd, level, name, &v, sizeof(v));
}

/*
 * Established (SYN-ACK checked at want_hops), 100 bytes out: the getsockopt
 * answers IPV6_UNICAST_HOPS (IPv6) and IP_TTL must give.
 */
static void one_write(struct t *t, int hops6, int ttl)
{
	t_start(t, TCP_ESTABLISHED);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100));
	if (t->v6)
		t_eq(t, get_int(t, t->f->sd, IPPROTO_IPV6, IPV6_UNICAST_HOPS), hops6);
	t_eq(t, get_int(t, t->f->sd, IPPROTO_IP, IP_TTL), ttl);
}

/* Nothing set anywhere: 64, and getsockopt says so. */
static void default_64(struct t *t)
{
	one_write(t, 64, 64);
}

/* The interface's hop_limit (IPv6) or ip_default_ttl (IPv4): SYN-ACK, data, getsockopt. */
static void link_default(struct t *t)
{
	if (t->v6)
		t->dev.info.hop_limit6 = 33;
	else
		t->dev.info.ttl4 = 33;
	t->want_hops = 33;
	one_write(t, 33, t->v6 ? 64 : 33);
}

/*
 * A route's hoplimit metric beats the interface's. IPV6_UNICAST_HOPS
 * reports it; IP_TTL reports ip_default_ttl even so (Linux).
 */
static void route_metric(struct t *t)
{
	t->dev.info.hop_limit6 = t->dev.info.ttl4 = 33;
	t->link_hop_limit = 20;
	t->want_hops = 20;
	one_write(t, 20, 33);
}

/* The option on a connection: its next segments; -1 gives the route's back; range checks. */
static void socket_option(struct t *t)
{
	int level = t->v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = t->v6 ? IPV6_UNICAST_HOPS : IP_TTL;

	t_start(t, TCP_ESTABLISHED);
	t_eq(t, set_int(t, t->f->sd, level, name, 7), 0);
	t_eq(t, get_int(t, t->f->sd, level, name), 7);
	t->want_hops = 7;
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100));
	t_eq(t, set_int(t, t->f->sd, level, name, 256), -EINVAL);
	t_eq(t, set_int(t, t->f->sd, level, name, -2), -EINVAL);
	/* IPv6 allows 0, IPv4 does not (Linux do_ip_setsockopt(): 1..255 or -1) */
	t_eq(t, set_int(t, t->f->sd, level, name, 0), t->v6 ? 0 : -EINVAL);
	t_eq(t, get_int(t, t->f->sd, level, name), t->v6 ? 0 : 7);
	t_eq(t, set_int(t, t->f->sd, level, name, -1), 0);
	t_eq(t, get_int(t, t->f->sd, level, name), 64);
	t->want_hops = 64;
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 101));
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 101, .ack = 1, .len = 100));
	/* a single byte is an IP_TTL too (Linux), not an IPV6_UNICAST_HOPS */
	unsigned char b = 9;

	t_eq(t, sock_setopt(t->stk, t->f->sd, level, name, &b, 1), t->v6 ? -EINVAL : 0);
	if (!t->v6)
		t_eq(t, get_int(t, t->f->sd, level, name), 9);
}

/* Set on the listener: its SYN-ACK and the accepted connection carry it. */
static void listener_option(struct t *t)
{
	int level = t->v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = t->v6 ? IPV6_UNICAST_HOPS : IP_TTL;

	t->link_hop_limit = 20; /* the socket's value beats the route's */
	t_eq(t, set_int(t, t->listen_sd, level, name, 11), 0);
	t->want_hops = 11;
	t_start(t, TCP_ESTABLISHED);
	t_eq(t, get_int(t, t->f->sd, level, name), 11);
	t_write(t, 100);
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 100));
	/* a hand-over to the kernel (sock_export) sets it on the kernel's socket */
	struct sock_export e;

	t_eq(t, sock_export(t->stk, t->f->sd, &e), 0);
	t_eq(t, t->v6 ? e.uc_hops6 : e.uc_ttl, 11);
	t_eq(t, t->v6 ? e.uc_ttl : e.uc_hops6, -1);
}

/* A RST for a segment of no connection: the route's, or the interface's, hop limit. */
static void rst_reply(struct t *t)
{
	t->dev.info.hop_limit6 = t->dev.info.ttl4 = 40;
	t->want_hops = 40;
	t_flow(t, 40001)->sport = 81;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1, .ts = T_ANY));
	t->link_hop_limit = 21;
	t->want_hops = 21;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1, .ts = T_ANY));
}

/* An AF_INET6 socket takes IP_TTL for its IPv4 peers; an AF_INET one refuses IPv6 options. */
static void families(struct t *t)
{
	int sd = sock_socket(t->stk), sd6 = sock_socket6(t->stk);

	t_eq(t, set_int(t, sd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 5), -ENOPROTOOPT);
	t_eq(t, set_int(t, sd6, IPPROTO_IP, IP_TTL, 5), 0);
	t_eq(t, get_int(t, sd6, IPPROTO_IP, IP_TTL), 5);
	t_eq(t, get_int(t, sd6, IPPROTO_IPV6, IPV6_UNICAST_HOPS), 64); /* not connected */
	sock_close(t->stk, sd);
	sock_close(t->stk, sd6);
}

int main(void)
{
	T_RUN(default_64);
	T_RUN(link_default);
	T_RUN(route_metric);
	T_RUN(socket_option);
	T_RUN(listener_option);
	T_RUN(rst_reply);
	T_RUN(families);
	t_family(AF_INET6);
	T_RUN(default_64);
	T_RUN(link_default);
	T_RUN(route_metric);
	T_RUN(socket_option);
	T_RUN(listener_option);
	T_RUN(rst_reply);
	return check_summary();
}
