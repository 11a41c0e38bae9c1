/*
 * shim_engine.c - the engine's event loop: who drives the stack, one
 * iteration (poll), one sleep planner, and the background thread. The
 * engine's life (start, listeners, fork, exit) is in shim_start.c.
 *
 * One iteration, always with shim.lock held, by whichever thread drives:
 *   shim_engine_poll(): clock once -> stack_poll() (RX burst, timers,
 *	output: control, ACKs, data, one TX kick) -> readiness callbacks
 *	(on_event: epoll ready lists) -> sleepers woken at unlock.
 *   plan_until(): the one sleep planner: the stack's next timer, the
 *	netdev's deadline (frames it holds, TX the device did not take),
 *	the caller's deadline, the statistics refresh.
 *   engine_sleep(): lock dropped, ppoll() on the caller's fds, the
 *	netdev's poll fds (when this thread watches the rings) and the
 *	thread's wake eventfd; lock taken again, readiness told to the netdev.
 *
 * Who drives (the token, all fields under shim.lock):
 *   - an app thread inside the shim holds the lock: it drives (run to
 *     completion, mTCP style, no hand-over);
 *   - app threads asleep in shim_wait_locked() watch the rings: any frame
 *     wakes them (n_waiters);
 *   - otherwise the background thread drives, in one of three states:
 *	BG_WATCH  no app thread watches and the app's lease ran out: it
 *		  sleeps on the netdev's fds until the next deadline;
 *	BG_LEASE  the app called into the shim during the last lease
 *		  (ENGINE_LEASE_US): it keeps driving, so the background thread
 *		  only looks again when the lease ends;
 *	BG_PARK   an app thread watches: asleep until the last watcher
 *		  leaves and its kick (a timer, one lease later) expires.
 * Invariant: whenever the lock is free, someone sees a frame arrive within
 * ENGINE_LEASE_US: a watching app thread, the background thread in
 * BG_WATCH, or the background thread at the end of a lease whose renewal
 * it then checks (app_calls). The lease keeps the background thread off
 * the lock and the rings while the app serves a stream of requests: one
 * look per lease instead of one wake-up per frame.
 *
 * Async-signal safety (the contract): a signal handler may run on an app
 * thread at any point, also while that thread holds shim.lock. A handler
 * that calls fork() runs the at-fork handlers on that thread: they take
 * shim.lock only if this thread does not hold it (tls_locked), so they
 * never wait for themselves; the child re-initialises the lock and drops
 * its parent's engine without touching its state. The engine's start
 * (allocations, sockets, threads: not async-signal-safe in libc) runs with
 * every signal blocked, so no handler interrupts it (shim_start.c). Other
 * hooks called from a handler get the kernel's behaviour for kernel fds
 * and must not be xtcp calls that the interrupted code was making.
 */
#include "shim.h"
#include "stack.h"
#include "netdev.h"
#include "xp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#define ENGINE_LEASE_US	   1000 /* the app drives while it called in this recently */
#define FLUSH_DEFER_MAX_US 100	/* output deferred to the next loop iteration waits at most this */
#define STATS_EVERY_US	   10000
#define KFLOW_SWEEP_US	   1000000 /* ports found free of kernel flows skip the XDP lookup */

/* Every served port clean: the full dump of kernel sockets this rarely (kflow_sweep()). */
#define KFLOW_DUMP_CLEAN_US 10000000

static __thread int tls_wake_fd = -1;
static __thread bool tls_bg;	/* this thread is the background thread */
static __thread bool tls_batch; /* serving what its last epoll_wait/poll returned */
/*
 * This thread holds shim.lock, or is taking or dropping it: set before the
 * lock is taken and cleared after it is dropped, so a signal handler that
 * interrupts either step sees it set (a handler interrupting the wait for
 * the lock then forks without it; the child re-initialises it anyway).
 */
static __thread volatile bool tls_locked;

void shim_lock(void)
{
	if (unlikely(!*shim_fork_guard)) /* a child made by clone(2): its lock copy may be held */
		shim_fork_unnoticed(true);
	tls_locked = true;
	pthread_mutex_lock(&shim.lock);
}

