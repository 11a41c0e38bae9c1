/*
 * xtcpctl_shm.c - the xtcp processes, from the statistics each publishes in
 * shared memory (preload/shim_stats.h: /dev/shm/xtcp-<pid>.stats).
 *
 * xtcpctl_shm_open() maps every file read-only (MAP_SHARED, PROT_READ): a
 * process is never stopped or signalled (kill(pid, 0) only tests that it is
 * alive; files of dead processes, left by kill -9, are skipped). Then
 * xtcpctl_shm_status() prints one block per process and xtcpctl_conns() the
 * connection table, when the process's shim publishes one.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>

#include "shim_stats.h"
#include "xtcpctl.h"

#define SHM_DIR	 "/dev/shm"
#define SHM_MAXP 256

static const char *const fb_names[SHIM_FB__COUNT] = {
	[SHIM_FB_NO_PROGRAM] = "no_xdp_program", [SHIM_FB_NO_ENGINE] = "no_af_xdp_queue",
	[SHIM_FB_NOT_INET] = "not_ipv4_stream",	 [SHIM_FB_FORKED] = "used_after_fork",
	[SHIM_FB_STACK] = "stack_refused",	 [SHIM_FB_KERNEL_SYN] = "kernel_handshake",
};

int xtcpctl_shm_open(struct shm_proc *p, int max)
{
	struct dirent *e;
	DIR *d = opendir(SHM_DIR);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[300], tail[16];
		struct stat sb;
		void *m;
		int pid, fd;

		if (sscanf(e->d_name, "xtcp-%d.%15s", &pid, tail) != 2 || strcmp(tail, "stats"))
			continue;
		if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
			continue; /* left behind by a process that died */
		if (!pid_in_my_netns(pid))
			continue; /* /dev/shm is shared: another namespace's process */
		snprintf(path, sizeof(path), SHM_DIR "/%s", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Version 1 files end before the connection table. */
		if (fstat(fd, &sb) || (size_t)sb.st_size < offsetof(struct shim_stats, conn_gen)) {
			close(fd);
			continue;
		}
		m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (m == MAP_FAILED)
			continue;
		p[n].st = m;
		p[n].len = (size_t)sb.st_size;
		if (p[n].st->magic != SHIM_STATS_MAGIC || p[n].st->version < 1 ||
		    p[n].st->pid != pid) {
			munmap(m, p[n].len);
			continue;
		}
		proc_comm(pid, p[n].comm, sizeof(p[n].comm));
		n++;
	}
	closedir(d);
	return n;
}

void xtcpctl_shm_close(struct shm_proc *p, int n)
{
	int i;

	for (i = 0; i < n; i++)
		munmap((void *)p[i].st, p[i].len);
}

