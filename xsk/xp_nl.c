/*
 * xp_nl.c - kernel facts over rtnetlink (no libnl): an interface's index,
 * MAC, MTU, IPv4 and IPv6 addresses, IPv6 hop limit and RX queue count; the
 * route to a destination; the routes that set a hop limit (a dump, at open);
 * the neighbour (ARP or NDP) entry of a next hop, asking the
 * kernel to resolve it. IPv4 and IPv6 share the code, by family and length.
 *
 * Every call opens a NETLINK_ROUTE socket, sends one request, reads the
 * answer and closes: these run at open and connect time, never per packet.
 * Memory: one receive buffer per call (heap), freed before returning;
 * nothing is kept.
 *
 * Neighbours: xtcp never sends ARP itself. A missing, incomplete or failed
 * entry is handed to the kernel with RTM_NEWNEIGH + NTF_USE (what the
 * kernel's own output path does: neigh_event_send()), which creates the
 * entry if needed and sends the ARP request; the caller asks again later
 * (-EAGAIN). A STALE entry's MAC is returned (the kernel itself keeps
 * sending to it while it re-checks) and NTF_USE starts the re-check.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/inet_diag.h>
#include <linux/if_addr.h>
#include <linux/ipv6.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xp_priv.h"
#include "xp_sys.h"

#define NL_BUF 32768 /* a dump part is at most a page or two */

struct nl_req {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rtm;
		struct ndmsg ndm;
		struct inet_diag_req_v2 diag;
	};
	char attrs[96];
};

/* Called for each answer message; returns 0 to go on, or -errno to stop. */
typedef int (*nl_cb)(const struct nlmsghdr *nh, void *arg);

