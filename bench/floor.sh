#!/usr/bin/env bash
# bench/floor.sh - what this machine allows: the per-frame cost of the AF_XDP
# path alone, without the TCP stack, the shim or an application.
#
#   bench/floor.sh [--rates 20000,50000,100000] [--duration S] [--rounds N]
#                  [--build DIR] [--out DIR]
#
# In the bench's test bed (tests/testbed.sh, placement as bench/run.sh: the
# server veth's NAPI thread and the responder on core 1, the client's on
# core 0, threaded NAPI, GRO on, TSO off) the minimal responder
# tests/xsk/xsk_rst_responder (the project's xsk/ layer: XDP program, AF_XDP
# port, netdev API; it verifies each checksum and answers each segment with a
# RST built from scratch, one RX and one TX frame per segment, one TX kick per
# burst, sleeping in poll() with need_wakeup) serves port 9000. From the
# client namespace bench/flood/xtcp_flood sends SYNs at each fixed rate
# (bounded by --duration and a count); each round goes through every rate.
# Per rate it prints the medians over rounds of:
#   us_per_frame   CPU (utime+stime) of the responder + the server veth's NAPI
#                  thread, per SYN answered (1 RX + 1 TX frame)
#   core_us        core 1's busy time (/proc/stat) per SYN answered (includes
#                  softirq time outside the NAPI thread and any other load on core 1)
#   answered       SYNs answered per second of load
# and once the cost of the cheapest system call on core 1 (perf bench syscall
# basic), for the per-request floor in bench/README.md ("The floor").
# Needs root. Touches only the namespaces it makes and the processes it starts.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rates=20000,50000,100000
dur=5
rounds=3
build=$top/build
out=""
die() {
	echo "floor: $*" >&2
	exit 1
}
while [ $# -gt 0 ]; do
	case $1 in
	--rates) rates=${2:-}; shift ;;
	--duration) dur=${2:-}; shift ;;
	--rounds) rounds=${2:-}; shift ;;
	--build) build=${2:-}; shift ;;
	--out) out=${2:-}; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (--help)" ;;
	esac
	shift
done
[[ $rates =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--rates needs N[,N...] (frames/s), got '$rates'"
[[ $dur =~ ^[0-9]+$ ]] && [ "$dur" -ge 1 ] && [ "$dur" -le 60 ] || die "--duration needs 1-60 s, got '$dur'"
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] && [ "$rounds" -le 20 ] || die "--rounds needs 1-20, got '$rounds'"
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (responder and load apart)"
RESP=$build/tests/xsk/xsk_rst_responder
[ -x "$RESP" ] || cmake --build "$build" --target xsk_rst_responder >/dev/null 2>&1 ||
	die "no $RESP (cmake --build $build --target xsk_rst_responder)"
FLOOD=$build/bench/flood/xtcp_flood
if [ ! -x "$FLOOD" ] || [ "$top/bench/flood/xtcp_flood.c" -nt "$FLOOD" ]; then
	mkdir -p "$(dirname "$FLOOD")"
	cc -O2 -Wall -o "$FLOOD" "$top/bench/flood/xtcp_flood.c" || die "cannot build xtcp_flood"
fi
[ -n "$out" ] || out=$(mktemp -d /tmp/xtcp-floor.XXXXXX)
mkdir -p "$out" || die "cannot create $out"
HZ=$(getconf CLK_TCK)
PORT=9000
. "$top/tests/testbed.sh"
RESP_JOB=""
cleanup() {
	[ -z "$RESP_JOB" ] || kill -TERM "$RESP_JOB" 2>/dev/null
	tb_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

napi_threads() { ps -eo pid=,comm= | awk '$2 ~ /^napi\// {print $1, $2}' | sort; }

# The test bed as bench/run.sh places it; sets SRV_NAPI.
bed_up() {
	local before pid name
	TB_CLIENT_TXCSUM=on tb_up 1 || die "test bed failed"
	trap cleanup EXIT
	before=$(napi_threads)
	tb_srv ethtool -K "$TB_SIF" gro on tso off >/dev/null 2>&1
	tb_cli ethtool -K "$TB_CIF" gro on tso off >/dev/null 2>&1
	tb_srv sh -c "echo 1 > /sys/class/net/$TB_SIF/threaded"
	tb_cli sh -c "echo 1 > /sys/class/net/$TB_CIF/threaded"
	sleep 0.1
	SRV_NAPI=""
	while read -r pid name; do
		case $name in
		napi/"$TB_SIF"-*) taskset -pc 1 "$pid" >/dev/null && SRV_NAPI="$SRV_NAPI $pid" ;;
		napi/"$TB_CIF"-*) taskset -pc 0 "$pid" >/dev/null ;;
		esac
	done < <(comm -13 <(echo "$before") <(napi_threads))
	[ -n "$SRV_NAPI" ] || die "no NAPI thread of $TB_SIF found to pin"
}