bool shim_trylock(void)
{
	if (unlikely(!*shim_fork_guard))
		shim_fork_unnoticed(true);
	if (tls_locked)
		return false; /* held by this very thread: the mutex is not recursive */
	tls_locked = true;
	if (pthread_mutex_trylock(&shim.lock) == 0)
		return true;
	tls_locked = false;
	return false;
}

static void lock_drop(void)
{
	pthread_mutex_unlock(&shim.lock);
	tls_locked = false;
}

bool shim_lock_held_here(void)
{
	return tls_locked;
}

/* A fork child: its thread is the only one, and its wake fd is the parent's. */
void shim_engine_fork_child(void)
{
	if (tls_wake_fd >= 0) {
		REAL(close)(tls_wake_fd);
		tls_wake_fd = -1;
	}
	tls_locked = false;
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && REAL(write)(fd, &one, sizeof(one)) < 0)
		return; /* counter saturated: it is readable anyway */
}

/*
 * The last watcher left: the parked background thread looks again one lease
 * later (a timerfd), not at once. Until then the app that just left drives
 * (it holds the lease), so an immediate wake-up only cost the core a switch
 * to a thread that went back to sleep for the lease; the bound on an
 * unattended frame (the lease plus a wake-up) is the same. An armed timer
 * due sooner is left alone: at most one look per lease.
 */
static void kick_later(struct shim_engine *eng)
{
	struct itimerspec its = {.it_value.tv_nsec = ENGINE_LEASE_US * 1000};
	uint64_t now = shim_now_us();

	if (eng->kick_fd < 0 ||
	    (eng->kick_due_us > now && eng->kick_due_us <= now + ENGINE_LEASE_US))
		return;
	if (timerfd_settime(eng->kick_fd, 0, &its, NULL) == 0)
		eng->kick_due_us = now + ENGINE_LEASE_US;
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
	if (eng) {
		wake_waiters(eng);
		if (!tls_bg)
			eng->app_calls++; /* renews the app's lease */
	}
	lock_drop();
}

struct shim_engine *shim_engine_cur(void)
{
	struct shim_engine *eng = shim.eng;

	if (eng && unlikely(!*shim_fork_guard)) { /* a child made by clone(2): not ours */
		shim_fork_unnoticed(false);
		return NULL;
	}
	return (eng && eng->pid == shim_pid) ? eng : NULL;
}

void shim_engine_on_event(void *ctx, int sd)
{
	struct shim_engine *eng = ctx;
	struct shim_sock *s;

	eng->events++;
	s = sock_get_user(eng->stk, sd);
	if (s && s->items)
		shim_ep_sock_event(s);
}

static void engine_polled(struct shim_engine *eng, uint64_t now)
{
	eng->last_poll_us = now;
	SHIM_STAT(polls)++;
	if (shim_stats_shm && now - shim_stats_shm->updated_us > 100000)
		shim_stats_update(eng);
}

/* After a hold-ACKs poll or flush: what it kept back is owed from now on. */
static void held_output_owed(struct shim_engine *eng, uint64_t now)
{
	eng->flush_due = stack_has_output(eng->stk);
	eng->flush_due_us = now;
}

void shim_engine_poll(struct shim_engine *eng)
{
	uint64_t now = shim_now_us();

	stack_poll(eng->stk, now); /* flushes the output */
	eng->flush_due = false;
	engine_polled(eng, now);
}

/*
 * The poll whose events the app is about to get (its wait returns): a
 * request's ACK waits for the answer, which then carries it, one segment
 * fewer per request. The app's own polls and deferred flushes keep it for
 * at most TCP_ACK_HOLD_US; its next sleep or the background thread at the
 * lease's end sends it. Without a lease nobody would come back for it:
 * the poll sends everything.
 */
void shim_engine_poll_hold_acks(struct shim_engine *eng)
{
	uint64_t now;

	if (tls_bg || eng->bg_state != BG_LEASE) {
		shim_engine_poll(eng);
		return;
	}
	now = shim_now_us();
	stack_poll_hold_acks(eng->stk, now);
	held_output_owed(eng, now);
	engine_polled(eng, now);
}

