#!/usr/bin/env bash
# myopen-run's costs (issue 14), side by side in one run. Needs root: it installs a setuid helper
# and reads as an unprivileged user (nobody, via setpriv).
#  1. Per-open overhead of an open that needs no helper (a readable file): a C loop of
#     open + close, alone and under myopen-run.
#  2. A whole grep of a root-only 4 KiB log: under myopen-run through the setuid helper, with
#     `sudo grep` (run by root, so no password is asked: sudo's own cost), and plain grep of a
#     readable copy.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "myopen-run.sh: needs root (it installs a setuid helper)" >&2; exit 1; }
command -v sudo >/dev/null || { echo "myopen-run.sh: sudo is missing (make deps)" >&2; exit 1; }

root=/tmp/myopen-run-bench
MYOPEN_SYSCONFDIR=$root/etc MYOPEN_SYSLOG_SOCKET=$root/log.sock \
  cargo build --release --locked -q -p openfile-helper --bins --target-dir target/bench-helper
cargo build --release --locked -q -p myopen-run

rm -rf "$root"
mkdir -p "$root/etc/myopen" "$root/bin" "$root/data" "$root/private"
chmod 0755 "$root" "$root/etc" "$root/etc/myopen" "$root/bin" "$root/data"
chmod 0700 "$root/private"
trap 'rm -rf "$root"' EXIT
install -m 4755 target/bench-helper/release/openfile-helper "$root/bin/openfile-helper"
install -m 0755 target/release/myopen-run "$root/bin/myopen-run"
cc -O2 -Wall -Wextra -o "$root/bin/open-loop" bench/open-loop.c
# A log of 4 KiB: 64 lines of 64 bytes, every fourth one matching.
python3 -c '
import sys
for i in range(64):
    word = "sshd" if i % 4 == 0 else "cron"
    filler = "x" * 29
    sys.stdout.write(f"2026-05-01 12:00:{i:02d} {word}[{i:05d}]: {filler}\n")' >"$root/data/auth.log"
install -m 0600 "$root/data/auth.log" "$root/private/auth.log"
chmod 0644 "$root/data/auth.log"
cat >"$root/etc/myopen/policy.toml" <<POLICY
[[allow]]
path = "$root/private/*.log"
users = ["nobody"]
access = ["read"]
POLICY
chmod 0644 "$root/etc/myopen/policy.toml"

as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
run="$root/bin/myopen-run --helper $root/bin/openfile-helper --"
opens=200000

echo "== 1. open + close of a readable file, $opens times (ns per open, mean)"
alone=$($as_nobody "$root/bin/open-loop" "$root/data/auth.log" $opens)
under=$($as_nobody $run "$root/bin/open-loop" "$root/data/auth.log" $opens)
echo "alone:             $alone ns"
echo "under myopen-run:  $under ns"
python3 -c "print(f'overhead per open: {($under - $alone) / 1000:.2f} us (target <= 10 us)')"

echo "== 2. grep of a 4 KiB log (hyperfine; times in ms)"
work=$(mktemp -d)
trap 'rm -rf "$root" "$work"' EXIT
hyperfine -N --warmup 20 --runs 300 --time-unit millisecond \
  --export-json "$work/results.json" --export-markdown "$work/table.md" \
  -n "myopen-run grep (root-only log, setuid helper)" "$as_nobody $run grep -c sshd $root/private/auth.log" \
  -n "sudo grep (root-only log)" "sudo -n grep -c sshd $root/private/auth.log" \
  -n "grep (readable copy)" "$as_nobody grep -c sshd $root/data/auth.log" >/dev/null 2>&1
cat "$work/table.md"
python3 -c '
import json, sys
medians = [r["median"] for r in json.load(open(sys.argv[1]))["results"]]
print(f"medians: myopen-run grep / sudo grep {medians[0] / medians[1]:.2f}, myopen-run grep / grep {medians[0] / medians[2]:.2f}")' "$work/results.json"
