#!/usr/bin/env bash
# rcvbuf_bench.sh BUILD_DIR [MB] [ROUNDS] - bulk upload to a server over a long
# path: the test bed's middle namespace runs xt_impair with a constant latency
# (-L 10000: 20 ms RTT, no loss), the client (kernel) sends MB megabytes, the
# server reads them; alternately on the kernel and under LD_PRELOAD=libxtcp.so.
# The server's receive buffer starts small (Linux tcp_rmem[1]; xtcp 256 KiB)
# and must grow with the measured rate (receive autotuning) for the upload to
# fill the path. Pass: the median xtcp throughput is within 10% of the
# kernel's (or above). Root; exits 77 without. Prints "N passed, N failed".
set -u
build=$(cd "${1:?usage: rcvbuf_bench.sh BUILD_DIR [MB] [ROUNDS]}" && pwd)
mb=${2:-200}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
imp=$build/tests/impair/xt_impair
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$imp" "$lib"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
TB_MIDDLE=1 tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-rcvbuf.XXXXXX)

tb_mid_bridged
ip netns exec "$TB_MID" sysctl -qw net.ipv4.ip_forward=0
ip netns exec "$TB_MID" "$imp" -a "$TB_MIF_S" -A "$TB_SMAC" -b "$TB_MIF_C" -B "$TB_CMAC" \
	-L 10000 -t 600 >"$out/impair.log" 2>&1 &
ipid=$!
check "path through the bridge" tb_ping "$TB_SIP"
rtt=$(tb_cli ping -c3 -q "$TB_SIP" | awk -F/ '/rtt/ {print $5}')
echo "ping RTT through the bridge: ${rtt} ms"

cat >"$out/sink.py" <<'EOP'
import socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
n, t0 = 0, None
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    if t0 is None:
        t0 = time.monotonic()
    n += len(b)
dt = time.monotonic() - t0
print("%d bytes in %.3f s: %.1f Mbit/s" % (n, dt, n * 8 / dt / 1e6), flush=True)
EOP
cat >"$out/src.py" <<'EOP'
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
buf = b"x" * (1 << 20)
for _ in range(int(sys.argv[3])):
    c.sendall(buf)
c.close()
EOP

run() { # run NAME PORT [env...]: prints Mbit/s
	local name=$1 port=$2 pid i
	shift 2
	tb_srv env "$@" timeout 120 python3 "$out/sink.py" "$TB_SIP" "$port" >"$out/$name.txt" \
		2>"$out/$name.err" &
	pid=$!
	for i in $(seq 100); do
		grep -q listening "$out/$name.txt" 2>/dev/null && break
		sleep 0.1
	done
	tb_cli timeout 120 python3 "$out/src.py" "$TB_SIP" "$port" "$mb" 2>>"$out/$name.err"
	wait "$pid"
	awk '/Mbit/ {print $(NF-1)}' "$out/$name.txt"
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
: >"$out/k" && : >"$out/x"
for r in $(seq "$rounds"); do
	k=$(run "kernel$r" $((7330 + 2 * r)))
	x=$(run "xtcp$r" $((7331 + 2 * r)) LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" \
		XTCP_PORTS=$((7331 + 2 * r)) XTCP_LOG=info)
	echo "round $r: kernel ${k:-failed} Mbit/s, xtcp ${x:-failed} Mbit/s"
	echo "${k:-0}" >>"$out/k"
	echo "${x:-0}" >>"$out/x"
done
km=$(median <"$out/k")
xm=$(median <"$out/x")
echo "median of $rounds rounds, $mb MB upload, 20 ms RTT: kernel $km Mbit/s, xtcp $xm Mbit/s"
check "every upload completed" bash -c "! grep -qx 0 $out/k $out/x"
check "xtcp served (stderr says so)" grep -q 'serving' "$out/xtcp1.err"
check "xtcp median within 10% of the kernel's ($xm vs $km Mbit/s)" \
	awk -v x="$xm" -v k="$km" 'BEGIN { exit !(x >= 0.9 * k) }'
kill "$ipid" 2>/dev/null
wait "$ipid" 2>/dev/null
tail -3 "$out/impair.log"
[ $fail = 0 ] && rm -rf "$out"
check_done
