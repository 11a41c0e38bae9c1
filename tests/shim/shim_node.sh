#!/usr/bin/env bash
# shim_node.sh BUILD_DIR - Node.js's http server with its port served by
# xtcp in the test bed. libuv closes sockets with syscall(SYS_close), not
# close(): the shim must see those closes too, or the stack keeps every
# connection node closed (as UNCONN in xtcpctl conns) until the pool runs dry.
# Root; installs nodejs on demand (tests/deps.sh nodejs); exits 77 when it
# cannot (1 with XTCP_TEST_NO_SKIP=1). "N passed, N failed".
#   load      wrk -c 100 for 3 s: requests answered, no socket errors
#   served    node ran on xtcp; the kernel accepted none (TcpPassiveOpens)
#   closed    1 s after the load, xtcpctl status counts 0 connections and
#             xtcpctl conns lists none but the listener
set -u
build=$(cd "${1:?usage: shim_node.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
ctl=$build/xtcpctl
TEST_NAME=shim_node
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -f "$lib" ] && [ -x "$ctl" ] || fatal "build first"
"$here/../deps.sh" nodejs >/dev/null 2>&1 ||
	skip "nodejs is not installed and could not be (tests/deps.sh nodejs)"
node=$(command -v node || command -v nodejs) || skip "no node"
command -v wrk >/dev/null || skip "no wrk (tests/deps.sh)"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
d=$(mktemp -d /tmp/xtcp-shim-node.XXXXXX)
np=""
cleanup() {
	[ -n "$np" ] && kill "$np" 2>/dev/null
	tb_down
	[ "${KEEP:-0}" = 1 ] || rm -rf "$d"
}
trap cleanup EXIT
tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
port=8090
cat >"$d/srv.js" <<JS
require('http').createServer((req, res) => res.end('hello\n'))
	.listen($port, '$TB_SIP', () => console.log('listening'));
JS
passive() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/{print $2}'; }
p0=$(passive)
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=$port XTCP_LOG=info timeout 60 \
	"$node" "$d/srv.js" >"$d/node.out" 2>"$d/node.err" &
np=$!
for _ in $(seq 100); do
	grep -q listening "$d/node.out" 2>/dev/null && break
	sleep 0.05
done
tb_cli timeout 20 wrk -t 2 -c 100 -d 3s "http://$TB_SIP:$port/" >"$d/wrk.txt" 2>&1
reqs=$(awk '/requests in/{print $1}' "$d/wrk.txt")
check "load: wrk got answers (${reqs:-0})" test "${reqs:-0}" -gt 1000
check "load: no socket errors" not_grep -q "Socket errors" "$d/wrk.txt"
check "served: node ran on xtcp" grep -q "serving $TB_SIF" "$d/node.err"
check "served: the kernel accepted none" test "$(passive)" = "$p0"
sleep 1
tb_srv "$ctl" status >"$d/status.txt" 2>&1
tb_srv "$ctl" conns >"$d/conns.txt" 2>&1
check "closed: xtcpctl status counts 0 connections" grep -q "listening + 0 connections" "$d/status.txt"
check "closed: xtcpctl conns lists only the listener" \
	test "$(awk 'NR>1 && $1!="LISTEN"' "$d/conns.txt" | wc -l)" = 0
[ $fail = 0 ] || cat "$d/wrk.txt" "$d/node.err" "$d/status.txt" "$d/conns.txt"
check_done
