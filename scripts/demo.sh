#!/usr/bin/env bash
# `make demo`: myopen end to end in one command, as root, without installing anything
# system-wide. It builds myopen for a temporary prefix, installs it there (the helper with file
# capabilities, or setuid root), creates two root-only files, a demo user and a policy drop-in
# that lets that user read one of them, runs mycat as the user, shows the refusal of the other
# file and the audit lines, and removes everything again (also when interrupted).
#
# Environment: DEMO_ROOT (default /tmp/myopen-demo, or /var/tmp/myopen-demo when /tmp is
# mounted nosuid), DEMO_TARGET_DIR (cargo's target directory, default target/demo),
# PRIVILEGE (caps or setuid, default caps).
set -euo pipefail

repository="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repository"
umask 022

readonly DEMO_USER=myopen-demo
readonly DEMO_USER_COMMENT="myopen demo user (make demo)"

if [ -t 1 ]; then bold=$'\033[1m' dim=$'\033[2m' plain=$'\033[0m'; else bold="" dim="" plain=""; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$plain"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run it as root (sudo make demo): it installs a privileged helper" \
  "and creates a user, in a temporary prefix, and removes both at the end"
for tool in cargo setpriv useradd userdel findmnt; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (make deps installs the test tools)"
done

nosuid() { case ",$(findmnt --noheadings --output OPTIONS --target "$1")," in *,nosuid,*) return 0 ;; esac; return 1; }
if [ -z "${DEMO_ROOT:-}" ]; then
  DEMO_ROOT=/tmp/myopen-demo
  nosuid /tmp && DEMO_ROOT=/var/tmp/myopen-demo
fi
target_dir="${DEMO_TARGET_DIR:-target/demo}"
make_vars=(PREFIX="$DEMO_ROOT" SYSCONFDIR="$DEMO_ROOT/etc" SYSLOG_SOCKET="$DEMO_ROOT/log.sock"
  TARGET_DIR="$target_dir" PRIVILEGE="${PRIVILEGE:-caps}")

listener_pid=""
created_user=no
cleanup() {
  local status=$?
  set +e
  step "Cleaning up"
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null && wait "$listener_pid" 2>/dev/null
  if [ -d "$DEMO_ROOT" ]; then
    # uninstall first: it takes the privilege off the helper before removing it.
    make --no-print-directory -s uninstall "${make_vars[@]}" >/dev/null
    rm -rf "$DEMO_ROOT"
  fi
  [ "$created_user" = yes ] && userdel "$DEMO_USER" 2>/dev/null
  getent group "$DEMO_USER" >/dev/null && [ "$created_user" = yes ] && groupdel "$DEMO_USER" 2>/dev/null
  echo "removed $DEMO_ROOT and the user $DEMO_USER"
  if [ "$status" -eq 0 ]; then echo "demo: OK"; else echo "demo: FAILED (status $status)" >&2; fi
  exit "$status"
}

# A tree left by an interrupted demo is removed; a fresh one is created with mkdir, which fails
# if anyone else recreates the name in between (the directory must be root's, see P7).
if [ -e "$DEMO_ROOT" ] || [ -L "$DEMO_ROOT" ]; then
  echo "removing $DEMO_ROOT, left over from an earlier demo"
  make --no-print-directory -s uninstall "${make_vars[@]}" >/dev/null 2>&1 || true
  rm -rf "$DEMO_ROOT"
fi
mkdir -m 0755 "$DEMO_ROOT" || die "cannot create $DEMO_ROOT"
trap cleanup EXIT
trap 'exit 130' INT TERM

if getent passwd "$DEMO_USER" >/dev/null; then
  [ "$(getent passwd "$DEMO_USER" | cut -d: -f5)" = "$DEMO_USER_COMMENT" ] \
    || die "a user $DEMO_USER exists that this demo did not create; not touching it"
  created_user=yes # left over from an interrupted demo: removed at the end this time
else
  useradd --system --no-create-home --shell /usr/sbin/nologin --user-group \
    --comment "$DEMO_USER_COMMENT" "$DEMO_USER"
  created_user=yes
fi
as_user() { setpriv --reuid="$DEMO_USER" --regid="$DEMO_USER" --init-groups -- "$@"; }

