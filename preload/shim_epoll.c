/*
 * shim_epoll.c - readiness for mixed kernel and xtcp fds: epoll_ctl,
 * epoll_wait/epoll_pwait/epoll_pwait2, poll/ppoll, select/pselect.
 *
 * epoll: the app's epoll fd stays a real epoll fd holding its kernel fds
 * (and the kernel side of xtcp listeners, for loopback connections). xtcp
 * items live in a shim_ep attached to that fd in the fd table: each item is
 * on its socket's list and, once the stack's on_event callback fires for
 * the socket, on the shim_ep's ready list. epoll_wait polls the stack,
 * harvests the ready list (re-reading sock_events(): a queued item that is
 * no longer ready is dropped, as Linux's ep_send_events does), then takes
 * the kernel's ready events with a zero-timeout epoll_wait on the real fd,
 * merging the two halves of a listener into one event. When nothing is
 * ready it sleeps in shim_wait_locked() on the real epoll fd, the AF_XDP fd
 * and the thread's wake fd. Level-triggered items stay queued after being
 * reported; EPOLLET items leave the list until the next event; EPOLLONESHOT
 * items are disabled until EPOLL_CTL_MOD.
 *
 * poll/select: the kernel fds are polled by the kernel (xtcp connection
 * slots set to -1, which poll ignores), xtcp fds by sock_events(); the
 * same sleep joins both.
 * Memory: items and shim_ep objects are malloc'd by epoll_ctl and freed by
 * EPOLL_CTL_DEL, by close of the socket or of the epoll fd.
 */
#include "shim.h"
#include "stack.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>

#define EP_FLAGS (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

/* Under load the real set is asked at least this often (kernel_due()). */
#define EP_KERNEL_EVERY_US 1000

static void efd_signal(struct shim_ep *ep)
{
	uint64_t one = 1;

	if (REAL(write)(ep->efd, &one, sizeof(one)) < 0)
		return; /* saturated: readable anyway */
}

static void efd_drain(struct shim_ep *ep)
{
	uint64_t v = 0;

	if (REAL(read)(ep->efd, &v, sizeof(v)) < 0)
		return; /* not signalled */
}

/* The tag of an ep's eventfd in its real epoll set (odd: never a user pointer). */
static uint64_t efd_tag(const struct shim_ep *ep)
{
	return (uint64_t)(uintptr_t)ep | 1;
}

static void rd_add(struct shim_epitem *it)
{
	struct shim_ep *ep = it->ep;

	if (it->queued)
		return;
	if (ep->efd >= 0 && !ep->rd_head)
		efd_signal(ep); /* an outer epoll sees this one readable */
	it->queued = true;
	it->rd_next = NULL;
	it->rd_prev = ep->rd_tail;
	if (ep->rd_tail)
		ep->rd_tail->rd_next = it;
	else
		ep->rd_head = it;
	ep->rd_tail = it;
}

static void rd_del(struct shim_epitem *it)
{
	struct shim_ep *ep = it->ep;

	if (!it->queued)
		return;
	if (it->rd_prev)
		it->rd_prev->rd_next = it->rd_next;
	else
		ep->rd_head = it->rd_next;
	if (it->rd_next)
		it->rd_next->rd_prev = it->rd_prev;
	else
		ep->rd_tail = it->rd_prev;
	it->queued = false;
}

void shim_ep_sock_event(struct shim_sock *s)
{
	struct shim_epitem *it;

	for (it = s->items; it; it = it->s_next)
		if (!it->disabled)
			rd_add(it);
}

/* Unlink it from its epoll and its socket, and free it. */
static void item_free(struct shim_epitem *it)
{
	struct shim_ep *ep = it->ep;
	struct shim_epitem **pp;

	rd_del(it);
	if (it->ep_prev)
		it->ep_prev->ep_next = it->ep_next;
	else
		ep->items = it->ep_next;
	if (it->ep_next)
		it->ep_next->ep_prev = it->ep_prev;
	ep->n_items--;
	for (pp = &it->s->items; *pp; pp = &(*pp)->s_next) {
		if (*pp == it) {
			*pp = it->s_next;
			break;
		}
	}
	free(it);
}

