#!/usr/bin/env bash
# The test bed itself: namespaces come up, traffic flows, teardown removes all.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
. "$here/testbed.sh"
fail=0
check() { if "$@"; then echo "ok: ${*:1:6}"; else echo "FAIL: $*"; fail=$((fail + 1)); fi; }
for mid in 0 1; do
	TB_MIDDLE=$mid tb_up 2 || { echo "FAIL: tb_up (middle=$mid)"; exit 1; }
	check tb_cli ping -c1 -W2 -q "$TB_SIP"
	check tb_srv ping -c1 -W2 -q "$TB_CIP"
	check tb_srv mountpoint -q /sys/fs/bpf
	check test "$(ip netns exec "$TB_SRV" ls /sys/class/net/"$TB_SIF"/queues | grep -c rx)" = 2
	check sh -c "! ip netns exec $TB_SRV ip route | grep -q default"
	names="$TB_SRV $TB_CLI $TB_MID"
	tb_down
	for ns in $names; do
		check sh -c "! ip netns list | grep -qw $ns"
	done
done
echo "$(( fail == 0 ? 1 : 0 )) passed, $fail failed"
[ $fail = 0 ]
