#!/usr/bin/env bash
# bench/run.sh - the same nginx on the Linux kernel and under xtcp, side by
# side, in the two-namespace test bed (tests/testbed.sh). Method: bench/README.md.
#
#   bench/run.sh              full run: 3 rounds per side (A B A B A B), ~12 min
#   bench/run.sh --quick      1 round, 2 s loads: a smoke run (~2 min)
#
# Options:
#   --rounds N        rounds per side (default 3, --quick 1)
#   --duration S      seconds per load (default 10, --quick 2)
#   --idle S          seconds of the idle measurement (default 10, --quick 2)
#   --sides A,B,..    what to compare, the first is the reference of the ratios
#                     (default kernel,xtcp):
#                       kernel        nginx on the kernel, client tx checksum offload ON
#                                     (the kernel's best case, as behind a real NIC)
#                       kernel-txoff  nginx on the kernel, client tx checksum offload OFF
#                       xtcp          nginx under LD_PRELOAD=libxtcp.so, client offload ON
#                                     (xtcp accepts the local kernel's partial checksums)
#   --client-csum on|off  the xtcp side's client tx checksum offload (default on;
#                     off: the old method, the client finishes every checksum)
#   --workloads LIST  subset of ab50,ab1000,ab4000,ka,kax,cpu,min10,minka,mc,bulk,
#                     idle,rate,stack (kax: wrk itself under xtcp, XTCP_CONNECT_PORTS=80;
#                     min10/minka: cpuserver -r 0 under ab -c 50 / wrk -c 100;
#                     mc: memcached -t 4 under memcaslap (memaslap), installed on demand)
#   --mc-threads N    memcached worker threads (-t, default 4: its default)
#   --bulk-kernel-tso on|off  TSO on the kernel server's veth for bulk (default off:
#                     both sides send MTU frames; on: the kernel's 64 KB super-segments)
#   --build DIR       build directory (default <repo>/build)
#   --no-build        do not install packages or build: use what DIR holds
#   --out DIR         raw results directory (default bench/results/raw/<date>-<commit>,
#                     which git ignores; a clean tree's summary then also goes to
#                     bench/results/<date>-<commit>.txt, the file git keeps)
#   --rate R          requests/s of the fixed-rate workload (default: half of
#                     the first side's keep-alive req/s, measured in round 1)
#   --cpu-rounds N    cpuserver hash rounds per request (default 250, ~20 us)
#   --bulk-mb N       size of the bulk download in MiB (default 1024)
#   --perf            then one profiling pass per side: perf record -g of the
#                     server's tasks during ab -c 50, wrk keep-alive, cpuserver and
#                     memcached; reports in DIR/perf/ (not in the figures: perf costs CPU)
#   --strace          with --perf: also one load per profile under strace -c -f of the
#                     server's processes (system calls per request, DIR/perf/*.strace.txt)
#   --napi-defer N,NS the server veth's napi_defer_hard_irqs and gro_flush_timeout
#                     (ns), every side (default 0,0: off)
#   --busy-poll       xtcp side with XTCP_BUSY_POLL=1 (AF_XDP preferred busy
#                     polling); implies --napi-defer 2,200000 unless given
#   --tso on|off      TSO on both veth ends (default off: with TSO on, veth
#                     skips the receiver's NAPI and the receive work runs on
#                     the sender's core; see bench/README.md)
#
# Needs root (network namespaces). Touches only the namespaces it makes and
# the processes it starts.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
here=$top/bench

rounds=3
dur=10
idle=10
sides=kernel,xtcp
workloads=ab50,ab1000,ab4000,ka,kax,cpu,min10,minka,mc,bulk,idle,rate,stack
client_csum=on
mc_threads=4
bulk_ktso=off
build=$top/build
do_build=1
out=""
rate=""
cpu_rounds=250
tso=off
bulk_mb=1024
do_perf=0
do_strace=0
napi_defer=""
busy_poll=0

die() {
	echo "bench: $*" >&2
	exit 1
}
log() { echo "bench: $*" >&2; }

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

num() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || die "$1 needs a positive integer, got '$2'"; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick)
		rounds=1
		dur=2
		idle=2
		;;
	--rounds) num "$1" "${2:-}"; rounds=$2; shift ;;
	--duration) num "$1" "${2:-}"; dur=$2; shift ;;
	--idle) num "$1" "${2:-}"; idle=$2; shift ;;
	--sides) sides=${2:-}; shift ;;
	--workloads) workloads=${2:-}; shift ;;
	--build) build=${2:-}; shift ;;
	--no-build) do_build=0 ;;
	--out) out=${2:-}; shift ;;
	--rate) num "$1" "${2:-}"; rate=$2; shift ;;
	--cpu-rounds) num "$1" "${2:-}"; cpu_rounds=$2; shift ;;
	--mc-threads) num "$1" "${2:-}"; mc_threads=$2; shift ;;
	--perf) do_perf=1 ;;
	--strace) do_strace=1 ;;
	--busy-poll) busy_poll=1 ;;
	--napi-defer)
		napi_defer=${2:-}
		[[ $napi_defer =~ ^[0-9]+,[0-9]+$ ]] || die "--napi-defer needs N,NS (e.g. 2,200000), got '$napi_defer'"
		shift
		;;
	--bulk-mb) num "$1" "${2:-}"; bulk_mb=$2; shift ;;
	--client-csum)
		client_csum=${2:-}
		[ "$client_csum" = on ] || [ "$client_csum" = off ] || die "--client-csum needs on or off, got '$client_csum'"
		shift
		;;
	--bulk-kernel-tso)
		bulk_ktso=${2:-}
		[ "$bulk_ktso" = on ] || [ "$bulk_ktso" = off ] || die "--bulk-kernel-tso needs on or off, got '$bulk_ktso'"
		shift
		;;
	--tso)
		tso=${2:-}
		[ "$tso" = on ] || [ "$tso" = off ] || die "--tso needs on or off, got '$tso'"
		shift
		;;
	-h | --help) usage 0 ;;
	*) echo "bench: unknown option '$1'" >&2; usage ;;
	esac
	shift