ticks() { # PIDS...: utime+stime summed
	local p
	for p in "$@"; do cat "/proc/$p/stat"; done | sed 's/.*) //' | awk '{t += $12 + $13} END {print t + 0}'
}
core1() { awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
answered() { # the responder's "stats rx=N rst=M ..." line after SIGUSR1
	kill -USR1 "$RESP_PID"
	sleep 0.2
	awk '/^stats / {for (i = 2; i <= NF; i++) if ($i ~ /^rst=/) {sub(/rst=/, "", $i); v = $i}} END {print v + 0}' \
		"$out/responder.log"
}

echo "rate,round,answered_per_s,us_per_frame,core_us" >"$out/floor.csv"
bed_up
tb_srv taskset -c 1 "$RESP" "$TB_SIF" "$PORT" >"$out/responder.log" 2>&1 &
RESP_JOB=$!
for _ in $(seq 50); do
	grep -q '^ready' "$out/responder.log" && break
	sleep 0.1
done
grep -q '^ready' "$out/responder.log" || die "the responder did not start: $(tail -n 3 "$out/responder.log")"
RESP_PID=$(ip netns pids "$TB_SRV" | while read -r p; do
	[ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$RESP")" ] && echo "$p"; done | head -n 1)
[ -n "$RESP_PID" ] || die "cannot find the responder's pid"
SMAC=$(tb_srv cat "/sys/class/net/$TB_SIF/address")
IFS=, read -r -a R <<<"$rates"
for ((round = 1; round <= rounds; round++)); do
	for rate in "${R[@]}"; do
		a0=$(answered)
		t0=$(ticks "$RESP_PID" $SRV_NAPI)
		c0=$(core1)
		tb_cli timeout -k 2 $((dur + 10)) taskset -c 0 "$FLOOD" -i "$TB_CIF" -d "$TB_SIP" \
			-m "$SMAC" -t syn -p "$PORT" -r "$rate" -T "$dur" -c $((rate * dur)) \
			>>"$out/flood.log" 2>&1
		sleep 0.2 # the last frames' answers
		a1=$(answered)
		t1=$(ticks "$RESP_PID" $SRV_NAPI)
		c1=$(core1)
		awk -v r="$rate" -v rd="$round" -v n=$((a1 - a0)) -v t=$((t1 - t0)) -v c=$((c1 - c0)) \
			-v d="$dur" -v hz="$HZ" 'BEGIN {
			if (n <= 0) { printf "%s,%s,0,,\n", r, rd; exit }
			printf "%s,%s,%.0f,%.3f,%.3f\n", r, rd, n / d, t / hz * 1e6 / n, c / hz * 1e6 / n
		}' >>"$out/floor.csv"
	done
done
syscall_ns=""
if command -v perf >/dev/null; then
	syscall_ns=$(taskset -c 1 perf bench syscall basic -l 1000000 2>/dev/null |
		awk '/usecs\/op/ {printf "%.0f", $1 * 1000}')
fi
echo "floor: the AF_XDP path alone (xsk_rst_responder, 1 RX + 1 TX frame per SYN), medians of $rounds rounds x ${dur} s"
awk -F, 'NR > 1 {k = $1; n[k]++; a[k, n[k]] = $3; u[k, n[k]] = $4; c[k, n[k]] = $5; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
function med(arr, k, cnt,    i, j, t, v) {
	for (i = 1; i <= cnt; i++) v[i] = arr[k, i]
	for (i = 2; i <= cnt; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
}
END {
	printf "  %10s %12s %22s %14s %s\n", "rate/s", "answered/s", "responder+NAPI us/SYN", "core 1 us/SYN", "(each round)"
	for (i = 1; i <= m; i++) {
		k = order[i]; r = ""
		for (j = 1; j <= n[k]; j++) r = r sprintf(" %s", u[k, j])
		printf "  %10s %12.0f %22.2f %14.2f %s\n", k, med(a, k, n[k]), med(u, k, n[k]), med(c, k, n[k]), r
	}
}' "$out/floor.csv" | tee "$out/floor.txt"
[ -z "$syscall_ns" ] || echo "  cheapest system call on core 1 (perf bench syscall basic): $syscall_ns ns" |
	tee -a "$out/floor.txt"
echo "  raw: $out"
