/*
 * shim.h - what the files of preload/ share: the real-function table, the
 * socket and epoll objects of the fd table, the per-process engine, logging.
 *
 * Locking: one mutex per process (shim.lock) serialises the stack, the
 * engine, every shim_sock/shim_ep field that is not immutable, and the fd
 * table's writers. Readers of the fd table do not lock (shim_fd.h). Blocking
 * waits drop the lock while they sleep (shim_wait_locked).
 */
#ifndef XTCP_SHIM_H
#define XTCP_SHIM_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "shim_config.h"
#include "shim_fd.h"

#define SHIM_EXPORT __attribute__((visibility("default")))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* glibc declares these only under _FORTIFY_SOURCE, which the shim is built without. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
		size_t fdslen);

/* --- the real functions: table, lazy resolvers, hand-written hooks --- */
#define SHIM_SYSCALL(ret, name, proto, args) typedef ret(*shim_fn_##name) proto;
#define SHIM_SYSCALL_RAW(ret, name, proto)   typedef ret(*shim_fn_##name) proto;
#include "shim_syscalls.def"

struct shim_real_table {
#define SHIM_SYSCALL(ret, name, proto, args) shim_fn_##name name;
#define SHIM_SYSCALL_RAW(ret, name, proto)   shim_fn_##name name;
#include "shim_syscalls.def"
};
extern struct shim_real_table shim_real;

#define SHIM_SYSCALL(ret, name, proto, args)                                                       \
	shim_fn_##name shim_resolve_##name(void);                                                  \
	ret shim_##name proto;
#define SHIM_SYSCALL_RAW(ret, name, proto) shim_fn_##name shim_resolve_##name(void);
#include "shim_syscalls.def"

/* The libc function behind a hook; resolved on first use, so safe before the constructor. */
#define REAL(name) (likely(shim_real.name != NULL) ? shim_real.name : shim_resolve_##name())

/* --- objects of the fd table --- */
enum shim_role {
	SHIM_BOUND = 1, /* bound to a served port, not yet listening */
	SHIM_LISTENER,	/* listening: kernel socket listens too (loopback, fallback) */
	SHIM_CONN,	/* an xtcp connection; the fd is a placeholder kernel socket */
};

#define SHIM_MAX_OPTS 8
struct shim_opt {
	int level, name, val;
};

struct shim_epitem;

/* MSG_ZEROCOPY state of a connection (shim_zc.c). */
struct shim_zc {
	bool on;	 /* SO_ZEROCOPY */
	bool queued;	 /* a completion waits on the error queue: EPOLLERR */
	uint32_t next;	 /* id of the next MSG_ZEROCOPY send (Linux sk_zckey) */
	uint32_t lo, hi; /* ids the waiting completion covers */
};

struct shim_sock {
	struct shim_fd_obj obj;	    /* kind SHIM_FD_SOCK: must be first */
	int role;		    /* enum shim_role */
	int fd;			    /* the first fd naming it (the kernel socket for listeners) */
	int refs;		    /* fds naming it (dup) */
	unsigned gen;		    /* engine generation in which sd is valid */
	int sd;			    /* stack socket in that engine, -1 if none */
	unsigned busy;		    /* threads inside a data call on it (may sleep there) */
	bool nonblock;		    /* the app's O_NONBLOCK (conns; listeners use the kernel's) */
	bool connecting;	    /* non-blocking connect in progress */
	bool connected;		    /* connect completed (EISCONN on another connect) */
	uint64_t rcvtimeo_us;	    /* SO_RCVTIMEO, 0 = none */
	uint64_t sndtimeo_us;	    /* SO_SNDTIMEO */
	struct sockaddr_in local;   /* listeners: the bound address */
	bool inet6;		    /* an AF_INET6 socket (served dual-stack unless v6only) */
	bool v6only;		    /* its IPV6_V6ONLY at bind */
	struct sockaddr_in6 local6; /* AF_INET6 listeners: the bound address */
	int backlog;
	unsigned n_opts; /* options replayed in each process's stack, inherited by accept */
	struct shim_opt opts[SHIM_MAX_OPTS];
	struct shim_epitem *items; /* epoll interest items on this socket */
	struct shim_sock *next_free;
	struct shim_zc zc; /* SO_ZEROCOPY and its error queue (shim_zc.c) */
	/* fd is a placeholder dup of ours whose close-on-exec flag is fd_cloexec (shim_fdpool.c) */
	bool fd_poolable;
	bool fd_cloexec;
};

