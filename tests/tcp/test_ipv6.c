/*
 * test_ipv6.c - packet scripts for IPv6 and dual-stack AF_INET6 sockets.
 *
 * The harness runs in IPv6 mode (t_family(AF_INET6)): the stack is
 * fd77:1::1 and 10.77.1.1, its listener is AF_INET6 on [::]:80 with
 * IPV6_V6ONLY off, and the peer is fd77:1::2 (or 10.77.1.2 where a test
 * switches t->v6 off to speak IPv4 to the same listener). Every t_out()
 * checks the IPv6 addresses, hop limit 64 and one nonzero flow label per
 * flow. Covered: handshake and options (MSS = MTU - 60), IPv4 peers of a
 * dual-stack listener as ::ffff:a.b.c.d, IPV6_V6ONLY, bind rules of
 * AF_INET6, RST to a closed port, challenge ACK, IPV6_TCLASS, extension
 * headers (walked, or dropped and counted), bad sources and destinations.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static struct in6_addr a6(const char *s)
{
	struct in6_addr a;

	inet_pton(AF_INET6, s, &a);
	return a;
}

static int listen6(struct t *t, uint16_t port, int v6only, const char *addr)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	int sd = sock_socket6(t->stk);

	a.sin6_addr = a6(addr);
	if (sd < 0)
		return sd;
	if (v6only >= 0 &&
	    sock_setopt(t->stk, sd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0)
		return -1000;
	int r = sock_bind6(t->stk, sd, &a);

	if (r)
		return r;
	r = sock_listen(t->stk, sd, 16);
	return r ? r : sd;
}

/* Linux's SYN over IPv6: the SYN-ACK announces MSS 1440 (MTU 1500 - 40 - 20). */
static void handshake_options(struct t *t)
{
	const struct t_wire *w;
	struct sock_info info;
	struct sockaddr_in6 me, peer;

	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ws = 7, .sackok = 1, .ts = 1,
		    .ts_ecr = 0));
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440, .ws = T_ANY,
			 .sackok = 1, .ts = 1));
	t_check(t, w->v6 && w->ws >= 0 && w->ws <= 14);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, sock_info(t->stk, t->f->sd, &info), 0);
	t_eq(t, info.mss, 1428); /* 1440 less the timestamp option */
	t_check(t, info.local6.sin6_family == AF_INET6 && info.local.sin_addr.s_addr == 0);
	t_eq(t, sock_name6(t->stk, t->f->sd, &me), 0);
	t_check(t, ntohs(me.sin6_port) == 80);
	struct in6_addr mine = a6("fd77:1::1"), theirs = a6("fd77:1::2");

	t_check(t, !memcmp(&me.sin6_addr, &mine, 16) && me.sin6_flowinfo == 0);
	t_eq(t, sock_peer6(t->stk, t->f->sd, &peer), 0);
	t_check(t, !memcmp(&peer.sin6_addr, &theirs, 16) && peer.sin6_scope_id == 0);
	/* data both ways, every segment of the flow with the same label (t_out) */
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1, .len = 1000));
	t_eq(t, t_read(t, 2000), 1000);
	t_write(t, 3000);
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1001)); /* quick ACK at start */
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1001, .len = 1428));
	t_out(t, SEG(.flags = T_ACK, .seq = 1429, .ack = 1001, .len = 1428));
	t_in(t, SEG(.flags = T_ACK, .seq = 1001, .ack = 2857)); /* Nagle held the tail */
	t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 2857, .ack = 1001, .len = 144));
	t_eq(t, t_stats(t).passive_opens6, 1);
	t_check(t, t_stats(t).rx_frames6 >= 3 && t_stats(t).tx_frames6 >= 4);
}

