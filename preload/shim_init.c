/*
 * shim_init.c - the interposition layer: real-function table, lazy
 * resolvers, generated hooks, the constructor and logging.
 *
 * Call order: the dynamic linker binds the program's libc calls to the hooks
 * generated here from shim_syscalls.def. Inert (no XTCP_* configuration,
 * shim_active == 0) a hook is one predictable branch and a call to the real
 * function; active it calls shim_<name>() (shim_socket.c, shim_io.c,
 * shim_epoll.c, shim_engine.c), which itself goes to REAL() for kernel fds.
 * The constructor only reads the environment: nothing is attached or
 * allocated until a served port is bound (shim_socket.c).
 * Memory: the real table and shim state are static; nothing here allocates.
 */
#include "shim.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "protect_cfg.h"

struct shim_real_table shim_real;
struct shim_state shim = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.template_fd = -1,
	.template6_fd = -1,
};
int shim_active;
pid_t shim_pid;

/* Functions that libc lacks (older glibc: epoll_pwait2) fail with ENOSYS. */
#define SHIM_SYSCALL(ret, name, proto, args)                                                       \
	static ret shim_enosys_##name proto                                                        \
	{                                                                                          \
		errno = ENOSYS;                                                                    \
		return (ret)-1;                                                                    \
	}                                                                                          \
	shim_fn_##name shim_resolve_##name(void)                                                   \
	{                                                                                          \
		shim_fn_##name fn = (shim_fn_##name)dlsym(RTLD_NEXT, #name);                       \
		if (!fn)                                                                           \
			fn = shim_enosys_##name;                                                   \
		__atomic_store_n(&shim_real.name, fn, __ATOMIC_RELEASE);                           \
		return fn;                                                                         \
	}
#define SHIM_SYSCALL_RAW(ret, name, proto)                                                         \
	shim_fn_##name shim_resolve_##name(void)                                                   \
	{                                                                                          \
		shim_fn_##name fn = (shim_fn_##name)dlsym(RTLD_NEXT, #name);                       \
		__atomic_store_n(&shim_real.name, fn, __ATOMIC_RELEASE);                           \
		return fn;                                                                         \
	}
#include "shim_syscalls.def"

/* The exported hooks. */
#define SHIM_SYSCALL(ret, name, proto, args)                                                       \
	SHIM_EXPORT ret name proto                                                                 \
	{                                                                                          \
		if (likely(!shim_active))                                                          \
			return REAL(name) args;                                                    \
		return shim_##name args;                                                           \
	}
#include "shim_syscalls.def"

void shim_log(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (level > shim.cfg.log_level)
		return;
	n = snprintf(buf, sizeof(buf), "xtcp[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (REAL(write)(2, buf, (size_t)n) < 0)
		return;
}

void shim_fail(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (shim.cfg.strict) {
		shim_err("%s; XTCP_STRICT=1: exiting", buf);
		/* The one exit in the library: the user asked for it (XTCP_STRICT). */
		_exit(1);
	}
	shim_err("%s; continuing on the kernel", buf);
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

__attribute__((constructor)) static void shim_ctor(void)
{
	char err[256];

	if (shim_config_parse(&shim.cfg, env_get, err, sizeof(err)) < 0) {
		shim.cfg.log_level = SHIM_LOG_ERROR;
		if (shim.cfg.strict) {
			shim_err("%s; XTCP_STRICT=1: exiting", err + 6);
			_exit(1);
		}
		shim_err("%s", err + 6); /* without the "xtcp: " prefix: shim_log adds it */
		return;
	}
	if (!shim.cfg.active)
		return;
	shim_pid = getpid();
	/* The protection variables are validated up front too (one line each, by protect_cfg). */
	if (protect_env_check() < 0) {
		if (shim.cfg.strict)
			_exit(1);
		return;
	}
	shim_fork_setup();
	__atomic_store_n(&shim_active, 1, __ATOMIC_RELEASE);
	shim_debug("active on %s (%u listening ports, %u connect ports)", shim.cfg.iface,
		   shim.cfg.n_ports, shim.cfg.n_connect_ports);
}

/* --- variadic hooks, written out --- */

int shim_fcntl_impl(int fd, int cmd, long arg, shim_fn_fcntl real);
void shim_closefrom_impl(int lowfd);

/* closefrom() closes through the close_range system call, never through close(). */
SHIM_EXPORT void closefrom(int lowfd)
{
	if (likely(!shim_active) && REAL(closefrom)) {
		REAL(closefrom)(lowfd);
		return;
	}
	shim_closefrom_impl(lowfd);
}
int shim_ioctl_impl(int fd, unsigned long req, void *arg);

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long); /* every fcntl argument fits a long (int, pointer) */
	va_end(ap);
	if (likely(!shim_active))
		return REAL(fcntl)(fd, cmd, arg);
	return shim_fcntl_impl(fd, cmd, arg, REAL(fcntl));
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (!REAL(fcntl64))
		return fcntl(fd, cmd, arg);
	if (likely(!shim_active))
		return REAL(fcntl64)(fd, cmd, arg);
	return shim_fcntl_impl(fd, cmd, arg, REAL(fcntl64));
}

SHIM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (likely(!shim_active))
		return REAL(ioctl)(fd, req, arg);
	return shim_ioctl_impl(fd, req, arg);
}
