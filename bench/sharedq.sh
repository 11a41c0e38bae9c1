#!/usr/bin/env bash
# sharedq.sh - the cost of queues shared by several processes (xsk/xp_share.c),
# measured the way the shared-queue design was judged: unmodified nginx, 64-byte
# file, ab -n 50000 -c 100 HTTP/1.0 from the client namespace, sides alternating
# round by round, medians. Root. Prints one line per run and a median table.
#
#   bench/sharedq.sh [--rounds N] [--requests N] SIDE...
#   SIDE = NAME:LIBXTCP:QUEUES:WORKERS[:reload], e.g.
#     main:/tmp/xtcp-main/build/libxtcp.so:2:2   (one worker per queue, main)
#     mine:build/libxtcp.so:2:2                  (the same with this tree)
#     shared:build/libxtcp.so:1:2                (2 workers sharing 1 queue)
#     reloaded:build/libxtcp.so:1:1:reload       (measured after nginx -s reload:
#                                                 the new worker joined the old one)
#
# Figures per run: requests/s (ab) and the workers' CPU (utime + stime from
# /proc, user and kernel time of their own threads; the veth NAPI work that
# copies frames into the UMEM runs elsewhere and is not counted) per 1000
# requests. Each run gets a fresh test bed (tests/testbed.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
rounds=5
requests=50000
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { sed -n 2,16p "$0"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "sharedq.sh: needs root"; exit 1; }
# shellcheck source=../tests/check.sh
. "$here/../tests/check.sh"
# shellcheck source=../tests/testbed.sh
. "$here/../tests/testbed.sh"
out=$(mktemp -d /tmp/xtcp-sharedq.XXXXXX)
chmod 755 "$out"
hz=$(getconf CLK_TCK)

# cpu_ticks PIDS...: utime + stime of the processes, clock ticks.
cpu_ticks() {
	local t=0 p f
	for p in "$@"; do
		f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + $(echo "$f" | awk '{print $12 + $13}')))
	done
	echo $t
}

run_side() { # run_side NAME LIB QUEUES WORKERS ROUND [reload]
	local name=$1 lib=$2 q=$3 w=$4 round=$5 reload=${6:-} d="$out/$1.$5" pids c0 c1 rps n
	mkdir -p "$d/www" "$d/logs"
	chmod 755 "$d"
	head -c 64 /dev/urandom >"$d/www/f64"
	chmod -R a+rX "$d/www"
	cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes $w;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { use epoll; worker_connections 4096; }
http {
	access_log off;
	keepalive_timeout 65;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen 80 backlog=4096; root $d/www; }
}
EOC
	tb_up "$q" >/dev/null 2>&1 || { echo "$name: test bed failed"; return 1; }
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 \
		"$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err"
	sleep 1
	# warm-up, then the measured run
	tb_cli sh -c "ulimit -n 20000; timeout 60 ab -q -n 2000 -c 100 http://$TB_SIP/f64" >/dev/null 2>&1
	if [ "$reload" = reload ]; then
		kill -HUP "$(cat "$d/nginx.pid")"
		sleep 3
		tb_cli sh -c "ulimit -n 20000; timeout 60 ab -q -n 2000 -c 100 http://$TB_SIP/f64" \
			>/dev/null 2>&1
	fi
	pids=$(pgrep -P "$(cat "$d/nginx.pid")")
	c0=$(cpu_ticks $pids)
	tb_cli sh -c "ulimit -n 20000; timeout 120 ab -q -n $requests -c 100 -s 20 http://$TB_SIP/f64" \
		>"$d/ab.out" 2>&1
	c1=$(cpu_ticks $pids)
	rps=$(awk '/^Requests per second:/ {print $4}' "$d/ab.out")
	n=$(awk '/^Complete requests:/ {print $3}' "$d/ab.out")
	f=$(awk '/^Failed requests:/ {print $3}' "$d/ab.out")
	kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
	sleep 0.5
	tb_down >/dev/null 2>&1
	trap - EXIT
	awk -v name="$name" -v r="$round" -v rps="${rps:-0}" -v n="${n:-0}" -v f="${f:-?}" \
		-v ticks=$((c1 - c0)) -v hz="$hz" 'BEGIN {
		ms = n ? ticks * 1000 / hz / n * 1000 : 0
		printf "%-8s round %d: %8.0f req/s, %5.1f ms worker CPU per 1000 requests (complete %d, failed %s)\n",
			name, r, rps, ms, n, f }' | tee -a "$out/runs.txt"
}

for r in $(seq "$rounds"); do
	for side in "$@"; do
		IFS=: read -r name lib q w reload <<<"$side"
		run_side "$name" "$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")" "$q" "$w" "$r" \
			"$reload"
	done
done
echo "medians over $rounds rounds (ab -n $requests -c 100, HTTP/1.0, 64 B):"
for side in "$@"; do
	name=${side%%:*}
	awk -v name="$name" '$1 == name {print $4, $6}' "$out/runs.txt" | sort -n | awk -v name="$name" '
		{ r[NR] = $1 } END { m = r[int((NR + 1) / 2)]; printf "%-8s %8.0f req/s", name, m }'
	awk -v name="$name" '$1 == name {print $6}' "$out/runs.txt" | sort -n | awk '
		{ c[NR] = $1 } END { printf ", %5.1f ms worker CPU per 1000 requests\n", c[int((NR + 1) / 2)] }'
done
echo "runs: $out/runs.txt"
