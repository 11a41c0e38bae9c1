#!/usr/bin/env bash
# shim_postgres.sh BUILD_DIR - Debian's PostgreSQL 15 served by xtcp in the
# test bed, running as user postgres through the launcher (xtcp --user
# postgres: four ambient capabilities, nothing else). Root; installs
# postgresql-15 on demand (tests/deps.sh postgresql-15); exits 77 when it
# cannot (1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#   cycles    20 start/stop cycles (PG_CYCLES), each bounded: ready within
#             30 s (pg_isready from the client namespace), a psql query, a
#             fast shutdown within 30 s; none may hang
#   user      the postmaster runs as postgres with exactly the four
#             capabilities, served by xtcp (its line), no privilege warning;
#             started with three (setpriv, no CAP_NET_RAW) it runs on the
#             kernel and one line names CAP_NET_RAW
#   pgbench   psql query, pgbench -i, pgbench -c 8 -j 2 -T 10 from the client
#             namespace: 0 failed transactions
#   kernel    the kernel accepted no connection (TcpPassiveOpens flat in the
#             server namespace); the postmaster's statistics count every
#             backend's connection handed to the kernel at fork, none failed
#             or left on xtcp; a connection made before a server's first call
#             on its listener is accepted by the kernel with one line and a
#             counter (fallback kernel_handshake) when XTCP_QUEUE_WAIT_MS=0, and
#             waits for xtcp (SYN dropped, the retry served) by default
set -u
build=$(cd "${1:?usage: shim_postgres.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
launcher=$build/xtcp
field=$build/tests/shim/shim_stats_field
pgbin=/usr/lib/postgresql/15/bin
cycles=${PG_CYCLES:-20}
TEST_NAME=shim_postgres
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -f "$lib" ] && [ -x "$launcher" ] && [ -x "$field" ] || fatal "build first"
"$here/../deps.sh" postgresql-15 >/dev/null 2>&1 ||
	skip "postgresql-15 is not installed and could not be (tests/deps.sh postgresql-15)"
[ -x "$pgbin/postgres" ] && id postgres >/dev/null 2>&1 || skip "no $pgbin/postgres or user postgres"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
d=$(mktemp -d /tmp/xtcp-shim-pg.XXXXXX)
chmod 755 "$d"
chown postgres: "$d"
pgpid=""
cleanup() {
	[ -n "$pgpid" ] && kill -9 "$pgpid" 2>/dev/null
	tb_down
	[ "${KEEP:-0}" = 1 ] || rm -rf "$d"
}
trap cleanup EXIT
tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
port=5433

runuser -u postgres -- "$pgbin/initdb" -D "$d/data" -A trust -U postgres --no-sync \
	>"$d/initdb.log" 2>&1 || fatal "initdb failed: $(tail -3 "$d/initdb.log")"
cat >>"$d/data/postgresql.conf" <<EOF
listen_addresses = '$TB_SIP'
port = $port
unix_socket_directories = '$d'
max_connections = 40
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
echo "host all all $TB_NET trust" >>"$d/data/pg_hba.conf"

passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
pg_cli() { tb_cli env PGDATABASE=postgres PGUSER=postgres timeout 60 "$@" -h "$TB_SIP" -p "$port"; }

