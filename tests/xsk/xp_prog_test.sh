#!/usr/bin/env bash
# xp_prog_test.sh BIN - run test_xp_prog on the server veth of a fresh test bed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces, XDP)"
	[ "${XTCP_TEST_NO_SKIP:-}" = 1 ] && exit 1
	exit 77
fi
. "$here/../testbed.sh"
tb_up 2 || { echo "0 passed, 1 failed (tb_up)"; exit 1; }
timeout 60 ip netns exec "$TB_SRV" "$1" "$TB_SIF"
