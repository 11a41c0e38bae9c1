#!/usr/bin/env bash
# shim_attend.sh BUILD_DIR - the stack makes progress while the program
# computes (no socket call for 1 s): an xtcp server acknowledges data, an
# xtcp client completes its handshake, within wake-up latency, not when
# the program next calls in. Prints the figures and "N passed, N failed".
# Root (test bed); exits 77 without (1 with XTCP_TEST_NO_SKIP=1).
set -u
build=$(cd "${1:?usage: shim_attend.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/shim_attend
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$bin" "$lib"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-attend.XXXXXX)
result() { # result EXIT-STATUS DESCRIPTION
	if [ "$1" = 0 ]; then ok "$2"; else bad "$2"; fi
}
wait_listening() {
	for _ in $(seq 100); do
		grep -q listening "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
limit_us=100000 # a stack left alone until the next call would take 1,000,000
xtcp_env=(LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_LOG=info)

# Server computing: the kernel client's data must be ACKed meanwhile.
for round in 1 2 3; do
	tb_srv env "${xtcp_env[@]}" XTCP_PORTS=7401 timeout 20 "$bin" -s 7401 \
		>"$out/srv$round.txt" 2>"$out/srv$round.err" &
	spid=$!
	wait_listening "$out/srv$round.txt"
	tb_cli timeout 20 "$bin" -k "$TB_SIP" 7401 >"$out/cli$round.txt" 2>&1
	wait "$spid"
	ack=$(sed -n 's/^ack_us=//p' "$out/cli$round.txt")
	echo "server computing: data ACKed after ${ack:-?} us"
	[ -n "$ack" ] && [ "$ack" -lt $limit_us ] && grep -q 'server_read=1000' "$out/srv$round.txt"
	result $? "round $round: an xtcp server that computes ACKs within $limit_us us and reads the data"
done
grep -q 'serving veth0' "$out/srv1.err"
result $? "the server ran on xtcp"

# Client computing right after a non-blocking connect: the handshake completes.
for round in 1 2 3; do
	tb_cli timeout 20 "$bin" -a 7402 >"$out/acc$round.txt" 2>&1 &
	apid=$!
	wait_listening "$out/acc$round.txt"
	tb_srv env "${xtcp_env[@]}" XTCP_PORTS=7499 XTCP_CONNECT_PORTS=7402 timeout 20 \
		"$bin" -c "$TB_CIP" 7402 >"$out/con$round.txt" 2>"$out/con$round.err"
	wait "$apid"
	t0=$(sed -n 's/^connect_return_us=//p' "$out/con$round.txt")
	t1=$(sed -n 's/^accepted_us=//p' "$out/acc$round.txt")
	d=$((${t1:-0} - ${t0:-0}))
	echo "client computing: handshake completed after $d us"
	[ -n "$t0" ] && [ -n "$t1" ] && [ "$d" -lt $limit_us ]
	result $? "round $round: an xtcp client that computes completes its handshake within $limit_us us"
done
grep -q 'serving veth0' "$out/con1.err"
result $? "the client ran on xtcp"
[ $fail = 0 ] && rm -rf "$out"
check_done
