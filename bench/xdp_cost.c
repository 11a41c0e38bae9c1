/*
 * xdp_cost.c - what the XDP program (bpf/xtcp_xdp.bpf.c) costs per frame,
 * by verdict path, through bpf_prog_test_run_opts (repeat: the kernel times
 * the runs itself, no device, no NAPI around it).
 *
 *   xdp_cost [REPEAT]     (root, in a network namespace of its own: it makes
 *                          kernel TCP connections on 127.0.0.1 there)
 *   xdp_cost --live IFACE SECONDS
 *                          the program attached to IFACE under real traffic:
 *                          the kernel's run-time statistics (BPF_ENABLE_STATS,
 *                          on only while this runs) over SECONDS: runs and ns
 *                          per run, as spent in the receiving NAPI
 *
 * Paths, each an ACK to a served port unless said: "lookup" (the port may
 * have kernel flows: bpf_skc_lookup_tcp runs and finds nothing), "lean" (the
 * port marked free of kernel flows, xtcp_kclean: no lookup), "kernel flow"
 * (the lookup finds the kernel's connection), "unserved port" and "SYN"
 * (neither looks up). The namespace holds KFLOWS kernel connections, so the
 * socket hash is not empty. Prints ns per frame for each, the median of 5.
 * Map: main() -> make_conns() -> cost() per path; or live().
 */
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xtcp_xdp.h"
#include "xtcp_xdp.skel.h"

#define KFLOWS 64

/* An IPv4/TCP frame 127.0.0.1:sport -> 127.0.0.1:dport, 10 bytes of payload. */
static unsigned frame(__u8 *buf, __u16 sport, __u16 dport, int syn)
{
	struct ethhdr *eth = (void *)buf;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th = (void *)(ip + 1);

	memset(buf, 0, 128);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_TCP;
	ip->saddr = ip->daddr = htonl(0x7f000001);
	ip->tot_len = htons(sizeof(*ip) + sizeof(*th) + 10);
	th->source = htons(sport);
	th->dest = htons(dport);
	th->doff = 5;
	th->syn = syn;
	th->ack = !syn;
	return sizeof(*eth) + sizeof(*ip) + sizeof(*th) + 10;
}

static int cmp_u32(const void *a, const void *b)
{
	return (int)(*(const __u32 *)a > *(const __u32 *)b) -
	       (*(const __u32 *)a < *(const __u32 *)b);
}

/* Median over 5 test runs of the kernel's ns per frame; 0 on error. */
static __u32 cost(int prog_fd, __u16 sport, __u16 dport, int syn, unsigned repeat)
{
	__u8 raw[132] __attribute__((aligned(4))), *buf = raw + 2;
	__u32 d[5];

	for (int i = 0; i < 5; i++) {
		struct bpf_test_run_opts o = {
			.sz = sizeof(o),
			.data_in = buf,
			.data_size_in = frame(buf, sport, dport, syn),
			.repeat = repeat,
		};

		if (bpf_prog_test_run_opts(prog_fd, &o))
			return 0;
		d[i] = o.duration;
	}
	qsort(d, 5, sizeof(d[0]), cmp_u32);
	return d[2];
}

static __u16 port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	return getsockname(fd, (struct sockaddr *)&a, &len) ? 0 : ntohs(a.sin_port);
}

/* KFLOWS kernel connections to a listener on 127.0.0.1; returns its port, sets *cport. */
static __u16 make_conns(__u16 *cport)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, KFLOWS))
		return 0;
	a.sin_port = htons(port_of(l));
	for (int i = 0; i < KFLOWS; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
			return 0;
		*cport = port_of(c);
		if (accept(l, NULL, NULL) < 0)
			return 0;
	}
	return ntohs(a.sin_port);
}

/* The attached program's run count and time over secs seconds. */
static int live(const char *ifname, unsigned secs)
{
	struct bpf_prog_info a = {0}, b = {0};
	__u32 id = 0, len = sizeof(a);
	int ifindex = (int)if_nametoindex(ifname), stats, fd;

	if (!ifindex || bpf_xdp_query_id(ifindex, 0, &id) || !id) {
		fprintf(stderr, "xdp_cost: no XDP program on %s\n", ifname);
		return 1;
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	fd = bpf_prog_get_fd_by_id(id);
	if (stats < 0 || fd < 0 || bpf_obj_get_info_by_fd(fd, &a, &len)) {
		fprintf(stderr, "xdp_cost: run-time statistics: %s\n", strerror(errno));
		return 1;
	}
	sleep(secs);
	len = sizeof(b);
	if (bpf_obj_get_info_by_fd(fd, &b, &len))
		return 1;
	close(stats);
	printf("%s: %llu runs in %u s, %.1f ns per run\n", ifname,
	       (unsigned long long)(b.run_cnt - a.run_cnt), secs,
	       b.run_cnt > a.run_cnt
		       ? (double)(b.run_time_ns - a.run_time_ns) / (double)(b.run_cnt - a.run_cnt)
		       : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--live"))
		return live(argv[2], (unsigned)atoi(argv[3]));

	unsigned repeat = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000;
	struct xtcp_serve_key key = {0};
	struct xtcp_serve_val val = {0};
	struct xtcp_xdp *skel;
	struct xtcp_kflow k;
	__u16 lport, cport = 0;
	__u32 port;
	__u64 clean;
	int fd;

	skel = xtcp_xdp__open_and_load();
	if (!skel) {
		fprintf(stderr, "xdp_cost: cannot load the program (root?): %s\n", strerror(errno));
		return 1;
	}
	lport = make_conns(&cport);
	if (!lport) {
		fprintf(stderr, "xdp_cost: kernel connections: %s\n", strerror(errno));
		return 1;
	}
	fd = bpf_program__fd(skel->progs.xtcp_xdp);
	key.port = htons(lport);
	port = lport;
	bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_serve), &key, &val, 0);
	printf("ns per frame (median of 5 x %u runs), %d kernel connections in the namespace\n",
	       repeat, KFLOWS);
	printf("  %-40s %u\n", "unserved port, ACK", cost(fd, 40000, 9, 0, repeat));
	printf("  %-40s %u\n", "served port, SYN (no lookup)", cost(fd, 40000, lport, 1, repeat));
	printf("  %-40s %u\n", "served port, ACK, lookup finds nothing",
	       cost(fd, 40000, lport, 0, repeat));
	printf("  %-40s %u\n", "served port, ACK, lookup finds the kernel's",
	       cost(fd, cport, lport, 0, repeat));
	/* What xp_prog_kflow_sweep() writes for a port free of kernel flows. */
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.xtcp_kflow), &port, &k);
	clean = k.gen + 1;
	bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_kclean), &port, &clean, 0);
	printf("  %-40s %u\n", "served port, ACK, lean (no lookup)",
	       cost(fd, 40000, lport, 0, repeat));
	xtcp_xdp__destroy(skel);
	return 0;
}