done

[ $busy_poll = 0 ] || [ -n "$napi_defer" ] || napi_defer=2,200000
IFS=, read -r -a SIDES <<<"$sides"
[ ${#SIDES[@]} -ge 1 ] || die "--sides needs at least one of kernel, kernel-txoff, xtcp"
for s in "${SIDES[@]}"; do
	case $s in kernel | kernel-txoff | xtcp) ;; *) die "unknown side '$s' (kernel | kernel-txoff | xtcp)" ;; esac
done
IFS=, read -r -a WL <<<"$workloads"
for w in "${WL[@]}"; do
	case $w in ab50 | ab1000 | ab4000 | ka | kax | cpu | min10 | minka | mc | bulk | idle | rate | stack) ;;
	*) die "unknown workload '$w' (ab50,ab1000,ab4000,ka,kax,cpu,min10,minka,mc,bulk,idle,rate,stack)" ;;
	esac
done
want() { [[ ,$workloads, == *,$1,* ]]; }
want_side() { [[ ,$sides, == *,$1,* ]]; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, ethtool, taskset of kernel threads)"
build=$(mkdir -p "$build" && cd "$build" && pwd)

# ---------------------------------------------------------------- build
if [ $do_build = 1 ]; then
	extra=()
	# memcaslap is Debian's memaslap (libmemcached-tools; memtier is not in Debian 12).
	! want mc || extra=(memcached libmemcached-tools)
	"$top/tests/deps.sh" "${extra[@]}" || die "tests/deps.sh could not install the packages"
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build/bench-cmake.log" 2>&1 ||
		log "cmake configure failed (see $build/bench-cmake.log)"
	cmake --build "$build" -j"$(nproc)" --target cpuserver ratecli >>"$build/bench-cmake.log" 2>&1 ||
		log "building cpuserver/ratecli with cmake failed (see $build/bench-cmake.log)"
	if want stack; then
		cmake --build "$build" -j"$(nproc)" --target stack_bench >>"$build/bench-cmake.log" 2>&1 ||
			log "building bench/stack failed: no stack micro-benchmark (see $build/bench-cmake.log)"
	fi
	if want_side xtcp || want kax; then
		cmake --build "$build" -j"$(nproc)" --target xtcp >>"$build/bench-cmake.log" 2>&1 ||
			log "building libxtcp.so failed: the xtcp side will be reported FAILED (see $build/bench-cmake.log)"
	fi
fi
# The harness's own programs also build without CMake (others' folders may not).
for p in cpuserver ratecli; do
	if [ ! -x "$build/bench/$p" ]; then
		mkdir -p "$build/bench"
		cc -O2 -Wall -o "$build/bench/$p" "$here/$p.c" || die "cannot build bench/$p.c"
	fi
done
for t in nginx ab wrk curl ethtool taskset; do
	command -v $t >/dev/null || die "$t is missing (tests/deps.sh installs it)"
done
LIBXTCP=$build/libxtcp.so
if want mc && ! { command -v memcached && command -v memcaslap; } >/dev/null; then
	log "memcached or memcaslap (libmemcached-tools) is missing: no mc workload"
	workloads=$(echo ",$workloads," | sed 's/,mc,/,/; s/^,//; s/,$//')
fi

# ---------------------------------------------------------------- results
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo nogit)
git -C "$top" diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
# Raw data (logs, runs.csv, profiles, plot) stays out of git; only the
# summary of a default run of a clean tree is copied next to it for keeping:
# a -dirty run cannot be reproduced from any commit (bench/README.md).
keep=""
if [ -z "$out" ]; then
	name=$(date -u +%Y%m%d-%H%M)-$commit
	out=$here/results/raw/$name
	[[ $commit == *-dirty ]] || keep=$here/results/$name.txt
fi
mkdir -p "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)
RUNS=$out/runs.csv
echo "round,side,workload,metric,value" >"$RUNS"

# ---------------------------------------------------------------- placement
# Server and its receive work on core 1, load generator and its receive work
# on core 0 (one core for everything on a 1-core machine).
if [ "$(nproc)" -ge 2 ]; then
	SC=1
	CC=0
else
	SC=0
	CC=0
	log "only one CPU: server and client share core 0 (figures are not meaningful)"
