#!/usr/bin/env bash
# mycat against cat as whole processes (hyperfine, warm cache, side by side in one run): with
# --always-helper (the book's way, one helper per file, like the C book mycat) and in its default
# mode (a readable file is opened directly, no helper).
# Prints hyperfine's table and the ratios; `make bench` runs it after building the release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bins -q
helper=$PWD/target/release/openfile-helper
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The book's client, compiled here from tests/c/ as build.rs compiles it: no dependence on where
# cargo keeps build-script output, or on which of several copies is newest.
unp_mycat=$work/unp_mycat
cc -O2 -Wall -Wextra -o "$unp_mycat" tests/c/unp_mycat.c tests/c/unp_myopen.c

head -c 4096 /dev/urandom > "$work/4k"
results=$work/results.json
hyperfine -N --warmup 50 --runs 500 --export-json "$results" --export-markdown "$work/table.md" \
  -n "cat 4KiB" "cat $work/4k" \
  -n "mycat 4KiB" "target/release/mycat --always-helper --helper $helper $work/4k" \
  -n "mycat default mode 4KiB" "target/release/mycat --helper $helper $work/4k" \
  -n "C book mycat 4KiB" "$unp_mycat $helper $work/4k" >/dev/null

cat "$work/table.md"
python3 - "$results" <<'PY'
import json, sys
runs = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
def line(name):
    r = runs[name]
    return f'{name}: min {r["min"]*1e3:.3f} ms, median {r["median"]*1e3:.3f} ms, max {r["max"]*1e3:.3f} ms'
for name in runs:
    print(line(name))
base = runs["cat 4KiB"]["median"]
for name in runs:
    print(f'{name} / cat median ratio: {runs[name]["median"] / base:.2f}')
print(f'mycat / C book mycat median ratio: {runs["mycat 4KiB"]["median"] / runs["C book mycat 4KiB"]["median"]:.2f}')
PY