/*
 * The reverse of shim_ep_adopt(): fd (of s) is now a kernel socket, so its
 * registrations go to the real epoll fds with the same events and data; a
 * disabled EPOLLONESHOT item stays disabled there (events 0).
 */
void shim_ep_export(struct shim_sock *s, int fd)
{
	struct shim_epitem *it, *next;

	for (it = s->items; it; it = next) {
		next = it->s_next;
		if (it->fd != fd)
			continue;
		struct epoll_event ev = {.events = it->disabled ? 0 : it->events, .data = it->data};

		if (REAL(epoll_ctl)(it->ep->fd, EPOLL_CTL_ADD, fd, &ev))
			shim_warn("fd %d: epoll registration lost moving it to the kernel: %s", fd,
				  strerror(errno));
		item_free(it);
	}
}

void shim_ep_sock_gone(struct shim_sock *s)
{
	while (s->items)
		item_free(s->items);
}

void shim_ep_close(struct shim_ep *ep)
{
	while (ep->items)
		item_free(ep->items);
	if (ep->efd >= 0)
		REAL(close)(ep->efd);
	free(ep);
}

static struct shim_ep *ep_of(int epfd)
{
	struct shim_fd_obj *o = shim_fd_get(epfd);

	return (o && o->kind == SHIM_FD_EPOLL) ? (struct shim_ep *)o : NULL;
}

/* 1: fd is an epoll fd, 0: it is not, -1: cannot tell (no /proc). */
static int epoll_fd_kind(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT && REAL(fcntl)(fd, F_GETFD, 0) >= 0 ? -1 : 0;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventpoll]");
}

static bool is_epoll_fd(int fd)
{
	return epoll_fd_kind(fd) == 1;
}

/* The shim_ep of epfd, made on its first xtcp item: NULL if epfd is no epoll fd. */
static struct shim_ep *ep_get(int epfd, int *err)
{
	struct shim_ep *ep = ep_of(epfd);

	if (ep)
		return ep;
	if (shim_fd_get(epfd) || !epoll_fd_kind(epfd)) { /* without /proc: trust the app */
		*err = REAL(fcntl)(epfd, F_GETFD, 0) < 0 ? -EBADF : -EINVAL;
		return NULL;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		*err = -ENOMEM;
		return NULL;
	}
	ep->obj.kind = SHIM_FD_EPOLL;
	ep->fd = epfd;
	ep->efd = -1;
	shim_fd_set(epfd, &ep->obj);
	return ep;
}

static struct shim_epitem *item_find(struct shim_sock *s, struct shim_ep *ep, int fd)
{
	struct shim_epitem *it;

	for (it = s->items; it; it = it->s_next)
		if (it->ep == ep && it->fd == fd)
			return it;
	return NULL;
}

static int item_ctl(int epfd, int op, int fd, struct shim_sock *s, struct epoll_event *ev)
{
	struct shim_epitem *it;
	struct shim_ep *ep;
	int err = 0;

	ep = ep_get(epfd, &err);
	if (!ep)
		return err;
	it = item_find(s, ep, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it)
			return -EEXIST;
		it = calloc(1, sizeof(*it));
		if (!it)
			return -ENOMEM;
		it->ep = ep;
		it->s = s;
		it->fd = fd;
		it->ep_next = ep->items;
		if (ep->items)
			ep->items->ep_prev = it;
		ep->items = it;
		ep->n_items++;
		it->s_next = s->items;
		s->items = it;
		break;
	case EPOLL_CTL_MOD:
		if (!it)
			return -ENOENT;
		if ((ev->events & EPOLLEXCLUSIVE) || (it->events & EPOLLEXCLUSIVE))
			return -EINVAL;
		break;
	case EPOLL_CTL_DEL:
		if (!it)
			return -ENOENT;
		item_free(it);
		return 0;
	default:
		return -EINVAL;
	}
	it->events = ev->events;
	it->data = ev->data;
	it->disabled = false;
	rd_add(it); /* as Linux, an item already ready is reported at once */
	return 0;
}

