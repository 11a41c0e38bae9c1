#!/usr/bin/env bash
# shim_forksig.sh BUILD_DIR - a server under xtcp whose SIGALRM handler
# forks every 200 us (the PostgreSQL postmaster pattern), 20 starts: the
# engine starts and serves while children are forked from the handler.
# None may hang (each start is bounded by a timeout); every echo must come
# back. Prints "N passed, N failed". Root; 77 without (1 with XTCP_TEST_NO_SKIP=1).
set -u
build=$(cd "${1:?usage: shim_forksig.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/shim_forksig
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$bin" "$lib"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-forksig.XXXXXX)
starts=${FORKSIG_STARTS:-20}
conns=50
hung=0
forks=0
for i in $(seq "$starts"); do
	port=$((7500 + i))
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$port" XTCP_LOG=info \
		timeout 20 "$bin" -s "$port" "$conns" >"$out/srv$i.txt" 2>"$out/srv$i.err" &
	spid=$!
	for _ in $(seq 100); do
		grep -q listening "$out/srv$i.txt" 2>/dev/null && break
		sleep 0.05
	done
	tb_cli timeout 20 "$bin" -c "$TB_SIP" "$port" "$conns" >"$out/cli$i.txt" 2>&1
	cst=$?
	wait "$spid"
	sst=$?
	[ $sst = 124 ] && hung=$((hung + 1))
	f=$(sed -n 's/.*forks=\([0-9]*\).*/\1/p' "$out/srv$i.txt")
	forks=$((forks + ${f:-0}))
	if [ $sst = 0 ] && [ $cst = 0 ] && grep -q "served=$conns" "$out/srv$i.txt" &&
		grep -q 'serving veth0' "$out/srv$i.err"; then
		ok "start $i"
	else
		bad "start $i: server status $sst, client status $cst"
		cat "$out/srv$i.txt" "$out/srv$i.err" "$out/cli$i.txt"
	fi
done
echo "$starts starts, $hung hung, $forks forks from the signal handler"
[ $fail = 0 ] && rm -rf "$out"
check_done
