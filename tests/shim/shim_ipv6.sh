#!/usr/bin/env bash
# shim_ipv6.sh BUILD_DIR - IPv6 and dual-stack AF_INET6 sockets end to end, with
# unmodified Debian nginx and curl between the test bed's namespaces (fd77:1::1
# server, fd77:1::2 client, no DAD; root: exits 77 without, 1 with
# XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#   nginx        "listen 8080; listen [::]:8080;" (2 workers, 2 queues): curl -6 and
#                -4 of files 0 B..100 MB, sha256 checked; ab -c 100 over IPv6 with 0
#                failures; the kernel's TcpPassiveOpens (IPv4 and IPv6) stays flat
#   dual         "listen [::]:8081 ipv6only=off;" alone: IPv4 and IPv6 clients both
#                served by xtcp; nginx logs the IPv4 client as ::ffff:10.77.1.2
#   mapped       an AF_INET6 socket bound to ::ffff:10.77.1.1 (as the JDK does):
#                served by xtcp; names as the kernel gives them
#   v6only       IPV6_V6ONLY on [::]: IPv6 served, IPv4 refused as Linux refuses it
#   fork         an AF_INET6 connection whose data and FIN xtcp took, forked: handed to
#                the kernel (TCP_REPAIR, FIN replayed over IPv6), the child reads to EOF
#   hops         the interface's hop_limit sysctl (37), net.ipv4.ip_default_ttl (41), a
#                route's hoplimit (50) and IPV6_UNICAST_HOPS (9) on the wire (tcpdump in
#                the client namespace) and from getsockopt
#   client       curl -6 with XTCP_CONNECT_PORTS: connect() over IPv6 on xtcp, to a
#                global and to a link-local address (the client's kernel ActiveOpens flat)
set -u
build=$(cd "${1:?usage: shim_ipv6.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$lib"
need_tools ab

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
# shellcheck source=../nginx.sh
. "$here/../nginx.sh"
ngx_dir shim-ipv6

tb_up 2 || fatal "test bed failed"
trap ngx_cleanup EXIT # tb_up set its own (tb_down only)
# xtcp verifies checksums: the kernel peers must fill them (the client side is off already)
tb_srv ethtool -K "$TB_SIF" tx off >/dev/null
mkdir -p "$d/www" "$d/logs"
for n in 0 1 1000 100000 8000000 100000000; do
	head -c "$n" /dev/urandom >"$d/www/f$n"
done
chmod -R a+rX "$d/www"

nginx_conf() { # nginx_conf LISTEN-LINES
	cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes 2;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/logs/error.log notice;
events { use epoll; worker_connections 1024; }
http {
	log_format peer '\$remote_addr \$server_addr';
	access_log $d/logs/access.log peer;
	sendfile on; tcp_nopush on; tcp_nodelay on;
	keepalive_timeout 65;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { $1 root $d/www; }
}
EOC
}
nginx_start() { # nginx_start LISTEN-LINES ENV...
	nginx_conf "$1"
	shift
	: >"$d/logs/access.log"
	ngx_run 2 "$@"
}
fetch_ok() { # fetch_ok URL FILE [curl env...]: sha256 of the download matches
	local url=$1 f=$2 a b
	shift 2
	a=$(sha256sum <"$d/www/$f" | cut -d' ' -f1)
	b=$(tb_cli env "$@" timeout 60 curl -sf "$url/$f" | sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ]
}
passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
active_opens() { tb_cli nstat -az TcpActiveOpens | awk '/TcpActiveOpens/ {print $2}'; }
xdp_stat() { # xdp_stat NAME: the XDP program's counter, summed over CPUs
	tb_srv "$build/xtcpctl" --json status 2>/dev/null | grep -o "\"$1\":[0-9]*" | head -1 |
		cut -d: -f2
}
V6="http://[$TB_SIP6]"
V4="http://$TB_SIP"
# the server's link-local address, as the client names it (zone: its veth)
sll=$(tb_srv ip -6 -o addr show dev "$TB_SIF" scope link | awk '{print $4}' | cut -d/ -f1)
LL="http://[$sll%25$TB_CIF]"

# --- nginx: listen 8080; listen [::]:8080; ---
nginx_start "listen 8080; listen [::]:8080;" LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" \
	XTCP_PORTS=8080 XTCP_LOG=info
check "nginx: master + 2 workers up" [ -s "$d/nginx.pid" ]
sleep 0.5
p0=$(passive_opens)
for f in f0 f1 f1000 f100000 f8000000 f100000000; do
	check "nginx: curl -6 $f sha256" fetch_ok "$V6:8080" "$f"
	check "nginx: curl -4 $f sha256" fetch_ok "$V4:8080" "$f"
done
check "nginx: curl -6 to the server's link-local address ($sll), served" \
	fetch_ok "$LL:8080" f100000
out=$(tb_cli timeout 20 curl -6 -s -o /dev/null -o /dev/null -w '%{http_code}%{num_connects} ' \
	"$V6:8080/f1000" "$V6:8080/f100000")
check "nginx: IPv6 keep-alive, 2 requests on 1 connection ($out)" [ "$out" = "2001 2000 " ]
tb_cli timeout 120 ab -q -c 100 -n 5000 "$V6:8080/f1000" >"$d/ab.txt" 2>&1
done_n=$(awk '/^Complete requests:/ {print $3}' "$d/ab.txt")
fail_n=$(awk '/^Failed requests:/ {print $3}' "$d/ab.txt")
rps=$(awk '/^Requests per second:/ {print $4}' "$d/ab.txt")
check "nginx: ab -c 100 -n 5000 over IPv6: $done_n complete, $fail_n failed, $rps req/s" \
	[ "${done_n:-0}" = 5000 -a "${fail_n:-1}" = 0 ]
grep -q 'Non-2xx' "$d/ab.txt" && check "nginx: ab saw no non-2xx answer" false
p1=$(passive_opens)
check "nginx: kernel PassiveOpens flat ($p0 -> $p1)" [ "$p0" = "$p1" ]
n6=$(grep -c '^fd77:1::2 fd77:1::1$' "$d/logs/access.log")
n4=$(grep -c '^10.77.1.2 10.77.1.1$' "$d/logs/access.log")
check "nginx: the access log names IPv6 ($n6) and IPv4 ($n4) clients as the kernel would" \
	[ "$n6" -ge 5000 -a "$n4" -ge 6 ]
r6=$(xdp_stat ipv6_redirected)
check "nginx: the XDP program steered IPv6 segments (ipv6_redirected $r6)" [ "${r6:-0}" -gt 0 ]
tb_srv "$build/xtcpctl" conns >"$d/conns.txt" 2>&1
check "nginx: xtcpctl conns shows IPv6 listeners" grep -q '\[::\]:8080' "$d/conns.txt"
out=$(tb_srv timeout 10 curl -s -o /dev/null -w '%{http_code}' "http://[::1]:8080/f1000")
p2=$(passive_opens)
check "nginx: [::1] answered by the kernel half ($out, PassiveOpens +$((p2 - p1)))" \
	[ "$out" = 200 -a $((p2 - p1)) = 1 ]
ngx_stop

# --- dual stack: listen [::]:8081 ipv6only=off; ---
nginx_start "listen [::]:8081 ipv6only=off;" LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" \
	XTCP_PORTS=8081
p0=$(passive_opens)
check "dual: curl -6 served" fetch_ok "$V6:8081" f100000
check "dual: curl -4 served" fetch_ok "$V4:8081" f100000
p1=$(passive_opens)
check "dual: kernel PassiveOpens flat ($p0 -> $p1)" [ "$p0" = "$p1" ]
check "dual: the IPv4 client shows as ::ffff:10.77.1.2 (as on Linux)" \
	grep -q '^::ffff:10.77.1.2 ::ffff:10.77.1.1$' "$d/logs/access.log"
ngx_stop

# --- an AF_INET6 socket bound to a v4-mapped address (the JDK's way) ---
cat >"$d/mapped.py" <<'EOP'
import socket, sys
addr, port, v6only = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if v6only:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((addr, port))
s.listen(16)
print("listening", s.getsockname()[:2], flush=True)
for _ in range(int(sys.argv[4])):
    c, peer = s.accept()
    me = c.getsockname()
    print("peer", peer[0], "name", me[0], me[1], "flow", peer[2], "scope", peer[3],
          "domain", c.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN),
          "v6only", c.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), flush=True)
    c.sendall(b"hello from " + me[0].encode() + b"\n")
    c.close()
