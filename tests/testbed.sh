# shellcheck shell=bash
# testbed.sh - two network namespaces joined by a veth pair, for tests and
# benchmarks. Source it, then:
#
#   tb_up [QUEUES]        make server and client namespaces (default 1 queue)
#   tb_srv CMD...         run CMD in the server namespace (bpffs mounted)
#   tb_cli CMD...         run CMD in the client namespace
#   tb_down               tear everything down (also runs on EXIT)
#
# After tb_up: TB_SRV TB_CLI (namespace names), TB_SIF TB_CIF (veth names,
# server and client side), TB_SIP TB_CIP (10.77.1.1 and 10.77.1.2), TB_NET,
# and (without TB_MIDDLE) TB_SIP6 TB_CIP6 (fd77:1::1 and fd77:1::2, /64, no DAD:
# usable at once).
#   tb_ping ADDR [TRIES]  the client pings ADDR, up to TRIES (50) times 0.1 s
#                         apart; true once one is answered
#   tb_serve_once BIN DIR NAME PORT [VAR=VALUE...]
#                         one run of a test program of the form "BIN -s PORT"
#                         (prints "listening" when ready) / "BIN -c ADDR PORT":
#                         its server in the server namespace under the VARs, its
#                         client in the client namespace, 60 s at most each;
#                         outputs in DIR/NAME.txt, NAME.err and NAME-cli.txt
# With TB_MIDDLE=1 a third namespace TB_MID sits between them as a router
# (TB_SIF faces TB_MIF_S, TB_CIF faces TB_MIF_C; client 10.77.2.2, routes via
# the middle), where an impairment program can be run with tb_mid, and:
#   tb_mid_ipv6 [on|off]  IPv6 too: TB_SIP6 fd77:1::1 (server side /64) and
#                         TB_CIP6 fd77:2::2 (client side /64), no DAD, routes via
#                         the middle's fd77:1::fe and fd77:2::fe; its IPv6
#                         forwarding on (default) or off
#   tb_mid_bridged        the middle as the place of a userspace bridge
#                         (tests/impair/xt_impair): no offloads on any of the four
#                         links (frames cross whole, with finished checksums);
#                         TB_SMAC and TB_CMAC, the server's and client's veth MACs
#   tb_mid_mtu MTU        the middle as a router with a narrow hop: its link to
#                         the client at MTU, and whole frames through it (no
#                         TSO/GSO/GRO on its links), each checked against the
#                         egress MTU
# TB_CLIENT_TXCSUM=on keeps the client's transmit checksum offload (kernel
# servers' best case); by default it is off, as a real NIC would deliver
# finished checksums (a userspace stack verifies them; see docs/ARCHITECTURE.md).
#
# Names carry the shell's pid, so parallel runs and leftovers never collide.
# Only namespaces made here are ever touched; no default route is added.

TB_ID="xt$$-${RANDOM}"
TB_SRV=""
TB_CLI=""
TB_MID=""

tb_log() { echo "testbed: $*" >&2; }

tb_in() {
	local ns=$1
	shift
	# ip netns exec remounts /sys: bpffs must be mounted again in each exec.
	ip netns exec "$ns" sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@"' tb "$@"
}
tb_srv() { tb_in "$TB_SRV" "$@"; }
tb_cli() { tb_in "$TB_CLI" "$@"; }
tb_mid() { tb_in "$TB_MID" "$@"; }

tb_down() {
	local ns
	for ns in $TB_CLI $TB_MID $TB_SRV; do
		[ -n "$ns" ] || continue
		# Processes still in the namespace are ours (the test started them).
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	TB_SRV=""
	TB_CLI=""
	TB_MID=""
}

