#!/usr/bin/env bash
# posix_run.sh BUILD_DIR [kernel|preload]
#
# Runs posix_cli (client namespace) against posix_srv (server namespace) in
# the test bed, once per server shape (block, thread, epoll).
#   kernel   the server on the kernel: every case must pass
#   preload  the same, then again with the server under
#            LD_PRELOAD=BUILD_DIR/libxtcp.so XTCP_IFACE=veth0 XTCP_PORTS=<port>;
#            the client's output must be identical to the kernel run's, and
#            the server namespace's kernel must accept no connection (nstat)
# Needs root (network namespaces): otherwise exits 77, or 1 when
# XTCP_TEST_NO_SKIP=1. Prints "N passed, N failed" (one per run and shape).
set -u
build=$(cd "${1:?usage: posix_run.sh BUILD_DIR [kernel|preload]}" && pwd)
variant=${2:-kernel}
here=$(cd "$(dirname "$0")" && pwd)
srv=$build/tests/shim/posix_srv
cli=$build/tests/shim/posix_cli
lib=$build/libxtcp.so

skip() {
	echo "posix_run: $*"
	[ "${XTCP_TEST_NO_SKIP:-0}" = 1 ] && exit 1
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
[ -x "$srv" ] && [ -x "$cli" ] || { echo "posix_run: build posix_srv and posix_cli first"; exit 1; }
if [ "$variant" = preload ] && [ ! -f "$lib" ]; then
	echo "posix_run: $lib not built"
	exit 1
fi

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || { echo "posix_run: test bed failed"; exit 1; }
out=$(mktemp -d /tmp/xtcp-posix.XXXXXX)
pass=0
fail=0

# run_one NAME MODE PORT [env assignments...]: client output in $out/NAME-MODE.txt
run_one() {
	local name=$1 mode=$2 port=$3 pid i rc
	shift 3
	# As tb_srv does (bpffs for the shim), but without a function in the
	# background: $! must be the server itself so that kill stops it.
	ip netns exec "$TB_SRV" sh -c 'mountpoint -q /sys/fs/bpf ||
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@"' tb \
		env "$@" "$srv" -m "$mode" -p "$port" >"$out/srv-$name-$mode.log" 2>&1 &
	pid=$!
	for i in $(seq 100); do
		grep -q listening "$out/srv-$name-$mode.log" 2>/dev/null && break
		sleep 0.1
	done
	tb_cli timeout 320 "$cli" -a "$TB_SIP" -p "$port" -m "$mode" >"$out/$name-$mode.txt" 2>&1
	rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sed "s/^/  [$name $mode] /" "$out/$name-$mode.txt"
	return $rc
}

# Connections the server namespace's kernel accepted so far.
passive_opens() {
	ip netns exec "$TB_SRV" nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'
}

port=7100
for mode in block thread epoll; do
	port=$((port + 1))
	k0=$(passive_opens)
	if run_one kernel "$mode" "$port" && [ "$(passive_opens)" -gt "$k0" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL kernel $mode (server log: $out/srv-kernel-$mode.log)"
	fi
	[ "$variant" = preload ] || continue
	port=$((port + 1))
	# Proof that xtcp served: the server namespace's kernel accepts nothing.
	k0=$(passive_opens)
	run_one preload "$mode" "$port" LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$port" \
		XTCP_STRICT=1
	k1=$(passive_opens)
	if [ "$k1" != "$k0" ]; then
		fail=$((fail + 1))
		echo "FAIL preload $mode: the server's kernel accepted $((k1 - k0)) connections"
	elif diff -u "$out/kernel-$mode.txt" "$out/preload-$mode.txt" >"$out/diff-$mode.txt"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL preload $mode differs from the kernel run:"
		cat "$out/diff-$mode.txt"
	fi
done
[ $fail = 0 ] && rm -rf "$out"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
