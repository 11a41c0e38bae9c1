/*
 * shim_start.c - the life of the per-process engine: the XDP program, the
 * AF_XDP ports, the stack, listeners and drain, privilege drops, fork and
 * exit. The loop that drives the engine is in shim_engine.c.
 *
 * Call order:
 *   listen() on a served port -> shim_prog_serve(): attach the XDP program
 *	(first time) and steer the port to AF_XDP.
 *   first use of a served socket in a process (accept, epoll_ctl, poll, ...)
 *	or a privilege drop (setuid & co.) -> shim_engine_get(): open AF_XDP
 *	ports (EBUSY = a queue taken by another process), wrap them in one
 *	netdev (several queues: xp_mq; misdirected replies: shim_handoff),
 *	create the stack on it. A listening socket is made in the stack at
 *	its first use in the process (shim_listener_use); then, or at the
 *	first connect, the background thread starts (shim_engine_attend).
 *   fork: first the parent's live connections become kernel sockets
 *	(shim_repair.c), so both processes share them as on Linux; the
 *	child abandons its parent's engine (closes only its own view of the
 *	AF_XDP sockets, never touches the rings or the stack) and builds its
 *	own lazily.
 *   exit: open and closed connections with data or a FIN to deliver go
 *	to the kernel (or, failing that, get their last ACKs, bounded),
 *	then the process leaves the program's user table.
 *
 * Memory: the engine and its stack are allocated once per process and never
 * freed (a forked child leaves its copy untouched; exit frees everything).
 */
#include "shim.h"
#include "shim_handoff.h"
#include "stack.h"
#include "netdev.h"
#include "xp.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include "protect_cfg.h"

static bool exit_registered;

/*
 * A child made without the at-fork handlers (a raw clone(2) system call:
 * vsftpd's isolated children) would take its parent's engine for its own:
 * drive a copy of the stack on the parent's rings and count into the
 * parent's statistics file (closing its listener copy drove the parent's
 * listener count below zero). A page with MADV_WIPEONFORK reads 0 in any
 * child: shim_lock() and shim_engine_cur() check it and call
 * shim_fork_unnoticed().
 */
static pid_t fork_guard_fallback = 1; /* no wipe-on-fork page: never trips */
pid_t *shim_fork_guard = &fork_guard_fallback;

static void fork_guard_arm(void)
{
	void *p;

	if (shim_fork_guard != &fork_guard_fallback)
		return;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, 4096, MADV_WIPEONFORK)) {
		munmap(p, 4096);
		return;
	}
	shim_fork_guard = p;
	*shim_fork_guard = shim_pid;
}

static void at_exit(void)
{
	struct xp_prog *prog;

	/*
	 * Leave the program's user table; the last user removes the program.
	 * Under the lock (other threads may be inside the shim); if it is held
	 * (exit from a signal handler that interrupted the shim), leave the
	 * program: a later start replaces a program whose users are all gone.
	 */
	if (shim_trylock()) {
		struct shim_engine *eng = shim_engine_cur();

		/*
		 * What the app wrote but the peer has not acknowledged, and the
		 * FINs, go to the kernel, which delivers them after we are gone
		 * as it does for its own orphans (shim_repair_exit). Without
		 * CAP_NET_ADMIN, or what the kernel refused: wait for the ACKs
		 * (bounded by XTCP_EXIT_LINGER_MS).
		 */
		if (eng && shim_repair_exit(eng))
			shim_engine_linger(eng, shim_now_us() +
							(uint64_t)shim.cfg.exit_linger_ms * 1000);
		/* A shared queue's member hands its slot and frames back (xsk/xp_share.c). */
		for (unsigned i = 0; eng && i < eng->n_ports; i++)
			xp_port_leave(eng->ports[i]);
		prog = shim.prog;
		shim.prog = NULL;
		if (prog)
			xp_prog_detach(prog);
		shim_unlock(NULL);
	}
	/* Other threads (ours, the app's) still run until exit completes: unmap nothing. */
	shim_stats_remove();
}

