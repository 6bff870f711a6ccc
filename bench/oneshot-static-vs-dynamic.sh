#!/usr/bin/env bash
# One-shot my_open as a user, four helpers side by side in one run: the book's C openfile, our
# helper linked dynamically, as a static PIE with glibc, and as a static PIE with musl (what
# `make install` builds), each installed setuid root in a private directory, with a one-rule
# policy and a syslog reader.
# Run as root: sudo bench/oneshot-static-vs-dynamic.sh [ROUNDS] [OPENS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} opens=${2:-500}
[ "$(id -u)" -eq 0 ] || { echo "needs root (it installs setuid copies)" >&2; exit 1; }
user=myopen-alice
id "$user" >/dev/null 2>&1 || { echo "needs the test user $user (run a privileged test once)" >&2; exit 1; }
work=$(mktemp -d /tmp/myopen-oneshot-XXXXXX)
syslog_pid=
cleanup() { [ -n "$syslog_pid" ] && kill "$syslog_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
chmod 755 "$work"
etc=$work/etc log=$work/log.sock
mkdir -p "$etc/myopen/policy.d"
head -c 4096 /dev/zero >"$work/secret"; chmod 600 "$work/secret"
printf '[[allow]]\npath = "%s/secret"\nusers = ["%s"]\naccess = ["read"]\n' "$work" "$user" \
  >"$etc/myopen/policy.toml"
socat -u UNIX-RECV:"$log" /dev/null & syslog_pid=$!
for _ in $(seq 50); do [ -S "$log" ] && break; sleep 0.05; done
chmod 666 "$log"
host=$(rustc -vV | sed -n 's/^host: //p')
musl=${host/-gnu/-musl}
build() { # target-dir target [rustflags]
  MYOPEN_SYSCONFDIR=$etc MYOPEN_SYSLOG_SOCKET=$log RUSTFLAGS="${3:-}" cargo build -q --release \
    --locked -p openfile-helper --bin openfile-helper --target "$2" --target-dir "$1"
}
build "$work/dynamic" "$host"
build "$work/static" "$host" "-C target-feature=+crt-static"
build "$work/musl" "$musl" "-C target-feature=+crt-static"
cp "$work/dynamic/$host/release/openfile-helper" "$work/h-dynamic"
cp "$work/static/$host/release/openfile-helper" "$work/h-static"
cp "$work/musl/$musl/release/openfile-helper" "$work/h-musl"
cargo build -q -p myopen-tests --locked --tests
cp "$(find target/debug/build -name unp_openfile -type f | head -1)" "$work/h-book"
cp "$(find target/debug/build -name unp_mycat -type f | head -1)" "$work/client"
for helper in h-book h-dynamic h-static h-musl; do chown root:root "$work/$helper"; chmod 4755 "$work/$helper"; done
chmod 755 "$work/client"
echo "per open, $opens one-shot opens of a root-only 4 KiB file as $user (the book's client each time)"
for round in $(seq "$rounds"); do
  for helper in h-book h-dynamic h-static h-musl; do
    setpriv --reuid="$(id -u $user)" --regid="$(id -g $user)" --init-groups bash -c "
      s=\$(date +%s%N)
      for _ in \$(seq $opens); do '$work/client' '$work/$helper' '$work/secret' >/dev/null || exit 1; done
      e=\$(date +%s%N)
      echo \"round $round $helper \$(( (e - s) / ($opens * 1000) )) us\""
  done
done