EOP
hello() { # hello HOST PORT: the line the server sends, from the client namespace
	tb_cli timeout 5 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4)
print(c.recv(100).decode().strip())' "$1" "$2" 2>&1
}
run_py() { # run_py NAME ADDR PORT V6ONLY N: in the server namespace, under xtcp
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$3" XTCP_LOG=info \
		timeout 20 python3 "$d/mapped.py" "$2" "$3" "$4" "$5" >"$d/$1.out" 2>"$d/$1.err" &
	py=$!
	for _ in $(seq 50); do
		grep -q listening "$d/$1.out" 2>/dev/null && return 0
		sleep 0.1
	done
}
p0=$(passive_opens)
run_py mapped ::ffff:10.77.1.1 8082 0 2
out1=$(hello "$TB_SIP" 8082)
out2=$(hello "$TB_SIP" 8082)
wait $py
p1=$(passive_opens)
check "mapped: served, answered ($out1 / $out2)" \
	[ "$out1" = "hello from ::ffff:10.77.1.1" -a "$out2" = "$out1" ]
check "mapped: accept() gives ::ffff:10.77.1.2, flowinfo 0, scope 0, AF_INET6" \
	grep -q 'peer ::ffff:10.77.1.2 name ::ffff:10.77.1.1 8082 flow 0 scope 0 domain 10 v6only 0' \
	"$d/mapped.out"
