#!/usr/bin/env bash
# soak.sh BUILD_DIR [--minutes N | --short] - mixed load against unmodified
# nginx under libxtcp.so for N minutes (default 30), watching for leaks (root;
# exits 77 without, 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#
# Test bed: client - router - server (TB_MIDDLE=1, one queue, nginx with one
# www-data worker). One queue, because the bridge (AF_PACKET) sends on the
# queue of the CPU it runs on: on a 2-queue veth a flow would hop between
# queues, hence between nginx workers, as no NIC's RSS ever moves it (seen:
# downloads stalled at each switch). Load, all at once, each generator a loop
# bounded in count and time:
#   ab -c 20 (HTTP/1.0, a new connection per request) on a 64-byte file
#   wrk -c 20 keep-alive
#   20 MB downloads by curl, each sha256 checked
#   downloads the client aborts mid-transfer (curl --max-time with a rate
#   limit: closing with unread data makes the client's kernel send a RST)
#   an impaired path: the last third of every interval the router stops
#   forwarding and tests/impair/xt_impair carries the traffic (1% loss, 0.5%
#   duplication, 1% reordering, 0.2% corruption), then forwarding resumes
# Every interval (60 s; --short: 20 s over 80 s of load) it samples, summed
# over the workers: RSS (VmRSS), open fds, the stack's socket pool use
# (stack_socks_in_use, TIME-WAIT included), the shim's open connections, and
# UMEM TX frames in use (xsk_tx_frames_in_use), and prints one line.
#
# "Flat", the pass criteria (also in docs/testing.md):
#   under load: the largest RSS of the last third of the samples is at most
#     the largest of the first third + 10% + 8 MiB, and the same for open fds
#     with + 10% + 32 (allocator and buffer-cache warm-up happen in the first
#     third; a leak grows with time, load does not);
#   after the load and 65 s of quiet (TIME-WAIT is 60 s): socket pool use and
#     open connections back to their values before the load, fds at most 4
#     above theirs, UMEM TX frames in use at most 64 (a few batches the idle
#     engine has not reaped), RSS at most the largest under load + 5%;
#   and the load itself: every download's sha256 right, no ab request failed,
#   no wrk connect error or timeout, resets seen by the server (drop reason
#   tcp_rst), the impairment happened (xt_impair's counters), and the
#   server's kernel accepted no connection (TcpPassiveOpens flat).
set -u
build=$(cd "${1:?usage: soak.sh BUILD_DIR [--minutes N | --short]}" && pwd)
shift
minutes=30
interval=60
load_secs=""
while [ $# -gt 0 ]; do
	case $1 in
	--short) interval=20 load_secs=80 ;;
	--minutes) minutes=${2:?--minutes N}; shift ;;
	*) echo "usage: soak.sh BUILD_DIR [--minutes N | --short]" >&2; exit 2 ;;
	esac
	shift
done
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "--minutes: a whole number of minutes >= 1" >&2; exit 2; }
load_secs=${load_secs:-$((minutes * 60))}
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
field=$build/tests/shim/shim_stats_field
imp=$build/tests/impair/xt_impair
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$lib" "$field" "$imp"
need_tools ab wrk curl

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
# shellcheck source=../nginx.sh
. "$here/../nginx.sh"
ngx_dir soak
gen_pids=()
cleanup() {
	local p
	for p in "${gen_pids[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "${ipid:-}" ] && kill "$ipid" 2>/dev/null
	ngx_cleanup
}
TB_MIDDLE=1 tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
tb_mid_bridged # whole frames everywhere: the bridge forwards what it reads, one frame each

mkdir -p "$d/www" "$d/logs" "$d/gen"
head -c 64 /dev/urandom >"$d/www/f64"
head -c 20000000 /dev/urandom >"$d/www/f20M"
chmod -R a+rX "$d/www"
want=$(sha256sum <"$d/www/f20M" | cut -d' ' -f1)
ngx_conf 1 4096 8192 "listen 80 backlog=4096;" \
	"keepalive_timeout 65; keepalive_requests 1000000;"
# the impaired path flips bits on purpose: every checksum verified (impair_test.sh)
ngx_start "$lib" 1 XTCP_RX_CSUM=verify
workers=$ngx_workers
check "nginx master + worker up under xtcp" [ "$(echo "$workers" | wc -w)" = 1 ]
# the workers' engines start at their first use: one request each, at least
for _ in 1 2 3 4; do tb_cli curl -sf -o /dev/null "http://$TB_SIP/f64"; done
passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }

