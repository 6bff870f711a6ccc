#!/usr/bin/env bash
# The user's case (issue 15), side by side in one run, as root: an unprivileged caller (BENCH_USER,
# nobody by default) opens a root-only 4 KiB file
#   - through our helper installed setuid root and with file capabilities, under a real policy of
#     1, 200 and 10,000 rules (one-shot my_open, and a Session open),
#   - through the book's C pair (tests/c/: its my_open -> its openfile, installed setuid root),
#   - and spawns and reaps a static do-nothing program (the floor under any one-shot open);
# then whole processes (hyperfine): mycat of the root-only file through the setuid helper against
# cat of a readable one.
#
#   sudo bench/user-case.sh       # ROUNDS=5 ONESHOTS=200 SESSION_SECONDS=2 BENCH_USER=nobody
#
# Everything is installed in a private directory made by mktemp and removed on every exit path;
# the helper is built with its SYSCONFDIR and syslog socket in that directory, so no system
# policy is touched. The helper refuses a grant whose audit record cannot be delivered, so a
# socat reader stands in for syslog.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "user-case.sh: needs root (it installs setuid and file-capability helpers)" >&2; exit 1; }
for tool in hyperfine socat setcap setpriv python3 cc; do
    command -v "$tool" >/dev/null || { echo "user-case.sh: $tool is missing (make deps)" >&2; exit 1; }
done

rounds=${ROUNDS:-5}
oneshots=${ONESHOTS:-200}
session_seconds=${SESSION_SECONDS:-2}
user=${BENCH_USER:-nobody}
uid=$(id -u "$user")
gid=$(id -g "$user")
as_user=(setpriv "--reuid=$uid" "--regid=$gid" --init-groups --)
summarise=bench/summarise.py