/* One xtcp fd in one epoll set (kernel fds live in the real epoll fd). */
struct shim_epitem {
	struct shim_ep *ep;
	struct shim_sock *s;
	int fd;
	uint32_t events; /* as given: EPOLLIN.. | EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE */
	epoll_data_t data;
	bool disabled;			       /* EPOLLONESHOT fired, until EPOLL_CTL_MOD */
	bool queued;			       /* on ep's ready list */
	struct shim_epitem *ep_next, *ep_prev; /* all items of ep */
	struct shim_epitem *rd_next, *rd_prev; /* ep's ready list */
	struct shim_epitem *s_next;	       /* all items of s */
};

struct shim_ep {
	struct shim_fd_obj obj; /* kind SHIM_FD_EPOLL */
	int fd;
	unsigned n_items;
	struct shim_epitem *items;
	struct shim_epitem *rd_head, *rd_tail;
	int efd;	   /* nested in another epoll: eventfd in our real set, signalled
			      while xtcp items are queued; -1 otherwise */
	unsigned n_nested; /* epoll fds with xtcp items nested in this one */
	/* when the real set was last found drained (shim_now_us()) */
	uint64_t kernel_seen_us;
};

/* --- the per-process engine (shim_engine.c: the loop; shim_start.c: its life) --- */
#define SHIM_MAX_PORTS	 64
#define SHIM_MAX_WAITERS 64
struct stack;
struct xp_port;
struct netdev;

/* What the background thread does now (shim_engine.c: who drives). */
enum shim_bg_state {
	BG_RUN = 0, /* driving, or not started */
	BG_WATCH,   /* asleep on the netdev's fds: nobody else watches */
	BG_LEASE,   /* the app called in recently: it drives; look again at the lease's end */
	BG_PARK,    /* an app thread asleep in the shim watches: until kick_fd expires */
};

struct shim_engine {
	pid_t pid;	  /* owner; any other pid sees it as abandoned (fork) */
	unsigned gen;	  /* matches shim_sock.gen of sockets in this stack */
	unsigned n_ports; /* AF_XDP ports: 1, or every free queue */
	struct xp_port *ports[SHIM_MAX_PORTS]; /* for drain and statistics; data goes through dev */
	struct netdev *dev;		       /* the one netdev the stack sees (owns the ports) */
	struct stack *stk;
	unsigned queue;			 /* the first port's queue */
	int kick_fd;			 /* timerfd: wakes the parked background thread */
	uint64_t kick_due_us;		 /* kick_fd armed to expire then (0: never armed) */
	uint64_t last_poll_us;		 /* the last stack_poll by anyone */
	uint64_t events;		 /* on_event calls since the last wake-up of waiters */
	unsigned long app_calls;	 /* app threads' calls in: renew the lease */
	unsigned n_waiters;		 /* app threads asleep in shim_wait_locked */
	unsigned n_wake;		 /* of which can be woken through waiter_fd[] */
	int waiter_fd[SHIM_MAX_WAITERS]; /* their wake eventfds */
	enum shim_bg_state bg_state;
	pthread_t bg;
	bool bg_started;	 /* at the first listener or connection (shim_engine_attend) */
	bool bg_running;	 /* cleared to stop it (fork child) */
	bool draining;		 /* last listener closed: new flows go to the kernel */
	bool flush_due;		 /* output left for the next poll (shim_engine_flush_soon) */
	uint64_t flush_due_us;	 /* when flush_due was set */
	uint64_t kflow_swept_us; /* the background thread's last xp_prog_kflow_sweep() */
	/* its last sock_diag dump, and whether that found every served port clean */
	uint64_t kflow_dumped_us;
	bool kflow_all_clean;
};

struct shim_state {
	pthread_mutex_t lock;
	struct shim_config cfg;
	struct xp_prog *prog;	 /* the attached XDP program, NULL until a served listen */
	bool prog_failed;	 /* attaching failed: everything stays on the kernel */
	struct shim_engine *eng; /* this process's engine (check eng->pid) */
	pid_t eng_failed_pid;	 /* the process in which starting an engine failed */
	bool forked;		 /* this process is a fork() child of one running the shim */
	unsigned gen;		 /* engine generations, never reused */
	int template_fd;	 /* kernel socket dup'ed as placeholder for xtcp conns */
	int template6_fd;	 /* the same for AF_INET6 conns */
};

extern struct shim_state shim;
extern pid_t shim_pid;	/* getpid(), cached: set by the constructor and the fork child handler */
extern int shim_active; /* XTCP_* config valid: hooks do their work; else straight to libc */

/* --- shim_init.c --- */
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define shim_err(...)	shim_log(SHIM_LOG_ERROR, __VA_ARGS__)
#define shim_warn(...)	shim_log(SHIM_LOG_WARN, __VA_ARGS__)
#define shim_info(...)	shim_log(SHIM_LOG_INFO, __VA_ARGS__)
#define shim_debug(...) shim_log(SHIM_LOG_DEBUG, __VA_ARGS__)
/* Start-up failure: one line, then fall back (or exit 1 with XTCP_STRICT=1). */
void shim_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline uint64_t shim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
static inline int shim_errno(int neg)
{
	errno = -neg;
	return -1;
}

