#!/usr/bin/env bash
# protect_testbed.sh - the XDP flood protection on real traffic in the test
# bed (tests/testbed.sh), driven and read with xtcpctl at run time.
#
#   protect_testbed.sh XTCPCTL BINDIR
#     XTCPCTL  build/xtcpctl
#     BINDIR   holds prot_load, prot_listen, prot_flood, prot_harness.bpf.o
#
# The program under test carries bpf/xtcp_protect.h: the protection test
# harness (prot_harness.bpf.c, served port 80 passed to a kernel listener,
# as the steering program does when no AF_XDP socket is bound). For each
# rule: a bounded flood from the client namespace, then the rule's counter
# (xtcpctl --json filter show), the traffic the server's kernel actually
# received (/proc/net/snmp Udp, TCP connections) and xtcpctl's output are
# checked. Also: run-time changes take effect at once, ping and a TCP port
# that is not served keep working during a flood, clear xtcpctl errors,
# and detach. Root only: exits 77 otherwise (1 with XTCP_TEST_NO_SKIP=1).
set -u
XTCPCTL=${1:?usage: protect_testbed.sh XTCPCTL BINDIR}
BIN=${2:?usage: protect_testbed.sh XTCPCTL BINDIR}
# shellcheck source=../check.sh
. "$(dirname "$0")/../check.sh"
need_root "network namespaces, XDP"
XTCPCTL=$(readlink -f "$XTCPCTL")
BIN=$(readlink -f "$BIN")
for f in "$XTCPCTL" "$BIN/prot_load" "$BIN/prot_listen" "$BIN/prot_flood" "$BIN/prot_harness.bpf.o"; do
	[ -e "$f" ] || fatal "missing $f"
done
. "$(dirname "$0")/../testbed.sh"

finish() {
	if [ -n "${lpid:-}" ]; then
		kill "$lpid" 2>/dev/null
		wait "$lpid" 2>/dev/null
	fi
	check_done
}

tb_up 1 || { bad "test bed"; finish; }
MAC=$(ip -n "$TB_SRV" link show "$TB_SIF" | awk '/link\/ether/ {print $2}')
# Spoofed flood sources come from 10.77.3.0/24, routed via the client as a
# real flood's sources are routable (in-subnet fakes would only make the
# server ARP for hosts that do not exist).
ip -n "$TB_SRV" route add 10.77.3.0/24 via "$TB_CIP"
ctl() { tb_srv "$XTCPCTL" "$@"; }
# counter NAME: from xtcpctl's JSON (the same numbers a person reads)
counter() { ctl --json filter show | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
# kernel UDP datagrams received in the server namespace (delivered + no port)
kudp() { tb_srv cat /proc/net/snmp | awk '/^Udp: [0-9]/ {print $2 + $3; exit}'; }
# 200 kpps: far over every limit below, under what the veth ring and the
# kernel absorb, so that "sent = dropped + received" holds exactly.
flood() { tb_cli "$BIN/prot_flood" -i "$TB_CIF" -d "$TB_SIP" -m "$MAC" -T 10 -r 200000 "$@" | sed -n 's/^sent=\([0-9]*\).*/\1/p'; }
http() { tb_cli curl -s -m "${2:-2}" -o /dev/null -w '%{http_code}' "http://$TB_SIP:$1/" 2>/dev/null; }
near() { # A B PCT: |A - B| <= PCT% of B (+2)
	awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d <= b * p / 100 + 2)}'
}

# --- no program yet: clear errors ---------------------------------------
out=$(ctl filter show 2>&1)
check "filter without a program says so: $out" grep -q "no XDP program attached\|no interface has an xtcp" <<<"$out"
out=$(ctl status nosuchif0 2>&1)
check "status of an unknown interface: $out" grep -q "no such interface: nosuchif0" <<<"$out"

tb_srv "$BIN/prot_load" "$BIN/prot_harness.bpf.o" "$TB_SIF" 80 || { bad "attach"; finish; }
tb_srv "$BIN/prot_listen" 120 80 2222 &
lpid=$!
sleep 0.3
check "served port answers" [ "$(http 80)" = 200 ]
check "kernel port answers" [ "$(http 2222)" = 200 ]

