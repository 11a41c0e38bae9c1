/*
 * xtcpctl.h - shared parts of xtcpctl: the output writer (human text or
 * JSON, same calls) and the AF_XDP socket query (xtcpctl_diag.c).
 */
#ifndef XTCP_XTCPCTL_H
#define XTCP_XTCPCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* --- JSON writer: nesting and commas, keys NULL inside arrays --- */
#define JW_DEPTH 16
struct jw {
	FILE *f;
	int depth;
	bool comma[JW_DEPTH];
};
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *val);
void jw_u64(struct jw *w, const char *key, uint64_t val);
void jw_i64(struct jw *w, const char *key, int64_t val);
void jw_bool(struct jw *w, const char *key, bool val);

/* --- AF_XDP sockets, from the kernel (sock_diag, AF_XDP) --- */
struct xsk_sock {
	uint32_t ino;
	uint32_t ifindex, queue_id;
	uint32_t uid;
	uint32_t rx_ring, tx_ring, fill_ring, comp_ring; /* entries */
	uint64_t umem_size;
	uint32_t umem_id;
	bool zero_copy;
	bool has_stats;
	uint64_t rx_dropped, rx_invalid, rx_full, fill_empty, tx_invalid, tx_empty;
	pid_t pid; /* owner found in /proc (0: none found) */
	char comm[32];
};
/* All AF_XDP sockets of this network namespace; *out malloc'ed. Returns count or -errno. */
int xsk_diag_list(struct xsk_sock **out);
/*
 * Without xsk_diag in the kernel (CONFIG_XDP_SOCKETS_DIAG): the AF_XDP
 * sockets found in /proc/<pid>/fd, with owner but without queue
 * (queue_id UINT32_MAX, ifindex 0).
 */
int xsk_proc_list(struct xsk_sock **out);
/* Fill pid/comm by scanning /proc/<pid>/fd for socket:[ino]. */
void xsk_diag_owners(struct xsk_sock *s, int n);
/*
 * Does pid live in this network namespace? Interfaces, AF_XDP sockets and
 * processes of other namespaces (other test beds) are not shown.
 */
bool pid_in_my_netns(pid_t pid);
/* comm of pid, "" if gone. */
void proc_comm(pid_t pid, char *buf, size_t n);

/* --- xtcp processes, from their shared-memory statistics (xtcpctl_shm.c) --- */
struct shim_stats;
struct shm_proc {
	const struct shim_stats *st; /* mapped read-only */
	size_t len;
	char comm[32];
};
/* Map the statistics of the live xtcp processes of this namespace; returns the count. */
int xtcpctl_shm_open(struct shm_proc *p, int max);
void xtcpctl_shm_close(struct shm_proc *p, int n);
/* Does the file carry the AF_XDP figures (version 3), the hand-off counters (4)? */
bool xtcpctl_shm_has_xsk(const struct shm_proc *p);
bool xtcpctl_shm_has_handoff(const struct shm_proc *p);
/* ... the ICMP and path MTU counters (after the IPv6 ones in version 6)? */
bool xtcpctl_shm_has_icmp(const struct shm_proc *p);
/* ... the IPv6 addresses and counters (version 6)? */
bool xtcpctl_shm_has_ipv6(const struct shm_proc *p);
/* Append the "processes" part of status (w NULL: text on stdout). */
void xtcpctl_shm_status(struct jw *w);
/* xtcpctl conns: exit status. */
int xtcpctl_conns(struct jw *w, int argc, char **argv);

/* --- counters of the XDP program on an interface (xtcpctl.c) --- */
/*
 * steer[XTCP_STAT__COUNT] and prot[PROT_CNT_MAX] summed over CPUs; *has_steer and
 * *has_prot tell which the attached program has. -ENOENT: no program attached.
 */
int xtcpctl_xdp_counters(int ifindex, uint64_t *steer, bool *has_steer, uint64_t *prot,
			 bool *has_prot);

/* xtcpctl metrics [--listen ADDR:PORT | --textfile PATH [--interval SEC]] (xtcpctl_metrics.c) */
int xtcpctl_metrics(int argc, char **argv);

#endif
