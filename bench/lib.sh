# What the root-run bench scripts that measure an unprivileged caller share; sourced, never run.
#
#   source bench/lib.sh
#   bench_start NAME "why it needs root" TOOL...   # root and tools checked, $work made, trap set
#   bench_caller                                   # $user $uid $gid, "${as_user[@]}" (BENCH_USER)
#   $summarise                                     # bench/summarise.py, the one summariser
#   bench_build                                    # $helper_build: openfile-helper; $daemon_build: myopend;
#                                                  # $mycat_build: mycat as make install builds it;
#                                                  # target/release: the bench clients, and mycat
#                                                  # linked dynamically (glibc)
#   bench_start_syslog                             # a socat reader on $work/log.sock
#   bench_on_exit COMMAND...                       # run by the exit trap, last added first
#   bench_kill_on_exit PID                         # killed and reaped by the exit trap
#
# $work is a private directory made by mktemp (mode 0755, owned by root) and removed on every
# exit path; the helper is built with its SYSCONFDIR ($work/etc) and syslog socket
# ($work/log.sock) inside it, so no system policy is touched.

bench_name=bench
summarise=bench/summarise.py
bench_exit_commands=()
bench_exit_pids=()

bench_cleanup() {
    local pid index
    for pid in "${bench_exit_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ((index = ${#bench_exit_commands[@]} - 1; index >= 0; index--)); do
        eval "${bench_exit_commands[index]}" || true
    done
    if [ -n "${work:-}" ]; then rm -rf -- "$work"; fi
}

bench_on_exit() {
    bench_exit_commands+=("$*")
}

bench_kill_on_exit() {
    bench_exit_pids+=("$1")
}

bench_fail() {
    echo "$bench_name: $*" >&2
    exit 1
}

bench_start() { # name, why root, tools...
    bench_name=$1
    local why=$2 tool
    shift 2
    [ "$(id -u)" -eq 0 ] || bench_fail "needs root ($why)"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || bench_fail "$tool is missing (make deps)"
    done
    work=$(mktemp -d /tmp/myopen-bench.XXXXXX)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    chmod 0755 "$work"
}

bench_caller() {
    user=${BENCH_USER:-nobody}
    uid=$(id -u "$user")
    gid=$(id -g "$user")
    as_user=(setpriv "--reuid=$uid" "--regid=$gid" --init-groups --)
}

# The helper and mycat as `make install` builds them: static PIEs linked with musl
# (HELPER_LINK=static-musl and MYCAT_LINK=static-musl, the defaults; BENCH_MUSL=0: the helper
# with glibc, HELPER_LINK=static; BENCH_MYCAT_LINK=dynamic: the glibc mycat), with the policy
# and the syslog socket in $work; myopend as make install ships it, a dynamic build with the same
# paths ($daemon_build); myopen-tests' programs (myopen-bench-client, fd-floor) and a dynamic
# mycat as release builds.
bench_build() {
    local host target
    host=$(rustc -vV | sed -n 's/^host: //p')
    target=${host/-gnu/-musl}
    [ "${BENCH_MUSL:-1}" = 0 ] && target=$host
    MYOPEN_SYSCONFDIR=$work/etc MYOPEN_SYSLOG_SOCKET=$work/log.sock \
      RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked -q -p openfile-helper --bins --target "$target" \
          --target-dir target/bench-helper
    helper_build=target/bench-helper/$target/release
    # mycat as MYCAT_LINK=static-musl builds it (BENCH_MYCAT_LINK=dynamic: the glibc one).
    if [ "${BENCH_MYCAT_LINK:-static-musl}" = static-musl ]; then
        RUSTFLAGS="-C target-feature=+crt-static" \
          cargo build --release --locked -q -p mycat --bins --target "${host/-gnu/-musl}" \
            --target-dir target/bench-helper
        mycat_build=target/bench-helper/${host/-gnu/-musl}/release
    else
        mycat_build=target/release
    fi
    helper_target=$target
    MYOPEN_SYSCONFDIR=$work/etc MYOPEN_SYSLOG_SOCKET=$work/log.sock \
        cargo build --release --locked -q -p openfile-helper --bin myopend \
          --target-dir target/bench-daemon
    daemon_build=target/bench-daemon/release
    cargo build --release --locked -q -p mycat -p myopen-tests --bins
}

# The helper refuses a grant whose audit record cannot be delivered, so a socat reader stands in
# for syslog.
bench_start_syslog() {
    local receiver
    socat -u "UNIX-RECV:$work/log.sock,perm=0666" OPEN:/dev/null &
    receiver=$!
    bench_kill_on_exit "$receiver"
    for _ in $(seq 50); do [ -S "$work/log.sock" ] && break; sleep 0.1; done
    [ -S "$work/log.sock" ] || bench_fail "the syslog receiver did not start"
}

bench_header() { # what was run, beyond the machine and the commit
    echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); caller: $user;" \
      "helper: ${helper_target:-not built}; $*"
}
