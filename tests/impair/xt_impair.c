/*
 * xt_impair.c - seeded userspace impairment bridge for the test bed's middle
 * namespace (this kernel has no netem).
 *
 *   xt_impair -a IF_A -A MAC_A -b IF_B -B MAC_B [-s SEED] [-l LOSS] [-d DUP]
 *             [-r REORDER] [-c CORRUPT] [-D DELAY_US] [-L LATENCY_US] [-t SECONDS]
 *
 * Rates are per million frames. The middle namespace keeps its addresses
 * (so it answers ARP and neighbour solicitations for the gateways) but has
 * ip_forward=0 (IPv6 forwarding=0): this program is the only path. It reads
 * IPv4 and IPv6 frames on each interface with an AF_PACKET socket, skips
 * those addressed to the middle itself (IPv6: also multicast and link-local
 * destinations, which are not forwarded: neighbour discovery stays the
 * middle kernel's), and sends them out of the other interface as a router
 * would: source MAC = that interface's, destination MAC = the host behind it
 * (MAC_A is the host on IF_A), TTL decremented with the header checksum
 * updated (RFC 1624), or the IPv6 hop limit (no header checksum). On the way each
 * frame may be dropped, duplicated, delayed behind later frames (reorder,
 * by DELAY_US, default 3000) or get one bit flipped after the Ethernet
 * header (the receiver's checksums must catch it); TCP RSTs are never
 * dropped or corrupted (nothing resends them). One PRNG seeded by SEED
 * decides everything, in frame order. With LATENCY_US every forwarded frame
 * waits that long in a FIFO first (a long path: order kept, no loss until
 * LAT_MAX frames wait, then tail drop), applied in both directions.
 * Map: main() -> port_open() x2 -> loop: poll, forward(), release held
 * frames due; on SIGTERM/SIGINT or after SECONDS prints counters and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 9216
#define HOLD_MAX  1024
#define LAT_MAX	  65536 /* frames waiting out LATENCY_US: 160 ms at 5 Gbit/s */
#define LAT_FRAME 1536	/* offloads are off: frames are at most MTU + Ethernet */

struct port {
	const char *name;
	int fd, ifindex;
	uint8_t mac[6];	 /* this interface's */
	uint8_t peer[6]; /* the host behind it */
	uint32_t ip4;	 /* the middle's own address on it (network order) */
};

struct held {
	uint64_t due_us;
	int out;
	uint32_t len;
	uint8_t buf[FRAME_MAX];
};

static struct {
	uint64_t rx, fwd, lost, dup, reordered, corrupted, local, other;
} cnt[2];
static uint32_t ppm_loss, ppm_dup, ppm_reorder, ppm_corrupt, delay_us = 3000, lat_us;
static struct held *hold;
static unsigned nhold;

/* The latency FIFO (-L): one ring for both directions, due times in order. */
struct lat {
	uint64_t due_us;
	int out;
	uint32_t len;
	uint8_t buf[LAT_FRAME];
};
static struct lat *lat;
static unsigned lat_head, lat_n;
static uint64_t lat_dropped;
static uint64_t rng;
static uint8_t own6[16][16]; /* the middle's IPv6 addresses: not forwarded */
static unsigned n_own6;
static volatile sig_atomic_t stop;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int chance(uint32_t ppm)
{
	return ppm && rnd() % 1000000u < ppm;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
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

static int port_open(struct port *p)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct ifreq ifr;
	int sz = 4 << 20;

	p->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (p->fd < 0) {
		perror("xt_impair: AF_PACKET socket (needs root)");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->name);
	if (ioctl(p->fd, SIOCGIFINDEX, &ifr) < 0) {
		fprintf(stderr, "xt_impair: no interface %s\n", p->name);
		return -1;
	}
	p->ifindex = ifr.ifr_ifindex;
	if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->name);
	ifr.ifr_addr.sa_family = AF_INET;
	if (ioctl(p->fd, SIOCGIFADDR, &ifr) == 0)
		p->ip4 = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	sll.sll_ifindex = p->ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("xt_impair: bind");
		return -1;
	}
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	setsockopt(p->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	return 0;
}

