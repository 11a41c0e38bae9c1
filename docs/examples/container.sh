#!/bin/sh
# container.sh - a network namespace set up the way a container runtime (runc,
# Docker, Podman) sets one up, for running a server on xtcp inside it:
#
#   container.sh up NAME HOST_NS HOST_ADDR/LEN CONT_ADDR/LEN [GATEWAY]
#   container.sh run NAME COMMAND [ARGS...]
#   container.sh down NAME
#
# up: namespace NAME with lo and eth0, one end of a veth pair with one RX and
# one TX queue (what runtimes create); the other end, NAME-h, lives in HOST_NS
# ("-": this namespace, i.e. the host) with HOST_ADDR, its checksum offload
# left as the kernel sets it (on: the host kernel sends TCP with a partial
# checksum, as it does to a real container). GATEWAY adds a default route in
# the container, as runtimes do (leave it out in test beds).
#
# run: COMMAND in NAME with a container's capability set: Docker's default
# set plus what xtcp needs, CAP_NET_ADMIN (attach XDP, AF_XDP), CAP_SYS_ADMIN
# (load the program and find its maps by id: flood protection, xtcpctl) and
# CAP_IPC_LOCK (register the UMEM, 16 MiB per queue by default, above the
# usual locked-memory limit). The Docker equivalent:
#   docker run --cap-add NET_ADMIN --cap-add SYS_ADMIN --cap-add IPC_LOCK ...
# Without CAP_SYS_ADMIN, CAP_BPF + CAP_PERFMON also serve, but the flood
# protection stays unconfigured. bpffs is not mounted (runtimes do not).
set -eu
DOCKER_CAPS=chown,dac_override,fsetid,fowner,mknod,net_raw,setgid,setuid,setfcap,setpcap,net_bind_service,sys_chroot,kill,audit_write
XTCP_CAPS=net_admin,sys_admin,ipc_lock

usage() {
	sed -n '2,9p' "$0" >&2
	exit 2
}

cmd=${1:-}
[ $# -ge 2 ] || usage
name=$2
case $cmd in
up)
	[ $# -ge 5 ] || usage
	host_ns=$3
	host_addr=$4
	cont_addr=$5
	gw=${6:-}
	ip netns add "$name"
	ip -n "$name" link set lo up
	if [ "$host_ns" = - ]; then
		ip link add "$name-h" numtxqueues 1 numrxqueues 1 type veth peer name "$name-c" \
			netns "$name" numtxqueues 1 numrxqueues 1
		ip addr add "$host_addr" dev "$name-h"
		ip link set "$name-h" up
	else
		ip -n "$host_ns" link add "$name-h" numtxqueues 1 numrxqueues 1 type veth \
			peer name "$name-c" netns "$name" numtxqueues 1 numrxqueues 1
		ip -n "$host_ns" addr add "$host_addr" dev "$name-h"
		ip -n "$host_ns" link set "$name-h" up
	fi
	ip -n "$name" link set "$name-c" name eth0
	ip -n "$name" addr add "$cont_addr" dev eth0
	ip -n "$name" link set eth0 up
	[ -z "$gw" ] || ip -n "$name" route add default via "$gw"
	;;
run)
	shift 2
	[ $# -ge 1 ] || usage
	caps=-all
	for c in $(echo "$DOCKER_CAPS,$XTCP_CAPS" | tr , ' '); do
		caps="$caps,+$c"
	done
	exec ip netns exec "$name" setpriv --bounding-set "$caps" --inh-caps -all -- "$@"
	;;
down)
	ip netns del "$name"
	;;
*)
	usage
	;;
esac