fi
HZ=$(getconf CLK_TCK)
SRV_NAPI="" # pids of the server veth's NAPI threads (placement())
SRV_PIDS="" # pids of the processes in the server namespace (srv_start())
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# ---------------------------------------------------------------- server files
work=$(mktemp -d /tmp/xtcp-bench.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # until the full cleanup below is set
chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp"
head -c 63 /dev/zero | tr '\0' x >"$work/www/64"
echo >>"$work/www/64"
truncate -s "${bulk_mb}M" "$work/www/bulk" # sparse; read once: every side finds it cached
cat "$work/www/bulk" >/dev/null
chmod 644 "$work/www/64" "$work/www/bulk"
cat >"$work/nginx.conf" <<EOF
# One worker: the server gets one core (core $SC). Same file for every side.
user www-data;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $work/nginx.pid;
error_log $work/error.log warn;
events {
	worker_connections 16384;
}
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $work/tmp/body;
	proxy_temp_path $work/tmp/proxy;
	fastcgi_temp_path $work/tmp/fastcgi;
	uwsgi_temp_path $work/tmp/uwsgi;
	scgi_temp_path $work/tmp/scgi;
	server {
		listen 80 backlog=8192;
		root $work/www;
		location / {
		}
	}
}
EOF
nginx -t -c "$work/nginx.conf" >"$work/nginx-t.log" 2>&1 || {
	cat "$work/nginx-t.log" >&2
	die "nginx rejects the generated configuration"
}

. "$top/tests/testbed.sh"
cleanup() {
	srv_stop
	tb_down
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- meta
# Other load on the machine skews every figure: measure it before starting.
busy_before=$(
	{
		cat /proc/stat
		sleep 1
		cat /proc/stat
	} | awk '/^cpu / {b = $2 + $3 + $4 + $7 + $8 + $9; t = b + $5 + $6
		if (n++) printf "%.1f", 100 * (b - b0) / (t - t0); b0 = b; t0 = t}'
)
awk -v b="$busy_before" 'BEGIN {exit !(b > 10)}' &&
	log "warning: the machine was ${busy_before}% busy before the run: figures will be noisy"
{
	printf '{\n'
	printf '  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '  "commit": "%s",\n' "$commit"
	printf '  "kernel": "%s",\n' "$(uname -r)"
	printf '  "machine": "%s",\n' "$(uname -m)"
	printf '  "cpu": "%s",\n' "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	printf '  "cpus": %s,\n' "$(nproc)"
	printf '  "busy_before_pct": %s,\n' "$busy_before"
	printf '  "loadavg": "%s",\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '  "mem_kb": %s,\n' "$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
	printf '  "os": "%s",\n' "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
	printf '  "nginx": "%s",\n' "$(nginx -v 2>&1 | sed 's/.*: //')"
	printf '  "ab": "%s",\n' "$(ab -V 2>&1 | awk '/Version/ {print $4; exit}')"
	printf '  "wrk": "%s",\n' "$(wrk -v 2>&1 | awk '{print $2; exit}')"
	printf '  "sides": "%s",\n' "$sides"
	printf '  "workloads": "%s",\n' "$workloads"
	printf '  "rounds": %s,\n' "$rounds"
	printf '  "duration_s": %s,\n' "$dur"
	printf '  "idle_s": %s,\n' "$idle"
	printf '  "cpu_rounds": %s,\n' "$cpu_rounds"
	printf '  "tso": "%s",\n' "$tso"
	printf '  "client_csum": "%s",\n' "$client_csum"
	printf '  "bulk_kernel_tso": "%s",\n' "$bulk_ktso"
	printf '  "mc_threads": %s,\n' "$mc_threads"
	printf '  "napi_defer": "%s",\n' "${napi_defer:-0,0}"
	printf '  "busy_poll": %s,\n' "$busy_poll"
	printf '  "bulk_mb": %s,\n' "$bulk_mb"
	printf '  "server_core": %s,\n' "$SC"
	printf '  "client_core": %s,\n' "$CC"
	printf '  "libxtcp": "%s"\n' "$LIBXTCP"
	printf '}\n'
} >"$out/meta.json"
cp "$work/nginx.conf" "$out/nginx.conf"

# ---------------------------------------------------------------- helpers
emit() { echo "$ROUND,$SIDE,$1,$2,$3" >>"$RUNS"; }

srv_pids() { [ -n "${TB_SRV:-}" ] && ip netns pids "$TB_SRV" 2>/dev/null; }

# Pin every thread of every process in the server namespace to the server core.
srv_pin() {
	local p
	for p in $(srv_pids); do
		taskset -apc "$SC" "$p" >/dev/null 2>&1
	done
}

srv_stop() {
	local p
	[ -n "$(srv_pids)" ] || return 0
	for p in $(srv_pids); do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 50); do
		[ -n "$(srv_pids)" ] || break
		sleep 0.1
	done
	for p in $(srv_pids); do kill -9 "$p" 2>/dev/null; done
	[ -z "${SRV_JOB:-}" ] || wait "$SRV_JOB" 2>/dev/null
	SRV_JOB=""
}

# Does the server answer? PATH of an HTTP server on port 80, or "mc" for
# memcached on 11211.
srv_probe() {
	if [ "$1" = mc ]; then
		tb_cli memcping --servers="$TB_SIP:11211" >/dev/null 2>&1
	else
		[ "$(tb_cli curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$TB_SIP$1")" = 200 ]
	fi
}

