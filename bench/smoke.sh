#!/usr/bin/env bash
# bench/smoke.sh [BUILD_DIR] - ctest "bench_smoke" (label integration): runs the
# harness (bench/run.sh) for one short round with kernel nginx on both kernel
# sides, then checks that every workload served and that its figures were
# parsed, summarised and plotted. About 30 s. Needs root (exit 77 otherwise).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
# shellcheck source=../tests/check.sh
. "$here/../tests/check.sh"
need_root
out=$(mktemp -d /tmp/xtcp-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
# metric WORKLOAD SIDE METRIC -> value (round 1)
metric() { awk -F, -v w="$1" -v s="$2" -v m="$3" '$3 == w && $2 == s && $4 == m {print $5; exit}' "$out/runs.csv"; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "" && a + 0 > b + 0)}'; }

check "run.sh rejects an unknown side" sh -c "! '$here/run.sh' --no-build --sides nosuch >/dev/null 2>&1"
check "run.sh rejects a bad duration" sh -c "! '$here/run.sh' --no-build --duration x >/dev/null 2>&1"

wl=ab50,ka,cpu,min10,minka,rate,bulk,idle
"$here/run.sh" --no-build --build "$build" --sides kernel,kernel-txoff --rounds 1 \
	--duration 1 --idle 1 --bulk-mb 128 --workloads $wl --out "$out" >"$out/stdout.txt" 2>&1
rc=$?
check "run.sh exits 0" test $rc = 0
[ $rc = 0 ] || tail -n 30 "$out/stdout.txt"
for side in kernel kernel-txoff; do
	for w in ${wl//,/ }; do
		check "$side $w served" test "$(metric $w $side ok)" = 1
	done
	for w in ab50 ka cpu min10 minka rate; do
		check "$side $w requests/s > 100" gt "$(metric $w $side rps)" 100
		check "$side $w server-core CPU per request measured" \
			gt "$(metric $w $side srv_core_cpu_s_per_kreq)" 0
	done
	check "$side ka no failed requests" test "$(metric ka $side failed)" = 0
	check "$side ka latency p99 >= p50 > 0" gt "$(metric ka $side lat_p99_ms)" 0
	check "$side minka context switches per request measured" \
		test -n "$(metric minka $side srv_cs_per_req)"
	check "$side ka about 2 packets per keep-alive request" \
		awk -v p="$(metric ka $side pkts_per_req)" 'BEGIN {exit !(p >= 1.5 && p <= 3)}'
	check "$side ab50 kernel accepted about one connection per request" awk \
		-v a="$(metric ab50 $side kernel_accepts)" -v r="$(metric ab50 $side requests)" \
		'BEGIN {exit !(a >= r && a <= r + 100)}'
	check "$side bulk > 0.1 Gbit/s" gt "$(metric bulk $side gbps)" 0.1
	check "$side idle measured" test -n "$(metric idle $side srv_proc_pct_core)"
done
check "table has the ratio column" grep -q "kernel-txoff/kernel" "$out/table.txt"
check "summary.csv has ratios" awk -F, '$1 == "ka" && $2 == "rps" && $5 > 0 {f = 1} END {exit !f}' \
	"$out/summary.csv"
check "meta.json records kernel and commit" grep -q '"kernel": ".\+"' "$out/meta.json"
if command -v gnuplot >/dev/null; then
	check "plot.png written" test -s "$out/plot.png"
fi
check_done
