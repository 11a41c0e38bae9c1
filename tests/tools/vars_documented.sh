#!/usr/bin/env bash
# vars_documented.sh SOURCE_DIR BUILD_DIR - every XTCP_* variable the library
# reads (preload/, xsk/, stack/, xsk/protect_cfg.c) has a launcher option
# (xtcp --help), an entry in xtcp(7) and a row in docs/configuration.md; and the launcher
# has no option for a variable the library does not read. Prints "N passed, N failed".
set -u
src=${1:?usage: vars_documented.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: vars_documented.sh SOURCE_DIR BUILD_DIR}
pass=0
fail=0
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}
vars=$(grep -rhoE '"XTCP_[A-Z0-9_]+"' "$src/preload" "$src/xsk" "$src/stack" \
	"$src/xsk/protect_cfg.c" | tr -d '"' | sort -u)
help=$("$build/xtcp" --help)
check "the library reads some XTCP_* variables ($(echo "$vars" | wc -l))" [ -n "$vars" ]
for v in $vars; do
	check "$v: an option in xtcp --help" grep -qw -- "$v" <<<"$help"
	check "$v: in xtcp(7)" grep -q "^\.B $v\$" "$src/docs/man/xtcp.7"
	check "$v: in docs/configuration.md" grep -q "\`$v\`" "$src/docs/configuration.md"
done
for v in $(grep -oE 'XTCP_[A-Z0-9_]+' <<<"$help" | sort -u); do
	check "launcher option for $v, which the library reads" grep -qx -- "$v" <<<"$vars"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