work=$(mktemp -d /tmp/myopen-bench.XXXXXX)
receiver=
cleanup() {
    if [ -n "$receiver" ]; then kill "$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
chmod 0755 "$work"

# The helper as `make install` builds it: a static PIE (HELPER_LINK=static, the default; with
# BENCH_MUSL=1 linked with musl, HELPER_LINK=static-musl).
host=$(rustc -vV | sed -n 's/^host: //p')
target=$host
[ "${BENCH_MUSL:-0}" = 1 ] && target=${host/-gnu/-musl}
MYOPEN_SYSCONFDIR=$work/etc MYOPEN_SYSLOG_SOCKET=$work/log.sock \
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -q -p openfile-helper --bins --target "$target" \
      --target-dir target/bench-helper
cargo build --release --locked -q -p mycat -p myopen-tests --bins
# The book's helper, compiled here from tests/c/ (not found in cargo's build directory by mtime).
unp_openfile=$work/unp_openfile
cc -O2 -Wall -Wextra -o "$unp_openfile" tests/c/unp_openfile.c

install -d -m 0755 "$work/bin" "$work/etc" "$work/etc/myopen" "$work/data" "$work/policies"
install -d -m 0755 -o "$uid" -g "$gid" "$work/out"
helper=target/bench-helper/$target/release/openfile-helper
install -m 4755 "$helper" "$work/bin/setuid-helper"
install -m 0755 "$helper" "$work/bin/caps-helper"
setcap cap_dac_read_search,cap_dac_override+p "$work/bin/caps-helper"
install -m 4755 "$unp_openfile" "$work/bin/book-openfile"
install -m 0755 target/release/mycat target/release/myopen-bench-client "$work/bin/"
printf 'int main(void) { return 0; }\n' > "$work/floor.c"
cc -O2 -static -o "$work/bin/floor" "$work/floor.c"
head -c 4096 /dev/urandom > "$work/data/secret"
chmod 0600 "$work/data/secret"
head -c 4096 /dev/urandom > "$work/data/readable"
chmod 0644 "$work/data/readable"

socat -u "UNIX-RECV:$work/log.sock,perm=0666" OPEN:/dev/null &
receiver=$!
for _ in $(seq 50); do [ -S "$work/log.sock" ] && break; sleep 0.1; done
[ -S "$work/log.sock" ] || { echo "user-case.sh: the syslog receiver did not start" >&2; exit 1; }

# Policies of 1, 200 and 10,000 rules: allows naming a group and a numeric id, per-user home
# rules, service directories, and denies, in the shapes sudoers-sized sites write; the rule that
# grants the benchmark's open is the last one, so nothing is decided early.
python3 - "$work" "$user" <<'PY'
import sys
work, user = sys.argv[1:]
granting = f'[[allow]]\npath = "{work}/data/*"\nusers = ["{user}"]\naccess = ["read"]\n'
shapes = [
    lambda i: f'[[allow]]\npath = "/srv/app{i}/**/logs/*.log"\ngroups = ["adm", "{i}"]\naccess = ["read", "append"]\n',
    lambda i: f'[[allow]]\npath = "/home/user{i}/shared/*"\nusers = ["{1000 + i}"]\naccess = ["read", "write"]\n',
    lambda i: f'[[allow]]\npath = "/var/lib/service{i}/*.conf"\ngroups = ["adm"]\naccess = ["read"]\ntypes = ["file"]\n',
    lambda i: f'[[deny]]\npath = "/srv/app{i}/private/**"\n',
]
for count in (1, 200, 10000):
    with open(f"{work}/policies/{count}.toml", "w") as policy:
        for i in range(count - 1):
            policy.write(shapes[i % len(shapes)](i) + "\n")
        policy.write(granting)
PY
chmod 0644 "$work"/policies/*.toml
use_policy() { # rules
    install -m 0644 "$work/policies/$1.toml" "$work/etc/myopen/policy.toml.new"
    mv -f "$work/etc/myopen/policy.toml.new" "$work/etc/myopen/policy.toml"
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); caller: $user; $rounds rounds" \
    "of $oneshots one-shot opens per case and ${session_seconds}s of session opens per case"
echo "# policy sizes (bytes): $(for rules in 1 200 10000; do printf '%s rules %s; ' "$rules" "$(wc -c < "$work/policies/$rules.toml")"; done)"

samples=$work/out/samples
client=$work/bin/myopen-bench-client
for round in $(seq "$rounds"); do
    "${as_user[@]}" "$client" "$work/data/secret" "$oneshots" 0 \
        "book=book my_open -> book openfile (setuid)=$work/bin/book-openfile" \
        "spawn=spawn floor (static, spawn + reap)=$work/bin/floor" >> "$samples"
    for rules in 1 200 10000; do
        use_policy "$rules"
        "${as_user[@]}" "$client" "$work/data/secret" "$oneshots" "$session_seconds" \
            "oneshot=my_open, setuid, $rules rules=$work/bin/setuid-helper" \
            "oneshot=my_open, caps, $rules rules=$work/bin/caps-helper" \
            "session=Session open, setuid, $rules rules=$work/bin/setuid-helper" \
            "session=Session open, caps, $rules rules=$work/bin/caps-helper" >> "$samples"
    done
    echo "# round $round of $rounds done" >&2
done

rules_ratios=()
for install in setuid caps; do
    rules_ratios+=(
        --ratio "my_open, $install, 1 rules / book my_open -> book openfile (setuid) <= 1.0"
        --ratio "my_open, $install, 200 rules / my_open, $install, 1 rules <= 1.1"
        --ratio "my_open, $install, 10000 rules / my_open, $install, 1 rules <= 3"
        --ratio "Session open, $install, 200 rules / Session open, $install, 1 rules"
        --ratio "Session open, $install, 10000 rules / Session open, $install, 1 rules <= 1.2"
    )
done
python3 "$summarise" samples "$samples" --unit us \
    --title "One open of a root-only 4 KiB file by $user (per operation)" \
    "${rules_ratios[@]}" \
    --ratio "book my_open -> book openfile (setuid) / spawn floor (static, spawn + reap)" \
    --ratio "my_open, setuid, 1 rules / spawn floor (static, spawn + reap)"

use_policy 1
"${as_user[@]}" hyperfine -N --style none --warmup 50 --runs 500 --export-json "$work/out/mycat.json" \
    -n "cat, readable 4 KiB file" "cat $work/data/readable" \
    -n "mycat, root-only 4 KiB file, setuid helper" "$work/bin/mycat --helper $work/bin/setuid-helper $work/data/secret" \
    -n "mycat, root-only 4 KiB file, caps helper" "$work/bin/mycat --helper $work/bin/caps-helper $work/data/secret" \
    >/dev/null
python3 "$summarise" hyperfine "$work/out/mycat.json" \
    --title "Whole processes, run by $user (hyperfine -N, output to /dev/null)" \
    --ratio "mycat, root-only 4 KiB file, setuid helper / cat, readable 4 KiB file <= 1.3" \
    --ratio "mycat, root-only 4 KiB file, caps helper / cat, readable 4 KiB file"
