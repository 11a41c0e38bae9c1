#!/usr/bin/env bash
# shim_basic.sh BUILD_DIR - the shim's own end-to-end checks, with unmodified
# nginx and curl between the test bed's namespaces (root; exits 77 without,
# 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#   inert        no XTCP_*: programs run unchanged, nothing on stderr
#   config       a bad XTCP_* value: one stderr line naming it; XTCP_STRICT=1 exits 1
#   fallback     no such interface: one line, nginx serves on the kernel; strict exits 1
#   served       nginx (master + 2 www-data workers, 2-queue veth, sendfile, tcp_nopush,
#                keep-alive): files 0 B..8 MB with sha256 checked, served by xtcp
#                (worker stats count the accepts, the kernel's PassiveOpens stays flat),
#                loopback served by the kernel half, reload under load (new workers
#                take the queues), idle workers use no CPU,
#                kill -9: refused at once by the kernel, a restart serves again,
#                XTCP_BUSY_POLL=1: files right, idle workers idle,
#                a single-process server (cpuserver) takes both queues
#   nested       an epoll fd with xtcp sockets inside another epoll fd, and in poll()
#   client       curl with XTCP_CONNECT_PORTS: connect() on xtcp (kernel ActiveOpens flat)
#   proxy        nginx proxy_pass with its upstream side on xtcp (epoll before connect)
set -u
build=$(cd "${1:?usage: shim_basic.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$lib"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
# shellcheck source=../nginx.sh
. "$here/../nginx.sh"
ngx_dir shim-basic

# --- inert and configuration errors (no network needed) ---
out=$(LD_PRELOAD=$lib sh -c 'echo inert | cat' 2>"$d/err")
check "inert: program runs unchanged" [ "$out" = inert ]
check "inert: nothing on stderr" [ ! -s "$d/err" ]
out=$(XTCP_IFACE=veth0 XTCP_PORTS=8o LD_PRELOAD=$lib sh -c 'echo ran' 2>"$d/err")
check "config: bad XTCP_PORTS, program still runs" [ "$out" = ran ]
check "config: one stderr line per process naming XTCP_PORTS" \
	grep -q 'XTCP_PORTS="8o" is invalid: expected' "$d/err"
XTCP_STRICT=1 XTCP_IFACE=veth0 XTCP_PORTS=8o LD_PRELOAD=$lib sh -c 'echo ran' >"$d/out" 2>&1
rc=$?
check "config: XTCP_STRICT=1 exits 1 (rc=$rc)" [ $rc = 1 ]
check "config: XTCP_STRICT=1 runs nothing" not_grep '^ran' "$d/out"
XTCP_IFACE=veth0 XTCP_PORTS=80 XTCP_LOG=loud LD_PRELOAD=$lib /bin/true 2>"$d/err"
check "config: bad XTCP_LOG named" grep -q 'XTCP_LOG="loud"' "$d/err"

tb_up 2 || fatal "test bed failed"
trap ngx_cleanup EXIT # tb_up set its own (tb_down only)
mkdir -p "$d/www" "$d/logs"
for n in 0 1 1000 100000 8000000; do
	head -c "$n" /dev/urandom >"$d/www/f$n"
done
chmod -R a+rX "$d/www"

nginx_conf() { # nginx_conf PORT
	cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes 2;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log notice;
events { use epoll; worker_connections 1024; }
http {
	access_log off;
	sendfile on; tcp_nopush on; tcp_nodelay on;
	keepalive_timeout 65;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen $1; root $d/www; }
}
EOC
}
nginx_start() { # nginx_start PORT ENV...: runs nginx in the server namespace
	nginx_conf "$1"
	shift
	ngx_run 2 "$@"
}
fetch_ok() { # fetch_ok PORT FILE [curl env...]: sha256 of the download matches
	local port=$1 f=$2 a b
	shift 2
	a=$(sha256sum <"$d/www/$f" | cut -d' ' -f1)
	b=$(tb_cli env "$@" timeout 20 curl -sf "http://$TB_SIP:$port/$f" | sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ]
}
passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
active_opens() { tb_cli nstat -az TcpActiveOpens | awk '/TcpActiveOpens/ {print $2}'; }
idle_ticks() { # CPU ticks the nginx workers use in the next 2 s
	local t0=0 t1=0 w
	for w in $(pgrep -P "$(cat "$d/nginx.pid")"); do
		t0=$((t0 + $(awk '{print $14 + $15}' "/proc/$w/stat")))
	done
	sleep 2
	for w in $(pgrep -P "$(cat "$d/nginx.pid")"); do
		t1=$((t1 + $(awk '{print $14 + $15}' "/proc/$w/stat")))
	done
	echo $((t1 - t0))
}
stat_u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; } # stat_u64 FILE OFFSET
# shim_stats.h: accepted_xtcp at offset 64, accepted_kernel at 72.

