#!/usr/bin/env bash
# The user's case (issue 15), side by side in one run, as root: an unprivileged caller (BENCH_USER,
# nobody by default) opens a root-only 4 KiB file
#   - through our helper installed setuid root and with file capabilities, under a real policy of
#     1, 200 and 10,000 rules (one-shot my_open, and a Session open), each as its file alone
#     (parsed by every helper) and compiled (openfile-helper --compile, read instead): a second
#     build of the helper, whose policy tree ($work/etc-compiled) holds the compiled policy, so
#     that both forms of one policy are measured in the same run, side by side (compiling waits
#     2 s for the files to settle, and a case measured right after such an idle wait, the other
#     not, ran up to 15% slower for that alone),
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

# The same helper with its policy tree at $work/etc-compiled, for the compiled cases.
MYOPEN_SYSCONFDIR=$work/etc-compiled MYOPEN_SYSLOG_SOCKET=$work/log.sock \
  RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked -q -p openfile-helper --bin openfile-helper \
      --target "$helper_target" --target-dir target/bench-helper-compiled
compiled_helper=target/bench-helper-compiled/$helper_target/release/openfile-helper

install -d -m 0755 "$work/bin" "$work/data" "$work/policies"
install -d -m 0755 "$work/etc" "$work/etc/myopen" "$work/etc-compiled" "$work/etc-compiled/myopen"
install -d -m 0755 -o "$uid" -g "$gid" "$work/out"
helper=$helper_build/openfile-helper
install -m 4755 "$helper" "$work/bin/setuid-helper"
install -m 0755 "$helper" "$work/bin/caps-helper"
setcap cap_dac_read_search,cap_dac_override+p "$work/bin/caps-helper"
install -m 4755 "$compiled_helper" "$work/bin/compiled-setuid-helper"
install -m 0755 "$compiled_helper" "$work/bin/compiled-caps-helper"
setcap cap_dac_read_search,cap_dac_override+p "$work/bin/compiled-caps-helper"
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
# `use_policy RULES`: the policy of RULES rules in both trees, compiled in $work/etc-compiled
# (openfile-helper --compile, as an administrator would after writing it: it waits the 2 s a
# stamp needs to settle); $work/etc has no compiled policy, so its helpers parse the file.
use_policy() { # rules
    local tree
    for tree in "$work/etc" "$work/etc-compiled"; do
        install -m 0644 "$work/policies/$1.toml" "$tree/myopen/policy.toml.new"
        mv -f "$tree/myopen/policy.toml.new" "$tree/myopen/policy.toml"
    done
    "$work/bin/compiled-setuid-helper" --compile > /dev/null
}

bench_header "$rounds rounds of $oneshots one-shot opens per case and ${session_seconds}s of" \
    "session opens per case"
echo "# policy sizes (bytes): $(for rules in 1 200 10000; do printf '%s rules %s; ' "$rules" "$(wc -c < "$work/policies/$rules.toml")"; done)"

samples=$work/out/samples
client=$work/bin/myopen-bench-client
for round in $(seq "$rounds"); do
    for rules in 1 200 10000; do
        use_policy "$rules"
        # The book's pair and the spawn floor beside the one-rule cases, in the same run.
        reference=()
        if [ "$rules" = 1 ]; then
            reference=(
                "book=book my_open -> book openfile (setuid)=$work/bin/book-openfile"
                "spawn=spawn floor (static, spawn + reap)=$work/bin/floor"
            )
        fi
        cases=()
        for install in setuid caps; do
            cases+=(
                "oneshot=my_open, $install, $rules rules=$work/bin/$install-helper"
                "oneshot=my_open, $install, $rules rules, compiled=$work/bin/compiled-$install-helper"
            )
        done
        for install in setuid caps; do
            cases+=(
                "session=Session open, $install, $rules rules=$work/bin/$install-helper"
                "session=Session open, $install, $rules rules, compiled=$work/bin/compiled-$install-helper"
            )
        done
        "${as_user[@]}" "$client" "$work/data/secret" "$oneshots" "$session_seconds" \
            ${reference[@]+"${reference[@]}"} "${cases[@]}" >> "$samples"
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
