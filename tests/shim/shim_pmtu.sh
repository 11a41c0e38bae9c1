#!/usr/bin/env bash
# shim_pmtu.sh BUILD_DIR - path MTU discovery through a router (root; exits
# 77 without, 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#
# Three namespaces: client - router - server (TB_MIDDLE=1). The router's link
# to the client has MTU 1000, the client's own interface 1500, so the client
# announces MSS 1460 and the server's full segments (DF set) cannot pass: the
# router's kernel answers each with ICMP "fragmentation needed" (mtu 1000),
# as any router does. Unmodified nginx under libxtcp.so serves a 50 MB file;
# curl in the client namespace downloads it:
#   the download completes, sha256 checked
#   the router really sent "fragmentation needed" (its IcmpOutDestUnreachs)
#   xtcp took them (XDP icmp_steered, the stack's icmp_acted and pmtu_lowered)
# Then an ICMP black hole: the router's "fragmentation needed" dropped on its
# way (policy routing), nginx restarted with XTCP_MTU_PROBING=1 (RFC 4821): a 10 MB
# download completes, sha256 checked, with no ICMP reaching the stack.
set -u
build=$(cd "${1:?usage: shim_pmtu.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
field=$build/tests/shim/shim_stats_field
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -f "$lib" ] || fatal "$lib not built"
[ -x "$field" ] || fatal "$field not built"
command -v curl >/dev/null || fatal "curl missing (tests/deps.sh)"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
d=$(mktemp -d /tmp/xtcp-pmtu.XXXXXX)
chmod 755 "$d"
cleanup() {
	[ -s "$d/nginx.pid" ] && kill -9 "$(cat "$d/nginx.pid")" 2>/dev/null
	tb_down
	rm -rf "$d"
}
TB_MIDDLE=1 tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
ip -n "$TB_MID" link set "$TB_MIF_C" mtu 1000 || fatal "router MTU"
# whole frames through the router, each checked against the egress MTU
for dv in "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
	ip netns exec "${dv%%:*}" ethtool -K "${dv#*:}" tso off gso off gro off >/dev/null 2>&1
done
check "path through the router" \
	bash -c "ip netns exec $TB_CLI ping -c1 -W2 -q $TB_SIP >/dev/null"
check "the router refuses 1500-byte datagrams with DF" \
	bash -c "! ip netns exec $TB_SRV ping -c1 -W1 -q -M do -s 1472 $TB_CIP >/dev/null 2>&1"

mkdir -p "$d/www" "$d/logs"
head -c 50000000 /dev/urandom >"$d/www/f50M"
chmod -R a+rX "$d/www"
cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { use epoll; worker_connections 1024; }
http {
	access_log off;
	sendfile on; tcp_nopush on; tcp_nodelay on;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen 80; root $d/www; }
}
EOC
start_nginx() { # [VAR=VALUE...]: sets $worker
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 "$@" \
		"$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err" || cat "$d/nginx.err"
	worker=""
	for _ in $(seq 100); do
		[ -s "$d/nginx.pid" ] && worker=$(pgrep -P "$(cat "$d/nginx.pid")" | head -1)
		[ -n "$worker" ] && break
		sleep 0.1
	done
	check "nginx master + worker up under xtcp $*" [ -n "$worker" ]
}
start_nginx
unreach() { ip netns exec "$TB_MID" nstat -az IcmpOutDestUnreachs | awk '/IcmpOutDestUnreachs/ {print $2}'; }
u0=$(unreach)

want=$(sha256sum <"$d/www/f50M" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(tb_cli timeout 60 curl -sf "http://$TB_SIP/f50M" | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc)
check "50 MB download across the MTU-1000 hop, sha256 (${secs}s)" [ "$want" = "$got" ]

u1=$(unreach)
check "the router sent 'fragmentation needed' ($u0 -> $u1)" test "$u1" -gt "$u0"
sleep 0.3 # the statistics file is refreshed every 100 ms
st=/dev/shm/xtcp-$worker.stats
read -r acted lowered rejected < <("$field" "$st" stack_icmp_acted stack_pmtu_lowered \
	stack_icmp_rejected | tr '\n' ' ')
for v in acted lowered rejected; do # "absent": a library without the counters
	[[ ${!v} =~ ^[0-9]+$ ]] || printf -v "$v" '%s' -1
done
check "the stack acted on them (icmp_acted ${acted:-?}, pmtu_lowered ${lowered:-?})" \
	test "$acted" -ge 1 -a "$lowered" -ge 1
check "none rejected ($rejected)" test "$rejected" = 0
steered=$(tb_srv "$build/xtcpctl" status 2>/dev/null | grep -o 'icmp_steered *[0-9]*' | grep -o '[0-9]*$')
check "the XDP program steered them to xtcp (icmp_steered ${steered:-?})" test "${steered:-0}" -ge 1
check "xtcpctl status shows the stack's ICMP line" \
	sh -c "ip netns exec $TB_SRV '$build/xtcpctl' status | grep -q 'ICMP errors: received'"
check "nginx error log has no crit/alert/emerg" \
	sh -c "! grep -Eq '\[(crit|alert|emerg)\]' '$d/logs/error.log'"

# --- the same path, its ICMP dropped: only RFC 4821 probing gets through ---
master=$(cat "$d/nginx.pid")
kill -QUIT "$master" 2>/dev/null
for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
rm -f "$d/nginx.pid"
# the router's own ICMP (its "fragmentation needed") is routed into a black
# hole; forwarded traffic is not (this kernel has no tc drop action)
ip -n "$TB_MID" route add blackhole "$TB_NET" table 100 &&
	ip -n "$TB_MID" rule add iif lo ipproto icmp lookup 100 pref 10 ||
	fatal "ICMP black hole in the router"
head -c 10000000 /dev/urandom >"$d/www/f10M"
chmod a+r "$d/www/f10M"
start_nginx XTCP_MTU_PROBING=1
want=$(sha256sum <"$d/www/f10M" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(tb_cli timeout 60 curl -sf "http://$TB_SIP/f10M" | sha256sum | cut -d' ' -f1)
secs=$(echo "$(date +%s.%N) - $t0" | bc)
check "10 MB download through the ICMP black hole with XTCP_MTU_PROBING=1 (${secs}s)" \
	[ "$want" = "$got" ]
sleep 0.3
read -r icmp bh probes < <("$field" "/dev/shm/xtcp-$worker.stats" stack_icmp_errors \
	stack_mtu_blackholes stack_mtu_probes | tr '\n' ' ')
check "no ICMP reached the stack this time ($icmp)" [ "$icmp" = 0 ]
check "the stack suspected a black hole ($bh) and probed ($probes probes)" \
	test "$bh" -ge 1
kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
check_done
