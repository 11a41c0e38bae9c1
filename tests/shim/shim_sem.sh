#!/usr/bin/env bash
# shim_sem.sh BUILD_DIR - shim_sem's server on the kernel, then under
# LD_PRELOAD=libxtcp.so (client on the kernel both times): the server's
# observations (readiness, errno, ioctl values, ...) must be identical.
# Root (test bed); exits 77 without (1 with XTCP_TEST_NO_SKIP=1).
# Prints "N passed, N failed".
set -u
build=$(cd "${1:?usage: shim_sem.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/shim_sem
lib=$build/libxtcp.so
if [ "$(id -u)" != 0 ]; then
	echo "shim_sem: needs root (network namespaces)"
	[ "${XTCP_TEST_NO_SKIP:-0}" = 1 ] && exit 1
	exit 77
fi
[ -x "$bin" ] && [ -f "$lib" ] || { echo "shim_sem: build shim_sem and xtcp first"; exit 1; }
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || { echo "shim_sem: test bed failed"; exit 1; }
out=$(mktemp -d /tmp/xtcp-sem.XXXXXX)

run() { # run NAME PORT [env...]: server output in $out/NAME.txt
	local name=$1 port=$2 pid i
	shift 2
	tb_srv env "$@" timeout 60 "$bin" -s "$port" >"$out/$name.txt" 2>"$out/$name.err" &
	pid=$!
	for i in $(seq 100); do
		grep -q listening "$out/$name.txt" 2>/dev/null && break
		sleep 0.1
	done
	tb_cli timeout 60 "$bin" -c "$TB_SIP" "$port" >"$out/$name-cli.txt" 2>&1
	wait "$pid"
}

run kernel 7301
run xtcp 7302 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7302 XTCP_LOG=info
pass=0
fail=0
if [ "$(wc -l <"$out/kernel.txt")" -gt 30 ] && diff -u "$out/kernel.txt" "$out/xtcp.txt"; then
	pass=$((pass + 1))
	echo "ok identical observations ($(wc -l <"$out/kernel.txt") lines)"
else
	fail=$((fail + 1))
	echo "FAIL observations differ (kernel vs xtcp above; kernel run $(wc -l <"$out/kernel.txt") lines)"
fi
if grep -q 'serving veth0 queue' "$out/xtcp.err"; then
	pass=$((pass + 1))
	echo "ok the xtcp run was served by xtcp"
else
	fail=$((fail + 1))
	echo "FAIL the xtcp run did not start xtcp:"
	cat "$out/xtcp.err"
fi
[ $fail = 0 ] && rm -rf "$out"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
