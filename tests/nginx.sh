# shellcheck shell=bash
# nginx.sh - unmodified nginx under libxtcp.so in the test bed's server
# namespace, for the shell tests. Source it after check.sh and testbed.sh; $d
# is the test's directory, nginx's prefix (nginx.conf, nginx.pid, logs/, www/).
#
#   ngx_conf WORKERS CONNECTIONS RLIMIT LISTEN [HTTP...]
#       writes $d/nginx.conf: epoll, WORKERS processes of CONNECTIONS each
#       (worker_rlimit_nofile RLIMIT, "-" for nginx's default), errors to
#       logs/error.log, no access log, sendfile; LISTEN is the server's listen
#       directive(s), HTTP more lines of the http block
#   ngx_start LIB N [VAR=VALUE...]
#       starts it under LIB (XTCP_IFACE the server's veth, XTCP_PORTS=80,
#       XTCP_STRICT=1 and the VARs given) and waits up to 10 s for N workers;
#       sets ngx_workers (their pids); true when N are up
#   ngx_run N [VAR=VALUE...]
#       the same for the test's own configuration with "daemon off;": nginx
#       runs in the background ($ngx_job) under exactly the VARs given (no
#       LD_PRELOAD added), its output in $d/nginx.err; true when N are up
#   ngx_stop    graceful stop (SIGQUIT), kill -9 after 5 s; the pid file removed
#   ngx_kill    kill -9 of the master, if any (for cleanup traps)
#   ngx_dir NAME
#       makes $d, /tmp/xtcp-NAME.XXXXXX (mode 755: the www-data workers read
#       it), and traps EXIT with ngx_cleanup; trap it again after tb_up,
#       which sets its own
#   ngx_cleanup kill -9 of nginx, tb_down, $d removed

ngx_conf() {
	local workers=$1 conns=$2 rlimit=$3 listen=$4 main="" http=""
	shift 4
	[ "$rlimit" = - ] || main="worker_rlimit_nofile $rlimit;"
	[ $# -gt 0 ] && http=$(printf '\t%s\n' "$@")
	cat >"$d/nginx.conf" <<EOC
user www-data;
worker_processes $workers;
$main
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { use epoll; worker_connections $conns; }
http {
	access_log off;
	sendfile on; tcp_nopush on; tcp_nodelay on;
$http
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { $listen root $d/www; }
}
EOC
}

ngx_start() {
	local lib=$1 n=$2
	shift 2
	tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=80 XTCP_STRICT=1 "$@" \
		"$NGINX" -c "$d/nginx.conf" -p "$d" 2>"$d/nginx.err" || cat "$d/nginx.err"
	ngx_wait "$n"
}

ngx_run() {
	local n=$1
	shift
	rm -f "$d/nginx.pid"
	tb_srv env "$@" "$NGINX" -c "$d/nginx.conf" -p "$d" >"$d/nginx.err" 2>&1 &
	ngx_job=$!
	ngx_wait "$n"
}

ngx_wait() { # ngx_wait N: up to 10 s for N workers of the master in $d/nginx.pid
	ngx_workers=""
	for _ in $(seq 100); do
		[ -s "$d/nginx.pid" ] && ngx_workers=$(pgrep -P "$(cat "$d/nginx.pid")" | tr '\n' ' ')
		[ "$(echo "$ngx_workers" | wc -w)" = "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

ngx_stop() {
	local pid
	[ -s "$d/nginx.pid" ] || return 0
	pid=$(cat "$d/nginx.pid")
	kill -QUIT "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$d/nginx.pid"
	sleep 0.2
}

ngx_kill() {
	[ -s "$d/nginx.pid" ] && kill -9 "$(cat "$d/nginx.pid")" 2>/dev/null
	return 0
}

ngx_dir() {
	d=$(mktemp -d "/tmp/xtcp-$1.XXXXXX") || fatal "mktemp"
	chmod 755 "$d"
	trap ngx_cleanup EXIT
}

ngx_cleanup() {
	ngx_kill
	tb_down
	rm -rf "$d"
}
