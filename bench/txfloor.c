/*
 * txfloor.c - the transmit floor of a bulk sender: what moving full-size TCP
 * frames through the project's AF_XDP layer costs, without the TCP stack, the
 * shim or an application (bench/bulk.sh runs it; bench/README.md, "Bulk").
 *
 *   txfloor IFNAME DST_MAC DST_IP MIB [copy | file PATH]
 *
 * Opens one AF_XDP port on queue 0 of IFNAME (xp_prog/xp_port, as the shim
 * does: copy mode on veth) and sends MIB MiB of payload in 1514-byte frames
 * (1448 payload bytes per frame, as the stack's bulk segments) to DST_MAC,
 * DST_IP, as UDP datagrams to port 9 (discard; 32 bytes of UDP header and
 * padding where TCP has its header and timestamp option, no checksum). A
 * UDP reader on the receiving side (bench/flood/udp_sink) consumes them as
 * a TCP receiver would, without answering: no frame comes back, and the
 * receiving kernel frees the skbs as it frees TCP's. So the sender's whole
 * cost is measured, except the TX checksum request of TCP frames (UDP
 * frames carry none).
 *
 * Each loop takes what TX frames are free (up to LOOP_FRAMES), fills them,
 * queues them and kicks once (tx_flush), as the engine does; with no free
 * frame it sleeps in poll() on the port's fd for XP_WAIT_MS at most.
 * Payload:
 *   (none)     only the headers are written, the payload is what the frame held
 *   copy       each payload is copied from a 4 MiB buffer (the stack's copy
 *              from its send ring)
 *   file PATH  as copy, and the buffer is a ring filled from PATH with pread()
 *              in chunks of up to 256 KiB as it empties (the shim's sendfile:
 *              page cache -> send ring -> frame)
 *
 * Prints one line: frames, kicks, sleeps, preads, seconds, the time this
 * thread ran (schedstat, ns) and its user and system CPU per frame
 * (getrusage, tick samples). The caller adds the receiving
 * NAPI thread of the sending device (bench/bulk.sh).
 *
 * Memory: everything is allocated at start; the frames are the port's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "netdev.h"
#include "xp.h"

#define FRAME_LEN   1514
#define PAYLOAD_OFF (14 + 20 + 32)
#define PAYLOAD_LEN (FRAME_LEN - PAYLOAD_OFF)
#define SRC_LEN	    (4u << 20)
#define CHUNK	    (256u << 10)
#define LOOP_FRAMES 512
#define XP_WAIT_MS  1

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Time this thread has run, ns (the scheduler's clock, not tick samples). */
static uint64_t runtime_ns(void)
{
	unsigned long long ns = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (f) {
		if (fscanf(f, "%llu", &ns) != 1)
			ns = 0;
		fclose(f);
	}
	return ns;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned m[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	return 0;
}

/* Headers of one frame: Ethernet to dmac, IPv4 to dip, UDP to port 9 (discard). */
static void fill_headers(uint8_t *f, const struct netdev_info *me, const uint8_t dmac[6],
			 uint32_t dip)
{
	static const uint8_t ip[20] = {
		0x45, 0, (FRAME_LEN - 14) >> 8, (FRAME_LEN - 14) & 0xff, 0, 0, 0x40, 0, 64, 17};
	uint8_t *udp = f + 34;
	uint32_t sum = 0;

	memcpy(f, dmac, 6);
	memcpy(f + 6, me->mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	memcpy(f + 14, ip, 20);
	memcpy(f + 26, &me->ip4, 4);
	memcpy(f + 30, &dip, 4);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)f[14 + i] << 8 | f[15 + i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	memset(udp, 0, PAYLOAD_OFF - 34);
	udp[0] = 0x9c; /* 40000 -> 9 */
	udp[1] = 0x40;
	udp[3] = 9;
	udp[4] = (FRAME_LEN - 34) >> 8;
	udp[5] = (FRAME_LEN - 34) & 0xff;
}

static int file_fill(int fd, uint8_t *ring, uint64_t *filled, uint64_t off, uint64_t want,
		     uint64_t *fpos, uint64_t *preads)
{
	const uint64_t size = SRC_LEN / PAYLOAD_LEN * PAYLOAD_LEN;

	while (*filled < off + want) {
		uint64_t at = *filled % size, len = size - at;
		ssize_t r;

		if (len > CHUNK)
			len = CHUNK;
		r = pread(fd, ring + at, len, (off_t)*fpos);
		if (r <= 0) {
			if (r < 0)
				return -1;
			*fpos = 0; /* end of file: from the start again */
			continue;
		}
		(*preads)++;
		*fpos += (uint64_t)r;
		*filled += (uint64_t)r;
	}
	return 0;
}

static int run(struct xp_port *port, const uint8_t dmac[6], uint32_t dip, uint64_t frames,
	       bool copy, int file)
{
	struct netdev *dev = xp_port_netdev(port);
	const struct netdev_ops *ops = dev->ops;
	const uint64_t ring_size = SRC_LEN / PAYLOAD_LEN * PAYLOAD_LEN;
	struct pkt tx[LOOP_FRAMES];
	uint8_t *src = malloc(SRC_LEN);
	uint64_t sent = 0, sleeps = 0, off = 0, filled = 0, fpos = 0, preads = 0;
	struct xp_port_stats st;
	struct rusage r0, r1;
	struct pollfd pfd;
	uint64_t ns0, ns1;
	double t0, t1;
	int fd = -1;

	if (!src)
		return 1;
	for (uint32_t i = 0; i < SRC_LEN; i++)
		src[i] = (uint8_t)(i % 251);
	ops->poll_fds(dev, &fd, 1);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	getrusage(RUSAGE_SELF, &r0);
	ns0 = runtime_ns();
	t0 = now_s();
	while (sent < frames) {
		unsigned n = 0;

		while (n < LOOP_FRAMES && sent + n < frames &&
		       !ops->tx_alloc(dev, &tx[n], FRAME_LEN)) {
			fill_headers(tx[n].data, &dev->info, dmac, dip);
			if (file >= 0 &&
			    file_fill(file, src, &filled, off, PAYLOAD_LEN, &fpos, &preads)) {
				perror("txfloor: pread");
				free(src);
				return 1;
			}
			if (copy || file >= 0) {
				memcpy(tx[n].data + PAYLOAD_OFF, src + off % ring_size,
				       PAYLOAD_LEN);
				off += PAYLOAD_LEN;
			}
			n++;
		}
		if (n)
			ops->tx_queue(dev, tx, n);
		sent += n;
		ops->tx_flush(dev);
		if (!n) {
			sleeps++;
			if (poll(&pfd, 1, XP_WAIT_MS) < 0 && errno != EINTR)
				break;
		}
	}
	/* What is still on the ring goes out before the clock stops. */
	for (int i = 0; i < 1000 && ops->tx_pending(dev); i++) {
		ops->tx_flush(dev);
		poll(&pfd, 1, XP_WAIT_MS);
	}
	t1 = now_s();
	ns1 = runtime_ns();
	getrusage(RUSAGE_SELF, &r1);
	xp_port_get_stats(port, &st);
	printf("frames %llu kicks %llu sleeps %llu preads %llu seconds %.3f runtime_ns %llu "
	       "user_us %.4f sys_us %.4f tx_ring_full %llu csum_offload %d\n",
	       (unsigned long long)sent, (unsigned long long)st.tx_kicks,
	       (unsigned long long)sleeps, (unsigned long long)preads, t1 - t0,
	       (unsigned long long)(ns1 - ns0),
	       (tv_s(r1.ru_utime) - tv_s(r0.ru_utime)) * 1e6 / (double)sent,
	       (tv_s(r1.ru_stime) - tv_s(r0.ru_stime)) * 1e6 / (double)sent,
	       (unsigned long long)st.tx_ring_full, dev->info.tx_csum_offload);
	free(src);
	return 0;
}

int main(int argc, char **argv)
{
	struct xp_prog_opts opts = {.log_level = 1};
	struct xp_port *port = NULL;
	struct xp_prog *prog;
	bool copy = argc == 6 && !strcmp(argv[5], "copy");
	struct in_addr dip;
	uint8_t dmac[6];
	int err, rc, file = -1;
	long mib;

	if (argc < 5 || argc > 7 || parse_mac(argv[2], dmac) ||
	    inet_pton(AF_INET, argv[3], &dip) != 1 || (mib = atol(argv[4])) < 1 || mib > 65536 ||
	    (argc == 6 && !copy) || (argc == 7 && strcmp(argv[5], "file"))) {
		fprintf(stderr, "usage: %s IFNAME DST_MAC DST_IP MIB [copy | file PATH]\n",
			argv[0]);
		return 2;
	}
	if (argc == 7 && (file = open(argv[6], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "txfloor: %s: %s\n", argv[6], strerror(errno));
		return 1;
	}
	err = xp_prog_attach(argv[1], &opts, &prog);
	if (err) {
		fprintf(stderr, "txfloor: attach %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	for (int tries = 0; (err = xp_port_open(prog, 0, NULL, &port)) == -EBUSY && tries < 200;
	     tries++)
		poll(NULL, 0, 5);
	if (err) {
		fprintf(stderr, "txfloor: %s queue 0: %s\n", argv[1], strerror(-err));
		xp_prog_detach(prog);
		return 1;
	}
	rc = run(port, dmac, dip.s_addr, ((uint64_t)mib << 20) / PAYLOAD_LEN, copy, file);
	xp_port_close(port);
	if (file >= 0)
		close(file);
	xp_prog_detach(prog);
	return rc;
}
