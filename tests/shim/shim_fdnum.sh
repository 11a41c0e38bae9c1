#!/usr/bin/env bash
# shim_fdnum.sh BUILD_DIR - shim_fdnum's server on the kernel, then under
# LD_PRELOAD=libxtcp.so (client on the kernel both times): what it sees of
# its connections' fd numbers (closed-fd answers, reuse by the next accept,
# close-on-exec flags, an exec'd child's fds) must be identical.
# Root (test bed); exits 77 without (1 with XTCP_TEST_NO_SKIP=1).
# Prints "N passed, N failed".
set -u
build=$(cd "${1:?usage: shim_fdnum.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/shim_fdnum
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -x "$bin" ] && [ -f "$lib" ] || fatal "build shim_fdnum and xtcp first"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-fdnum.XXXXXX)

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

run kernel 7311
run xtcp 7312 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7312 XTCP_LOG=info
lines=$(wc -l <"$out/kernel.txt")
if [ "$lines" -gt 10 ] && diff -u "$out/kernel.txt" "$out/xtcp.txt"; then
	ok "identical observations ($lines lines)"
else
	bad "observations differ (kernel vs xtcp above; kernel run $lines lines)"
fi
check "the xtcp run was served by xtcp" grep -q 'serving veth0 queue' "$out/xtcp.err" ||
	cat "$out/xtcp.err"
[ $fail = 0 ] && rm -rf "$out"
check_done