check "mapped: by xtcp (kernel PassiveOpens flat: $p0 -> $p1)" [ "$p0" = "$p1" ]
check "mapped: nothing on stderr but xtcp's info lines" not_grep -v 'xtcp' "$d/mapped.err"

# --- IPV6_V6ONLY on [::]: IPv6 served, IPv4 refused as by the kernel ---
p0=$(passive_opens)
run_py v6only :: 8083 1 1
out4=$(hello "$TB_SIP" 8083)
out6=$(hello "$TB_SIP6" 8083)
wait $py
p1=$(passive_opens)
check "v6only: IPv6 client served ($out6)" [ "$out6" = "hello from fd77:1::1" ]
check "v6only: IPv4 client refused (${out4##*$'\n'})" grep -q 'Connection refused' <<<"$out4"
check "v6only: getsockopt(IPV6_V6ONLY) on the accepted socket is 1" \
	grep -q 'peer fd77:1::2 name fd77:1::1 8083 flow 0 scope 0 domain 10 v6only 1' "$d/v6only.out"
check "v6only: by xtcp (kernel PassiveOpens flat: $p0 -> $p1)" [ "$p0" = "$p1" ]

# --- fork: an IPv6 connection in CLOSE-WAIT (data and FIN taken by xtcp) goes to the kernel ---
cat >"$d/forkfin.py" <<'EOP'
import os, socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(4)
print("listening", flush=True)
for _ in range(2):
    c, peer = s.accept()
    time.sleep(0.3)  # the client's data and FIN arrive: CLOSE-WAIT at fork
    pid = os.fork()
    if pid == 0:
        got = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            got += b
        c.sendall(b"child got %d bytes then EOF\n" % len(got))
        c.close()
        os._exit(0)
    c.close()
    os.waitpid(pid, 0)
EOP
fin_client() { # fin_client HOST PORT: sends 100000 bytes and FIN, prints the answer
	tb_cli timeout 10 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=8)
c.sendall(bytes(range(256)) * 390 + b"x" * 160)
c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode().strip())' "$1" "$2" 2>&1
}
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8086 XTCP_LOG=info \
	timeout 20 python3 "$d/forkfin.py" 8086 >"$d/forkfin.out" 2>"$d/forkfin.err" &
py=$!
for _ in $(seq 50); do
	grep -q listening "$d/forkfin.out" 2>/dev/null && break
	sleep 0.1
done
o6=$(fin_client "$TB_SIP6" 8086)
o4=$(fin_client "$TB_SIP" 8086)
wait $py
check "fork: IPv6 connection in CLOSE-WAIT handed to the kernel, the child reads all and EOF ($o6)" \
	[ "$o6" = "child got 100000 bytes then EOF" ]
check "fork: the same for an IPv4 peer of the AF_INET6 socket ($o4)" \
	[ "$o4" = "child got 100000 bytes then EOF" ]
check "fork: the engine ran (served by xtcp)" grep -q 'serving veth0' "$d/forkfin.err"
check "fork: no hand-over refused or left on xtcp" not_grep -E 'stays on xtcp|refused' \
	"$d/forkfin.err"

# --- hop limit: the interface's hop_limit, net.ipv4.ip_default_ttl, a route's, the socket's ---
cat >"$d/hops.py" <<'EOP'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(4)
print("listening", flush=True)
for _ in range(int(sys.argv[2])):
    c, peer = s.accept()
    ask = c.recv(10).strip()
    if ask != b"-":
        c.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, int(ask))
    lvl, opt = ((socket.IPPROTO_IP, socket.IP_TTL) if peer[0].startswith("::ffff:")
                else (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS))
    c.sendall(b"hops %d\n" % c.getsockopt(lvl, opt) + b"x" * 3000)
    c.close()
