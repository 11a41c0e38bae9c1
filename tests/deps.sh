#!/usr/bin/env bash
# tests/deps.sh [PACKAGE...] - install the Debian 12 packages xtcp needs to
# build, test and benchmark, if any is missing. Idempotent; needs root only
# when installing. With arguments, only those: the optional packages a single
# test needs (postgresql, openssh-server), installed on demand by that test.
set -euo pipefail
pkgs=("$@")
[ $# -gt 0 ] || pkgs=(build-essential cmake pkg-config clang llvm libclang-rt-14-dev clang-format cppcheck ncat vsftpd
	libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev zlib1g-dev
	iproute2 iputils-ping ethtool procps psmisc
	nginx curl apache2-utils wrk tcpdump gnuplot-nox linux-perf)
# Arguments: further packages a caller needs (bench/run.sh: memcached's).
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages and not root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Debian would start nginx on install; the tests run their own, so forbid
# service starts for the duration (policy-rc.d exit 101), unless one exists.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e $policy ]; then
	printf '#!/bin/sh\nexit 101\n' >$policy
	chmod +x $policy
	own_policy=1
fi
apt-get update -q >/dev/null || true
rc=0
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ $own_policy = 1 ] && rm -f $policy
exit $rc
