#!/usr/bin/env bash
# protect_xtcp.sh - protection and xtcpctl with the real thing: unmodified
# nginx under LD_PRELOAD=libxtcp.so in the test bed, protection settings from
# XTCP_* variables, changed at run time with xtcpctl.
#
#   protect_xtcp.sh BUILD_DIR     (libxtcp.so, xtcpctl, tests/protect/prot_*)
#
# Checks: the settings from the environment reach the program; xtcpctl status
# shows the xtcp program, its counters and nginx with its sockets; a UDP
# flood is dropped by reason while ping, a kernel TCP port and the served port
# keep answering; served-port deny/allow at run time; SYN rate; the same for
# an IPv6 client (a flood from random addresses of one /64 is one source,
# ND keeps working, an IPv6 prefix in an XTCP_* variable and in xtcpctl);
# detach hands the port back to the kernel. Root only: exits 77 otherwise (1 with
# XTCP_TEST_NO_SKIP=1).
set -u
B=${1:?usage: protect_xtcp.sh BUILD_DIR}
# shellcheck source=../check.sh
. "$(dirname "$0")/../check.sh"
need_root "network namespaces, XDP"
B=$(readlink -f "$B")
for f in "$B/libxtcp.so" "$B/xtcpctl" "$B/tests/protect/prot_listen" "$B/tests/protect/prot_flood"; do
	[ -e "$f" ] || fatal "missing $f"
done
[ -x "$NGINX" ] || fatal "nginx missing (tests/deps.sh)"
. "$(dirname "$0")/../testbed.sh"

work=$(mktemp -d /tmp/xtcp-protect.XXXXXX)
finish() {
	local p
	for p in ${npid:-} ${lpid:-}; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	tb_down
	rm -rf "$work"
	check_done
}

