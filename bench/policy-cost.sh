#!/usr/bin/env bash
# What the policy costs a one-shot open: a setuid helper with a 1-rule and a 200-rule policy,
# and the foundation's unprivileged helper (no policy), each opened by an unprivileged client
# (nobody, via setpriv) as a whole process, side by side in one hyperfine run. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "policy-cost.sh: needs root (it installs a setuid helper)" >&2; exit 1; }

root=/tmp/myopen-bench
MYOPEN_SYSCONFDIR=$root/etc MYOPEN_SYSLOG_SOCKET=$root/log.sock \
  cargo build --release --locked -q -p openfile-helper --bins --target-dir target/bench-helper
cargo build --release --locked -q -p myopen-tests --bins

rm -rf "$root"
mkdir -p "$root/etc/myopen" "$root/bin" "$root/data"
chmod 0755 "$root" "$root/etc" "$root/etc/myopen" "$root/bin" "$root/data"
install -m 4755 target/bench-helper/release/openfile-helper "$root/bin/setuid-helper"
install -m 0755 target/bench-helper/release/openfile-helper "$root/bin/plain-helper"
install -m 0755 target/release/myopen-probe "$root/bin/myopen-probe"
head -c 4096 /dev/urandom > "$root/data/file"
chmod 0644 "$root/data/file"

python3 - "$root" <<'PY'
import sys
root = sys.argv[1]
matching = f'[[allow]]\npath = "{root}/data/**"\nusers = ["nobody"]\naccess = ["read"]\n'
with open(f"{root}/policy-1.toml", "w") as f:
    f.write(matching)
with open(f"{root}/policy-200.toml", "w") as f:
    for i in range(150):
        f.write(f'[[allow]]\npath = "/srv/app{i}/**/logs/*.log"\ngroups = ["adm", "{i}"]\naccess = ["read", "append"]\n\n')
    for i in range(49):
        f.write(f'[[deny]]\npath = "/srv/app{i}/private/**"\n\n')
    f.write(matching)
PY
chmod 0644 "$root"/policy-*.toml
cp "$root/policy-1.toml" "$root/etc/myopen/policy.toml"

as_nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
probe="$root/bin/myopen-probe"
results=$(mktemp)
# The helper serves no grant whose audit record cannot go out: a syslog that reads and drops.
python3 -c '
import os, socket, sys
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
while True:
    receiver.recv(65536)
' "$root/log.sock" &
listener=$!
trap 'kill "$listener" 2>/dev/null; rm -f "$results"' EXIT
for _ in $(seq 50); do [ -S "$root/log.sock" ] && break; sleep 0.1; done
hyperfine -N --warmup 30 --runs 400 --export-json "$results" \
  --prepare "cp $root/policy-1.toml $root/etc/myopen/policy.toml" \
  -n "setuid helper, 1-rule policy" "$as_nobody $probe $root/bin/setuid-helper $root/data/file 0" \
  --prepare "cp $root/policy-200.toml $root/etc/myopen/policy.toml" \
  -n "setuid helper, 200-rule policy" "$as_nobody $probe $root/bin/setuid-helper $root/data/file 0" \
  --prepare "true" \
  -n "unprivileged helper, no policy (foundation)" "$as_nobody $probe $root/bin/plain-helper $root/data/file 0" \
  2>/dev/null | grep -v '^ *$' | grep -v Warning

python3 - "$results" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
for name, r in runs.items():
    print(f'{name}: min {r["min"]*1e3:.3f} ms, median {r["median"]*1e3:.3f} ms, max {r["max"]*1e3:.3f} ms')
m = lambda name: runs[name]["median"]
print(f'200-rule / 1-rule median ratio: {m("setuid helper, 200-rule policy") / m("setuid helper, 1-rule policy"):.3f}')
print(f'200-rule / foundation median ratio: {m("setuid helper, 200-rule policy") / m("unprivileged helper, no policy (foundation)"):.3f}')
PY
rm -rf "$root"
