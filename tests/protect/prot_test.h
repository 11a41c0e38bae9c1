/*
 * prot_test.h - the smallest test vocabulary for tests/protect: CHECK()
 * counts and reports, the binary ends with "N passed, N failed".
 */
#ifndef XTCP_PROT_TEST_H
#define XTCP_PROT_TEST_H

#include <stdio.h>

static int t_pass, t_fail;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			t_pass++;                                                                  \
		} else {                                                                           \
			t_fail++;                                                                  \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
		}                                                                                  \
	} while (0)

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
