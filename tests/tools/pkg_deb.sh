#!/usr/bin/env bash
# pkg_deb.sh BUILD_DIR SOURCE_DIR - the Debian package, from the tree to removal
# (root; exits 77 without, 1 with XTCP_TEST_NO_SKIP=1). Prints "N passed, N failed".
#   package   cpack -G DEB in the build folder: xtcp_<version>_<arch>.deb, its files
#             (library in the multiarch folder, launcher, xtcpctl, man pages, docs),
#             run-time dependencies only; cmake --install lays out the same files
#   install   dpkg -i; xtcp --help, --profiles, a bad option; man -w for the 3 pages;
#             the systemd examples pass systemd-analyze verify
#   served    unmodified nginx through the installed launcher on xtcp in the test bed:
#             the installed library preloaded, sha256 of a download, the kernel's
#             PassiveOpens flat under ab
#   metrics   xtcpctl metrics: every line passes a strict text-format check; accepted
#             and frame counters move under load; --listen scraped from the client
#             namespace; --textfile
#   container the installed examples/container.sh: a namespace with a 1-queue veth whose
#             peer is a kernel in another namespace, nginx with a container's capability
#             set, --iface left out (chosen from the routes)
#   remove    dpkg -r leaves none of the package's files, no statistics file, no XDP
#             program
set -u
build=$(cd "${1:?usage: pkg_deb.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: pkg_deb.sh BUILD_DIR SOURCE_DIR}" && pwd)
export TEST_NAME=pkg_deb
# shellcheck source=../check.sh disable=SC1091
. "$src/tests/check.sh"
need_root
for t in cpack dpkg dpkg-deb man curl ab "$NGINX"; do
	command -v "$t" >/dev/null || skip "$t is missing (tests/deps.sh installs it)"
done
if dpkg-query -W -f='${Status}' xtcp 2>/dev/null | grep -q "ok installed"; then
	echo "pkg_deb: an xtcp package is already installed on this machine: not touching it"
	exit 1
fi
check=$build/tests/tools/prom_check
[ -x "$check" ] || { echo "pkg_deb: $check not built"; exit 1; }

