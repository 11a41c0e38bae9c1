/*
 * xp_pmtu.c - path MTU hints the XDP program leaves for every process.
 *
 * An ICMP "fragmentation needed" reaches the queue its own addresses hash
 * to, not necessarily the queue (process) of the flow it quotes; that stack
 * rejects it. The program therefore notes each one it steers in xtcp_pmtu
 * (bpf/xtcp_xdp.h), and the netdev's path_mtu() op reads it here when a
 * connection to that peer times out (stack/pmtu.c, pmtu_rto_hint()).
 *
 * Calls: xp_port.c's path_mtu op -> xp_prog_path_mtu() -> one map lookup
 * (bpf(2) through libbpf, which the shim does not interpose) and a
 * CLOCK_MONOTONIC read, the program's clock. Nothing is allocated.
 */
#include <errno.h>
#include <time.h>

#include <bpf/bpf.h>

#include "xp_priv.h"
#include "xtcp_xdp.h"

int xp_prog_path_mtu(struct xp_prog *prog, uint32_t peer, uint64_t max_age_us, uint32_t *mtu)
{
	struct xtcp_pmtu v;
	struct timespec ts;
	uint64_t now_ns;

	if (!prog || prog->pmtu_fd < 0 || bpf_map_lookup_elem(prog->pmtu_fd, &peer, &v))
		return -ENOENT;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (v.ns > now_ns || (now_ns - v.ns) / 1000 >= max_age_us)
		return -ENOENT;
	*mtu = v.mtu;
	return 0;
}
