/*
 * xsk_rst_responder.c - the proof that both directions of the AF_XDP path
 * work, without the TCP stack: serve a TCP port on every RX queue of an interface
 * through xp_prog/xp_port and the netdev API, and answer every segment that
 * arrives there with a RST built from scratch (RFC 9293 3.10.7.1: a segment
 * to a closed port gets <SEQ=SEG.ACK><CTL=RST>, or, without ACK,
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>), to the source MAC of the
 * segment. Checksums of what arrives are verified; those of the RST are
 * computed here.
 *
 *   xsk_rst_responder IFNAME PORT [forkclose]
 * forkclose: before serving, fork a child that closes its copies of the ports
 * and the program handle and exits (what a forked worker that never serves
 * does at exit): the parent must keep serving, its XSKMAP slots untouched.
 * prints "ready queues=N mode=native|generic zero_copy=0|1" when serving,
 * SIGUSR2 toggles drain on every port (new flows go to the kernel),
 * and at SIGTERM/SIGINT (or SIGUSR1, without exiting) one line of counters:
 *   "stats rx=.. rst=.. bad=.. tx=.. kicks=.. redirected=.. no_socket=.."
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netdev.h"
#include "xp.h"
#include "xtcp_xdp.h"

#define MAX_Q 16

static volatile sig_atomic_t stop, dump, drain_toggle;
static uint64_t n_rx, n_rst, n_bad;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else if (sig == SIGUSR2)
		drain_toggle = 1;
	else
		stop = 1;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* TCP checksum (host order result) over the pseudo header and segment. */
static uint16_t tcp_csum(const struct iphdr *ip, const void *seg, uint16_t seg_len)
{
	uint8_t pseudo[12];

	memcpy(pseudo, &ip->saddr, 4);
	memcpy(pseudo + 4, &ip->daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = seg_len >> 8;
	pseudo[11] = seg_len & 0xff;
	return csum_fold(csum_add(csum_add(0, pseudo, 12), seg, seg_len));
}

/* Build the RST for one received frame into out (54 bytes); 0 if none is due. */
static uint32_t build_rst(const struct netdev_info *me, const uint8_t *in, uint32_t len,
			  uint8_t *out)
{
	const struct ethhdr *eth = (const void *)in;
	const struct iphdr *ip = (const void *)(eth + 1);
	const struct tcphdr *th;
	struct ethhdr *oeth = (void *)out;
	struct iphdr *oip = (void *)(oeth + 1);
	struct tcphdr *oth = (void *)(oip + 1);
	uint32_t ihl, tot, seg_len;

	if (len < sizeof(*eth) + sizeof(*ip) || eth->h_proto != htons(ETH_P_IP))
		return 0;
	ihl = ip->ihl * 4u;
	tot = ntohs(ip->tot_len);
	if (ihl < 20 || tot < ihl + sizeof(*th) || sizeof(*eth) + tot > len ||
	    ip->protocol != IPPROTO_TCP)
		return 0;
	th = (const void *)((const uint8_t *)ip + ihl);
	if (csum_fold(csum_add(0, ip, ihl)) != 0 || tcp_csum(ip, th, (uint16_t)(tot - ihl)) != 0) {
		n_bad++;
		return 0;
	}
	if (th->rst) /* never answer a RST (RFC 9293 3.10.7.1) */
		return 0;
	seg_len = tot - ihl - th->doff * 4u + th->syn + th->fin;

	memset(out, 0, 54);
	memcpy(oeth->h_dest, eth->h_source, 6);
	memcpy(oeth->h_source, me->mac, 6);
	oeth->h_proto = htons(ETH_P_IP);
	oip->version = 4;
	oip->ihl = 5;
	oip->tot_len = htons(40);
	oip->frag_off = htons(0x4000) /* DF */;
	oip->ttl = 64;
	oip->protocol = IPPROTO_TCP;
	oip->saddr = ip->daddr;
	oip->daddr = ip->saddr;
	oip->check = htons(csum_fold(csum_add(0, oip, 20)));
	oth->source = th->dest;
	oth->dest = th->source;
	oth->doff = 5;
	oth->rst = 1;
	if (th->ack) {
		oth->seq = th->ack_seq;
	} else {
		oth->ack = 1;
		oth->ack_seq = htonl(ntohl(th->seq) + seg_len);
	}
	/* A device that finishes checksums wants the pseudo-header sum (netdev.h). */
	oth->check = htons(me->tx_csum_offload ? (uint16_t)~tcp_csum(oip, oth, 0)
					       : tcp_csum(oip, oth, 20));
	return 54;
}

static void serve_queue(struct netdev *dev)
{
	struct pkt rx[NETDEV_BURST_MAX], tx[NETDEV_BURST_MAX];
	unsigned n, n_tx = 0;

	n = dev->ops->rx_burst(dev, rx, NETDEV_BURST_MAX);
	n_rx += n;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len;

		if (dev->ops->tx_alloc(dev, &tx[n_tx], 54))
			continue; /* no TX frame: this one goes unanswered (the peer retries) */
		len = build_rst(&dev->info, rx[i].data, rx[i].len, tx[n_tx].data);
		if (!len) {
			dev->ops->tx_free(dev, &tx[n_tx]);
			continue;
		}
		tx[n_tx].len = len;
		n_tx++;
	}
	dev->ops->rx_done(dev, rx, n);
	dev->ops->tx_queue(dev, tx, n_tx);
	n_rst += n_tx;
	dev->ops->tx_flush(dev);
}