static void nl_put_attr(struct nl_req *req, uint16_t type, const void *data, uint16_t len)
{
	struct rtattr *rta = (void *)((char *)&req->nh + NLMSG_ALIGN(req->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/*
 * Send req and feed every answer to cb until NLMSG_DONE, the ack, or the
 * single answer of a non-dump request. Returns 0, the kernel's -errno, or
 * cb's.
 */
static int nl_talk_proto(int proto, struct nl_req *req, nl_cb cb, void *arg)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char *buf;
	bool dump = req->nh.nlmsg_flags & NLM_F_DUMP;
	int fd, err = 0, done = 0;
	ssize_t n;

	/* On the heap: this runs in application threads, whose stacks may be small. */
	buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	fd = xp_sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	req->nh.nlmsg_seq = 1;
	if (xp_sys_sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		struct nlmsghdr *nh;

		/* MSG_TRUNC: the real length, so a too-small buffer is an error, not a cut. */
		n = xp_sys_recvfrom(fd, buf, NL_BUF, MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n > NL_BUF) {
			err = -EMSGSIZE;
			break;
		}
		if (n == 0) {
			err = -EIO;
			break;
		}
		for (nh = (void *)buf; NLMSG_OK(nh, (unsigned)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != req->nh.nlmsg_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					err = -EIO;
				else if (!err)
					err = e->error; /* 0 for an ack */
				done = 1;
				break;
			}
			if (!err && cb)
				err = cb(nh, arg);
			if (!dump && !(req->nh.nlmsg_flags & NLM_F_ACK))
				done = 1;
		}
	}
out:
	xp_sys_close(fd);
	free(buf);
	return err;
}

static int nl_talk(struct nl_req *req, nl_cb cb, void *arg)
{
	return nl_talk_proto(NETLINK_ROUTE, req, cb, arg);
}

static void nl_init(struct nl_req *req, uint16_t type, uint16_t flags, size_t body)
{
	memset(req, 0, sizeof(*req));
	req->nh.nlmsg_len = NLMSG_LENGTH(body);
	req->nh.nlmsg_type = type;
	req->nh.nlmsg_flags = NLM_F_REQUEST | flags;
}

/* Walk the attributes after a fixed header of hdr_len bytes. */
#define for_each_rta(rta, nh, hdr_len, left)                                                       \
	for (rta = (struct rtattr *)((char *)NLMSG_DATA(nh) + NLMSG_ALIGN(hdr_len)),               \
	    left = (int)(nh)->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(hdr_len));                 \
	     RTA_OK(rta, left); rta = RTA_NEXT(rta, left))

static void link_kind(const struct rtattr *info, struct xp_link *l);

/*
 * IFLA_AF_SPEC's AF_INET6 IFLA_INET6_CONF: the interface's IPv6 settings, an
 * array of __s32 indexed by DEVCONF_*; DEVCONF_HOPLIMIT is its hop_limit
 * sysctl, what the kernel sends with when the route sets none.
 */
static void link_hop_limit6(const struct rtattr *spec, struct xp_link *l)
{
	const struct rtattr *af = RTA_DATA(spec), *rta;
	int left = (int)RTA_PAYLOAD(spec), left6;
	int32_t v;

	for (; RTA_OK(af, left); af = RTA_NEXT(af, left)) {
		if (af->rta_type != AF_INET6)
			continue;
		rta = RTA_DATA(af);
		left6 = (int)RTA_PAYLOAD(af);
		for (; RTA_OK(rta, left6); rta = RTA_NEXT(rta, left6)) {
			if (rta->rta_type != IFLA_INET6_CONF ||
			    RTA_PAYLOAD(rta) < (DEVCONF_HOPLIMIT + 1) * sizeof(v))
				continue;
			memcpy(&v, (const char *)RTA_DATA(rta) + DEVCONF_HOPLIMIT * sizeof(v),
			       sizeof(v));
			if (v > 0 && v < 256)
				l->hop_limit6 = (uint8_t)v;
		}
	}
}

static int link_cb(const struct nlmsghdr *nh, void *arg)
{
	struct xp_link *l = arg;
	struct rtattr *rta;
	int left;

	if (nh->nlmsg_type != RTM_NEWLINK)
		return 0;
	for_each_rta(rta, nh, sizeof(struct ifinfomsg), left)
	{
		if (rta->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(rta) == 6)
			memcpy(l->mac, RTA_DATA(rta), 6);
		else if (rta->rta_type == IFLA_MTU && RTA_PAYLOAD(rta) >= 4)
			memcpy(&l->mtu, RTA_DATA(rta), 4);
		else if (rta->rta_type == IFLA_NUM_RX_QUEUES && RTA_PAYLOAD(rta) >= 4)
			memcpy(&l->n_rx_queues, RTA_DATA(rta), 4);
		else if (rta->rta_type == IFLA_LINKINFO)
			link_kind(rta, l);
		else if (rta->rta_type == IFLA_AF_SPEC)
			link_hop_limit6(rta, l);
	}
	return 0;
}

/* IFLA_LINKINFO's IFLA_INFO_KIND: the driver of a virtual link ("veth"); none for hardware. */
static void link_kind(const struct rtattr *info, struct xp_link *l)
{
	const struct rtattr *rta = RTA_DATA(info);
	int left = (int)RTA_PAYLOAD(info);

	for (; RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
		if (rta->rta_type != IFLA_INFO_KIND)
			continue;
		size_t n = RTA_PAYLOAD(rta);

		if (n >= sizeof(l->kind))
			n = sizeof(l->kind) - 1;
		memcpy(l->kind, RTA_DATA(rta), n);
		l->kind[n] = 0;
	}
}

bool xp_link_local_only(const struct xp_link *l)
{
	/*
	 * Both ends of these are in this kernel: every frame was sent by a
	 * socket or forwarded by the stack of this host. A bridge, a tunnel,
	 * tun/tap (a VM's or a program's frames) or hardware are not.
	 */
	return !strcmp(l->kind, "veth") || !strcmp(l->kind, "netkit");
}

static int addr_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	struct xp_link *l = arg;
	struct rtattr *rta;
	uint32_t local = 0, address = 0;
	int left;

	if (nh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != l->ifindex || l->n_addrs >= XP_NL_MAX_ADDRS)
		return 0;
	for_each_rta(rta, nh, sizeof(*ifa), left)
	{
		if (rta->rta_type == IFA_LOCAL && RTA_PAYLOAD(rta) == 4)
			memcpy(&local, RTA_DATA(rta), 4);
		else if (rta->rta_type == IFA_ADDRESS && RTA_PAYLOAD(rta) == 4)
			memcpy(&address, RTA_DATA(rta), 4);
	}
	/* IFA_LOCAL is our address; IFA_ADDRESS is the peer's on point-to-point links. */
	if (!local)
		local = address;
	if (!local)
		return 0;
	l->addr[l->n_addrs] = local;
	l->prefix_len[l->n_addrs] = ifa->ifa_prefixlen;
	l->n_addrs++;
	return 0;
}

