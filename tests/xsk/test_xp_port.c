/*
 * test_xp_port.c - one AF_XDP port as a netdev (xsk/xp_port.c, xp_umem.c) on
 * the test bed's server veth (run by tb_run.sh: IF OUR_IP PEER_IP): queue
 * claims, bad configurations, link facts, the TX frame pool (exhaustion,
 * recycling through completions, more frames than the TX ring holds), frame
 * alignment, resolve() through the kernel's neighbour table; a process that
 * finds a shareable queue taken joins it (xsk/xp_share.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netdev.h"
#include "xp.h"
#include "check.h"

static uint64_t sysfs_u64(const char *ifname, const char *stat)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, stat);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Allocate TX frames until -ENOBUFS; returns how many it got (all kept in pkts). */
static unsigned alloc_all(struct netdev *dev, struct pkt *pkts, unsigned max, int *last_err)
{
	unsigned n = 0;

	while (n < max && !(*last_err = dev->ops->tx_alloc(dev, &pkts[n], 60)))
		n++;
	return n;
}

/* Open, retrying -EBUSY for up to 1 s: a queue closed just before is freed late. */
static int open_retry(struct xp_prog *prog, unsigned q, const struct xp_port_config *cfg,
		      struct xp_port **port, int *tries)
{
	int err;

	*tries = 0;
	while ((err = xp_port_open(prog, q, cfg, port)) == -EBUSY && (*tries)++ < 200)
		poll(NULL, 0, 5);
	return err;
}

static void bad_configs(struct xp_prog *prog)
{
	struct xp_port *p;

	CHECK(xp_port_open(prog, 0, &(struct xp_port_config){.ring_size = 100, .zero_copy = -1},
			   &p) == -EINVAL,
	      "ring not a power of two");
	CHECK(xp_port_open(
		      prog, 0,
		      &(struct xp_port_config){.frames = 100, .ring_size = 64, .zero_copy = -1},
		      &p) == -EINVAL,
	      "fewer frames than two rings");
	CHECK(xp_port_open(prog, 0, &(struct xp_port_config){.zero_copy = 2}, &p) == -EINVAL,
	      "zero_copy 2");
	CHECK(xp_port_open(prog, 7, NULL, &p) < 0, "queue that does not exist");
	CHECK(xp_port_open(prog, 100000, NULL, &p) == -EINVAL, "queue past the XSKMAP");
}

static void tx_pool(struct netdev *dev, const char *ifname, const uint8_t peer_mac[6])
{
	static struct pkt pkts[512];
	struct xp_port_stats st;
	unsigned n, again = 0;
	uint64_t tx_before;
	int err = 0;

	n = alloc_all(dev, pkts, 512, &err);
	CHECK(n == 256 - 64 && err == -ENOBUFS, "TX pool: %u frames, then %d", n, err);
	for (unsigned i = 0; i < n; i++)
		CHECK(((uintptr_t)pkts[i].data & 3) == 2, "frame %u alignment", i);
	for (unsigned i = 0; i < n; i++)
		dev->ops->tx_free(dev, &pkts[i]);
	CHECK(alloc_all(dev, pkts, 512, &err) == n, "all frames back after tx_free");
	CHECK(dev->ops->tx_alloc(dev, &pkts[n], 5000) == -EMSGSIZE, "too large");

	/* Send all 192 (three times the TX ring) to the peer: an ethertype nobody takes. */
	for (unsigned i = 0; i < n; i++) {
		memcpy(pkts[i].data, peer_mac, 6);
		memcpy(pkts[i].data + 6, dev->info.mac, 6);
		pkts[i].data[12] = 0x88;
		pkts[i].data[13] = 0xb5;
		memset(pkts[i].data + 14, (int)i, 46);
		pkts[i].len = 60;
	}
	tx_before = sysfs_u64(ifname, "tx_packets");
	dev->ops->tx_queue(dev, pkts, n);
	CHECK(dev->ops->tx_flush(dev) == 0, "tx_flush");
	for (int tries = 0; tries < 100 && again < n; tries++) {
		struct timespec ts = {0, 1000 * 1000};

		again += alloc_all(dev, pkts + again, n - again, &err);
		dev->ops->tx_flush(dev);
		nanosleep(&ts, NULL);
	}
	CHECK(again == n, "completions gave back %u of %u frames", again, n);
	xp_port_get_stats((struct xp_port *)dev, &st);
	CHECK(st.tx_packets == n && st.tx_ring_full == 0, "tx_packets %llu, ring full %llu",
	      (unsigned long long)st.tx_packets, (unsigned long long)st.tx_ring_full);
	CHECK(sysfs_u64(ifname, "tx_packets") - tx_before >= n, "the device sent them (%llu)",
	      (unsigned long long)(sysfs_u64(ifname, "tx_packets") - tx_before));
	CHECK(st.tx_invalid == 0 && st.rx_invalid == 0, "no invalid descriptors");
	printf("%u frames sent with %llu kicks\n", n, (unsigned long long)st.tx_kicks);
	for (unsigned i = 0; i < again; i++)
		dev->ops->tx_free(dev, &pkts[i]);
}

