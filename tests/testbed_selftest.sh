#!/usr/bin/env bash
# The test bed itself: namespaces come up, traffic flows, teardown removes all.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=check.sh
. "$here/check.sh"
need_root
# shellcheck source=testbed.sh
. "$here/testbed.sh"
for mid in 0 1; do
	TB_MIDDLE=$mid tb_up 2 || fatal "tb_up (middle=$mid)"
	check "middle=$mid: client pings the server" tb_cli ping -c1 -W2 -q "$TB_SIP"
	check "middle=$mid: server pings the client" tb_srv ping -c1 -W2 -q "$TB_CIP"
	check "middle=$mid: bpffs in the server namespace" tb_srv mountpoint -q /sys/fs/bpf
	check "middle=$mid: 2 rx queues on the server veth" \
		test "$(ip netns exec "$TB_SRV" ls /sys/class/net/"$TB_SIF"/queues | grep -c rx)" = 2
	check "middle=$mid: no default route" \
		sh -c "! ip netns exec $TB_SRV ip route | grep -q default"
	names="$TB_SRV $TB_CLI $TB_MID"
	tb_down
	for ns in $names; do
		check "middle=$mid: $ns removed" sh -c "! ip netns list | grep -qw $ns"
	done
done
check_done