/*
 * The capabilities xtcp needs that this process lacks, as a list for an
 * error line ("" when none is missing). Found by experiment (docs/install.md,
 * "Service users"): attaching the program needs CAP_NET_ADMIN and, for bpf(),
 * CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON (the verifier refuses the program
 * without CAP_PERFMON), but only CAP_SYS_ADMIN may open an attached program
 * by id (to adopt it, detach it at exit, find its protection maps); AF_XDP
 * sockets need CAP_NET_RAW; the UMEM (16 MiB per queue by default) needs
 * CAP_IPC_LOCK unless the memlock limit holds it. The effective set is what
 * counts: a service user's ambient capabilities arrive there at exec.
 */
static void caps_add(char *buf, size_t len, size_t *n, const char *cap)
{
	if (*n < len)
		*n += (size_t)snprintf(buf + *n, len - *n, "%s%s", *n ? ", " : "", cap);
}

static const char *missing_caps(char *buf, size_t len)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	struct rlimit ml;
	uint64_t eff;
	size_t n = 0;

	buf[0] = '\0';
	if (syscall(SYS_capget, &hdr, data))
		return buf;
	eff = data[0].effective | (uint64_t)data[1].effective << 32;
#define HAS(c) (eff & (1ULL << (c)))
#define ADD(s) caps_add(buf, len, &n, s)
	if (!HAS(CAP_NET_ADMIN))
		ADD("CAP_NET_ADMIN");
	if (!HAS(CAP_SYS_ADMIN))
		ADD(HAS(39 /* CAP_BPF */) && HAS(38 /* CAP_PERFMON */)
			    ? "CAP_SYS_ADMIN (to open a program already attached)"
			    : "CAP_SYS_ADMIN (or CAP_BPF + CAP_PERFMON)");
	if (!HAS(CAP_NET_RAW))
		ADD("CAP_NET_RAW");
	if (!HAS(CAP_IPC_LOCK) && !getrlimit(RLIMIT_MEMLOCK, &ml) && ml.rlim_cur != RLIM_INFINITY &&
	    ml.rlim_cur < (32u << 20))
		ADD("CAP_IPC_LOCK");
#undef ADD
#undef HAS
	return buf;
}

static int prog_ensure(void)
{
	struct xp_prog_opts opts = {
		.force_generic = shim.cfg.xdp_generic,
		.log_level = shim.cfg.log_level,
	};
	int err;

	if (shim.prog)
		return 0;
	if (shim.prog_failed)
		return -ENODEV;
	err = xp_prog_attach(shim.cfg.iface, &opts, &shim.prog);
	if (err) {
		shim.prog = NULL;
		shim.prog_failed = true;
		SHIM_STAT(fallback[SHIM_FB_NO_PROGRAM])++;
		char caps[128];

		if (*missing_caps(caps, sizeof(caps)))
			shim_fail("cannot attach the XDP program to %s: missing privilege: %s (%s)",
				  shim.cfg.iface, caps, strerror(-err));
		else
			shim_fail("cannot attach the XDP program to %s: %s", shim.cfg.iface,
				  strerror(-err));
		return err;
	}
	/* Flood protection settings (XTCP_PROTECT*, xsk/protect_cfg.h): prints its own error. */
	protect_env_apply(xp_prog_ifindex(shim.prog));
	if (!exit_registered) {
		atexit(at_exit);
		exit_registered = true;
	}
	if (shim.cfg.n_connect_ports) {
		err = xp_prog_set_local_ports(shim.prog, shim.cfg.lport_min, shim.cfg.lport_max);
		if (err)
			shim_warn("cannot steer local ports %u-%u: %s", shim.cfg.lport_min,
				  shim.cfg.lport_max, strerror(-err));
	}
	shim_info("XDP program on %s (%s mode)", shim.cfg.iface, xp_prog_mode(shim.prog));
	return 0;
}

