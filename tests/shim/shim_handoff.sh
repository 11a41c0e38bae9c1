#!/usr/bin/env bash
# shim_handoff.sh BUILD_DIR - misdirected segments reach their owner
# (docs/design-notes.md, "Hand-off"): on a 2-queue veth, two processes under libxtcp.so
# (shim_handoff_cli) each serve a port, so each takes one RX queue and picks
# local ports p with p % 2 == its queue, and each downloads a file 150 times
# from a kernel nginx in the client namespace over new xtcp connections
# (XTCP_CONNECT_PORTS). The client kernel picks the queue of the replies (its
# TX queue hash), so about half of them land on the other process's queue;
# that process hands them over (preload/shim_handoff.c).
# Root; exits 77 without, 1 with XTCP_TEST_NO_SKIP=1. Prints "N passed, N failed".
#   every download complete with the right bytes, in both processes
#   the processes handed frames to each other (handoff_sent/received > 0)
#   no segment was answered with a RST for want of a socket (drop:tcp_no_socket = 0)
#   the same with a process that forks after its engine started (the child
#   builds its own engine and endpoint on the other queue)
#   unmodified nginx (master + 2 www-data workers, one queue each) proxying to
#   the same upstream over xtcp: sha256 of 0 B..1 MB, ab -n 200 -c 10 none
#   failed, frames handed between the workers, no RST
# XTCP_TEST_LIB=path runs another libxtcp.so (e.g. one without hand-off: fails).
set -u
build=$(cd "${1:?usage: shim_handoff.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=${XTCP_TEST_LIB:-$build/libxtcp.so}
field=$build/tests/shim/shim_stats_field
cli=$build/tests/shim/shim_handoff_cli
n=${HANDOFF_COUNT:-150}
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -f "$lib" ] || fatal "$lib not built"
[ -x "$field" ] && [ -x "$cli" ] || fatal "test programs not built"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
d=$(mktemp -d /tmp/xtcp-handoff.XXXXXX)
chmod 755 "$d"
cleanup() {
	[ -s "$d/up.pid" ] && kill -9 "$(cat "$d/up.pid")" 2>/dev/null
	tb_down # also kills the test processes left in the namespaces
	rm -rf "$d"
}

tb_up 2 || { rm -rf "$d"; fatal "test bed failed"; }
trap cleanup EXIT # after tb_up, which sets its own EXIT trap (tb_down, called by cleanup)
mkdir -p "$d/www" "$d/logs" "$d/up"
head -c 100000 /dev/urandom >"$d/www/f100000"
chmod -R a+rX "$d/www"

# The upstream: kernel nginx in the client namespace, port 8099.
cat >"$d/up.conf" <<EOC
worker_processes 1;
daemon on;
pid $d/up.pid;
error_log $d/logs/up.log notice;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/up/cb; proxy_temp_path $d/up/pt; fastcgi_temp_path $d/up/ft;
	uwsgi_temp_path $d/up/ut; scgi_temp_path $d/up/st;
	server { listen $TB_CIP:8099; root $d/www; }
}
EOC
if ! tb_cli "$NGINX" -c "$d/up.conf" -p "$d" >"$d/up.err" 2>&1; then
	cat "$d/up.err"
	fatal "the upstream nginx did not start"
fi

out_rsts() { tb_srv nstat -az TcpOutRsts | awk '/TcpOutRsts/ {print $2}'; }

all_done() { # all_done N FILE...: wait (45 s at most) for N result lines in all
	local want=$1 i f n
	shift
	for i in $(seq 450); do
		n=0
		for f in "$@"; do
			n=$((n + $(grep -c '^ok [0-9]* failed' "$f" 2>/dev/null)))
		done
		[ "$n" -ge "$want" ] && return 0
		sleep 0.1
	done
}

# Two serving processes, started one after the other (queue 0, then queue 1).
pids=""
for p in 8081 8082; do
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8081,8082 \
		XTCP_CONNECT_PORTS=8099 XTCP_LOCAL_PORTS=61000-62999 XTCP_QUEUES=one XTCP_LOG=info \
		HANDOFF_GO="$d/go" \
		HANDOFF_END="$d/end" HANDOFF_STATS="$d/cli$p.stats" \
		"$cli" $p "$TB_CIP" 8099 /f100000 "$d/www/f100000" "$n" >"$d/cli$p.out" 2>"$d/cli$p.err" &
	pids="$pids $!"
	for i in $(seq 100); do
		grep -q listening "$d/cli$p.out" 2>/dev/null && break
		sleep 0.1
	done
