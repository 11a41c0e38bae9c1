/*
 * shim_fd.h - the fd table: app-visible fd number -> shim object.
 *
 * Every xtcp socket and every epoll object holding xtcp items is named by a
 * real kernel fd (the placeholder), so numbers never collide with the
 * kernel's. Objects start with struct shim_fd_obj. Lookup is lock-free (two
 * acquire loads) so every call on a kernel fd pays one miss and goes on to
 * libc; writers serialise under the shim lock.
 */
#ifndef XTCP_SHIM_FD_H
#define XTCP_SHIM_FD_H

#include <stddef.h>

#define SHIM_FD_CHUNK_SHIFT 10
#define SHIM_FD_CHUNK	    (1 << SHIM_FD_CHUNK_SHIFT)
#define SHIM_FD_DIRS	    1024
#define SHIM_FD_MAX	    (SHIM_FD_CHUNK * SHIM_FD_DIRS) /* 1M fds */

enum shim_fd_kind {
	SHIM_FD_SOCK = 1,  /* struct shim_sock (shim.h) */
	SHIM_FD_EPOLL = 2, /* struct shim_ep */
};

struct shim_fd_obj {
	int kind;
};

extern void **shim_fd_dir[SHIM_FD_DIRS];

static inline struct shim_fd_obj *shim_fd_get(int fd)
{
	void **chunk;

	if ((unsigned)fd >= SHIM_FD_MAX)
		return NULL;
	chunk = __atomic_load_n(&shim_fd_dir[(unsigned)fd >> SHIM_FD_CHUNK_SHIFT],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return NULL;
	return __atomic_load_n(&chunk[fd & (SHIM_FD_CHUNK - 1)], __ATOMIC_ACQUIRE);
}

/* Map fd to obj: 0, -EBADF (fd out of range), -EEXIST (taken), -ENOMEM. */
int shim_fd_set(int fd, struct shim_fd_obj *obj);
/* Unmap fd; returns the object it held, or NULL. */
struct shim_fd_obj *shim_fd_clear(int fd);
/* The next mapped fd >= from, or -1 (scans: for rare whole-table walks). */
int shim_fd_next(int from);
/* Number of mapped fds. */
unsigned shim_fd_count(void);

#endif