static uint64_t rd(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* Does this file carry the AF_XDP figures (version 3)? */
bool xtcpctl_shm_has_xsk(const struct shm_proc *p)
{
	return p->st->version >= 3 && p->len >= offsetof(struct shim_stats, handoff_sent);
}

/* ... and the hand-off counters (version 4)? */
bool xtcpctl_shm_has_handoff(const struct shm_proc *p)
{
	return p->st->version >= 4 && p->len >= offsetof(struct shim_stats, stack_syn_cookies_sent);
}

/* ... and the accepted unfinished checksums (version 5, last)? */
static bool has_csum_partial(const struct shm_proc *p)
{
	return p->st->version >= 5 && p->len >= offsetof(struct shim_stats, kernel_at_fork);
}

/* ... and the counts of connections handed to the kernel (version 5, last)? */
static bool has_kernel(const struct shm_proc *p)
{
	return p->st->version >= 5 && p->len >= offsetof(struct shim_stats, conn6);
}

bool xtcpctl_shm_has_ipv6(const struct shm_proc *p)
{
	return p->st->version >= 6 && p->len >= offsetof(struct shim_stats, stack_icmp_errors);
}

/* ... and the UMEM TX frames in use (version 6)? */
static bool has_umem(const struct shm_proc *p)
{
	return p->st->version >= 6 &&
	       p->len >= offsetof(struct shim_stats, xsk_tx_frames_in_use) + 8;
}

/* ... and the path MTU hint and probing counters (version 6)? */
static bool has_probing(const struct shm_proc *p)
{
	return p->st->version >= 6 && p->len >= offsetof(struct shim_stats, stack_mtu_probes) + 8;
}

/* ... and the ICMP and path MTU counters (version 6)? */
bool xtcpctl_shm_has_icmp(const struct shm_proc *p)
{
	return p->st->version >= 6 && p->len >= offsetof(struct shim_stats, stack_pmtu_lowered) + 8;
}

static bool has_ipv6(const struct shm_proc *p)
{
	return xtcpctl_shm_has_ipv6(p);
}

/* ... and the SYN cookie and invalid-segment counters (version 5)? */
static bool has_cookies(const struct shm_proc *p)
{
	return p->st->version >= 5 && p->len >= offsetof(struct shim_stats, stack_rx_csum_partial);
}

/* JSON names of the version 5 counters, which follow stack_syn_cookies_sent in order. */
static const char *const v5_names[] = {
	"syn_cookies_sent", "syn_cookies_validated", "syn_cookies_failed",
	"challenge_acks",   "invalid_acks_limited",  "malformed_opt_lists",
};

#define V5_FIRST offsetof(struct shim_stats, stack_syn_cookies_sent)
#define V5_END	 (offsetof(struct shim_stats, stack_malformed_opt_lists) + sizeof(uint64_t))
_Static_assert(sizeof(v5_names) / sizeof(v5_names[0]) * sizeof(uint64_t) == V5_END - V5_FIRST,
	       "one name per version 5 counter");

static void proc_json(struct jw *w, const struct shm_proc *p)
{
	const struct shim_stats *s = p->st;
	unsigned i;

	jw_obj(w, NULL);
	jw_i64(w, "pid", s->pid);
	jw_str(w, "comm", p->comm);
	jw_str(w, "iface", s->iface);
	jw_u64(w, "queue", s->queue);
	jw_u64(w, "listeners", rd(&s->listeners));
	jw_u64(w, "conns", rd(&s->conns));
	jw_u64(w, "accepted_xtcp", rd(&s->accepted_xtcp));
	jw_u64(w, "accepted_kernel", rd(&s->accepted_kernel));
	jw_u64(w, "connected_xtcp", rd(&s->connected_xtcp));
	jw_obj(w, "fallback");
	for (i = 0; i < SHIM_FB__COUNT; i++)
		if (fb_names[i])
			jw_u64(w, fb_names[i], rd(&s->fallback[i]));
	jw_end_obj(w);
	jw_u64(w, "polls", rd(&s->polls));
	jw_u64(w, "sleeps", rd(&s->sleeps));
	jw_obj(w, "stack");
	jw_u64(w, "rx_frames", rd(&s->stack_rx_frames));
	jw_u64(w, "tx_frames", rd(&s->stack_tx_frames));
	jw_u64(w, "rx_drop", rd(&s->stack_rx_drop));
	jw_u64(w, "active_opens", rd(&s->stack_active_opens));
	jw_u64(w, "passive_opens", rd(&s->stack_passive_opens));
	jw_u64(w, "retrans_segs", rd(&s->stack_retrans_segs));
	jw_u64(w, "socks_in_use", rd(&s->stack_socks_in_use));
	for (i = 0; has_cookies(p) && i < sizeof(v5_names) / sizeof(v5_names[0]); i++)
		jw_u64(w, v5_names[i], rd(&s->stack_syn_cookies_sent + i));
	if (has_csum_partial(p))
		jw_u64(w, "rx_csum_partial", rd(&s->stack_rx_csum_partial));
	if (has_ipv6(p)) {
		jw_u64(w, "rx_frames_ipv6", rd(&s->stack_rx_frames6));
		jw_u64(w, "tx_frames_ipv6", rd(&s->stack_tx_frames6));
		jw_u64(w, "active_opens_ipv6", rd(&s->stack_active_opens6));
		jw_u64(w, "passive_opens_ipv6", rd(&s->stack_passive_opens6));
	}
	if (xtcpctl_shm_has_icmp(p)) {
		jw_u64(w, "icmp_errors", rd(&s->stack_icmp_errors));
		jw_u64(w, "icmp_acted", rd(&s->stack_icmp_acted));
		jw_u64(w, "icmp_rejected", rd(&s->stack_icmp_rejected));
		jw_u64(w, "pmtu_lowered", rd(&s->stack_pmtu_lowered));
	}
	if (has_probing(p)) {
		jw_u64(w, "pmtu_hints", rd(&s->stack_pmtu_hints));
		jw_u64(w, "mtu_blackholes", rd(&s->stack_mtu_blackholes));
		jw_u64(w, "mtu_probes", rd(&s->stack_mtu_probes));
	}
	jw_end_obj(w);
	if (xtcpctl_shm_has_xsk(p)) {
		jw_obj(w, "af_xdp");
		jw_u64(w, "sockets", rd(&s->xsk_ports));
		jw_bool(w, "zero_copy", rd(&s->xsk_zero_copy) != 0);
		jw_u64(w, "rx_packets", rd(&s->xsk_rx_packets));
		jw_u64(w, "tx_packets", rd(&s->xsk_tx_packets));
		jw_u64(w, "rx_ring_full", rd(&s->xsk_rx_ring_full));
		jw_u64(w, "fill_ring_empty", rd(&s->xsk_fill_empty));
		jw_u64(w, "tx_ring_full", rd(&s->xsk_tx_ring_full));
		jw_u64(w, "rx_invalid", rd(&s->xsk_rx_invalid));
		jw_u64(w, "tx_invalid", rd(&s->xsk_tx_invalid));
		jw_u64(w, "rx_dropped", rd(&s->xsk_rx_dropped));
		jw_u64(w, "tx_kicks", rd(&s->xsk_tx_kicks));
		if (has_umem(p)) {
			jw_u64(w, "tx_frames", rd(&s->xsk_tx_frames));
			jw_u64(w, "tx_frames_in_use", rd(&s->xsk_tx_frames_in_use));
		}
		jw_end_obj(w);
	}
	if (xtcpctl_shm_has_handoff(p)) {
		jw_obj(w, "handoff");
		jw_u64(w, "sent", rd(&s->handoff_sent));
		jw_u64(w, "received", rd(&s->handoff_received));
		jw_u64(w, "lost", rd(&s->handoff_lost));
		jw_u64(w, "no_owner", rd(&s->handoff_no_owner));
		jw_u64(w, "rejected", rd(&s->handoff_rejected));
		jw_end_obj(w);
	}
	if (has_kernel(p)) {
		jw_obj(w, "to_kernel");
		jw_u64(w, "at_fork", rd(&s->kernel_at_fork));
		jw_u64(w, "at_exit", rd(&s->kernel_at_exit));
		jw_u64(w, "failed", rd(&s->kernel_failed));
		jw_u64(w, "left", rd(&s->kernel_left));
		jw_end_obj(w);
	}
	jw_end_obj(w);
}

static void proc_text(const struct shm_proc *p)
{
	const struct shim_stats *s = p->st;
	uint64_t fb = 0;
	unsigned i;

	uint64_t nq = xtcpctl_shm_has_xsk(p) ? rd(&s->xsk_ports) : 1;

	/* A process on several queues (started by exec, or client-only): the first and how many. */
	if (nq > 1)
		printf("  %d %s: %s %llu queues from %u,"
		       " %llu listening + %llu connections on xtcp\n",
		       (int)s->pid, p->comm, s->iface, (unsigned long long)nq, s->queue,
		       (unsigned long long)rd(&s->listeners), (unsigned long long)rd(&s->conns));
	else
		printf("  %d %s: %s queue %u, %llu listening + %llu connections on xtcp\n",
		       (int)s->pid, p->comm, s->iface, s->queue,
		       (unsigned long long)rd(&s->listeners), (unsigned long long)rd(&s->conns));
	printf("      accepted %llu on xtcp, %llu from the kernel (loopback, other interfaces);"
	       " connected %llu on xtcp\n",
	       (unsigned long long)rd(&s->accepted_xtcp),
	       (unsigned long long)rd(&s->accepted_kernel),
	       (unsigned long long)rd(&s->connected_xtcp));
	printf("      kernel fallbacks:");
	for (i = 0; i < SHIM_FB__COUNT; i++) {
		if (!fb_names[i] || !rd(&s->fallback[i]))
			continue;
		printf(" %s %llu", fb_names[i], (unsigned long long)rd(&s->fallback[i]));
		fb += rd(&s->fallback[i]);
	}
	printf("%s\n", fb ? "" : " none");
	if (xtcpctl_shm_has_xsk(p))
		printf("      AF_XDP: %llu socket%s (%s), rx %llu tx %llu; rx ring full %llu, fill "
		       "ring empty %llu, tx ring full %llu, invalid rx/tx %llu/%llu, kernel "
		       "dropped %llu\n",
		       (unsigned long long)rd(&s->xsk_ports), rd(&s->xsk_ports) == 1 ? "" : "s",
		       rd(&s->xsk_zero_copy) ? "zero-copy" : "copy mode",
		       (unsigned long long)rd(&s->xsk_rx_packets),
		       (unsigned long long)rd(&s->xsk_tx_packets),
		       (unsigned long long)rd(&s->xsk_rx_ring_full),
		       (unsigned long long)rd(&s->xsk_fill_empty),
		       (unsigned long long)rd(&s->xsk_tx_ring_full),
		       (unsigned long long)rd(&s->xsk_rx_invalid),
		       (unsigned long long)rd(&s->xsk_tx_invalid),
		       (unsigned long long)rd(&s->xsk_rx_dropped));
	if (has_umem(p))
		printf("      UMEM: %llu of %llu TX frames in use\n",
		       (unsigned long long)rd(&s->xsk_tx_frames_in_use),
		       (unsigned long long)rd(&s->xsk_tx_frames));
	if (xtcpctl_shm_has_handoff(p) &&
	    (rd(&s->handoff_sent) || rd(&s->handoff_received) || rd(&s->handoff_no_owner)))
		printf("      hand-off: sent %llu received %llu lost %llu no owner %llu rejected "
		       "%llu\n",
		       (unsigned long long)rd(&s->handoff_sent),
		       (unsigned long long)rd(&s->handoff_received),
		       (unsigned long long)rd(&s->handoff_lost),
		       (unsigned long long)rd(&s->handoff_no_owner),
		       (unsigned long long)rd(&s->handoff_rejected));
	if (has_kernel(p) && (rd(&s->kernel_at_fork) || rd(&s->kernel_at_exit) ||
			      rd(&s->kernel_failed) || rd(&s->kernel_left)))
		printf("      to the kernel: %llu connections at fork, %llu at exit; %llu failed,"
		       " %llu left on xtcp\n",
		       (unsigned long long)rd(&s->kernel_at_fork),
		       (unsigned long long)rd(&s->kernel_at_exit),
		       (unsigned long long)rd(&s->kernel_failed),
		       (unsigned long long)rd(&s->kernel_left));
	printf("      stack: rx %llu tx %llu frames, %llu dropped, %llu retransmitted;"
	       " %llu polls, %llu sleeps\n",
	       (unsigned long long)rd(&s->stack_rx_frames),
	       (unsigned long long)rd(&s->stack_tx_frames),
	       (unsigned long long)rd(&s->stack_rx_drop),
	       (unsigned long long)rd(&s->stack_retrans_segs), (unsigned long long)rd(&s->polls),
	       (unsigned long long)rd(&s->sleeps));
	if (has_ipv6(p))
		printf("      by family: IPv4 rx %llu tx %llu frames, %llu active + %llu passive "
		       "opens; IPv6 rx %llu tx %llu frames, %llu active + %llu passive opens\n",
		       (unsigned long long)(rd(&s->stack_rx_frames) - rd(&s->stack_rx_frames6)),
		       (unsigned long long)(rd(&s->stack_tx_frames) - rd(&s->stack_tx_frames6)),
		       (unsigned long long)(rd(&s->stack_active_opens) -
					    rd(&s->stack_active_opens6)),
		       (unsigned long long)(rd(&s->stack_passive_opens) -
					    rd(&s->stack_passive_opens6)),
		       (unsigned long long)rd(&s->stack_rx_frames6),
		       (unsigned long long)rd(&s->stack_tx_frames6),
		       (unsigned long long)rd(&s->stack_active_opens6),
		       (unsigned long long)rd(&s->stack_passive_opens6));
	if (!has_cookies(p))
		return;
	unsigned long long v[sizeof(v5_names) / sizeof(v5_names[0])] = {0}; /* v5_names order */

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		v[i] = rd(&s->stack_syn_cookies_sent + i);
	printf("      SYN cookies: sent %llu validated %llu failed %llu; challenge ACKs %llu, "
	       "replies to invalid segments held back %llu; option lists cut at a malformed "
	       "option %llu\n",
	       v[0], v[1], v[2], v[3], v[4], v[5]);
	if (has_csum_partial(p) && rd(&s->stack_rx_csum_partial))
		printf("      %llu segments taken with a local sender's unfinished checksum\n",
		       (unsigned long long)rd(&s->stack_rx_csum_partial));
	if (xtcpctl_shm_has_icmp(p))
		printf("      ICMP errors: received %llu, acted on %llu, rejected (bad quote) %llu;"
		       " path MTUs lowered %llu\n",
		       (unsigned long long)rd(&s->stack_icmp_errors),
		       (unsigned long long)rd(&s->stack_icmp_acted),
		       (unsigned long long)rd(&s->stack_icmp_rejected),
		       (unsigned long long)rd(&s->stack_pmtu_lowered));
	if (has_probing(p) && (rd(&s->stack_pmtu_hints) || rd(&s->stack_mtu_blackholes)))
		printf("      path MTU: %llu taken at an RTO from another process's ICMP;"
		       " %llu black holes suspected, %llu probes sent\n",
		       (unsigned long long)rd(&s->stack_pmtu_hints),
		       (unsigned long long)rd(&s->stack_mtu_blackholes),
		       (unsigned long long)rd(&s->stack_mtu_probes));
}

void xtcpctl_shm_status(struct jw *w)
{
	struct shm_proc *p = calloc(SHM_MAXP, sizeof(*p));
	int n = p ? xtcpctl_shm_open(p, SHM_MAXP) : 0, i;

	if (w)
		jw_arr(w, "processes");
	else
		printf("processes on xtcp:%s\n", n ? "" : " none in this network namespace");
	for (i = 0; i < n; i++) {
		if (w)
			proc_json(w, &p[i]);
		else
			proc_text(&p[i]);
	}
	if (w)
		jw_end_arr(w);
	xtcpctl_shm_close(p, n);
	free(p);
}

#ifdef SHIM_STATS_MAX_CONNS
static const char *tcp_state_name(uint32_t s)
{
	static const char *const names[] = {"?",	  "ESTAB",	"SYN-SENT",  "SYN-RECV",
					    "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "UNCONN",
					    "CLOSE-WAIT", "LAST-ACK",	"LISTEN",    "CLOSING"};

	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* Copy the table under its seqlock; false if the writer kept it busy. */
static bool conn_snapshot(const struct shim_stats *s, struct shim_conn_info *out,
			  struct shim_conn_addr6 *out6, uint64_t *n)
{
	int tries;

	for (tries = 0; tries < 100; tries++) {
		uint64_t g0 = __atomic_load_n(&s->conn_gen, __ATOMIC_ACQUIRE), g1;

		if (g0 & 1) {
			usleep(100);
			continue;
		}
		*n = __atomic_load_n(&s->n_conn, __ATOMIC_RELAXED);
		if (*n > SHIM_STATS_MAX_CONNS)
			*n = SHIM_STATS_MAX_CONNS;
		memcpy(out, s->conn, *n * sizeof(*out));
		if (out6)
			memcpy(out6, s->conn6, *n * sizeof(*out6));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g1 = __atomic_load_n(&s->conn_gen, __ATOMIC_RELAXED);
		if (g0 == g1)
			return true;
	}
	return false;
}

static void addr_port(char *buf, size_t n, uint32_t addr, uint16_t port)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = addr};

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(buf, n, "%s:%u", ip, port);
}

