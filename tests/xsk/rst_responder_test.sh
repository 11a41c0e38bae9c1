#!/usr/bin/env bash
# rst_responder_test.sh RESPONDER - both directions of the AF_XDP path work
# without the TCP stack, in a 2-queue test bed.
#
# A kernel listener runs on the served port 8080 and on 8081 (not served).
# While xsk_rst_responder serves 8080 through AF_XDP, connect() to 8080 is
# refused at once (the RST it builds is accepted by the client's kernel),
# 8081 and ping still reach the kernel, and the XDP and AF_XDP counters
# match the SYNs sent. kill -9 returns 8080 to the kernel at once (its
# listener answers, or its RST when there is none); a restart replaces the
# stale program with no manual clean-up; a clean exit detaches it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
resp=${1:?usage: $0 RESPONDER}
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root "network namespaces, XDP"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up 2 || fatal "test bed failed"
tmp=$(mktemp -d)
log=$tmp/responder.log
trap 'rm -rf "$tmp"; tb_down' EXIT

# bg_srv NAME OUT CMD...: run CMD in the server namespace in the background,
# output to OUT; sets BG_PID to CMD's own pid (not a wrapper's: signals must
# reach it).
bg_srv() {
	local name=$1 out=$2
	shift 2
	rm -f "$tmp/$name.pid"
	tb_srv sh -c 'echo $$ >"$0"; exec "$@"' "$tmp/$name.pid" "$@" >"$out" 2>&1 </dev/null &
	for _ in $(seq 50); do
		[ -s "$tmp/$name.pid" ] && break
		sleep 0.05
	done
	BG_PID=$(cat "$tmp/$name.pid")
}

# probe PORT N: N connect()s from the client, 2 s timeout each.
# Prints "refused=R connected=C other=O maxms=M".
probe() {
	tb_cli timeout 60 python3 - "$TB_SIP" "$1" "$2" <<'PY'
import errno, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = {"refused": 0, "connected": 0, "other": 0}
maxms = 0.0
for _ in range(n):
    s = socket.socket()
    s.settimeout(2)
    t = time.monotonic()
    try:
        s.connect((host, port))
        res["connected"] += 1
    except ConnectionRefusedError:
        res["refused"] += 1
    except OSError:
        res["other"] += 1
    maxms = max(maxms, (time.monotonic() - t) * 1000)
    s.close()
print("refused=%d connected=%d other=%d maxms=%d" % (res["refused"], res["connected"], res["other"], maxms))
PY
}
field() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2" | tail -1; }