/*
 * An epoll fd added to another epoll set (epoll in epoll). The kernel nests
 * the real fds; for the inner one's xtcp items to make it readable, it gets
 * an eventfd in its real set, signalled while items are queued. The outer
 * one becomes a shim_ep too, so its epoll_wait drives the stack.
 */
static int nest_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_ep *inner, *outer;
	struct epoll_event tev = {.events = EPOLLIN};
	int r, err = 0;

	r = REAL(epoll_ctl)(epfd, op, fd, ev);
	if (r || op != EPOLL_CTL_ADD)
		return r;
	shim_lock();
	inner = ep_get(fd, &err);
	outer = inner ? ep_get(epfd, &err) : NULL;
	if (inner && outer && inner->efd < 0) {
		inner->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		tev.data.u64 = efd_tag(inner);
		if (inner->efd >= 0 && REAL(epoll_ctl)(fd, EPOLL_CTL_ADD, inner->efd, &tev)) {
			REAL(close)(inner->efd);
			inner->efd = -1;
		}
		if (inner->efd >= 0 && inner->rd_head)
			efd_signal(inner);
	}
	if (outer)
		outer->n_nested++;
	shim_unlock(NULL);
	return 0;
}

/*
 * Kernel epoll registrations of unconnected TCP/IPv4 sockets, kept in a
 * process that may connect() on xtcp (XTCP_CONNECT_PORTS): nginx adds an
 * upstream socket to its epoll set before connect(); when connect() moves
 * the socket to xtcp, its registrations move with it (shim_ep_adopt()),
 * else its events would never come. A short list: entries leave at
 * connect(), EPOLL_CTL_DEL and close(); capped against leaks (fds closed
 * by other means).
 */
struct kreg {
	struct kreg *next;
	int fd, epfd;
	struct epoll_event ev;
};
#define KREG_MAX 4096
static struct kreg *kregs;
static unsigned n_kregs;

static bool connect_candidate(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t sl = sizeof(sa);

	return (shim_is_tcp4(fd) || shim_is_tcp6(fd)) &&
	       REAL(getpeername)(fd, (struct sockaddr *)&sa, &sl) && errno == ENOTCONN;
}

/* Forget fd's registrations, or only those in epfd (>= 0). Lock held. */
static void kreg_drop(int fd, int epfd)
{
	struct kreg **pp = &kregs, *k;

	while ((k = *pp)) {
		if (k->fd == fd && (epfd < 0 || k->epfd == epfd)) {
			*pp = k->next;
			free(k);
			n_kregs--;
		} else {
			pp = &k->next;
		}
	}
}

/* A successful epoll_ctl of a kernel fd: follow it. Lock held. */
static void kreg_note(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct kreg *k;

	if (op == EPOLL_CTL_DEL) {
		kreg_drop(fd, epfd);
		return;
	}
	for (k = kregs; k; k = k->next)
		if (k->fd == fd && k->epfd == epfd) {
			k->ev = *ev; /* EPOLL_CTL_MOD */
			return;
		}
	if (op != EPOLL_CTL_ADD || n_kregs >= KREG_MAX || !connect_candidate(fd))
		return;
	k = malloc(sizeof(*k));
	if (!k)
		return;
	*k = (struct kreg){.next = kregs, .fd = fd, .epfd = epfd, .ev = *ev};
	kregs = k;
	n_kregs++;
}

/*
 * Never waits for the lock: the shim's own close() calls (netlink sockets,
 * inside connect()) come here with it held. A record left behind is
 * harmless: shim_ep_adopt() checks with the kernel that it still holds.
 */
void shim_ep_forget(int fd)
{
	if (!__atomic_load_n(&n_kregs, __ATOMIC_RELAXED) || !shim_trylock())
		return;
	kreg_drop(fd, -1);
	shim_unlock(NULL);
}