/*
 * IPv6 addresses of the interface: IFA_ADDRESS is ours (IFA_LOCAL only on
 * point-to-point links). Tentative (DAD running) and DAD-failed addresses
 * cannot be used yet or at all; host-scope ones never reach a link.
 */
static int addr6_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(nh);
	struct xp_link *l = arg;
	struct rtattr *rta;
	struct in6_addr a;
	uint32_t flags = ifa->ifa_flags;
	int left, have = 0;

	if (nh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET6 ||
	    (int)ifa->ifa_index != l->ifindex || l->n_addrs6 >= XP_NL_MAX_ADDRS)
		return 0;
	for_each_rta(rta, nh, sizeof(*ifa), left)
	{
		if ((rta->rta_type == IFA_ADDRESS || rta->rta_type == IFA_LOCAL) &&
		    RTA_PAYLOAD(rta) == 16) {
			memcpy(&a, RTA_DATA(rta), 16);
			have = 1;
		} else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) >= 4) {
			memcpy(&flags, RTA_DATA(rta), 4);
		}
	}
	if (!have || (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) ||
	    (ifa->ifa_scope != RT_SCOPE_UNIVERSE && ifa->ifa_scope != RT_SCOPE_LINK))
		return 0;
	unsigned i = l->n_addrs6++;

	/* wider scope first: the first address is the one to show and to connect from */
	if (ifa->ifa_scope == RT_SCOPE_UNIVERSE) {
		for (; i > 0 && l->scope6[i - 1] != RT_SCOPE_UNIVERSE; i--) {
			l->addr6[i] = l->addr6[i - 1];
			l->prefix_len6[i] = l->prefix_len6[i - 1];
			l->scope6[i] = l->scope6[i - 1];
		}
	}
	l->addr6[i] = a;
	l->prefix_len6[i] = ifa->ifa_prefixlen;
	l->scope6[i] = ifa->ifa_scope;
	return 0;
}

/* Real RX queues from the driver (ethtool channels), when it tells. */
static unsigned ethtool_rx_queues(const char *ifname)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	struct ifreq ifr = {0};
	unsigned n = 0;
	int fd = xp_sys_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (!xp_sys_ioctl(fd, SIOCETHTOOL, &ifr))
		n = ch.rx_count + ch.combined_count;
	xp_sys_close(fd);
	return n;
}

int xp_nl_link(const char *ifname, struct xp_link *out)
{
	struct nl_req req;
	unsigned q;
	int err;

	memset(out, 0, sizeof(*out));
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE)
		return -EINVAL;
	out->ifindex = (int)if_nametoindex(ifname);
	if (!out->ifindex)
		return -ENODEV;
	nl_init(&req, RTM_GETLINK, 0, sizeof(req.ifi));
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = out->ifindex;
	err = nl_talk(&req, link_cb, out);
	if (err)
		return err;
	nl_init(&req, RTM_GETADDR, NLM_F_DUMP, sizeof(req.ifa));
	req.ifa.ifa_family = AF_INET;
	err = nl_talk(&req, addr_cb, out);
	if (err)
		return err;
	nl_init(&req, RTM_GETADDR, NLM_F_DUMP, sizeof(req.ifa));
	req.ifa.ifa_family = AF_INET6;
	err = nl_talk(&req, addr6_cb, out);
	/* a kernel without IPv6 answers EAFNOSUPPORT: IPv4 only */
	if (err && err != -EAFNOSUPPORT)
		return err;
	q = ethtool_rx_queues(ifname);
	if (q && (!out->n_rx_queues || q < out->n_rx_queues))
		out->n_rx_queues = q;
	if (!out->n_rx_queues)
		out->n_rx_queues = 1;
	return 0;
}

struct route_ans {
	uint32_t gw;
	struct in6_addr gw6;
	int oif;
	int type;
};