/*
 * As ss -tn shows them: an AF_INET6 socket's addresses bracketed, IPv4
 * peers of a dual-stack one as [::ffff:a.b.c.d], an AF_INET one's plain.
 */
static void addr6_port(char *buf, size_t n, const uint8_t a16[16], uint16_t port, bool inet6)
{
	char ip[INET6_ADDRSTRLEN];
	uint32_t v4;

	if (!inet6) {
		memcpy(&v4, a16 + 12, 4);
		addr_port(buf, n, v4, port);
		return;
	}
	inet_ntop(AF_INET6, a16, ip, sizeof(ip));
	snprintf(buf, n, "[%s]:%u", ip, port);
}

static void conns_of(struct jw *w, const struct shm_proc *p, struct shim_conn_info *c,
		     struct shim_conn_addr6 *c6)
{
	char local[64], peer[64];
	uint64_t n, i;
	bool v6 = has_ipv6(p);

	if (p->len < offsetof(struct shim_stats, xsk_ports) || p->st->version < 2)
		return;
	if (!conn_snapshot(p->st, c, v6 ? c6 : NULL, &n)) {
		fprintf(stderr, "xtcpctl: pid %d: connection table busy, skipped\n", p->st->pid);
		return;
	}
	for (i = 0; i < n; i++) {
		if (v6) {
			bool in6 = c6[i].inet6 != 0;

			addr6_port(local, sizeof(local), c6[i].laddr, c[i].lport, in6);
			addr6_port(peer, sizeof(peer), c6[i].raddr, c[i].rport, in6);
		} else {
			addr_port(local, sizeof(local), c[i].laddr, c[i].lport);
			addr_port(peer, sizeof(peer), c[i].raddr, c[i].rport);
		}
		if (w) {
			jw_obj(w, NULL);
			jw_i64(w, "pid", p->st->pid);
			jw_str(w, "state", tcp_state_name(c[i].state));
			jw_str(w, "local", local);
			jw_str(w, "peer", peer);
			jw_u64(w, "recv_q", c[i].rx_queued);
			jw_u64(w, "send_q", c[i].tx_queued);
			jw_u64(w, "rtt_us", c[i].srtt_us);
			jw_u64(w, "rttvar_us", c[i].rttvar_us);
			jw_u64(w, "rto_us", c[i].rto_us);
			jw_u64(w, "cwnd", c[i].cwnd);
			jw_u64(w, "ssthresh", c[i].ssthresh);
			jw_u64(w, "mss", c[i].mss);
			jw_u64(w, "retrans", c[i].retrans);
			jw_end_obj(w);
		} else {
			printf("%-10s %6u %6u %-21s %-21s %7d %-12s", tcp_state_name(c[i].state),
			       c[i].rx_queued, c[i].tx_queued, local, peer, (int)p->st->pid,
			       p->comm);
			if (c[i].state != TCP_LISTEN) /* no path figures */
				printf(" rtt:%.3f/%.3f rto:%.0f cwnd:%u mss:%u retrans:%llu",
				       c[i].srtt_us / 1000.0, c[i].rttvar_us / 1000.0,
				       c[i].rto_us / 1000.0, c[i].cwnd, c[i].mss,
				       (unsigned long long)c[i].retrans);
			printf("\n");
		}
	}
	if (!w && p->st->conn_total > n)
		printf("  (pid %d: %llu more sockets not in the published table)\n",
		       (int)p->st->pid, (unsigned long long)(p->st->conn_total - n));
}
#endif

