# shellcheck shell=bash
# lib.sh - what the shim's shell tests share. Source it after setting
# TEST_NAME; then: skip MSG (exit 77, or 1 with XTCP_TEST_NO_SKIP=1),
# need_root, ok/bad DESCRIPTION, check DESCRIPTION COMMAND..., not_grep
# ARGS..., and pass/fail counted for the final "N passed, N failed" line.
# NGINX: the nginx binary (Debian installs it in /usr/sbin).
pass=0
fail=0
skip() {
	echo "$TEST_NAME: $*"
	[ "${XTCP_TEST_NO_SKIP:-0}" = 1 ] && exit 1
	exit 77
}
need_root() { [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"; }
ok() { echo "ok $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
not_grep() { ! grep -q "$@"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
