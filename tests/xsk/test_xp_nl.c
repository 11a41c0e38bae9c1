/*
 * test_xp_nl.c - kernel facts over rtnetlink (xsk/xp_nl.c).
 *
 *   test_xp_nl                    unit part: loopback only, no root needed
 *   test_xp_nl IF OUR_IP PEER_IP [OUR_IP6 PEER_IP6]
 *                                 test bed part (root): the link's facts,
 *                                 the on-link route, and neighbour resolution
 *                                 through the kernel (missing -> -EAGAIN ->
 *                                 the peer's MAC), an unanswered address,
 *                                 and without CAP_NET_ADMIN (-EPERM); the
 *                                 same over IPv6 (addresses with scope, route,
 *                                 NDP through the kernel)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/capability.h>
#include <net/if.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xp.h"
#include "check.h"

/*
 * 10 ms apart, for 3.5 s: a first solicitation sent while the new veth is
 * still coming up is lost, and the kernel solicits again only after its
 * 1 s retransmit timer.
 */
#define RESOLVE_TRIES 350

/* xp_hop_route_find(): the longest prefix that holds the destination decides, metric or not. */
static void hop_find_part(void)
{
	struct xp_hop_route r[4] = {{.plen = 16, .hops = 20}, /* fd77::/16 hoplimit 20 */
				    {.plen = 64, .hops = 0},  /* fd77:1::/64, none */
				    {.plen = 96 + 8, .hops = 9},
				    {.plen = 0, .hops = 5}}; /* ::/0 hoplimit 5 */
	struct in6_addr a;

	inet_pton(AF_INET6, "fd77::", &r[0].dst);
	inet_pton(AF_INET6, "fd77:1::", &r[1].dst);
	inet_pton(AF_INET6, "::ffff:10.0.0.0", &r[2].dst);
	inet_pton(AF_INET6, "fd77:2::9", &a);
	CHECK(xp_hop_route_find(r, 4, &a) == 20, "hops: fd77::/16's metric");
	inet_pton(AF_INET6, "fd77:1::9", &a);
	CHECK(xp_hop_route_find(r, 4, &a) == 0, "hops: a longer route without the metric wins");
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &a);
	CHECK(xp_hop_route_find(r, 4, &a) == 9, "hops: IPv4 10/8, v4-mapped");
	inet_pton(AF_INET6, "2001:db8::1", &a);
	CHECK(xp_hop_route_find(r, 4, &a) == 5, "hops: the default route's");
	CHECK(xp_hop_route_find(r, 3, &a) == 0, "hops: no route");
}

static void unit_part(void)
{
	struct xp_link l;
	uint32_t nh = 0;
	int err, oif = 0;
	uint8_t mac[6];

	err = xp_nl_link("lo", &l);
	CHECK(err == 0, "link lo: %s", strerror(-err));
	CHECK(l.ifindex == (int)if_nametoindex("lo"), "lo ifindex %d", l.ifindex);
	CHECK(l.mtu >= 1500, "lo mtu %u", l.mtu);
	CHECK(l.n_rx_queues >= 1, "lo queues %u", l.n_rx_queues);
	CHECK(l.n_addrs >= 1 && l.addr[0] == htonl(0x7f000001) && l.prefix_len[0] == 8,
	      "lo address (%u addrs)", l.n_addrs);
	CHECK(!l.kind[0] && !xp_link_local_only(&l), "lo has no link kind (\"%s\")", l.kind);
	CHECK(xp_nl_link("no-such-if0", &l) == -ENODEV, "missing interface");
	CHECK(xp_nl_link("", &l) == -EINVAL, "empty name");
	CHECK(xp_nl_link("a-name-much-too-long-for-linux", &l) == -EINVAL, "long name");

	err = xp_nl_route(htonl(0x7f000002), &nh, &oif);
	CHECK(err == 0, "route 127.0.0.2: %s", strerror(-err));
	CHECK(oif == (int)if_nametoindex("lo") && nh == htonl(0x7f000002), "local route");
	CHECK(xp_nl_neigh(9999, htonl(0x0a000001), mac) < 0, "neigh on a missing interface");
	hop_find_part();
}