static void tx_now(struct port *p, const uint8_t *f, uint32_t len)
{
	/* A full socket buffer drops the frame: TCP recovers, as from any loss. */
	if (send(p->fd, f, len, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
		perror("xt_impair: send");
}

/* Send now, or after the path's latency (-L) through the FIFO. */
static void tx(struct port *p, const uint8_t *f, uint32_t len)
{
	struct lat *l;

	if (!lat_us || len > LAT_FRAME) {
		tx_now(p, f, len);
		return;
	}
	if (lat_n == LAT_MAX) {
		lat_dropped++;
		return;
	}
	l = &lat[(lat_head + lat_n++) % LAT_MAX];
	l->due_us = now_us() + lat_us;
	l->out = p->ifindex;
	l->len = len;
	memcpy(l->buf, f, len);
}

/* Send the FIFO's frames that are due; returns ms until the next one (-1: none). */
static int lat_release(struct port *ports)
{
	uint64_t now = now_us();

	while (lat_n) {
		struct lat *l = &lat[lat_head];

		if (l->due_us > now)
			return (int)((l->due_us - now + 999) / 1000);
		tx_now(&ports[ports[0].ifindex == l->out ? 0 : 1], l->buf, l->len);
		lat_head = (lat_head + 1) % LAT_MAX;
		lat_n--;
	}
	return -1;
}

/* The middle's IPv6 addresses, any interface (they are set before the bridge starts). */
static void own_ip6_read(void)
{
	struct ifaddrs *ifa, *a;

	if (getifaddrs(&ifa) != 0)
		return;
	for (a = ifa; a && n_own6 < 16; a = a->ifa_next)
		if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET6)
			memcpy(own6[n_own6++], &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr,
			       16);
	freeifaddrs(ifa);
}

/* Is a an IPv6 address of the middle itself (read at start)? */
static bool own_ip6(const uint8_t *a)
{
	for (unsigned k = 0; k < n_own6; k++)
		if (!memcmp(own6[k], a, 16))
			return true;
	return false;
}

/*
 * An IPv6 frame: 0 with *rst set if it is to be forwarded (hop limit - 1),
 * -1 if it is the middle's own (to itself, multicast, link-local, or its
 * hop limit is spent). A RST is recognized only directly after the fixed
 * header, as the test peers send it.
 */
static int route6(uint8_t *ip, uint32_t len, bool *rst)
{
	const uint8_t *dst = ip + 24;

	if (dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80) || own_ip6(dst) ||
	    ip[7] <= 1)
		return -1;
	ip[7]--;
	*rst = ip[6] == 6 && len >= 14u + 40u + 14u && (ip[40 + 13] & 0x04);
	return 0;
}

/* Route one received frame from port in (index i) to out. */
static void forward(struct port *ports, int i, uint8_t *f, uint32_t len)
{
	struct port *out = &ports[!i];
	uint8_t *ip = f + 14;
	uint32_t sum, dst;
	uint16_t old, new;
	bool rst;

	cnt[i].rx++;
	if (len >= 54 && f[12] == 0x86 && f[13] == 0xdd && (ip[0] >> 4) == 6) {
		if (route6(ip, len, &rst) != 0) {
			cnt[i].local++;
			return;
		}
		memcpy(f, out->peer, 6);
		memcpy(f + 6, out->mac, 6);
		goto impair;
	}
	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4) {
		cnt[i].other++; /* ARP and the like: the middle's kernel handles its own */
		return;
	}
	memcpy(&dst, ip + 16, 4);
	if (dst == ports[0].ip4 || dst == ports[1].ip4 || ip[8] <= 1) {
		cnt[i].local++;
		return;
	}
	/* Route: MACs of the next hop, TTL - 1 with the checksum updated (RFC 1624). */
	memcpy(f, out->peer, 6);
	memcpy(f + 6, out->mac, 6);
	old = (uint16_t)(ip[8] << 8 | ip[9]);
	ip[8]--;
	new = (uint16_t)(ip[8] << 8 | ip[9]);
	sum = (uint16_t) ~(ip[10] << 8 | ip[11]);
	sum += (uint16_t)~old;
	sum += new;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
	rst = ip[9] == 6 && len >= 14u + (ip[0] & 0xfu) * 4u + 14u &&
	      (ip[(ip[0] & 0xfu) * 4u + 13u] & 0x04);

impair:
	/*
	 * A RST is never lost or corrupted here: no TCP sends one again, so the
	 * tests' reset cases (ECONNRESET, EPIPE) would wait for it forever.
	 */

	if (!rst && chance(ppm_loss)) {
		cnt[i].lost++;
		return;
	}
	if (!rst && chance(ppm_corrupt)) {
		uint32_t at = 14 + (uint32_t)(rnd() % (len - 14));

		f[at] ^= (uint8_t)(1u << (rnd() % 8));
		cnt[i].corrupted++;
	}
	if (chance(ppm_reorder) && nhold < HOLD_MAX) {
		struct held *h = &hold[nhold++];

		h->due_us = now_us() + delay_us;
		h->out = !i;
		h->len = len;
		memcpy(h->buf, f, len);
		cnt[i].reordered++;
		return;
	}
	tx(out, f, len);
	cnt[i].fwd++;
	if (chance(ppm_dup)) {
		tx(out, f, len);
		cnt[i].dup++;
	}
}

