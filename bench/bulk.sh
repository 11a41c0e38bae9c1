#!/usr/bin/env bash
# shellcheck disable=SC2046,SC2086 # lists of pids and /proc files split on purpose
# bench/bulk.sh - the bulk download looked at closely: CPU per GB split by
# where it runs, and the counts behind it (frames, kicks, ACKs, sleeps,
# system calls), with the transmit floor of the AF_XDP path beside it.
#
#   bench/bulk.sh [--rounds N] [--mb N] [--sides kernel,xtcp,floor,floorcopy,floorfile]
#                 [--build DIR] [--perf] [--out DIR]
#
# Same test bed and placement as bench/run.sh's bulk workload (threaded NAPI,
# GRO on, TSO off on both veth ends, server and its NAPI thread on core 1,
# client and its NAPI thread on core 0, the client's checksum offload on).
# Sides, alternating round by round, a fresh test bed each:
#   kernel     nginx (sendfile) on the kernel, curl of an N MiB file
#   xtcp       the same nginx under LD_PRELOAD=libxtcp.so
#   floor      bench/txfloor: full-size frames through the AF_XDP layer alone,
#              headers only (the per-frame cost of copy-mode AF_XDP on veth),
#              UDP to bench/flood/udp_sink on the client core, which reads
#              them as curl reads the download
#   floorcopy  the same plus a 1448-byte payload copy per frame (the stack's
#              copy from its send ring)
#   floorfile  the same with the payload read from the file first: pread() into
#              a 4 MiB ring, then copied into the frames (the shim's sendfile)
# Per run it prints Gbit/s, CPU in s per GB measured by the scheduler
# (schedstat): server = the server process (or txfloor) + the server veth's
# NAPI thread, then each, and the client veth's NAPI thread; the user share
# of the server process (tick samples); the server's CPU per frame sent
# (frames counted on the client veth), and for xtcp the shim's counters per
# GB (TX frames, kicks, ACK frames received, sleeps, engine polls) and
# system calls (perf stat tracepoints); at the end, medians per side.
# --perf: perf record -g of the server's threads and NAPI thread in each
# run, reports in OUT/perf-SIDE-ROUND.txt (timer-based in this VM).
#
# Needs root. Touches only the namespaces it makes and the processes it
# starts.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=3
mb=1024
sides=kernel,xtcp,floor,floorcopy,floorfile
build=$top/build
do_perf=0
out=""
die() {
	echo "bulk: $*" >&2
	exit 1
}
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=${2:-}; shift ;;
	--mb) mb=${2:-}; shift ;;
	--sides) sides=${2:-}; shift ;;
	--build) build=${2:-}; shift ;;
	--perf) do_perf=1 ;;
	--out) out=${2:-}; shift ;;
	-h | --help) sed -n '3,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (--help)" ;;
	esac
	shift
done
if ! [[ $rounds =~ ^[0-9]+$ ]] || [ "$rounds" -lt 1 ] || [ "$rounds" -gt 50 ]; then
	die "--rounds needs 1-50, got '$rounds'"
fi
if ! [[ $mb =~ ^[0-9]+$ ]] || [ "$mb" -lt 16 ] || [ "$mb" -gt 8192 ]; then
	die "--mb needs 16-8192 (MiB), got '$mb'"
fi
IFS=, read -r -a SIDES <<<"$sides"
for s in "${SIDES[@]}"; do
	case $s in kernel | xtcp | floor | floorcopy | floorfile) ;;
	*) die "unknown side '$s' (kernel, xtcp, floor, floorcopy, floorfile)" ;;
	esac
done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (server and client apart)"
for t in nginx curl ethtool taskset; do command -v $t >/dev/null || die "$t is missing (tests/deps.sh)"; done
if [ ! -f "$build/libxtcp.so" ] || [ ! -x "$build/xtcpctl" ] || [ ! -x "$build/bench/txfloor" ]; then
	die "build $build first (targets xtcp xtcpctl txfloor)"
fi
SINK=$build/bench/flood/udp_sink
if [ ! -x "$SINK" ] || [ "$top/bench/flood/udp_sink.c" -nt "$SINK" ]; then
	mkdir -p "$(dirname "$SINK")"
	cc -O2 -Wall -o "$SINK" "$top/bench/flood/udp_sink.c" || die "cannot build udp_sink"
