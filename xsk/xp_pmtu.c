/*
 * xp_pmtu.c - path MTU hints the XDP program leaves for every process.
 *
 * An ICMP "fragmentation needed" (ICMPv6 "packet too big") reaches the
 * queue its own addresses hash to, not necessarily the queue (process) of
 * the flow it quotes; that stack rejects it. The program therefore notes
 * each one it steers in xtcp_pmtu (xtcp_pmtu6; bpf/xtcp_xdp.h), and the
 * netdev's path_mtu() (path_mtu6()) op reads it here when a connection to
 * that peer times out (stack/pmtu.c, pmtu_rto_hint()).
 *
 * Calls: xp_port.c's path_mtu op -> xp_prog_path_mtu() -> one map lookup
 * (bpf(2) through libbpf, which the shim does not interpose) and a
 * CLOCK_MONOTONIC read, the program's clock. Nothing is allocated.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "xp_priv.h"
#include "xtcp_xdp.h"

/* The hint under key in map fd, if noted less than max_age_us ago. */
static int pmtu_hint(int fd, const void *key, uint64_t max_age_us, uint32_t *mtu)
{
	struct xtcp_pmtu v;
	struct timespec ts;
	uint64_t now_ns;

	if (fd < 0 || bpf_map_lookup_elem(fd, key, &v))
		return -ENOENT;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (v.ns > now_ns || (now_ns - v.ns) / 1000 >= max_age_us)
		return -ENOENT;
	*mtu = v.mtu;
	return 0;
}

int xp_prog_path_mtu(struct xp_prog *prog, uint32_t peer, uint64_t max_age_us, uint32_t *mtu)
{
	return prog ? pmtu_hint(prog->pmtu_fd, &peer, max_age_us, mtu) : -ENOENT;
}

int xp_prog_path_mtu6(struct xp_prog *prog, const struct in6_addr *peer, uint64_t max_age_us,
		      uint32_t *mtu)
{
	struct xtcp_pmtu6_key key;

	if (!prog)
		return -ENOENT;
	memcpy(key.addr, peer, 16);
	return pmtu_hint(prog->pmtu6_fd, &key, max_age_us, mtu);
}