# shellcheck source=../testbed.sh disable=SC1091
. "$src/tests/testbed.sh"
d=$(mktemp -d /tmp/xtcp-pkg-deb.XXXXXX)
chmod 755 "$d"
installed=0
cont=""
hostns=""
cleanup() {
	local f
	for f in "$d"/*.pid; do
		[ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	tb_down
	[ -n "$cont" ] && ip netns del "$cont" 2>/dev/null
	[ -n "$hostns" ] && ip netns del "$hostns" 2>/dev/null
	[ $installed = 1 ] && dpkg -r xtcp >/dev/null 2>&1
	rm -rf "$d"
}
trap cleanup EXIT

# --- package ---
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
(cd "$build" && cpack -G DEB -B "$d/pkg") >"$d/cpack.log" 2>&1
deb=$d/pkg/xtcp_${version}_$arch.deb
check "package: cpack -G DEB made xtcp_${version}_$arch.deb" [ -n "$version" -a -f "$deb" ]
[ -f "$deb" ] || { cat "$d/cpack.log"; exit 1; }
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' | sort >"$d/files"
for f in "/usr/lib/$multiarch/libxtcp.so" /usr/bin/xtcp /usr/sbin/xtcpctl \
	/usr/share/man/man1/xtcp.1.gz /usr/share/man/man7/xtcp.7.gz \
	/usr/share/man/man8/xtcpctl.8.gz /usr/share/doc/xtcp/README.md \
	/usr/share/doc/xtcp/metrics.md /usr/share/doc/xtcp/examples/nginx-xtcp.conf \
	/usr/share/doc/xtcp/examples/container.sh; do
	check "package: holds $f" grep -qx "$f" "$d/files"
done
deps=$(dpkg-deb -f "$deb" Depends)
check "package: depends on the run-time libraries ($deps)" \
	sh -c "echo '$deps' | grep -q libbpf1 && echo '$deps' | grep -q libxdp1"
check "package: no build-time dependency" not_grep -E -- '-dev|clang|cmake|gcc' <<<"$deps"
cmake --install "$build" --prefix "$d/inst" >/dev/null
(cd "$d/inst" && find . -type f -o -type l) | sed 's|^\.|/usr|' | sort >"$d/inst.files"
check "cmake --install: the package's layout ($(wc -l <"$d/files") files)" \
	cmp -s "$d/files" "$d/inst.files"
out=$(XTCP_IFACE=lo "$d/inst/bin/xtcp" --ports 80 --dry-run)
check "cmake --install: its launcher preloads its own library" \
	grep -qx "LD_PRELOAD=$d/inst/lib/$multiarch/libxtcp.so" <<<"$out"

# --- install ---
dpkg -i "$deb" >"$d/dpkg.log" 2>&1 && installed=1
check "install: dpkg -i" [ $installed = 1 ]
[ $installed = 1 ] || { cat "$d/dpkg.log"; exit 1; }
help=$(/usr/bin/xtcp --help)
for o in --iface --ports --connect-ports --profile --strict --profiles; do
	check "xtcp --help: documents $o" grep -q -- "$o" <<<"$help"
done
n=$(/usr/bin/xtcp --profiles | grep -cE "^(latency|throughput|default) ")
check "xtcp --profiles: latency, throughput, default ($n)" [ "$n" = 3 ]
/usr/bin/xtcp --iface lo --ports 8o -- true 2>"$d/err"
rc=$?
check "xtcp: a bad option exits 2 ($rc), naming it and the form" \
	sh -c "[ $rc = 2 ] && grep -q -- '--ports \"8o\" is invalid: expected a list of ports' '$d/err'"
check "man -w xtcp" [ "$(man -w xtcp)" = /usr/share/man/man1/xtcp.1.gz ]
check "man -w 7 xtcp" [ "$(man -w 7 xtcp)" = /usr/share/man/man7/xtcp.7.gz ]
check "man -w xtcpctl" [ "$(man -w xtcpctl)" = /usr/share/man/man8/xtcpctl.8.gz ]

unit=/lib/systemd/system/nginx.service
if command -v systemd-analyze >/dev/null && [ -f $unit ]; then
	mkdir -p "$d/units/nginx.service.d"
	cp $unit "$d/units/"
	cp /usr/share/doc/xtcp/examples/nginx-xtcp.conf "$d/units/nginx.service.d/xtcp.conf"
	cp /usr/share/doc/xtcp/examples/xtcp-metrics.service "$d/units/"
	SYSTEMD_UNIT_PATH="$d/units:" systemd-analyze verify "$d/units/nginx.service" \
		"$d/units/xtcp-metrics.service" >"$d/verify.txt" 2>&1
	check "systemd: the nginx drop-in and xtcp-metrics.service pass systemd-analyze verify$(
		head -c 300 "$d/verify.txt")" [ ! -s "$d/verify.txt" ]
fi

# --- served: nginx through the installed launcher ---
tb_up 1 || { echo "pkg_deb: test bed failed"; exit 1; }
trap cleanup EXIT # tb_up set its own
mkdir -p "$d/www" "$d/logs"
head -c 100000 /dev/urandom >"$d/www/f"
echo ok >"$d/www/small"
chmod -R a+rX "$d/www"
nginx_conf() { # nginx_conf NAME: $d/NAME.conf, pid $d/NAME.pid
	cat >"$d/$1.conf" <<EOC
user www-data;
worker_processes 1;
daemon off;
pid $d/$1.pid;
error_log $d/logs/$1.log notice;
events { use epoll; worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $d/cb; proxy_temp_path $d/pt; fastcgi_temp_path $d/ft;
	uwsgi_temp_path $d/ut; scgi_temp_path $d/st;
	server { listen 8080; root $d/www; }
}
EOC
}
wait_nginx() { # wait_nginx NAME: master and its worker up
	for _ in $(seq 100); do
		[ -s "$d/$1.pid" ] && [ "$(pgrep -c -P "$(cat "$d/$1.pid")")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
stop_nginx() { # stop_nginx NAME: QUIT, wait; 0 when it exited by itself
	local pid
	pid=$(cat "$d/$1.pid" 2>/dev/null) || return 1
	kill -QUIT "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$d/$1.pid"; return 0; }
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	return 1
}
sha_ok() { # sha_ok URL [runner...]: the download is the file
	local url=$1
	shift
	[ "$("$@" timeout 20 curl -sf "$url" | sha256sum | cut -d' ' -f1)" = \
		"$(sha256sum <"$d/www/f" | cut -d' ' -f1)" ]
}
passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
metric() { # metric FILE 'NAME{LABELS}': sum of the matching samples
	"$check" --get "$2" <"$1" 2>/dev/null
}

nginx_conf web
tb_srv /usr/bin/xtcp --iface "$TB_SIF" --ports 8080 -- "$NGINX" -c "$d/web.conf" -p "$d" \
	>"$d/web.err" 2>&1 &
check "served: nginx up through the launcher" wait_nginx web
worker=$(pgrep -P "$(cat "$d/web.pid")")
check "served: the installed library is preloaded" \
	grep -q "/usr/lib/$multiarch/libxtcp.so" "/proc/$worker/maps"
check "served: sha256 of a 100 kB download" sha_ok "http://$TB_SIP:8080/f" tb_cli
tb_srv /usr/sbin/xtcpctl metrics >"$d/m0.txt"
p0=$(passive_opens)
tb_cli ab -q -n 1000 -c 10 "http://$TB_SIP:8080/small" >"$d/ab.txt" 2>&1
p1=$(passive_opens)
check "served: ab -n 1000, none failed" \
	sh -c "grep -q 'Complete requests: *1000' '$d/ab.txt' && grep -q 'Failed requests: *0' '$d/ab.txt'"
check "served: the kernel's PassiveOpens flat ($p0 -> $p1)" [ "$p0" = "$p1" ]

# --- metrics ---
tb_srv /usr/sbin/xtcpctl metrics >"$d/m1.txt"
check "metrics: every line is Prometheus text ($(wc -l <"$d/m1.txt") lines)" \
	"$check" <"$d/m1.txt"
check "metrics: the idle reading too" "$check" <"$d/m0.txt"
for fam in xtcp_xdp_packets_total xtcp_accepted_total xtcp_fallbacks_total \
	xtcp_stack_drops_total xtcp_stack_retransmits_total xtcp_af_xdp_ring_events_total \
	xtcp_protect_packets_total; do
	check "metrics: family $fam" grep -q "^# TYPE $fam " "$d/m1.txt"
done
a0=$(metric "$d/m0.txt" 'xtcp_accepted_total{source="xtcp"}')
a1=$(metric "$d/m1.txt" 'xtcp_accepted_total{source="xtcp"}')
check "metrics: accepted on xtcp moved by >= 1000 under ab ($a0 -> $a1)" \
	sh -c "[ -n '$a0' ] && [ -n '$a1' ] && [ \$(($a1 - $a0)) -ge 1000 ]"
r0=$(metric "$d/m0.txt" "xtcp_xdp_packets_total{interface=\"$TB_SIF\",verdict=\"redirected\"}")
r1=$(metric "$d/m1.txt" "xtcp_xdp_packets_total{interface=\"$TB_SIF\",verdict=\"redirected\"}")
check "metrics: XDP redirected moved ($r0 -> $r1)" sh -c "[ -n '$r0' ] && [ '${r1:-0}' -gt '$r0' ]"
fb=$(metric "$d/m1.txt" 'xtcp_fallbacks_total')
check "metrics: no fallback to the kernel ($fb)" [ "$fb" = 0 ]
check "metrics: labels process and pid of the worker" \
	grep -q "process=\"nginx\",pid=\"$worker\",queue=\"0\"" "$d/m1.txt"
# The capabilities examples/xtcp-metrics.service leaves xtcpctl: the same figures.
tb_srv setpriv --bounding-set -all,+sys_admin,+net_admin,+sys_ptrace,+dac_read_search -- \
	/usr/sbin/xtcpctl metrics >"$d/m1c.txt"
check "metrics: with the service's capabilities, the worker's and the XDP program's series" \
	sh -c "grep -q 'xtcp_accepted_total{.*pid=\"$worker\"' '$d/m1c.txt' &&
		grep -q '^xtcp_xdp_packets_total{interface=\"$TB_SIF\"' '$d/m1c.txt'"
tb_srv sh -c "echo \$\$ >'$d/listen.pid'; exec /usr/sbin/xtcpctl metrics --listen $TB_SIP:9478" \
	2>"$d/listen.err" &
for _ in $(seq 30); do
	tb_cli curl -sf -o "$d/scrape.txt" "http://$TB_SIP:9478/metrics" && break
	sleep 0.1
done
check "metrics --listen: a scrape from the client namespace passes the check" \
	"$check" <"$d/scrape.txt"
code=$(tb_cli curl -s -o /dev/null -w '%{http_code}' "http://$TB_SIP:9478/other")
check "metrics --listen: other paths are 404 ($code)" [ "$code" = 404 ]
kill "$(cat "$d/listen.pid")" 2>/dev/null
rm -f "$d/listen.pid"
tb_srv /usr/sbin/xtcpctl metrics --textfile "$d/xtcp.prom"
check "metrics --textfile: written, passes the check" "$check" <"$d/xtcp.prom"
check "metrics --textfile: no temporary file left" \
	sh -c "[ \$(ls '$d' | grep -c 'xtcp.prom.*tmp') = 0 ]"
tb_srv /usr/sbin/xtcpctl metrics --listen nowhere 2>"$d/err"
check "metrics: a bad --listen names the option and the form" \
	grep -q -- '--listen "nowhere" is invalid: expected ADDR:PORT' "$d/err"
pids="$(cat "$d/web.pid") $worker"
check "served: nginx quits" stop_nginx web
check "served: XDP program detached after nginx quit" \
	sh -c "! ip -n $TB_SRV link show $TB_SIF | grep -q ' xdp'"
tb_down

# --- container: the installed recipe, a kernel peer, a container's capabilities ---
recipe=/usr/share/doc/xtcp/examples/container.sh
cont="xc$$"
hostns="xh$$"
ip netns add "$hostns" && ip -n "$hostns" link set lo up
"$recipe" up "$cont" "$hostns" 10.77.9.1/24 10.77.9.2/24
check "container: namespace with a 1-queue eth0" \
	sh -c "[ \$(ip netns exec $cont ls /sys/class/net/eth0/queues | grep -c rx-) = 1 ]"
# The host's end keeps its default checksum offload: xtcp accepts the kernel
# peer's unfinished checksums on a veth (XTCP_RX_CSUM=auto).
nginx_conf box
"$recipe" run "$cont" /usr/bin/xtcp --ports 8080 --strict -- "$NGINX" -c "$d/box.conf" \
	-p "$d" >"$d/box.err" 2>&1 &
check "container: nginx up through the launcher" wait_nginx box
check "container: --iface left out, eth0 chosen from the routes" \
	grep -q "serving on eth0 (the only interface with IPv4 routes" "$d/box.err"
bnd=$(awk '/^CapBnd/ {print $2}' "/proc/$(cat "$d/box.pid")/status")
check "container: nginx runs with the container's capability set (CapBnd $bnd)" \
	[ "$bnd" != "$(awk '/^CapBnd/ {print $2}' /proc/self/status)" ]
check "container: sha256 of a download from the host side" \
	sha_ok "http://10.77.9.2:8080/f" ip netns exec "$hostns"
ip netns exec "$hostns" ab -q -n 300 -c 10 "http://10.77.9.2:8080/small" >"$d/ab2.txt" 2>&1
check "container: ab -n 300, none failed" \
	sh -c "grep -q 'Complete requests: *300' '$d/ab2.txt' && grep -q 'Failed requests: *0' '$d/ab2.txt'"
ip netns exec "$cont" /usr/sbin/xtcpctl metrics >"$d/m2.txt"
a2=$(metric "$d/m2.txt" 'xtcp_accepted_total{source="xtcp"}')
check "container: metrics pass, >= 301 accepted on xtcp ($a2)" \
	sh -c "'$check' <'$d/m2.txt' && [ '${a2:-0}' -ge 301 ]"
pids="$pids $(cat "$d/box.pid") $(pgrep -P "$(cat "$d/box.pid")")"
check "container: nginx quits" stop_nginx box
"$recipe" down "$cont" && cont=""
ip netns del "$hostns" && hostns=""

# --- remove ---
dpkg -r xtcp >"$d/dpkg.log" 2>&1 && installed=0
check "remove: dpkg -r" [ $installed = 0 ]
left=$(while read -r f; do [ -e "$f" ] && echo "$f"; done <"$d/files")
check "remove: none of the package's files left${left:+ ($left)}" [ -z "$left" ]
check "remove: no /usr/share/doc/xtcp" [ ! -e /usr/share/doc/xtcp ]
check "remove: dpkg forgot the package" \
	sh -c "! dpkg-query -W -f='\${Status}' xtcp 2>/dev/null |
		grep -qE ' (installed|config-files|half-installed|half-configured|unpacked)\$'"
shm=""
for p in $pids; do
	[ -e "/dev/shm/xtcp-$p.stats" ] && shm="$shm $p"
done
check "remove: no statistics file of the test's processes left${shm:+ ($shm)}" [ -z "$shm" ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
