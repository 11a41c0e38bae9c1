#!/usr/bin/env bash
# tb_run.sh BIN [ARG...] - run a test program in the server namespace of a
# fresh 2-queue test bed. In ARGs, @SIF@ @SIP@ @CIP@ become the server veth,
# the server address and the client address; @SIP6@ @CIP6@ their IPv6 ones.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root "network namespaces, XDP"
# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
tb_up 2 || fatal "test bed failed"
args=()
for a in "$@"; do
	a=${a//@SIF@/$TB_SIF}
	a=${a//@SIP@/$TB_SIP}
	a=${a//@CIP@/$TB_CIP}
	a=${a//@SIP6@/$TB_SIP6}
	a=${a//@CIP6@/$TB_CIP6}
	args+=("$a")
done
timeout 120 ip netns exec "$TB_SRV" "${args[@]}"
