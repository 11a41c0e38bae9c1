/*
 * shim_fdpool.c - spare placeholder fds: the numbers of closed xtcp
 * connections, kept open for the next accepted connection.
 *
 * Every accepted xtcp connection is named by a dup of a template kernel
 * socket (shim_socket.c, placeholder_fd()): an fcntl(F_DUPFD) when it is
 * accepted and a close() when the app closes it, two system calls per
 * connection that carry nothing. All placeholders of a family are the same
 * open file, so a closed one can name the next connection as it is: close()
 * keeps up to FDPOOL_MAX of them here and accept4() takes the lowest one
 * (of another family or close-on-exec flag: one call fixes it).
 *
 * Call order (lock held for all): shim_close() -> shim_fdpool_put();
 * conn_new() -> shim_fdpool_take(); the kernel closes or replaces pooled
 * numbers in close_range()/closefrom() and dup2()/dup3() onto them ->
 * shim_fdpool_forget(); fork_prepare() -> shim_fdpool_flush(true), the
 * background thread -> shim_fdpool_trim().
 *
 * What the app sees (docs/limits.md): a pooled number is closed for every
 * hooked call (the fd table maps it to shim_fdpool_sock, a connection that
 * is never live: EBADF, POLLNVAL; close() of it EBADF), but the kernel
 * still holds it, so a number the app opens meanwhile (open, socket, pipe)
 * is the lowest *other* free one, where Linux could have reused the closed
 * connection's. fds 0-2 are never kept (programs reopen stdio by number),
 * nor fds the app dup'ed or changed the close-on-exec flag of. Numbers
 * unused for FDPOOL_IDLE_US are closed at the background thread's next
 * turn (no wake-up of their own: an idle process stays asleep);
 * inheritable ones are closed before fork() so that an exec'd child never
 * inherits them (a child made by posix_spawn or vfork, which bypass fork's
 * handlers, may).
 * Memory: a fixed array; the sentinel socket is static and never freed.
 */
#include "shim.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FDPOOL_MAX     256     /* a burst of accepts after a burst of closes (ab -c N) */
#define FDPOOL_IDLE_US 1000000 /* unused this long: the numbers go back to the kernel */

struct fdpool_ent {
	int fd;
	bool inet6;   /* a dup of template6_fd, else of template_fd */
	bool cloexec; /* its FD_CLOEXEC, as dup'ed */
};

static struct fdpool_ent pool[FDPOOL_MAX]; /* by fd, highest first: the lowest is last */
static unsigned pool_n;
static uint64_t pool_used_us; /* last put or take */

/* Never live (sd -1): every hooked call answers as for a closed fd. */
struct shim_sock shim_fdpool_sock = {
	.obj.kind = SHIM_FD_SOCK,
	.role = SHIM_CONN,
	.fd = -1,
	.refs = 1,
	.sd = -1,
};

static void ent_drop(unsigned i)
{
	memmove(&pool[i], &pool[i + 1], (--pool_n - i) * sizeof(pool[0]));
}

static int ent_find(int fd)
{
	for (unsigned i = 0; i < pool_n; i++)
		if (pool[i].fd == fd)
			return (int)i;
	return -1;
}

bool shim_fdpool_put(int fd, bool inet6, bool cloexec)
{
	unsigned i;

	if (fd < 3 || pool_n >= FDPOOL_MAX || shim_fd_set(fd, &shim_fdpool_sock.obj))
		return false;
	/* sorted insert: a few hundred bytes move at most */
	for (i = pool_n; i > 0 && pool[i - 1].fd < fd; i--)
		;
	memmove(&pool[i + 1], &pool[i], (pool_n - i) * sizeof(pool[0]));
	pool[i] = (struct fdpool_ent){.fd = fd, .inet6 = inet6, .cloexec = cloexec};
	pool_n++;
	pool_used_us = shim_now_us();
	return true;
}

int shim_fdpool_take(int template_fd, bool inet6, bool cloexec)
{
	unsigned best;
	int fd;

	if (!pool_n)
		return -1;
	best = pool_n - 1;
	fd = pool[best].fd;
	/*
	 * The lowest kept number, as Linux would reuse it: retargeted to the
	 * other family's template (dup3 replaces it atomically) or given the
	 * asked close-on-exec flag, one system call instead of two.
	 */
	if (pool[best].inet6 != inet6) {
		if (template_fd < 0 || REAL(dup3)(template_fd, fd, cloexec ? O_CLOEXEC : 0) < 0)
			return -1;
	} else if (pool[best].cloexec != cloexec) {
		if (REAL(fcntl)(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0))
			return -1;
	}
	ent_drop(best);
	shim_fd_clear(fd);
	pool_used_us = shim_now_us();
	return fd;
}

void shim_fdpool_forget(int fd)
{
	int i = ent_find(fd);

	if (i >= 0)
		ent_drop((unsigned)i);
}

void shim_fdpool_range_cloexec(unsigned first, unsigned last)
{
	for (unsigned i = 0; i < pool_n; i++)
		if ((unsigned)pool[i].fd >= first && (unsigned)pool[i].fd <= last)
			pool[i].cloexec = true;
}

void shim_fdpool_flush(bool inheritable_only)
{
	for (unsigned i = pool_n; i-- > 0;) {
		if (inheritable_only && pool[i].cloexec)
			continue;
		shim_fd_clear(pool[i].fd);
		REAL(close)(pool[i].fd);
		ent_drop(i);
	}
}

void shim_fdpool_trim(uint64_t now_us)
{
	if (pool_n && now_us - pool_used_us >= FDPOOL_IDLE_US)
		shim_fdpool_flush(false);
}
