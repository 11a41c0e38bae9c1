/*
 * xp_sys.h - system calls of xsk/, made without going through libc's
 * exported names.
 *
 * Rule: a layer below preload/ never calls a libc function that the shim
 * interposes (sendto, recvfrom, close, read, socket, ioctl, setsockopt, ...):
 * inside a process running the shim those names resolve to the shim's own
 * hooks, which may take the shim's lock that the caller already holds. The
 * kernel is reached with syscall(2) instead. Calls made inside libxdp and
 * libbpf cannot follow this rule; they only touch fds the shim does not
 * know (bpf objects, AF_XDP and netlink sockets), which its hooks hand to
 * libc without taking the lock.
 */
#ifndef XTCP_XP_SYS_H
#define XTCP_XP_SYS_H

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline ssize_t xp_sys_sendto(int fd, const void *buf, size_t len, int flags,
				    const struct sockaddr *to, socklen_t tolen)
{
	return syscall(SYS_sendto, fd, buf, len, flags, to, tolen);
}

static inline ssize_t xp_sys_recvfrom(int fd, void *buf, size_t len, int flags)
{
	return syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
}

static inline ssize_t xp_sys_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return syscall(SYS_recvmsg, fd, msg, flags);
}

static inline ssize_t xp_sys_read(int fd, void *buf, size_t len)
{
	return syscall(SYS_read, fd, buf, len);
}

static inline ssize_t xp_sys_write(int fd, const void *buf, size_t len)
{
	return syscall(SYS_write, fd, buf, len);
}

/* Frame areas that other processes can map (shared queues, xsk/xp_share.c). */
static inline int xp_sys_memfd(const char *name, size_t len)
{
	int fd = (int)syscall(SYS_memfd_create, name, 1u /* MFD_CLOEXEC */);

	if (fd >= 0 && syscall(SYS_ftruncate, fd, (off_t)len)) {
		syscall(SYS_close, fd);
		return -1;
	}
	return fd;
}

static inline int xp_sys_eventfd(void)
{
	return (int)syscall(SYS_eventfd2, 0, 02000000 | 04000 /* EFD_CLOEXEC | EFD_NONBLOCK */);
}

/* A copy of another process's fd (pidfd_getfd: needs ptrace rights on it). */
static inline int xp_sys_fd_of(pid_t pid, int fd)
{
	int pfd = (int)syscall(434 /* SYS_pidfd_open */, pid, 0), r;

	if (pfd < 0)
		return -1;
	r = (int)syscall(438 /* SYS_pidfd_getfd */, pfd, fd, 0);
	syscall(SYS_close, pfd);
	return r;
}

static inline int xp_sys_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static inline int xp_sys_socket(int domain, int type, int proto)
{
	return (int)syscall(SYS_socket, domain, type, proto);
}

static inline int xp_sys_bind(int fd, const struct sockaddr *a, socklen_t len)
{
	return (int)syscall(SYS_bind, fd, a, len);
}

static inline int xp_sys_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

static inline int xp_sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return (int)syscall(SYS_setsockopt, fd, level, name, val, len);
}

static inline int xp_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static inline int xp_sys_epoll_create1(int flags)
{
	return (int)syscall(SYS_epoll_create1, flags);
}

static inline int xp_sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

static inline int xp_sys_open(const char *path, int flags)
{
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}

#endif
