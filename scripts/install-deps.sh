#!/usr/bin/env bash
# Installs what the build, the tests and the benchmarks need on a fresh Debian machine: a C
# and a C++ compiler, pkg-config and python3 (interop and libmyopen tests), setpriv (running
# clients as other users), setcap/getcap (file capability installs), hyperfine (benchmarks), the
# systemd-socket-activate (the socket-activated daemon tests), systemd-analyze and strace (the
# daemon unit's checks), the unmodified programs the myopen-run tests drive (busybox-static,
# gawk, gzip, less) and sudo (the myopen-run benchmark compares it); and the Rust musl target
# (the musl-linked helper option). Installs only what is missing; needs root for the packages.
set -euo pipefail

declare -A package_of=(
  [cc]=gcc
  [c++]=g++
  [pkg-config]=pkg-config
  [python3]=python3
  [setpriv]=util-linux
  [setcap]=libcap2-bin
  [hyperfine]=hyperfine
  [systemd-socket-activate]=systemd
  [systemd-analyze]=systemd
  [install]=coreutils
  [findmnt]=util-linux
  [dpkg-shlibdeps]=dpkg-dev
  [strip]=binutils
  [lintian]=lintian
  [rpmbuild]=rpm
  [mandoc]=mandoc
  [man]=man-db
  [socat]=socat
  [strace]=strace
  [busybox]=busybox-static
  [gawk]=gawk
  [zcat]=gzip
  [less]=less
  [/usr/bin/python3]=python3
  [sudo]=sudo
)
missing=()
for command in "${!package_of[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
# The musl target, for `make install HELPER_LINK=static-musl` and the start-up benchmark
# (bench/oneshot-static-vs-dynamic.sh). rustup installs it for the user who runs this, without root.
host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
musl=${host/-gnu/-musl}
if [ -n "$host" ] && command -v rustup >/dev/null 2>&1 \
    && ! rustup target list --installed | grep -qx "$musl"; then
  echo "install-deps: adding the Rust target $musl"
  rustup target add "$musl"
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run 'sudo make deps' (or apt-get install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
