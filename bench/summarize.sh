#!/usr/bin/env bash
# bench/summarize.sh DIR - medians and ratios of a bench/run.sh raw results
# directory: prints the summary (also DIR/table.txt: the run's settings, the
# table, the stack micro-benchmark's last lines and the profiles' top symbols),
# writes DIR/summary.csv and, if gnuplot is installed, DIR/plot.png. Can be
# re-run on an old DIR. bench/run.sh copies DIR/table.txt to
# bench/results/<run>.txt, the one file of a run that git keeps.
#
# Input: DIR/runs.csv (round,side,workload,metric,value), DIR/meta.json.
# The first side in meta.json's "sides" is the reference: ratio = side2/side1.
set -uo pipefail
dir=${1:-}
[ -n "$dir" ] && [ -f "$dir/runs.csv" ] || {
	echo "usage: bench/summarize.sh RESULTS_DIR (holding runs.csv and meta.json)" >&2
	exit 2
}
sides=$(sed -n 's/.*"sides": "\(.*\)".*/\1/p' "$dir/meta.json" 2>/dev/null)
[ -n "$sides" ] || sides=$(awk -F, 'NR > 1 && !seen[$2]++ {printf "%s%s", n++ ? "," : "", $2}' "$dir/runs.csv")

awk -F, -v sides="$sides" -v dir="$dir" '
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function tgt(wl, met, op, lim, what,    a, b, r, ok, res) {
	a = plotv[wl, met, 1]; b = plotv[wl, met, 2]
	if (a == "" || b == "" || a == 0) return
	r = b / a
	ok = op == "le" ? r <= lim : r >= lim
	res = ok ? "met" : "MISSED"
	printf "  %-8s %-34s %9.2fx  %s\n", wl, what, r, res > table
}
function absl(wl, met, op, lim, what,    v, ok, res) {
	v = plotv[wl, met, 2]
	if (v == "") return
	ok = op == "eq" ? v == lim : op == "ge" ? v >= lim : v < lim
	res = ok ? "met" : "MISSED"
	printf "  %-8s %-34s %10s  %s\n", wl, what, v, res > table
}
function fmt(x) {
	if (x == "") return "-"
	if (x == 0) return "0"
	if (x >= 1000) return sprintf("%.0f", x)
	if (x >= 10) return sprintf("%.1f", x)
	if (x >= 1) return sprintf("%.2f", x)
	return sprintf("%.4f", x)
}
NR > 1 {
	key = $3 SUBSEP $4 SUBSEP $2
	cnt[key]++
	val[key, cnt[key]] = $5
	if ($4 == "ok") { runs[$3, $2]++; if ($5 == 1) oks[$3, $2]++ }
}
END {
	ns = split(sides, S, ",")
	nw = split("ab50 ab1000 ab4000 ka kax cpu min10 minka mc rate bulk idle", W, " ")
	title["ab50"] = "ab HTTP/1.0 64 B, -c 50"
	title["ab1000"] = "ab HTTP/1.0 64 B, -c 1000"
	title["ab4000"] = "ab HTTP/1.0 64 B, -c 4000"
	title["ka"] = "wrk keep-alive 64 B, -c 100"
	title["kax"] = "same, wrk itself under xtcp"
	title["cpu"] = "cpuserver (fixed CPU/request), wrk -c 100"
	title["min10"] = "minimal server, ab HTTP/1.0 -c 50"
	title["minka"] = "minimal server, wrk keep-alive -c 100"
	title["mc"] = "memcached, memcaslap -c 128"
	title["rate"] = "fixed rate (open loop), keep-alive 64 B"
	title["bulk"] = "bulk download, one connection"
	title["idle"] = "idle server"
	load = "rps failed lat_p50_ms lat_p99_ms srv_cpu_s_per_kreq srv_core_cpu_s_per_kreq srv_proc_cpu_s_per_kreq srv_proc_user_s_per_kreq mach_cpu_s_per_kreq srv_core_busy_pct cli_core_busy_pct pkts_per_req srv_cs_per_req kernel_accepts"
	M["ab50"] = M["ab1000"] = M["ab4000"] = M["ka"] = M["kax"] = M["cpu"] = load
	M["min10"] = M["minka"] = M["mc"] = load
	M["rate"] = "target_rps rps failed lat_p50_ms lat_p99_ms lat_p999_ms srv_cpu_s_per_kreq srv_core_cpu_s_per_kreq srv_proc_cpu_s_per_kreq"
	M["bulk"] = "gbps srv_cpu_s_per_gb srv_proc_cpu_s_per_gb srv_core_busy_pct cli_core_busy_pct"
	M["idle"] = "srv_proc_pct_core srv_core_busy_pct"
	label["rps"] = "requests/s"; label["failed"] = "failed requests"
	label["target_rps"] = "target requests/s"
	label["lat_p50_ms"] = "latency p50 ms"; label["lat_p99_ms"] = "latency p99 ms"
	label["lat_p999_ms"] = "latency p99.9 ms"
	label["srv_cpu_s_per_kreq"] = "server+NAPI CPU s/1k req"
	label["srv_core_cpu_s_per_kreq"] = "server core CPU s/1k req"
	label["srv_proc_cpu_s_per_kreq"] = "server proc CPU s/1k req"
	label["srv_proc_user_s_per_kreq"] = "  of which user s/1k req"
	label["srv_cpu_s_per_gb"] = "server+NAPI CPU s/GB"
	label["mach_cpu_s_per_kreq"] = "machine CPU s/1k req"
	label["srv_core_busy_pct"] = "server core busy %"
	label["cli_core_busy_pct"] = "client core busy %"
	label["pkts_per_req"] = "packets/request"
	label["srv_cs_per_req"] = "server+NAPI switches/req"
	label["kernel_accepts"] = "kernel accepts (xtcp: 0)"
	label["gbps"] = "Gbit/s"; label["srv_proc_cpu_s_per_gb"] = "server proc CPU s/GB"
	label["srv_proc_pct_core"] = "server proc % of a core"

	table = dir "/table.txt"; csv = dir "/summary.csv"
	hdr = sprintf("%-28s", "median of rounds")
	chdr = "workload,metric"
	for (s = 1; s <= ns; s++) { hdr = hdr sprintf(" %13s", S[s]); chdr = chdr "," S[s] }
	if (ns >= 2) { hdr = hdr sprintf(" %13s", S[2] "/" S[1]); chdr = chdr ",ratio" }
	print chdr > csv
	print hdr > table
	for (w = 1; w <= nw; w++) {
		wl = W[w]
		any = 0
		for (s = 1; s <= ns; s++) if (runs[wl, S[s]]) any = 1
		if (!any) continue
		line = sprintf("%-28s", "[" wl "] " title[wl])
		okl = sprintf("%-28s", "  runs ok")
		for (s = 1; s <= ns; s++) okl = okl sprintf(" %13s", (oks[wl, S[s]] + 0) "/" (runs[wl, S[s]] + 0))
		print line > table
		print okl > table
		nm = split(M[wl], MM, " ")
		for (m = 1; m <= nm; m++) {
			met = MM[m]
			have = 0
			for (s = 1; s <= ns; s++) { med[s] = median(wl SUBSEP met SUBSEP S[s]); if (med[s] != "") have = 1 }
			if (!have) continue
			row = sprintf("  %-26s", label[met])
			crow = wl "," met
			for (s = 1; s <= ns; s++) { row = row sprintf(" %13s", fmt(med[s])); crow = crow "," med[s] }
			if (ns >= 2) {
				r = (med[1] != "" && med[2] != "" && med[1] != 0) ? sprintf("%.2f", med[2] / med[1]) : ""
				row = row sprintf(" %13s", r == "" ? "-" : r "x")
				crow = crow "," r
			}
			print row > table
			print crow > csv
			for (s = 1; s <= ns; s++) plotv[wl, met, s] = med[s]
		}
	}
	# The targets set for xtcp against the kernel (bench/README.md),
	# when the sides are kernel then xtcp.
	if (ns >= 2 && S[1] == "kernel" && S[2] == "xtcp") {
		print "" > table
		print "targets (xtcp vs kernel, medians)" > table
		tgt("ab50", "srv_cpu_s_per_kreq", "le", 0.5, "server CPU per request <= 0.5x")
		tgt("ab50", "rps", "ge", 1.5, "requests/s >= 1.5x")
		tgt("ka", "srv_cpu_s_per_kreq", "le", 0.5, "server CPU per request <= 0.5x")
		tgt("ka", "rps", "ge", 2.0, "requests/s >= 2.0x")
		tgt("min10", "srv_cpu_s_per_kreq", "le", 0.7, "server CPU per request <= 0.7x")
		tgt("minka", "srv_cpu_s_per_kreq", "le", 0.6, "server CPU per request <= 0.6x")
		tgt("minka", "lat_p99_ms", "le", 1, "latency p99 <= 1x")
		tgt("mc", "rps", "ge", 1.2, "requests/s >= 1.2x")
		tgt("bulk", "gbps", "ge", 1, "Gbit/s >= 1x")
		tgt("bulk", "srv_cpu_s_per_gb", "le", 1, "server+NAPI CPU per GB <= 1x")
		absl("ab50", "failed", "eq", 0, "zero failures (xtcp)")
		absl("ab1000", "failed", "eq", 0, "zero failures (xtcp)")
		absl("ab4000", "failed", "eq", 0, "zero failures (xtcp)")
		absl("idle", "srv_proc_pct_core", "lt", 0.5, "< 0.5% of a core (xtcp)")
		tgt("rate", "lat_p99_ms", "le", 1, "latency p99 <= 1x")
	}
	# Plot data: one row per workload, one column per side ("?" = missing).
	split("rps srv_cpu_s_per_kreq lat_p99_ms", P, " ")
	for (p = 1; p <= 3; p++) {
		f = dir "/plot-" P[p] ".dat"
		printf "" > f
		for (w = 1; w <= nw; w++) {
			if (W[w] == "bulk" || W[w] == "idle") continue
			row = W[w]
			for (s = 1; s <= ns; s++) {
				v = plotv[W[w], P[p], s]
				if (v != "" && P[p] == "srv_cpu_s_per_kreq") v = v * 1000
				row = row " " (v == "" ? "?" : v)
			}
			print row > f
		}
		close(f)
	}
	f = dir "/plot-other.dat"
	printf "" > f
	row1 = "bulk-Gbit/s"; row2 = "idle-%-of-a-core"
	for (s = 1; s <= ns; s++) {
		v = plotv["bulk", "gbps", s]; row1 = row1 " " (v == "" ? "?" : v)
		v = plotv["idle", "srv_proc_pct_core", s]; row2 = row2 " " (v == "" ? "?" : v)
	}
	print row1 > f
	print row2 > f
	close(f)
}' "$dir/runs.csv"