EOP
hops_server() { # hops_server PORT N: the script above under xtcp, in the background ($py)
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$1" XTCP_LOG=info \
		timeout 30 python3 "$d/hops.py" "$1" "$2" >"$d/hops.out" 2>"$d/hops.err" &
	py=$!
	for _ in $(seq 50); do
		grep -q listening "$d/hops.out" 2>/dev/null && return 0
		sleep 0.1
	done
}
# hops_wire HOST PORT ASK: the server's answer, then the TTLs / hop limits of its
# segments as the client's interface saw them (tcpdump -v), distinct, in order of appearance
hops_wire() {
	local ans
	# a 2 s window: the exchange takes a few ms once tcpdump listens
	tb_cli timeout -s INT 2 tcpdump -l -nn -v -i "$TB_CIF" "tcp src port $2" \
		>"$d/hops.cap" 2>"$d/hops.tcpdump" &
	local tp=$!
	for _ in $(seq 50); do
		grep -q 'listening on' "$d/hops.tcpdump" 2>/dev/null && break
		sleep 0.1
	done
	ans=$(tb_cli timeout 5 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=4)
c.sendall(sys.argv[3].encode())
b = b""
while True:
    r = c.recv(65536)
    if not r:
        break
    b += r
print(b.split(b"\n")[0].decode())' "$1" "$2" "$3" 2>&1)
	wait "$tp"
	echo "$ans $(grep -oE '(hlim|ttl) [0-9]+' "$d/hops.cap" | awk '!seen[$0]++' | tr '\n' ' ')"
}
tb_srv sysctl -qw "net.ipv6.conf.$TB_SIF.hop_limit=37" net.ipv4.ip_default_ttl=41
p0=$(passive_opens)
hops_server 8087 3
h1=$(hops_wire "$TB_SIP6" 8087 -)
h2=$(hops_wire "$TB_SIP6" 8087 9)
h3=$(hops_wire "$TB_SIP" 8087 -)
wait $py
check "hops: the interface's hop_limit 37 on the wire and from getsockopt ($h1)" \
	[ "$h1" = "hops 37 hlim 37 " ]
check "hops: IPV6_UNICAST_HOPS 9 on the accepted socket: its segments after it ($h2)" \
	[ "$h2" = "hops 9 hlim 37 hlim 9 " ]
check "hops: an IPv4 peer gets net.ipv4.ip_default_ttl 41 ($h3)" [ "$h3" = "hops 41 ttl 41 " ]
tb_srv ip -6 route replace fd77:1::/64 dev "$TB_SIF" hoplimit 50
hops_server 8087 1
h4=$(hops_wire "$TB_SIP6" 8087 -)
wait $py
p1=$(passive_opens)
check "hops: a route's hoplimit 50 beats the interface's ($h4)" [ "$h4" = "hops 50 hlim 50 " ] ||
	grep -B1 -A1 'hlim [^5]' "$d/hops.cap" | head -20
check "hops: served by xtcp (kernel PassiveOpens flat: $p0 -> $p1)" [ "$p0" = "$p1" ]
tb_srv ip -6 route replace fd77:1::/64 dev "$TB_SIF"
tb_srv sysctl -qw "net.ipv6.conf.$TB_SIF.hop_limit=64" net.ipv4.ip_default_ttl=64

# --- client side: connect() over IPv6 on xtcp ---
nginx_start "listen [::]:8084;"
a0=$(active_opens)
check "client: curl -6 over xtcp, 8 MB sha256" fetch_ok "$V6:8084" f8000000 LD_PRELOAD="$lib" \
	XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8084
check "client: curl -6 over xtcp, small file" fetch_ok "$V6:8084" f1000 LD_PRELOAD="$lib" \
	XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8084
check "client: curl -6 over xtcp to a link-local address" fetch_ok "$LL:8084" f100000 \
	LD_PRELOAD="$lib" XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8084
a1=$(active_opens)
check "client: kernel ActiveOpens flat ($a0 -> $a1)" [ "$a0" = "$a1" ]
out=$(tb_cli env LD_PRELOAD="$lib" XTCP_IFACE="$TB_CIF" XTCP_CONNECT_PORTS=8085 \
	timeout 10 curl -6 -s -o /dev/null -w '%{exitcode}' "$V6:8085/" 2>"$d/refused.err")
check "client: refused IPv6 port -> ECONNREFUSED (curl exit $out)" [ "$out" = 7 ]
ngx_stop

check_done