int xtcpctl_conns(struct jw *w, int argc, char **argv)
{
	struct shm_proc *p = calloc(SHM_MAXP, sizeof(*p));
	int n, i, rc = 0;

	if (argc) {
		fprintf(stderr, "xtcpctl: conns takes no arguments\n");
		free(p);
		return 2;
	}
	if (!p)
		return 1;
	n = xtcpctl_shm_open(p, SHM_MAXP);
	if (w) {
		jw_obj(w, NULL);
		jw_arr(w, "connections");
	} else if (!n) {
		printf("no xtcp process is running in this network namespace\n");
	}
#ifdef SHIM_STATS_MAX_CONNS
	if (!w && n)
		printf("%-10s %6s %6s %-21s %-21s %7s %-12s\n", "State", "Recv-Q", "Send-Q",
		       "Local Address:Port", "Peer Address:Port", "pid", "process");
	{
		struct shim_conn_info *c = calloc(SHIM_STATS_MAX_CONNS, sizeof(*c));
		struct shim_conn_addr6 *c6 = calloc(SHIM_STATS_MAX_CONNS, sizeof(*c6));

		for (i = 0; c && c6 && i < n; i++)
			conns_of(w, &p[i], c, c6);
		free(c);
		free(c6);
	}
#else
	/* This shim publishes counts only (shim_stats.h version 1). */
	for (i = 0; i < n; i++) {
		if (!w)
			printf("  pid %d %s: %llu connections (this build's shim publishes no "
			       "per-connection table)\n",
			       (int)p[i].st->pid, p[i].comm,
			       (unsigned long long)rd(&p[i].st->conns));
	}
#endif
	if (w) {
		jw_end_arr(w);
		jw_end_obj(w);
	}
	xtcpctl_shm_close(p, n);
	free(p);
	return rc;
}