tb_up() {
	local queues=${1:-1}
	TB_SRV="${TB_ID}-s"
	TB_CLI="${TB_ID}-c"
	TB_SIF=veth0
	TB_CIF=veth1
	TB_SIP=10.77.1.1
	TB_CIP=10.77.1.2
	TB_NET=10.77.1.0/24
	trap tb_down EXIT
	trap 'exit 130' INT TERM
	ip netns add "$TB_SRV" || return 1
	ip netns add "$TB_CLI" || return 1
	ip -n "$TB_SRV" link set lo up
	ip -n "$TB_CLI" link set lo up
	if [ "${TB_MIDDLE:-0}" = 1 ]; then
		TB_MID="${TB_ID}-m"
		TB_MIF_S=mveth0
		TB_MIF_C=mveth1
		TB_CIP=10.77.2.2
		ip netns add "$TB_MID" || return 1
		ip -n "$TB_MID" link set lo up
		ip link add "$TB_SIF" netns "$TB_SRV" numtxqueues "$queues" numrxqueues "$queues" \
			type veth peer name "$TB_MIF_S" netns "$TB_MID" || return 1
		ip link add "$TB_CIF" netns "$TB_CLI" numtxqueues "$queues" numrxqueues "$queues" \
			type veth peer name "$TB_MIF_C" netns "$TB_MID" || return 1
		ip -n "$TB_MID" addr add 10.77.1.254/24 dev "$TB_MIF_S"
		ip -n "$TB_MID" addr add 10.77.2.254/24 dev "$TB_MIF_C"
		ip -n "$TB_MID" link set "$TB_MIF_S" up
		ip -n "$TB_MID" link set "$TB_MIF_C" up
		ip netns exec "$TB_MID" sysctl -qw net.ipv4.ip_forward=1
		ip -n "$TB_SRV" addr add "$TB_SIP/24" dev "$TB_SIF"
		ip -n "$TB_CLI" addr add "$TB_CIP/24" dev "$TB_CIF"
		ip -n "$TB_SRV" link set "$TB_SIF" up
		ip -n "$TB_CLI" link set "$TB_CIF" up
		ip -n "$TB_SRV" route add 10.77.2.0/24 via 10.77.1.254
		ip -n "$TB_CLI" route add 10.77.1.0/24 via 10.77.2.254
		# Every hop that can hand a kernel's partial checksum to xtcp.
		ip netns exec "$TB_MID" ethtool -K "$TB_MIF_S" tx off >/dev/null 2>&1
		ip netns exec "$TB_MID" ethtool -K "$TB_MIF_C" tx off >/dev/null 2>&1
	else
		ip link add "$TB_SIF" netns "$TB_SRV" numtxqueues "$queues" numrxqueues "$queues" \
			type veth peer name "$TB_CIF" netns "$TB_CLI" numtxqueues "$queues" \
			numrxqueues "$queues" || return 1
		ip -n "$TB_SRV" addr add "$TB_SIP/24" dev "$TB_SIF"
		ip -n "$TB_CLI" addr add "$TB_CIP/24" dev "$TB_CIF"
		TB_SIP6=fd77:1::1
		TB_CIP6=fd77:1::2
		# No DAD on either side, the link-local addresses included: the kernel
		# sends no neighbour solicitation before a link-local address is usable.
		ip netns exec "$TB_SRV" sysctl -qw "net.ipv6.conf.$TB_SIF.accept_dad=0"
		ip netns exec "$TB_CLI" sysctl -qw "net.ipv6.conf.$TB_CIF.accept_dad=0"
		ip -n "$TB_SRV" addr add "$TB_SIP6/64" dev "$TB_SIF" nodad
		ip -n "$TB_CLI" addr add "$TB_CIP6/64" dev "$TB_CIF" nodad
		ip -n "$TB_SRV" link set "$TB_SIF" up
		ip -n "$TB_CLI" link set "$TB_CIF" up
	fi
	if [ "${TB_CLIENT_TXCSUM:-off}" = off ]; then
		ip netns exec "$TB_CLI" ethtool -K "$TB_CIF" tx off >/dev/null || return 1
	fi
	# Wait for the link (veth comes up at once, but carrier may lag a little).
	tb_ping "$TB_SIP" && return 0
	tb_log "link between $TB_SRV and $TB_CLI did not come up"
	return 1
}

tb_ping() {
	local i
	for i in $(seq "${2:-50}"); do
		tb_cli ping -c1 -W1 -q "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

tb_mid_ipv6() {
	local fwd=1 nd
	[ "${1:-on}" = off ] && fwd=0
	TB_SIP6=fd77:1::1
	TB_CIP6=fd77:2::2
	# no DAD: the addresses are usable at once
	for nd in "$TB_SRV:$TB_SIF" "$TB_CLI:$TB_CIF" "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
		ip netns exec "${nd%%:*}" sysctl -qw "net.ipv6.conf.${nd#*:}.accept_dad=0" || return 1
	done
	ip netns exec "$TB_MID" sysctl -qw net.ipv6.conf.all.forwarding=$fwd &&
		ip -n "$TB_SRV" addr add "$TB_SIP6/64" dev "$TB_SIF" nodad &&
		ip -n "$TB_CLI" addr add "$TB_CIP6/64" dev "$TB_CIF" nodad &&
		ip -n "$TB_MID" addr add fd77:1::fe/64 dev "$TB_MIF_S" nodad &&
		ip -n "$TB_MID" addr add fd77:2::fe/64 dev "$TB_MIF_C" nodad &&
		ip -n "$TB_SRV" -6 route add fd77:2::/64 via fd77:1::fe &&
		ip -n "$TB_CLI" -6 route add fd77:1::/64 via fd77:2::fe
}

tb_mid_mtu() {
	local dv
	ip -n "$TB_MID" link set "$TB_MIF_C" mtu "$1" || return 1
	for dv in "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
		ip netns exec "${dv%%:*}" ethtool -K "${dv#*:}" tso off gso off gro off >/dev/null 2>&1
	done
	return 0
}

tb_serve_once() {
	local bin=$1 dir=$2 name=$3 port=$4 pid
	shift 4
	tb_srv env "$@" timeout 60 "$bin" -s "$port" >"$dir/$name.txt" 2>"$dir/$name.err" &
	pid=$!
	for _ in $(seq 100); do
		grep -q listening "$dir/$name.txt" 2>/dev/null && break
		sleep 0.1
	done
	tb_cli timeout 60 "$bin" -c "$TB_SIP" "$port" >"$dir/$name-cli.txt" 2>&1
	wait "$pid"
}

tb_mid_bridged() {
	local dv
	for dv in "$TB_SRV:$TB_SIF" "$TB_CLI:$TB_CIF" "$TB_MID:$TB_MIF_S" "$TB_MID:$TB_MIF_C"; do
		ip netns exec "${dv%%:*}" ethtool -K "${dv#*:}" tx off tso off gso off gro off \
			>/dev/null 2>&1
	done
	TB_SMAC=$(ip netns exec "$TB_SRV" cat "/sys/class/net/$TB_SIF/address")
	TB_CMAC=$(ip netns exec "$TB_CLI" cat "/sys/class/net/$TB_CIF/address")
}