/* A dual-stack [::] listener takes IPv4 peers too; accept() shows them v4-mapped. */
static void dual_stack_ipv4_peer(struct t *t)
{
	struct sockaddr_in6 p;
	struct in6_addr want = a6("::ffff:10.77.1.2");

	t->v6 = 0;
	t_flow(t, 41000);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	int sd = sock_accept6(t->stk, t->listen_sd, &p);

	t_check(t, sd >= 0);
	t_check(t, p.sin6_family == AF_INET6 && !memcmp(&p.sin6_addr, &want, 16) &&
			   ntohs(p.sin6_port) == 41000);
	t_eq(t, sock_name6(t->stk, sd, &p), 0);
	want = a6("::ffff:10.77.1.1");
	t_check(t, !memcmp(&p.sin6_addr, &want, 16));
	t_eq(t, t_stats(t).passive_opens6, 0);
	t_eq(t, t_stats(t).passive_opens, 1);
	/* an IPv6 peer on the same listener right after */
	t->v6 = 1;
	t_flow(t, 41001);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_eq(t, t_stats(t).passive_opens6, 1);
}

/* IPV6_V6ONLY: IPv4 SYNs to the port are not its; an AF_INET listener may share the port. */
static void v6only_listener(struct t *t)
{
	int one = 1, v = -1;
	socklen_t n = sizeof(v);
	int l = listen6(t, 81, 1, "::");

	t_check(t, l >= 0);
	t_eq(t, sock_getopt(t->stk, l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &n), 0);
	t_eq(t, v, 1);
	/* after bind, Linux refuses to change it */
	t_eq(t, sock_setopt(t->stk, l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), -EINVAL);
	t->v6 = 0;
	t_flow(t, 41100)->sport = 81;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1));
	/* 0.0.0.0:81 binds beside [::]:81 v6only, without SO_REUSEADDR (as Linux) */
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(81)};
	int l4 = sock_socket(t->stk);

	t_eq(t, sock_bind(t->stk, l4, &a4), 0);
	t_eq(t, sock_listen(t->stk, l4, 8), 0);
	t_flow(t, 41101)->sport = 81;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_check(t, sock_accept(t->stk, l4, NULL) >= 0);
	t_eq(t, sock_accept(t->stk, l, NULL), -EAGAIN);
	t->v6 = 1;
	t_flow(t, 41102)->sport = 81;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_check(t, sock_accept6(t->stk, l, NULL) >= 0);
	/* a dual-stack [::]:82 conflicts with 0.0.0.0:82, as on Linux */
	struct sockaddr_in a82 = {.sin_family = AF_INET, .sin_port = htons(82)};
	int l82 = sock_socket(t->stk);

	t_eq(t, sock_bind(t->stk, l82, &a82), 0);
	t_eq(t, listen6(t, 82, 0, "::"), -EADDRINUSE);
}

/* Linux inet6_bind() rules an AF_INET6 socket meets. */
static void bind_rules(struct t *t)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(90)};
	int one = 1, sd = sock_socket6(t->stk);
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(90)};

	/* AF_INET calls on an AF_INET6 socket and the reverse */
	t_eq(t, sock_bind(t->stk, sd, &a4), -EAFNOSUPPORT);
	/* not our address */
	a.sin6_addr = a6("fd77:1::99");
	t_eq(t, sock_bind6(t->stk, sd, &a), -EADDRNOTAVAIL);
	/* link-local without an interface */
	a.sin6_addr = a6("fe80::1");
	t_eq(t, sock_bind6(t->stk, sd, &a), -EINVAL);
	/* v4-mapped with IPV6_V6ONLY */
	t_eq(t, sock_setopt(t->stk, sd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	a.sin6_addr = a6("::ffff:10.77.1.1");
	t_eq(t, sock_bind6(t->stk, sd, &a), -EINVAL);
	/* IPPROTO_IPV6 options belong to AF_INET6 sockets */
	int s4 = sock_socket(t->stk);

	t_eq(t, sock_setopt(t->stk, s4, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)),
	     -ENOPROTOOPT);
	/* the JDK's case: AF_INET6 bound to our IPv4 address, v4-mapped, serves IPv4 */
	int j = listen6(t, 91, -1, "::ffff:10.77.1.1");
	struct sockaddr_in6 p;
	struct in6_addr want = a6("::ffff:10.77.1.2");

	t_check(t, j >= 0);
	t_eq(t, sock_name6(t->stk, j, &p), 0);
	t_check(t, ntohs(p.sin6_port) == 91);
	t->v6 = 0;
	t_flow(t, 41200)->sport = 91;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1460, .ts = 0));
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1460));
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	int c = sock_accept6(t->stk, j, &p);

	t_check(t, c >= 0 && !memcmp(&p.sin6_addr, &want, 16));
	/* ... and not IPv6 */
	t->v6 = 1;
	t_flow(t, 41201)->sport = 91;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1));
}

