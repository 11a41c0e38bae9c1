# shellcheck shell=bash
# check.sh - the one check harness of the shell tests (the C tests' twin is
# check.h). Source it; TEST_NAME (default: the script's name) prefixes the
# lines that are not checks.
#   check DESCRIPTION COMMAND...   runs COMMAND: "ok DESCRIPTION" or "FAIL
#                                  DESCRIPTION"; returns whether it passed
#   ok DESCRIPTION / bad DESCRIPTION   counts one outcome decided by the caller
#   expect NAME ACTUAL WANTED      check that two strings are equal (same return)
#   not_grep ARGS...               grep inverted, for check
#   fatal MESSAGE                  counts a failure, then check_done: for set-up
#                                  that failed (no test bed, a program not built)
#   skip MESSAGE / need_root       exit 77 (ctest: skipped); with
#                                  XTCP_TEST_NO_SKIP=1 (CI) a failure instead
#   need_built FILE...             fatal "FILE not built" for the first missing
#   need_tools TOOL...             fatal "TOOL missing" for the first not on PATH
#   check_summary                  prints "N passed, N failed"; true if nothing
#                                  failed and something passed
#   check_done                     check_summary, then exit with its status
# NGINX: the nginx binary (Debian installs it in /usr/sbin, outside a user's PATH).
pass=0
fail=0
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

ok() {
	echo "ok $*"
	pass=$((pass + 1))
}
bad() {
	echo "FAIL $*"
	fail=$((fail + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; return 1; fi
}
expect() { # expect NAME ACTUAL WANTED
	if [ "$2" = "$3" ]; then ok "$1 = $2"; else bad "$1: got '$2', want '$3'"; return 1; fi
}
not_grep() { ! grep -q "$@"; }
check_summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
}
check_done() {
	check_summary
	exit $?
}
fatal() {
	bad "$TEST_NAME: $*"
	check_done
}
skip() {
	if [ "${XTCP_TEST_NO_SKIP:-0}" = 1 ]; then
		fatal "$* (XTCP_TEST_NO_SKIP=1 forbids skipping)"
	fi
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}
need_root() { [ "$(id -u)" = 0 ] || skip "needs root (${1:-network namespaces})"; }
need_built() {
	local f
	for f in "$@"; do [ -e "$f" ] || fatal "$f not built"; done
}
need_tools() {
	local t
	for t in "$@"; do command -v "$t" >/dev/null || fatal "$t missing (tests/deps.sh)"; done
}
