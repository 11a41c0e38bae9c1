#!/usr/bin/env bash
# bench/flood/run.sh - the seed paper's DDoS experiment in the test bed:
# benign HTTP load (ab, HTTP/1.0, 64-byte file) against nginx while a flood
# hits the server's address; kernel nginx and xtcp nginx side by side.
#
#   bench/flood/run.sh                 every side, no flood / UDP flood / SYN flood
#   bench/flood/run.sh --quick         2 s loads (smoke run, ~1 min)
#
# Options:
#   --sides LIST     kernel,kernel-xdp,xtcp (default all three)
#                      kernel      nginx on the kernel, client tx checksum ON (its best case)
#                      kernel-xdp  the same nginx behind the XDP protection alone
#                                  (tests/protect's harness program: no AF_XDP)
#                      xtcp        nginx under LD_PRELOAD=libxtcp.so, XTCP_PORTS=80
#   --floods LIST    none,udp,syn (default all)
#   --duration S     seconds of ab per measurement (default 10)
#   --rounds N       rounds (default 1); the table shows medians
#   --conc C         ab concurrency (default 50)
#   --flood-pps P    flood rate cap, 0 = as fast as one core sends (default 0)
#   --flood-path nic|direct
#                    nic (default): the flood enters a helper veth pair in the
#                      client namespace whose XDP program redirects it into the
#                      test bed veth (flood_nic.bpf.c), so it reaches the server
#                      as XDP frames, the way a NIC delivers them; direct: sent
#                      on the test bed veth (veth then copies each frame for XDP
#                      on the server's core, a cost no NIC has)
#   --udp-target closed|sink
#                    closed (default): nothing listens on the UDP flood's port;
#                    sink: a UDP service (udp_sink.c, on the server core) reads
#                      that port, as a DNS or syslog server would
#   --napi-prio fifo|other
#                    fifo (default): the veth NAPI threads run SCHED_FIFO 1, so
#                      receive work preempts the server like a NIC's softirq;
#                      other: time-shared with the server (ring overflows)
#   --perf           also perf record the server core (-a -C, call graphs)
#                    during each measurement: DIR/perf/<run>.txt (costs CPU:
#                    not for the figures)
#   --build DIR      build directory (default <repo>/build)
#   --out DIR        raw results (default bench/results/raw/flood-<date>-<commit>,
#                    which git ignores; a clean tree's summary also goes to
#                    bench/results/flood-<date>-<commit>.txt, the file git keeps)
#
# Flood: bench/flood/xtcp_flood from the client namespace: UDP (port 9, 64-byte
# frames; --udp-target) from spoofed sources 10.77.3.0/24 (routed via the client), or SYNs
# to port 80 from one spoofed source 10.77.3.1. Protection (xtcp and
# kernel-xdp): XTCP_PROTECT_GLOBAL_RATE=10000/10000 (UDP and other non-TCP
# traffic, all sources together) and XTCP_SYN_RATE=50000/50000 (SYNs per
# source: above what the benign client opens per second here).
# Placement (as bench/run.sh): server and its receive work (threaded veth
# NAPI, GRO on) on core 1; ab, the flood sender and their receive work on core 0.
# The client veth has TSO off: otherwise veth processes TCP and the flood on
# the sending core (netif_rx), and the kernel side would not feel the flood.
# Needs root. Touches only the namespaces it makes and the processes it starts.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/bench/flood

sides=kernel,kernel-xdp,xtcp
floods=none,udp,syn
dur=10
rounds=1
conc=50
fpps=0
do_perf=0
fpath=nic
napi_prio=fifo
utarget=closed
build=$top/build
out=""
die() {
	echo "flood: $*" >&2
	exit 1
}
log() { echo "flood: $*" >&2; }
num() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 needs a number, got '$2'"; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) dur=2 ;;
	--sides) sides=${2:-}; shift ;;
	--floods) floods=${2:-}; shift ;;
	--duration) num "$1" "${2:-}"; dur=$2; shift ;;
	--rounds) num "$1" "${2:-}"; rounds=$2; shift ;;
	--conc) num "$1" "${2:-}"; conc=$2; shift ;;
	--perf) do_perf=1 ;;
	--flood-pps) num "$1" "${2:-}"; fpps=$2; shift ;;
	--flood-path) fpath=${2:-}; shift ;;
	--napi-prio) napi_prio=${2:-}; shift ;;
	--udp-target) utarget=${2:-}; shift ;;
	--build) build=${2:-}; shift ;;
	--out) out=${2:-}; shift ;;
	-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (--help)" ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP)"