done
q=$(cat "$d"/cli*.err | grep -o 'serving veth0 queue [0-9] of 2' | sort -u | wc -l)
check "two processes, each serving its own queue ($q of 2)" [ "$q" = 2 ]
rst0=$(out_rsts)
t0=$(date +%s%N)
touch "$d/go"
all_done 2 "$d/cli8081.out" "$d/cli8082.out"
t1=$(date +%s%N)
touch "$d/end"
for pid in $pids; do
	wait "$pid"
done
echo "# $((2 * n)) downloads of 100 kB in $(((t1 - t0) / 1000000)) ms"
for p in 8081 8082; do
	out=$(tail -1 "$d/cli$p.out")
	grep -v 'xtcp' "$d/cli$p.err" | head -3
	check "process on $p: $n downloads over xtcp, every byte right ($out)" [ "$out" = "ok $n failed 0" ]
done

stats_check() { # stats_check LABEL STATSFILE...: hand-off happened, no RST
	local label=$1 f hs hr hl ho dn dh v
	local sent=0 recv=0 lost=0 noowner=0 nosock=0 handed=0 files=0
	shift
	for f in "$@"; do
		[ -f "$f" ] || continue
		files=$((files + 1))
		read -r hs hr hl ho dn dh < <("$field" "$f" handoff_sent handoff_received handoff_lost \
			handoff_no_owner drop:tcp_no_socket drop:handed_off 2>/dev/null | tr '\n' ' ')
		echo "# $label $(basename "$f"): handoff sent ${hs:-?} received ${hr:-?} lost ${hl:-?}" \
			"no_owner ${ho:-?}; stack drops tcp_no_socket ${dn:-?} handed_off ${dh:-?}"
		for v in hs hr hl ho dn dh; do
			[[ ${!v:-x} =~ ^[0-9]+$ ]] || eval "$v=0"
		done
		sent=$((sent + hs)) recv=$((recv + hr)) lost=$((lost + hl)) noowner=$((noowner + ho))
		nosock=$((nosock + dn)) handed=$((handed + dh))
	done
	[ "$fail" -gt 0 ] && for f in "$@"; do # after a failure: what the engines did
		echo "# $(basename "$f"): $(for v in queue polls sleeps stack_rx_frames stack_retrans_segs \
			xsk_rx_packets; do echo -n "$v $("$field" "$f" $v) "; done)"
	done
	check "$label: replies landed on the other process's queue and were handed over (sent $sent, received $recv)" \
		[ "$sent" -gt 0 -a "$recv" -gt 0 ]
	check "$label: the stacks counted them (drop:handed_off $handed)" [ "$handed" -gt 0 ]
	check "$label: no RST for want of a socket (drop:tcp_no_socket $nosock, no_owner $noowner)" \
		[ "$files" = $# -a "$nosock" = 0 -a "$noowner" = 0 ]
	krst=$(($(out_rsts) - rst0))
	check "$label: none from the server namespace's kernel either (TcpOutRsts +$krst)" [ "$krst" = 0 ]
	echo "# $label: handoff lost (owner's queue full, peer retransmitted): $lost"
}
stats_check "two processes" "$d/cli8081.stats" "$d/cli8082.stats"

# Local ports apart from the first run's: the upstream holds those 4-tuples
# in TIME-WAIT (a reused one met PAWS while timestamp offsets were per
# process; stack_config.ts_seed is host-wide now, the ranges stay apart so
# that this test is about the hand-off alone).
# fork: a process whose engine runs forks; the child uses the listener too and
# builds its own engine on the other queue with its own endpoint (the parent's
# name stays the parent's). Both download at once.
rm -f "$d/go" "$d/end"
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8081 XTCP_CONNECT_PORTS=8099 \
	XTCP_LOCAL_PORTS=63000-64999 XTCP_QUEUES=one XTCP_LOG=info HANDOFF_GO="$d/go" HANDOFF_END="$d/end" \
	HANDOFF_STATS="$d/fork.stats" \
	"$cli" 8081 "$TB_CIP" 8099 /f100000 "$d/www/f100000" "$n" fork >"$d/fork.out" 2>"$d/fork.err" &
fpid=$!
for i in $(seq 100); do
	[ "$(grep -c listening "$d/fork.out" 2>/dev/null)" = 2 ] && break
	sleep 0.1
done
q=$(grep -o 'serving veth0 queue [0-9] of 2' "$d/fork.err" | sort -u | wc -l)
check "fork: parent and child each serve their own queue ($q of 2)" [ "$q" = 2 ]
rst0=$(out_rsts)
touch "$d/go"
all_done 2 "$d/fork.out" # the parent's and the child's
touch "$d/end"
wait "$fpid"
rc=$?
grep -v "^xtcp" "$d/fork.err" | head -8
okn=$(grep -c "^ok $n failed 0\$" "$d/fork.out")
check "fork: parent and child, $n downloads each, every byte right ($okn of 2, rc=$rc)" \
	[ "$okn" = 2 -a "$rc" = 0 ]
stats_check "fork" "$d/fork.stats" "$d/fork.stats.child"

# nginx: the workers' upstream connections (proxy_pass to XTCP_CONNECT_PORTS).
for f in 0 1000 1000000; do
	head -c $f /dev/urandom >"$d/www/f$f"
done
chmod -R a+rX "$d/www"
cat >"$d/proxy.conf" <<EOC
user www-data;
worker_processes 2;
daemon off;
master_process on;
pid $d/proxy.pid;
error_log $d/logs/error.log info;
events { use epoll; worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server {
		listen 8080;
		location / { proxy_pass http://$TB_CIP:8099; proxy_connect_timeout 3s; }
	}
}
EOC
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=8080 XTCP_CONNECT_PORTS=8099 \
	XTCP_LOCAL_PORTS=65000-65535 XTCP_LOG=info "$NGINX" -c "$d/proxy.conf" -p "$d" \
	>"$d/proxy.err" 2>&1 &
for i in $(seq 100); do
	[ -s "$d/proxy.pid" ] && [ "$(pgrep -c -P "$(cat "$d/proxy.pid")")" = 2 ] && break
	sleep 0.1
done
workers=$(pgrep -P "$(cat "$d/proxy.pid" 2>/dev/null || echo 1)")
sleep 0.3
q=$(cat "$d/logs/error.log" "$d/proxy.err" | grep -o 'serving veth0 queue [0-9] of 2' | sort -u | wc -l)
check "nginx: 2 workers, each serving its own queue ($q of 2)" [ "$q" = 2 ]
rst0=$(out_rsts)
good=0
for r in 1 2 3; do
	for f in f0 f1000 f100000 f1000000; do
		a=$(sha256sum <"$d/www/$f" | cut -d' ' -f1)
		b=$(tb_cli timeout 10 curl -sf "http://$TB_SIP:8080/$f" | sha256sum | cut -d' ' -f1)
		[ "$a" = "$b" ] && good=$((good + 1))
	done
done
check "nginx: 12 downloads through the workers' xtcp upstream connections, sha256 ($good)" \
	[ "$good" = 12 ]
tb_cli timeout 60 ab -q -n 200 -c 10 -s 10 "http://$TB_SIP:8080/f1000" >"$d/ab.txt" 2>&1
done_n=$(awk '/^Complete requests:/ {print $3}' "$d/ab.txt")
failed=$(awk '/^Failed requests:/ {print $3}' "$d/ab.txt")
non2xx=$(awk '/^Non-2xx responses:/ {print $3}' "$d/ab.txt")
check "nginx: ab -n 200 -c 10 through the proxy (${done_n:-none} complete, ${failed:-?} failed, ${non2xx:-0} non-2xx)" \
	[ "${done_n:-0}" = 200 -a "${failed:-1}" = 0 -a -z "$non2xx" ]
sleep 0.3 # idle workers refresh their statistics before they sleep
files=""
for w in $workers; do
	cp "/dev/shm/xtcp-$w.stats" "$d/nginx-$w.stats" 2>/dev/null && files="$files $d/nginx-$w.stats"
done
# shellcheck disable=SC2086
stats_check "nginx" $files
# The operator sees it too: xtcpctl status, text and JSON.
out=$(tb_srv "$build/xtcpctl" status 2>&1)
check "xtcpctl status shows the hand-off" grep -q 'hand-off: sent [1-9]' <<<"$out"
out=$(tb_srv "$build/xtcpctl" --json status 2>&1 | tr -d ' \n\t')
check "xtcpctl --json status has a handoff object" grep -q '"handoff":{"sent":[1-9]' <<<"$out"
kill -QUIT "$(cat "$d/proxy.pid")" 2>/dev/null

check_done