static int route_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct rtmsg *rtm = NLMSG_DATA(nh);
	struct route_ans *a = arg;
	struct rtattr *rta;
	int left;

	if (nh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	a->type = rtm->rtm_type;
	for_each_rta(rta, nh, sizeof(*rtm), left)
	{
		if (rta->rta_type == RTA_GATEWAY && RTA_PAYLOAD(rta) == 4)
			memcpy(&a->gw, RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_GATEWAY && RTA_PAYLOAD(rta) == 16)
			memcpy(&a->gw6, RTA_DATA(rta), 16);
		else if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= 4)
			memcpy(&a->oif, RTA_DATA(rta), 4);
	}
	return 0;
}

/*
 * The kernel's route to dst (family, alen bytes; oif: 0, or the interface
 * to ask about). Unicast, or local (our own address: the caller sees it is
 * not its interface); anything else is -EHOSTUNREACH.
 */
static int route_get(int family, const void *dst, uint16_t alen, int oif, struct route_ans *a)
{
	struct nl_req req;
	int err;

	nl_init(&req, RTM_GETROUTE, 0, sizeof(req.rtm));
	req.rtm.rtm_family = (uint8_t)family;
	req.rtm.rtm_dst_len = (uint8_t)(alen * 8);
	if (oif)
		nl_put_attr(&req, RTA_OIF, &oif, 4);
	nl_put_attr(&req, RTA_DST, dst, alen);
	a->type = -1;
	err = nl_talk(&req, route_cb, a);
	if (err)
		return err;
	if ((a->type != RTN_UNICAST && a->type != RTN_LOCAL) || !a->oif)
		return -EHOSTUNREACH;
	return 0;
}

int xp_nl_route(uint32_t dst_ip4, uint32_t *next_hop_ip4, int *ifindex)
{
	struct route_ans a = {0};
	int err = route_get(AF_INET, &dst_ip4, 4, 0, &a);

	if (err)
		return err;
	*next_hop_ip4 = a.gw ? a.gw : dst_ip4;
	*ifindex = a.oif;
	return 0;
}

/* oif: fe80::/64 is on every interface, the kernel needs to be told which one. */
int xp_nl_route6(const struct in6_addr *dst, int oif, struct in6_addr *next_hop, int *ifindex)
{
	static const struct in6_addr none;
	struct route_ans a = {0};
	int err = route_get(AF_INET6, dst, 16, oif, &a);

	if (err)
		return err;
	*next_hop = memcmp(&a.gw6, &none, 16) ? a.gw6 : *dst;
	*ifindex = a.oif;
	return 0;
}

struct hops_ans {
	int ifindex;
	struct xp_hop_route r[64]; /* every unicast route through ifindex, first 64 */
	unsigned n;
};

/* One route of the dump: kept if unicast, main table, through our interface. */
static int hops_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct rtmsg *rtm = NLMSG_DATA(nh);
	struct hops_ans *a = arg;
	struct xp_hop_route r = {0};
	const struct rtattr *rta, *m;
	int left, mleft, oif = 0;
	uint32_t hops;

	if (nh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_type != RTN_UNICAST ||
	    rtm->rtm_table != RT_TABLE_MAIN || a->n >= sizeof(a->r) / sizeof(a->r[0]))
		return 0;
	r.plen = rtm->rtm_dst_len;
	if (rtm->rtm_family == AF_INET) {
		r.dst.s6_addr[10] = r.dst.s6_addr[11] = 0xff;
		r.plen = (uint8_t)(r.plen + 96);
	}
	for_each_rta(rta, nh, sizeof(*rtm), left)
	{
		if (rta->rta_type == RTA_OIF && RTA_PAYLOAD(rta) >= 4)
			memcpy(&oif, RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_DST && RTA_PAYLOAD(rta) == 4)
			memcpy(&r.dst.s6_addr[12], RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_DST && RTA_PAYLOAD(rta) == 16)
			memcpy(&r.dst, RTA_DATA(rta), 16);
		else if (rta->rta_type == RTA_METRICS) {
			m = RTA_DATA(rta);
			mleft = (int)RTA_PAYLOAD(rta);
			for (; RTA_OK(m, mleft); m = RTA_NEXT(m, mleft))
				if (m->rta_type == RTAX_HOPLIMIT && RTA_PAYLOAD(m) >= 4) {
					memcpy(&hops, RTA_DATA(m), 4);
					r.hops = hops > 255 ? 255 : (uint8_t)hops;
				}
		}
	}
	if (oif == a->ifindex)
		a->r[a->n++] = r;
	return 0;
}