case $fpath in nic | direct) ;; *) die "--flood-path: nic or direct, got '$fpath'" ;; esac
case $napi_prio in fifo | other) ;; *) die "--napi-prio: fifo or other, got '$napi_prio'" ;; esac
case $utarget in closed | sink) ;; *) die "--udp-target: closed or sink, got '$utarget'" ;; esac
[ "$dur" -ge 1 ] && [ "$rounds" -ge 1 ] && [ "$conc" -ge 1 ] || die "duration, rounds, conc must be >= 1"
IFS=, read -r -a SIDES <<<"$sides"
IFS=, read -r -a FLOODS <<<"$floods"
for s in "${SIDES[@]}"; do
	case $s in kernel | kernel-xdp | xtcp) ;; *) die "unknown side '$s'" ;; esac
done
for f in "${FLOODS[@]}"; do
	case $f in none | udp | syn) ;; *) die "unknown flood '$f'" ;; esac
done
for t in nginx ab ethtool taskset chrt cc clang; do command -v $t >/dev/null || die "$t is missing (tests/deps.sh)"; done

# ------------------------------------------------------------ programs
build=$(mkdir -p "$build" && cd "$build" && pwd)
FLOOD=$build/bench/flood/xtcp_flood
if [ ! -x "$FLOOD" ] || [ "$here/xtcp_flood.c" -nt "$FLOOD" ]; then
	mkdir -p "$build/bench/flood"
	cc -O2 -Wall -o "$FLOOD" "$here/xtcp_flood.c" || die "cannot build xtcp_flood"
fi
SINK=$build/bench/flood/udp_sink
mkdir -p "$build/bench/flood"
if [ ! -x "$SINK" ] || [ "$here/udp_sink.c" -nt "$SINK" ]; then
	cc -O2 -Wall -o "$SINK" "$here/udp_sink.c" || die "cannot build udp_sink"
fi
XTCPCTL=$build/xtcpctl
LIBXTCP=$build/libxtcp.so
PBIN=$build/tests/protect
if [[ ,$sides, == *,kernel-xdp,* ]] && [ ! -x "$PBIN/prot_load" ]; then
	cmake --build "$build" --target prot_load prot_harness_obj xtcpctl >/dev/null 2>&1 ||
		log "cannot build prot_load/xtcpctl: kernel-xdp will be reported FAILED"
fi

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo nogit)
git -C "$top" diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
# Raw data stays out of git; the summary of a clean tree's default run is
# copied next to it for keeping (bench/README.md, "Results").
keep=""
if [ -z "$out" ]; then
	name=flood-$(date -u +%Y%m%d-%H%M)-$commit
	out=$top/bench/results/raw/$name
	[[ $commit == *-dirty ]] || keep=$top/bench/results/$name.txt
fi
mkdir -p "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)
CSV=$out/results.csv
echo "round,side,flood,rps,p50_ms,p99_ms,failed,complete,flood_sent,flood_pps,xdp_dropped,srv_core_busy_pct" >"$CSV"

if [ "$(nproc)" -ge 2 ]; then SC=1; CC=0; else SC=0; CC=0; log "one CPU: figures are not meaningful"; fi
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d /tmp/xtcp-flood.XXXXXX) || die "mktemp"
chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp"
head -c 63 /dev/zero | tr '\0' x >"$work/www/64"
echo >>"$work/www/64"
chmod 644 "$work/www/64"
cat >"$work/nginx.conf" <<EOF
user www-data;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 16384; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	client_body_temp_path $work/tmp/body;
	proxy_temp_path $work/tmp/proxy;
	fastcgi_temp_path $work/tmp/fastcgi;
	uwsgi_temp_path $work/tmp/uwsgi;
	scgi_temp_path $work/tmp/scgi;
	server { listen 80 backlog=8192; root $work/www; location / { } }
}
EOF

