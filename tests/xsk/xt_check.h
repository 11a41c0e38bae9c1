/*
 * xt_check.h - the tiny check harness of the tests/xsk programs: CHECK()
 * counts, xt_done() prints "N passed, N failed" and gives the exit status,
 * xt_need_root() exits 77 (skip) without root, or 1 when XTCP_TEST_NO_SKIP=1.
 */
#ifndef XT_CHECK_H
#define XT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int xt_passed, xt_failed;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			xt_passed++;                                                               \
		} else {                                                                           \
			xt_failed++;                                                               \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static inline int xt_done(void)
{
	printf("%d passed, %d failed\n", xt_passed, xt_failed);
	return xt_failed || !xt_passed ? 1 : 0;
}

static inline void xt_need_root(const char *why)
{
	const char *no_skip = getenv("XTCP_TEST_NO_SKIP");

	if (geteuid() == 0)
		return;
	printf("SKIP: needs root (%s)\n", why);
	exit(no_skip && *no_skip == '1' ? 1 : 77);
}

#endif