static void bed_part(const char *ifname, const char *ours, const char *peer)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	uint32_t nh = 0, peer_ip = inet_addr(peer);
	uint8_t mac[6] = {0}, zero[6] = {0};
	struct xp_link l;
	int err, oif = 0, tries = 0;

	err = xp_nl_link(ifname, &l);
	CHECK(err == 0, "link %s: %s", ifname, strerror(-err));
	CHECK(l.mtu == 1500, "mtu %u", l.mtu);
	CHECK(l.n_rx_queues == 2, "queues %u", l.n_rx_queues);
	CHECK(memcmp(l.mac, zero, 6) != 0, "mac set");
	CHECK(l.n_addrs == 1 && l.addr[0] == inet_addr(ours) && l.prefix_len[0] == 24,
	      "address (%u)", l.n_addrs);
	CHECK(!strcmp(l.kind, "veth") && xp_link_local_only(&l), "veth is local-only (\"%s\")",
	      l.kind);

	err = xp_nl_route(peer_ip, &nh, &oif);
	CHECK(err == 0 && nh == peer_ip && oif == l.ifindex, "on-link route: %s", strerror(-err));
	CHECK(xp_nl_route(inet_addr("192.0.2.1"), &nh, &oif) < 0, "no route (no default)");

	/* The test bed's ping filled the table: flush so resolution starts from nothing. */
	err = xp_nl_neigh(l.ifindex, peer_ip, mac);
	CHECK(err == -EAGAIN || err == 0, "first lookup: %s", strerror(-err));
	while (err == -EAGAIN && tries++ < RESOLVE_TRIES) {
		nanosleep(&ts, NULL);
		err = xp_nl_neigh(l.ifindex, peer_ip, mac);
	}
	CHECK(err == 0 && memcmp(mac, zero, 6) != 0, "resolved after %d tries: %s", tries,
	      strerror(-err));

	/* Nobody answers for .77: asking starts resolution, then it fails. */
	err = xp_nl_neigh(l.ifindex, inet_addr("10.77.1.77"), mac);
	CHECK(err == -EAGAIN, "unanswered: %s", strerror(-err));
}