/* Does prefix a contain prefix b (b at least as long)? */
static bool prefix_covers(const struct xp_hop_route *a, const struct xp_hop_route *b)
{
	unsigned bits = a->plen;

	if (b->plen < a->plen)
		return false;
	for (unsigned i = 0; i < 16 && bits; i++, bits = bits > 8 ? bits - 8 : 0) {
		uint8_t mask = (uint8_t)(bits >= 8 ? 0xff : 0xff << (8 - bits));

		if ((a->dst.s6_addr[i] ^ b->dst.s6_addr[i]) & mask)
			return false;
	}
	return true;
}

int xp_nl_route_hops(int ifindex, struct xp_hop_route *out, unsigned max)
{
	static const int fams[2] = {AF_INET, AF_INET6};
	struct hops_ans *a = calloc(1, sizeof(*a));
	struct nl_req req;
	unsigned n = 0;
	int err = 0;

	if (!a)
		return -ENOMEM;
	a->ifindex = ifindex;
	for (unsigned f = 0; f < 2 && !err; f++) {
		nl_init(&req, RTM_GETROUTE, NLM_F_DUMP, sizeof(req.rtm));
		req.rtm.rtm_family = (unsigned char)fams[f];
		err = nl_talk(&req, hops_cb, a);
		if (err == -EAFNOSUPPORT)
			err = 0;
	}
	for (unsigned i = 0; i < a->n && !err; i++) {
		bool keep = a->r[i].hops;

		/* without the metric: kept only where it overrides a route that has it */
		for (unsigned j = 0; j < a->n && !keep; j++)
			keep = a->r[j].hops && a->r[j].plen < a->r[i].plen &&
			       prefix_covers(&a->r[j], &a->r[i]);
		if (keep && n < max)
			out[n++] = a->r[i];
	}
	free(a);
	return err ? err : (int)n;
}

uint8_t xp_hop_route_find(const struct xp_hop_route *r, unsigned n, const struct in6_addr *dst)
{
	struct xp_hop_route d = {.dst = *dst, .plen = 128};
	int best = -1;

	for (unsigned i = 0; i < n; i++)
		if (prefix_covers(&r[i], &d) && (best < 0 || r[i].plen > r[best].plen))
			best = (int)i;
	return best < 0 ? 0 : r[best].hops;
}

uint8_t xp_nl_default_ttl(void)
{
	char buf[16] = {0};
	int fd = xp_sys_open("/proc/sys/net/ipv4/ip_default_ttl", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long v;

	if (fd < 0)
		return 0;
	n = xp_sys_read(fd, buf, sizeof(buf) - 1);
	xp_sys_close(fd);
	v = n > 0 ? strtol(buf, NULL, 10) : 0;
	return v > 0 && v < 256 ? (uint8_t)v : 0;
}

struct neigh_ans {
	uint16_t state;
	bool have_mac;
	uint8_t mac[6];
};

static int neigh_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct ndmsg *ndm = NLMSG_DATA(nh);
	struct neigh_ans *a = arg;
	struct rtattr *rta;
	int left;

	if (nh->nlmsg_type != RTM_NEWNEIGH)
		return 0;
	a->state = ndm->ndm_state;
	for_each_rta(rta, nh, sizeof(*ndm), left)
	{
		if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6) {
			memcpy(a->mac, RTA_DATA(rta), 6);
			a->have_mac = true;
		}
	}
	return 0;
}

/* A neighbour request about ip (family, alen bytes) on ifindex. */
static void neigh_req(struct nl_req *req, uint16_t type, uint16_t flags, int ifindex, int family,
		      const void *ip, uint16_t alen)
{
	nl_init(req, type, flags, sizeof(req->ndm));
	req->ndm.ndm_family = (uint8_t)family;
	req->ndm.ndm_ifindex = ifindex;
	nl_put_attr(req, NDA_DST, ip, alen);
}

