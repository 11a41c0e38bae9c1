#!/usr/bin/env bash
# bench/demo.sh - the main job in one command, on a fresh Debian 12 machine (root):
# installs what is missing (tests/deps.sh), builds (build/, Release), makes the
# two-namespace test bed, serves a 64-byte file and a 1 GB file with the
# unmodified Debian nginx under xtcp (LD_PRELOAD=build/libxtcp.so), loads it
# from the other namespace with ab, wrk, curl and a fixed-rate client, does the
# same with the same nginx on the kernel, and prints the comparison. ~2 min.
#
#   sudo bench/demo.sh [extra bench/run.sh options]
#
# The full benchmark (3 rounds, every workload, ~12 min) is bench/run.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/xtcp-demo.XXXXXX) || exit 1
echo "demo: results in $out (bench/run.sh keeps full runs in bench/results/)"
exec "$here/run.sh" --rounds 1 --duration 5 --idle 5 \
	--workloads ab50,ab1000,ka,cpu,rate,bulk,idle --out "$out" "$@"