/*
 * One poll emitting a ring's worth (a SYN-ACK storm): a single tx_flush()
 * hands it all to the kernel, even past the peer's backlog (frames the
 * device drops are consumed, not stranded), and every frame comes back.
 */
static void big_burst(struct xp_prog *prog, const uint8_t peer_mac[6])
{
	static struct pkt pkts[2048];
	struct xp_port_stats st;
	struct xp_port *port;
	struct netdev *dev;
	unsigned n, back = 0;
	int tries, err = open_retry(prog, 1, NULL, &port, &tries); /* closed by main() earlier */

	CHECK(err == 0, "default port on queue 1: %s", strerror(-err));
	if (err)
		return;
	dev = xp_port_netdev(port);
	n = alloc_all(dev, pkts, 2048, &err);
	CHECK(n == 2048, "default TX pool: %u", n);
	for (unsigned i = 0; i < n; i++) {
		memcpy(pkts[i].data, peer_mac, 6);
		memcpy(pkts[i].data + 6, dev->info.mac, 6);
		pkts[i].data[12] = 0x88;
		pkts[i].data[13] = 0xb5;
		pkts[i].len = 60;
	}
	dev->ops->tx_queue(dev, pkts, n);
	dev->ops->tx_flush(dev);
	CHECK(!dev->ops->tx_pending(dev), "one flush handed everything over");
	for (int w = 0; w < 100 && back < n; w++) {
		poll(NULL, 0, 2);
		back += alloc_all(dev, pkts + back, n - back, &err); /* reaps, never kicks */
	}
	xp_port_get_stats(port, &st);
	CHECK(back == n, "all %u frames completed without another flush (%u)", n, back);
	printf("burst of %u frames: %llu kicks, ring full %llu\n", n,
	       (unsigned long long)st.tx_kicks, (unsigned long long)st.tx_ring_full);
	CHECK(st.tx_ring_full == 0 && st.tx_packets == n, "no drop at the ring");
	xp_port_close(port);
}

/*
 * More processes than queues: the holder of a shareable queue sleeps as the
 * engine does; a forked process finds the queue taken and joins it. The
 * holder's doorbell wakes it, its next rx_burst() switches it to shared use,
 * then both allocate TX frames from the group's pool.
 */
