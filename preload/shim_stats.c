/*
 * shim_stats.c - publish this process's struct shim_stats (shim_stats.h) in
 * /dev/shm/xtcp-<pid>.stats for xtcpctl and tests.
 *
 * Before the engine starts, counters go to a private struct (fallbacks are
 * counted there too); shim_stats_publish() creates the file when the engine
 * starts and carries the counts over. The owner removes the file at exit;
 * a forked child only unmaps its parent's file.
 * Memory: one shared mapping per process, unmapped by shim_stats_unpublish()
 * in a fork child only; at exit the file is removed but the mapping stays
 * (the background thread may still be counting into it until the end).
 */
#include "shim.h"
#include "stack.h"
#include "xp.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* shim_config.h keeps XTCP_RX_CSUM / XTCP_TX_CSUM as these enums' values. */
_Static_assert(XP_RX_CSUM_AUTO == 0 && XP_RX_CSUM_VERIFY == 1 && XP_RX_CSUM_TRUST_LOCAL == 2 &&
		       XP_TX_CSUM_AUTO == 0 && XP_TX_CSUM_OFF == 1,
	       "XTCP_RX_CSUM/XTCP_TX_CSUM order");

struct shim_stats *shim_stats_shm;
struct shim_stats shim_stats_local;
static pid_t stats_pid;

/*
 * conn[] is a person's view (xtcpctl conns, like ss -tn): refreshed at most
 * this often, not with every counter refresh. Each refresh reads up to
 * SHIM_STATS_MAX_CONNS TCBs; at the counters' pace (every few ms while the
 * process polls) that was up to ~100,000 TCB reads a second under
 * HTTP/1.0 load, evicting the TCBs the requests needed.
 */
#define CONNS_EVERY_US 250000
static uint64_t conns_updated_us;
static bool conns_behind; /* a refresh left conn[] as it was: due CONNS_EVERY_US after the last */
/* What the stack had at conn[]'s last rewrite: no frame and no socket since, no change to show. */
static uint64_t conns_rx, conns_tx, conns_socks;

/*
 * Rewrite conn[] under the seqlock: gen odd while writing. The walk stops
 * when the table is full: a busy HTTP/1.0 server holds tens of thousands of
 * TIME-WAIT sockets, and walking them all at every refresh would cost work
 * in proportion to the whole pool, many times a second, for entries that
 * xtcpctl never shows. The total comes from the stack's counter instead.
 */