step "Building and installing into $DEMO_ROOT (policy in $DEMO_ROOT/etc/myopen)"
show "make install PREFIX=$DEMO_ROOT SYSCONFDIR=$DEMO_ROOT/etc SYSLOG_SOCKET=$DEMO_ROOT/log.sock"
if ! make --no-print-directory install "${make_vars[@]}" >"$DEMO_ROOT/install.log" 2>&1; then
  cat "$DEMO_ROOT/install.log" >&2
  die "make install into $DEMO_ROOT failed (output above)"
fi
grep '^myopen:' "$DEMO_ROOT/install.log" | grep -v -e '--check' || true
helper="$DEMO_ROOT/libexec/openfile-helper"
mycat="$DEMO_ROOT/bin/mycat"
{ [ -x "$helper" ] && [ -x "$mycat" ]; } || die "the install did not produce $helper and $mycat"
ls -l "$helper"
command -v getcap >/dev/null && getcap "$helper"

step "Two files only root may read, and a policy drop-in for the user $DEMO_USER"
data="$DEMO_ROOT/data"
install -d -m 0755 "$data"
printf 'Quarterly report: revenue up 12%%.\n' >"$data/report.txt"
printf 'Payroll: not for you.\n' >"$data/payroll.txt"
chmod 0600 "$data/report.txt" "$data/payroll.txt"
ls -l "$data"
dropin="$DEMO_ROOT/etc/myopen/policy.d/50-demo.toml"
cat >"$dropin" <<EOF
# Written by make demo: $DEMO_USER may read the report, nothing else.
[[allow]]
path = "$data/report.txt"
users = ["$DEMO_USER"]
access = ["read"]
EOF
chmod 0644 "$dropin"
show "cat $dropin"
cat "$dropin"
show "openfile-helper --check"
"$helper" --check

# The audit log: the demo's helper sends its syslog lines to $DEMO_ROOT/log.sock.
audit_log="$DEMO_ROOT/audit.log"
: >"$audit_log"
socket="$DEMO_ROOT/log.sock"
if command -v python3 >/dev/null 2>&1; then
  python3 -u -c '
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(path)
os.chmod(path, 0o666)
with open(log, "a") as out:
    while True:
        out.write(receiver.recv(65536).decode("utf-8", "replace").rstrip("\n") + "\n")
        out.flush()
' "$socket" "$audit_log" &
  listener_pid=$!
elif command -v socat >/dev/null 2>&1; then
  socat -u "UNIX-RECV:$socket,perm=0666" "OPEN:$audit_log,append" &
  listener_pid=$!
else
  echo "(neither python3 nor socat is installed: the audit lines will not be shown)"
fi
for _ in $(seq 50); do [ -S "$socket" ] || [ -z "$listener_pid" ] && break; sleep 0.1; done

step "As $DEMO_USER: plain cat is refused by the kernel"
show "cat $data/report.txt"
if as_user cat "$data/report.txt"; then die "cat could read a root-only file"; fi

step "As $DEMO_USER: mycat asks the helper, and the policy allows it"
show "mycat $data/report.txt"
output="$(as_user "$mycat" "$data/report.txt")" || die "mycat failed on the allowed file"
printf '%s\n' "$output"
[ "$output" = "Quarterly report: revenue up 12%." ] || die "mycat printed something else"

step "As $DEMO_USER: a file the policy does not allow"
show "mycat $data/payroll.txt"
if errors="$(as_user "$mycat" "$data/payroll.txt" 2>&1)"; then
  die "mycat read a file the policy does not allow: $errors"
fi
printf '%s\n' "$errors"
case "$errors" in *"Permission denied"*) ;; *) die "unexpected refusal: $errors" ;; esac
show "openfile-helper --explain --user $DEMO_USER $data/payroll.txt"
"$helper" --explain --user "$DEMO_USER" "$data/payroll.txt" || true

if [ -n "$listener_pid" ]; then
  step "The audit lines (syslog authpriv; here sent to $socket)"
  for _ in $(seq 30); do [ "$(grep -c . "$audit_log")" -ge 2 ] && break; sleep 0.1; done
  cat "$audit_log"
  grep -q 'payroll.txt' "$audit_log" || die "no audit line for the refused file"
fi