void shim_ep_adopt(int fd, struct shim_sock *s)
{
	struct kreg **pp = &kregs, *k;

	while ((k = *pp)) {
		if (k->fd != fd) {
			pp = &k->next;
			continue;
		}
		/* Still registered there (the DEL says so): same events and data on xtcp. */
		if (!REAL(epoll_ctl)(k->epfd, EPOLL_CTL_DEL, fd, NULL))
			item_ctl(k->epfd, EPOLL_CTL_ADD, fd, s, &k->ev);
		*pp = k->next;
		free(k);
		n_kregs--;
	}
}

int shim_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct shim_sock *s = shim_sock_of(fd);
	struct shim_engine *eng;
	int r;

	if (!s) {
		struct shim_fd_obj *o = shim_fd_get(fd);

		/* epoll in epoll: only an ADD of an fd the shim does not know costs a check */
		if ((o && o->kind == SHIM_FD_EPOLL) ||
		    (!o && op == EPOLL_CTL_ADD && is_epoll_fd(fd)))
			return nest_ctl(epfd, op, fd, ev);
		r = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (!r && !o && shim.cfg.n_connect_ports && (ev || op == EPOLL_CTL_DEL)) {
			int saved = errno;

			shim_lock();
			kreg_note(epfd, op, fd, ev);
			shim_unlock(NULL);
			errno = saved;
		}
		return r;
	}
	if (op != EPOLL_CTL_DEL && !ev)
		return shim_errno(-EFAULT);
	if (epfd == fd)
		return shim_errno(-EINVAL);
	shim_lock();
	/* Adding a served listener is its first use in an nginx worker: start the engine. */
	eng = s->role == SHIM_LISTENER ? shim_listener_use(s) : shim_engine_cur();
	if (s->role != SHIM_CONN) {
		/* The kernel half (loopback, fallback) validates op and ev for both halves. */
		r = REAL(epoll_ctl)(epfd, op, fd, ev) ? -errno : 0;
		if (!r && shim_sock_live(s, eng)) {
			r = item_ctl(epfd, op, fd, s, ev);
			if (r == -EEXIST || r == -ENOENT)
				r = 0; /* our half was out of step (dup/close games): follow the
					  kernel */
		}
	} else if (!shim_sock_live(s, eng)) {
		r = -EBADF;
	} else {
		r = item_ctl(epfd, op, fd, s, ev);
	}
	shim_unlock(eng);
	return r ? shim_errno(r) : 0;
}

static uint32_t item_events(struct shim_engine *eng, struct shim_epitem *it)
{
	struct shim_sock *s = it->s;

	if (!shim_sock_live(s, eng))
		return 0;
	return (sock_events(eng->stk, s->sd) | shim_zc_events(s)) &
	       (it->events | EPOLLERR | EPOLLHUP) & ~EP_FLAGS;
}

/* Report ready xtcp items; lst[] gets the indexes of listener events (for merging). */
static int harvest(struct shim_engine *eng, struct shim_ep *ep, struct epoll_event *evs, int max,
		   int *lst, int *n_lst)
{
	struct shim_epitem *it = ep->rd_head, *next;
	int n = 0;
	uint32_t ev;

	ep->rd_head = ep->rd_tail = NULL;
	for (; it; it = next) {
		next = it->rd_next;
		it->queued = false;
		if (n >= max) {
			rd_add(it);
			continue;
		}
		if (it->disabled)
			continue;
		ev = item_events(eng, it);
		if (!ev)
			continue;
		if (it->s->role == SHIM_LISTENER && *n_lst < 8)
			lst[(*n_lst)++] = n;
		evs[n].events = ev;
		evs[n].data = it->data;
		n++;
		if (it->events & EPOLLONESHOT)
			it->disabled = true;
		else if (!(it->events & EPOLLET))
			rd_add(it); /* level-triggered: ask again next time */
	}
	return n;
}

