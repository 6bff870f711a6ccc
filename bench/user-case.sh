#!/usr/bin/env bash
# The user's case (issue 15), side by side in one run, as root: an unprivileged caller (BENCH_USER,
# nobody by default) opens a root-only 4 KiB file
#   - through our helper installed setuid root and with file capabilities, under a real policy of
#     1, 200 and 10,000 rules (one-shot my_open, and a Session open), each as its file alone
#     (parsed by every helper) and compiled (openfile-helper --compile, read instead),
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
source bench/lib.sh
bench_start user-case.sh "it installs setuid and file-capability helpers" \
    hyperfine socat setcap setpriv python3 cc

rounds=${ROUNDS:-5}
oneshots=${ONESHOTS:-200}
session_seconds=${SESSION_SECONDS:-2}
bench_caller

bench_build
# The book's helper, compiled here from tests/c/ (not found in cargo's build directory by mtime).
unp_openfile=$work/unp_openfile
cc -O2 -Wall -Wextra -o "$unp_openfile" tests/c/unp_openfile.c

install -d -m 0755 "$work/bin" "$work/etc" "$work/etc/myopen" "$work/data" "$work/policies"
install -d -m 0755 -o "$uid" -g "$gid" "$work/out"
helper=$helper_build/openfile-helper
install -m 4755 "$helper" "$work/bin/setuid-helper"
install -m 0755 "$helper" "$work/bin/caps-helper"
setcap cap_dac_read_search,cap_dac_override+p "$work/bin/caps-helper"
install -m 4755 "$unp_openfile" "$work/bin/book-openfile"
install -m 0755 "$mycat_build/mycat" target/release/myopen-bench-client "$work/bin/"
printf 'int main(void) { return 0; }\n' > "$work/floor.c"
cc -O2 -static -o "$work/bin/floor" "$work/floor.c"
head -c 4096 /dev/urandom > "$work/data/secret"
chmod 0600 "$work/data/secret"
head -c 4096 /dev/urandom > "$work/data/readable"
chmod 0644 "$work/data/readable"

bench_start_syslog

# Policies of 1, 200 and 10,000 rules, the grant last (bench/make-policies.py).
bench/make-policies.py "$user" "$work/data" "$work/policies/{count}.toml"
# `use_policy RULES compiled` also compiles it (openfile-helper --compile, as an administrator
# would after writing it, waiting the 2 s a stamp needs to settle); without, no compiled policy
# is there and every helper parses the file.
use_policy() { # rules [compiled]
    install -m 0644 "$work/policies/$1.toml" "$work/etc/myopen/policy.toml.new"
    mv -f "$work/etc/myopen/policy.toml.new" "$work/etc/myopen/policy.toml"
    rm -rf "$work/etc/myopen/compiled"
    if [ "${2:-}" = compiled ]; then
        "$work/bin/setuid-helper" --compile > /dev/null
    fi
}

bench_header "$rounds rounds of $oneshots one-shot opens per case and ${session_seconds}s of" \
    "session opens per case"
echo "# policy sizes (bytes): $(for rules in 1 200 10000; do printf '%s rules %s; ' "$rules" "$(wc -c < "$work/policies/$rules.toml")"; done)"

samples=$work/out/samples
client=$work/bin/myopen-bench-client
for round in $(seq "$rounds"); do
    "${as_user[@]}" "$client" "$work/data/secret" "$oneshots" 0 \
        "book=book my_open -> book openfile (setuid)=$work/bin/book-openfile" \
        "spawn=spawn floor (static, spawn + reap)=$work/bin/floor" >> "$samples"
    for rules in 1 200 10000; do
        for form in "" compiled; do
            use_policy "$rules" "$form"
            label="$rules rules${form:+, $form}"
            "${as_user[@]}" "$client" "$work/data/secret" "$oneshots" "$session_seconds" \
                "oneshot=my_open, setuid, $label=$work/bin/setuid-helper" \
                "oneshot=my_open, caps, $label=$work/bin/caps-helper" \
                "session=Session open, setuid, $label=$work/bin/setuid-helper" \
                "session=Session open, caps, $label=$work/bin/caps-helper" >> "$samples"
        done
    done
    echo "# round $round of $rounds done" >&2
done

rules_ratios=()
for install in setuid caps; do
    rules_ratios+=(
        --ratio "my_open, $install, 1 rules / book my_open -> book openfile (setuid) <= 1.0"
        --ratio "my_open, $install, 1 rules, compiled / book my_open -> book openfile (setuid) <= 1.0"
        --ratio "my_open, $install, 1 rules, compiled / my_open, $install, 1 rules"
        --ratio "my_open, $install, 200 rules / my_open, $install, 1 rules"
        --ratio "my_open, $install, 10000 rules / my_open, $install, 1 rules"
        --ratio "my_open, $install, 200 rules, compiled / my_open, $install, 1 rules <= 1.1"
        --ratio "my_open, $install, 10000 rules, compiled / my_open, $install, 1 rules <= 3"
        --ratio "Session open, $install, 200 rules / Session open, $install, 1 rules"
        --ratio "Session open, $install, 10000 rules / Session open, $install, 1 rules <= 1.2"
        --ratio "Session open, $install, 10000 rules, compiled / Session open, $install, 1 rules <= 1.2"
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
