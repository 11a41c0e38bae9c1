#!/usr/bin/env bash
# tests/run.sh - the whole test suite, from a clean clone on Debian 12.
#
#   tests/run.sh            install what is missing, build, run unit + fuzz + lint + integration
#   tests/run.sh unit       only one label (unit | fuzz | lint | integration)
#
# Two builds: build-asan/ (clang, ASan+UBSan, libFuzzer) for unit and fuzz
# tests, build/ (Release) for the integration tests, which LD_PRELOAD the
# library into real programs, and for lint (clang-format, cppcheck: no build
# output needed). Integration tests need root; under CI=true a test that
# skips (exit 77) counts as a failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
labels=${1:-"unit fuzz lint integration"}

"$top/tests/deps.sh"

jobs=$(nproc)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	-DXTCP_SANITIZE=ON -DXTCP_FUZZ=ON -DXTCP_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXTCP_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
[ "${CI:-}" = true ] && export XTCP_TEST_NO_SKIP=1

status=0
log=$(mktemp)
for label in $labels; do
	case $label in
	unit | fuzz) dir=build-asan ;;
	lint | integration) dir=build ;;
	*) echo "unknown label $label (unit | fuzz | lint | integration)" >&2; exit 2 ;;
	esac
	echo "=== ctest -L $label ($dir)"
	if ! ctest --test-dir "$dir" -L "^$label\$" --output-on-failure --timeout 900 | tee "$log"; then
		status=1
	fi
	if grep -q "No tests were found" "$log"; then
		echo "no $label tests found" >&2
		status=1
	fi
	if [ "${CI:-}" = true ] && grep -Eq '\*\*\*Skipped|Not Run' "$log"; then
		echo "skipped tests count as failures under CI=true" >&2
		status=1
	fi
done
rm -f "$log"
exit $status
