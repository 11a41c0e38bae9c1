#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_DIR SECONDS - a bounded libFuzzer run over a copy
# of the seed corpus (new inputs go to a scratch dir, never into the repo).
# Prints "1 passed, 0 failed" or "0 passed, 1 failed"; crash files are kept
# in the scratch dir, whose path is printed.
set -u
# shellcheck source=../check.sh
. "$(dirname "$0")/../check.sh"
fuzzer=$(realpath "$1") seeds=$(realpath "$2") secs=${3:-60}
work=$(mktemp -d /tmp/xtcp-fuzz.XXXXXX)
mkdir -p "$work/corpus"
cd "$work" || fatal "cannot enter $work"
if "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	-print_final_stats=1 "$work/corpus" "$seeds" >"$work/log" 2>&1; then
	tail -n 12 "$work/log"
	ok "$secs s of libFuzzer"
	rm -rf "$work"
else
	tail -n 60 "$work/log"
	bad "libFuzzer found a failure, kept in $work"
fi
check_done