static void conns_update(struct shim_engine *eng, struct shim_stats *st, uint64_t in_use)
{
	uint64_t gen = st->conn_gen | 1;
	struct sock_info si;
	uint64_t n = 0;
	int sd;

	__atomic_store_n(&st->conn_gen, gen, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (sd = sock_next(eng->stk, 0); sd >= 0 && n < SHIM_STATS_MAX_CONNS;
	     sd = sock_next(eng->stk, sd + 1)) {
		if (sock_info(eng->stk, sd, &si))
			continue;
		st->conn[n++] = (struct shim_conn_info){
			.state = (uint32_t)si.state,
			.laddr = si.local.sin_addr.s_addr,
			.raddr = si.peer.sin_addr.s_addr,
			.lport = ntohs(si.local.sin_port),
			.rport = ntohs(si.peer.sin_port),
			.rx_queued = si.rx_queued,
			.tx_queued = si.tx_queued,
			.srtt_us = si.srtt_us,
			.rttvar_us = si.rttvar_us,
			.rto_us = si.rto_us,
			.cwnd = si.cwnd,
			.ssthresh = si.ssthresh,
			.mss = si.mss,
			.snd_wnd = si.snd_wnd,
			.retrans = si.retrans,
		};
		memcpy(st->conn6[n - 1].laddr, &si.local6.sin6_addr, 16);
		memcpy(st->conn6[n - 1].raddr, &si.peer6.sin6_addr, 16);
		st->conn6[n - 1].inet6 = (uint32_t)si.inet6;
	}
	st->n_conn = n;
	st->conn_total = in_use > n ? in_use : n;
	__atomic_store_n(&st->conn_gen, gen + 1, __ATOMIC_RELEASE);
}

static void xsk_update(struct shim_engine *eng, struct shim_stats *st)
{
	struct xp_port_stats ps;
	uint64_t v[10] = {0}, zc = eng->n_ports > 0, umem_used = 0;
	unsigned i;

	for (i = 0; i < eng->n_ports; i++) {
		xp_port_get_stats(eng->ports[i], &ps);
		v[0] += ps.rx_packets;
		v[1] += ps.tx_packets;
		v[2] += ps.rx_ring_full;
		v[3] += ps.fill_empty;
		v[4] += ps.tx_ring_full;
		v[5] += ps.tx_invalid;
		v[6] += ps.rx_invalid;
		v[7] += ps.rx_dropped;
		v[8] += ps.tx_kicks;
		v[9] += ps.tx_frames;
		umem_used += ps.tx_frames_in_use;
		zc &= ps.zero_copy;
	}
	st->xsk_ports = eng->n_ports;
	st->xsk_rx_packets = v[0];
	st->xsk_tx_packets = v[1];
	st->xsk_rx_ring_full = v[2];
	st->xsk_fill_empty = v[3];
	st->xsk_tx_ring_full = v[4];
	st->xsk_tx_invalid = v[5];
	st->xsk_rx_invalid = v[6];
	st->xsk_rx_dropped = v[7];
	st->xsk_tx_kicks = v[8];
	st->xsk_zero_copy = zc;
	st->xsk_tx_frames = v[9];
	st->xsk_tx_frames_in_use = umem_used;
}

void shim_stats_update(struct shim_engine *eng)
{
	struct shim_stats *st = shim_stats_shm;
	struct stack_stats ss;

	if (!st)
		return;
	stack_get_stats(eng->stk, &ss);
	st->stack_rx_frames = ss.rx_frames;
	st->stack_tx_frames = ss.tx_frames;
	st->stack_rx_drop = ss.rx_drop;
	st->stack_active_opens = ss.active_opens;
	st->stack_passive_opens = ss.passive_opens;
	st->stack_retrans_segs = ss.retrans_segs;
	st->stack_socks_in_use = ss.socks_in_use;
	/* version 5: six counters in a row, in shim_stats.h's order */
	const uint64_t v5[] = {ss.syn_cookies_sent,	ss.syn_cookies_ok,
			       ss.syn_cookies_failed,	ss.challenge_acks,
			       ss.invalid_acks_limited, ss.malformed_opt_lists};

	_Static_assert(sizeof(v5) == offsetof(struct shim_stats, stack_malformed_opt_lists) + 8 -
					     offsetof(struct shim_stats, stack_syn_cookies_sent),
		       "shim_stats version 5 counters are contiguous");
	memcpy(&st->stack_syn_cookies_sent, v5, sizeof(v5));
	st->stack_rx_csum_partial = ss.rx_csum_partial;
	st->stack_rx_frames6 = ss.rx_frames6;
	st->stack_tx_frames6 = ss.tx_frames6;
	st->stack_active_opens6 = ss.active_opens6;
	st->stack_passive_opens6 = ss.passive_opens6;
	st->stack_icmp_errors = ss.icmp_errors;
	st->stack_icmp_acted = ss.icmp_acted;
	st->stack_icmp_rejected = ss.icmp_rejected;
	st->stack_pmtu_lowered = ss.pmtu_lowered;
	st->stack_pmtu_hints = ss.pmtu_hints;
	st->stack_mtu_blackholes = ss.mtu_blackholes;
	st->stack_mtu_probes = ss.mtu_probes;
	memcpy(st->stack_drop, ss.drop_reason, sizeof(st->stack_drop));
	uint64_t now = shim_now_us();

	/*
	 * Only a change is worth a rewrite, and one that comes too soon is
	 * owed: an idle process whose owed rewrite woke it would otherwise
	 * owe another at every wake-up (the poll refreshes the counters).
	 */
	bool changed = !conns_updated_us || ss.rx_frames != conns_rx || ss.tx_frames != conns_tx ||
		       ss.socks_in_use != conns_socks;
	bool early = conns_updated_us && now - conns_updated_us < CONNS_EVERY_US;

	conns_behind = changed && early;
	if (changed && !early) {
		conns_update(eng, st, ss.socks_in_use);
		conns_updated_us = now;
		conns_rx = ss.rx_frames;
		conns_tx = ss.tx_frames;
		conns_socks = ss.socks_in_use;
	}
	xsk_update(eng, st);
	st->updated_us = now;
}

/*
 * When conn[] must be rewritten at the latest, or 0: a refresh within
 * CONNS_EVERY_US of the last left it behind the counters, and a process
 * that then goes idle would otherwise show its last connections for good.
 */
uint64_t shim_stats_conns_due_us(void)
{
	return conns_behind ? conns_updated_us + CONNS_EVERY_US : 0;
}

/*
 * A process killed with -9 cannot remove its file: the next process that
 * publishes removes the files of pids that no longer exist (best effort:
 * /dev/shm is sticky, so only files of its own uid go).
 */
static void stats_sweep_dead(void)
{
	DIR *dir = opendir("/dev/shm");
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char path[300], *end;
		long pid;

		if (strncmp(de->d_name, "xtcp-", 5))
			continue;
		pid = strtol(de->d_name + 5, &end, 10);
		if (pid <= 0 || strcmp(end, ".stats"))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		unlink(path);
	}
	closedir(dir);
}