fi
[ -n "$out" ] || out=$(mktemp -d /tmp/xtcp-bulk.XXXXXX)
mkdir -p "$out" || die "cannot create $out"
HZ=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/xtcp-bulkw.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp"
truncate -s "${mb}M" "$work/www/bulk"
cat "$work/www/bulk" >/dev/null # every side finds it in the page cache
chmod 644 "$work/www/bulk"
cat >"$work/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events {
	worker_connections 1024;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	default_type application/octet-stream;
	client_body_temp_path $work/tmp/body;
	proxy_temp_path $work/tmp/proxy;
	fastcgi_temp_path $work/tmp/fastcgi;
	uwsgi_temp_path $work/tmp/uwsgi;
	scgi_temp_path $work/tmp/scgi;
	server {
		listen 80;
		root $work/www;
		location / {
		}
	}
}
EOF

. "$top/tests/testbed.sh"
srv_stop() {
	local p
	[ -n "${TB_SRV:-}" ] || return 0
	for p in $(ip netns pids "$TB_SRV" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 30); do
		[ -n "$(ip netns pids "$TB_SRV" 2>/dev/null)" ] || break
		sleep 0.1
	done
	for p in $(ip netns pids "$TB_SRV" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
}
cleanup() {
	srv_stop
	tb_down
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

napi_threads() { ps -eLo tid=,comm= | awk '$2 ~ /^napi\//'; }

# The test bed of bench/run.sh, and the NAPI threads' pids (SN server, CN client).
bed() {
	local before pid name
	TB_CLIENT_TXCSUM=on tb_up 1 || return 1
	trap cleanup EXIT
	before=$(napi_threads)
	tb_srv ethtool -K "$TB_SIF" gro on tso off >/dev/null 2>&1
	tb_cli ethtool -K "$TB_CIF" gro on tso off >/dev/null 2>&1
	tb_srv sh -c "echo 1 > /sys/class/net/$TB_SIF/threaded"
	tb_cli sh -c "echo 1 > /sys/class/net/$TB_CIF/threaded"
	sleep 0.1
	SN=""
	CN=""
	while read -r pid name; do
		[ -n "$pid" ] || continue
		case $name in
		napi/"$TB_SIF"-*) taskset -pc 1 "$pid" >/dev/null && SN="$SN $pid" ;;
		napi/"$TB_CIF"-*) taskset -pc 0 "$pid" >/dev/null && CN="$CN $pid" ;;
		esac
	done < <(comm -13 <(echo "$before") <(napi_threads))
	[ -n "$SN" ] && [ -n "$CN" ] || echo "bulk: NAPI threads not found: receive work may run elsewhere" >&2
}

# utime and stime ticks summed over the given /proc/.../stat files (tick
# samples: HZ=250 here, and a thread that wakes on timers can be charged
# unevenly), and the run time the scheduler measured (schedstat, ns): the
# CPU figures use the latter, the ticks only split user from system time.
ticks() { awk '{u += $14; s += $15} END {print u + 0, s + 0}' "$@" 2>/dev/null; }
runtime() { awk '{n += $1} END {printf "%.0f\n", n}' "$@" 2>/dev/null; }
stats_of() { local p; for p in "$@"; do echo "/proc/$p/${2:-stat}"; done; }
task_stats() { local p; for p in "$@"; do ls -d /proc/"$p"/task/*/stat 2>/dev/null; done; }
task_sched() { local p; for p in "$@"; do ls -d /proc/"$p"/task/*/schedstat 2>/dev/null; done; }
napi_sched() { local p; for p in "$@"; do echo "/proc/$p/schedstat"; done; }
link_pkts() { # NS IF rx|tx
	ip -n "$1" -s link show "$2" | awk -v d="$3" '/RX:/ {getline; r = $2} /TX:/ {getline; t = $2}
		END {print (d == "rx") ? r : t}'
}
metrics() { tb_srv "$build/xtcpctl" metrics 2>/dev/null | grep -v '^#' | sort; }
metric() { awk -v k="$1" 'index($1, k) == 1 {s += $NF} END {print s + 0}' "$2"; }

