#!/usr/bin/env bash
# mycat against cat as whole processes (hyperfine, warm cache, side by side in one run): with
# --always-helper (the book's way, one helper per file, like the C book mycat) and in its default
# mode (a readable file is opened directly, no helper).
# The helper is the plain build, not installed privileged, so no policy applies: this compares
# our mycat with the book's against the same helper, not the user's case (bench/user-case.sh).
# mycat both as the glibc release build and as `make install` links it (static musl).
# Prints the table and the ratios (bench/summarise.py); `make bench` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bins -q
helper=$PWD/target/release/openfile-helper
# mycat as `make install` links it by default (MYCAT_LINK=static-musl), beside the glibc build:
# whole-process figures are mostly start-up, which the link decides.
host=$(rustc -vV | sed -n 's/^host: //p')
static_mycat=target/bench-helper/${host/-gnu/-musl}/release/mycat
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked -q -p mycat --bins --target "${host/-gnu/-musl}" \
    --target-dir target/bench-helper
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The book's client, compiled here from tests/c/ as build.rs compiles it: no dependence on where
# cargo keeps build-script output, or on which of several copies is newest.
unp_mycat=$work/unp_mycat
cc -O2 -Wall -Wextra -o "$unp_mycat" tests/c/unp_mycat.c tests/c/unp_myopen.c

head -c 4096 /dev/urandom > "$work/4k"
results=$work/results.json
hyperfine -N --warmup 50 --runs 500 --export-json "$results" \
  -n "cat 4KiB" "cat $work/4k" \
  -n "mycat 4KiB" "target/release/mycat --always-helper --helper $helper $work/4k" \
  -n "mycat default mode 4KiB" "target/release/mycat --helper $helper $work/4k" \
  -n "static mycat 4KiB" "$static_mycat --always-helper --helper $helper $work/4k" \
  -n "static mycat default mode 4KiB" "$static_mycat --helper $helper $work/4k" \
  -n "C book mycat 4KiB" "$unp_mycat $helper $work/4k" >/dev/null

python3 bench/summarise.py hyperfine "$results" \
  --title "mycat against cat, run by $(id -un); plain helper build, no policy" \
  --ratio "mycat 4KiB / cat 4KiB" --ratio "mycat default mode 4KiB / cat 4KiB" \
  --ratio "static mycat 4KiB / cat 4KiB" --ratio "static mycat default mode 4KiB / cat 4KiB" \
  --ratio "C book mycat 4KiB / cat 4KiB" --ratio "mycat 4KiB / C book mycat 4KiB"