# sum of a statistics-file field over the workers ("absent" counts as 0)
sfield() {
	local w s=0 v
	for w in $workers; do
		v=$("$field" "/dev/shm/xtcp-$w.stats" "$1" 2>/dev/null)
		[[ $v =~ ^[0-9]+$ ]] && s=$((s + v))
	done
	echo $s
}
rss_kb() {
	local w s=0 v
	for w in $workers; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$w/status" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo $s
}
nfds() {
	local w s=0
	for w in $workers; do s=$((s + $(find "/proc/$w/fd" -mindepth 1 2>/dev/null | wc -l))); done
	echo $s
}
sample() { # label: one line, also kept in $d/samples
	local line
	line="$1 rss_kb=$(rss_kb) fds=$(nfds) socks=$(sfield stack_socks_in_use) conns=$(sfield conns)"
	line="$line umem_tx_in_use=$(sfield xsk_tx_frames_in_use)"
	echo "$line" | tee -a "$d/samples"
}
val() { echo "$1" | grep -o "$2=[0-9]*" | cut -d= -f2; }

sleep 0.5
base=$(sample "before")
p0=$(passive_opens)
rst0=$(sfield drop:tcp_rst)
end=$(($(date +%s) + load_secs))

# --- the load generators, each a loop until $end ---
gen_ab() {
	while [ "$(date +%s)" -lt "$end" ]; do
		tb_cli timeout 60 ab -q -n 2000 -c 20 -s 10 "http://$TB_SIP/f64" 2>&1 |
			awk '/^Complete requests:/ {c=$3} /^Failed requests:/ {f=$3}
			     /^Non-2xx responses:/ {n=$3} END {print c+0, f+0, n+0}' >>"$d/gen/ab"
	done
}
gen_wrk() {
	while [ "$(date +%s)" -lt "$end" ]; do
		tb_cli timeout 60 wrk -t1 -c20 -d10s --timeout 10s "http://$TB_SIP/f64" >"$d/gen/wrk.out" 2>&1
		r=$(awk '/requests in/ {print $1}' "$d/gen/wrk.out")
		e=$(grep -Eo "(connect|timeout) [0-9]+" "$d/gen/wrk.out" | awk '{s += $2} END {print s + 0}')
		echo "${r:-0} $e" >>"$d/gen/wrk"
	done
}
gen_dl() {
	while [ "$(date +%s)" -lt "$end" ]; do
		got=$(tb_cli timeout 60 curl -sSf "http://$TB_SIP/f20M" 2>>"$d/gen/dl.err" |
			sha256sum | cut -d' ' -f1)
		if [ "$got" = "$want" ]; then
			echo ok >>"$d/gen/dl"
		else
			echo "bad at $(date +%T)" >>"$d/gen/dl"
		fi
	done
}
gen_reset() {
	while [ "$(date +%s)" -lt "$end" ]; do
		tb_cli curl -s -o /dev/null --max-time 0.5 --limit-rate 2M "http://$TB_SIP/f20M"
		echo x >>"$d/gen/reset"
		sleep 0.2
	done
}
gen_ab &
gen_pids+=($!)
gen_wrk &
gen_pids+=($!)
gen_dl &
gen_pids+=($!)
gen_reset &
gen_pids+=($!)

imp_secs=$((interval / 3))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((n + 1))
	left=$((end - $(date +%s)))
	clean=$((interval - imp_secs))
	[ "$left" -lt "$interval" ] && clean=$left
	sleep "$clean"
	left=$((end - $(date +%s)))
	if [ "$left" -gt 1 ]; then # the impaired part of the interval
		t=$((imp_secs < left ? imp_secs : left))
		echo "impaired $(date +%T) for $t s" >>"$d/gen/phases"
		ip netns exec "$TB_MID" sysctl -qw net.ipv4.ip_forward=0
		ip netns exec "$TB_MID" "$imp" -a "$TB_MIF_S" -A "$TB_SMAC" -b "$TB_MIF_C" -B "$TB_CMAC" \
			-s "$n" -l 10000 -d 5000 -r 10000 -c 2000 -t "$t" >"$d/gen/impair.$n" 2>&1 &
		ipid=$!
		wait "$ipid"
		ipid=""
		ip netns exec "$TB_MID" sysctl -qw net.ipv4.ip_forward=1
	fi
	sample "t=$(($(date +%s) - end + load_secs))s" >/dev/null
	tail -1 "$d/samples"
