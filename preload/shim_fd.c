/*
 * shim_fd.c - the fd table (see shim_fd.h).
 *
 * A two-level array: a static directory of 1024 chunk pointers, chunks of
 * 1024 object pointers allocated on first use and never freed (readers
 * never lock, so a chunk must outlive any reader). Writers (shim_fd_set,
 * shim_fd_clear) are called under the shim lock; the only concurrent
 * writer race is the chunk allocation, settled with a compare-and-swap.
 * After fork() the child sees a copy of the table, which is what it wants:
 * its fd numbers are the parent's.
 */
#include "shim_fd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

void **shim_fd_dir[SHIM_FD_DIRS];
static unsigned shim_fd_mapped;

static void **chunk_get(unsigned dir)
{
	void **chunk = __atomic_load_n(&shim_fd_dir[dir], __ATOMIC_ACQUIRE);
	void **expected = NULL;

	if (chunk)
		return chunk;
	chunk = calloc(SHIM_FD_CHUNK, sizeof(void *));
	if (!chunk)
		return NULL;
	if (!__atomic_compare_exchange_n(&shim_fd_dir[dir], &expected, chunk, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(chunk);
		return expected;
	}
	return chunk;
}

int shim_fd_set(int fd, struct shim_fd_obj *obj)
{
	void **chunk;
	void *expected = NULL;

	if (fd < 0 || fd >= SHIM_FD_MAX || !obj)
		return -EBADF;
	chunk = chunk_get((unsigned)fd >> SHIM_FD_CHUNK_SHIFT);
	if (!chunk)
		return -ENOMEM;
	if (!__atomic_compare_exchange_n(&chunk[fd & (SHIM_FD_CHUNK - 1)], &expected, obj, false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return -EEXIST;
	__atomic_add_fetch(&shim_fd_mapped, 1, __ATOMIC_RELAXED);
	return 0;
}

struct shim_fd_obj *shim_fd_clear(int fd)
{
	void **chunk;
	void *old;

	if (fd < 0 || fd >= SHIM_FD_MAX)
		return NULL;
	chunk = __atomic_load_n(&shim_fd_dir[(unsigned)fd >> SHIM_FD_CHUNK_SHIFT],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return NULL;
	old = __atomic_exchange_n(&chunk[fd & (SHIM_FD_CHUNK - 1)], NULL, __ATOMIC_ACQ_REL);
	if (old)
		__atomic_sub_fetch(&shim_fd_mapped, 1, __ATOMIC_RELAXED);
	return old;
}

int shim_fd_next(int from)
{
	int fd;

	if (from < 0)
		from = 0;
	for (fd = from; fd < SHIM_FD_MAX; fd++) {
		void **chunk = __atomic_load_n(&shim_fd_dir[(unsigned)fd >> SHIM_FD_CHUNK_SHIFT],
					       __ATOMIC_ACQUIRE);
		if (!chunk) {
			fd |= SHIM_FD_CHUNK - 1; /* skip the whole absent chunk */
			continue;
		}
		if (__atomic_load_n(&chunk[fd & (SHIM_FD_CHUNK - 1)], __ATOMIC_ACQUIRE))
			return fd;
	}
	return -1;
}

unsigned shim_fd_count(void)
{
	return __atomic_load_n(&shim_fd_mapped, __ATOMIC_RELAXED);
}
