#!/usr/bin/env bash
# The daemon (issue 11), side by side in one run, as root: an unprivileged caller (BENCH_USER,
# nobody by default) under a real policy (one rule granting the file) opens a root-only 4 KiB
# file
#   1. per open over one open connection: through myopend, through a setuid helper's Session,
#      and through the session floor (fd-floor: a persistent child that opens a readable file
#      with no policy and sends the descriptor back);
#   2. per connection: connect + hello + first open + close through myopend (back to back, and
#      paced so the daemon's pool of idle workers is full), against one-shot my_open through the
#      setuid helper;
# then whole processes (hyperfine -N): mycat (as make install builds it, and linked with glibc
# beside it) of the root-only file through myopend and through the
# setuid helper, cat and mycat of a readable one, and sudo cat of the root-only one (sudo
# allowed for the caller by a throwaway sudoers drop-in; without sudo, cat run by root instead,
# and the table says so).
#
#   sudo bench/daemon.sh       # ROUNDS=5 CONNECTS=200 SESSION_SECONDS=2 RUNS=500 BENCH_USER=nobody
#
# TRACE=1 (needs bpftrace) adds where one mycat's time goes: syscall tracepoints of myopend and
# mycat over TRACE_RUNS=100 paced runs, reduced to the phases of the connection
# (bench/daemon-phases.bt, bench/daemon-phases.py).
#
# myopend runs in the foreground on a socket in the private mktemp directory (--socket); the
# clients find it with MYOPEN_SOCKET. Everything is removed on every exit path (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_start daemon.sh "it runs myopend and installs a setuid helper" hyperfine socat setpriv python3

rounds=${ROUNDS:-5}
connects=${CONNECTS:-200}
session_seconds=${SESSION_SECONDS:-2}
runs=${RUNS:-500}
bench_caller

bench_build

install -d -m 0755 "$work/bin" "$work/etc" "$work/etc/myopen" "$work/data" "$work/run"
install -d -m 0755 -o "$uid" -g "$gid" "$work/out"
install -m 4755 "$helper_build/openfile-helper" "$work/bin/setuid-helper"
install -m 0755 "$daemon_build/myopend" "$work/bin/myopend"
install -m 0755 "$mycat_build/mycat" target/release/myopen-bench-client target/release/fd-floor \
    "$work/bin/"
install -m 0755 target/release/mycat "$work/bin/mycat-glibc"
head -c 4096 /dev/urandom > "$work/data/secret"
chmod 0600 "$work/data/secret"
head -c 4096 /dev/urandom > "$work/data/readable"
chmod 0644 "$work/data/readable"
printf '[[allow]]\npath = "%s/data/*"\nusers = ["%s"]\naccess = ["read"]\n' "$work" "$user" \
    > "$work/etc/myopen/policy.toml"
chmod 0644 "$work/etc/myopen/policy.toml"

bench_start_syslog
socket=$work/run/myopen/socket
"$work/bin/myopend" --socket "$socket" 2> "$work/myopend.log" &
daemon=$!
bench_kill_on_exit "$daemon"
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || { cat "$work/myopend.log" >&2; bench_fail "myopend did not start"; }

# Nothing is timed until each way in has shown that it opens the root-only file, and the daemon
# way that it is served by the daemon (myopen-bench-client refuses a fallback to a helper).
mycat=$work/bin/mycat
"${as_user[@]}" env MYOPEN_SOCKET="$socket" "$mycat" "$work/data/secret" | cmp -s - "$work/data/secret" \
    || bench_fail "mycat through the daemon did not read the root-only file"
if "${as_user[@]}" env MYOPEN_SOCKET=none "$mycat" "$work/data/secret" >/dev/null 2>&1; then
    bench_fail "the root-only file is readable without privilege: the figures would mean nothing"
fi

sudo_cat=()
if command -v sudo >/dev/null; then
    drop_in=/etc/sudoers.d/myopen-bench-$$
    bench_on_exit rm -f "$drop_in"
    printf '%s ALL=(root) NOPASSWD: %s %s\n' "$user" "$(command -v cat)" "$work/data/secret" \
        > "$drop_in.tmp"
    chmod 0440 "$drop_in.tmp"
    bench_on_exit rm -f "$drop_in.tmp"
    visudo -cqf "$drop_in.tmp" || bench_fail "visudo refused the benchmark's sudoers drop-in"
    mv "$drop_in.tmp" "$drop_in"
    "${as_user[@]}" sudo -n "$(command -v cat)" "$work/data/secret" | cmp -s - "$work/data/secret" \
        || bench_fail "sudo cat as $user did not read the root-only file (sudoers drop-in)"
    sudo_cat=(-n "sudo cat, root-only 4 KiB file" "sudo -n $(command -v cat) $work/data/secret")
fi

bench_header "$rounds rounds of ${session_seconds}s of opens per persistent case and" \
    "$connects connections or one-shot opens per case; policy: 1 rule"