# --- defaults and xtcpctl output -----------------------------------------
ctl filter reset || bad "filter reset"
js=$(ctl --json filter show)
check "defaults in JSON: $js" grep -q '"src_rate":"20000/40000","global_rate":"off","syn_rate":"off","scope":"udp,other","served_default":"allow","src6_prefix":64' <<<"$js"
txt=$(ctl status "$TB_SIF")
check "status names the program and mode: $txt" grep -q "XDP program [0-9]* \"prot_harness\" (native)" <<<"$txt"
check "status shows the protection settings" grep -q "src 20000/40000, global off (udp,other); syn off" <<<"$txt"
out=$(ctl filter set src-rate=fast 2>&1)
check "bad setting refused with the accepted form: $out" grep -q 'bad setting "src-rate=fast": expected' <<<"$out"

# --- per-source rate -------------------------------------------------------
ctl filter set src-rate=1000/1000 || bad "set src-rate"
d0=$(counter drop_src_rate)
k0=$(kudp)
sent=$(flood -c 20000)
d=$(($(counter drop_src_rate) - d0))
k=$(($(kudp) - k0))
check "src-rate drops most of 20000 from one source (dropped $d)" [ "$d" -ge 15000 ]
check "kernel got the rest: sent $sent = dropped $d + kernel $k" near $((d + k)) "$sent" 1
check "kernel got at most the bucket's worth ($k)" [ "$k" -le 4000 ]
check "JSON shows the new rate" grep -q '"src_rate":"1000/1000"' <<<"$(ctl --json filter show)"

# run-time change: off takes effect at once
ctl filter set src-rate=off || bad "set off"
d0=$(counter drop_src_rate)
k0=$(kudp)
sent=$(flood -c 20000)
check "src-rate off: nothing dropped" [ "$(($(counter drop_src_rate) - d0))" = 0 ]
check "src-rate off: kernel got all $sent" near $(($(kudp) - k0)) "$sent" 1

# --- port rules ----------------------------------------------------------
ctl filter add port udp:9=drop || bad "add drop"
d0=$(counter drop_port_rule)
k0=$(kudp)
sent=$(flood -c 5000 -p 9)
check "udp:9=drop drops all $sent" [ "$(($(counter drop_port_rule) - d0))" = "$sent" ]
check "udp:9=drop: kernel got none" [ "$(($(kudp) - k0))" -le 2 ]
k0=$(kudp)
sent=$(flood -c 5000 -p 10)
check "other port not dropped" near $(($(kudp) - k0)) "$sent" 1
ctl filter set src-rate=10/10 || bad "set src-rate=10"
ctl filter add port udp:9=allow || bad "add allow"
check "filter show lists udp:9=allow" grep -q "udp:9=allow" <<<"$(ctl filter show)"
d0=$(counter pass_port_allow)
sent=$(flood -c 5000 -p 9)
check "udp:9=allow: never limited ($sent)" [ "$(($(counter pass_port_allow) - d0))" = "$sent" ]
ctl filter add port udp:9=rate:1000/1000 || bad "add rate"
ctl filter set src-rate=off || bad "src off"
d0=$(counter drop_port_rate)
flood -s 10.77.3.0/24 -c 20000 -p 9 >/dev/null
check "udp:9=rate drops over the port's budget" [ "$(($(counter drop_port_rate) - d0))" -ge 15000 ]
ctl filter del port udp:9 || bad "del port"
check "port rule removed" grep -q '"ports":\[\]' <<<"$(ctl --json filter show)"
out=$(ctl filter del port udp:9 2>&1)
check "deleting a missing rule says so: $out" grep -q "no rule for port udp:9" <<<"$out"