/* Kernel events evs[n..n+m) join the xtcp ones; a listener's two halves become one event. */
static int merge(struct epoll_event *evs, int n, int m, const int *lst, int n_lst)
{
	int k, j, out = n;

	for (k = n; k < n + m; k++) {
		for (j = 0; j < n_lst; j++) {
			if (evs[lst[j]].data.u64 == evs[k].data.u64) {
				evs[lst[j]].events |= evs[k].events;
				break;
			}
		}
		if (j == n_lst)
			evs[out++] = evs[k];
	}
	return out;
}

/* Remove our eventfd's event from kernel results. */
static int drop_tag(const struct shim_ep *ep, struct epoll_event *evs, int m)
{
	int i, k = 0;

	for (i = 0; i < m; i++)
		if (evs[i].data.u64 != efd_tag(ep))
			evs[k++] = evs[i];
	return k;
}

/*
 * Must this turn of ep_wait() ask the real set too? With nothing of xtcp's
 * to report: yes, unless the turn goes to sleep next, whose ppoll watches
 * the real set anyway (woken by it, the next turn asks). With xtcp events
 * in hand: only if the real set was last found drained at least
 * EP_KERNEL_EVERY_US ago. Under load each loop iteration of the app
 * otherwise paid a system call for a set (the kernel half of a listener,
 * the app's pipes and timers) that almost never has anything; a kernel fd
 * that becomes ready meanwhile is reported up to that much later, as if
 * its event had come later.
 */
static bool kernel_due(const struct shim_ep *ep, int n, bool will_sleep)
{
	if (!n)
		return !will_sleep;
	return shim_now_us() - ep->kernel_seen_us >= EP_KERNEL_EVERY_US;
}

/* timeout_us < 0: forever. Returns the count or -errno. */
static int ep_wait(struct shim_engine *eng, struct shim_ep *ep, struct epoll_event *evs, int max,
		   int64_t timeout_us, const sigset_t *mask)
{
	uint64_t start = shim_now_us();
	uint64_t deadline = timeout_us > 0 ? start + (uint64_t)timeout_us : 0;
	bool timed_out = false, kernel_woke = false, will_sleep;
	int n, m, w, lst[8], n_lst;

	shim_batch_set(false);
	for (;;) {
		shim_engine_poll_hold_acks(eng);
		n_lst = 0;
		n = harvest(eng, ep, evs, max, lst, &n_lst);
		if (ep->efd >= 0 && !ep->rd_head)
			efd_drain(ep); /* nothing queued: the outer epoll must not see us ready */
		will_sleep = timeout_us != 0 && !timed_out &&
			     !(shim.cfg.spin_us && shim_now_us() - start < shim.cfg.spin_us);
		if (n < max && (kernel_woke || kernel_due(ep, n, will_sleep))) {
			m = REAL(epoll_wait)(ep->fd, evs + n, max - n, 0);
			if (m < 0 && !n)
				return -errno;
			if (m >= 0 && m < max - n)
				ep->kernel_seen_us = shim_now_us();
			if (m > 0 && ep->efd >= 0)
				m = drop_tag(ep, evs + n, m);
			if (m > 0)
				n = merge(evs, n, m, lst, n_lst);
		}
		if (n > 0 || timeout_us == 0 || timed_out) {
			shim_batch_set(n > 0); /* sends until the next wait: one TX kick */
			return n;
		}
		if (!will_sleep)
			continue; /* spinning */
		struct pollfd p = {.fd = ep->fd, .events = POLLIN};
		w = shim_wait_locked(eng, &p, 1, deadline, mask);
		if (w == -EINTR || w == -ENOMEM)
			return w;
		timed_out = w == -ETIMEDOUT;
		kernel_woke = p.revents != 0;
		if (!kernel_woke)
			ep->kernel_seen_us = shim_now_us(); /* the sleep's ppoll found it drained */
	}
}