# listen PORT: a kernel echo server in the server namespace (pid in BG_PID).
listen() {
	bg_srv "listen$1" /dev/null python3 -c '
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(4096)
            if not d: return
            self.request.sendall(d)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()' "$1"
}
wait_connect() { # wait until PORT accepts
	for _ in $(seq 50); do
		[ "$(field connected "$(probe "$1" 1)")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
start_responder() { # [forkclose]
	bg_srv responder "$log" "$resp" "$TB_SIF" 8080 "$@"
	rpid=$BG_PID
	for _ in $(seq 50); do
		grep -q '^ready' "$log" && return 0
		kill -0 $rpid 2>/dev/null || break
		sleep 0.1
	done
	cat "$log"
	return 1
}
responder_stats() { # ask for a counters line and print it
	local n
	n=$(grep -c '^stats' "$log")
	kill -USR1 $rpid
	for _ in $(seq 30); do
		[ "$(grep -c '^stats' "$log")" -gt "$n" ] && break
		sleep 0.1
	done
	grep '^stats' "$log" | tail -1
}
xdp_attached() { ip -n "$TB_SRV" link show "$TB_SIF" | grep -q ' xdp'; }

listen 8080
lpid_served=$BG_PID
listen 8081
lpid_other=$BG_PID
wait_connect 8080 && ok "kernel listener on 8080" || bad "kernel listener on 8080"
wait_connect 8081 && ok "kernel listener on 8081" || bad "kernel listener on 8081"

# A kernel connection to 8080 made before xtcp serves it must survive it.
tb_cli timeout 60 python3 - "$TB_SIP" "$tmp/go" >"$tmp/long.out" 2>&1 <<'PY' &
import os, socket, sys, time
s = socket.create_connection((sys.argv[1], 8080), timeout=5)
s.sendall(b"before"); print("echo1", s.recv(100).decode(), flush=True)
while not os.path.exists(sys.argv[2]): time.sleep(0.05)
try:
    s.sendall(b"during"); print("echo2", s.recv(100).decode(), flush=True)
except OSError as e:
    print("error", e, flush=True)
PY
long_pid=$!
for _ in $(seq 50); do grep -q echo1 "$tmp/long.out" && break; sleep 0.1; done
expect "kernel connection before serving" "$(grep echo1 "$tmp/long.out")" "echo1 before"

# 1. Served through AF_XDP: every SYN gets the responder's RST at once.
start_responder && ok "responder ready: $(grep '^ready' "$log")" || fatal "responder start"
grep -q "attached alone" "$log" && ok "single-program fallback logged" ||
	bad "no fallback line in: $(cat "$log")"
r=$(probe 8080 20)
expect "8080 refused (of 20)" "$(field refused "$r")" 20
[ "$(field maxms "$r")" -lt 500 ] && ok "refused fast (max $(field maxms "$r") ms)" ||
	bad "slow refusal: $r"
r=$(probe 8081 5)
expect "unserved 8081 reaches the kernel (of 5)" "$(field connected "$r")" 5
touch "$tmp/go"
wait $long_pid
expect "the kernel's older connection on 8080 still works" "$(grep -E 'echo2|error' "$tmp/long.out")" \
	"echo2 during"
tb_cli ping -c3 -i0.2 -W1 -q "$TB_SIP" >/dev/null && ok "ping" || bad "ping"
s=$(responder_stats)
echo "  $s"
expect "responder rx" "$(field rx "$s")" 20
expect "RSTs sent" "$(field rst "$s")" 20
expect "AF_XDP rx" "$(field port_rx "$s")" 20
expect "AF_XDP tx" "$(field tx "$s")" 20
expect "bad checksums" "$(field bad "$s")" 0
expect "ring errors" "$(field errors "$s")" 0
expect "XDP redirected" "$(field redirected "$s")" 20
expect "XDP no_socket" "$(field no_socket "$s")" 0
q0=$(sed -n 's/^queue 0 rx=\([0-9]*\).*/\1/p' "$log" | tail -1)
q1=$(sed -n 's/^queue 1 rx=\([0-9]*\).*/\1/p' "$log" | tail -1)
expect "per-queue rx adds up" "$((q0 + q1))" 20

# 1b. A burst of raw SYNs, more than twice the rings (2048): frames recycle,
# batches of up to 64 go both ways, nothing is lost or left behind.
burst=6000
tb_cli timeout 60 python3 - "$TB_CIP" "$TB_SIP" 8080 $burst <<'PY'
import socket, struct, sys, time
src, dst, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, 20)
for i in range(n):
    hdr = struct.pack("!HHIIBBHHH", 20000 + i % 40000, port, i * 7919, 0, 5 << 4, 0x02, 64240, 0, 0)
    c = csum(pseudo + hdr)
    s.sendto(hdr[:16] + struct.pack("!H", c) + hdr[18:], (dst, 0))
    if i % 500 == 499: time.sleep(0.1)
PY
sleep 0.5
s=$(responder_stats)
echo "  $s"
total=$((20 + burst))
expect "burst: XDP redirected" "$(field redirected "$s")" $total
expect "burst: AF_XDP rx" "$(field port_rx "$s")" $total
expect "burst: RSTs sent" "$(field rst "$s")" $total
expect "burst: AF_XDP tx" "$(field tx "$s")" $total
expect "burst: ring errors" "$(field errors "$s")" 0
expect "burst: bad checksums" "$(field bad "$s")" 0

# Drain (a process that stopped listening): new flows go to the kernel's
# listener, until drain is turned off again.
drain_toggle() { # WANT: on | off
	kill -USR2 $rpid
	for _ in $(seq 30); do
		[ "$(grep '^drain' "$log" | tail -1)" = "drain $1" ] && return 0
		sleep 0.1
	done
	return 1
}
drain_toggle on && ok "drain on" || bad "drain on"
r=$(probe 8080 5)
expect "draining: the kernel listener takes new flows (of 5)" "$(field connected "$r")" 5
drain_toggle off && ok "drain off" || bad "drain off"
r=$(probe 8080 5)
expect "not draining: refused by the responder again (of 5)" "$(field refused "$r")" 5
s=$(responder_stats)
# The drained flows belong to the kernel; a late segment of one's teardown
# may still reach the responder (a CI run saw one), their 5 SYNs must not.
n=$(field rx "$s")
check "drain: responder saw the undrained SYNs, not the drained ones ($n, want $((total + 5))-$((total + 7)))" \
	[ "$n" -ge $((total + 5)) -a "$n" -le $((total + 7)) ]

# Idle: asleep in poll() (need_wakeup), not spinning.
cpu_ticks() { awk '{print $14 + $15}' /proc/$rpid/stat; }
t0=$(cpu_ticks)
sleep 1
t1=$(cpu_ticks)
[ $((t1 - t0)) -le 5 ] && ok "idle responder used $((t1 - t0)) ticks in 1 s" ||
	bad "idle responder busy: $((t1 - t0)) ticks in 1 s"

# 2. kill -9: the port is the kernel's again at once (no black hole).
kill -9 $rpid
for _ in $(seq 50); do kill -0 $rpid 2>/dev/null || break; sleep 0.05; done
xdp_attached && ok "program left attached by the killed process" || bad "no program after kill"
r=$(probe 8080 5)
expect "after kill -9, kernel listener accepts (of 5)" "$(field connected "$r")" 5
kill $lpid_served
for _ in $(seq 50); do kill -0 $lpid_served 2>/dev/null || break; sleep 0.05; done
r=$(probe 8080 5)
expect "no listener: kernel RST refuses (of 5)" "$(field refused "$r")" 5
[ "$(field maxms "$r")" -lt 500 ] && ok "kernel refused fast" || bad "slow: $r"

# 3. Restart without clean-up: the stale program is replaced. This time a
# forked child closes its copies of the ports and exits before serving: the
# parent's sockets must stay in the XSKMAP and keep working.
start_responder forkclose && ok "restarted" || fatal "restart"
grep -q "replaced a stale" "$log" && ok "stale program replaced" || bad "no replace line: $(cat "$log")"
grep -q "forked child closed" "$log" && ok "forked child closed its views" || bad "no fork"
r=$(probe 8080 10)
expect "after restart, refused by the responder (of 10)" "$(field refused "$r")" 10
s=$(responder_stats)
echo "  $s"
expect "fresh counters: redirected" "$(field redirected "$s")" 10
expect "fresh counters: RSTs" "$(field rst "$s")" 10

# 4. Clean exit detaches the program; the kernel has everything again.
kill -TERM $rpid
for _ in $(seq 50); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rpid 2>/dev/null && bad "responder still running after SIGTERM" || ok "responder exited"
grep -q '^stats' "$log" && ok "final counters printed" || bad "no final counters"
xdp_attached && bad "program still attached after clean exit" || ok "program detached"
r=$(probe 8081 3)
expect "8081 after exit (of 3)" "$(field connected "$r")" 3
check "ping after exit" tb_cli ping -c1 -W1 -q "$TB_SIP" >/dev/null
kill $lpid_other 2>/dev/null
check_done