/* RFC 9293 3.10.7.1 over IPv6: a SYN to a closed port gets RST|ACK. */
static void rst_closed_port(struct t *t)
{
	t_flow(t, 41300)->sport = 9;
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0));
	t_out(t, SEG(.flags = T_RST | T_ACK, .seq = 0, .ack = 1));
	t_eq(t, t_drops(t, "no_socket"), 1);
}

/* RFC 5961 3.2 over IPv6: an in-window RST not at rcv_nxt gets a challenge ACK. */
static void challenge_ack(struct t *t)
{
	t_start(t, TCP_ESTABLISHED);
	t_in(t, SEG(.flags = T_RST, .seq = 100));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).challenge_acks, 1);
	t_in(t, SEG(.flags = T_RST, .seq = 1));
	T_STATE(t, TCP_CLOSE);
}

/* IPV6_TCLASS of the listener goes on its SYN-ACKs and its children's segments. */
static void traffic_class(struct t *t)
{
	int tc = 0x28, v = 0;
	socklen_t n = sizeof(v);
	const struct t_wire *w;

	t_eq(t, sock_setopt(t->stk, t->listen_sd, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof(tc)), 0);
	t_eq(t, sock_getopt(t->stk, t->listen_sd, IPPROTO_IPV6, IPV6_TCLASS, &v, &n), 0);
	t_eq(t, v, 0x28);
	t_in(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0));
	w = t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	t_eq(t, w->tclass, 0x28);
	t_in(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	t_accept(t);
	t_write(t, 10);
	w = t_out(t, SEG(.flags = T_ACK | T_PSH, .seq = 1, .ack = 1, .len = 10));
	t_eq(t, w->tclass, 0x28);
}

/* Hop-by-hop and destination options are walked to the TCP header. */
static void extension_headers_walked(struct t *t)
{
	/* hop-by-hop (PadN) -> destination options (PadN) -> TCP */
	static const uint8_t ext[] = {60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0};
	uint8_t f[T_FRAME_MAX];
	struct t_wire w;

	t_flow(t, 41400);
	size_t n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0), f);
	const char *why;

	t_check(t, t_seg_parse(f, n, &w, &why) == 0);
	w.ext6 = ext;
	w.ext6_len = sizeof(ext);
	w.ext6_nh = 0;
	n = t_seg_build(&w, f);
	t_in_raw(t, f, n);
	t_out(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
}

/* Fragments, routing headers with segments left, long chains: dropped and counted. */
static void extension_headers_dropped(struct t *t)
{
	static const uint8_t frag[] = {6, 0, 0, 1, 0, 0, 0, 1};	 /* offset 0, M set */
	static const uint8_t route[] = {6, 0, 4, 1, 0, 0, 0, 0}; /* segments left 1 */
	static const uint8_t hop_late[] = {0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0};
	static const uint8_t esp[] = {0, 0, 0, 1, 0, 0, 0, 1};
	uint8_t chain[10 * 8], f[T_FRAME_MAX];
	struct t_wire w;
	const char *why;

	for (unsigned i = 0; i < 10; i++) {
		memset(chain + 8 * i, 0, 8);
		chain[8 * i] = i == 9 ? 6 : 60;
		chain[8 * i + 2] = 1;
		chain[8 * i + 3] = 4;
	}
	struct {
		const uint8_t *ext;
		uint8_t len, nh;
		const char *reason;
	} c[] = {
		{frag, sizeof(frag), 44, "ip_frag"},
		{route, sizeof(route), 43, "ip6_exthdr"},
		{hop_late, sizeof(hop_late), 60, "ip6_exthdr"}, /* hop-by-hop not first */
		{chain, sizeof(chain), 60, "ip6_exthdr"},	/* 10 headers: past the bound */
		{esp, sizeof(esp), 50, "ip_proto"},
	};
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint64_t d0 = t_drops(t, c[i].reason);

		t_flow(t, (uint16_t)(41500 + i));
		size_t n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0), f);

		t_check(t, t_seg_parse(f, n, &w, &why) == 0);
		w.ext6 = c[i].ext;
		w.ext6_len = c[i].len;
		w.ext6_nh = c[i].nh;
		n = t_seg_build(&w, f);
		t_in_raw(t, f, n);
		t_nothing(t, 0);
		if (t_drops(t, c[i].reason) != d0 + 1)
			t_fail(t, __FILE__, __LINE__, "case %u: not counted as %s", i, c[i].reason);
	}
	t_eq(t, sock_accept6(t->stk, t->listen_sd, NULL), -EAGAIN);
}

