/*
 * xtcp_flood.c - a bounded UDP or SYN flood for the test bed, as fast as one
 * core can push frames through AF_PACKET (sendmmsg, qdisc bypass).
 *
 *   xtcp_flood -i IFACE -d DST_IP -m DST_MAC [-t udp|syn] [-p PORT]
 *              [-s SRC_IP[/LEN]] [-l PAYLOAD] [-c COUNT] [-T SECONDS] [-r PPS]
 *
 * Frames are built once from a template; per frame only the source address
 * (random inside SRC/LEN when LEN < 32, or 128 for IPv6), the source port and
 * the checksums change. IPv6: DST_IP and SRC_IP (then required) are IPv6
 * addresses. Bounds, always: COUNT (default 1,000,000, at most 1e9) and SECONDS
 * (default 10, at most 120), whichever comes first. Safety: it refuses to run
 * in a namespace with a default route or in pid 1's (the test bed's
 * namespaces have neither) and sends only to 10.77.0.0/16 or fd77::/16 (the
 * test bed's). Prints one line:
 * "sent=N seconds=S pps=P" (and errors=E when the device pushed back).
 */
#define _GNU_SOURCE /* sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#define BATCH	     64
#define MAX_FRAME    1514
#define MAX_COUNT    1000000000ull
#define MAX_SECONDS  120
#define TESTBED_NET  0x0a4d0000u /* 10.77.0.0/16, host order */
#define TESTBED_MASK 0xffff0000u

struct opts {
	const char *iface;
	uint32_t dst, src; /* network order */
	bool v6;	   /* dst6/src6 instead of dst/src */
	uint8_t dst6[16], src6[16];
	uint8_t src_len;
	uint8_t dmac[6];
	bool syn;
	uint16_t port;
	unsigned payload;
	uint64_t count;
	unsigned seconds;
	uint64_t pps;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: xtcp_flood -i IFACE -d DST_IP -m DST_MAC [-t udp|syn] [-p PORT]\n"
		"                  [-s SRC_IP[/LEN]] [-l PAYLOAD] [-c COUNT] [-T SECONDS] [-r "
		"PPS]\n"
		"  defaults: udp, port 9, source = IFACE's first address, payload 18 (64-byte\n"
		"  frames), count 1000000, 10 s, as fast as possible; only inside a test bed\n"
		"  namespace, only to 10.77.0.0/16 or fd77::/16 (IPv6: -s is required)\n");
	return 2;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, seeded per run, good enough for spreading sources. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/*
 * Only in a test bed namespace: never in pid 1's network namespace (when we
 * can tell), and never where a default route exists (the test bed's
 * namespaces have none; a host's main namespace has one).
 */
static bool outside_testbed(void)
{
	struct stat self, init;
	char line[256];
	unsigned long dst;
	char dev[64];
	FILE *f;

	if (!stat("/proc/self/ns/net", &self) && !stat("/proc/1/ns/net", &init) &&
	    self.st_ino == init.st_ino && self.st_dev == init.st_dev)
		return true;
	f = fopen("/proc/net/route", "r");
	if (!f)
		return true; /* cannot tell: refuse */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lx", dev, &dst) == 2 && dst == 0) {
			fclose(f);
			return true;
		}
	}
	fclose(f);
	return false;
}

static int if_addr(const char *iface, uint32_t *addr, uint8_t mac[6])
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err = 0;
	struct ifreq ifr;

	if (fd < 0)
		return -errno;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		err = -errno;
		goto out;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (*addr)
		goto out;
	if (ioctl(fd, SIOCGIFADDR, &ifr)) {
		err = -errno;
		goto out;
	}
	*addr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
out:
	close(fd);
	return err;
}

/*
 * The SYN or the UDP datagram after either IP header, sum being its pseudo
 * header's sum. A SYN carries its checksum (a valid SYN costs the server real
 * work); UDP over IPv4 carries none (optional there, and the flood benchmark's
 * figures were taken so), over IPv6 one (RFC 8200 8.1 requires it).
 */
static void build_l4(const struct opts *o, uint8_t *l4, size_t l4len, uint32_t sum, uint64_t *seed)
{
	uint16_t sport = (uint16_t)(1024 + rnd(seed) % 64000);

	if (o->syn) {
		struct tcphdr *th = (struct tcphdr *)l4;

		memset(th, 0, sizeof(*th));
		th->source = htons(sport);
		th->dest = htons(o->port);
		th->seq = (uint32_t)rnd(seed);
		th->doff = 5;
		th->syn = 1;
		th->window = htons(64240);
		th->check = csum_fold(csum_add(sum, th, l4len));
	} else {
		struct udphdr *uh = (struct udphdr *)l4;

		uh->source = htons(sport);
		uh->dest = htons(o->port);
		uh->len = htons((uint16_t)l4len);
		uh->check = 0;
		memset(uh + 1, 'x', o->payload);
		if (!o->v6)
			return;
		uh->check = csum_fold(csum_add(sum, uh, l4len));
		if (!uh->check)
			uh->check = 0xffff; /* 0 means "no checksum" (RFC 768) */
	}
}