# pg_start LOG: the postmaster through the launcher as postgres; 0 once it answers.
# Clients wait for its "ready" line, written from its server loop, where xtcp
# serves the listener: a SYN before that (while postgres starts up) finds no
# AF_XDP socket and goes to the kernel's listener, by design.
pg_start() {
	local n0
	n0=$(grep -c "ready to accept connections" "$1" 2>/dev/null)
	tb_srv timeout 600 "$launcher" --iface "$TB_SIF" --ports "$port" --log info \
		--user postgres -- "$pgbin/postgres" -D "$d/data" >>"$1" 2>&1 &
	pgpid=$!
	for _ in $(seq 300); do
		[ "$(grep -c "ready to accept connections" "$1")" -gt "${n0:-0}" ] &&
			tb_cli "$pgbin/pg_isready" -U postgres -d postgres -q -t 1 -h "$TB_SIP" \
				-p "$port" && return 0
		kill -0 "$pgpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# pg_stop: fast shutdown (SIGINT to the postmaster); 0 if it ended within 30 s.
pg_stop() {
	local pm
	pm=$(head -1 "$d/data/postmaster.pid" 2>/dev/null)
	[ -n "$pm" ] && kill -INT "$pm" 2>/dev/null
	for _ in $(seq 300); do
		if ! kill -0 "$pgpid" 2>/dev/null; then
			wait "$pgpid" 2>/dev/null
			pgpid=""
			return 0
		fi
		sleep 0.1
	done
	kill -9 "$pm" "$pgpid" 2>/dev/null
	wait "$pgpid" 2>/dev/null
	pgpid=""
	return 1
}

po0=$(passive_opens)

# --- start/stop cycles ---
hung=0 bad=0 t0=$(date +%s)
for i in $(seq "$cycles"); do
	if ! pg_start "$d/cycle.log"; then
		hung=$((hung + 1))
		echo "cycle $i: not ready within 30 s"
		pg_stop
		continue
	fi
	[ "$(pg_cli "$pgbin/psql" -qAt -c "select $i + 1" 2>&1)" = $((i + 1)) ] || bad=$((bad + 1))
	pg_stop || {
		hung=$((hung + 1))
		echo "cycle $i: no shutdown within 30 s"
	}
done
echo "cycles: $cycles in $(($(date +%s) - t0)) s"
check "cycles: $cycles starts and stops, none hung ($hung)" [ $hung = 0 ]
check "cycles: a query answered in each ($bad wrong)" [ $bad = 0 ]
check "cycles: each start served by xtcp" \
	[ "$(grep -c "serving $TB_SIF queue" "$d/cycle.log")" -ge "$cycles" ]

# --- one server: the user, psql, pgbench ---
po1=$(passive_opens)
pg_start "$d/pg.log" || fatal "postgres did not start: $(tail -5 "$d/pg.log")"
po2=$(passive_opens)
echo "passive opens: cycles +$((po1 - po0)), start +$((po2 - po1))"
pm=$(head -1 "$d/data/postmaster.pid")
check "user: the postmaster runs as postgres" [ "$(stat -c %U "/proc/$pm")" = postgres ]
check "user: with exactly the four capabilities, ambient" \
	grep -q "^CapAmb:[[:space:]]*0000000000207000" "/proc/$pm/status"
check "user: served by xtcp" grep -q "serving $TB_SIF queue" "$d/pg.log"
out=$(pg_cli "$pgbin/psql" -qAt -c "select current_user, 6 * 7" 2>&1)
check "psql: query answered ($out)" [ "$out" = "postgres|42" ]
pg_cli "$pgbin/pgbench" -i -s 2 >"$d/pgbench_i.log" 2>&1
check "pgbench -i: tables made" grep -q "done in" "$d/pgbench_i.log"
pg_cli "$pgbin/pgbench" -c 8 -j 2 -T 10 >"$d/pgbench.log" 2>&1
rc=$?
tps=$(awk '/^tps/ {print $3; exit}' "$d/pgbench.log")
done_tx=$(awk -F': ' '/actually processed/ {print $2}' "$d/pgbench.log")
failed=$(awk -F': ' '/number of failed transactions/ {print $2}' "$d/pgbench.log")
echo "pgbench -c 8 -T 10: $done_tx transactions, $tps tps, failed: $failed"
check "pgbench: ran (rc $rc), transactions done ($done_tx)" [ $rc = 0 -a "${done_tx:-0}" -gt 0 ]
check "pgbench: 0 failed transactions ($failed)" grep -q "^0 " <<<"$failed"
mapfile -t s < <("$field" "/dev/shm/xtcp-$pm.stats" listeners kernel_at_fork kernel_failed \
	kernel_left 2>&1)
pg_stop || bad "postgres did not stop within 30 s"
po=$(($(passive_opens) - po0))
check "kernel: the kernel accepted none (TcpPassiveOpens +$po)" [ $po = 0 ]
check "kernel: 1 listener, >= 10 connections handed at fork, 0 failed, 0 left (${s[*]})" \
	[ "${s[0]}" = 1 -a "${s[1]:-0}" -ge 10 -a "${s[2]}" = 0 -a "${s[3]}" = 0 ]
# A service user missing one capability (ambient set without CAP_NET_RAW, as
# a unit could be written): postgres runs on the kernel, the line names it.
caps=+net_admin,+sys_admin,+ipc_lock
tb_srv setpriv --reuid=postgres --regid=postgres --init-groups --inh-caps=$caps \
	--ambient-caps=$caps env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=$port \
	timeout 600 "$pgbin/postgres" -D "$d/data" >>"$d/nocap.log" 2>&1 &
pgpid=$!
for _ in $(seq 300); do
	grep -q "ready to accept connections" "$d/nocap.log" && break
	sleep 0.1
done
out=$(pg_cli "$pgbin/psql" -qAt -c "select 7 * 6" 2>&1)
pg_stop
check "user: without CAP_NET_RAW postgres answers on the kernel ($out)" [ "$out" = 42 ]
check "user: ... and one line names CAP_NET_RAW" \
	grep -q "missing privilege: CAP_NET_RAW.*continuing on the kernel" "$d/nocap.log"

# The start-up race the cycles avoid, made on purpose: a client connects after
# listen() but before the server's first call on the listener (no AF_XDP socket
# yet). With XTCP_QUEUE_WAIT_MS=0 the kernel's listener takes it, and xtcp says
# so once and counts it; with the default wait (2 s) its SYN is dropped until
# the server's socket holds the queue, and the client's retry lands on xtcp.
cat >"$d/late.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
time.sleep(1.5)  # the client connects meanwhile
c, _ = s.accept()
print("accepted", c.recv(10).decode(), flush=True)
for _ in range(100):  # the test reads the statistics, then makes this file
    try:
        open(sys.argv[2]).close()
        break
    except OSError:
        time.sleep(0.1)
EOF
# early_conn WAIT_MS PORT: the server's output in $d/late$PORT.{out,err}, kernel_handshake in $kh
early_conn() {
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$2" XTCP_QUEUE_WAIT_MS="$1" \
		python3 "$d/late.py" "$2" "$d/late$2.done" >"$d/late$2.out" 2>"$d/late$2.err" &
	local lp=$!
	sleep 0.5
	tb_cli timeout 10 python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2]))); s.send(b"early"); s.recv(1)' \
		"$TB_SIP" "$2" &
	for _ in $(seq 100); do
		grep -q accepted "$d/late$2.out" && break
		sleep 0.1
	done
	kh=$("$field" "/dev/shm/xtcp-$(pgrep -f "$d/late.py $2")".stats fallback_kernel_handshake 2>&1)
	touch "$d/late$2.done"
	wait "$lp"
}
early_conn 0 5434
check "kernel: without the queue wait an early connection is accepted by the kernel ($(tr '\n' ' ' <"$d/late5434.out"))" \
	grep -q "accepted early" "$d/late5434.out"
check "kernel: ... with one line saying so" grep -q "accepted by the kernel: its SYN came" \
	"$d/late5434.err"
check "kernel: ... and counted (kernel_handshake $kh)" [ "$kh" = 1 ]
po3=$(passive_opens)
early_conn 2000 5435
po4=$(passive_opens)
check "kernel: with the queue wait (default) it is accepted on xtcp ($(tr '\n' ' ' <"$d/late5435.out"))" \
	grep -q "accepted early" "$d/late5435.out"
check "kernel: ... the kernel accepted none (kernel_handshake $kh, passive opens +$((po4 - po3)))" \
	test "$kh" = 0 -a "$po4" = "$po3"
check "no warning on stderr" not_grep -E "stays on xtcp|refused|missing privilege|continuing on the kernel" \
	"$d/pg.log" "$d/cycle.log"

check_done