# srv_start SIDE LOG PATH|mc CMD...: start a server in the server namespace on
# the server core (under xtcp for the xtcp side) and wait until it answers.
srv_start() {
	local side=$1 logf=$2 path=$3 port=80
	shift 3
	local env=()
	[ "$path" = mc ] && port=11211
	if [ "$side" = xtcp ]; then
		if [ ! -f "$LIBXTCP" ]; then
			echo "no $LIBXTCP (build failed?)" >>"$logf"
			return 1
		fi
		env=(XTCP_IFACE="$TB_SIF" XTCP_PORTS=$port XTCP_STRICT=1 LD_PRELOAD="$LIBXTCP"
			XTCP_BUSY_POLL=$busy_poll)
	fi
	tb_srv env "${env[@]}" taskset -c "$SC" "$@" >>"$logf" 2>&1 &
	SRV_JOB=$!
	for _ in $(seq 50); do
		sleep 0.1
		if srv_probe "$path"; then
			srv_pin
			SRV_PIDS=$(srv_pids) # for snap(); the server's processes stay
			if [ "$side" = xtcp ] && ! ip -n "$TB_SRV" link show "$TB_SIF" | grep -q 'prog/xdp'; then
				echo "xtcp is not active: no XDP program on $TB_SIF" >>"$logf"
				return 1
			fi
			return 0
		fi
	done
	echo "server did not answer $path on $TB_SIP:$port within 5 s" >>"$logf"
	return 1
}

