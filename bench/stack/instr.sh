#!/usr/bin/env bash
# instr.sh BUILD_DIR - instructions per short connection and per bulk byte of
# the stack micro-benchmark (both stacks + the in-memory link + the loop).
# Uses `perf stat -e instructions` where the CPU exposes the counter, else
# valgrind's callgrind. Two runs of different sizes are subtracted, so the
# set-up (stack_create, pools) cancels out.
set -eu
bench=$(cd "${1:?usage: instr.sh BUILD_DIR}" && pwd)/bench/stack/stack_bench
[ -x "$bench" ] || { echo "instr.sh: $bench not built" >&2; exit 1; }

count() { # count ARGS... -> instructions of one run
	if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then
		perf stat -x, -e instructions "$bench" "$@" 2>&1 >/dev/null | awk -F, '/instructions/ {print $1}'
	else
		local f
		f=$(mktemp)
		valgrind --tool=callgrind --callgrind-out-file="$f" "$bench" "$@" 2>&1 |
			awk '/Collected/ {print $NF}'
		rm -f "$f"
	fi
}
if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then tool=perf; else tool=callgrind; fi
c1=$(count conn 2000 64)
c2=$(count conn 6000 64)
b1=$(count bulk 64)
b2=$(count bulk 192)
echo "counter: $tool"
echo "instructions per connection: $(((c2 - c1) / 4000)) (open, 64 B request, 64 B reply, close; both ends)"
echo "instructions per bulk byte: $(awk -v a="$b1" -v b="$b2" 'BEGIN {printf "%.2f", (b - a) / (128 * 1048576)}') (x 1448 = $(((b2 - b1) / (128 * 1048576 / 1448))) per full segment, both ends)"