/* No engine in this process: wait in the kernel alone, dropping our eventfd's events. */
static int ep_wait_kernel(struct shim_ep *ep, struct epoll_event *evs, int max, int64_t timeout_us,
			  const sigset_t *mask)
{
	struct timespec ts = {(time_t)(timeout_us / 1000000), (long)(timeout_us % 1000000) * 1000};
	int m;

	efd_drain(ep);
	do {
		shim_unlock(NULL);
		m = REAL(epoll_pwait2)(ep->fd, evs, max, timeout_us < 0 ? NULL : &ts, mask);
		shim_lock();
		if (m < 0)
			return -errno;
		m = drop_tag(ep, evs, m);
	} while (m == 0 && timeout_us < 0);
	return m;
}

/* Common entry: NULL engine or no xtcp items -> the caller goes to libc. */
static int ep_enter(int epfd, struct epoll_event *evs, int max, int64_t timeout_us,
		    const sigset_t *mask, bool *handled)
{
	struct shim_ep *ep = ep_of(epfd);
	struct shim_engine *eng;
	int r;

	*handled = false;
	if (!ep || (!ep->n_items && !ep->n_nested && ep->efd < 0))
		return 0;
	if (max <= 0)
		return shim_errno(-EINVAL);
	if (!evs)
		return shim_errno(-EFAULT);
	shim_lock();
	eng = shim_engine_cur();
	if (!eng && ep->efd < 0) {
		shim_unlock(eng);
		return 0;
	}
	*handled = true;
	if (!eng) {
		/* Only kernel fds can become ready; hide our eventfd from the result. */
		r = ep_wait_kernel(ep, evs, max, timeout_us, mask);
		shim_unlock(NULL);
		return r < 0 ? shim_errno(r) : r;
	}
	r = ep_wait(eng, ep, evs, max, timeout_us, mask);
	shim_unlock(eng);
	return r < 0 ? shim_errno(r) : r;
}

static int64_t ms_to_us(int ms)
{
	return ms < 0 ? -1 : (int64_t)ms * 1000;
}

int shim_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	bool handled;
	int r = ep_enter(epfd, evs, max, ms_to_us(timeout), NULL, &handled);

	return handled || r < 0 ? r : REAL(epoll_wait)(epfd, evs, max, timeout);
}

int shim_epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *mask)
{
	bool handled;
	int r = ep_enter(epfd, evs, max, ms_to_us(timeout), mask, &handled);

	return handled || r < 0 ? r : REAL(epoll_pwait)(epfd, evs, max, timeout, mask);
}

static int64_t ts_to_us(const struct timespec *ts)
{
	if (!ts)
		return -1;
	return (int64_t)ts->tv_sec * 1000000 + (ts->tv_nsec + 999) / 1000;
}

int shim_epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *tmo,
		      const sigset_t *mask)
{
	bool handled;
	int r;

	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000))
		return shim_errno(-EINVAL);
	r = ep_enter(epfd, evs, max, ts_to_us(tmo), mask, &handled);
	return handled || r < 0 ? r : REAL(epoll_pwait2)(epfd, evs, max, tmo, mask);
}

/* --- poll and select --- */

static bool any_shim_fd(const struct pollfd *fds, nfds_t n)
{
	nfds_t i;

	for (i = 0; i < n; i++)
		if (shim_fd_get(fds[i].fd))
			return true;
	return false;
}

/* Is an epoll object ready through its xtcp items (without consuming anything)? */
static bool ep_ready(struct shim_engine *eng, struct shim_ep *ep)
{
	struct shim_epitem *it;

	for (it = ep->rd_head; it; it = it->rd_next)
		if (!it->disabled && item_events(eng, it))
			return true;
	return false;
}

static short xtcp_revents(struct shim_engine *eng, const struct pollfd *p)
{
	struct shim_fd_obj *o = shim_fd_get(p->fd);
	short want = p->events | POLLERR | POLLHUP;

	if (!o)
		return 0;
	if (o->kind == SHIM_FD_EPOLL)
		return eng && ep_ready(eng, (struct shim_ep *)o) ? (p->events & POLLIN) : 0;
	struct shim_sock *s = (struct shim_sock *)o;

	if (!shim_sock_live(s, eng))
		return s->role == SHIM_CONN ? POLLNVAL : 0;
	return (short)((sock_events(eng->stk, s->sd) | shim_zc_events(s)) &
		       (uint32_t)(unsigned short)want);
}

