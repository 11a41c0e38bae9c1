#!/usr/bin/env bash
# lint.sh [SOURCE_DIR] - the house habits as a test (ctest label lint):
#   clang-format --dry-run -Werror over every C source and header of the project
#     (the files git tracks or would track: no build dirs, no generated
#     skeletons), as the root's .clang-format says;
#   cppcheck over the product code (stack/ xsk/ preload/ tools/, with bpf/'s
#     user-space headers) with the checks of cppcheck.supp turned off, each
#     for the reason written there.
# Files listed in format_pending.txt are being rewritten elsewhere: they are
# named, not failed, until they are formatted, and then the list must lose them.
# A missing tool fails (tests/deps.sh installs both): a lint that cannot run
# must not pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "${1:-$here/../..}" && pwd)
# shellcheck source=../check.sh
. "$here/../check.sh"
cd "$top" || fatal "no source dir $top"
for tool in clang-format cppcheck; do
	command -v $tool >/dev/null || fatal "$tool missing (tests/deps.sh installs it)"
done
git rev-parse --git-dir >/dev/null 2>&1 || fatal "$top is not a git checkout"

mapfile -t pending < <(grep -v '^#' "$here/format_pending.txt" | grep .)
srcs=()
while read -r f; do
	[ -f "$f" ] || continue # deleted in the working tree
	case " ${pending[*]} " in *" $f "*) continue ;; esac
	srcs+=("$f")
done < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
check "clang-format: ${#srcs[@]} C files as .clang-format says" \
	clang-format --dry-run -Werror "${srcs[@]}"
for f in "${pending[@]}"; do
	if clang-format --dry-run -Werror "$f" 2>/dev/null; then
		bad "$f is formatted now: remove it from tests/lint/format_pending.txt"
	else
		echo "pending: $f is not formatted yet (tests/lint/format_pending.txt)"
	fi
done

check "cppcheck: stack/ xsk/ preload/ tools/" \
	cppcheck --quiet --std=c11 --enable=warning,style,portability,performance \
	--error-exitcode=1 --suppressions-list="$here/cppcheck.supp" \
	--template='{file}:{line}: {severity} ({id}): {message}' \
	-D_GNU_SOURCE -Istack -Ixsk -Ipreload -Itools -Ibpf stack xsk preload tools
check_done