. "$top/tests/testbed.sh"
srv_pids() { [ -n "${TB_SRV:-}" ] && ip netns pids "$TB_SRV" 2>/dev/null; }
srv_stop() {
	local p
	for p in $(srv_pids); do kill -TERM "$p" 2>/dev/null; done
	for _ in $(seq 30); do [ -n "$(srv_pids)" ] || break; sleep 0.1; done
	for p in $(srv_pids); do kill -9 "$p" 2>/dev/null; done
}
cleanup() {
	srv_stop
	tb_down
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

napi_threads() { ps -eo pid=,comm= | awk '$2 ~ /^napi\// {print $1, $2}' | sort; }
# GRO + threaded NAPI on both veth ends, each NAPI thread pinned with its side:
# the flood's receive work lands on the server's core, as on a real NIC.
placement() {
	local before after pid name
	before=$(napi_threads)
	tb_srv ethtool -K "$TB_SIF" gro on >/dev/null 2>&1
	tb_cli ethtool -K "$TB_CIF" gro on >/dev/null 2>&1
	# With TSO on, veth hands the server only "GRO-eligible" skbs through its
	# NAPI; the rest (TCP, and AF_PACKET floods) are processed by netif_rx()
	# on the sending core, i.e. the client's. TSO off sends every frame through
	# the server's NAPI thread, for every side (checksum offload unchanged).
	tb_cli ethtool -K "$TB_CIF" tso off >/dev/null 2>&1
	tb_srv sh -c "echo 1 > /sys/class/net/$TB_SIF/threaded" || log "cannot thread NAPI on $TB_SIF"
	tb_cli sh -c "echo 1 > /sys/class/net/$TB_CIF/threaded" || log "cannot thread NAPI on $TB_CIF"
	sleep 0.1
	after=$(napi_threads)
	# SCHED_FIFO: receive work preempts the server as a NIC's softirq does;
	# a time-shared NAPI thread lets the 256-entry veth ring overflow while
	# nginx runs its slice, dropping benign and flood frames alike.
	while read -r pid name; do
		case $name in
		napi/"$TB_SIF"-*) taskset -pc "$SC" "$pid" >/dev/null ;;
		napi/"$TB_CIF"-*) taskset -pc "$CC" "$pid" >/dev/null ;;
		*) continue ;;
		esac
		[ "$napi_prio" = fifo ] && chrt -f -p 1 "$pid"
	done < <(comm -13 <(echo "$before") <(echo "$after"))
}

# The flood's way in: flood0 -> flood1 (XDP: redirect) -> client veth -> server veth.
nic_path() {
	local logf=$1 idx
	ip -n "$TB_CLI" link add flood0 type veth peer name flood1 || return 1
	ip -n "$TB_CLI" link set flood0 up && ip -n "$TB_CLI" link set flood1 up || return 1
	idx=$(tb_cli cat "/sys/class/net/$TB_CIF/ifindex")
	clang -O2 -g -target bpf -Wall -Werror -idirafter "/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)" \
		-DTARGET_IFINDEX="$idx" -c "$here/flood_nic.bpf.c" -o "$work/flood_nic.o" >>"$logf" 2>&1 || return 1
	ip -n "$TB_CLI" link set dev flood1 xdpdrv obj "$work/flood_nic.o" sec xdp >>"$logf" 2>&1
}

PROTECT_ENV=(XTCP_PROTECT_GLOBAL_RATE=10000/10000 XTCP_SYN_RATE=50000/50000)

# start SIDE LOG: nginx for SIDE in the server namespace, on the server core.
start() {
	local side=$1 logf=$2 env=() i
	case $side in
	xtcp)
		[ -f "$LIBXTCP" ] || { echo "no $LIBXTCP" >>"$logf"; return 1; }
		env=(XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 "${PROTECT_ENV[@]}" LD_PRELOAD="$LIBXTCP")
		;;
	kernel-xdp)
		tb_srv "$PBIN/prot_load" "$PBIN/prot_harness.bpf.o" "$TB_SIF" 80 >>"$logf" 2>&1 || return 1
		tb_srv "$XTCPCTL" filter reset >>"$logf" 2>&1 || return 1
		tb_srv "$XTCPCTL" filter set global-rate=10000/10000 syn-rate=50000/50000 >>"$logf" 2>&1 || return 1
		;;
	esac
	tb_srv env "${env[@]}" taskset -c "$SC" nginx -c "$work/nginx.conf" -g 'daemon off;' >>"$logf" 2>&1 &
	for i in $(seq 50); do
		sleep 0.1
		if [ "$(tb_cli curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$TB_SIP/64")" = 200 ]; then
			for p in $(srv_pids); do taskset -apc "$SC" "$p" >/dev/null 2>&1; done
			return 0
		fi
	done
	echo "nginx did not answer within 5 s" >>"$logf"
	return 1
}