static int poll_core_blocked(struct pollfd *fds, nfds_t n, int64_t timeout_us,
			     const sigset_t *mask);

/*
 * Programs that fork from signal handlers (the PostgreSQL postmaster) keep
 * signals blocked except while they wait in select()/poll(). The shim's
 * work inside those calls (stack_poll, which may allocate) must not be
 * interrupted by such a handler: glibc's fork() would wait for a malloc
 * lock that the interrupted code holds. So signals stay blocked while the
 * shim works and are let in only by the sleep itself (ppoll with the
 * program's mask), as in the kernel's own select().
 */
int shim_poll_core(struct pollfd *fds, nfds_t n, int64_t timeout_us, const sigset_t *mask)
{
	sigset_t all, app;
	int cnt;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &app);
	cnt = poll_core_blocked(fds, n, timeout_us, mask ? mask : &app);
	pthread_sigmask(SIG_SETMASK, &app, NULL);
	return cnt;
}

/* shim_poll_core() with every signal blocked; mask is what the sleep lets in. */
static int poll_core_blocked(struct pollfd *fds, nfds_t n, int64_t timeout_us, const sigset_t *mask)
{
	struct pollfd local[64], *kfds = local;
	struct shim_engine *eng;
	uint64_t deadline = timeout_us > 0 ? shim_now_us() + (uint64_t)timeout_us : 0;
	bool timed_out = false;
	int cnt, w, m;
	nfds_t i;

	if (n > 64) {
		kfds = malloc(n * sizeof(*kfds));
		if (!kfds)
			return -ENOMEM;
	}
	shim_lock();
	eng = NULL;
	for (i = 0; i < n; i++) {
		struct shim_sock *s = shim_sock_of(fds[i].fd);

		kfds[i] = fds[i];
		if (s && s->role == SHIM_LISTENER)
			eng = shim_listener_use(s); /* first use of a listener */
		if (s && s->role == SHIM_CONN)
			kfds[i].fd = -1; /* the placeholder has nothing to say */
	}
	if (!eng)
		eng = shim_engine_cur();
	shim_batch_set(false);
	for (;;) {
		if (eng)
			shim_engine_poll_hold_acks(eng);
		cnt = 0;
		for (i = 0; i < n; i++)
			fds[i].revents = fds[i].fd < 0 ? 0 : xtcp_revents(eng, &fds[i]);
		m = REAL(poll)(kfds, n, 0);
		if (m < 0) {
			cnt = -errno;
			break;
		}
		for (i = 0; i < n; i++) {
			if (kfds[i].fd >= 0)
				fds[i].revents |= kfds[i].revents;
			if (fds[i].revents)
				cnt++;
		}
		if (cnt || timeout_us == 0 || timed_out) {
			shim_batch_set(cnt > 0 && eng); /* sends until the next wait: one TX kick */
			break;
		}
		if (!eng) {
			/* Only stale xtcp fds: nothing of ours can change, the kernel's can. */
			struct timespec ts = {(time_t)(timeout_us / 1000000),
					      (long)(timeout_us % 1000000) * 1000};

			shim_unlock(NULL);
			m = REAL(ppoll)(kfds, n, timeout_us < 0 ? NULL : &ts, mask);
			shim_lock();
			if (m < 0 && errno == EINTR) {
				cnt = -EINTR;
				break;
			}
			timed_out = true;
			continue;
		}
		w = shim_wait_locked(eng, kfds, (unsigned)n, deadline, mask);
		if (w == -EINTR || w == -ENOMEM) {
			cnt = w;
			break;
		}
		timed_out = w == -ETIMEDOUT;
	}
	shim_unlock(eng);
	if (kfds != local)
		free(kfds);
	return cnt;
}

