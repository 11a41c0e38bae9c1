#!/usr/bin/env bash
# posix_run.sh BUILD_DIR [kernel|preload|client|localcsum|ipv6|mapped]
#
# Runs posix_cli (client namespace) against posix_srv (server namespace) in
# the test bed, once per server shape (block, thread, epoll).
#   kernel   the server on the kernel: every case must pass
#   preload  the same, then again with the server under
#            LD_PRELOAD=BUILD_DIR/libxtcp.so XTCP_IFACE=veth0 XTCP_PORTS=<port>;
#            the client's output must be identical to the kernel run's, and
#            the server namespace's kernel must accept no connection (nstat)
#   client   the same, with the CLIENT under LD_PRELOAD (XTCP_IFACE=veth1
#            XTCP_CONNECT_PORTS=<port>) and the server on the kernel
#   localcsum  as preload, but the client keeps its kernel's default
#            checksum offload (TB_CLIENT_TXCSUM=on: it sends CHECKSUM_PARTIAL
#            segments over the veth); xtcp must count the unfinished
#            checksums it took (xtcpctl). And xtcp's own checksums are
#            finished by the kernel (AF_XDP TX metadata): with the server
#            veth's tx offload off, the kernel completes them in software,
#            the client verifies them (TcpInCsumErrors must not move)
#   ipv6     as preload, over IPv6: the server an AF_INET6 socket on [::]
#            (dual-stack), the client an AF_INET6 one to fd77:1::1
#   mapped   as preload, the server on [::] (dual-stack), the client IPv4:
#            the server's connections are v4-mapped AF_INET6 ones
# Needs root (network namespaces): otherwise exits 77, or 1 when
# XTCP_TEST_NO_SKIP=1. Prints "N passed, N failed" (one per run and shape).
set -u
build=$(cd "${1:?usage: posix_run.sh BUILD_DIR [kernel|preload]}" && pwd)
variant=${2:-kernel}
here=$(cd "$(dirname "$0")" && pwd)
srv=$build/tests/shim/posix_srv
cli=$build/tests/shim/posix_cli
lib=$build/libxtcp.so

# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
need_built "$srv" "$cli"
[ "$variant" != kernel ] && need_built "$lib"

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
[ "$variant" = localcsum ] && export TB_CLIENT_TXCSUM=on
tb_up || fatal "test bed failed"
out=$(mktemp -d /tmp/xtcp-posix.XXXXXX)

# run_one NAME MODE PORT [env assignments...]: client output in $out/NAME-MODE.txt
# (the assignments go to the server, or to the client when CLIENT_ENV=1)
run_one() {
	local name=$1 mode=$2 port=$3 pid i rc
	local -a senv=() cenv=()
	shift 3
	if [ "${CLIENT_ENV:-0}" = 1 ]; then cenv=("$@"); else senv=("$@"); fi
	# As tb_srv does (bpffs for the shim), but without a function in the
	# background: $! must be the server itself so that kill stops it.
	ip netns exec "$TB_SRV" sh -c 'mountpoint -q /sys/fs/bpf ||
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@"' tb \
		env "${senv[@]}" "$srv" -m "$mode" -p "$port" ${SRV_ADDR:+-a "$SRV_ADDR"} \
		>"$out/srv-$name-$mode.log" 2>&1 &
	pid=$!
	for i in $(seq 100); do
		grep -q listening "$out/srv-$name-$mode.log" 2>/dev/null && break
		sleep 0.1
	done
	# stderr apart: the shim's own notices must not count as a difference
	tb_cli env "${cenv[@]}" timeout 320 "$cli" -a "${CLI_ADDR:-$TB_SIP}" -p "$port" -m "$mode" \
		>"$out/$name-$mode.txt" 2>"$out/$name-$mode.err"
	rc=$?
	# The server's counters while it still runs (its stats file goes at exit).
	[ "$name" = preload ] &&
		ip netns exec "$TB_SRV" "$build/xtcpctl" --json status >"$out/stats-$mode.json" 2>&1
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sed "s/^/  [$name $mode] /" "$out/$name-$mode.txt"
	sed "s/^/  [$name $mode stderr] /" "$out/$name-$mode.err"
	return $rc
}