static void shared_join(struct xp_prog *prog)
{
	struct xp_port_config scfg = {
		.frames = 512, .ring_size = 64, .zero_copy = -1, .shareable = true};
	struct xp_port *holder;
	struct xp_port_stats st;
	struct pkt pkts[512];
	struct netdev *dev;
	int pfds[NETDEV_POLL_FDS_MAX], fds[2], tries, err, status = 0;
	unsigned n, k;
	char c = 0;
	pid_t pid;

	err = open_retry(prog, 1, &scfg, &holder, &tries);
	CHECK(err == 0, "shareable port on queue 1: %s", strerror(-err));
	if (err)
		return;
	dev = xp_port_netdev(holder);
	CHECK(xp_share_taken(prog, 1) && !xp_share_taken(prog, 0), "queue 1 offers itself");
	CHECK(dev->ops->poll_fds(dev, pfds, NETDEV_POLL_FDS_MAX) == 2,
	      "alone: the socket and the doorbell");
	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		struct xp_port *j;
		struct netdev *jd;
		struct pkt k1;

		err = xp_port_join(prog, 2, &scfg, &j);
		c = err ? 'F' : 'J';
		if (!err) {
			jd = xp_port_netdev(j);
			if (xp_port_queue(j) != 1)
				c = 'Q';
			else if (jd->ops->tx_alloc(jd, &k1, 100))
				c = 'T';
			else
				jd->ops->tx_free(jd, &k1);
			xp_port_close(j);
		}
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	struct pollfd pw[2] = {{.fd = pfds[0], .events = POLLIN},
			       {.fd = pfds[1], .events = POLLIN}};

	CHECK(poll(pw, 2, 3000) == 1 && (pw[1].revents & POLLIN), "the joiner rings the doorbell");
	n = dev->ops->rx_burst(dev, pkts, 64);
	if (n)
		dev->ops->rx_done(dev, pkts, n);
	CHECK(read(fds[0], &c, 1) == 1 && c == 'J', "the forked process joined queue 1 (%c)", c);
	waitpid(pid, &status, 0);
	close(fds[0]);
	close(fds[1]);
	xp_port_get_stats(holder, &st);
	CHECK(st.shared, "the holder switched to shared use");
	CHECK(dev->ops->poll_fds(dev, pfds, NETDEV_POLL_FDS_MAX) == 1, "shared: no doorbell");
	n = alloc_all(dev, pkts, 512, &err);
	CHECK(n >= 512 - 64 - 256 && err == -ENOBUFS, "the group's TX pool: %u frames", n);
	for (k = 0; k < n; k++)
		dev->ops->tx_free(dev, &pkts[k]);
	k = alloc_all(dev, pkts, 512, &err);
	CHECK(k == n, "all %u back after tx_free (%u)", n, k);
	while (k)
		dev->ops->tx_free(dev, &pkts[--k]);
	xp_port_close(holder);
}