void shim_stats_publish(struct shim_engine *eng)
{
	char path[64];
	struct shim_stats *st;
	int fd;

	if (!shim.cfg.stats || shim_stats_shm)
		return;
	stats_sweep_dead();
	snprintf(path, sizeof(path), SHIM_STATS_PATH, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		shim_info("no statistics file %s: %s", path, strerror(errno));
		return;
	}
	if (ftruncate(fd, sizeof(*st))) {
		REAL(close)(fd);
		unlink(path);
		return;
	}
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REAL(close)(fd);
	if (st == MAP_FAILED) {
		unlink(path);
		return;
	}
	memcpy(st, &shim_stats_local, sizeof(*st));
	st->magic = SHIM_STATS_MAGIC;
	st->version = SHIM_STATS_VERSION;
	st->pid = (int32_t)getpid();
	st->queue = eng->queue;
	snprintf(st->iface, sizeof(st->iface), "%s", shim.cfg.iface);
	st->started_us = shim_now_us();
	stats_pid = getpid();
	shim_stats_shm = st;
	shim_stats_update(eng);
}

void shim_stats_remove(void)
{
	char path[64];

	if (!shim_stats_shm || stats_pid != getpid())
		return;
	snprintf(path, sizeof(path), SHIM_STATS_PATH, (int)stats_pid);
	unlink(path);
}

void shim_stats_unpublish(void)
{
	char path[64];

	if (!shim_stats_shm)
		return;
	if (stats_pid == getpid()) {
		snprintf(path, sizeof(path), SHIM_STATS_PATH, (int)stats_pid);
		unlink(path);
	}
	/* Keep counting privately (a child starts from its parent's counts). */
	memcpy(&shim_stats_local, shim_stats_shm, sizeof(shim_stats_local));
	munmap(shim_stats_shm, sizeof(*shim_stats_shm));
	shim_stats_shm = NULL;
}

void shim_stats_chown(uid_t uid)
{
	char path[64];

	if (!shim_stats_shm || stats_pid != getpid())
		return;
	snprintf(path, sizeof(path), SHIM_STATS_PATH, (int)stats_pid);
	if (chown(path, uid, (gid_t)-1))
		shim_debug("chown %s: %s", path, strerror(errno));
}