/*
 * An app that reads (or accepts) until EAGAIN polled the stack at every
 * EAGAIN, and that poll's output flush kicked the TX ring for the answer it
 * had just written: one kick per request, where its next epoll_wait would
 * have sent the whole batch with one. Inside a batch under a lease (as
 * shim_engine_flush_soon() defers) the poll takes what arrived and delivers
 * events but leaves the output to the batch's end, FLUSH_DEFER_MAX_US at
 * most.
 */
void shim_engine_poll_quiet(struct shim_engine *eng)
{
	uint64_t now;

	if (!tls_batch || tls_bg || eng->bg_state != BG_LEASE) {
		shim_engine_poll(eng);
		return;
	}
	now = shim_now_us();
	stack_poll_quiet(eng->stk, now);
	engine_polled(eng, now);
	if (stack_has_output(eng->stk))
		shim_engine_flush_soon(eng);
}

void shim_engine_flush(struct shim_engine *eng)
{
	eng->flush_due = false;
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
 * ACKs. An app that computes between answers would hold the first ones
 * back for the whole batch, so deferral is bounded (FLUSH_DEFER_MAX_US, at
 * the next write); should the app not come back, its next wait in the shim
 * or the background thread at the end of the lease sends it.
 */
void shim_engine_flush_soon(struct shim_engine *eng)
{
	/*
	 * Only under a lease: then the background thread looks again within
	 * ENGINE_LEASE_US and sends what is left. Watching or parked, it would
	 * not come back for it until a frame or a timer.
	 */
	if (tls_batch && !tls_bg && eng->bg_state == BG_LEASE) {
		uint64_t now = shim_now_us();

		if (!eng->flush_due) {
			eng->flush_due = true;
			eng->flush_due_us = now;
			return;
		}
		if (now - eng->flush_due_us < FLUSH_DEFER_MAX_US)
			return;
		stack_flush_hold_acks(eng->stk, now); /* later requests' ACKs wait on */
		held_output_owed(eng, now);
		return;
	}
	shim_engine_flush(eng);
}

/*
 * The sleep planner: when this thread must poll again at the latest (lock
 * held). Also publishes the statistics xtcpctl reads while we sleep, at
 * most every STATS_EVERY_US; a skipped refresh shortens the sleep.
 */
static uint64_t plan_until(struct shim_engine *eng, uint64_t now, uint64_t deadline_us)
{
	const struct netdev_ops *ops = eng->dev->ops;
	struct shim_stats *st = shim_stats_shm;
	uint64_t until = stack_next_deadline(eng->stk), t;

	t = ops->next_deadline ? ops->next_deadline(eng->dev, now) : UINT64_MAX;
	if (t < until)
		until = t;
	if (deadline_us && deadline_us < until)
		until = deadline_us;
	if (st && st->updated_us < eng->last_poll_us) {
		if (now - st->updated_us >= STATS_EVERY_US)
			shim_stats_update(eng);
		else if (st->updated_us + STATS_EVERY_US < until)
			until = st->updated_us + STATS_EVERY_US;
	}
	t = st ? shim_stats_conns_due_us() : 0;
	if (t && t <= now)
		shim_stats_update(eng);
	else if (t && t < until)
		until = t;
	return until;
}

/* The netdev's fds to watch, appended at pfd[n]; returns the new count. */
static unsigned add_dev_fds(struct shim_engine *eng, struct pollfd *pfd, unsigned n)
{
	int fds[NETDEV_POLL_FDS_MAX];
	unsigned k = 0, i;

	if (eng->dev->ops->poll_fds)
		k = eng->dev->ops->poll_fds(eng->dev, fds, NETDEV_POLL_FDS_MAX);
	for (i = 0; i < k; i++)
		pfd[n + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	return n + k;
}

/*
 * Sleep with the lock dropped until one of pfd[0..n) is ready or until
 * (UINT64_MAX: no limit); pfd[dev_at..dev_at+n_dev) are the netdev's fds.
 * Returns ppoll's result, errno kept; lock held again on return.
 */
static int engine_sleep(struct shim_engine *eng, struct pollfd *pfd, unsigned n, unsigned dev_at,
			unsigned n_dev, uint64_t until, const sigset_t *mask)
{
	struct timespec ts, *tsp = NULL;
	uint32_t ready = 0;
	uint64_t now;
	int r, err;

	if (until != UINT64_MAX) {
		now = shim_now_us();
		until = until > now ? until - now : 0;
		ts.tv_sec = (time_t)(until / 1000000);
		ts.tv_nsec = (long)(until % 1000000) * 1000;
		tsp = &ts;
	}
	SHIM_STAT(sleeps)++;
	lock_drop();
	r = REAL(ppoll)(pfd, n, tsp, mask);
	err = errno;
	shim_lock();
	for (unsigned i = 0; r > 0 && i < n_dev; i++)
		if (pfd[dev_at + i].revents & POLLIN)
			ready |= 1u << i;
	if (ready && eng->dev->ops->poll_ready)
		eng->dev->ops->poll_ready(eng->dev, ready);
	errno = err;
	return r;
}

/* Register this thread's wake fd: others kick it when events happen. */
static bool waiter_add(struct shim_engine *eng)
{
	if (tls_wake_fd < 0)
		tls_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tls_wake_fd < 0 || eng->n_wake >= SHIM_MAX_WAITERS)
		return false;
	eng->waiter_fd[eng->n_wake++] = tls_wake_fd;
	return true;
}

static void waiter_remove(struct shim_engine *eng)
{
	for (unsigned i = 0; i < eng->n_wake; i++) {
		if (eng->waiter_fd[i] == tls_wake_fd) {
			eng->waiter_fd[i] = eng->waiter_fd[--eng->n_wake];
			return;
		}
	}
}

int shim_wait_locked(struct shim_engine *eng, struct pollfd *extra, unsigned n_extra,
		     uint64_t deadline_us, const sigset_t *mask)
{
	struct pollfd buf[16 + NETDEV_POLL_FDS_MAX + 1], *pfd = buf;
	unsigned n, i, max = n_extra + NETDEV_POLL_FDS_MAX + 1;
	uint64_t now, until;
	bool wakeable;
	int r, err;

	if (max > sizeof(buf) / sizeof(buf[0])) {
		pfd = malloc(max * sizeof(*pfd));
		if (!pfd)
			return -ENOMEM;
	}
	for (i = 0; i < n_extra; i++)
		pfd[i] = (struct pollfd){.fd = extra[i].fd, .events = extra[i].events};
	n = add_dev_fds(eng, pfd, n_extra);

	if (eng->flush_due)
		shim_engine_flush(eng); /* nothing is left behind while we sleep */
	/*
	 * Events this thread's own polls produced (for other sleepers) go out
	 * before it registers itself, so it never wakes itself.
	 */
	wake_waiters(eng);
	wakeable = waiter_add(eng);
	if (wakeable)
		pfd[n++] = (struct pollfd){.fd = tls_wake_fd, .events = POLLIN};
	now = shim_now_us();
	until = plan_until(eng, now, deadline_us);
	if (!wakeable && until > now + STATS_EVERY_US)
		until = now + STATS_EVERY_US; /* cannot be woken by others: bounded sleep */

	eng->n_waiters++;
	r = engine_sleep(eng, pfd, n, n_extra, n - n_extra - wakeable, until, mask);
	err = errno;
	eng->n_waiters--;
	if (wakeable) {
		waiter_remove(eng);
		if (r > 0 && (pfd[n - 1].revents & POLLIN))
			drain(tls_wake_fd);
	}
	/*
	 * The last watcher leaves: the parked background thread takes over,
	 * with a lease (this thread's unlock renews it).
	 */
	if (!eng->n_waiters && eng->bg_state == BG_PARK) {
		kick_later(eng);
		eng->bg_state = BG_LEASE;
	}
	for (i = 0; i < n_extra; i++)
		extra[i].revents = pfd[i].revents;
	if (pfd != buf)
		free(pfd);
	shim_engine_poll_hold_acks(eng); /* what woke it is mostly for the app */
	if (r < 0 && err == EINTR)
		return -EINTR;
	if (deadline_us && shim_now_us() >= deadline_us)
		return -ETIMEDOUT;
	return 0;
}

/*
 * Let served ports skip the XDP program's kernel-flow lookup (xp_prog.c).
 * The dump of the kernel's TCP sockets walks the whole host's
 * established-hash (every namespace's sockets): milliseconds of this
 * process's time. Once every served port is clean, a second's check reads
 * only their counters and dumps again when one moved (a SYN handed to the
 * kernel, a serve), else every KFLOW_DUMP_CLEAN_US for the one flow the
 * counters cannot show (its SYN came another way).
 */
static void kflow_sweep(struct shim_engine *eng, uint64_t now)
{
	eng->kflow_swept_us = now;
	if (eng->kflow_all_clean && now - eng->kflow_dumped_us < KFLOW_DUMP_CLEAN_US &&
	    xp_prog_kflow_unclean(shim.prog) == 0)
		return;
	eng->kflow_dumped_us = now;
	eng->kflow_all_clean = xp_prog_kflow_sweep(shim.prog) == 0;
}

/*
 * One turn of the background thread (lock held): drive when nobody else
 * does, then sleep as the state says.
 */
static void bg_turn(struct shim_engine *eng, unsigned long *seen_calls)
{
	struct pollfd pfd[1 + NETDEV_POLL_FDS_MAX];
	uint64_t now = shim_now_us(), until = UINT64_MAX;
	unsigned n = 1;

	if (eng->n_waiters) {
		eng->bg_state = BG_PARK;
		if (eng->flush_due)
			shim_engine_flush(eng); /* parked, it would not come back for it */
	} else if (eng->app_calls != *seen_calls) {
		eng->bg_state = BG_LEASE;
		until = now + ENGINE_LEASE_US;
		if (eng->flush_due)
			shim_engine_flush(eng); /* the app left output behind */
	} else {
		eng->bg_state = BG_WATCH;
		shim_engine_poll(eng);
		wake_waiters(eng);
		until = plan_until(eng, now, 0);
		n = add_dev_fds(eng, pfd, 1);
	}
	*seen_calls = eng->app_calls;
	shim_fdpool_trim(now);
	if (shim.prog && now - eng->kflow_swept_us >= KFLOW_SWEEP_US)
		kflow_sweep(eng, now);
	pfd[0] = (struct pollfd){.fd = eng->kick_fd, .events = POLLIN};
	engine_sleep(eng, pfd, n, 1, n - 1, until, NULL);
	if (pfd[0].revents & POLLIN)
		drain(eng->kick_fd);
}

static void *bg_main(void *arg)
{
	struct shim_engine *eng = arg;
	unsigned long seen_calls = 0;

	tls_bg = true;
	shim_lock();
	seen_calls = eng->app_calls - 1; /* the app just called: start with a lease */
	while (eng->bg_running && eng->pid == shim_pid)
		bg_turn(eng, &seen_calls);
	lock_drop();
	return NULL;
}

/*
 * The stack holds sockets that must make progress while the app computes
 * (a listener, a connection): start the background thread, once. Signals
 * belong to the app's threads: the new thread blocks them all.
 */
void shim_engine_attend(struct shim_engine *eng)
{
	sigset_t all, old;
	int err;

	if (likely(eng->bg_started))
		return;
	eng->bg_started = true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	eng->bg_running = true;
	err = pthread_create(&eng->bg, NULL, bg_main, eng);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		eng->bg_running = false;
		shim_warn("no background thread (%s): progress only inside socket calls",
			  strerror(err));
	}
}

/*
 * The app closed these connections, but their last data or FIN is not
 * acknowledged yet: the kernel would keep such orphans after the process
 * exits, a stack inside the process cannot. Without this wait an nginx
 * worker leaving after `nginx -s reload` would take its last answers'
 * retransmissions with it. Bounded by XTCP_EXIT_LINGER_MS. Lock held.
 */
void shim_engine_linger(struct shim_engine *eng, uint64_t end_us)
{
	shim_engine_flush(eng);
	while (stack_orphans_unsettled(eng->stk) && shim_now_us() < end_us)
		shim_wait_locked(eng, NULL, 0, end_us, NULL);
}