/* The port's socket, to sleep on. */
static int port_fd(struct xp_port *port)
{
	struct netdev *dev = xp_port_netdev(port);
	int fd = -1;

	dev->ops->poll_fds(dev, &fd, 1);
	return fd;
}

static void print_stats(struct xp_prog *prog, struct xp_port **ports, unsigned nq)
{
	uint64_t xdp[XTCP_STAT__COUNT] = {0};
	struct xp_port_stats st, sum = {0};

	for (unsigned q = 0; q < nq; q++) {
		xp_port_get_stats(ports[q], &st);
		sum.rx_packets += st.rx_packets;
		sum.tx_packets += st.tx_packets;
		sum.tx_kicks += st.tx_kicks;
		sum.rx_dropped += st.rx_dropped + st.rx_invalid + st.tx_invalid + st.tx_ring_full;
		printf("queue %u rx=%llu tx=%llu\n", q, (unsigned long long)st.rx_packets,
		       (unsigned long long)st.tx_packets);
	}
	xp_prog_read_stats(prog, xdp, XTCP_STAT__COUNT);
	printf("stats rx=%llu rst=%llu bad=%llu port_rx=%llu tx=%llu kicks=%llu errors=%llu "
	       "redirected=%llu no_socket=%llu\n",
	       (unsigned long long)n_rx, (unsigned long long)n_rst, (unsigned long long)n_bad,
	       (unsigned long long)sum.rx_packets, (unsigned long long)sum.tx_packets,
	       (unsigned long long)sum.tx_kicks, (unsigned long long)sum.rx_dropped,
	       (unsigned long long)xdp[XTCP_STAT_REDIRECTED],
	       (unsigned long long)xdp[XTCP_STAT_NO_SOCKET]);
	fflush(stdout);
}

/* A child closes its views of everything and exits; 0 when it did so cleanly. */
static int fork_close(struct xp_prog *prog, struct xp_port **ports, unsigned nq)
{
	int st = -1;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		for (unsigned q = 0; q < nq; q++)
			xp_port_close(ports[q]);
		xp_prog_release(prog);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "responder: forked child failed\n");
		return 1;
	}
	printf("forked child closed its views\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct xp_prog_opts opts = {.log_level = 1};
	struct xp_port *ports[MAX_Q];
	struct pollfd pfd[MAX_Q];
	struct xp_port_stats st;
	struct xp_prog *prog;
	struct xp_link link;
	unsigned nq, q;
	int err, port;
	bool draining = false;

	if (argc < 3 || argc > 4 || (port = atoi(argv[2])) <= 0 || port > 65535 ||
	    (argc == 4 && strcmp(argv[3], "forkclose"))) {
		fprintf(stderr, "usage: %s IFNAME PORT [forkclose]\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	err = xp_nl_link(argv[1], &link);
	if (err) {
		fprintf(stderr, "responder: %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	nq = link.n_rx_queues < MAX_Q ? link.n_rx_queues : MAX_Q;
	err = xp_prog_attach(argv[1], &opts, &prog);
	if (err) {
		fprintf(stderr, "responder: attach: %s\n", strerror(-err));
		return 1;
	}
	err = xp_prog_serve(prog, 0, (uint16_t)port, true);
	for (q = 0; q < nq && !err; q++) {
		/* A queue freed just before (a killed predecessor) is released late. */
		for (int tries = 0;
		     (err = xp_port_open(prog, q, NULL, &ports[q])) == -EBUSY && tries < 200;
		     tries++)
			poll(NULL, 0, 5);
		if (err)
			fprintf(stderr, "responder: queue %u: %s\n", q, strerror(-err));
		else
			pfd[q] = (struct pollfd){.fd = port_fd(ports[q]), .events = POLLIN};
	}
	if (err) {
		while (q-- > 1)
			xp_port_close(ports[q - 1]);
		xp_prog_detach(prog);
		return 1;
	}
	if (argc == 4 && fork_close(prog, ports, nq))
		return 1;
	xp_port_get_stats(ports[0], &st);
	printf("ready queues=%u mode=%s zero_copy=%d\n", nq, xp_prog_mode(prog), st.zero_copy);
	fflush(stdout);
	while (!stop) {
		if (dump) {
			dump = 0;
			print_stats(prog, ports, nq);
		}
		if (drain_toggle) {
			drain_toggle = 0;
			draining = !draining;
			for (q = 0; q < nq; q++)
				xp_port_drain(ports[q], draining);
			printf("drain %s\n", draining ? "on" : "off");
			fflush(stdout);
		}
		/* Sleep until a frame arrives: need_wakeup, no busy polling. */
		if (poll(pfd, nq, 1000) < 0 && errno != EINTR)
			break;
		for (q = 0; q < nq; q++)
			serve_queue(xp_port_netdev(ports[q]));
	}
	print_stats(prog, ports, nq);
	for (q = 0; q < nq; q++)
		xp_port_close(ports[q]);
	xp_prog_detach(prog);
	return 0;
}
