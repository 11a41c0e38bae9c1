/*
 * shim_engine.c - the per-process engine: XDP program, one AF_XDP port, one
 * stack, the background thread, blocking waits, fork and privilege drops.
 *
 * Call order:
 *   listen() on a served port -> shim_prog_serve(): attach the XDP program
 *	(first time) and steer the port to AF_XDP.
 *   first use of a served socket in a process (accept, epoll_ctl, poll, ...)
 *	or a privilege drop (setuid & co.) -> shim_engine_get(): open an
 *	AF_XDP port on the first free RX queue (EBUSY = taken by another
 *	process), create the stack on it, start the background thread.
 *	A listening socket is made in the stack at its first use in the
 *	process (shim_listener_use).
 *   app calls: lock -> sock_*() / shim_engine_poll() -> shim_unlock().
 *   blocking: shim_wait_locked() sleeps in ppoll() on the AF_XDP fd, the
 *	thread's wake eventfd and the caller's kernel fds, until the stack's
 *	next timer at most.
 *   fork: the child abandons its parent's engine (closes only its own view
 *	of the AF_XDP socket, never touches the rings or the stack) and builds
 *	its own lazily.
 *
 * Progress without busy polling: app threads drive the stack while they are
 * inside the shim (run to completion). The background thread drives it only
 * when no app thread has polled for BG_GRACE_US and none is asleep in the
 * shim: then it sleeps on the AF_XDP fd and the next timer itself.
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
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#ifdef XTCP_HAVE_PROTECT
#include "protect_cfg.h"
#endif
#include <sys/random.h>

#define BG_GRACE_US 5000 /* app polled this recently: it is driving, stay off the rings */
#define FLUSH_DEFER_MAX_US 100 /* output deferred to the next loop iteration waits at most this */

enum bg_mode {
	BG_BUSY = 0, /* running */
	BG_SLEEP,    /* app idle, a thread sleeps in the shim: it watches the rings */
	BG_TIMER,    /* the app is driving: re-check after the grace period */
	BG_XSK,	     /* nobody drives: sleep on the AF_XDP fd until the next timer */
};

static __thread int tls_wake_fd = -1;
static __thread bool tls_bg;	/* this thread is the background thread */
static __thread bool tls_batch; /* serving what its last epoll_wait/poll returned */
static uint64_t last_app_poll_us;
/*
 * Calls of app threads into the shim (bumped at unlock, no clock read): an
 * app busy serving a long batch of events polls the stack only once per
 * batch, but it is still driving as long as it keeps calling in.
 */
static unsigned long app_calls;
static bool exit_registered;

void shim_lock(void)
{
	pthread_mutex_lock(&shim.lock);
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && REAL(write)(fd, &one, sizeof(one)) < 0)
		return; /* counter saturated: it is readable anyway */
}

static void drain(int fd)
{
	uint64_t v = 0;

	if (REAL(read)(fd, &v, sizeof(v)) < 0)
		return; /* EAGAIN: already drained by someone */
}

/* Threads asleep in the shim may wait for what just happened (lock held). */
static void wake_waiters(struct shim_engine *eng)
{
	unsigned i;

	if (!eng->events)
		return;
	for (i = 0; i < eng->n_wake; i++)
		kick(eng->waiter_fd[i]);
	eng->events = 0;
}

