#!/usr/bin/env bash
# shim_sshd.sh BUILD_DIR - Debian's OpenSSH server with its port served by
# xtcp in the test bed: sshd -D with a temporary host key and configuration,
# a test user (xtcpssh, made on demand, key login only). sshd forks a child
# per connection that re-execs sshd with the socket on fds 0 and 1: the
# connection becomes a kernel socket at the fork and stays one across exec.
# Root; installs openssh-server on demand (tests/deps.sh openssh-server);
# exits 77 when it cannot (1 with XTCP_TEST_NO_SKIP=1). "N passed, N failed".
#   login     ssh runs a command as the test user
#   upload    20 MB from /dev/urandom through ssh into sha256sum: intact
#   download  20 MB back with cat: intact
#   parallel  12 logins, 4 at a time
#   session   a session outlives the listener process (killed meanwhile)
#   kernel    the kernel accepted none (TcpPassiveOpens flat in the server
#             namespace); sshd's statistics count the connections handed to
#             the kernel at fork, none failed or left; no warning on stderr
set -u
build=$(cd "${1:?usage: shim_sshd.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$build/libxtcp.so
field=$build/tests/shim/shim_stats_field
user=xtcpssh
TEST_NAME=shim_sshd
# shellcheck source=../check.sh
. "$here/../check.sh"
need_root
[ -f "$lib" ] && [ -x "$field" ] || fatal "build first"
"$here/../deps.sh" openssh-server >/dev/null 2>&1 ||
	skip "openssh-server is not installed and could not be (tests/deps.sh openssh-server)"
[ -x /usr/sbin/sshd ] || skip "no /usr/sbin/sshd"
if ! id "$user" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent --shell /bin/sh "$user" ||
		fatal "cannot make the test user $user"
fi
usermod -p '*' "$user" # no password, but not locked: key login only

# shellcheck source=../testbed.sh
. "$here/../testbed.sh"
d=$(mktemp -d /tmp/xtcp-shim-sshd.XXXXXX)
chmod 755 "$d"
sp=""
cleanup() {
	[ -n "$sp" ] && kill "$sp" 2>/dev/null
	tb_down
	[ "${KEEP:-0}" = 1 ] || rm -rf "$d"
}
trap cleanup EXIT
tb_up 1 || fatal "test bed failed"
trap cleanup EXIT # tb_up set its own (tb_down only)
port=2222

ssh-keygen -q -t ed25519 -N '' -f "$d/host" && ssh-keygen -q -t ed25519 -N '' -f "$d/cli" ||
	fatal "ssh-keygen failed"
cp "$d/cli.pub" "$d/authorized_keys"
chmod 644 "$d/authorized_keys"
cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress $TB_SIP
HostKey $d/host
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers $user
MaxStartups 20
LogLevel VERBOSE
EOF
mkdir -p /run/sshd # privilege separation directory (the package's unit makes it)
/usr/sbin/sshd -t -f "$d/sshd_config" || fatal "sshd rejects the configuration"

passive_opens() { tb_srv nstat -az TcpPassiveOpens | awk '/TcpPassiveOpens/ {print $2}'; }
ssh_cmd=(ssh -i "$d/cli" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR -p "$port" "$user@$TB_SIP")

po0=$(passive_opens)
tb_srv env LD_PRELOAD="$lib" XTCP_IFACE="$TB_SIF" XTCP_PORTS=$port XTCP_LOG=info \
	timeout 120 /usr/sbin/sshd -D -e -f "$d/sshd_config" >"$d/sshd.log" 2>&1 &
sp=$!
for _ in $(seq 100); do # serving from its first look at the listener
	grep -q "serving $TB_SIF queue" "$d/sshd.log" && break
	sleep 0.1
done
check "sshd served by xtcp" grep -q "serving $TB_SIF queue" "$d/sshd.log"

# (stderr apart: the user's home does not exist, which sshd says there)
out=$(tb_cli timeout 30 "${ssh_cmd[@]}" 'echo "hello from $(id -un)"' 2>>"$d/ssh.err")
check "login: a command ran as $user ($out)" [ "$out" = "hello from $user" ]

head -c 20000000 /dev/urandom >"$d/20m"
chmod 644 "$d/20m"
want=$(sha256sum <"$d/20m" | cut -d' ' -f1)
t0=$(date +%s%N)
got=$(tb_cli timeout 60 "${ssh_cmd[@]}" sha256sum <"$d/20m" 2>>"$d/ssh.err" | cut -d' ' -f1)
echo "upload: $((($(date +%s%N) - t0) / 1000000)) ms"
check "upload: 20 MB into sha256sum intact" [ "$got" = "$want" ]
t0=$(date +%s%N)
got=$(tb_cli timeout 60 "${ssh_cmd[@]}" cat "$d/20m" 2>>"$d/ssh.err" | sha256sum | cut -d' ' -f1)
echo "download: $((($(date +%s%N) - t0) / 1000000)) ms"
check "download: 20 MB back intact" [ "$got" = "$want" ]

t0=$(date +%s%N)
pids=()
for w in 1 2 3 4; do
	(
		for i in 1 2 3; do
			[ "$(tb_cli timeout 30 "${ssh_cmd[@]}" echo "$w.$i" 2>>"$d/ssh.err")" = "$w.$i" ] &&
				echo ok
		done
	) >"$d/par$w" &
	pids+=($!)
done
wait "${pids[@]}"
echo "parallel: $((($(date +%s%N) - t0) / 1000000)) ms"
okn=$(cat "$d"/par* | grep -c ok)
check "parallel: 12 logins, 4 at a time ($okn ok)" [ "$okn" = 12 ]

sleep 2.5 # forgotten TCBs end their grace period (2 s)
spid=$(cat "$d/sshd.pid" 2>/dev/null)
mapfile -t s < <("$field" "/dev/shm/xtcp-$spid.stats" listeners conns kernel_at_fork \
	kernel_failed kernel_left 2>&1)
# A session outlives its listener, as on the kernel: it is a kernel socket
# in sshd's children since the fork.
tb_cli timeout 30 "${ssh_cmd[@]}" 'sleep 2; echo survived' >"$d/survive" 2>>"$d/ssh.err" &
cp=$!
sleep 1
kill "$spid" 2>/dev/null
wait "$sp" 2>/dev/null
sp=""
wait "$cp"
check "session: outlives sshd's listener ($(cat "$d/survive"))" grep -q survived "$d/survive"
po=$(($(passive_opens) - po0))
check "kernel: the kernel accepted none (TcpPassiveOpens +$po)" [ $po = 0 ]
check "kernel: 1 listener, 0 conns, 15 handed at fork (before the last session), 0 failed, 0 left (${s[*]})" \
	[ "${s[*]}" = "1 0 15 0 0" ]
check "no warning on stderr" not_grep -E "stays on xtcp|refused|lost|continuing on the kernel" \
	"$d/sshd.log"

check_done