/* Send held frames that are due (all of them when flush is set). */
static void release(struct port *ports, int flush)
{
	uint64_t now = now_us();
	unsigned i = 0;

	while (i < nhold) {
		if (flush || hold[i].due_us <= now) {
			tx(&ports[hold[i].out], hold[i].buf, hold[i].len);
			cnt[!hold[i].out].fwd++;
			hold[i] = hold[--nhold];
		} else {
			i++;
		}
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xt_impair -a IF_A -A MAC_A -b IF_B -B MAC_B [-s SEED] [-l LOSS_PPM]\n"
		"                 [-d DUP_PPM] [-r REORDER_PPM] [-c CORRUPT_PPM] [-D DELAY_US]\n"
		"                 [-L LATENCY_US] [-t SECONDS]\n");
	exit(2);
}

static uint32_t ppm_arg(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (*end || v > 1000000) {
		fprintf(stderr, "xt_impair: rate '%s' is not 0..1000000 per million\n", s);
		exit(2);
	}
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	struct port ports[2] = {{.fd = -1}, {.fd = -1}};
	struct sigaction sa = {.sa_handler = on_signal};
	static uint8_t f[FRAME_MAX];
	uint64_t seed = 1, end_us = 0;
	int opt, have_a = 0, have_b = 0, i;

	while ((opt = getopt(argc, argv, "a:A:b:B:s:l:d:r:c:D:L:t:")) != -1) {
		switch (opt) {
		case 'a':
			ports[0].name = optarg;
			break;
		case 'b':
			ports[1].name = optarg;
			break;
		case 'A':
			have_a = parse_mac(optarg, ports[0].peer) == 0;
			break;
		case 'B':
			have_b = parse_mac(optarg, ports[1].peer) == 0;
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			ppm_loss = ppm_arg(optarg);
			break;
		case 'd':
			ppm_dup = ppm_arg(optarg);
			break;
		case 'r':
			ppm_reorder = ppm_arg(optarg);
			break;
		case 'c':
			ppm_corrupt = ppm_arg(optarg);
			break;
		case 'D':
			delay_us = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'L':
			lat_us = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 't':
			end_us = now_us() + strtoull(optarg, NULL, 0) * 1000000u;
			break;
		default:
			usage();
		}
	}
	if (!ports[0].name || !ports[1].name || !have_a || !have_b)
		usage();
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
	hold = calloc(HOLD_MAX, sizeof(*hold));
	lat = lat_us ? calloc(LAT_MAX, sizeof(*lat)) : NULL;
	own_ip6_read();
	if (!hold || (lat_us && !lat) || port_open(&ports[0]) || port_open(&ports[1]))
		return 1;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("xt_impair: %s <-> %s seed %llu loss %u dup %u reorder %u corrupt %u ppm\n",
	       ports[0].name, ports[1].name, (unsigned long long)seed, ppm_loss, ppm_dup,
	       ppm_reorder, ppm_corrupt);
	fflush(stdout);
	while (!stop && (!end_us || now_us() < end_us)) {
		struct pollfd pf[2] = {{.fd = ports[0].fd, .events = POLLIN},
				       {.fd = ports[1].fd, .events = POLLIN}};
		int lat_ms = lat_release(ports), timeout = nhold ? 1 : 100;

		if (lat_ms >= 0 && lat_ms < timeout)
			timeout = lat_ms;

		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			int burst;

			/* A bounded burst per side keeps both directions moving. */
			for (burst = 0; burst < 64 && (pf[i].revents & POLLIN); burst++) {
				struct sockaddr_ll from;
				socklen_t fl = sizeof(from);
				ssize_t n = recvfrom(ports[i].fd, f, sizeof(f), MSG_DONTWAIT,
						     (struct sockaddr *)&from, &fl);

				if (n < 0)
					break;
				/* Our own transmissions show up as PACKET_OUTGOING: skip. */
				if (from.sll_pkttype == PACKET_OUTGOING)
					continue;
				forward(ports, i, f, (uint32_t)n);
			}
		}
		release(ports, 0);
	}
	release(ports, 1);
	for (i = 0; i < 2; i++)
		printf("%s -> %s: rx %llu fwd %llu lost %llu dup %llu reordered %llu corrupted "
		       "%llu "
		       "local %llu other %llu\n",
		       ports[i].name, ports[!i].name, (unsigned long long)cnt[i].rx,
		       (unsigned long long)cnt[i].fwd, (unsigned long long)cnt[i].lost,
		       (unsigned long long)cnt[i].dup, (unsigned long long)cnt[i].reordered,
		       (unsigned long long)cnt[i].corrupted, (unsigned long long)cnt[i].local,
		       (unsigned long long)cnt[i].other);
	if (lat_us)
		printf("latency %u us: %llu frames dropped at the full FIFO\n", lat_us,
		       (unsigned long long)lat_dropped);
	return 0;
}