int shim_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int r;

	if (!fds || !any_shim_fd(fds, n))
		return REAL(poll)(fds, n, timeout);
	r = shim_poll_core(fds, n, ms_to_us(timeout), NULL);
	return r < 0 ? shim_errno(r) : r;
}

int shim___poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		return REAL(__poll_chk)(fds, n, timeout, fdslen); /* reports the overflow */
	return shim_poll(fds, n, timeout);
}

int shim_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask)
{
	int r;

	if (!fds || !any_shim_fd(fds, n))
		return REAL(ppoll)(fds, n, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000))
		return shim_errno(-EINVAL);
	r = shim_poll_core(fds, n, ts_to_us(tmo), mask);
	return r < 0 ? shim_errno(r) : r;
}

int shim___ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
		     size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		return REAL(__ppoll_chk)(fds, n, tmo, mask, fdslen);
	return shim_ppoll(fds, n, tmo, mask);
}

#define SEL_IN	(POLLIN | POLLHUP | POLLERR)
#define SEL_OUT (POLLOUT | POLLERR)
#define SEL_EX	(POLLPRI)

static bool sets_have_shim_fd(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	int fd;

	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) &&
		    shim_fd_get(fd))
			return true;
	return false;
}

/* select over poll: returns the bit count or -errno. */
static int select_core(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t timeout_us,
		       const sigset_t *mask)
{
	struct pollfd *p;
	int fd, k = 0, n, bits = 0;

	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	p = malloc(sizeof(*p) * (size_t)(nfds ? nfds : 1));
	if (!p)
		return -ENOMEM;
	for (fd = 0; fd < nfds; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (ev)
			p[k++] = (struct pollfd){.fd = fd, .events = ev};
	}
	n = shim_poll_core(p, (nfds_t)k, timeout_us, mask);
	if (n < 0) {
		free(p);
		return n;
	}
	for (fd = 0; fd < k; fd++) {
		if (p[fd].revents & POLLNVAL) {
			free(p);
			return -EBADF;
		}
	}
	if (r)
		FD_ZERO(r);
	if (w)
		FD_ZERO(w);
	if (e)
		FD_ZERO(e);
	for (fd = 0; fd < k; fd++) {
		if (r && (p[fd].events & POLLIN) && (p[fd].revents & SEL_IN)) {
			FD_SET(p[fd].fd, r);
			bits++;
		}
		if (w && (p[fd].events & POLLOUT) && (p[fd].revents & SEL_OUT)) {
			FD_SET(p[fd].fd, w);
			bits++;
		}
		if (e && (p[fd].events & POLLPRI) && (p[fd].revents & SEL_EX)) {
			FD_SET(p[fd].fd, e);
			bits++;
		}
	}
	free(p);
	return bits;
}

int shim_select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tmo)
{
	int64_t us;
	uint64_t start;
	int n;

	if (nfds < 0 || !sets_have_shim_fd(nfds, r, w, e))
		return REAL(select)(nfds, r, w, e, tmo);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_usec < 0))
		return shim_errno(-EINVAL);
	us = tmo ? (int64_t)tmo->tv_sec * 1000000 + tmo->tv_usec : -1;
	start = shim_now_us();
	n = select_core(nfds, r, w, e, us, NULL);
	if (tmo) {
		/* Linux writes back the time not slept. */
		int64_t left = us - (int64_t)(shim_now_us() - start);

		if (left < 0)
			left = 0;
		tmo->tv_sec = left / 1000000;
		tmo->tv_usec = left % 1000000;
	}
	return n < 0 ? shim_errno(n) : n;
}

int shim_pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo,
		 const sigset_t *mask)
{
	int n;

	if (nfds < 0 || !sets_have_shim_fd(nfds, r, w, e))
		return REAL(pselect)(nfds, r, w, e, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000))
		return shim_errno(-EINVAL);
	n = select_core(nfds, r, w, e, ts_to_us(tmo), mask);
	return n < 0 ? shim_errno(n) : n;
}