int main(int argc, char **argv)
{
	struct xp_port_config cfg = {.frames = 256, .ring_size = 64, .zero_copy = -1};
	struct xp_prog_opts opts = {.log_level = 1};
	uint8_t peer_mac[6] = {0}, zero[6] = {0};
	struct xp_port *port, *other;
	struct xp_prog *prog;
	struct netdev *dev;
	struct xp_link link;
	int err, tries = 0;

	check_root_or_skip("AF_XDP");
	if (argc != 4) {
		fprintf(stderr, "usage: %s IF OUR_IP PEER_IP\n", argv[0]);
		return 2;
	}
	CHECK(xp_nl_link(argv[1], &link) == 0, "link");
	err = xp_prog_attach(argv[1], &opts, &prog);
	CHECK(err == 0, "attach: %s", strerror(-err));
	if (err)
		return check_summary();
	bad_configs(prog);
	err = xp_port_open(prog, 0, &cfg, &port);
	CHECK(err == 0, "open queue 0: %s", strerror(-err));
	if (err)
		goto out;
	CHECK(xp_port_open(prog, 0, &cfg, &other) == -EBUSY, "queue 0 is taken");
	err = xp_port_open(prog, 1, &cfg, &other);
	CHECK(err == 0, "queue 1: %s", strerror(-err));
	if (!err)
		xp_port_close(other);

	dev = xp_port_netdev(port);
	CHECK(!memcmp(dev->info.mac, link.mac, 6), "mac");
	CHECK(dev->info.mtu == 1500, "mtu %u", dev->info.mtu);
	CHECK(dev->info.ip4 == inet_addr(argv[2]) && dev->info.prefix_len == 24, "address");
	CHECK(dev->info.ifindex == link.ifindex && dev->info.queue_id == 0 &&
		      dev->info.n_queues == 2,
	      "ifindex/queue/n_queues %d/%u/%u", dev->info.ifindex, dev->info.queue_id,
	      dev->info.n_queues);
	int pfds[NETDEV_POLL_FDS_MAX];

	CHECK(dev->ops->poll_fds(dev, pfds, NETDEV_POLL_FDS_MAX) == 1 && pfds[0] >= 0, "poll_fds");
	CHECK(dev->ops->next_deadline(dev, 5) == UINT64_MAX,
	      "no deadline while nothing is pending");
	/* auto on a veth: a local kernel's unfinished checksums are taken. */
	CHECK(dev->info.rx_csum_trust_local == 1, "veth trusts local checksums by default");
	/* copy mode on a veth, Linux 6.8+: the kernel finishes TCP checksums (TX metadata) */
	CHECK(dev->info.tx_csum_offload == 1, "transmit checksum offload");
	{
		struct xp_port_config vcfg = cfg;
		int vtries;

		vcfg.rx_csum = XP_RX_CSUM_VERIFY;
		err = open_retry(prog, 1, &vcfg, &other, &vtries);
		CHECK(err == 0 && !xp_port_netdev(other)->info.rx_csum_trust_local,
		      "XP_RX_CSUM_VERIFY on a veth: %s", strerror(-err));
		if (!err)
			xp_port_close(other);
		vcfg.rx_csum = (enum xp_rx_csum)3;
		CHECK(xp_port_open(prog, 1, &vcfg, &other) == -EINVAL, "unknown rx_csum");
		vcfg.rx_csum = XP_RX_CSUM_AUTO;
		vcfg.tx_csum = XP_TX_CSUM_OFF;
		err = open_retry(prog, 1, &vcfg, &other, &vtries);
		CHECK(err == 0 && !xp_port_netdev(other)->info.tx_csum_offload,
		      "XP_TX_CSUM_OFF: the stack sums: %s", strerror(-err));
		if (!err)
			xp_port_close(other);
		vcfg.tx_csum = (enum xp_tx_csum)2;
		CHECK(xp_port_open(prog, 1, &vcfg, &other) == -EINVAL, "unknown tx_csum");
	}

	err = dev->ops->resolve(dev, inet_addr(argv[3]), peer_mac);
	while (err == -EAGAIN && tries++ < 100) {
		poll(NULL, 0, 10);
		err = dev->ops->resolve(dev, inet_addr(argv[3]), peer_mac);
	}
	CHECK(err == 0 && memcmp(peer_mac, zero, 6), "resolve peer: %s", strerror(-err));
	CHECK(dev->ops->resolve(dev, inet_addr("192.0.2.1"), peer_mac) == -EHOSTUNREACH,
	      "no route");
	CHECK(dev->ops->resolve(dev, inet_addr("127.0.0.1"), peer_mac) == -EHOSTUNREACH,
	      "not through this interface");

	tx_pool(dev, argv[1], peer_mac);
	big_burst(prog, peer_mac);
	shared_join(prog);
	CHECK(dev->ops->rx_burst(dev, (struct pkt[4]){0}, 4) == 0,
	      "nothing served, nothing received");
	xp_port_close(port);
	/*
	 * The queue is free again shortly after the socket is closed: the kernel
	 * releases it from a work queue, so a claim right away may see -EBUSY.
	 */
	err = open_retry(prog, 0, &cfg, &port, &tries);
	CHECK(err == 0, "reopen queue 0: %s (after %d tries)", strerror(-err), tries);
	printf("queue 0 claimable again after %d ms\n", tries * 5);
	if (!err)
		xp_port_close(port);
out:
	xp_prog_detach(prog);
	return check_summary();
}