tb_up 1 || { bad "test bed"; finish; }
ip -n "$TB_SRV" route add 10.77.3.0/24 via "$TB_CIP"
ip -n "$TB_SRV" -6 route add fd77:3::/32 via "$TB_CIP6"
MAC=$(ip -n "$TB_SRV" link show "$TB_SIF" | awk '/link\/ether/ {print $2}')
chmod 755 "$work"
mkdir -p "$work/www"
echo ok >"$work/www/index.html"
chmod 644 "$work/www/index.html"
cat >"$work/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $work/b;
	proxy_temp_path $work/p;
	fastcgi_temp_path $work/f;
	uwsgi_temp_path $work/u;
	scgi_temp_path $work/s;
	server { listen 80; listen [::]:80; root $work/www; location / { } }
}
EOF
ctl() { tb_srv "$B/xtcpctl" "$@"; }
counter() { ctl --json filter show | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
http() { tb_cli curl -s -m "${2:-2}" -o /dev/null -w '%{http_code}' "http://$TB_SIP:$1/" 2>/dev/null; }
http6() { tb_cli curl -s -m "${2:-2}" -o /dev/null -w '%{http_code}' "http://[$TB_SIP6]:$1/" 2>/dev/null; }
# during_flood 4|6: ping, the kernel TCP port and the served port answer over IPv4 or IPv6
during_flood() {
	local v=$1 ip=$TB_SIP get=http okk=0 oks=0 out loss
	[ "$v" = 6 ] && ip=$TB_SIP6 && get=http6
	out=$(tb_cli ping -"$v" -c 10 -i 0.2 -W 1 -q "$ip")
	loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
	check "ping -$v during the flood (loss ${loss:-?}%)" awk -v l="${loss:-100}" 'BEGIN {exit !(l <= 20)}'
	for _ in 1 2 3 4 5; do
		[ "$($get 2222)" = 200 ] && okk=$((okk + 1))
		[ "$($get 80)" = 200 ] && oks=$((oks + 1))
	done
	check "IPv$v: kernel TCP port during the flood ($okk/5)" [ $okk = 5 ]
	check "IPv$v: served port during the flood ($oks/5)" [ $oks = 5 ]
}

tb_srv env XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 \
	XTCP_PROTECT_GLOBAL_RATE=5000/5000 XTCP_PROTECT_PORTS=udp:53=allow \
	XTCP_PROTECT_ALLOW=fd77:1:0:99::/64 \
	LD_PRELOAD="$B/libxtcp.so" "$NGINX" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.out" 2>&1 &
npid=$!
tb_srv "$B/tests/protect/prot_listen" 120 2222 &
lpid=$!
up=0
for _ in $(seq 50); do
	[ "$(http 80 1)" = 200 ] && { up=1; break; }
	sleep 0.1
done
check "nginx under xtcp answers ($(tail -n 2 "$work/nginx.out" | tr '\n' ' '))" [ $up = 1 ]
[ $up = 1 ] || finish

# --- settings from the environment, status ------------------------------
js=$(ctl --json filter show)
check "XTCP_PROTECT_GLOBAL_RATE reached the program: $js" grep -q '"global_rate":"5000/5000"' <<<"$js"
check "XTCP_PROTECT_PORTS reached the program" grep -q '"ports":\["udp:53=allow"\]' <<<"$js"
check "an IPv6 XTCP_PROTECT_ALLOW reached the program" grep -q '"allow":\["fd77:1:0:99::/64"\]' <<<"$js"
check "nginx under xtcp answers over IPv6" [ "$(http6 80)" = 200 ]
for _ in 1 2 3; do http 80 >/dev/null; done
sleep 0.2
txt=$(ctl status)
check "status: the xtcp program in native mode: $txt" grep -q "XDP program [0-9]* \"xtcp_xdp\" (native)" <<<"$txt"
check "status: steering counters" grep -q "steering .*redirected [1-9]" <<<"$txt"
check "status: nginx listening on xtcp (IPv4 and IPv6)" grep -q "nginx: $TB_SIF queue 0, 2 listening" <<<"$txt"
check "status: nginx holds an AF_XDP socket" grep -Eq "[0-9]+ nginx +[0-9]+ socket" <<<"$txt"
check "status: AF_XDP ring figures of nginx" grep -Eq "AF_XDP: 1 socket \((copy mode|zero-copy)\), rx [1-9]" <<<"$txt"
js=$(ctl --json status)
check "status --json: xtcp program and processes" grep -q '"xtcp":true' <<<"$js"
check "status --json: accepted on xtcp" grep -Eq '"comm":"nginx".*"accepted_xtcp":[1-9]' <<<"$js"
# one connection held open by the client: conns shows it like ss -tn
tb_cli bash -c "exec 3<>/dev/tcp/$TB_SIP/80; sleep 4" &
hpid=$!
# The process refreshes its table at most every 100 ms while it polls.
for _ in $(seq 30); do
	sleep 0.1
	out=$(ctl conns)
	grep -q "^ESTAB" <<<"$out" && break
done
check "conns shows the open connection: $out" grep -Eq "^ESTAB +0 +0 +$TB_SIP:80 +$TB_CIP:[0-9]+ +[0-9]+ nginx .*rtt:" <<<"$out"
check "conns shows the listener" grep -Eq "^LISTEN .*:80 " <<<"$out"
js=$(ctl --json conns)
check "conns --json: $js" grep -q "\"state\":\"ESTAB\",\"local\":\"$TB_SIP:80\",\"peer\":\"$TB_CIP:" <<<"$js"
wait $hpid

# --- a UDP flood: dropped by the global budget; ping, kernel TCP and the served port work ---
d0=$(counter drop_global_rate)
c0=$(counter pass_checked)
tb_cli "$B/tests/protect/prot_flood" -i "$TB_CIF" -d "$TB_SIP" -m "$MAC" -s 10.77.3.0/24 \
	-c 3000000 -T 4 -r 300000 >"$work/flood.txt" &
fpid=$!
sleep 0.5
during_flood 4
wait $fpid
d=$(($(counter drop_global_rate) - d0))
sent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$work/flood.txt")
seen=$(($(counter pass_checked) - c0))
# Of what reached XDP, at most the budget passed: 5000/s for the flood's
# <= 4 s plus the 5000 burst (and ping's few packets).
in_budget() { [ "${sent:-0}" -gt 100000 ] && [ "$seen" -ge $((sent / 2)) ] &&
	[ "$d" -le "$seen" ] && [ "$d" -ge $((seen - 25100)) ]; }
check "the flood was dropped by the global budget (sent ${sent:-?}, at XDP $seen, dropped $d)" in_budget
dropped=$(ctl --json status | grep -o '"dropped":[0-9]*' | head -1 | cut -d: -f2)
check "steering 'dropped' verdicts count it too (${dropped:-0})" [ "${dropped:-0}" -ge "$d" ]

# --- an IPv6 UDP flood from random addresses of one /64: one source, limited ---
ctl filter set src-rate=20000/20000 global-rate=off || bad "src-rate"
d0=$(counter drop_src_rate)
c0=$(counter pass_checked)
t0=$(counter src_tracked)
tb_cli "$B/tests/protect/prot_flood" -i "$TB_CIF" -d "$TB_SIP6" -m "$MAC" -s fd77:3:0:1::/64 \
	-c 300000 -T 3 -r 100000 >"$work/flood6.txt" &
fpid=$!
sleep 0.5
tb_srv ip -6 neigh flush dev "$TB_SIF" # neighbour discovery must work during it
during_flood 6
wait $fpid
d=$(($(counter drop_src_rate) - d0))
seen=$(($(counter pass_checked) - c0))
tracked=$(($(counter src_tracked) - t0))
sent=$(sed -n 's/^sent=\([0-9]*\).*/\1/p' "$work/flood6.txt")
# at most 20000/s for the flood's <= 3 s plus the 20000 burst passed
in_budget6() { [ "${sent:-0}" -gt 100000 ] && [ "$seen" -ge $((sent / 2)) ] &&
	[ "$d" -le "$seen" ] && [ "$d" -ge $((seen - 80500)) ]; }
check "the IPv6 flood was dropped per source (sent ${sent:-?}, at XDP $seen, dropped $d)" in_budget6
check "its random addresses of one /64 shared one bucket (new buckets: $tracked)" [ "$tracked" -le 2 ]

# --- ND is never limited: a flood from the client's own /64 empties its bucket,
# ICMPv6 is in scope, and the kernel must still resolve the client ----------
ctl filter set scope=udp,icmp src-rate=100/100 || bad "scope"
n0=$(counter pass_nd_mld)
tb_cli "$B/tests/protect/prot_flood" -i "$TB_CIF" -d "$TB_SIP6" -m "$MAC" -s fd77:1::/64 \
	-c 150000 -T 3 -r 50000 >/dev/null &
fpid=$!
sleep 0.5
okk=0
for _ in 1 2 3; do
	tb_srv ip -6 neigh flush dev "$TB_SIF"
	[ "$(http6 2222)" = 200 ] && okk=$((okk + 1))
done
wait $fpid
n=$(($(counter pass_nd_mld) - n0))
check "kernel TCP over IPv6 while the client's /64 is over its limit ($okk/3; ND passed: $n)" \
	[ $okk = 3 ]
check "neighbour discovery passed the hook ($n)" [ "$n" -ge 3 ]
ctl filter set scope=udp,other src-rate=20000/40000 || bad "scope back"

# --- run-time changes on the served port -----------------------------------
ctl filter add served-deny "$TB_CIP/32" || bad "served-deny"
check "denied source refused at once" [ "$(http 80 1)" != 200 ]
check "denied source still reaches the kernel port" [ "$(http 2222)" = 200 ]
ctl filter del served "$TB_CIP/32" || bad "del served"
check "allowed again" [ "$(http 80)" = 200 ]
ctl filter add served-deny "$TB_CIP6" || bad "served-deny IPv6"
out=$(ctl filter show)
check "filter show names the IPv6 rule: $out" grep -q "deny $TB_CIP6/128" <<<"$out"
check "denied IPv6 source refused at once" [ "$(http6 80 1)" != 200 ]
check "the same client over IPv4 still served" [ "$(http 80)" = 200 ]
check "denied IPv6 source still reaches the kernel port" [ "$(http6 2222)" = 200 ]
ctl filter del served "$TB_CIP6/128" || bad "del served IPv6"
check "IPv6 allowed again" [ "$(http6 80)" = 200 ]
ctl filter set syn-rate=100/100 || bad "syn-rate"
s0=$(counter drop_syn_rate)
tb_cli "$B/tests/protect/prot_flood" -i "$TB_CIF" -d "$TB_SIP" -m "$MAC" -t syn -p 80 \
	-s 10.77.3.7/32 -c 5000 -T 4 >/dev/null
check "SYN flood from one source limited" [ "$(($(counter drop_syn_rate) - s0))" -ge 4000 ]
check "other clients still served" [ "$(http 80)" = 200 ]
s0=$(counter drop_syn_rate)
tb_cli "$B/tests/protect/prot_flood" -i "$TB_CIF" -d "$TB_SIP6" -m "$MAC" -t syn -p 80 \
	-s fd77:3:0:7::/64 -c 5000 -T 4 >/dev/null
s=$(($(counter drop_syn_rate) - s0))
check "IPv6 SYN flood from random addresses of one /64 limited ($s of 5000 dropped)" [ "$s" -ge 4000 ]
check "other IPv6 clients still served" [ "$(http6 80)" = 200 ]

# --- detach: the port returns to the kernel (nginx's kernel socket) -------
out=$(ctl detach "$TB_SIF" 2>&1)
check "detach: $out" grep -q "detached XDP program" <<<"$out"
check "after detach the kernel serves the port" [ "$(http 80)" = 200 ]
finish