/* The IPv4 header, a source inside SRC/LEN; returns its pseudo header's sum. */
static uint32_t build_ip4(const struct opts *o, struct iphdr *ip, size_t l4len, uint64_t *seed)
{
	uint32_t host = o->src_len < 32 ? (uint32_t)rnd(seed) & (0xffffffffu >> o->src_len) : 0;

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4len));
	ip->id = (uint16_t)rnd(seed);
	ip->protocol = o->syn ? IPPROTO_TCP : IPPROTO_UDP;
	ip->saddr = o->src | htonl(host);
	ip->daddr = o->dst;
	ip->check = csum_fold(csum_add(0, ip, sizeof(*ip)));
	return csum_add(0, &ip->saddr, 8) + ip->protocol + (uint32_t)l4len;
}

/* The IPv6 header, a source inside SRC6/LEN; returns its pseudo header's sum (RFC 8200 8.1). */
static uint32_t build_ip6(const struct opts *o, struct ipv6hdr *ip6, size_t l4len, uint64_t *seed)
{
	memset(ip6, 0, sizeof(*ip6));
	ip6->version = 6;
	ip6->hop_limit = 64;
	ip6->payload_len = htons((uint16_t)l4len);
	ip6->nexthdr = o->syn ? IPPROTO_TCP : IPPROTO_UDP;
	memcpy(&ip6->saddr, o->src6, 16);
	for (unsigned i = o->src_len / 8; i < 16; i++) {
		unsigned net = i == o->src_len / 8 ? o->src_len % 8 : 0;

		ip6->saddr.s6_addr[i] |= (uint8_t)rnd(seed) & (uint8_t)(0xff >> net);
	}
	memcpy(&ip6->daddr, o->dst6, 16);
	return csum_add(0, &ip6->saddr, 32) + (uint32_t)l4len + ip6->nexthdr;
}

/* Fill one frame from the template: new source address and port, checksums. */
static size_t build(const struct opts *o, uint8_t *f, const uint8_t smac[6], uint64_t *seed)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	size_t l4len = o->syn ? sizeof(struct tcphdr) : sizeof(struct udphdr) + o->payload;
	size_t l3len = o->v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	uint32_t sum;

	memcpy(eth->h_dest, o->dmac, 6);
	memcpy(eth->h_source, smac, 6);
	eth->h_proto = htons(o->v6 ? ETH_P_IPV6 : ETH_P_IP);
	sum = o->v6 ? build_ip6(o, (struct ipv6hdr *)(eth + 1), l4len, seed)
		    : build_ip4(o, (struct iphdr *)(eth + 1), l4len, seed);
	build_l4(o, (uint8_t *)(eth + 1) + l3len, l4len, sum, seed);
	return sizeof(*eth) + l3len + l4len;
}