/*
 * A privileged process that serves before it has an engine (a prefork
 * master, about to start its workers): until they hold the queues, SYNs
 * that no socket takes are dropped rather than accepted by the kernel's
 * listener (the peer retries a second later and finds a worker), for
 * XTCP_QUEUE_WAIT_MS at most. Once per process.
 */
static void expect_servers(void)
{
	static bool done;
	struct xp_link link;

	if (done || geteuid() != 0 || shim_engine_cur() || !shim.cfg.queue_wait_ms)
		return;
	done = true;
	if (!xp_nl_link(shim.cfg.iface, &link))
		xp_share_expect(shim.prog, link.n_rx_queues ? link.n_rx_queues : 1,
				shim.cfg.queue_wait_ms);
}

int shim_prog_serve(const struct sockaddr_in *local)
{
	int err = prog_ensure();

	if (err)
		return err;
	err = xp_prog_serve(shim.prog, local->sin_addr.s_addr, ntohs(local->sin_port), true);
	if (err) {
		SHIM_STAT(fallback[SHIM_FB_NO_PROGRAM])++;
		shim_fail("cannot steer port %u on %s: %s", ntohs(local->sin_port), shim.cfg.iface,
			  strerror(-err));
		return err;
	}
	expect_servers();
	return 0;
}

/*
 * An AF_INET6 listener's steering, by what Linux would deliver to it: a
 * v4-mapped address is IPv4 only; :: is IPv6, and IPv4 too unless
 * IPV6_V6ONLY; any other address is that IPv6 address.
 */
int shim_prog_serve6(const struct sockaddr_in6 *local, bool v6only)
{
	static const struct in6_addr any;
	const struct in6_addr *a = &local->sin6_addr;
	uint16_t port = ntohs(local->sin6_port);
	int err = prog_ensure();

	if (err)
		return err;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		uint32_t ip4;

		memcpy(&ip4, a->s6_addr + 12, 4);
		err = xp_prog_serve(shim.prog, ip4, port, true);
	} else {
		err = xp_prog_serve6(shim.prog, a, port, true);
		if (!err && !v6only && !memcmp(a, &any, 16))
			err = xp_prog_serve(shim.prog, 0, port, true);
	}
	if (err) {
		SHIM_STAT(fallback[SHIM_FB_NO_PROGRAM])++;
		shim_fail("cannot steer port %u (IPv6) on %s: %s", port, shim.cfg.iface,
			  strerror(-err));
	}
	return err;
}

int shim_prog_client(void)
{
	return prog_ensure();
}

/*
 * The stack listener's accept queue: at least net.core.somaxconn. The
 * kernel's one listener serves every RX queue; here each process's stack
 * sees only its queue's SYNs, and a SYN dropped on overflow is retransmitted
 * by a Linux peer with a new flow hash (sk_rethink_txhash), which may land on
 * another process's queue and end in a RST. A deeper queue avoids the drop.
 */
static int listen_backlog(int backlog)
{
	static int somaxconn;
	char buf[16];
	int fd, n;

	if (!somaxconn) {
		somaxconn = 4096;
		fd = open("/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			n = (int)REAL(read)(fd, buf, sizeof(buf) - 1);
			if (n > 0) {
				buf[n] = '\0';
				somaxconn = atoi(buf) > 0 ? atoi(buf) : 4096;
			}
			REAL(close)(fd);
		}
	}
	return backlog > somaxconn ? backlog : somaxconn;
}