static void bed_part6(const char *ifname, const char *ours, const char *peer)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	struct in6_addr me, him, nh, other, ll;
	uint8_t mac[6] = {0}, zero[6] = {0};
	struct xp_link l;
	int err, oif = 0, tries = 0, seen_ll = 0;

	inet_pton(AF_INET6, ours, &me);
	inet_pton(AF_INET6, peer, &him);
	inet_pton(AF_INET6, "fd77:1::77", &other);
	err = xp_nl_link(ifname, &l);
	CHECK(err == 0 && l.n_addrs6 >= 1, "IPv6 addresses: %u", l.n_addrs6);
	/* the global (ULA) one first; a link-local one, if DAD finished, after it */
	CHECK(l.n_addrs6 >= 1 && !memcmp(&l.addr6[0], &me, 16) && l.prefix_len6[0] == 64 &&
		      l.scope6[0] == 0,
	      "first IPv6 address is %s/64, scope universe", ours);
	for (unsigned i = 1; i < l.n_addrs6; i++)
		if (l.addr6[i].s6_addr[0] == 0xfe && l.scope6[i] == 253)
			seen_ll = 1;
	printf("IPv6: %u addresses, link-local %s\n", l.n_addrs6, seen_ll ? "seen" : "not yet");

	err = xp_nl_route6(&him, 0, &nh, &oif);
	CHECK(err == 0 && !memcmp(&nh, &him, 16) && oif == l.ifindex, "IPv6 on-link route: %s",
	      strerror(-err));
	inet_pton(AF_INET6, "2001:db8::1", &nh);
	CHECK(xp_nl_route6(&nh, 0, &nh, &oif) < 0, "no IPv6 route (no default)");
	/* link-local: on-link through the interface we name */
	inet_pton(AF_INET6, "fe80::99", &ll);
	err = xp_nl_route6(&ll, l.ifindex, &nh, &oif);
	CHECK(err == 0 && oif == l.ifindex && !memcmp(&nh, &ll, 16), "link-local route: %s",
	      strerror(-err));

	/* the interface's hop_limit sysctl, and a route's hoplimit metric */
	struct xp_hop_route hr[XP_HOP_ROUTES];
	char cmd[160];
	int n;

	CHECK(l.hop_limit6 == 64, "hop_limit6 %u", l.hop_limit6);
	n = xp_nl_route_hops(l.ifindex, hr, XP_HOP_ROUTES);
	CHECK(n == 0, "no route sets a hop limit: %d", n);
	snprintf(cmd, sizeof(cmd), "ip -6 route add fd77:9::/64 dev %s hoplimit 33", ifname);
	CHECK(system(cmd) == 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd), "sysctl -qw net.ipv6.conf.%s.hop_limit=45", ifname);
	CHECK(system(cmd) == 0, "%s", cmd);
	n = xp_nl_route_hops(l.ifindex, hr, XP_HOP_ROUTES);
	CHECK(n == 1 && hr[0].plen == 64 && hr[0].hops == 33, "route hoplimit 33 found: %d", n);
	CHECK(xp_nl_link(ifname, &l) == 0 && l.hop_limit6 == 45, "hop_limit6 45: %u", l.hop_limit6);
	snprintf(cmd, sizeof(cmd),
		 "ip -6 route del fd77:9::/64 dev %s; sysctl -qw net.ipv6.conf.%s.hop_limit=64",
		 ifname, ifname);
	CHECK(system(cmd) == 0, "%s", cmd);
	CHECK(xp_nl_default_ttl() == 64, "net.ipv4.ip_default_ttl 64");

	err = xp_nl_neigh6(l.ifindex, &him, mac);
	CHECK(err == -EAGAIN || err == 0, "first IPv6 lookup: %s", strerror(-err));
	while (err == -EAGAIN && tries++ < RESOLVE_TRIES) {
		nanosleep(&ts, NULL);
		err = xp_nl_neigh6(l.ifindex, &him, mac);
	}
	CHECK(err == 0 && memcmp(mac, zero, 6) != 0, "NDP resolved after %d tries: %s", tries,
	      strerror(-err));
	err = xp_nl_neigh6(l.ifindex, &other, mac);
	CHECK(err == -EAGAIN, "unanswered IPv6 neighbour: %s", strerror(-err));
}

/* Drop CAP_NET_ADMIN from the effective set (no libcap: the raw syscalls). */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * Without CAP_NET_ADMIN (a worker after setuid): known entries are read,
 * a missing one cannot be asked for: -EPERM, not a silent -EAGAIN forever.
 */
static void unprivileged_part(const char *ifname, const char *peer)
{
	uint8_t mac[6] = {0}, zero[6] = {0};
	int ifindex = (int)if_nametoindex(ifname), st = -1;
	pid_t pid = fork();

	if (pid == 0) {
		int rc = drop_net_admin() ? 10 : 0;

		if (!rc && (xp_nl_neigh(ifindex, inet_addr(peer), mac) || !memcmp(mac, zero, 6)))
			rc = 11;
		if (!rc && xp_nl_neigh(ifindex, inet_addr("10.77.1.78"), mac) != -EPERM)
			rc = 12;
		_exit(rc);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "unprivileged: known entry read, missing one -EPERM (%d)",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv)
{
	if (argc == 4 || argc == 6) {
		check_root_or_skip("neighbour requests");
		bed_part(argv[1], argv[2], argv[3]);
		unprivileged_part(argv[1], argv[3]);
		if (argc == 6)
			bed_part6(argv[1], argv[4], argv[5]);
	} else {
		unit_part();
	}
	return check_summary();
}