/* Ask the kernel to (re)resolve ip on ifindex: creates the entry if needed. */
static int neigh_use(int ifindex, int family, const void *ip, uint16_t alen)
{
	struct nl_req req;

	neigh_req(&req, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_ACK, ifindex, family, ip, alen);
	req.ndm.ndm_flags = NTF_USE;
	req.ndm.ndm_state = NUD_NONE;
	return nl_talk(&req, NULL, NULL);
}

static int neigh_get(int ifindex, int family, const void *ip, uint16_t alen, uint8_t mac[6]);

int xp_nl_neigh(int ifindex, uint32_t ip4, uint8_t mac[6])
{
	return neigh_get(ifindex, AF_INET, &ip4, 4, mac);
}

int xp_nl_neigh6(int ifindex, const struct in6_addr *ip6, uint8_t mac[6])
{
	return neigh_get(ifindex, AF_INET6, ip6, 16, mac);
}

static int neigh_get(int ifindex, int family, const void *ip, uint16_t alen, uint8_t mac[6])
{
	struct neigh_ans a = {0};
	struct nl_req req;
	int err;

	neigh_req(&req, RTM_GETNEIGH, 0, ifindex, family, ip, alen);
	err = nl_talk(&req, neigh_cb, &a);
	if (err && err != -ENOENT)
		return err;
	if (!err && a.have_mac &&
	    (a.state &
	     (NUD_REACHABLE | NUD_PERMANENT | NUD_NOARP | NUD_STALE | NUD_DELAY | NUD_PROBE))) {
		memcpy(mac, a.mac, 6);
		if (a.state & NUD_STALE)
			neigh_use(ifindex, family, ip, alen);
		return 0;
	}
	err = neigh_use(ifindex, family, ip, alen);
	if (err)
		return err;
	return (a.state & NUD_FAILED) ? -EHOSTUNREACH : -EAGAIN;
}

/* A loopback local address: such connections never pass the XDP program. */
static bool diag_loopback(const struct inet_diag_msg *m)
{
	const uint8_t *a = (const uint8_t *)m->id.idiag_src;
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	if (m->idiag_family == AF_INET)
		return a[0] == 127;
	return !memcmp(a, v6lo, 16) || (!memcmp(a, v4mapped, 12) && a[12] == 127);
}

static int diag_cb(const struct nlmsghdr *nh, void *arg)
{
	const struct inet_diag_msg *m = NLMSG_DATA(nh);
	uint8_t *ports = arg;
	uint16_t port;

	if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) ||
	    diag_loopback(m))
		return 0;
	port = ntohs(m->id.idiag_sport);
	ports[port >> 3] |= (uint8_t)(1u << (port & 7));
	return 0;
}

int xp_nl_tcp_flow_ports(uint8_t ports[65536 / 8])
{
	/*
	 * What bpf_skc_lookup_tcp() can find that the program counts as the
	 * kernel's flow: every state but LISTEN and TIME-WAIT, half-open
	 * request sockets included (SYN_RECV asks for them too). IPv6 sockets
	 * hold IPv4 connections of dual-stack listeners (v4-mapped).
	 */
	static const uint32_t states =
		1u << TCP_ESTABLISHED | 1u << TCP_SYN_SENT | 1u << TCP_SYN_RECV |
		1u << TCP_FIN_WAIT1 | 1u << TCP_FIN_WAIT2 | 1u << TCP_CLOSE_WAIT |
		1u << TCP_LAST_ACK | 1u << TCP_CLOSING | 1u << 12 /* TCP_NEW_SYN_RECV */;
	static const uint8_t families[] = {AF_INET, AF_INET6};
	struct nl_req req;
	int err;

	memset(ports, 0, 65536 / 8);
	for (size_t i = 0; i < sizeof(families); i++) {
		nl_init(&req, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, sizeof(req.diag));
		req.diag.sdiag_family = families[i];
		req.diag.sdiag_protocol = IPPROTO_TCP;
		req.diag.idiag_states = states;
		err = nl_talk_proto(NETLINK_SOCK_DIAG, &req, diag_cb, ports);
		if (err)
			return err;
	}
	return 0;
}
