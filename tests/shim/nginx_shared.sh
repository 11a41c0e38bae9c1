#!/usr/bin/env bash
# nginx_shared.sh BUILD_DIR - more processes than RX queues: unmodified nginx
# with 4 workers under libxtcp.so on a 1-queue test bed. The first worker
# takes the queue as its own; the three others find it taken and join it
# (their own AF_XDP sockets on its UMEM, xsk/xp_share.c). Root; exits 77
# without. Prints "N passed, N failed".
#   ab started the moment nginx returns: every request served, none by the
#   kernel (TcpPassiveOpens flat), each worker a fair share ($pid in the log)
#   xtcpctl after the load: 4 workers, no negative gauge, no connection left
#   IPv6 ([::]:80 beside 80): ab over IPv6, every request served, none by the
#   kernel, every worker a fair share (share_steer6() in the XDP program)
#   reload under load (ab running): no failed request, none by the kernel
#   kill -9 of a worker under load (wrk): only that worker's connections
#   fail (<= 100, wrk's connection count), no connect fails; then a clean
#   ab run, every worker serving
set -u
build=$(cd "${1:?usage: nginx_shared.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$lib"
need_tools ab wrk python3

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
# shellcheck source=../nginx.sh
. "$here/../nginx.sh"
ngx_dir nginx-shared

tb_up 1 || fatal "test bed failed"
trap ngx_cleanup EXIT # tb_up set its own (tb_down only)
mkdir -p "$d/www" "$d/logs"
head -c 64 /dev/urandom >"$d/www/f64"
chmod -R a+rX "$d/www"
cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes 4;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { use epoll; worker_connections 4096; }
http {
	log_format bypid '\$pid \$status';
	access_log $d/logs/access.log bypid;
	keepalive_timeout 65;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen 80 backlog=4096; listen [::]:80 backlog=4096; root $d/www; }
}
EOC
passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
workers() { pgrep -P "$(cat "$d/nginx.pid")" | sort; }
# ab_run OUT N: HTTP/1.0 GETs of 64 bytes, 100 at a time.
ab_run() {
	tb_cli sh -c "ulimit -n 20000; timeout 120 ab -q -n $2 -c 100 -s 20 http://$TB_SIP/f64" \
		>"$1" 2>&1
}
ab_field() { awk -v f="$2" 'index($0, f) == 1 {print $(NF)}' "$1"; }
# per_pid FROM_LINE PIDS...: requests each pid logged after line FROM_LINE, one per line.
per_pid() {
	local from=$1 pid
	shift
	for pid in "$@"; do
		tail -n +"$from" "$d/logs/access.log" | awk -v p="$pid" '$1 == p' | wc -l
	done
}
fair() { # fair TOTAL COUNTS...: each count >= half an equal share
	local total=$1 c
	shift
	for c in "$@"; do [ "$c" -ge $((total / $# / 2)) ] || return 1; done
}

p0=$(passive_opens)
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 XTCP_LOG=info \
	"$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err" || cat "$d/nginx.err"
# Load from the first moment: nginx has listened and forked; workers may still start.
ab_run "$d/ab1.out" 20000
mapfile -t pids < <(workers)
check "nginx master + 4 workers on a 1-queue device" [ "${#pids[@]}" = 4 ]
c=$(ab_field "$d/ab1.out" "Complete requests:")
f=$(ab_field "$d/ab1.out" "Failed requests:")
check "ab from start -n 20000 -c 100: complete=${c:-?} failed=${f:-?}" \
	test "${c:-0}" = 20000 -a "${f:-1}" = 0
mapfile -t share < <(per_pid 1 "${pids[@]}")
check "every worker a fair share of 20000: ${share[*]}" fair 20000 "${share[@]}"
p1=$(passive_opens)
check "kernel TcpPassiveOpens flat from start ($p0 -> $p1)" [ "$p0" = "$p1" ]
n=$(cat "$d/nginx.err" "$d/logs/error.log" | grep -c "shared with other processes")
check "3 workers joined the queue of the first ($n)" [ "$n" = 3 ]
check "no process left to the kernel" \
	not_grep -E "no AF_XDP socket|cannot share|stays on the kernel" "$d/nginx.err"
# Statistics, the load over: one entry per worker (xtcpctl), no gauge below
# zero (a u64 that wrapped), no connection left open, and the accepts add up.
sleep 1
tb_srv "$build/xtcpctl" --json status >"$d/st1.json" 2>&1
st=$(python3 - "$d/st1.json" <<'EOP'
import json, sys
p = json.load(open(sys.argv[1]))["processes"]
big = [x for x in p if x["listeners"] > 1 << 32 or x["conns"] > 1 << 32]
print(len(p), sum(x["conns"] for x in p), sum(x["accepted_xtcp"] for x in p), len(big))
EOP
)
read -r nproc nconn nacc nbig <<<"${st:-0 x 0 x}"
check "xtcpctl: $nproc processes, $nconn connections open, $nacc accepted, $nbig negative" \
	test "$nproc" = 4 -a "$nconn" = 0 -a "$nacc" -ge 20000 -a "$nbig" = 0

# IPv6 on the shared queue: the same member choice, its own flow table.
lines=$(($(wc -l <"$d/logs/access.log") + 1))
tb_cli sh -c "ulimit -n 20000; timeout 120 ab -q -n 5000 -c 50 -s 20 http://[$TB_SIP6]/f64" \
	>"$d/ab6.out" 2>&1
c=$(ab_field "$d/ab6.out" "Complete requests:")
f=$(ab_field "$d/ab6.out" "Failed requests:")
check "IPv6 ab -n 5000 -c 50: complete=${c:-?} failed=${f:-?}" \
	test "${c:-0}" = 5000 -a "${f:-1}" = 0
mapfile -t share < <(per_pid "$lines" "${pids[@]}")
check "IPv6: every worker a fair share of 5000: ${share[*]}" fair 5000 "${share[@]}"
p6=$(passive_opens)
check "IPv6: kernel TcpPassiveOpens flat ($p1 -> $p6)" [ "$p1" = "$p6" ]
p1=$p6

# Reload under load.
ab_run "$d/ab2.out" 40000 &
abpid=$!
sleep 1
kill -HUP "$(cat "$d/nginx.pid")"
wait $abpid
c=$(ab_field "$d/ab2.out" "Complete requests:")
f=$(ab_field "$d/ab2.out" "Failed requests:")
check "reload under ab -n 40000: complete=${c:-?} failed=${f:-?}" \
	test "${c:-0}" = 40000 -a "${f:-1}" = 0
p2=$(passive_opens)
check "kernel TcpPassiveOpens flat through reload ($p1 -> $p2)" [ "$p1" = "$p2" ]
for _ in $(seq 50); do [ "$(workers | wc -l)" = 4 ] && break; sleep 0.1; done
mapfile -t pids < <(workers)
lines=$(($(wc -l <"$d/logs/access.log") + 1))
ab_run "$d/ab3.out" 20000
f=$(ab_field "$d/ab3.out" "Failed requests:")
mapfile -t share < <(per_pid "$lines" "${pids[@]}")
check "after reload: failed=${f:-?}, the 4 new workers' shares: ${share[*]}" \
	sh -c "[ '${f:-1}' = 0 ] && [ ${#pids[@]} = 4 ]" && fair 20000 "${share[@]}"

# kill -9 of one worker under load (wrk: keep-alive connections, counted
# errors instead of ab's abort at the first timeout): the connections the
# worker held die with it (a response it never sent is a timeout: nothing
# tells the client yet), nothing else fails and the master's replacement
# serves at once.
tb_cli sh -c "ulimit -n 20000; timeout 60 wrk -t2 -c100 -d5s --timeout 2s http://$TB_SIP/f64" \
	>"$d/wrk.out" 2>&1 &
wrkpid=$!
sleep 1
kill -9 "${pids[0]}"
wait $wrkpid
reqs=$(awk '/requests in/ {print $1}' "$d/wrk.out")
errs=$(grep "Socket errors" "$d/wrk.out")
conn=$(echo "$errs" | grep -Eo "connect [0-9]+" | grep -Eo "[0-9]+")
lost=$(echo "$errs" | grep -Eo "(read|write|timeout) [0-9]+" | awk '{s += $2} END {print s + 0}')
check "kill -9 under wrk -c 100: ${reqs:-0} requests, ${errs:-no socket error} (<= 100 lost)" \
	test "${reqs:-0}" -gt 1000 -a "${conn:-0}" = 0 -a "$lost" -le 100
for _ in $(seq 50); do [ "$(workers | wc -l)" = 4 ] && break; sleep 0.1; done
mapfile -t pids < <(workers)
lines=$(($(wc -l <"$d/logs/access.log") + 1))
ab_run "$d/ab5.out" 20000
c=$(ab_field "$d/ab5.out" "Complete requests:")
f=$(ab_field "$d/ab5.out" "Failed requests:")
mapfile -t share < <(per_pid "$lines" "${pids[@]}")
check "after kill -9: complete=${c:-?} failed=${f:-?}, shares ${share[*]}" \
	sh -c "[ '${c:-0}' = 20000 ] && [ '${f:-1}' = 0 ]" && fair 20000 "${share[@]}"
p3=$(passive_opens)
check "kernel TcpPassiveOpens flat through kill -9 ($p2 -> $p3)" [ "$p2" = "$p3" ]
sleep 1
tb_srv "$build/xtcpctl" --json status >"$d/st2.json" 2>&1
st=$(python3 - "$d/st2.json" <<'EOP'
import json, sys
p = json.load(open(sys.argv[1]))["processes"]
big = [x for x in p if x["listeners"] > 1 << 32 or x["conns"] > 1 << 32]
print(len(p), sum(x["conns"] for x in p), len(big))
EOP
)
read -r nproc nconn nbig <<<"${st:-0 x x}"
check "xtcpctl after reload and kill -9: $nproc processes, $nconn open, $nbig negative" \
	test "$nproc" = 4 -a "$nconn" = 0 -a "$nbig" = 0
check "nginx error log has no crit/alert/emerg" \
	sh -c "! grep -E '\[(crit|alert|emerg)\]' '$d/logs/error.log' | grep -v 'exited on signal 9'"
[ "$fail" = 0 ] || {
	tail -n 20 "$d/nginx.err" "$d/logs/error.log"
	grep -iE "fail|err|apr|length|except" "$d"/ab*.out | head -20
	tb_srv "$build/xtcpctl" status | grep -E "steering|processes|accepted"
}

kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
for _ in $(seq 50); do
	kill -0 "$(cat "$d/nginx.pid" 2>/dev/null)" 2>/dev/null || break
	sleep 0.1
done
check_done