# --- allow-list ----------------------------------------------------------
ctl filter set src-rate=10/10 || bad "set"
ctl filter add allow "$TB_CIP/32" || bad "add allow-list"
d0=$(counter pass_allowlist)
s0=$(counter drop_src_rate)
sent=$(flood -c 5000)
check "allow-listed source never limited" [ "$(($(counter pass_allowlist) - d0))" = "$sent" ]
check "allow-listed: no src drops" [ "$(($(counter drop_src_rate) - s0))" = 0 ]
ctl filter del allow "$TB_CIP/32" || bad "del allow-list"

# --- global budget (spoofed sources: per-source buckets cannot help) -----
ctl filter set src-rate=off global-rate=2000/2000 || bad "set global"
d0=$(counter drop_global_rate)
k0=$(kudp)
sent=$(flood -s 10.77.3.0/24 -c 30000)
d=$(($(counter drop_global_rate) - d0))
k=$(($(kudp) - k0))
check "global budget drops a spoofed flood (dropped $d of $sent)" [ "$d" -ge 20000 ]
check "global: sent $sent = dropped $d + kernel $k" near $((d + k)) "$sent" 1

# --- ping and a TCP port that is not served keep working during a flood ---
ctl filter reset || bad "reset"
ctl filter set global-rate=20000/20000 || bad "set global for the flood"
tb_cli "$BIN/prot_flood" -i "$TB_CIF" -d "$TB_SIP" -m "$MAC" -s 10.77.3.0/24 -c 5000000 -T 4 -r 300000 >/dev/null &
fpid=$!
sleep 0.5
out=$(tb_cli ping -c 10 -i 0.2 -W 1 -q "$TB_SIP")
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
check "ping during a flood (loss ${loss:-?}%)" awk -v l="${loss:-100}" 'BEGIN {exit !(l <= 20)}'
okc=0
for _ in 1 2 3 4 5; do [ "$(http 2222)" = 200 ] && okc=$((okc + 1)); done
check "TCP port not served during a flood ($okc/5)" [ $okc = 5 ]
check "served port during a flood" [ "$(http 80)" = 200 ]
check "the flood was being dropped" [ "$(counter drop_global_rate)" -gt 0 ]
wait $fpid

# --- SYN rate on the served port ----------------------------------------
ctl filter set syn-rate=200/200 global-rate=off || bad "set syn"
d0=$(counter drop_syn_rate)
flood -t syn -p 80 -s 10.77.1.200/32 -c 10000 >/dev/null
d=$(($(counter drop_syn_rate) - d0))
check "SYN flood from one source limited (dropped $d)" [ "$d" -ge 9000 ]
check "another source still connects" [ "$(http 80)" = 200 ]
check "JSON shows syn rate" grep -q '"syn_rate":"200/200"' <<<"$(ctl --json filter show)"

# --- served-port source list ---------------------------------------------
ctl filter add served-deny "$TB_CIP/32" || bad "served-deny"
d0=$(counter drop_served_acl)
check "denied source cannot reach the served port" [ "$(http 80 1)" != 200 ]
check "denied source still reaches the kernel's port" [ "$(http 2222)" = 200 ]
check "denial counted" [ "$(($(counter drop_served_acl) - d0))" -ge 1 ]
ctl filter del served "$TB_CIP/32" || bad "del served"
check "removed: served port answers again" [ "$(http 80)" = 200 ]
ctl filter set served-default=deny || bad "default deny"
check "default deny: refused" [ "$(http 80 1)" != 200 ]
ctl filter add served-allow 10.77.1.0/24 || bad "served-allow"
check "allow-listed prefix served" [ "$(http 80)" = 200 ]
check "filter show lists the served list" grep -q "default deny, allow 10.77.1.0/24" <<<"$(ctl filter show)"
ctl filter reset || bad "reset"

# --- detach ----------------------------------------------------------------
out=$(ctl detach "$TB_SIF" 2>&1)
check "detach: $out" grep -q "detached XDP program" <<<"$out"
check "no XDP program left" bash -c "! ip -n $TB_SRV link show $TB_SIF | grep -q prog/xdp"
out=$(ctl detach "$TB_SIF" 2>&1)
check "detach again: clear error: $out" grep -q "no XDP program attached" <<<"$out"
finish