/* --- shim_engine.c: the loop --- */
void shim_lock(void);
bool shim_trylock(void);
/* Drop the lock, waking threads asleep in the shim if events happened meanwhile. */
void shim_unlock(struct shim_engine *eng);
bool shim_lock_held_here(void); /* this thread holds shim.lock */
/* The engine if started in this process, without starting one. */
struct shim_engine *shim_engine_cur(void);
/* Poll the stack now (lock held): one loop iteration without sleep. */
void shim_engine_poll(struct shim_engine *eng);
/* The same where a read or accept found nothing: inside a batch, no output yet. */
void shim_engine_poll_quiet(struct shim_engine *eng);
/* The poll whose events a wait returns: requests' ACKs wait for the answers. */
void shim_engine_poll_hold_acks(struct shim_engine *eng);
/* Flush pending output (lock held). */
void shim_engine_flush(struct shim_engine *eng);
/* After a send or read: deferred while this thread serves a batch of events. */
void shim_engine_flush_soon(struct shim_engine *eng);
/* This thread got events from epoll_wait/poll (true) or is back to wait (false). */
void shim_batch_set(bool on);
/*
 * Sleep with the lock dropped until frames arrive, another thread signals,
 * one of extra[] is ready, the stack's next timer, or deadline_us (0 = none).
 * Returns 0 (re-check), -ETIMEDOUT, -EINTR or -ENOMEM; lock held again on return.
 */
int shim_wait_locked(struct shim_engine *eng, struct pollfd *extra, unsigned n_extra,
		     uint64_t deadline_us, const sigset_t *mask);
/* stack_config.on_event: queue the socket's epoll items, wake sleepers at unlock. */
void shim_engine_on_event(void *ctx, int sd);
/* The stack holds sockets that need progress without the app: start the background thread. */
void shim_engine_attend(struct shim_engine *eng);
/* Exit: wait (until end_us) for closed connections' last ACKs (lock held). */
void shim_engine_linger(struct shim_engine *eng, uint64_t end_us);
void shim_engine_fork_child(void); /* thread-local state of the forking thread */

/* --- shim_start.c: the engine's life --- */
/* This process's engine, started on first use; NULL when xtcp cannot run here. */
struct shim_engine *shim_engine_get(void);
/* Attach the XDP program and serve port (listen on a served port). 0 / -errno. */
int shim_prog_serve(const struct sockaddr_in *local);
/* The same for an AF_INET6 listener: its families, as Linux would deliver them. */
int shim_prog_serve6(const struct sockaddr_in6 *local, bool v6only);
int shim_prog_client(void);
/* The engine, with listener s made in its stack if not yet (first use; lock held). */
struct shim_engine *shim_listener_use(struct shim_sock *s);
/* After a listener closed: drain the queues if it was the process's last (lock held). */
void shim_engine_drain_check(struct shim_engine *eng);
/* Make the stack listener for s in eng (lock held). */
int shim_listener_instantiate(struct shim_engine *eng, struct shim_sock *s);
/* Before a privilege drop: open this process's engine if it serves any listener. */
void shim_engine_before_privdrop(void);
void shim_fork_setup(void);
/* In a page wiped in any child (MADV_WIPEONFORK): 0 means forked behind our back. */
extern pid_t *shim_fork_guard;
/* Such a child: drop the parent's engine; unlocked: also start with a fresh lock. */
void shim_fork_unnoticed(bool unlocked);

/* --- shim_signal.c --- */
/*
 * A blocking call interrupted by a signal: restart it (true) as Linux does
 * when the handler has SA_RESTART and the socket has no timeout for it
 * (SO_RCVTIMEO/SO_SNDTIMEO make Linux return EINTR). The shim cannot tell
 * which signal came, so it restarts only while every installed handler has
 * SA_RESTART.
 */
bool shim_sig_restart(uint64_t timeout_us);

/* --- shim_socket.c --- */
struct shim_sock *shim_sock_alloc(void);
void shim_sock_free(struct shim_sock *s);
bool shim_is_tcp4(int fd); /* an AF_INET SOCK_STREAM TCP socket (3 getsockopt) */
bool shim_is_tcp6(int fd); /* the same for AF_INET6 */
/* s usable in this process's stack: engine started and s instantiated in it. */
static inline bool shim_sock_live(const struct shim_sock *s, const struct shim_engine *eng)
{
	return eng && s->sd >= 0 && s->gen == eng->gen;
}
static inline struct shim_sock *shim_sock_of(int fd)
{
	struct shim_fd_obj *o = shim_fd_get(fd);

	return (o && o->kind == SHIM_FD_SOCK) ? (struct shim_sock *)o : NULL;
}
/* Deadline (absolute us) for a timeout of t us from now; 0 = none. */
static inline uint64_t shim_deadline(uint64_t t)
{
	return t ? shim_now_us() + t : 0;
}