void shim_unlock(struct shim_engine *eng)
{
	if (eng)
		wake_waiters(eng);
	if (!tls_bg)
		__atomic_store_n(&app_calls, __atomic_load_n(&app_calls, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	pthread_mutex_unlock(&shim.lock);
}

struct shim_engine *shim_engine_cur(void)
{
	struct shim_engine *eng = shim.eng;

	return (eng && eng->pid == shim_pid) ? eng : NULL;
}

static void on_event(void *ctx, int sd)
{
	struct shim_engine *eng = ctx;
	struct shim_sock *s;

	eng->events++;
	s = sock_get_user(eng->stk, sd);
	if (s && s->items)
		shim_ep_sock_event(s);
}

static int engine_start_thread(struct shim_engine *eng);

void shim_engine_poll(struct shim_engine *eng)
{
	uint64_t now = shim_now_us();

	/*
	 * The background thread starts with the app's first poll: before it,
	 * frames wait in the rings, so SYNs that came early meet the listeners
	 * the app makes at their first use instead of a stack without them.
	 */
	if (unlikely(!eng->bg_started) && !tls_bg) {
		eng->bg_started = true;
		if (engine_start_thread(eng))
			shim_warn("no background thread: progress only inside socket calls");
	}
	stack_poll(eng->stk, now);
	/* stack_poll flushed the output */
	__atomic_store_n(&eng->flush_due, false, __ATOMIC_RELAXED);
	eng->last_poll_us = now;
	if (!tls_bg)
		__atomic_store_n(&last_app_poll_us, now, __ATOMIC_RELAXED);
	SHIM_STAT(polls)++;
	if (shim_stats_shm && now - shim_stats_shm->updated_us > 100000)
		shim_stats_update(eng);
}

void shim_engine_flush(struct shim_engine *eng)
{
	__atomic_store_n(&eng->flush_due, false, __ATOMIC_RELAXED);
	if (stack_has_output(eng->stk))
		stack_flush(eng->stk, shim_now_us());
}

void shim_batch_set(bool on)
{
	tls_batch = on;
}

/*
 * An app thread serving the events its epoll_wait/poll returned (nginx:
 * read a request, write the answer, next event) leaves the output to its
 * next epoll_wait/poll, which sends everything with one TX kick per loop
 * instead of one per request; the answers' segments carry the requests'
 * ACKs. Should the app not come back (it blocks elsewhere), its next wait in
 * the shim or the background thread within BG_GRACE_US sends it.
 */
void shim_engine_flush_soon(struct shim_engine *eng)
{
	if (tls_batch && !tls_bg) {
		uint64_t now = shim_now_us();

		if (!eng->flush_due) {
			eng->flush_due_us = now;
			__atomic_store_n(&eng->flush_due, true, __ATOMIC_RELAXED);
			return;
		}
		/*
		 * An app that computes between answers (tens of us each) would
		 * hold the first answers back for the whole batch, and the
		 * client would wait instead of sending its next requests while
		 * the server works: deferral is bounded in time.
		 */
		if (now - eng->flush_due_us < FLUSH_DEFER_MAX_US)
			return;
	}
	shim_engine_flush(eng);
}

static bool tx_pending(struct shim_engine *eng);
#define TX_RETRY_US 200

/*
 * The app closed these connections, but their last data or FIN is not
 * acknowledged yet: the kernel would keep such orphans after the process
 * exits, a stack inside the process cannot. Without this wait an nginx worker
 * leaving after `nginx -s reload` would take its last answers'
 * retransmissions with it, and a client's ACK that met the queue's next
 * owner would get a RST. Bounded by XTCP_EXIT_LINGER_MS. Lock held.
 */
static void linger_at_exit(struct shim_engine *eng)
{
	uint64_t now = shim_now_us(), end = now + (uint64_t)shim.cfg.exit_linger_ms * 1000;

	shim_engine_flush(eng);
	while (now < end && stack_orphans_unsettled(eng->stk)) {
		struct pollfd p = {.fd = eng->xsk_fd, .events = POLLIN};
		uint64_t until = stack_next_deadline(eng->stk);

		if (until > end)
			until = end;
		if (tx_pending(eng) && until > now + TX_RETRY_US)
			until = now + TX_RETRY_US;
		REAL(poll)(&p, 1, until > now ? (int)((until - now + 999) / 1000) : 0);
		now = shim_now_us();
		stack_poll(eng->stk, now);
	}
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
	if (pthread_mutex_trylock(&shim.lock) == 0) {
		/*
		 * Output left for the next loop iteration (shim_engine_flush_soon)
		 * goes now, and closed connections get their ACKs (bounded): an
		 * app that writes, closes and exits still delivers its last
		 * answer, as the kernel would after it exits.
		 */
		if (shim.eng && shim.eng->pid == shim_pid)
			linger_at_exit(shim.eng);
		prog = shim.prog;
		shim.prog = NULL;
		if (prog)
			xp_prog_detach(prog);
		pthread_mutex_unlock(&shim.lock);
	}
	/* Other threads (ours, the app's) still run until exit completes: unmap nothing. */
	shim_stats_remove();
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
		shim_fail("cannot attach the XDP program to %s: %s", shim.cfg.iface,
			  strerror(-err));
		return err;
	}
#ifdef XTCP_HAVE_PROTECT
	/* Flood protection settings (XTCP_PROTECT*, tools/protect_cfg.h): prints its own error. */
	protect_env_apply(xp_prog_ifindex(shim.prog));
#endif
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

	sd = sock_socket(eng->stk);
	if (sd < 0) {
		s->gen = eng->gen;
		return sd;
	}
	for (i = 0; i < s->n_opts; i++)
		sock_setopt(eng->stk, sd, s->opts[i].level, s->opts[i].name, &s->opts[i].val,
			    sizeof(int));
	err = sock_bind(eng->stk, sd, &s->local);
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

static void *bg_main(void *arg);

/*
 * Open AF_XDP ports: the first free queue (all: every free queue). The kernel
 * refuses a queue another socket holds with EBUSY: that is the claim.
 */
static int port_open(struct shim_engine *eng, bool all, unsigned *n_queues)
{
	struct xp_port_config pcfg = {
		.frames = shim.cfg.frames, .zero_copy = -1, .busy_poll = shim.cfg.busy_poll};
	struct xp_link link;
	unsigned q;
	int err;

	err = xp_nl_link(shim.cfg.iface, &link);
	if (err)
		return err;
	*n_queues = link.n_rx_queues ? link.n_rx_queues : 1;
	err = -EBUSY;
	for (q = 0; q < *n_queues && eng->n_ports < SHIM_MAX_PORTS; q++) {
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

static int engine_start_thread(struct shim_engine *eng)
{
	sigset_t all, old;
	int err;

	/* Signals belong to the app's threads: the background thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	eng->bg_running = true;
	err = pthread_create(&eng->bg, NULL, bg_main, eng);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		eng->bg_running = false;
	return -err;
}

static void ports_close(struct shim_engine *eng)
{
	unsigned i;

	for (i = 0; i < eng->n_ports; i++)
		xp_port_close(eng->ports[i]);
	eng->n_ports = 0;
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

static struct shim_engine *engine_start(bool privdrop)
{
	struct stack_config scfg = {0};
	struct shim_engine *eng;
	struct netdev *devs[SHIM_MAX_PORTS];
	unsigned n_queues = 1, i;
	bool client_only = !has_listeners();
	bool all_queues = client_only || shim.cfg.queues == SHIM_QUEUES_ALL ||
			  (shim.cfg.queues == SHIM_QUEUES_AUTO && !shim.forked);
	int err;

	if (prog_ensure())
		goto fail_quiet;
	eng = calloc(1, sizeof(*eng));
	if (!eng)
		goto fail_quiet;
	eng->kick_fd = -1;
	/*
	 * A forked process serving listeners (a prefork server's worker) takes
	 * one queue: share-nothing across processes, RSS spreads the flows. A
	 * process started by exec (redis, a single-process epoll server) takes
	 * every free queue, or the flows hashed to the others would stay on the
	 * kernel; so does a client-only process: replies to its connections come
	 * back on whatever queue the peer's hashing picks. XTCP_QUEUES overrides.
	 */
	err = port_open(eng, all_queues, &n_queues);
	/*
	 * About to drop root with every queue taken: after `nginx -s reload`
	 * the old workers hold them until they exit, moments later. Without
	 * root this process could never open one, so wait (XTCP_QUEUE_WAIT_MS).
	 */
	bool waited = err == -EBUSY && privdrop && shim.cfg.queue_wait_ms;

	/*
	 * Meanwhile the holders take no new flows (the kernel's listener does):
	 * their accept queues empty before they close their listeners.
	 */
	for (i = 0; waited && i < n_queues; i++)
		xp_prog_drain_successor(shim.prog, i, true);
	for (uint64_t end = shim_now_us() + (uint64_t)shim.cfg.queue_wait_ms * 1000;
	     err == -EBUSY && privdrop && shim_now_us() < end;) {
		usleep(20000);
		err = port_open(eng, all_queues, &n_queues);
	}
	for (i = 0; waited && err && i < n_queues; i++)
		xp_prog_drain_successor(shim.prog, i, false); /* giving up */
	if (err) {
		SHIM_STAT(fallback[SHIM_FB_NO_ENGINE])++;
		shim_fail("no AF_XDP socket on %s for this process (%s%s)", shim.cfg.iface,
			  strerror(-err), err == -EBUSY ? ": every RX queue is taken" : "");
		goto fail_eng;
	}
	for (i = 0; i < eng->n_ports; i++)
		devs[i] = xp_port_netdev(eng->ports[i]);
	eng->dev = eng->n_ports == 1 ? devs[0] : shim_mq_create(devs, eng->n_ports);
	if (!eng->dev)
		goto fail_eng;
	if (n_queues > 1 && eng->n_ports == 1) {
		/*
		 * Replies come back on some queue; pick ports this queue claims,
		 * and hand segments for other processes' ports to them (see
		 * ARCHITECTURE, shim_handoff.c).
		 */
		scfg.local_port_step = (uint16_t)n_queues;
		scfg.local_port_rem = (uint16_t)eng->queue;
		if (shim.cfg.n_connect_ports)
			eng->dev = shim_handoff_attach(eng->dev, eng->queue, n_queues, &scfg);
	}
	eng->xsk_fd = eng->dev->ops->wait_fd(eng->dev);
	eng->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (getrandom(&scfg.seed, sizeof(scfg.seed), 0) != sizeof(scfg.seed))
		scfg.seed = shim_now_us() ^ ((uint64_t)shim_pid << 32);
	scfg.ts_seed = host_ts_seed();
	scfg.dev = eng->dev;
	scfg.max_socks = shim.cfg.max_socks;
	scfg.local_port_min = shim.cfg.lport_min;
	scfg.local_port_max = shim.cfg.lport_max;
	scfg.on_event = on_event;
	scfg.event_ctx = eng;
	eng->stk = stack_create(&scfg);
	if (!eng->stk || eng->kick_fd < 0) {
		SHIM_STAT(fallback[SHIM_FB_STACK])++;
		shim_fail("cannot create the stack for %s queue %u", shim.cfg.iface, eng->queue);
		goto fail_eng;
	}
	eng->pid = shim_pid;
	eng->gen = ++shim.gen;
	shim.eng = eng;
	shim_stats_publish(eng);
	if (eng->n_ports == 1)
		shim_info("serving %s queue %u of %u", shim.cfg.iface, eng->queue, n_queues);
	else
		shim_info("serving %s queues: %u of %u", shim.cfg.iface, eng->n_ports, n_queues);
	return eng;

fail_eng:
	shim_handoff_abandon();
	if (eng->kick_fd >= 0)
		REAL(close)(eng->kick_fd);
	ports_close(eng);
	free(eng);
fail_quiet:
	shim.eng_failed_pid = shim_pid;
	return NULL;
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
	return engine_start(false);
}

/*
 * Frames the kernel has not taken from a TX ring yet (device queue full):
 * kick again now, and sleep at most TX_RETRY_US so they are not left behind.
 */
static bool tx_pending(struct shim_engine *eng)
{
	unsigned i;
	bool pending = false;

	for (i = 0; i < eng->n_ports; i++)
		pending |= xp_port_tx_pending(eng->ports[i]);
	if (pending)
		eng->dev->ops->tx_flush(eng->dev);
	return pending;
}

/*
 * Going to sleep: publish the current state (xtcpctl reads it while we are
 * idle), at most every 10 ms; a skipped refresh shortens the sleep to come
 * back for it.
 */
static void stats_before_sleep(struct shim_engine *eng, uint64_t now, uint64_t *until)
{
	struct shim_stats *st = shim_stats_shm;

	if (!st || st->updated_us >= eng->last_poll_us)
		return;
	if (now - st->updated_us >= 10000)
		shim_stats_update(eng);
	else if (st->updated_us + 10000 < *until)
		*until = st->updated_us + 10000;
}

int shim_wait_locked(struct shim_engine *eng, struct pollfd *extra, unsigned n_extra,
		     uint64_t deadline_us, const sigset_t *mask)
{
	struct pollfd buf[16], *pfd = buf;
	struct timespec ts, *tsp = NULL;
	unsigned n = n_extra + 3, i, slot = ~0u;
	uint64_t now, until;
	int r, err;

	if (tls_wake_fd < 0)
		tls_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n > 16) {
		pfd = malloc(n * sizeof(*pfd));
		if (!pfd)
			return -ENOMEM;
	}
	for (i = 0; i < n_extra; i++)
		pfd[i] = (struct pollfd){.fd = extra[i].fd, .events = extra[i].events};
	pfd[n_extra] = (struct pollfd){.fd = eng->xsk_fd, .events = POLLIN};
	pfd[n_extra + 1] = (struct pollfd){.fd = tls_wake_fd, .events = POLLIN};
	/* segments other processes hand to us (-1: none, ignored by ppoll) */
	pfd[n_extra + 2] = (struct pollfd){.fd = shim_handoff_fd(), .events = POLLIN};

	if (eng->flush_due)
		shim_engine_flush(eng); /* nothing is left behind while we sleep */
	now = shim_now_us();
	until = stack_next_deadline(eng->stk);
	if (deadline_us && deadline_us < until)
		until = deadline_us;
	/*
	 * Events this thread's own polls produced (for other sleepers) must be
	 * delivered before it sleeps: its unlock below does not go through
	 * shim_unlock(). Done before registering, so it never wakes itself.
	 */
	wake_waiters(eng);
	if (eng->n_wake < 64 && tls_wake_fd >= 0) {
		slot = eng->n_wake++;
		eng->waiter_fd[slot] = tls_wake_fd;
	} else if (until > now + 10000) {
		until = now + 10000; /* cannot be woken by others: bounded sleep */
	}
	stats_before_sleep(eng, now, &until);
	if (tx_pending(eng) && until > now + TX_RETRY_US)
		until = now + TX_RETRY_US;
	if (shim_handoff_next_us(now) < until)
		until = shim_handoff_next_us(now); /* hand-off frames wait (pool, or to be sent) */
	if (until != UINT64_MAX) {
		uint64_t d = until > now ? until - now : 0;

		ts.tv_sec = (time_t)(d / 1000000);
		ts.tv_nsec = (long)(d % 1000000) * 1000;
		tsp = &ts;
	}
	eng->n_waiters++;
	if (eng->bg_mode == BG_XSK)
		kick(eng->kick_fd); /* this thread watches the rings now */
	SHIM_STAT(sleeps)++;
	pthread_mutex_unlock(&shim.lock);

	r = REAL(ppoll)(pfd, n, tsp, mask);
	err = errno;

	pthread_mutex_lock(&shim.lock);
	/* Unregister: move the last wake fd into our slot. */
	for (i = 0; slot != ~0u && i < eng->n_wake; i++) {
		if (eng->waiter_fd[i] == tls_wake_fd) {
			eng->waiter_fd[i] = eng->waiter_fd[--eng->n_wake];
			break;
		}
	}
	eng->n_waiters--;
	if (eng->n_waiters == 0 && eng->bg_mode == BG_SLEEP)
		kick(eng->kick_fd); /* nobody watches the rings any more */
	if (r > 0 && (pfd[n_extra + 1].revents & POLLIN))
		drain(tls_wake_fd);
	if (r > 0 && (pfd[n_extra + 2].revents & POLLIN))
		shim_handoff_readable();
	for (i = 0; i < n_extra; i++)
		extra[i].revents = pfd[i].revents;
	if (pfd != buf)
		free(pfd);
	shim_engine_poll(eng);
	if (r < 0 && err == EINTR)
		return -EINTR;
	if (deadline_us && shim_now_us() >= deadline_us)
		return -ETIMEDOUT;
	return 0;
}

static void *bg_main(void *arg)
{
	struct shim_engine *eng = arg;
	struct pollfd pfd[3];
	struct timespec ts, *tsp;
	uint64_t now, until;
	bool app_recent;
	unsigned long seen_calls = 0;
	unsigned n;

	tls_bg = true;
	pthread_mutex_lock(&shim.lock);
	while (eng->bg_running && eng->pid == shim_pid) {
		now = shim_now_us();
		app_recent = now - last_app_poll_us < BG_GRACE_US || app_calls != seen_calls;
		seen_calls = app_calls;
		if (!eng->n_waiters && !app_recent)
			shim_engine_poll(eng);
		else if (eng->flush_due)
			shim_engine_flush(eng); /* the app left output behind */
		until = UINT64_MAX;
		pfd[0] = (struct pollfd){.fd = eng->kick_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = eng->xsk_fd, .events = POLLIN};
		pfd[2] = (struct pollfd){.fd = shim_handoff_fd(), .events = POLLIN};
		n = 1;
		if (app_recent) {
			/*
			 * The app drives (it may sleep in the shim now and then):
			 * re-check after the grace period, so an app thread leaving
			 * its wait never has to wake this thread (no eventfd write,
			 * no lock handoff per wait under load).
			 */
			eng->bg_mode = BG_TIMER;
			until = now + BG_GRACE_US;
		} else if (eng->n_waiters) {
			eng->bg_mode = BG_SLEEP;
		} else {
			eng->bg_mode = BG_XSK;
			until = stack_next_deadline(eng->stk);
			if (tx_pending(eng) && until > now + TX_RETRY_US)
				until = now + TX_RETRY_US;
			if (shim_handoff_next_us(now) < until)
				until = shim_handoff_next_us(now);
			n = 3;
		}
		tsp = NULL;
		if (until != UINT64_MAX) {
			uint64_t d = until > now ? until - now : 0;

			ts.tv_sec = (time_t)(d / 1000000);
			ts.tv_nsec = (long)(d % 1000000) * 1000;
			tsp = &ts;
		}
		shim_unlock(eng);
		for (;;) {
			REAL(ppoll)(pfd, n, tsp, NULL);
			if (eng->bg_mode != BG_TIMER || (pfd[0].revents & POLLIN))
				break;
			/* The app drives: check again later without touching its lock. */
			now = shim_now_us();
			until = __atomic_load_n(&last_app_poll_us, __ATOMIC_RELAXED) + BG_GRACE_US;
			if (__atomic_load_n(&eng->flush_due, __ATOMIC_RELAXED))
				break; /* output left behind for a grace period: send it */
			if (__atomic_load_n(&app_calls, __ATOMIC_RELAXED) != seen_calls) {
				seen_calls = __atomic_load_n(&app_calls, __ATOMIC_RELAXED);
				until = now + BG_GRACE_US; /* still calling in */
			}
			if (until <= now)
				break;
			ts.tv_sec = (time_t)((until - now) / 1000000);
			ts.tv_nsec = (long)((until - now) % 1000000) * 1000;
		}
		/* The lock held means an app thread is inside the shim: it drives. */
		while (eng->bg_mode == BG_TIMER && !(pfd[0].revents & POLLIN) &&
		       pthread_mutex_trylock(&shim.lock)) {
			ts = (struct timespec){0, BG_GRACE_US * 1000};
			REAL(ppoll)(pfd, 1, &ts, NULL);
		}
		if (eng->bg_mode != BG_TIMER || (pfd[0].revents & POLLIN))
			pthread_mutex_lock(&shim.lock);
		eng->bg_mode = BG_BUSY;
		if (pfd[0].revents & POLLIN)
			drain(eng->kick_fd);
		if (n == 3 && (pfd[2].revents & POLLIN))
			shim_handoff_readable();
	}
	pthread_mutex_unlock(&shim.lock);
	return NULL;
}

void shim_engine_before_privdrop(void)
{
	if (geteuid() != 0)
		return;
	pthread_mutex_lock(&shim.lock);
	if (!shim_engine_cur() && shim.prog && has_listeners() && shim.eng_failed_pid != shim_pid)
		engine_start(true);
	pthread_mutex_unlock(&shim.lock);
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

static void fork_prepare(void)
{
	pthread_mutex_lock(&shim.lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&shim.lock);
}

static void fork_child(void)
{
	struct shim_engine *eng = shim.eng;

	pthread_mutex_init(&shim.lock, NULL);
	shim_pid = getpid();
	shim.forked = true;
	if (tls_wake_fd >= 0) {
		REAL(close)(tls_wake_fd);
		tls_wake_fd = -1;
	}
	if (eng) {
		/*
		 * The parent keeps driving its rings: drop only this process's
		 * view (socket fd, mappings). The stack's memory is a private
		 * copy that nobody will touch again.
		 */
		eng->bg_running = false;
		ports_close(eng);
		REAL(close)(eng->kick_fd);
		shim.eng = NULL;
	}
	shim_handoff_fork_child(); /* the parent's endpoint name stays the parent's */
	shim.eng_failed_pid = 0;
	shim_stats_unpublish();
	/* A child holding served listeners keeps the program attached while it lives. */
	if (shim.prog && has_listeners())
		xp_prog_add_user(shim.prog);
}

void shim_fork_setup(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