/* Multicast, v4-mapped or unspecified sources, other destinations, bad lengths: dropped. */
static void bad_addresses_and_lengths(struct t *t)
{
	static const char *const src[] = {"ff02::1", "::ffff:10.77.1.2", "::", "::1"};
	uint8_t f[T_FRAME_MAX];
	struct t_wire w;
	const char *why;

	for (unsigned i = 0; i < 4; i++) {
		struct in6_addr s = a6(src[i]);

		t_flow(t, (uint16_t)(41600 + i));
		size_t n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0), f);

		t_check(t, t_seg_parse(f, n, &w, &why) == 0);
		memcpy(w.src_ip6, &s, 16);
		n = t_seg_build(&w, f);
		t_in_raw(t, f, n);
		t_nothing(t, 0);
	}
	t_eq(t, t_drops(t, "ip_src"), 4);
	/* not our address */
	struct in6_addr other = a6("fd77:1::7");

	t_flow(t, 41610);
	size_t n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0), f);

	t_check(t, t_seg_parse(f, n, &w, &why) == 0);
	memcpy(w.dst_ip6, &other, 16);
	n = t_seg_build(&w, f);
	t_in_raw(t, f, n);
	t_eq(t, t_drops(t, "ip_dst"), 1);
	/* payload length past the frame, and every truncation */
	t_flow(t, 41611);
	n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0, .ip_len_delta = 1), f);
	t_in_raw(t, f, n);
	t_eq(t, t_drops(t, "ip_len"), 1);
	n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0), f);
	for (size_t cut = 0; cut < n; cut += 5)
		t_in_raw(t, f, cut);
	/* a bad TCP checksum over the IPv6 pseudo header */
	n = t_build(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ts = 0, .bad_tcp_csum = 1), f);
	t_in_raw(t, f, n);
	t_check(t, t_drops(t, "tcp_csum") >= 1);
	t_nothing(t, 0);
	t_eq(t, sock_accept6(t->stk, t->listen_sd, NULL), -EAGAIN);
}

/* Active open over IPv6: source fd77:1::1, SYN with MSS 1440; IPV6_V6ONLY refuses v4-mapped. */
static void active_open(struct t *t)
{
	int one = 1;

	t_connect(t, 5000);
	const struct t_wire *w = t_out(t, SEG(.flags = T_SYN, .seq = 0, .mss = 1440, .ws = T_ANY,
					      .sackok = T_ANY, .ts = T_ANY));

	t_check(t, w->v6);
	t_in(t, SEG(.flags = T_SYN | T_ACK, .seq = 0, .ack = 1, .mss = 1440));
	t_out(t, SEG(.flags = T_ACK, .seq = 1, .ack = 1));
	T_STATE(t, TCP_ESTABLISHED);
	t_eq(t, t_stats(t).active_opens6, 1);
	struct sockaddr_in6 d = {.sin6_family = AF_INET6, .sin6_port = htons(5001)};
	int sd = sock_socket6(t->stk);

	d.sin6_addr = a6("::ffff:10.77.1.2");
	t_eq(t, sock_setopt(t->stk, sd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	t_eq(t, sock_connect6(t->stk, sd, &d, t->now), -ENETUNREACH);
}

int main(void)
{
	t_family(AF_INET6);
	T_RUN(handshake_options);
	T_RUN(dual_stack_ipv4_peer);
	T_RUN(v6only_listener);
	T_RUN(bind_rules);
	T_RUN(rst_closed_port);
	T_RUN(challenge_ack);
	T_RUN(traffic_class);
	T_RUN(extension_headers_walked);
	T_RUN(extension_headers_dropped);
	T_RUN(bad_addresses_and_lengths);
	T_RUN(active_open);
	return check_summary();
}
