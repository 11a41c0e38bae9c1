#!/usr/bin/env bash
# shim_pmtu6.sh BUILD_DIR - IPv6 path MTU discovery through a router (root;
# exits 77 without, 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#
# shim_pmtu.sh over IPv6: client - router - server (TB_MIDDLE=1), given
# fd77:1::/64 (server side) and fd77:2::/64 (client side) here, no DAD, routes
# via the router, which forwards. Its link to the client has MTU 1280 (the
# IPv6 minimum), the client's own interface 1500, so the client announces
# MSS 1440 and the server's full segments cannot pass: the router's kernel
# answers each with ICMPv6 "packet too big" (mtu 1280; IPv6 routers never
# fragment). Unmodified nginx under libxtcp.so serves a 50 MB file over
# IPv6; curl in the client namespace downloads it:
#   the download completes, sha256 checked
#   the router really sent "packet too big" (its Icmp6OutPktTooBigs)
#   xtcp took them (XDP icmp_steered, the stack's icmp_acted and pmtu_lowered)
set -u
build=$(cd "${1:?usage: shim_pmtu6.sh BUILD_DIR}" && pwd)
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
d=$(mktemp -d /tmp/xtcp-pmtu6.XXXXXX)
chmod 755 "$d"
cleanup() {
	[ -s "$d/nginx.pid" ] && kill -9 "$(cat "$d/nginx.pid")" 2>/dev/null
	tb_down
	rm -rf "$d"
}
TB_MIDDLE=1 tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
SIP6=fd77:1::1
CIP6=fd77:2::2
# IPv6 on the three namespaces: no DAD (addresses usable at once), forwarding in the router
for nd in "$TB_SRV:$TB_SIF" "$TB_CLI:$TB_CIF" "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
	ip netns exec "${nd%%:*}" sysctl -qw "net.ipv6.conf.${nd#*:}.accept_dad=0" ||
		fatal "accept_dad on ${nd#*:}"
done
ip netns exec "$TB_MID" sysctl -qw net.ipv6.conf.all.forwarding=1 || fatal "IPv6 forwarding"
ip -n "$TB_SRV" addr add "$SIP6/64" dev "$TB_SIF" nodad &&
	ip -n "$TB_CLI" addr add "$CIP6/64" dev "$TB_CIF" nodad &&
	ip -n "$TB_MID" addr add fd77:1::fe/64 dev "$TB_MIF_S" nodad &&
	ip -n "$TB_MID" addr add fd77:2::fe/64 dev "$TB_MIF_C" nodad &&
	ip -n "$TB_SRV" -6 route add fd77:2::/64 via fd77:1::fe &&
	ip -n "$TB_CLI" -6 route add fd77:1::/64 via fd77:2::fe || fatal "IPv6 addresses and routes"
ip -n "$TB_MID" link set "$TB_MIF_C" mtu 1280 || fatal "router MTU"
# whole frames through the router, each checked against the egress MTU
for dv in "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
	ip netns exec "${dv%%:*}" ethtool -K "${dv#*:}" tso off gso off gro off >/dev/null 2>&1
done
ok=0
for _ in $(seq 30); do
	tb_cli ping -6 -c1 -W1 -q "$SIP6" >/dev/null 2>&1 && ok=1 && break
	sleep 0.1
done
check "IPv6 path through the router" [ "$ok" = 1 ]
check "the router refuses 1500-byte IPv6 datagrams" \
	bash -c "! ip netns exec $TB_SRV ping -6 -c1 -W1 -q -M do -s 1452 $CIP6 >/dev/null 2>&1"
# the kernel's own route exception from that ping would hide nothing from xtcp
# (it keeps its own path MTUs), but start clean all the same
ip -n "$TB_SRV" -6 route flush cache 2>/dev/null

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
	server { listen [::]:80; root $d/www; }
}
EOC
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 \
	"$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err" || cat "$d/nginx.err"
worker=""
for _ in $(seq 100); do
	[ -s "$d/nginx.pid" ] && worker=$(pgrep -P "$(cat "$d/nginx.pid")" | head -1)
	[ -n "$worker" ] && break
	sleep 0.1
done
check "nginx master + worker up under xtcp, listen [::]:80" [ -n "$worker" ]
ptb() { ip netns exec "$TB_MID" nstat -az Icmp6OutPktTooBigs | awk '/Icmp6OutPktTooBigs/ {print $2}'; }
xdp_stat() { # xdp_stat NAME: the XDP program's counter, summed over CPUs
	tb_srv "$build/xtcpctl" --json status 2>/dev/null | grep -o "\"$1\":[0-9]*" | head -1 |
		cut -d: -f2
}
u0=$(ptb)
s0=$(xdp_stat icmp_steered)

want=$(sha256sum <"$d/www/f50M" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(tb_cli timeout 60 curl -6 -sf "http://[$SIP6]/f50M" | sha256sum | cut -d' ' -f1)
secs=$(echo "$(date +%s.%N) - $t0" | bc)
check "50 MB download over IPv6 across the MTU-1280 hop, sha256 (${secs}s)" [ "$want" = "$got" ]

u1=$(ptb)
check "the router sent 'packet too big' ($u0 -> $u1)" test "${u1:-0}" -gt "${u0:-0}"
sleep 0.3 # the statistics file is refreshed every 100 ms
st=/dev/shm/xtcp-$worker.stats
read -r acted lowered rejected < <("$field" "$st" stack_icmp_acted stack_pmtu_lowered \
	stack_icmp_rejected | tr '\n' ' ')
for v in acted lowered rejected; do # "absent": a library without the counters
	[[ ${!v} =~ ^[0-9]+$ ]] || printf -v "$v" '%s' -1
done
check "the stack acted on them (icmp_acted $acted, pmtu_lowered $lowered)" \
	test "$acted" -ge 1 -a "$lowered" -ge 1
check "none rejected ($rejected)" test "$rejected" = 0
s1=$(xdp_stat icmp_steered)
check "the XDP program steered them to xtcp (icmp_steered ${s0:-?} -> ${s1:-?})" \
	test "${s1:-0}" -gt "${s0:-0}"
r6=$(xdp_stat ipv6_redirected)
# the client's ACKs (GRO on its side makes one per burst)
check "the download was served by xtcp over IPv6 (ipv6_redirected ${r6:-?})" \
	test "${r6:-0}" -gt 100
check "nginx error log has no crit/alert/emerg" \
	sh -c "! grep -Eq '\[(crit|alert|emerg)\]' '$d/logs/error.log'"
kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
check_done