done
for p in "${gen_pids[@]}"; do wait "$p"; done
gen_pids=()

# --- the load's own results ---
read -r ab_c ab_f ab_n < <(awk '{c += $1; f += $2; n += $3} END {print c + 0, f + 0, n + 0}' "$d/gen/ab")
check "ab: $ab_c requests complete, $ab_f failed, $ab_n non-2xx" \
	test "$ab_c" -gt 0 -a "$ab_f" = 0 -a "$ab_n" = 0
read -r wrk_r wrk_e < <(awk '{r += $1; e += $2} END {print r + 0, e + 0}' "$d/gen/wrk")
check "wrk keep-alive: $wrk_r requests, $wrk_e connect errors or timeouts" \
	test "$wrk_r" -gt 0 -a "$wrk_e" = 0
dl_ok=$(grep -c ok "$d/gen/dl")
dl_bad=$(grep -c bad "$d/gen/dl")
check "20 MB downloads: $dl_ok sha256 right, $dl_bad wrong or cut" test "$dl_ok" -gt 0 -a "$dl_bad" = 0 ||
	{ grep bad "$d/gen/dl"; sed 's/^/  [curl] /' "$d/gen/dl.err"; cat "$d/gen/phases"; }
resets=$(wc -l <"$d/gen/reset")
rst=$(($(sfield drop:tcp_rst) - rst0))
check "downloads aborted mid-transfer: $resets, RSTs taken by the server: $rst" test "$rst" -gt 0
for what in lost dup reordered corrupted; do
	c=$(cat "$d"/gen/impair.* | awk -v w="$what" '/ -> / {for (i = 1; i < NF; i++) if ($i == w) s += $(i + 1)} END {print s + 0}')
	check "impaired path: $what frames ($c)" test "$c" -gt 0
done
p1=$(passive_opens)
check "the server's kernel accepted nothing ($p0 -> $p1)" [ "$p0" = "$p1" ]

# --- flat under load ---
mapfile -t under < <(grep '^t=' "$d/samples")
k=$(((${#under[@]} + 2) / 3))
flat() { # flat NAME REL_PERCENT ABS: last third's max <= first third's max * (1 + rel) + abs
	local name=$1 rel=$2 abs=$3 i v first=0 last=0
	for ((i = 0; i < k; i++)); do
		v=$(val "${under[$i]}" "$name")
		[ "$v" -gt "$first" ] && first=$v
	done
	for ((i = ${#under[@]} - k; i < ${#under[@]}; i++)); do
		v=$(val "${under[$i]}" "$name")
		[ "$v" -gt "$last" ] && last=$v
	done
	check "$name flat under load: last third max $last <= first third max $first + $rel% + $abs" \
		test "$last" -le $((first + first * rel / 100 + abs))
}
check "${#under[@]} samples under load" test "${#under[@]}" -ge 3
if [ "${#under[@]}" -ge 3 ]; then
	flat rss_kb 10 8192
	flat fds 10 32
fi

# --- back to where it started once quiet ---
sleep 65
after=$(sample "after 65 s quiet")
maxrss=0
for s in "${under[@]}"; do
	v=$(val "$s" rss_kb)
	[ "$v" -gt "$maxrss" ] && maxrss=$v
done
expect "socket pool use back" "$(val "$after" socks)" "$(val "$base" socks)" ||
	tb_srv "$build/xtcpctl" conns | head -40
expect "open connections back" "$(val "$after" conns)" "$(val "$base" conns)"
check "fds back ($(val "$base" fds) -> $(val "$after" fds), + 4 allowed)" \
	test "$(val "$after" fds)" -le $(($(val "$base" fds) + 4))
check "UMEM TX frames in use after the load: $(val "$after" umem_tx_in_use) <= 64" \
	test "$(val "$after" umem_tx_in_use)" -le 64
check "RSS after the load $(val "$after" rss_kb) kB <= max under load $maxrss kB + 5%" \
	test "$(val "$after" rss_kb)" -le $((maxrss + maxrss / 20))
check "nginx error log has no crit/alert/emerg" \
	sh -c "! grep -Eq '\[(crit|alert|emerg)\]' '$d/logs/error.log'"
kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
check_done
