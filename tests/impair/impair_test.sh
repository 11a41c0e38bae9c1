#!/usr/bin/env bash
# impair_test.sh BUILD_DIR [kernel|xtcp] [block|thread|epoll] [inet|inet6] - TCP through
# xt_impair.
#   kernel  both peers on the kernel (default)
#   xtcp    the server under LD_PRELOAD=BUILD_DIR/libxtcp.so (XTCP_IFACE=veth0),
#           and the server namespace's kernel must accept nothing (nstat)
#   inet6   over IPv6: fd77:1::/64 (server side) and fd77:2::/64 (client side)
#           (tb_mid_ipv6 off), no DAD, routes via the middle (fd77:1::fe, fd77:2::fe),
#           whose IPv6 forwarding stays off too; the server listens on
#           fd77:1::1, the client connects there
#
# Test bed with a middle namespace (TB_MIDDLE=1); the middle's forwarding is
# turned off so xt_impair is the only path (checked: no ping without it).
# Runs posix_cli against posix_srv (thread mode by default) through 2% loss, 1%
# duplication, 2% reordering and 0.5% corruption (seeded), checks every byte
# arrives intact and that each impairment really happened (counters).
# Needs root: otherwise exit 77 (1 with XTCP_TEST_NO_SKIP=1).
set -u
build=$(cd "${1:?usage: impair_test.sh BUILD_DIR [kernel|xtcp]}" && pwd)
variant=${2:-kernel}
mode=${3:-thread}
family=${4:-inet}
srv_env=()
# The bridge flips bits on purpose, a wire in all but name: the server
# verifies every checksum, as on a veth bridged to a NIC (docs/design-notes.md,
# "Checksums"). Trusting the partial form would let about one flipped frame
# in 65,536 through.
[ "$variant" = xtcp ] && srv_env=(LD_PRELOAD="$build/libxtcp.so" XTCP_IFACE=veth0
	XTCP_PORTS=7201 XTCP_STRICT=1 XTCP_RX_CSUM=verify)
here=$(cd "$(dirname "$0")" && pwd)
imp=$build/tests/impair/xt_impair
srv=$build/tests/shim/posix_srv
cli=$build/tests/shim/posix_cli
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ "$variant" = xtcp ] && need_built "$build/libxtcp.so"
need_built "$imp" "$srv" "$cli"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
TB_MIDDLE=1 tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-impair.XXXXXX)

tb_mid_bridged
ip netns exec "$TB_MID" sysctl -qw net.ipv4.ip_forward=0
sip=$TB_SIP
if [ "$family" = inet6 ]; then
	tb_mid_ipv6 off || fatal "IPv6 addresses and routes"
	sip=$TB_SIP6
fi
check "no path without the bridge" \
	bash -c "! ip netns exec $TB_CLI ping -c1 -W1 -q $sip >/dev/null 2>&1"

# Not through the tb_mid function: $! must be the bridge itself, to signal it.
ip netns exec "$TB_MID" "$imp" -a "$TB_MIF_S" -A "$TB_SMAC" -b "$TB_MIF_C" -B "$TB_CMAC" -s 42 \
	-l 20000 -d 10000 -r 20000 -c 5000 -t 280 >"$out/impair.log" 2>&1 &
ipid=$!
check "path through the bridge" tb_ping "$sip"

srv_addr=()
[ "$family" = inet6 ] && srv_addr=(-a "$sip")
k0=$(ip netns exec "$TB_SRV" nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}')
ip netns exec "$TB_SRV" sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null
	exec "$@"' tb env "${srv_env[@]}" "$srv" -m "$mode" -p 7201 "${srv_addr[@]}" \
	>"$out/srv.log" 2>&1 &
spid=$!
for i in $(seq 100); do grep -q listening "$out/srv.log" && break; sleep 0.1; done
tb_cli timeout 250 "$cli" -a "$sip" -p 7201 -m "$mode" -s 8 >"$out/cli.txt" 2>&1
crc=$?
sed 's/^/  [client] /' "$out/cli.txt"
check "POSIX cases and integrity through the impaired path ($variant $mode server, $family)" \
	test $crc = 0
k1=$(ip netns exec "$TB_SRV" nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}')
if [ "$variant" = xtcp ]; then
	check "the server's kernel accepted nothing ($k0 -> $k1)" test "$k1" = "$k0"
else
	check "the server's kernel accepted the connections ($k0 -> $k1)" test "$k1" -gt "$k0"
fi
kill "$spid" 2>/dev/null
kill "$ipid" 2>/dev/null
wait "$ipid" 2>/dev/null
sed 's/^/  [bridge] /' "$out/impair.log"
for what in lost dup reordered corrupted; do
	n=$(awk -v w="$what" '/ -> / {for (i = 1; i < NF; i++) if ($i == w) s += $(i + 1)} END {print s + 0}' "$out/impair.log")
	check "bridge $what frames ($n)" test "$n" -gt 0
done
[ $fail = 0 ] && rm -rf "$out"
check_done
