/*
 * xdp_test.c - the shared part of the XDP program's verdict tests (see
 * xdp_test.h): running frames, reading counters, kernel connections.
 * Called by test_xdp_verdict.c and test_xdp_icmp.c only; owns no memory
 * beyond the caller's buffers and the fds in struct xdp_test_kconn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "check.h"
#include "xdp_test.h"

struct xtcp_xdp *xdp_test_open(void)
{
	struct xtcp_serve_key key = {.ip4 = inet_addr("10.0.0.1"), .port = htons(80)};
	struct xtcp_cfg cfg = {.lport_min = XDP_TEST_LPORT_MIN, .lport_max = XDP_TEST_LPORT_MAX};
	struct xtcp_serve_val val = {0};
	struct xtcp_xdp *skel;
	__u32 zero = 0;

	check_root_or_skip("loading BPF");
	skel = xtcp_xdp__open_and_load();
	CHECK(skel != NULL, "open_and_load: %s", strerror(errno));
	if (!skel)
		return NULL;
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_serve), &key, &val, 0), "serve");
	CHECK(!bpf_map_update_elem(bpf_map__fd(skel->maps.xtcp_cfg), &zero, &cfg, 0), "cfg");
	return skel;
}

int xdp_test_run(struct xtcp_xdp *skel, const __u8 *buf, unsigned len)
{
	struct bpf_test_run_opts opts = {
		.sz = sizeof(opts),
		.data_in = buf,
		.data_size_in = len,
		.repeat = 1,
	};
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xtcp_xdp), &opts);

	return err ? err : (int)opts.retval;
}

__u64 xdp_test_stat(struct xtcp_xdp *skel, __u32 idx)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map_lookup_elem(bpf_map__fd(skel->maps.xtcp_stats), &idx, vals))
		return ~0ULL;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

__u64 xdp_test_verdicts(struct xtcp_xdp *skel)
{
	return xdp_test_stat(skel, XTCP_STAT_REDIRECTED) + xdp_test_stat(skel, XTCP_STAT_PASSED) +
	       xdp_test_stat(skel, XTCP_STAT_DROPPED);
}

void xdp_test_expect(struct xtcp_xdp *skel, const char *name, const __u8 *buf, unsigned len,
		     int verdict, const int *moves)
{
	__u64 before[XTCP_STAT__COUNT], after;
	int moved[XTCP_STAT__COUNT] = {0};

	for (int i = 0; i < XTCP_STAT__COUNT; i++)
		before[i] = xdp_test_stat(skel, (__u32)i);
	for (const int *m = moves; *m >= 0; m++)
		moved[*m] = 1;
	CHECK(xdp_test_run(skel, buf, len) == verdict, "%s: verdict", name);
	for (int i = 0; i < XTCP_STAT__COUNT; i++) {
		after = xdp_test_stat(skel, (__u32)i);
		CHECK(after - before[i] == (__u64)moved[i], "%s: counter %d moved by %llu", name, i,
		      (unsigned long long)(after - before[i]));
	}
}

uint64_t xdp_test_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

void xdp_test_eth(__u8 *buf, __u16 proto)
{
	memset(buf, 0, 256);
	memset(buf, 0x02, 6);
	memset(buf + 6, 0x04, 6);
	buf[12] = (__u8)(proto >> 8);
	buf[13] = (__u8)proto;
}

void xdp_test_ip6(__u8 *ip, __u8 nexthdr, __u16 plen, const char *src, const char *dst)
{
	ip[0] = 0x60;
	ip[4] = (__u8)(plen >> 8);
	ip[5] = (__u8)plen;
	ip[6] = nexthdr;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
}

static __u16 local_port(int fd)
{
	struct sockaddr_in6 a; /* large enough for either family; the port is at the same place */
	socklen_t len = sizeof(a);

	return getsockname(fd, (struct sockaddr *)&a, &len) ? 0 : ntohs(a.sin6_port);
}

static int serve(struct xtcp_xdp *skel, int af, __u16 port, int on)
{
	struct xtcp_serve_key key = {.port = htons(port)};
	struct xtcp_serve6_key key6 = {.port = htons(port)};
	struct xtcp_serve_val val = {0};
	int fd = bpf_map__fd(af == AF_INET6 ? skel->maps.xtcp_serve6 : skel->maps.xtcp_serve);
	void *k = af == AF_INET6 ? (void *)&key6 : (void *)&key;

	return on ? bpf_map_update_elem(fd, k, &val, 0) : bpf_map_delete_elem(fd, k);
}

int xdp_test_kconn_open(struct xtcp_xdp *skel, int af, struct xdp_test_kconn *k)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr *sa = af == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
	socklen_t salen = af == AF_INET6 ? sizeof(a6) : sizeof(a);

	k->af = af;
	k->acc = -1;
	k->l = socket(af, SOCK_STREAM, 0);
	k->c = socket(af, SOCK_STREAM, 0);
	if (k->l < 0 || k->c < 0 || bind(k->l, sa, salen) || listen(k->l, 4)) {
		CHECK(0, "kernel listener (%s): %s", af == AF_INET6 ? "::1" : "127.0.0.1",
		      strerror(errno));
		xdp_test_kconn_close_conn(k);
		if (k->l >= 0)
			close(k->l);
		k->l = -1;
		return -1;
	}
	k->lport = local_port(k->l);
	a.sin_port = a6.sin6_port = htons(k->lport);
	CHECK(connect(k->c, sa, salen) == 0, "kernel connection");
	k->acc = accept(k->l, NULL, NULL);
	k->cport = local_port(k->c);
	CHECK(!serve(skel, af, k->lport, 1), "serve port %u", k->lport);
	return 0;
}

void xdp_test_kconn_close_conn(struct xdp_test_kconn *k)
{
	if (k->acc >= 0)
		close(k->acc);
	if (k->c >= 0)
		close(k->c);
	k->acc = k->c = -1;
}

void xdp_test_kconn_close(struct xtcp_xdp *skel, struct xdp_test_kconn *k)
{
	if (k->l >= 0)
		serve(skel, k->af, k->lport, 0);
	xdp_test_kconn_close_conn(k);
	if (k->l >= 0)
		close(k->l);
	k->l = -1;
}