# --- start-up failure: no such interface ---
nginx_start 8081 LD_PRELOAD="$lib" XTCP_IFACE=nosuch0 XTCP_PORTS=8081
check "fallback: nginx runs" [ -s "$d/nginx.pid" ]
check "fallback: one line says why" grep -q 'cannot attach the XDP program to nosuch0.*continuing on the kernel' "$d/nginx.err"
check "fallback: served on the kernel" fetch_ok 8081 f100000
ngx_stop
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE=nosuch0 XTCP_PORTS=8081 XTCP_STRICT=1 \
	timeout 10 "$NGINX" -c "$d/nginx.conf" -p "$d" >"$d/strict.err" 2>&1
rc=$?
check "fallback: XTCP_STRICT=1 exits 1 (rc=$rc)" [ $rc = 1 ]
rm -f "$d/nginx.pid"
# A service user without the capabilities: the line names the missing ones.
tb_srv setpriv --reuid=65534 --regid=65534 --clear-groups env LD_PRELOAD="$lib" \
	XTCP_IFACE="$TB_SIF" XTCP_PORTS=8082 timeout 10 python3 -c \
	'import socket; s = socket.socket(); s.bind(("0.0.0.0", 8082)); s.listen(); print("ran")' \
	>"$d/nopriv.out" 2>"$d/nopriv.err"
check "fallback: without privilege the program runs on the kernel" grep -q '^ran' "$d/nopriv.out"
check "fallback: the line names the missing capability" \
	grep -q 'missing privilege: CAP_NET_ADMIN.*continuing on the kernel' "$d/nopriv.err"

# --- served by xtcp ---
nginx_start 8080 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8080 XTCP_LOG=info
check "served: nginx master + 2 workers up" [ -s "$d/nginx.pid" ]
sleep 0.5
p0=$(passive_opens)
for f in f0 f1 f1000 f100000 f8000000; do
	check "served: $f sha256" fetch_ok 8080 "$f"
done
out=$(tb_cli timeout 20 curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}%{num_connects} ' \
	"http://$TB_SIP:8080/f1000" "http://$TB_SIP:8080/f100000" "http://$TB_SIP:8080/f1000")
check "served: keep-alive, 3 requests on 1 connection ($out)" [ "$out" = "2001 2000 2000 " ]
p1=$(passive_opens)
check "served: kernel PassiveOpens flat ($p0 -> $p1)" [ "$p0" = "$p1" ]
acc=0
for w in $(pgrep -P "$(cat "$d/nginx.pid")"); do
	[ -f "/dev/shm/xtcp-$w.stats" ] && acc=$((acc + $(stat_u64 "/dev/shm/xtcp-$w.stats" 64)))
done
check "served: workers' stats count xtcp accepts ($acc >= 6)" [ "$acc" -ge 6 ]
# The stack's SYN cookie and challenge-ACK counters reach xtcpctl from a live worker
# (their movement is checked in tests/tcp and tests/shim/test_xtcpctl_stats).
out=$(tb_srv "$build/xtcpctl" --json status)
n=$(printf '%s' "$out" | grep -o '"syn_cookies_failed":[0-9]*,"challenge_acks":[0-9]*' | wc -l)
check "served: xtcpctl --json shows each worker's cookie/challenge-ACK counters ($n)" [ "$n" -ge 2 ]
q=$(cat "$d/logs/error.log" "$d/nginx.err" | grep -o 'serving veth0 queue [0-9]' | sort -u | wc -l)
check "served: each worker serves its own queue ($q of 2)" [ "$q" = 2 ]
check "served: no busy polling where the device does not defer interrupts" \
	sh -c "cat '$d/logs/error.log' '$d/nginx.err' | grep 'AF_XDP socket on' | grep -vq 'busy polling'"