{
	sed -n 's/^  "\(date\|commit\|kernel\|cpu\|cpus\|nginx\|rounds\|duration_s\|busy_before_pct\|napi_defer\|busy_poll\|client_csum\|bulk_kernel_tso\)": \(.*\),$/\1=\2/p' \
		"$dir/meta.json" | tr -d '"' | tr '\n' ' '
	echo
	cat "$dir/table.txt"
	echo "ms of CPU per 1,000 requests = us per request; server core = core $(sed -n \
		's/.*"server_core": \([0-9]*\).*/\1/p' "$dir/meta.json"), from /proc/stat"
	if [ -s "$dir/stack.txt" ]; then
		echo
		echo "stack micro-benchmark (bench/stack), last lines of stack.txt:"
		tail -n 12 "$dir/stack.txt"
	fi
	for f in "$dir"/perf/*.txt; do
		[ -s "$f" ] || continue
		case $f in *.strace.txt | *.count.txt) continue ;; esac
		echo
		echo "profile $(basename "$f" .txt) (server's tasks, top symbols of perf/$(basename "$f")):"
		grep -E '^ +[0-9.]+%' "$f" | head -n 8 | sed 's/[[:space:]]*$//'
	done
} | tee "$dir/table.full.txt"
mv "$dir/table.full.txt" "$dir/table.txt"

command -v gnuplot >/dev/null || {
	echo "gnuplot not installed: no plot" >&2
	exit 0
}
IFS=, read -r -a S <<<"$sides"
plotcols() { # FILE: one clustered-bar column per side
	local i cmd=""
	for i in "${!S[@]}"; do
		[ -n "$cmd" ] && cmd="$cmd, "
		if [ "$i" = 0 ]; then
			cmd="${cmd}'$1' using $((i + 2)):xtic(1) title '${S[$i]}'"
		else
			cmd="${cmd}'' using $((i + 2)) title '${S[$i]}'"
		fi
	done
	echo "$cmd"
}
panel() { # FILE TITLE: the gnuplot lines of one panel (placeholder if nothing measured)
	if awk '{for (i = 2; i <= NF; i++) if ($i != "?") f = 1} END {exit !f}' "$1"; then
		echo "set title \"$2\""
		echo "plot $(plotcols "$1")"
	else
		echo "set title \"$2: not measured\""
		echo "plot [0:1] [1:10] NaN notitle" # [1:10]: valid on a log scale too
	fi
}
commit=$(sed -n 's/.*"commit": "\(.*\)".*/\1/p' "$dir/meta.json")
gnuplot <<EOF 2>"$dir/gnuplot.log" || echo "gnuplot failed (see $dir/gnuplot.log)" >&2
set terminal pngcairo size 1400,900 font ",10"
set output '$dir/plot.png'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set offsets 0, 0, graph 0.15, 0
set yrange [0:*]
set multiplot layout 2,2 title "xtcp bench $commit: median of rounds (${sides//,/ vs })"
$(panel "$dir/plot-rps.dat" "requests/s (higher is better)")
$(panel "$dir/plot-srv_cpu_s_per_kreq.dat" "server CPU (processes + receive NAPI thread) us per request (lower is better)")
set logscale y
set yrange [*:*]
$(panel "$dir/plot-lat_p99_ms.dat" "latency p99 ms, log scale (lower is better)")
unset logscale y
set yrange [0:*]
$(panel "$dir/plot-other.dat" "bulk Gbit/s (higher is better), idle server % of a core (lower is better)")
unset multiplot
EOF
[ -s "$dir/plot.png" ] && echo "plot: $dir/plot.png"
exit 0
