#!/usr/bin/env bash
# shim_sem.sh BUILD_DIR [PROGRAM MIN_LINES] - PROGRAM's server (default
# shim_sem) on the kernel, then under LD_PRELOAD=libxtcp.so (client on the
# kernel both times): the server's observations (readiness, errno, ioctl
# values, fd numbers, ...) must be identical, and the kernel run must print
# more than MIN_LINES (default 30). PROGRAM takes -s PORT / -c ADDR PORT.
# Root (test bed); exits 77 without (1 with XTCP_TEST_NO_SKIP=1).
# Prints "N passed, N failed".
set -u
build=$(cd "${1:?usage: shim_sem.sh BUILD_DIR [PROGRAM MIN_LINES]}" && pwd)
prog=${2:-shim_sem}
min_lines=${3:-30}
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/$prog
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$bin" "$lib"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-sem.XXXXXX)
echo "$TEST_NAME: $prog"

tb_serve_once "$bin" "$out" kernel 7301
tb_serve_once "$bin" "$out" xtcp 7302 \
	LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7302 XTCP_LOG=info
lines=$(wc -l <"$out/kernel.txt")
if [ "$lines" -gt "$min_lines" ] && diff -u "$out/kernel.txt" "$out/xtcp.txt"; then
	ok "identical observations ($lines lines)"
else
	bad "observations differ (kernel vs xtcp above; kernel run $lines lines)"
fi
check "the xtcp run was served by xtcp" grep -q 'serving veth0 queue' "$out/xtcp.err" ||
	cat "$out/xtcp.err"
[ $fail = 0 ] && rm -rf "$out"
check_done