# Connections the server namespace's kernel accepted so far.
passive_opens() {
	ip netns exec "$TB_SRV" nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'
}

# Segments with a bad checksum the client namespace's kernel received so far.
csum_errors() {
	ip netns exec "$TB_CLI" nstat -az TcpInCsumErrors | awk '/TcpInCsumErrors/ {print $2}'
}

# Connections the client namespace's kernel opened so far.
active_opens() {
	ip netns exec "$TB_CLI" nstat -az TcpActiveOpens | awk '/TcpActiveOpens/ {print $2}'
}
case $variant in
ipv6) SRV_ADDR=:: CLI_ADDR=$TB_SIP6 ;;
mapped) SRV_ADDR=:: ;;
esac
# xtcp as the client: the kernel server's replies must carry finished checksums.
[ "$variant" = client ] && ip netns exec "$TB_SRV" ethtool -K "$TB_SIF" tx off >/dev/null
# xtcp's TX checksum requests must be finished by the kernel, and checked by the client.
[ "$variant" = localcsum ] && ip netns exec "$TB_SRV" ethtool -K "$TB_SIF" tx off >/dev/null

port=7100
for mode in block thread epoll; do
	port=$((port + 1))
	k0=$(passive_opens)
	if run_one kernel "$mode" "$port" && [ "$(passive_opens)" -gt "$k0" ]; then
		ok "kernel $mode"
	else
		bad "kernel $mode (server log: $out/srv-kernel-$mode.log)"
	fi
	if [ "$variant" = client ]; then
		port=$((port + 1))
		c0=$(active_opens)
		# Not XTCP_STRICT: peerdeath's forked child finds no free queue (one
		# queue, held by the parent) and must go on through the kernel.
		CLIENT_ENV=1 run_one client "$mode" "$port" LD_PRELOAD="$lib" XTCP_IFACE="$TB_CIF" \
			XTCP_CONNECT_PORTS="$port"
		c1=$(active_opens)
		# peerdeath's forked child may fall back to the kernel (one queue): at most 1
		if [ $((c1 - c0)) -gt 1 ]; then
			bad "client $mode: the client's kernel made $((c1 - c0)) connections"
		elif diff -u "$out/kernel-$mode.txt" "$out/client-$mode.txt" >"$out/diff-$mode.txt"; then
			ok "client $mode"
		else
			bad "client $mode differs from the kernel run:"
			cat "$out/diff-$mode.txt"
		fi
		continue
	fi
	case $variant in preload | localcsum | ipv6 | mapped) ;; *) continue ;; esac
	port=$((port + 1))
	# Proof that xtcp served: the server namespace's kernel accepts nothing.
	k0=$(passive_opens)
	e0=$(csum_errors)
	run_one preload "$mode" "$port" LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS="$port" \
		XTCP_STRICT=1 XTCP_LOG=info
	k1=$(passive_opens)
	e1=$(csum_errors)
	partial=$(grep -o '"rx_csum_partial": *[0-9]*' "$out/stats-$mode.json" | grep -o '[0-9]*$')
	if [ "$k1" != "$k0" ]; then
		bad "preload $mode: the server's kernel accepted $((k1 - k0)) connections"
	elif [ "$variant" = localcsum ] && [ "${partial:-0}" -eq 0 ]; then
		bad "localcsum $mode: xtcp counted no unfinished checksum (${partial:-none})"
	elif [ "$variant" = localcsum ] && ! grep -q "TCP checksums finished by the kernel" \
		"$out/srv-preload-$mode.log"; then
		bad "localcsum $mode: no transmit checksum offload (server log)"
	elif [ "$e1" != "$e0" ]; then
		bad "preload $mode: the client's kernel saw $((e1 - e0)) bad checksums"
	elif diff -u "$out/kernel-$mode.txt" "$out/preload-$mode.txt" >"$out/diff-$mode.txt"; then
		ok "preload $mode"
	else
		bad "preload $mode differs from the kernel run:"
		cat "$out/diff-$mode.txt"
	fi
done
[ "$variant" = localcsum ] && echo "segments taken with unfinished checksums, last run: ${partial:-?}"
[ $fail = 0 ] && rm -rf "$out"
check_done