/* A file of /proc/sys as up to 3 numbers; returns how many were read. */
int shim_sysctl_read(const char *path, unsigned long v[3])
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? REAL(read)(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		REAL(close)(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return sscanf(buf, "%lu %lu %lu", &v[0], &v[1], &v[2]);
}

/* net.ipv4.tcp_rmem[2] (stack_config.rmem_max), 0 if it cannot be read. */
static uint32_t tcp_rmem_max(void)
{
	unsigned long v[3];

	if (shim_sysctl_read("/proc/sys/net/ipv4/tcp_rmem", v) != 3 || v[2] > UINT32_MAX)
		return 0;
	return (uint32_t)v[2];
}

/* net.ipv4.tcp_fastopen & 2: listeners with TCP_FASTOPEN take Fast Open SYNs. */
static unsigned tcp_fastopen_flags(void)
{
	unsigned long v[3];

	return shim_sysctl_read("/proc/sys/net/ipv4/tcp_fastopen", v) >= 1 && (v[0] & 2)
		       ? STACK_F_TFO_SERVER
		       : 0;
}

static void set_drain(struct shim_engine *eng, bool on)
{
	unsigned i;

	for (i = 0; i < eng->n_ports; i++)
		xp_port_drain(eng->ports[i], on);
	eng->draining = on;
	shim_debug("queue %u: %s", eng->queue, on ? "draining (no listener left)" : "serving");
}

int shim_listener_instantiate(struct shim_engine *eng, struct shim_sock *s)
{
	unsigned i;
	int sd, err;

	sd = s->inet6 ? sock_socket6(eng->stk) : sock_socket(eng->stk);
	if (sd < 0) {
		s->gen = eng->gen;
		return sd;
	}
	if (s->inet6) {
		int v = s->v6only;

		sock_setopt(eng->stk, sd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	for (i = 0; i < s->n_opts; i++)
		sock_setopt(eng->stk, sd, s->opts[i].level, s->opts[i].name, &s->opts[i].val,
			    sizeof(int));
	err = s->inet6 ? sock_bind6(eng->stk, sd, &s->local6) : sock_bind(eng->stk, sd, &s->local);
	if (!err)
		err = sock_listen(eng->stk, sd, listen_backlog(s->backlog));
	if (err) {
		sock_close(eng->stk, sd);
		s->gen = eng->gen; /* tried here: stays on the kernel in this process */
		SHIM_STAT(fallback[SHIM_FB_STACK])++;
		shim_warn("fd %d (port %u) stays on the kernel: stack listen: %s", s->fd,
			  ntohs(s->local.sin_port), strerror(-err));
		return err;
	}
	sock_set_user(eng->stk, sd, s);
	s->sd = sd;
	s->gen = eng->gen;
	SHIM_STAT(listeners)++;
	if (eng->draining)
		set_drain(eng, false);
	shim_engine_attend(eng);
	return 0;
}

/*
 * A process that closed its last listener (nginx reload/quit: old workers
 * finish their connections) drains its queues: new flows go to the kernel's
 * listener, still open in the processes that keep serving, instead of
 * meeting a stack without listener (RST). Open connections stay here.
 */
void shim_engine_drain_check(struct shim_engine *eng)
{
	int fd;

	for (fd = shim_fd_next(0); fd >= 0; fd = shim_fd_next(fd + 1)) {
		struct shim_sock *s = shim_sock_of(fd);

		if (s && s->role == SHIM_LISTENER && shim_sock_live(s, eng))
			return;
	}
	if (!eng->draining)
		set_drain(eng, true);
}

static bool has_listeners(void)
{
	int fd;

	for (fd = shim_fd_next(0); fd >= 0; fd = shim_fd_next(fd + 1)) {
		struct shim_sock *s = shim_sock_of(fd);

		if (s && s->role == SHIM_LISTENER)
			return true;
	}
	return false;
}

/*
 * May other processes join our queue, or we theirs (xsk/xp_share.c)? A
 * serving process, unless xtcp's own connections are steered by local
 * port to queues (XTCP_CONNECT_PORTS): on a shared queue every member's
 * replies would arrive alike.
 */
static bool share_ok(void)
{
	return has_listeners() && !shim.cfg.n_connect_ports;
}

/* The AF_XDP port settings of XTCP_* (shim_config.c), whether the port is opened or joined. */
static struct xp_port_config port_config(void)
{
	return (struct xp_port_config){
		.frames = shim.cfg.frames,
		.zero_copy = -1,
		.busy_poll = (enum xp_busy_poll)shim.cfg.busy_poll,
		.rx_csum = (enum xp_rx_csum)shim.cfg.rx_csum,
		.tx_csum = (enum xp_tx_csum)shim.cfg.tx_csum,
	};
}

/*
 * Every queue is taken: join the one with the fewest processes (more
 * processes than queues). Its holder may have bound a moment ago and not yet
 * published itself (-ENOENT): retried briefly. The new member takes no new
 * flows until its first listener (shim_listener_instantiate ends the drain).
 */
static int port_join(struct shim_engine *eng, unsigned n_queues)
{
	struct xp_port_config pcfg = port_config();
	uint64_t end = shim_now_us() + 200000;
	int err;

	while ((err = xp_port_join(shim.prog, n_queues, &pcfg, &eng->ports[0])) == -ENOENT &&
	       shim_now_us() < end)
		usleep(10000);
	if (err) {
		shim_warn("cannot share a queue of %s: %s", shim.cfg.iface, strerror(-err));
		return err;
	}
	eng->n_ports = 1;
	eng->queue = xp_port_queue(eng->ports[0]);
	eng->draining = true;
	shim_info("%s queue %u shared with other processes (more processes than queues)",
		  shim.cfg.iface, eng->queue);
	return 0;
}

/*
 * Open AF_XDP ports: the first free queue (all: every free queue). The kernel
 * refuses a queue another socket holds with EBUSY: that is the claim.
 */
static int port_open(struct shim_engine *eng, bool all, unsigned *n_queues)
{
	struct xp_port_config pcfg = port_config();
	struct xp_link link;
	unsigned q;
	int err;

	pcfg.shareable = share_ok();
	err = xp_nl_link(shim.cfg.iface, &link);
	if (err)
		return err;
	*n_queues = link.n_rx_queues ? link.n_rx_queues : 1;
	err = -EBUSY;
	for (q = 0; q < *n_queues && eng->n_ports < SHIM_MAX_PORTS; q++) {
		if (pcfg.shareable && xp_share_taken(shim.prog, q))
			continue; /* err stays -EBUSY: join it (port_join) */
		err = xp_port_open(shim.prog, q, &pcfg, &eng->ports[eng->n_ports]);
		if (!err) {
			if (!eng->n_ports)
				eng->queue = q;
			eng->n_ports++;
			if (!all)
				break;
		} else if (err != -EBUSY) {
			break;
		}
	}
	return eng->n_ports ? 0 : err;
}

/*
 * The timestamp-offset secret, the same for every process of this boot
 * (stack_config.ts_seed): the kernel's boot id, hashed (FNV-1a). Off-path
 * peers cannot read it; 0 (per-process offsets) if it cannot be read.
 */
static uint64_t host_ts_seed(void)
{
	char id[64];
	uint64_t h = 1469598103934665603ULL;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? REAL(read)(fd, id, sizeof(id)) : -1;

	if (fd >= 0)
		REAL(close)(fd);
	for (ssize_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
	return n > 0 ? h : 0;
}

/*
 * Open this process's AF_XDP ports. A forked process serving listeners (a
 * prefork server's worker) takes one queue: share-nothing across processes,
 * RSS spreads the flows. A process started by exec (redis, a single-process
 * epoll server) takes every free queue, or the flows hashed to the others
 * would stay on the kernel; so does a client-only process: replies to its
 * connections come back on whatever queue the peer's hashing picks.
 * XTCP_QUEUES overrides.
 */
static int engine_ports(struct shim_engine *eng, bool privdrop, unsigned *n_queues)
{
	bool all = !has_listeners() || shim.cfg.queues == SHIM_QUEUES_ALL ||
		   (shim.cfg.queues == SHIM_QUEUES_AUTO && !shim.forked);
	int err = port_open(eng, all, n_queues);

	if (err == -EBUSY && share_ok() && geteuid() == 0)
		err = port_join(eng, *n_queues) ? -EBUSY : 0;
	/*
	 * About to drop root with every queue taken: after `nginx -s reload`
	 * the old workers hold them until they exit, moments later. Without
	 * root this process could never open one, so wait (XTCP_QUEUE_WAIT_MS).
	 * Meanwhile the holders take no new flows (the kernel's listener does):
	 * their accept queues empty before they close their listeners.
	 */
	bool waited = err == -EBUSY && privdrop && shim.cfg.queue_wait_ms;
	unsigned i;

	for (i = 0; waited && i < *n_queues; i++)
		xp_prog_drain_successor(shim.prog, i, true);
	for (uint64_t end = shim_now_us() + (uint64_t)shim.cfg.queue_wait_ms * 1000;
	     err == -EBUSY && privdrop && shim_now_us() < end;) {
		usleep(20000);
		err = port_open(eng, all, n_queues);
	}
	for (i = 0; waited && err && i < *n_queues; i++)
		xp_prog_drain_successor(shim.prog, i, false); /* giving up */
	if (err) {
		char caps[128] = "";

		SHIM_STAT(fallback[SHIM_FB_NO_ENGINE])++;
		if (err == -EPERM || err == -ENOBUFS)
			missing_caps(caps, sizeof(caps));
		shim_fail("no AF_XDP socket on %s for this process (%s%s%s%s)", shim.cfg.iface,
			  strerror(-err), err == -EBUSY ? ": every RX queue is taken" : "",
			  *caps ? "; missing privilege: " : "", caps);
	}
	return err;
}

/*
 * The one netdev the stack sees: the port, or xp_mq over several; wrapped
 * by the hand-off when this process takes one queue of several and
 * connects out (replies come back on some queue: pick local ports this
 * queue claims, and hand segments for other processes' ports to them), or
 * when the sender picks the queue (veth) and may move a flow to another.
 */
static struct netdev *engine_netdev(struct shim_engine *eng, unsigned n_queues,
				    struct stack_config *scfg)
{
	struct netdev *devs[SHIM_MAX_PORTS], *dev;
	unsigned i;

	for (i = 0; i < eng->n_ports; i++)
		devs[i] = xp_port_netdev(eng->ports[i]);
	dev = eng->n_ports == 1 ? devs[0] : xp_mq_create(devs, eng->n_ports);
	if (!dev || n_queues < 2 || eng->n_ports != 1)
		return dev;
	scfg->local_port_step = (uint16_t)n_queues;
	scfg->local_port_rem = (uint16_t)eng->queue;
	if (shim.cfg.n_connect_ports || xp_prog_notes_syn_queue(shim.prog))
		dev = shim_handoff_attach(dev, eng->queue, n_queues, scfg);
	return dev;
}

static void engine_free(struct shim_engine *eng)
{
	if (eng->kick_fd >= 0)
		REAL(close)(eng->kick_fd);
	if (eng->dev && eng->dev->ops->close)
		eng->dev->ops->close(eng->dev); /* and the ports it wraps */
	else
		for (unsigned i = 0; i < eng->n_ports; i++)
			xp_port_close(eng->ports[i]);
	free(eng);
}

static struct shim_engine *engine_start(bool privdrop)
{
	struct stack_config scfg = {0};
	struct shim_engine *eng;
	unsigned n_queues = 1;

	if (prog_ensure())
		goto fail_quiet;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto fail_quiet;
	eng->kick_fd = -1;
	if (engine_ports(eng, privdrop, &n_queues))
		goto fail_eng;
	eng->dev = engine_netdev(eng, n_queues, &scfg);
	eng->kick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!eng->dev || eng->kick_fd < 0)
		goto fail_stack;
	if (getrandom(&scfg.seed, sizeof(scfg.seed), 0) != sizeof(scfg.seed))
		scfg.seed = shim_now_us() ^ ((uint64_t)shim_pid << 32);
	scfg.ts_seed = host_ts_seed();
	scfg.rmem_max = tcp_rmem_max();
	scfg.flags |= tcp_fastopen_flags();
	scfg.dev = eng->dev;
	scfg.max_socks = shim.cfg.max_socks;
	if (shim.cfg.mtu_probing)
		scfg.flags |= STACK_F_MTU_PROBING;
	scfg.local_port_min = shim.cfg.lport_min;
	scfg.local_port_max = shim.cfg.lport_max;
	scfg.on_event = shim_engine_on_event;
	scfg.event_ctx = eng;
	eng->stk = stack_create(&scfg);
	if (!eng->stk)
		goto fail_stack;
	eng->pid = shim_pid;
	eng->gen = ++shim.gen;
	fork_guard_arm();
	shim.eng = eng;
	shim_stats_publish(eng);
	if (eng->n_ports == 1)
		shim_info("serving %s queue %u of %u", shim.cfg.iface, eng->queue, n_queues);
	else
		shim_info("serving %s queues: %u of %u", shim.cfg.iface, eng->n_ports, n_queues);
	return eng;

fail_stack:
	SHIM_STAT(fallback[SHIM_FB_STACK])++;
	shim_fail("cannot create the stack for %s queue %u", shim.cfg.iface, eng->queue);
fail_eng:
	engine_free(eng);
fail_quiet:
	shim.eng_failed_pid = shim_pid;
	return NULL;
}

/*
 * Starting allocates, opens sockets and may sleep: no signal handler may
 * run meanwhile (one that forks would find libc's and our state half
 * made; see the contract in shim_engine.c). Lock held.
 */
static struct shim_engine *engine_start_masked(bool privdrop)
{
	struct shim_engine *eng;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	eng = engine_start(privdrop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return eng;
}

/*
 * A listener's first use in this process (accept, epoll_ctl, poll): make it
 * in this process's stack. Only on use: with SO_REUSEPORT (nginx "listen
 * ... reuseport") every worker holds every worker's socket but uses its own.
 */
struct shim_engine *shim_listener_use(struct shim_sock *s)
{
	struct shim_engine *eng = shim_engine_get();

	if (eng && s->role == SHIM_LISTENER && !shim_sock_live(s, eng) && s->gen != eng->gen)
		shim_listener_instantiate(eng, s);
	return eng;
}

struct shim_engine *shim_engine_get(void)
{
	struct shim_engine *eng = shim_engine_cur();

	if (likely(eng != NULL))
		return eng;
	if (shim.eng_failed_pid == shim_pid)
		return NULL;
	return engine_start_masked(false);
}

void shim_engine_before_privdrop(void)
{
	if (geteuid() != 0)
		return;
	shim_lock();
	if (!shim_engine_cur() && shim.prog && has_listeners() && shim.eng_failed_pid != shim_pid)
		engine_start_masked(true);
	shim_unlock(NULL);
}

#define PRIVDROP_HOOK(name, proto, args)                                                           \
	int shim_##name proto                                                                      \
	{                                                                                          \
		shim_engine_before_privdrop();                                                     \
		return REAL(name) args;                                                            \
	}
/* Changing uid: hand our statistics file over first, so the new user can remove it at exit. */
#define PRIVDROP_UID_HOOK(name, proto, args, euid)                                                 \
	int shim_##name proto                                                                      \
	{                                                                                          \
		shim_engine_before_privdrop();                                                     \
		if (geteuid() == 0 && (euid) != (uid_t)-1)                                         \
			shim_stats_chown(euid);                                                    \
		return REAL(name) args;                                                            \
	}
PRIVDROP_UID_HOOK(setuid, (uid_t uid), (uid), uid)
PRIVDROP_HOOK(setgid, (gid_t gid), (gid))
PRIVDROP_UID_HOOK(seteuid, (uid_t uid), (uid), uid)
PRIVDROP_HOOK(setegid, (gid_t gid), (gid))
PRIVDROP_UID_HOOK(setreuid, (uid_t r, uid_t e), (r, e), e)
PRIVDROP_HOOK(setregid, (gid_t r, gid_t e), (r, e))
PRIVDROP_UID_HOOK(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), e)
PRIVDROP_HOOK(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
PRIVDROP_HOOK(setgroups, (size_t n, const gid_t *list), (n, list))
PRIVDROP_HOOK(initgroups, (const char *user, gid_t group), (user, group))

/*
 * fork() from a signal handler that interrupted this very thread inside
 * the shim must not wait for the lock it holds itself (the contract in
 * shim_engine.c): then the at-fork handlers leave the lock alone.
 */
static __thread bool tls_fork_locked;

/*
 * The child shares the parent's fds; a connection in the parent's stack
 * would be unusable there, so each becomes a kernel socket first
 * (shim_repair.c; XTCP_FORK_CONNS=parent keeps them on xtcp, in the parent
 * only). Not when this thread interrupted the shim (fork from a signal
 * handler): the stack may be mid-change, so they stay.
 */
static void fork_prepare(void)
{
	tls_fork_locked = !shim_lock_held_here();
	if (tls_fork_locked) {
		shim_lock();
		shim_repair_fork();
		shim_fdpool_flush(true); /* a child that execs must not inherit them */
	}
}

static void fork_parent(void)
{
	if (tls_fork_locked)
		shim_unlock(NULL);
}

/* What a child drops of its parent's engine (lock state is the caller's business). */
static void child_abandon(void)
{
	struct shim_engine *eng = shim.eng;

	shim_pid = getpid();
	shim.forked = true;
	*shim_fork_guard = shim_pid;
	if (eng) {
		/*
		 * The parent keeps driving its rings: drop only this process's
		 * view (sockets, mappings). The stack's memory is a private
		 * copy that nobody will touch again.
		 */
		eng->bg_running = false;
		if (eng->dev->ops->close)
			eng->dev->ops->close(eng->dev);
		REAL(close)(eng->kick_fd);
		shim.eng = NULL;
	}
	shim.eng_failed_pid = 0;
	shim_stats_unpublish();
	/*
	 * Totals carry over; the gauges count sockets in this process's own
	 * stack, which has none yet (else a child showed its parent's
	 * listeners and connections as its own until it exited).
	 */
	SHIM_STAT(listeners) = 0;
	SHIM_STAT(conns) = 0;
	/* A child holding served listeners keeps the program attached while it lives. */
	if (shim.prog && has_listeners())
		xp_prog_add_user(shim.prog);
}

static void fork_child(void)
{
	pthread_mutex_init(&shim.lock, NULL);
	shim_engine_fork_child();
	child_abandon();
}

void shim_fork_unnoticed(bool unlocked)
{
	/*
	 * Such a child has one thread (no CLONE_THREAD/CLONE_VM); the lock's
	 * copy may be held by a thread of the parent that it does not have.
	 */
	if (unlocked) {
		pthread_mutex_init(&shim.lock, NULL);
		shim_engine_fork_child();
	}
	child_abandon();
	shim_info("made by clone(2) without fork's handlers: the parent's xtcp connections stay "
		  "with the parent (EBADF here)");
}

/*
 * syscall(SYS_clone, flags without CLONE_VM, ...) is a fork to us: run the
 * at-fork handlers around it (vsftpd forks its sessions this way, with new
 * namespaces), so the parent's connections are the kernel's first.
 */
SHIM_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	long a[6], r;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* libuv (Node.js) closes its sockets with syscall(SYS_close) */
	if (shim_active && nr == SYS_close)
		return shim_close((int)a[0]);
	if (shim_active && nr == SYS_close_range)
		return shim_close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
	if (!shim_active || nr != SYS_clone || (a[0] & (CLONE_VM | CLONE_THREAD | CLONE_VFORK)))
		return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	fork_prepare();
	r = REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (r == 0)
		fork_child();
	else
		fork_parent();
	return r;
}

void shim_fork_setup(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