samples=$work/out/samples
client=$work/bin/myopen-bench-client
for round in $(seq "$rounds"); do
    "${as_user[@]}" "$client" "$work/data/secret" "$connects" "$session_seconds" \
        "floor=session floor (fd-floor, readable file)=$work/bin/fd-floor=$work/data/readable" \
        "daemon=daemon open (one connection)=$socket" \
        "session=Session open, setuid helper=$work/bin/setuid-helper" \
        "connect=daemon connect + hello + open, back to back=$socket" \
        "connect-paced=daemon connect + hello + open, pool refilled=$socket" \
        "oneshot=my_open, setuid helper=$work/bin/setuid-helper" >> "$samples"
    echo "# round $round of $rounds done" >&2
done

python3 "$summarise" samples "$samples" --unit us \
    --title "One open of a root-only 4 KiB file by $user (per operation)" \
    --ratio "daemon open (one connection) / session floor (fd-floor, readable file) <= 1.5" \
    --ratio "Session open, setuid helper / session floor (fd-floor, readable file)" \
    --ratio "daemon open (one connection) / Session open, setuid helper" \
    --ratio "daemon connect + hello + open, back to back / my_open, setuid helper" \
    --ratio "daemon connect + hello + open, pool refilled / my_open, setuid helper" \
    --ratio "daemon connect + hello + open, pool refilled / daemon open (one connection)"

# hyperfine runs as the caller with MYOPEN_SOCKET set, so every command starts straight from it
# (no env or shell in between); cat ignores the variable and `mycat --helper` never asks a daemon.
"${as_user[@]}" env MYOPEN_SOCKET="$socket" \
  hyperfine -N --style none --warmup 50 --runs "$runs" --export-json "$work/out/mycat.json" \
    -n "cat, readable 4 KiB file" "cat $work/data/readable" \
    -n "mycat, readable 4 KiB file (no privilege asked)" "$mycat $work/data/readable" \
    -n "mycat, root-only 4 KiB file, daemon" "$mycat $work/data/secret" \
    -n "mycat, root-only 4 KiB file, setuid helper" "$mycat --helper $work/bin/setuid-helper $work/data/secret" \
    -n "glibc mycat, readable 4 KiB file" "$work/bin/mycat-glibc $work/data/readable" \
    -n "glibc mycat, root-only 4 KiB file, daemon" "$work/bin/mycat-glibc $work/data/secret" \
    "${sudo_cat[@]}" \
    >/dev/null
if [ ${#sudo_cat[@]} -eq 0 ]; then
    echo "# sudo is not installed: cat of the root-only file is run by root instead" >&2
    hyperfine -N --style none --warmup 50 --runs "$runs" --export-json "$work/out/root-cat.json" \
        -n "cat, root-only 4 KiB file, run by root (no sudo here)" "cat $work/data/secret" >/dev/null
fi
results=("$work/out/mycat.json")
if [ ${#sudo_cat[@]} -gt 0 ]; then
    versus_root=(--ratio "mycat, root-only 4 KiB file, daemon / sudo cat, root-only 4 KiB file")
else
    results+=("$work/out/root-cat.json")
    versus_root=(--ratio "mycat, root-only 4 KiB file, daemon / cat, root-only 4 KiB file, run by root (no sudo here)")
fi
python3 "$summarise" hyperfine "${results[@]}" \
    --title "Whole processes, run by $user (hyperfine -N, output to /dev/null)" \
    --ratio "mycat, root-only 4 KiB file, daemon / cat, readable 4 KiB file <= 1.2" \
    --ratio "mycat, root-only 4 KiB file, setuid helper / cat, readable 4 KiB file" \
    --ratio "mycat, root-only 4 KiB file, daemon / mycat, root-only 4 KiB file, setuid helper" \
    --ratio "mycat, readable 4 KiB file (no privilege asked) / cat, readable 4 KiB file" \
    --ratio "mycat, root-only 4 KiB file, daemon / mycat, readable 4 KiB file (no privilege asked)" \
    --ratio "mycat, readable 4 KiB file (no privilege asked) / glibc mycat, readable 4 KiB file" \
    --ratio "mycat, root-only 4 KiB file, daemon / glibc mycat, root-only 4 KiB file, daemon" \
    --ratio "glibc mycat, readable 4 KiB file / cat, readable 4 KiB file" \
    "${versus_root[@]}"

[ "${TRACE:-0}" = 1 ] || exit 0
# Where the time of one mycat through the daemon goes: syscall tracepoints (bpftrace, which stops
# nothing and adds well under a microsecond an event) over TRACE_RUNS paced runs, reduced to the
# phases of the connection by bench/daemon-phases.py.
command -v bpftrace >/dev/null || bench_fail "TRACE=1 needs bpftrace (apt-get install bpftrace)"
trace=$work/out/phases
bpftrace bench/daemon-phases.bt > "$trace" 2> "$work/bpftrace.log" &
tracer=$!
bench_kill_on_exit "$tracer"
for _ in $(seq 100); do grep -q '^Attaching' "$trace" 2>/dev/null && break; sleep 0.1; done
sleep 1
for _ in $(seq "${TRACE_RUNS:-100}"); do
    "${as_user[@]}" env MYOPEN_SOCKET="$socket" "$mycat" "$work/data/secret" >/dev/null
    sleep 0.02
done
sleep 0.5
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true
python3 bench/daemon-phases.py "$trace"
