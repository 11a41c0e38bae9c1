#!/usr/bin/env bash
# shim_pmtu.sh BUILD_DIR [inet|inet6] - path MTU discovery through a router
# (root; exits 77 without, 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N
# failed".
#
# Three namespaces: client - router - server (TB_MIDDLE=1; inet6: fd77:1::/64
# and fd77:2::/64, no DAD, routes via the router, which forwards). The
# router's link to the client has MTU 1000 (inet6: 1280, the IPv6 minimum),
# the client's own interface 1500, so the client announces MSS 1460 (1440)
# and the server's full segments (DF set; IPv6 routers never fragment) cannot
# pass: the router's kernel answers each with ICMP "fragmentation needed"
# (ICMPv6 "packet too big"), as any router does. Unmodified nginx under
# libxtcp.so serves a 50 MB file; curl in the client namespace downloads it:
#   the download completes, sha256 checked
#   the router really sent its ICMP errors (IcmpOutDestUnreachs,
#   Icmp6OutPktTooBigs)
#   xtcp took them (XDP icmp_steered, the stack's icmp_acted and pmtu_lowered)
#   inet6: the download was served by xtcp over IPv6 (XDP ipv6_redirected)
# inet then makes an ICMP black hole: the router's "fragmentation needed"
# dropped on its way (policy routing), nginx restarted with
# XTCP_MTU_PROBING=1 (RFC 4821): a 10 MB download completes, sha256 checked,
# with no ICMP reaching the stack.
set -u
build=$(cd "${1:?usage: shim_pmtu.sh BUILD_DIR [inet|inet6]}" && pwd)
family=${2:-inet}
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
field=$build/tests/shim/shim_stats_field
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$lib" "$field"
need_tools curl

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
# shellcheck source=../nginx.sh
. "$here/../nginx.sh"
ngx_dir "pmtu-$family"
TB_MIDDLE=1 tb_up 1 || fatal "test bed failed"
trap ngx_cleanup EXIT # tb_up set its own (tb_down only)
if [ "$family" = inet6 ]; then
	tb_mid_ipv6 || fatal "IPv6 addresses and routes"
	mtu=1280 big=1452 ping=(ping -6) sip=$TB_SIP6 cip=$TB_CIP6 url="http://[$TB_SIP6]"
	listen="listen [::]:80;" curl=(curl -6) icmp_out=Icmp6OutPktTooBigs
	what="'packet too big'"
else
	mtu=1000 big=1472 ping=(ping) sip=$TB_SIP cip=$TB_CIP url="http://$TB_SIP"
	listen="listen 80;" curl=(curl) icmp_out=IcmpOutDestUnreachs
	what="'fragmentation needed'"
fi
tb_mid_mtu $mtu || fatal "router MTU"
check "$family path through the router" tb_ping "$sip"
# big: the ICMP payload of a 1500-byte datagram (IPv4 header 20 or IPv6 40, ICMP 8)
check "the router refuses 1500-byte $family datagrams with DF" \
	bash -c "! ip netns exec $TB_SRV ${ping[*]} -c1 -W1 -q -M do -s $big $cip >/dev/null 2>&1"
# the kernel's own route exception from that ping would hide nothing from xtcp
# (it keeps its own path MTUs), but start clean all the same
ip -n "$TB_SRV" -6 route flush cache 2>/dev/null

mkdir -p "$d/www" "$d/logs"
head -c 50000000 /dev/urandom >"$d/www/f50M"
chmod -R a+rX "$d/www"
ngx_conf 1 1024 - "$listen"
ngx_start "$lib" 1
worker=${ngx_workers%% *}
check "nginx master + worker up under xtcp, $listen" [ -n "$worker" ]
icmp_sent() { ip netns exec "$TB_MID" nstat -az $icmp_out | awk -v c=$icmp_out '$1 == c {print $2}'; }
xdp_stat() { # xdp_stat NAME: the XDP program's counter, summed over CPUs
	tb_srv "$build/xtcpctl" --json status 2>/dev/null | grep -o "\"$1\":[0-9]*" | head -1 |
		cut -d: -f2
}
u0=$(icmp_sent)
s0=$(xdp_stat icmp_steered)

want=$(sha256sum <"$d/www/f50M" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(tb_cli timeout 60 "${curl[@]}" -sf "$url/f50M" | sha256sum | cut -d' ' -f1)
secs=$(echo "$(date +%s.%N) - $t0" | bc)
check "50 MB download over $family across the MTU-$mtu hop, sha256 (${secs}s)" [ "$want" = "$got" ]

u1=$(icmp_sent)
check "the router sent $what ($u0 -> $u1)" test "${u1:-0}" -gt "${u0:-0}"
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
check "xtcpctl status shows the stack's ICMP line" \
	sh -c "ip netns exec $TB_SRV '$build/xtcpctl' status | grep -q 'ICMP errors: received'"
if [ "$family" = inet6 ]; then
	r6=$(xdp_stat ipv6_redirected)
	# the client's ACKs (GRO on its side makes one per burst)
	check "the download was served by xtcp over IPv6 (ipv6_redirected ${r6:-?})" \
		test "${r6:-0}" -gt 100
fi
check "nginx error log has no crit/alert/emerg" \
	sh -c "! grep -Eq '\[(crit|alert|emerg)\]' '$d/logs/error.log'"
if [ "$family" = inet6 ]; then
	kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
	check_done
fi

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
ngx_start "$lib" 1 XTCP_MTU_PROBING=1
worker=${ngx_workers%% *}
check "nginx master + worker up under xtcp XTCP_MTU_PROBING=1" [ -n "$worker" ]
want=$(sha256sum <"$d/www/f10M" | cut -d' ' -f1)
t0=$(date +%s.%N)
got=$(tb_cli timeout 60 curl -sf "$url/f10M" | sha256sum | cut -d' ' -f1)
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