# Snapshot: busy/total jiffies of all CPUs, CPU $CC, CPU $SC; server process
# ticks; client veth packets; time; server NAPI thread ticks. Sets the array
# named by $1.
snap() {
	local -n s=$1
	local p files=() napi=""
	# One awk for everything: forks are what costs on a loaded machine.
	for p in $SRV_PIDS; do [ -r "/proc/$p/stat" ] && files+=("/proc/$p/stat"); done
	for p in $SRV_NAPI; do
		[ -r "/proc/$p/stat" ] && files+=("/proc/$p/stat") && napi="$napi /proc/$p/stat"
	done
	# Context switches of every server thread and the NAPI thread.
	local t
	for p in $SRV_PIDS $SRV_NAPI; do
		for t in /proc/"$p"/task/*/status; do [ -r "$t" ] && files+=("$t"); done
	done
	# The server namespace's kernel TCP counters, through its first process.
	local snmp=/dev/null
	for p in $SRV_PIDS; do
		[ -r "/proc/$p/net/snmp" ] && snmp=/proc/$p/net/snmp && break
	done
	read -r "s[0]" "s[1]" "s[2]" "s[3]" "s[4]" "s[5]" "s[6]" "s[9]" "s[7]" "s[10]" "s[11]" "s[12]" < <(awk \
		-v cc="cpu$CC" -v sc="cpu$SC" -v dev="$TB_CIF:" -v napi="$napi" '
		function busy() { return $2 + $3 + $4 + $7 + $8 + $9 }
		function tot() { return busy() + $5 + $6 }
		BEGIN { n = split(napi, a, " "); for (i = 1; i <= n; i++) isnapi[a[i]] = 1 }
		FILENAME == "/proc/stat" && $1 == "cpu" { ab = busy(); at = tot() }
		FILENAME == "/proc/stat" && $1 == cc { cb = busy(); ct = tot() }
		FILENAME == "/proc/stat" && $1 == sc { sb = busy(); st = tot() }
		FILENAME ~ /^\/proc\/[0-9]+\/stat$/ {
			f = FILENAME
			sub(/.*\) /, "")
			if (f in isnapi) nt += $12 + $13; else { pt += $12 + $13; pu += $12 }
		}
		FILENAME ~ /\/status$/ && $1 ~ /^(non)?voluntary_ctxt_switches:$/ { cs += $2 }
		FILENAME ~ /net\/dev$/ && $1 == dev { pk = $3 + $11 }
		FILENAME ~ /net\/snmp$/ && $1 == "Tcp:" {
			if (!col) { for (i = 2; i <= NF; i++) if ($i == "PassiveOpens") col = i }
			else po = $col
		}
		END { print ab, at, cb, ct, sb, st, pt + 0, nt + 0, pk + 0, po + 0, pu + 0, cs + 0 }' \
		/proc/stat "${files[@]}" "/proc/$CLI_ANCHOR/net/dev" "$snmp")
	s[8]=${EPOCHREALTIME/./}
}

# cpu_metrics REQUESTS: emit the CPU and packet figures between snapshots A and B.
cpu_metrics() {
	local wl=$1 req=$2
	awk -v hz="$HZ" -v req="$req" -v a="${A[*]}" -v b="${B[*]}" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		for (i = 1; i <= 13; i++) d[i] = y[i] - x[i]
		if (req > 0) {
			printf "mach_cpu_s_per_kreq %.5f\n", d[1] / hz / req * 1000
			printf "srv_proc_cpu_s_per_kreq %.5f\n", d[7] / hz / req * 1000
			printf "srv_proc_user_s_per_kreq %.5f\n", d[12] / hz / req * 1000
			printf "srv_cpu_s_per_kreq %.5f\n", (d[7] + d[10]) / hz / req * 1000
			printf "srv_core_cpu_s_per_kreq %.5f\n", d[5] / hz / req * 1000
			printf "pkts_per_req %.2f\n", d[8] / req
			printf "srv_cs_per_req %.3f\n", d[13] / req
		}
		if (d[6] > 0) printf "srv_core_busy_pct %.1f\n", 100 * d[5] / d[6]
		if (d[4] > 0) printf "cli_core_busy_pct %.1f\n", 100 * d[3] / d[4]
		printf "kernel_accepts %d\n", d[11]
		if (d[9] > 0) printf "srv_proc_pct_core %.2f\n", 100 * d[7] / hz / (d[9] / 1e6)
	}' | while read -r m v; do
		emit "$wl" "$m" "$v"
		if [ "$m" = kernel_accepts ] && [ "$SIDE" = xtcp ] && [ "$v" -gt 0 ]; then
			log "warning: round $ROUND $wl: the kernel accepted $v connections on the xtcp side"
		fi
	done
}

to_ms() { # wrk latency "512.00us" | "2.10ms" | "1.02s" -> ms
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
		else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
		else print "" }'
}

run_ab() { # WORKLOAD CONCURRENCY [PATH]
	local wl=$1 c=$2 path=${3:-/64} f=$out/logs/r$ROUND-$SIDE-$1.txt req fail rps p50 p99
	local -a A B
	# -t stops ab; -n only bounds its statistics array (calloc of n records).
	snap A
	tb_cli timeout -k 2 $((dur + 40)) taskset -c "$CC" \
		ab -q -r -s 10 -c "$c" -t "$dur" -n $((dur * 200000)) "http://$TB_SIP$path" >"$f" 2>&1
	snap B
	req=$(awk '/^Complete requests:/ {print $3}' "$f")
	fail=$(awk '/^Failed requests:/ {f += $3} /^Non-2xx responses:/ {f += $3} END {print f + 0}' "$f")
	rps=$(awk '/^Requests per second:/ {print $4}' "$f")
	p50=$(awk '$1 == "50%" {print $2}' "$f")
	p99=$(awk '$1 == "99%" {print $2}' "$f")
	if [ -z "$req" ] || [ -z "$rps" ] || [ "$req" = 0 ]; then
		emit "$wl" ok 0
		return
	fi
	emit "$wl" ok 1
	emit "$wl" rps "$rps"
	emit "$wl" requests "$req"
	emit "$wl" failed "$fail"
	emit "$wl" lat_p50_ms "$p50"
	emit "$wl" lat_p99_ms "$p99"
	cpu_metrics "$wl" "$req"
}

run_wrk() { # WORKLOAD PATH [xtcp]: with "xtcp", wrk itself runs under xtcp
	local wl=$1 path=$2 f=$out/logs/r$ROUND-$SIDE-$1.txt req rps err p50 p99
	local -a A B env=()
	if [ "${3:-}" = xtcp ]; then
		env=(XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=80 XTCP_LOCAL_PORTS=61000-65535
			XTCP_STRICT=1 LD_PRELOAD="$LIBXTCP")
	fi
	if [ ${#env[@]} -gt 0 ] && [ ! -f "$LIBXTCP" ]; then
		echo "no $LIBXTCP (build failed?)" >"$f"
		emit "$wl" ok 0
		return
	fi
	snap A
	tb_cli env "${env[@]}" timeout -k 2 $((dur + 30)) taskset -c "$CC" \
		wrk -t1 -c100 -d"${dur}s" --timeout 5s --latency "http://$TB_SIP$path" >"$f" 2>&1 &
	local pid=$! active=1
	if [ ${#env[@]} -gt 0 ]; then
		# wrk under xtcp counts only if xtcp steers the client's veth meanwhile.
		sleep 1
		ip -n "$TB_CLI" link show "$TB_CIF" | grep -q 'prog/xdp' || active=0
	fi
	wait $pid
	snap B
	if [ $active = 0 ]; then
		echo "xtcp was not active in wrk: no XDP program on $TB_CIF" >>"$f"
		emit "$wl" ok 0
		return
	fi
	req=$(awk '/requests in/ {print $1}' "$f")
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
	err=$(awk '/Socket errors:/ {gsub(",", ""); e += $4 + $6 + $8 + $10}
		/Non-2xx/ {e += $NF} END {print e + 0}' "$f")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
	if [ -z "$req" ] || [ -z "$rps" ] || [ "$req" = 0 ]; then
		emit "$wl" ok 0
		return
	fi
	emit "$wl" ok 1
	emit "$wl" rps "$rps"
	emit "$wl" requests "$req"
	emit "$wl" failed "$err"
	emit "$wl" lat_p50_ms "$p50"
	emit "$wl" lat_p99_ms "$p99"
	cpu_metrics "$wl" "$req"
}

# Bulk: by default every side sends MTU frames (TSO off, the target's terms).
# --bulk-kernel-tso on gives the kernel server TSO on its veth (as a real
# NIC's TSO: 64 KB super-segments cross veth unsegmented), although the
# client's receive work then runs on the server core. xtcp sends MTU frames;
# TSO on its veth would only move the client's receive work there.
run_bulk() {
	local f=$out/logs/r$ROUND-$SIDE-bulk.txt size t code
	local -a A B
	[ "$SIDE" = xtcp ] || tb_srv ethtool -K "$TB_SIF" tso "$bulk_ktso" >/dev/null 2>&1
	snap A
	tb_cli timeout -k 2 90 taskset -c "$CC" curl -s -o /dev/null --max-time 60 \
		-w '%{size_download} %{time_total} %{http_code}\n' "http://$TB_SIP/bulk" >"$f" 2>&1
	snap B
	[ "$SIDE" = xtcp ] || tb_srv ethtool -K "$TB_SIF" tso "$tso" >/dev/null 2>&1
	read -r size t code <"$f"
	if [ "${code:-}" != 200 ] || [ "${size:-0}" != $((bulk_mb << 20)) ]; then
		emit bulk ok 0
		return
	fi
	emit bulk ok 1
	emit bulk gbps "$(awk -v s="$size" -v t="$t" 'BEGIN {printf "%.2f", s * 8 / t / 1e9}')"
	emit bulk seconds "$t"
	emit bulk srv_proc_cpu_s_per_gb "$(awk -v a="${A[6]}" -v b="${B[6]}" -v hz="$HZ" -v s="$size" \
		'BEGIN {printf "%.3f", (b - a) / hz / (s / 1e9)}')"
	emit bulk srv_cpu_s_per_gb "$(awk -v a="$((A[6] + A[9]))" -v b="$((B[6] + B[9]))" -v hz="$HZ" \
		-v s="$size" 'BEGIN {printf "%.3f", (b - a) / hz / (s / 1e9)}')"
	cpu_metrics bulk 0
}

# memcached under memcaslap (Debian's memaslap): 1 thread, 128 connections, its
# default mix (90% get, 10% set, 64 B keys, 1 KB values); requests = Ops.
run_mc() {
	local f=$out/logs/r$ROUND-$SIDE-mc.txt ops tps
	local -a A B
	snap A
	tb_cli timeout -k 2 $((dur + 30)) taskset -c "$CC" \
		memcaslap -s "$TB_SIP:11211" -T 1 -c 128 -t "${dur}s" >"$f" 2>&1
	snap B
	ops=$(awk '/^Run time:/ {for (i = 1; i < NF; i++) if ($i == "Ops:") print $(i + 1)}' "$f")
	tps=$(awk '/^Run time:/ {for (i = 1; i < NF; i++) if ($i == "TPS:") print $(i + 1)}' "$f")
	if [ -z "$ops" ] || [ -z "$tps" ] || [ "$ops" = 0 ]; then
		emit mc ok 0
		return
	fi
	emit mc ok 1
	emit mc rps "$tps"
	emit mc requests "$ops"
	emit mc failed "$(awk '/^get_misses:/ {print $2 + 0}' "$f")"
	cpu_metrics mc "$ops"
}

run_idle() {
	local -a A B
	sleep 1
	snap A
	sleep "$idle"
	snap B
	if [ -z "$(srv_pids)" ]; then
		emit idle ok 0
		return
	fi
	emit idle ok 1
	cpu_metrics idle 0
}

run_rate() {
	local f=$out/logs/r$ROUND-$SIDE-rate.txt r=$rate line
	local -a A B
	if [ -z "$r" ]; then
		r=$(awk -F, -v s="${SIDES[0]}" '$1 == 1 && $2 == s && $3 == "ka" && $4 == "rps" {
			printf "%d", $5 / 2; exit}' "$RUNS")
		[ -n "$r" ] || r=10000
		rate=$r
		log "fixed rate for the latency workload: $rate req/s"
		emit rate target_rps "$rate"
	fi
	snap A
	tb_cli timeout -k 2 $((dur + 30)) taskset -c "$CC" \
		"$build/bench/ratecli" -a "$TB_SIP" -u /64 -r "$r" -c 32 -d "$dur" >"$f" 2>&1
	snap B
	line=$(grep '^ratecli:' "$f")
	if [ -z "$line" ]; then
		emit rate ok 0
		return
	fi
	set -- $line
	shift
	local -A kv
	while [ $# -ge 2 ]; do
		kv[$1]=$2
		shift 2
	done
	emit rate ok 1
	emit rate rps "${kv[achieved_rate]}"
	emit rate requests "${kv[done]}"
	emit rate failed $((kv[errors] + kv[timeouts]))
	emit rate lat_p50_ms "$(awk -v u="${kv[p50_us]}" 'BEGIN {print u / 1000}')"
	emit rate lat_p99_ms "$(awk -v u="${kv[p99_us]}" 'BEGIN {print u / 1000}')"
	emit rate lat_p999_ms "$(awk -v u="${kv[p999_us]}" 'BEGIN {print u / 1000}')"
	cpu_metrics rate "${kv[done]}"
}

napi_threads() { ps -eo pid=,comm= | awk '$2 ~ /^napi\// {print $1, $2}' | sort; }

# GRO + threaded NAPI on both veth ends, each NAPI thread pinned with its side.
# TSO off on both ends: veth hands a packet to the receiver's NAPI only if
# the sending device has no TSO (veth_skb_is_eligible_for_gro() in
# drivers/net/veth.c); otherwise it is received by netif_rx() in the softirq
# of the sending CPU, and the receive work lands on the other side's core.
placement() {
	local before after pid name n=0
	SRV_NAPI=""
	before=$(napi_threads)
	tb_srv ethtool -K "$TB_SIF" gro on tso "$tso" >/dev/null 2>&1
	tb_cli ethtool -K "$TB_CIF" gro on tso "$tso" >/dev/null 2>&1
	tb_srv sh -c "echo 1 > /sys/class/net/$TB_SIF/threaded" || log "cannot thread NAPI on $TB_SIF"
	if [ -n "$napi_defer" ]; then
		tb_srv sh -c "echo ${napi_defer%,*} > /sys/class/net/$TB_SIF/napi_defer_hard_irqs &&
			echo ${napi_defer#*,} > /sys/class/net/$TB_SIF/gro_flush_timeout" ||
			log "cannot set napi_defer_hard_irqs/gro_flush_timeout on $TB_SIF"
	fi
	tb_cli sh -c "echo 1 > /sys/class/net/$TB_CIF/threaded" || log "cannot thread NAPI on $TB_CIF"
	sleep 0.1
	after=$(napi_threads)
	# New threads are ours (names like napi/veth0-N repeat across test beds).
	while read -r pid name; do
		[ -n "$pid" ] || continue
		case $name in
		napi/"$TB_SIF"-*)
			taskset -pc "$SC" "$pid" >/dev/null && n=$((n + 1))
			SRV_NAPI="$SRV_NAPI $pid"
			;;
		napi/"$TB_CIF"-*) taskset -pc "$CC" "$pid" >/dev/null && n=$((n + 1)) ;;
		esac
		echo "placement: $name pid $pid -> core $([[ $name == napi/$TB_SIF-* ]] && echo "$SC" || echo "$CC")" \
			>>"$out/logs/placement.txt"
	done < <(comm -13 <(echo "$before") <(echo "$after"))
	[ $n -ge 2 ] || log "found $n of 2 NAPI threads to pin: receive work may run on the sending core"
}

testbed() { # SIDE
	local txcsum=on
	[ "$1" = kernel-txoff ] && txcsum=off
	[ "$1" = xtcp ] && txcsum=$client_csum
	TB_CLIENT_TXCSUM=$txcsum tb_up 1 || return 1
	trap cleanup EXIT # tb_up sets its own (tb_down only)
	ip netns exec "$TB_CLI" sysctl -qw net.ipv4.ip_local_port_range="1024 60999" \
		net.ipv4.tcp_tw_reuse=1
	ip netns exec "$TB_SRV" sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
	# A process that lives in the client namespace until tb_down: its
	# /proc/PID/net/dev gives the client veth's counters.
	ip netns exec "$TB_CLI" sleep 1000000 &
	CLI_ANCHOR=$!
	disown "$CLI_ANCHOR" # tb_down kills it; no "Killed" notice
	placement
}

side_run() { # SIDE ROUND
	SIDE=$1
	ROUND=$2
	local f=$out/logs/r$ROUND-$SIDE-server.txt w
	log "round $ROUND: $SIDE"
	testbed "$SIDE" || {
		log "test bed failed"
		return 1
	}
	local nginx_wl=0
	for w in ab50 ab1000 ab4000 ka kax rate bulk idle; do want $w && nginx_wl=1; done
	if [ $nginx_wl = 1 ]; then
		if srv_start "$SIDE" "$f" /64 nginx -c "$work/nginx.conf" -g 'daemon off;'; then
			! want ab50 || run_ab ab50 50
			! want ab1000 || run_ab ab1000 1000
			! want ab4000 || run_ab ab4000 4000
			! want ka || run_wrk ka /64
			if want kax; then
				# xtcp in wrk accepts the local kernel's partial checksums;
				# the old method (--client-csum off) finishes them (tx off).
				[ "$SIDE" = xtcp ] || [ "$client_csum" = on ] ||
					tb_srv ethtool -K "$TB_SIF" tx off >/dev/null 2>&1
				run_wrk kax /64 xtcp
				[ "$SIDE" = xtcp ] || [ "$client_csum" = on ] ||
					tb_srv ethtool -K "$TB_SIF" tx on tso "$tso" >/dev/null 2>&1
			fi
			! want rate || run_rate
			! want bulk || run_bulk
			! want idle || run_idle
		else
			log "$SIDE nginx did not start: $(tail -n 3 "$f" | tr '\n' ' ')"
			for w in ab50 ab1000 ab4000 ka kax rate bulk idle; do ! want $w || emit $w ok 0; done
		fi
		srv_stop
	fi
	if want cpu; then
		if srv_start "$SIDE" "$f" / "$build/bench/cpuserver" -p 80 -r "$cpu_rounds"; then
			run_wrk cpu /
		else
			log "$SIDE cpuserver did not start: $(tail -n 3 "$f" | tr '\n' ' ')"
			emit cpu ok 0
		fi
		srv_stop
	fi
	# The minimal server: cpuserver without application work, so what is
	# measured is the stack, the shim and the system calls of one epoll loop.
	if want min10 || want minka; then
		if srv_start "$SIDE" "$f" / "$build/bench/cpuserver" -p 80 -r 0; then
			! want min10 || run_ab min10 50 /
			! want minka || run_wrk minka /
		else
			log "$SIDE cpuserver -r 0 did not start: $(tail -n 3 "$f" | tr '\n' ' ')"
			for w in min10 minka; do ! want $w || emit $w ok 0; done
		fi
		srv_stop
	fi
	if want mc; then
		# 4 worker threads (memcached's default) on the one server core.
		if srv_start "$SIDE" "$f" mc memcached -u root -l "$TB_SIP" -p 11211 -U 0 \
			-t "$mc_threads" -c 8192 -m 256; then
			run_mc
		else
			log "$SIDE memcached did not start: $(tail -n 3 "$f" | tr '\n' ' ')"
			emit mc ok 0
		fi
		srv_stop
	fi
	tb_down
}

# The stack micro-benchmark (bench/stack/, the stack's own cost per
# connection), once per run: no network, no sides.
run_stack() {
	local b found=0
	for b in "$build"/bench/stack/*; do
		[ -f "$b" ] && [ -x "$b" ] || continue
		found=1
		log "stack micro-benchmark: $(basename "$b")"
		{
			echo "== $(basename "$b")"
			timeout -k 2 120 taskset -c "$SC" "$b" 2>&1
			echo "== exit $?"
		} >>"$out/stack.txt"
	done
	[ $found = 1 ] || log "no stack micro-benchmark in $build/bench/stack (skipped)"
}

# --perf: where the server core's time goes, per side. A separate pass, so
# that perf's own cost stays out of the measured figures.
profile_side() { # SIDE
	SIDE=$1
	ROUND=perf
	local f=$out/logs/perf-$SIDE-server.txt w
	local RUNS=$out/perf/runs.csv # emit() of this pass goes here
	mkdir -p "$out/perf"
	log "profile: $SIDE"
	testbed "$SIDE" || return 1
	if srv_start "$SIDE" "$f" /64 nginx -c "$work/nginx.conf" -g 'daemon off;'; then
		for w in ab50 ka; do profile_load "$w"; done
	fi
	srv_stop
	if want cpu && srv_start "$SIDE" "$f" / "$build/bench/cpuserver" -p 80 -r "$cpu_rounds"; then
		profile_load cpu
	fi
	srv_stop
	if want mc && command -v memcaslap >/dev/null &&
		srv_start "$SIDE" "$f" mc memcached -u root -l "$TB_SIP" -p 11211 -U 0 \
			-t "$mc_threads" -c 8192 -m 256; then
		profile_load mc
	fi
	srv_stop
	tb_down
}

# One load under perf: DIR/perf/SIDE-LOAD.txt, first the split between the
# server's tasks (process threads, NAPI thread), then the symbols.
profile_load() { # ab50|ka|cpu|mc
	local w=$1 pp data=$out/perf/$SIDE-$1.data
	# Only the server's tasks (processes and its NAPI thread): the rest
	# of core 1 may be anything else the machine runs.
	perf record -q -F 999 -g -p "$(echo $SRV_PIDS $SRV_NAPI | tr ' ' ,)" -o "$data" \
		-- sleep "$dur" >/dev/null 2>&1 &
	pp=$!
	# System calls and context switches per thread, from tracepoints (no PMU
	# needed, and cheap next to strace): DIR/perf/SIDE-LOAD.count.txt.
	local ps
	perf stat --per-thread -x, -o "$out/perf/$SIDE-$w.count.txt" \
		-e context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_futex \
		-e syscalls:sys_enter_ppoll,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendto \
		-e syscalls:sys_enter_recvfrom,syscalls:sys_enter_fcntl,syscalls:sys_enter_close \
		-p "$(echo $SRV_PIDS $SRV_NAPI | tr ' ' ,)" -- sleep "$dur" >/dev/null 2>&1 &
	ps=$!
	case $w in
	ab50) run_ab ab50 50 ;;
	ka) run_wrk ka /64 ;;
	cpu) run_wrk cpu / ;;
	mc) run_mc ;;
	esac
	wait "$pp"
	wait "$ps"
	echo "requests: $(awk -F, -v w="$w" -v s="$SIDE" '$2 == s && $3 == w && $4 == "requests" {r = $5} END {print r}' "$RUNS")" \
		>>"$out/perf/$SIDE-$w.count.txt"
	if [ $do_strace = 1 ] && command -v strace >/dev/null; then
		# A second load under strace (it slows every call: counts, not times).
		local sp args=() p req
		for p in $SRV_PIDS; do args+=(-p "$p"); done
		strace -c -f -qq -o "$out/perf/$SIDE-$w.strace.txt" "${args[@]}" &
		sp=$!
		sleep 0.5
		case $w in
		ab50) run_ab ab50 50 ;;
		ka) run_wrk ka /64 ;;
		cpu) run_wrk cpu / ;;
		mc) run_mc ;;
		esac
		kill -INT "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		req=$(awk -F, -v w="$w" -v s="$SIDE" '$2 == s && $3 == w && $4 == "requests" {r = $5} END {print r}' "$RUNS")
		echo "requests under strace: $req" >>"$out/perf/$SIDE-$w.strace.txt"
	fi
	{
		perf report -i "$data" --stdio --no-children --sort comm -g none 2>/dev/null |
			grep -v '^#' | grep -v '^$'
		echo
		perf report -i "$data" --stdio --no-children --sort comm,dso,symbol \
			--percent-limit 0.5 -g none 2>/dev/null | grep -v '^$' | sed 's/[ -]*$//'
	} >"$out/perf/$SIDE-$w.txt"
	rm -f "$data" "$data.old"
}

# ---------------------------------------------------------------- main
log "results in $out; sides ${SIDES[*]}; $rounds round(s) of ${dur} s loads"
t0=$(date +%s)
for ((r = 1; r <= rounds; r++)); do
	for s in "${SIDES[@]}"; do
		side_run "$s" "$r"
	done
done
! want stack || run_stack
if [ $do_perf = 1 ]; then
	if command -v perf >/dev/null; then
		for s in "${SIDES[@]}"; do profile_side "$s"; done
	else
		log "perf is not installed: no profile"
	fi
fi
log "measured in $(($(date +%s) - t0)) s"
"$here/summarize.sh" "$out"
if [ -n "$keep" ] && [ -s "$out/table.txt" ]; then
	cp "$out/table.txt" "$keep"
	log "summary: $keep (raw data: $out)"
else
	log "summary: $out/table.txt (not copied to bench/results/: --out given or the tree has changes)"
fi