xdp_dropped() { # protection drops so far (xtcpctl JSON), 0 without a program
	tb_srv "$XTCPCTL" --json filter show 2>/dev/null | grep -o '"drop_[a-z_]*":[0-9]*' |
		awk -F: '{n += $2} END {print n + 0}'
}
core_busy() { awk -v c="cpu$SC" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }

measure() { # ROUND SIDE FLOOD
	local r=$1 side=$2 fl=$3 tag="r$1-$2-$3" abf fpid="" fsent="" frate="" d0 d1 b0 t0 b1 t1
	abf=$out/logs/$tag-ab.txt
	TB_CLIENT_TXCSUM=$([ "$side" = kernel ] || [ "$side" = kernel-xdp ] && echo on || echo off) tb_up 1 ||
		{ log "$tag: test bed failed"; return; }
	trap cleanup EXIT
	ip -n "$TB_SRV" route add 10.77.3.0/24 via "$TB_CIP"
	ip netns exec "$TB_CLI" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
	ip netns exec "$TB_SRV" sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
	placement
	if ! start "$side" "$out/logs/$tag-server.txt"; then
		log "$tag: server did not start: $(tail -n 2 "$out/logs/$tag-server.txt" | tr '\n' ' ')"
		echo "$r,$side,$fl,FAILED,,,,,,,," >>"$CSV"
		srv_stop
		tb_down
		return
	fi
	local mac fif=$TB_CIF
	mac=$(ip -n "$TB_SRV" link show "$TB_SIF" | awk '/link\/ether/ {print $2}')
	if [ "$fl" != none ] && [ "$fpath" = nic ]; then
		fif=flood0
		nic_path "$out/logs/$tag-server.txt" || { log "$tag: NIC path failed"; fif=$TB_CIF; }
	fi
	d0=$(xdp_dropped)
	if [ "$fl" = udp ] && [ "$utarget" = sink ]; then
		tb_srv taskset -c "$SC" "$SINK" 9 $((dur + 6)) >"$out/logs/$tag-sink.txt" 2>&1 &
	fi
	if [ "$fl" != none ]; then
		local fargs=(-s 10.77.3.0/24 -t udp -p 9)
		[ "$fl" = syn ] && fargs=(-s 10.77.3.1/32 -t syn -p 80)
		tb_cli taskset -c "$CC" "$FLOOD" -i "$fif" -d "$TB_SIP" -m "$mac" "${fargs[@]}" \
			-c 1000000000 -T $((dur + 3)) -r "$fpps" >"$out/logs/$tag-flood.txt" 2>&1 &
		fpid=$!
		sleep 1
	fi
	read -r b0 t0 < <(core_busy)
	local ppid=""
	if [ "$do_perf" = 1 ]; then
		mkdir -p "$out/perf"
		perf record -q -a -C "$SC" -g -F 999 -o "$work/$tag.perf" -- sleep "$dur" >/dev/null 2>&1 &
		ppid=$!
	fi
	tb_cli timeout -k 2 $((dur + 30)) taskset -c "$CC" \
		ab -q -r -s 5 -c "$conc" -t "$dur" -n 100000000 "http://$TB_SIP/64" >"$abf" 2>&1
	read -r b1 t1 < <(core_busy)
	if [ -n "$ppid" ]; then
		wait "$ppid"
		{
			perf report -i "$work/$tag.perf" --stdio --no-children --sort comm -g none 2>/dev/null |
				grep -v '^#' | grep -v '^$'
			echo
			perf report -i "$work/$tag.perf" --stdio --no-children --sort comm,dso,symbol \
				--percent-limit 0.7 -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
		} >"$out/perf/$tag.txt"
		rm -f "$work/$tag.perf"
	fi
	[ -n "$fpid" ] && wait "$fpid"
	d1=$(xdp_dropped)
	if [ -n "$fpid" ]; then
		fsent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$out/logs/$tag-flood.txt")
		frate=$(sed -n 's/.* pps=\([0-9]*\).*/\1/p' "$out/logs/$tag-flood.txt")
	fi
	awk -v r="$r" -v side="$side" -v fl="$fl" -v fs="${fsent:-0}" -v fp="${frate:-0}" \
		-v dr=$((d1 - d0)) -v busy="$(awk -v a="$b0" -v b="$b1" -v x="$t0" -v y="$t1" \
		'BEGIN {if (y > x) printf "%.1f", 100 * (b - a) / (y - x)}')" '
		/^Requests per second:/ {rps = $4}
		/^Complete requests:/ {done = $3}
		/^Failed requests:/ {failed += $3}
		/^Non-2xx responses:/ {failed += $3}
		$1 == "50%" {p50 = $2}
		$1 == "99%" {p99 = $2}
		END {
			if (rps == "") rps = "FAILED"
			printf "%s,%s,%s,%s,%s,%s,%d,%d,%s,%s,%s,%s\n", r, side, fl, rps, p50, p99,
				failed, done, fs, fp, dr, busy
		}' "$abf" >>"$CSV"
	srv_stop
	tb_down
}