out=$(tb_srv timeout 10 curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:8080/f1000")
p2=$(passive_opens)
check "served: loopback answered by the kernel half ($out, PassiveOpens +$((p2 - p1)))" \
	[ "$out" = 200 -a $((p2 - p1)) = 1 ]
# nginx -s reload under light load: nothing fails, the new workers take the queues over.
(
	for i in $(seq 40); do
		tb_cli timeout 5 curl -s -o /dev/null -w '%{http_code} ' "http://$TB_SIP:8080/f1000"
		sleep 0.05
	done
) >"$d/reload.txt" &
lp=$!
sleep 0.3
kill -HUP "$(cat "$d/nginx.pid")"
wait $lp
n200=$(grep -o 200 "$d/reload.txt" | wc -l)
check "reload: 40 requests across nginx -s reload all answered ($n200)" [ "$n200" = 40 ]
for i in $(seq 50); do
	n=$(cat "$d/logs/error.log" "$d/nginx.err" | grep -c 'serving veth0 queue')
	[ "$n" -ge 4 ] && break
	sleep 0.1
done
check "reload: the new workers serve on xtcp ($n serving lines, 4 expected)" [ "$n" -ge 4 ]
check "reload: served by xtcp after the reload" fetch_ok 8080 f100000
sleep 1
t=$(idle_ticks)
check "served: idle workers use ~0% CPU ($t ticks in 2 s)" [ "$t" -le 2 ]
ngx_stop
check "served: XDP program detached after nginx quit" \
	sh -c "! ip -n $TB_SRV link show $TB_SIF | grep -q ' xdp'"

# kill -9 of the whole server: the kernel answers at once (RST), a restart serves again.
nginx_start 8080 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8080
check "kill -9: nginx up again" fetch_ok 8080 f1000
mpid=$(cat "$d/nginx.pid")
kill -9 $(pgrep -P "$mpid") "$mpid" 2>/dev/null
wait "$ngx_job" 2>/dev/null # reaped: a zombie would still count as a user of the program
sleep 0.3
t0=$(date +%s%N)
out=$(tb_cli timeout 10 curl -s -o /dev/null -w '%{exitcode}' "http://$TB_SIP:8080/f1000")
t1=$(date +%s%N)
check "kill -9: refused at once (curl exit $out in $(((t1 - t0) / 1000000)) ms)" \
	[ "$out" = 7 -a $(((t1 - t0) / 1000000)) -lt 3000 ]
rm -f "$d/nginx.pid"
nginx_start 8080 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8080 XTCP_LOG=info
check "kill -9: restarted nginx serves again" fetch_ok 8080 f100000
ngx_stop

# A single-process server started by exec takes every queue (XTCP_QUEUES=auto):
# connections hashed to either queue are served by xtcp, none by the kernel.
cpusrv=$build/bench/cpuserver
if [ -x "$cpusrv" ]; then
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8083 XTCP_LOG=info \
		"$cpusrv" -p 8083 -r 1 >"$d/cpusrv.out" 2>"$d/cpusrv.err" &
	cpusrv_job=$!
	for i in $(seq 50); do
		[ "$(tb_cli curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$TB_SIP:8083/")" = 200 ] && break
		sleep 0.1
	done
	p0=$(passive_opens) # (the first answer may come from the kernel: no queue yet)
	n200=0
	for i in $(seq 30); do
		[ "$(tb_cli curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$TB_SIP:8083/")" = 200 ] &&
			n200=$((n200 + 1))
	done
	p1=$(passive_opens)
	check "single process: 30 connections answered ($n200)" [ "$n200" = 30 ]
	check "single process: serves both queues" grep -q 'serving veth.* queues: 2 of 2' "$d/cpusrv.err"
	check "single process: kernel PassiveOpens flat ($p0 -> $p1)" [ "$p0" = "$p1" ]
	# Only our server: the cpuserver process in this test's namespace.
	for p in $(ip netns pids "$TB_SRV"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = cpuserver ] && kill "$p"
	done
	wait "$cpusrv_job" 2>/dev/null
else
	bad "single process: no $cpusrv (bench/ not built)"
fi

# The device's deferral set (docs/configuration.md): busy polling turns itself on
# (XTCP_BUSY_POLL=auto), the receive work runs in the workers' own calls; transfers stay
# right and idle stays idle.
tb_srv sh -c "echo 2 > /sys/class/net/$TB_SIF/napi_defer_hard_irqs && \
	echo 200000 > /sys/class/net/$TB_SIF/gro_flush_timeout"
nginx_start 8080 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8080 XTCP_LOG=info
check "busy poll: on by itself where the device defers interrupts" \
	sh -c "cat '$d/logs/error.log' '$d/nginx.err' | grep -q 'copy mode, busy polling'"
for f in f0 f1000 f100000 f8000000; do
	check "busy poll: $f sha256" fetch_ok 8080 "$f"
done
sleep 1
t=$(idle_ticks)
check "busy poll: idle workers use ~0% CPU ($t ticks in 2 s)" [ "$t" -le 2 ]
ngx_stop
tb_srv sh -c "echo 0 > /sys/class/net/$TB_SIF/napi_defer_hard_irqs && \
	echo 0 > /sys/class/net/$TB_SIF/gro_flush_timeout"

# --- epoll in epoll, poll on an epoll fd (shim_nested) ---
nested=$build/tests/shim/shim_nested
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8090 XTCP_LOG=info \
	timeout 60 "$nested" 8090 6 >"$d/nested.log" 2>&1 &
npid=$!
for i in $(seq 100); do
	grep -q listening "$d/nested.log" 2>/dev/null && break
	sleep 0.1
done
good=0
for i in 1 2 3 4 5 6; do
	[ "$(tb_cli timeout 10 curl -s "http://$TB_SIP:8090/")" = nested-ok ] && good=$((good + 1))
done
wait $npid
rc=$?
check "nested: 6 answers through an epoll fd in an epoll fd and poll ($good, rc=$rc)" \
	[ $good = 6 -a $rc = 0 ]
check "nested: served by xtcp" grep -q 'serving veth0 queue' "$d/nested.log"

# --- client side: connect() on xtcp ---
tb_srv ethtool -K "$TB_SIF" tx off >/dev/null # xtcp verifies checksums: the kernel peer must fill them
nginx_start 8082
a0=$(active_opens)
check "client: curl over xtcp, sha256" fetch_ok 8082 f8000000 LD_PRELOAD="$lib" \
	XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8082
check "client: curl over xtcp, small file" fetch_ok 8082 f1000 LD_PRELOAD="$lib" \
	XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8082
a1=$(active_opens)
check "client: kernel ActiveOpens flat ($a0 -> $a1)" [ "$a0" = "$a1" ]
out=$(tb_cli env LD_PRELOAD="$lib" XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8083 \
	timeout 10 curl -s -o /dev/null -w '%{exitcode}' "http://$TB_SIP:8083/" 2>"$d/refused.err")
[ "$out" = 7 ] || cat "$d/refused.err"
check "client: refused port -> ECONNREFUSED (curl exit $out)" [ "$out" = 7 ]

# A reverse proxy whose upstream side runs on xtcp: nginx (2 workers, client
# namespace, XTCP_PORTS=8084, XTCP_CONNECT_PORTS=8082) in front of the kernel
# nginx above. nginx adds the upstream socket to epoll before connect(): the
# registration must follow the socket to xtcp.
cat >"$d/proxy.conf" <<EOC
user www-data;
worker_processes 2;
daemon off;
pid $d/proxy.pid;
error_log $d/logs/proxy.log notice;
events { use epoll; worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen 8084; location / { proxy_pass http://$TB_SIP:8082;
		proxy_connect_timeout 3s; proxy_read_timeout 5s; } }
}
EOC
tb_cli env LD_PRELOAD="$lib" XTCP_IFACE="$TB_CIF" XTCP_PORTS=8084 XTCP_CONNECT_PORTS=8082 \
	"$NGINX" -c "$d/proxy.conf" -p "$d" >"$d/proxy.err" 2>&1 &
proxy_job=$!
for i in $(seq 100); do
	[ -s "$d/proxy.pid" ] && [ "$(pgrep -c -P "$(cat "$d/proxy.pid")")" = 2 ] && break
	sleep 0.1
done
a0=$(active_opens)
ok_n=0
for f in f0 f1000 f100000 f8000000 f1000 f1000 f1000 f1000; do
	a=$(sha256sum <"$d/www/$f" | cut -d' ' -f1)
	b=$(tb_srv timeout 10 curl -sf "http://$TB_CIP:8084/$f" | sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ] && ok_n=$((ok_n + 1))
done
a1=$(active_opens)
check "proxy: 8 downloads through nginx with an xtcp upstream side, sha256 ($ok_n)" [ $ok_n = 8 ]
check "proxy: upstream connections on xtcp (kernel ActiveOpens flat: $a0 -> $a1)" [ "$a0" = "$a1" ]
[ -s "$d/proxy.pid" ] && kill -QUIT "$(cat "$d/proxy.pid")"
wait "$proxy_job" 2>/dev/null
ngx_stop

check_done
