#!/usr/bin/env bash
# What the kernel fence (Landlock + seccomp, issue 12) costs: a session open and a one-shot
# my_open through one setuid helper with the fence and without it (the fault-injection build's
# no-fence switch; nothing else differs), by an unprivileged client (nobody), side by side in one
# hyperfine run. The session figure is a run of N opens through myopen-session-repl, so it holds
# the repl's pipe round trip too: the difference between the two runs, divided by N, is the
# fence's cost per open. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "fence-cost.sh: needs root (it installs a setuid helper)" >&2; exit 1; }

root=/tmp/myopen-bench-fence
opens=${OPENS:-20000}
MYOPEN_SYSCONFDIR=$root/etc MYOPEN_SYSLOG_SOCKET=$root/log.sock \
  cargo build --profile fence-bench --locked -q -p openfile-helper --bins \
  --features fault-injection --target-dir target/bench-fence
cargo build --release --locked -q -p myopen-tests --bins

rm -rf "$root"
mkdir -p "$root/etc/myopen/policy.d" "$root/etc/myopen-fault" "$root/bin" "$root/data"
chmod 0755 "$root" "$root/etc" "$root/etc/myopen" "$root/etc/myopen/policy.d" \
  "$root/etc/myopen-fault" "$root/bin" "$root/data"
install -m 4755 target/bench-fence/fence-bench/openfile-helper "$root/bin/openfile-helper"
install -m 0755 target/release/myopen-probe "$root/bin/myopen-probe"
install -m 0755 target/release/myopen-session-repl "$root/bin/myopen-session-repl"
head -c 4096 /dev/urandom > "$root/data/file"
chmod 0644 "$root/data/file"
printf '[[allow]]\npath = "%s/data/**"\nusers = ["nobody"]\naccess = ["read"]\n' "$root" \
  > "$root/etc/myopen/policy.toml"
chmod 0644 "$root/etc/myopen/policy.toml"
awk -v path="$root/data/file" -v n="$opens" 'BEGIN { for (i = 0; i < n; i++) print path }' > "$root/requests"
chmod 0644 "$root/requests"

as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
helper="$root/bin/openfile-helper"
fence_on="rm -f $root/etc/myopen-fault/no-fence"
fence_off="touch $root/etc/myopen-fault/no-fence"
session="sh -c '$as_nobody $root/bin/myopen-session-repl $helper < $root/requests > /dev/null'"
oneshot="$as_nobody $root/bin/myopen-probe $helper $root/data/file 0"

# Check that the switch does what the figures claim before measuring anything.
$fence_on; $as_nobody "$helper" --version | grep -q '^fence: landlock ABI' \
  || { echo "fence-cost.sh: the helper draws no Landlock fence here" >&2; exit 1; }
$fence_off; $as_nobody "$helper" --version | grep -q '^fence: landlock off' \
  || { echo "fence-cost.sh: the no-fence switch has no effect" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
hyperfine -N --warmup 3 --runs 30 --export-json "$results" \
  --prepare "$fence_on" -n "session, $opens opens, fence" "$session" \
  --prepare "$fence_off" -n "session, $opens opens, no fence" "$session" \
  2>/dev/null | grep -v '^ *$' | grep -v Warning
oneshot_results=$(mktemp)
trap 'rm -f "$results" "$oneshot_results"' EXIT
hyperfine -N --warmup 30 --runs 400 --export-json "$oneshot_results" \
  --prepare "$fence_on" -n "one-shot my_open, fence" "$oneshot" \
  --prepare "$fence_off" -n "one-shot my_open, no fence" "$oneshot" \
  2>/dev/null | grep -v '^ *$' | grep -v Warning

python3 - "$results" "$oneshot_results" "$opens" <<'PY'
import json, sys
runs = {}
for path in sys.argv[1:3]:
    runs.update({r["command"]: r for r in json.load(open(path))["results"]})
opens = int(sys.argv[3])
m = lambda name: runs[name]["median"]
for name, r in runs.items():
    print(f'{name}: median {r["median"]*1e3:.3f} ms (min {r["min"]*1e3:.3f}, max {r["max"]*1e3:.3f})')
on, off = m(f"session, {opens} opens, fence"), m(f"session, {opens} opens, no fence")
print(f"session open: {on/opens*1e6:.2f} us with the fence, {off/opens*1e6:.2f} us without: "
      f"{(on-off)/opens*1e6:+.2f} us per open ({(on/off-1)*100:+.1f}%)")
on, off = m("one-shot my_open, fence"), m("one-shot my_open, no fence")
print(f"one-shot my_open: {on*1e3:.3f} ms with the fence, {off*1e3:.3f} ms without "
      f"({(on/off-1)*100:+.1f}%)")
PY
rm -rf "$root"