log "results in $out; sides ${SIDES[*]}; floods ${FLOODS[*]} ($fpath path); ${dur} s ab -c $conc"
echo "sides=$sides floods=$floods path=$fpath duration=$dur rounds=$rounds conc=$conc flood_pps=$fpps napi_prio=$napi_prio udp_target=$utarget commit=$commit kernel=$(uname -r) date=$(date -u +%FT%TZ) cpus=$(nproc) loadavg_before=$(cut -d' ' -f1 /proc/loadavg)" >"$out/meta.txt"
awk '$1 > 1.5 {print "flood: warning: load average " $1 " before the run: other work shares the cores, figures will be noisy"}' /proc/loadavg >&2
for ((r = 1; r <= rounds; r++)); do
	for s in "${SIDES[@]}"; do
		for f in "${FLOODS[@]}"; do
			log "round $r: $s, flood $f"
			measure "$r" "$s" "$f"
		done
	done
done

# ------------------------------------------------------------ table
awk -F, 'NR > 1 && $4 != "FAILED" {
		k = $2 "," $3; n[k]++; v[k, n[k]] = $4; p99[k, n[k]] = $6; fp[k, n[k]] = $10; dr[k, n[k]] = $11; cb[k, n[k]] = $12
	}
	NR > 1 && $4 == "FAILED" {failed[$2 "," $3] = 1}
	function med(a, k, m,   i, j, t, x) {
		for (i = 1; i <= m; i++) x[i] = a[k, i] + 0
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) {t = x[i]; x[i] = x[j]; x[j] = t}
		return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
	}
	END {
		printf "%-11s %-5s %10s %8s %12s %12s %9s\n", "side", "flood", "req/s", "p99 ms", "flood pkt/s", "xdp dropped", "srv core%"
		split("kernel kernel-xdp xtcp", S, " "); split("none udp syn", F, " ")
		for (i = 1; i <= 3; i++) for (j = 1; j <= 3; j++) {
			k = S[i] "," F[j]
			if (n[k]) {
				m[k] = med(v, k, n[k])
				printf "%-11s %-5s %10.0f %8.1f %12.0f %12.0f %9.1f\n", S[i], F[j], m[k], med(p99, k, n[k]), med(fp, k, n[k]), med(dr, k, n[k]), med(cb, k, n[k])
			} else if (failed[k]) printf "%-11s %-5s %10s\n", S[i], F[j], "FAILED"
		}
		for (j = 2; j <= 3; j++) {
			f = F[j]
			if (m["kernel," f] > 0 && m["xtcp," f] > 0)
				printf "xtcp/kernel under %s flood: %.2fx (target >= 2.87x)\n", f, m["xtcp," f] / m["kernel," f]
			if (m["xtcp,none"] > 0 && m["xtcp," f] > 0)
				printf "xtcp under %s flood / no flood: %.0f%% (target >= 80%%)\n", f, 100 * m["xtcp," f] / m["xtcp,none"]
			if (m["kernel," f] > 0 && m["kernel-xdp," f] > 0)
				printf "kernel-xdp/kernel under %s flood: %.2fx\n", f, m["kernel-xdp," f] / m["kernel," f]
		}
	}' "$CSV" | tee "$out/table.txt"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
echo "raw: $CSV"
if [ -n "$keep" ]; then
	cat "$out/meta.txt" "$out/table.txt" >"$keep"
	echo "summary: $keep"
fi
