/*
 * check.h - the one check harness of the C tests in tests/ (the shell tests'
 * twin is check.sh).
 *
 *	CHECK(n == 3);                          counts; on failure prints
 *	CHECK(n == 3, "n = %d", n);             "FAIL file:line: n == 3[: n = 3]"
 *	check_root_or_skip("loading BPF");      exits 77 (skipped) without root
 *	return check_summary();                 "N passed, N failed" -> exit status
 *
 * The counters are per binary: weak definitions, so every translation unit
 * of a test that includes this header shares one pair. Harnesses that count
 * whole test cases instead of single checks (tests/tcp/t.c) call
 * check_count() themselves.
 *
 * A binary that ran no check fails: a test that checked nothing proved
 * nothing. Without root, check_root_or_skip() exits 77, which ctest reports
 * as skipped (SKIP_RETURN_CODE 77); with XTCP_TEST_NO_SKIP=1 (CI, where
 * skipping would hide a lost test) it counts a failure and exits 1.
 */
#ifndef XTCP_CHECK_H
#define XTCP_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((weak)) int check_passed, check_failed;

/* Counts one outcome; returns ok so a test can stop early on a failure. */
static inline int check_count(int ok)
{
	if (ok)
		check_passed++;
	else
		check_failed++;
	return ok;
}

/* detail is ":" or ":" followed by a printf format (see CHECK). */
static inline __attribute__((format(printf, 5, 6))) int
check_at(int ok, const char *file, int line, const char *expr, const char *detail, ...)
{
	va_list ap;

	if (check_count(ok))
		return 1;
	fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
	if (detail[1]) {
		fputs(": ", stderr);
		va_start(ap, detail);
		vfprintf(stderr, detail + 1, ap);
		va_end(ap);
	}
	fputc('\n', stderr);
	return 0;
}

/* CHECK(cond) or CHECK(cond, fmt, ...); evaluates to cond's truth. The ":"
 * keeps the format non-empty when no detail is given. */
#define CHECK(cond, ...) check_at(!!(cond), __FILE__, __LINE__, #cond, ":" __VA_ARGS__)

/* Prints "N passed, N failed"; returns main()'s exit status. */
static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	fflush(stdout);
	return check_failed || !check_passed ? 1 : 0;
}

static inline void check_root_or_skip(const char *why)
{
	const char *no_skip = getenv("XTCP_TEST_NO_SKIP");

	if (geteuid() == 0)
		return;
	if (no_skip && *no_skip == '1') {
		fprintf(stderr, "FAIL: needs root (%s), and XTCP_TEST_NO_SKIP=1 forbids skipping\n",
			why);
		check_count(0);
		exit(check_summary());
	}
	printf("SKIP: needs root (%s)\n", why);
	exit(77);
}

#endif