static int parse(int argc, char **argv, struct opts *o)
{
	char *slash, *end;
	bool src6 = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->port = 9;
	o->payload = 18;
	o->count = 1000000;
	o->seconds = 10;
	o->src_len = 32;
	while ((c = getopt(argc, argv, "i:d:m:t:p:s:l:c:T:r:h")) != -1) {
		switch (c) {
		case 'i':
			o->iface = optarg;
			break;
		case 'd':
			o->v6 = strchr(optarg, ':') != NULL;
			if (inet_pton(o->v6 ? AF_INET6 : AF_INET, optarg,
				      o->v6 ? o->dst6 : (void *)&o->dst) != 1)
				return fprintf(stderr, "xtcp_flood: -d %s: not an IP address\n",
					       optarg),
				       -1;
			break;
		case 'm':
			if (parse_mac(optarg, o->dmac))
				return fprintf(stderr,
					       "xtcp_flood: -m %s: expected aa:bb:cc:dd:ee:ff\n",
					       optarg),
				       -1;
			break;
		case 't':
			if (strcmp(optarg, "udp") && strcmp(optarg, "syn"))
				return fprintf(stderr, "xtcp_flood: -t %s: expected udp or syn\n",
					       optarg),
				       -1;
			o->syn = !strcmp(optarg, "syn");
			break;
		case 'p':
			o->port = (uint16_t)strtoul(optarg, &end, 10);
			if (*end || !o->port)
				return fprintf(stderr, "xtcp_flood: -p %s: expected 1-65535\n",
					       optarg),
				       -1;
			break;
		case 's':
			src6 = strchr(optarg, ':') != NULL;
			o->src_len = src6 ? 128 : 32;
			slash = strchr(optarg, '/');
			if (slash) {
				*slash = 0;
				o->src_len = (uint8_t)strtoul(slash + 1, &end, 10);
				if (*end || o->src_len > (src6 ? 128 : 32))
					return fprintf(stderr,
						       "xtcp_flood: -s: bad prefix length\n"),
					       -1;
			}
			if (src6) {
				if (inet_pton(AF_INET6, optarg, o->src6) != 1)
					return fprintf(stderr,
						       "xtcp_flood: -s %s: not an IPv6 address\n",
						       optarg),
					       -1;
				for (unsigned i = 0; i < 16; i++) {
					unsigned bits = o->src_len > 8 * i ? o->src_len - 8 * i : 0;

					o->src6[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
				}
				break;
			}
			if (inet_pton(AF_INET, optarg, &o->src) != 1)
				return fprintf(stderr, "xtcp_flood: -s %s: not an IPv4 address\n",
					       optarg),
				       -1;
			o->src &= o->src_len ? htonl(0xffffffffu << (32 - o->src_len)) : 0;
			break;
		case 'l':
			o->payload = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->payload > MAX_FRAME - 14 - 20 - 8)
				return fprintf(stderr, "xtcp_flood: -l %s: expected 0-%d\n", optarg,
					       MAX_FRAME - 42),
				       -1;
			break;
		case 'c':
			o->count = strtoull(optarg, &end, 10);
			if (*end || !o->count || o->count > MAX_COUNT)
				return fprintf(stderr, "xtcp_flood: -c %s: expected 1-%llu\n",
					       optarg, MAX_COUNT),
				       -1;
			break;
		case 'T':
			o->seconds = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !o->seconds || o->seconds > MAX_SECONDS)
				return fprintf(stderr, "xtcp_flood: -T %s: expected 1-%d\n", optarg,
					       MAX_SECONDS),
				       -1;
			break;
		case 'r':
			o->pps = strtoull(optarg, &end, 10);
			if (*end)
				return fprintf(stderr,
					       "xtcp_flood: -r %s: expected packets/s (0 = max)\n",
					       optarg),
				       -1;
			break;
		default:
			return -1;
		}
	}
	if (!o->iface || !(o->v6 || o->dst) ||
	    !(o->dmac[0] | o->dmac[1] | o->dmac[2] | o->dmac[3] | o->dmac[4] | o->dmac[5]))
		return usage(), -1;
	if (o->v6 ? !src6 : src6)
		return fprintf(stderr, "xtcp_flood: -d and -s must be of one family (IPv6: -s is "
				       "required)\n"),
		       -1;
	if (o->v6)
		return o->dst6[0] == 0xfd && o->dst6[1] == 0x77
			       ? 0
			       : (fprintf(stderr, "xtcp_flood: refusing -d: only the test bed's "
						  "fd77::/16\n"),
				  -1);
	if ((ntohl(o->dst) & TESTBED_MASK) != TESTBED_NET)
		return fprintf(stderr,
			       "xtcp_flood: refusing %s: only the test bed's 10.77.0.0/16\n",
			       inet_ntoa((struct in_addr){o->dst})),
		       -1;
	return 0;
}

int main(int argc, char **argv)
{
	/* Frames start 2 bytes into 4-aligned slots: the IP header lands 4-aligned. */
	static uint8_t frames[BATCH][MAX_FRAME + 2] __attribute__((aligned(64)));
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sll;
	uint64_t sent = 0, errors = 0, t0, deadline, seed;
	uint8_t smac[6];
	struct opts o;
	int fd, one = 1, i, err;
	double secs;

	if (parse(argc, argv, &o))
		return 2;
	if (outside_testbed()) {
		fprintf(stderr,
			"xtcp_flood: refusing to run here: this network namespace has a "
			"default route or is pid 1's (run it in a tests/testbed.sh namespace)\n");
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, receives nothing */
	if (fd < 0) {
		perror("xtcp_flood: AF_PACKET socket (needs CAP_NET_RAW)");
		return 1;
	}
	/* IPv6: the source came with -s; only the MAC is read (a nonzero address skips it) */
	err = if_addr(o.iface, o.v6 ? &(uint32_t){1} : &o.src, smac);
	if (err) {
		fprintf(stderr, "xtcp_flood: %s: %s\n", o.iface, strerror(-err));
		return 1;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(o.iface);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, o.dmac, 6);
	seed = now_ns() | 1;
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = frames[i] + 2;
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].msg_hdr.msg_name = &sll;
		msgs[i].msg_hdr.msg_namelen = sizeof(sll);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_ns();
	deadline = t0 + (uint64_t)o.seconds * 1000000000ull;
	while (sent < o.count) {
		uint64_t now = now_ns();
		unsigned n = o.count - sent < BATCH ? (unsigned)(o.count - sent) : BATCH;
		int r;

		if (now >= deadline)
			break;
		if (o.pps && sent * 1000000000ull / o.pps > now - t0) {
			uint64_t wait = sent * 1000000000ull / o.pps - (now - t0);
			struct timespec ts = {(time_t)(wait / 1000000000ull),
					      (long)(wait % 1000000000ull)};

			nanosleep(&ts, NULL);
			continue;
		}
		for (i = 0; i < (int)n; i++)
			iov[i].iov_len = build(&o, frames[i] + 2, smac, &seed);
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("xtcp_flood: sendmmsg");
				break;
			}
			errors++;
			continue;
		}
		sent += (uint64_t)r;
	}
	secs = (double)(now_ns() - t0) / 1e9;
	printf("sent=%llu seconds=%.3f pps=%.0f errors=%llu\n", (unsigned long long)sent, secs,
	       secs > 0 ? (double)sent / secs : 0.0, (unsigned long long)errors);
	close(fd);
	return 0;
}