/* shim_start.c: a /proc/sys file as up to 3 numbers; returns how many were read. */
int shim_sysctl_read(const char *path, unsigned long v[3]);

/* --- shim_zc.c: MSG_ZEROCOPY (lock held for all) --- */
int shim_zc_setopt(struct shim_sock *s, const void *val, socklen_t len);
int shim_zc_getopt(const struct shim_sock *s, void *val, socklen_t *len);
/* A send with these flags queued n > 0 bytes: queue or extend its completion. */
void shim_zc_sent(struct shim_engine *eng, struct shim_sock *s, int flags, size_t n);
/* recvmsg(MSG_ERRQUEUE): 0 with the completion in msg's control data, or -EAGAIN. */
ssize_t shim_zc_recv(struct shim_sock *s, struct msghdr *msg);
/* EPOLLERR while a completion waits, as Linux's tcp_poll() for the error queue. */
static inline uint32_t shim_zc_events(const struct shim_sock *s)
{
	return s->zc.queued ? EPOLLERR : 0;
}

/* --- shim_fdpool.c: closed connections' placeholder fds, kept for the next (lock held) --- */
extern struct shim_sock shim_fdpool_sock; /* what a pooled fd maps to: a closed connection */
static inline bool shim_fdpool_has(const struct shim_fd_obj *o)
{
	return o == &shim_fdpool_sock.obj;
}
/* Keep fd (a placeholder the app closed); false: the caller closes it. */
bool shim_fdpool_put(int fd, bool inet6, bool cloexec);
/* The lowest kept placeholder, made a dup of template_fd (family inet6) with that flag; or -1. */
int shim_fdpool_take(int template_fd, bool inet6, bool cloexec);
/* The kernel closed or replaced fd; close_range(CLOSE_RANGE_CLOEXEC) marked these. */
void shim_fdpool_forget(int fd);
void shim_fdpool_range_cloexec(unsigned first, unsigned last);
/* Close the kept ones (only those without close-on-exec); the same once idle long enough. */
void shim_fdpool_flush(bool inheritable_only);
void shim_fdpool_trim(uint64_t now_us);

/* --- shim_epoll.c --- */
void shim_ep_sock_event(struct shim_sock *s);	 /* on_event: queue s's items (lock held) */
void shim_ep_sock_gone(struct shim_sock *s);	 /* s closes: drop its items (lock held) */
void shim_ep_close(struct shim_ep *ep);		 /* the epoll fd closes (lock held) */
void shim_ep_adopt(int fd, struct shim_sock *s); /* connect() moved fd to xtcp (lock held) */
void shim_ep_forget(int fd);			 /* a kernel fd closes (lock held or not) */
/* fd of s is a kernel socket now: its items move to the real epoll sets (lock held). */
void shim_ep_export(struct shim_sock *s, int fd);
/* poll(2) over mixed fds, timeout in us (-1 = forever); shared by poll/ppoll/select. */
int shim_poll_core(struct pollfd *fds, nfds_t n, int64_t timeout_us, const sigset_t *mask);

/* --- shim_repair.c: connections handed to the kernel (TCP_REPAIR) --- */
/* Live connection s becomes a kernel socket on the same fds; when: for the message. 0/-errno. */
int shim_repair_conn(struct shim_engine *eng, struct shim_sock *s, const char *when);
void shim_repair_fork(void); /* before fork: every live connection (XTCP_FORK_CONNS=kernel) */
/* At exit: close the app's connections, hand what still has to be delivered to the kernel;
 * returns the closed connections still unsettled on xtcp (for the linger). */
unsigned shim_repair_exit(struct shim_engine *eng);
/* Called for each flow given to the kernel, before its kernel socket exists. */
void shim_kernel_flow_added(const struct sockaddr_in *local, const struct sockaddr_in *peer);

/* --- shim_stats.c --- */
#include "shim_stats.h"
extern struct shim_stats *shim_stats_shm; /* NULL until the engine starts */
extern struct shim_stats shim_stats_local;
#define SHIM_STAT(field) (shim_stats_shm ? shim_stats_shm : &shim_stats_local)->field
void shim_stats_publish(struct shim_engine *eng);
void shim_stats_update(struct shim_engine *eng);
uint64_t shim_stats_conns_due_us(void);
void shim_stats_unpublish(void); /* fork child: forget the parent's file */
void shim_stats_remove(void);	 /* exit: remove the file, keep the mapping */
void shim_stats_chown(uid_t uid);

#endif
