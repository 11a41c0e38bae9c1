#!/usr/bin/env bash
# shim_tcpopt.sh BUILD_DIR - TCP features as Linux has them:
#   1. shim_tcpopt's server on the kernel, then under LD_PRELOAD=libxtcp.so
#      (client on the kernel both times): TCP_INFO, SO_SNDBUF/SO_RCVBUF,
#      TCP_MAXSEG, TCP_NOTSENT_LOWAT, MSG_MORE, MSG_ZEROCOPY observations of
#      server and client must be identical;
#   2. unmodified nginx under xtcp logs $tcpinfo_rtt (getsockopt TCP_INFO):
#      nonzero and plausible (below 100 ms on the test bed's veth);
#   3. TCP Fast Open, server side: a kernel client's data in the SYN is taken by
#      the kernel server and by the xtcp server alike (second connection, cookie
#      from the first).
# Root (test bed); exits 77 without (1 with XTCP_TEST_NO_SKIP=1).
# Prints "N passed, N failed".
set -u
build=$(cd "${1:?usage: shim_tcpopt.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/shim/shim_tcpopt
lib=$build/libxtcp.so
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$bin" "$lib"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-tcpopt.XXXXXX)
chmod 755 "$out"
cleanup() {
	[ -f "$out/nginx.pid" ] && kill -QUIT "$(cat "$out/nginx.pid")" 2>/dev/null
	tb_down
}
trap cleanup EXIT

tb_serve_once "$bin" "$out" kernel 7311
tb_serve_once "$bin" "$out" xtcp 7313 \
	LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7313,7314 XTCP_LOG=info
lines=$(wc -l <"$out/kernel.txt")
if [ "$lines" -gt 30 ] && diff -u "$out/kernel.txt" "$out/xtcp.txt"; then
	ok "server: identical observations ($lines lines)"
else
	bad "server: observations differ (kernel vs xtcp above; kernel run $lines lines)"
fi
check "client: identical observations" diff -u "$out/kernel-cli.txt" "$out/xtcp-cli.txt"
check "the xtcp run was served by xtcp" grep -q 'serving veth0 queue' "$out/xtcp.err" ||
	cat "$out/xtcp.err"

# nginx: $tcpinfo_rtt is read with getsockopt(TCP_INFO) when the request is logged
mkdir -p "$out/www" "$out/logs"
head -c 300000 /dev/urandom >"$out/www/f"
chmod -R a+rX "$out/www"
cat >"$out/nginx.conf" <<EOC
user www-data;
worker_processes 1;
daemon off;
master_process on;
pid $out/nginx.pid;
error_log $out/logs/error.log notice;
events { use epoll; worker_connections 64; }
http {
	log_format ti '\$tcpinfo_rtt \$tcpinfo_rttvar \$tcpinfo_snd_cwnd \$tcpinfo_rcv_space';
	access_log $out/logs/access.log ti;
	client_body_temp_path $out/cb; proxy_temp_path $out/pt; fastcgi_temp_path $out/ft;
	uwsgi_temp_path $out/ut; scgi_temp_path $out/st;
	server { listen 7315; root $out/www; }
}
EOC
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7315 XTCP_LOG=info \
	"$NGINX" -c "$out/nginx.conf" -p "$out" >"$out/nginx.err" 2>&1 &
for i in $(seq 100); do
	[ -s "$out/nginx.pid" ] && [ "$(pgrep -c -P "$(cat "$out/nginx.pid")")" = 1 ] && break
	sleep 0.1
done
for i in 1 2 3; do
	tb_cli timeout 10 curl -sf -o /dev/null "http://$TB_SIP:7315/f" || bad "nginx: request $i failed"
done
kill -QUIT "$(cat "$out/nginx.pid")" 2>/dev/null
sleep 0.5
rm -f "$out/nginx.pid"
echo "nginx access log (rtt rttvar snd_cwnd rcv_space):"
cat "$out/logs/access.log"
check "nginx: three requests logged" [ "$(wc -l <"$out/logs/access.log")" = 3 ]
check "nginx: \$tcpinfo_rtt nonzero and below 100 ms (us) in every line" \
	awk '$1 <= 0 || $1 >= 100000 { exit 1 }' "$out/logs/access.log"
check "nginx: \$tcpinfo_snd_cwnd at least 10, \$tcpinfo_rcv_space at least 10 x 1448" \
	awk '$3 < 10 || $4 < 14480 { exit 1 }' "$out/logs/access.log"
check "nginx was served by xtcp" grep -q 'serving veth0 queue' "$out/nginx.err" "$out/logs/error.log"
# TCP Fast Open, server side: the kernel client (MSG_FASTOPEN) asks for a cookie on
# its first connection and sends data in the SYN of its second; the server has
# TCP_FASTOPEN on its listener and net.ipv4.tcp_fastopen = 3 (the server side on).
ip netns exec "$TB_SRV" sysctl -qw net.ipv4.tcp_fastopen=3
cat >"$out/tfo_srv.py" <<'EOP'
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(8)
print("listening", flush=True)
for _ in range(2):
    c, _ = l.accept()
    got = b""
    while True:
        b = c.recv(100)
        if not b:
            break
        got += b
    print("got", got.decode(), flush=True)
    c.close()
EOP
cat >"$out/tfo_cli.py" <<'EOP'
import socket, sys
for i in (1, 2):
    c = socket.socket()
    c.sendto(b"hello%d" % i, socket.MSG_FASTOPEN, (sys.argv[1], int(sys.argv[2])))
    c.shutdown(socket.SHUT_WR)
    c.recv(10)
    c.close()
EOP
tfo_active() {
	ip netns exec "$TB_CLI" nstat -az TcpExtTCPFastOpenActive | awk '/TCPFastOpenActive/ {print $2}'
}
tfo_run() { # tfo_run NAME PORT [env...]
	local name=$1 port=$2 a0 pid i
	shift 2
	a0=$(tfo_active)
	tb_srv env "$@" timeout 30 python3 "$out/tfo_srv.py" "$TB_SIP" "$port" >"$out/tfo-$name.txt" \
		2>"$out/tfo-$name.err" &
	pid=$!
	for i in $(seq 100); do
		grep -q listening "$out/tfo-$name.txt" 2>/dev/null && break
		sleep 0.1
	done
	tb_cli timeout 30 python3 "$out/tfo_cli.py" "$TB_SIP" "$port"
	wait "$pid"
	echo "$(($(tfo_active) - a0))" >"$out/tfo-$name.active"
}
tfo_run kernel 7316
tfo_run xtcp 7317 LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=7317 XTCP_LOG=info
for n in kernel xtcp; do
	check "Fast Open ($n server): both connections' data arrived" \
		bash -c "grep -q 'got hello1' $out/tfo-$n.txt && grep -q 'got hello2' $out/tfo-$n.txt"
	check "Fast Open ($n server): the second SYN's data was taken (client TCPFastOpenActive +1)" \
		[ "$(cat "$out/tfo-$n.active")" = 1 ]
done
check "Fast Open: the xtcp server was served by xtcp" grep -q 'serving veth0 queue' "$out/tfo-xtcp.err"
[ $fail = 0 ] && rm -rf "$out"
check_done