# One run of SIDE in round R; appends a line to $out/runs.txt.
run_one() {
	local side=$1 r=$2 d=$out/$1-$2 env=() w="" pp="" f0 f1 a0 a1 x
	local wu0 ws0 wu1 ws1 rw0 rw1 sn0 sn1 cn0 cn1 size secs code
	mkdir -p "$d"
	bed || return 1
	local cmac
	cmac=$(ip -n "$TB_CLI" link show "$TB_CIF" | awk '/link\/ether/ {print $2}')
	if [ "$side" = kernel ] || [ "$side" = xtcp ]; then
		[ "$side" = xtcp ] && env=(XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1
			LD_PRELOAD="$build/libxtcp.so")
		tb_srv env "${env[@]}" taskset -c 1 nginx -c "$work/nginx.conf" -g 'daemon off;' \
			>"$d/server.log" 2>&1 &
		for _ in $(seq 50); do
			sleep 0.1
			[ "$(tb_cli curl -s -o /dev/null -m 1 -r 0-9 -w '%{http_code}' "http://$TB_SIP/bulk")" = 206 ] && break
		done
		for x in $(ip netns pids "$TB_SRV"); do taskset -apc 1 "$x" >/dev/null 2>&1; done
		w=$(pgrep -P "$(cat "$work/nginx.pid" 2>/dev/null || echo 0)" nginx | head -1)
		[ -n "$w" ] || {
			echo "bulk: $side: nginx did not start ($d/server.log)" >&2
			srv_stop
			tb_down
			return 1
		}
	fi
	[ "$side" = xtcp ] && metrics >"$d/met0"
	f0=$(link_pkts "$TB_CLI" "$TB_CIF" rx)
	a0=$(link_pkts "$TB_SRV" "$TB_SIF" rx)
	sn0=$(runtime $(napi_sched $SN))
	cn0=$(runtime $(napi_sched $CN))
	if [ -n "$w" ]; then
		read -r wu0 ws0 < <(ticks $(task_stats "$w"))
		rw0=$(runtime $(task_sched "$w"))
		if [ $do_perf = 1 ]; then
			perf record -g -F 999 -o "$d/perf.data" \
				-t "$(cd /proc/"$w"/task && printf '%s,' *)$(echo $SN | tr ' ' ,)" >/dev/null 2>&1 &
		else
			# sendto answering EAGAIN (the kernel took nothing more) and
			# ppoll ending by its timeout (no frame, no wake-up) counted apart
			perf stat --per-thread -e syscalls:sys_enter_sendto \
				-e syscalls:sys_exit_sendto --filter 'ret == -11' -e syscalls:sys_enter_ppoll \
				-e syscalls:sys_exit_ppoll --filter 'ret == 0' -e syscalls:sys_enter_epoll_wait \
				-e syscalls:sys_enter_pread64 -e syscalls:sys_enter_sendfile64 -e context-switches \
				-p "$w" -o "$d/stat.txt" 2>/dev/null &
		fi
		pp=$!
		tb_cli taskset -c 0 curl -s -o /dev/null --max-time 120 \
			-w '%{size_download} %{time_total} %{http_code}\n' "http://$TB_SIP/bulk" >"$d/curl.txt"
		read -r wu1 ws1 < <(ticks $(task_stats "$w"))
		rw1=$(runtime $(task_sched "$w"))
		read -r size secs code <"$d/curl.txt"
		[ "${code:-}" = 200 ] && [ "${size:-0}" = $((mb << 20)) ] ||
			echo "bulk: $side round $r: curl got '$(cat "$d/curl.txt")'" >&2
	else
		local arg=()
		[ "$side" = floorcopy ] && arg=(copy)
		[ "$side" = floorfile ] && arg=(file "$work/www/bulk")
		tb_cli taskset -c 0 "$SINK" 9 60 >"$d/sink.txt" 2>&1 &
		local sink=$!
		sleep 0.2
		tb_srv taskset -c 1 "$build/bench/txfloor" "$TB_SIF" "$cmac" "$TB_CIP" "$mb" "${arg[@]}" \
			>"$d/txfloor.txt" 2>&1
		kill "$sink" 2>/dev/null
		size=$((mb << 20))
		secs=$(awk '{for (i = 1; i < NF; i++) if ($i == "seconds") print $(i + 1)}' "$d/txfloor.txt")
		# its run time, and user and system time per frame back to ticks
		rw0=0
		rw1=$(awk '{for (i = 1; i < NF; i++) if ($i == "runtime_ns") print $(i + 1)}' "$d/txfloor.txt")
		wu0=0
		ws0=0
		read -r wu1 ws1 < <(awk -v hz="$HZ" '{for (i = 1; i < NF; i++) {v[$i] = $(i + 1)}}
			END {printf "%.0f %.0f\n", v["user_us"] * v["frames"] / 1e6 * hz, v["sys_us"] * v["frames"] / 1e6 * hz}' "$d/txfloor.txt")
	fi
	sn1=$(runtime $(napi_sched $SN))
	cn1=$(runtime $(napi_sched $CN))
	f1=$(link_pkts "$TB_CLI" "$TB_CIF" rx)
	a1=$(link_pkts "$TB_SRV" "$TB_SIF" rx)
	if [ -n "$pp" ]; then
		kill -INT "$pp" 2>/dev/null
		wait "$pp" 2>/dev/null
	fi
	[ "$side" = xtcp ] && metrics >"$d/met1"
	local extra=""
	if [ "$side" = xtcp ]; then
		local k
		for k in xtcp_af_xdp_tx_kicks_total xtcp_engine_sleeps_total xtcp_engine_polls_total; do
			x=${k#xtcp_}
			extra="$extra ${x%_total} $(($(metric $k "$d/met1") - $(metric $k "$d/met0")))"
		done
	fi
	if [ -f "$d/stat.txt" ]; then
		extra="$extra $(awk '/syscalls:sys_e|context-switches/ {n[$3] += $2}
			END {for (k in n) {s = k; sub(/syscalls:sys_enter_/, "", s)
				sub(/syscalls:sys_exit_sendto/, "sendto_eagain", s)
				sub(/syscalls:sys_exit_ppoll/, "ppoll_timeout", s); printf "%s %d ", s, n[k]}}' "$d/stat.txt")"
	fi
	awk -v side="$side" -v r="$r" -v size="$size" -v secs="$secs" \
		-v wu=$((wu1 - wu0)) -v ws=$((ws1 - ws0)) -v rw=$((rw1 - rw0)) -v sn=$((sn1 - sn0)) \
		-v cn=$((cn1 - cn0)) -v fr=$((f1 - f0)) -v ac=$((a1 - a0)) -v extra="$extra" 'BEGIN {
		gb = size / 1e9
		printf "%s %d gbps %.2f server %.3f proc %.3f srv_napi %.3f cli_napi %.3f user_pct %.0f us_per_frame %.3f frames_per_gb %d acks_per_gb %d",
			side, r, size * 8 / secs / 1e9, (rw + sn) / 1e9 / gb, rw / 1e9 / gb, sn / 1e9 / gb,
			cn / 1e9 / gb, (wu + ws) ? 100 * wu / (wu + ws) : 0, (rw + sn) / 1e3 / fr, fr / gb, ac / gb
		n = split(extra, e, " ")
		for (i = 1; i < n; i += 2)
			printf " %s_per_gb %d", e[i], e[i + 1] / gb
		printf "\n"
	}' | tee -a "$out/runs.txt"
	if [ $do_perf = 1 ] && [ -f "$d/perf.data" ]; then
		{
			perf report -i "$d/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%'
			perf report -i "$d/perf.data" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null |
				grep '%' | head -60
		} >"$out/perf-$side-$r.txt"
	fi
	srv_stop
	tb_down
}

echo "bulk: $mb MiB, sides $sides, $rounds round(s), results in $out" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >"$out/meta.txt"
for r in $(seq "$rounds"); do
	for s in "${SIDES[@]}"; do
		run_one "$s" "$r" || echo "bulk: $s round $r failed" >&2
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"

# Medians per side of every numeric field.
echo "medians over rounds (CPU in s/GB; us_per_frame: server per frame sent):"
awk '{
	s = $1; if (!(s in seen)) {seen[s] = 1; order[++ns] = s}
	for (i = 3; i < NF; i += 2) {
		k = $i; if (!((s, k) in nk)) {nk[s, k] = 0; if (!(k in kseen)) {kseen[k] = 1; keys[++nkeys] = k}}
		v[s, k, ++nk[s, k]] = $(i + 1)
	}
}
END {
	for (j = 1; j <= ns; j++) {
		s = order[j]; line = s
		for (q = 1; q <= nkeys; q++) {
			k = keys[q]; n = nk[s, k]; if (!n) continue
			for (a = 1; a <= n; a++) x[a] = v[s, k, a]
			for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (x[b] < x[a]) {t = x[a]; x[a] = x[b]; x[b] = t}
			m = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
			line = line sprintf(" %s %g", k, m)
		}
		print line
	}
}' "$out/runs.txt" | tee "$out/medians.txt"
