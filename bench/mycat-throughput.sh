#!/usr/bin/env bash
# mycat against GNU cat and uutils cat (Debian's rust-coreutils) as whole processes, side by side
# in one hyperfine run per case, warm cache: a 1 GiB file to /dev/null, into a pipe read by a
# drain program, to a regular file on the same file system, and a 4 KiB file to /dev/null. Then
# the peak RSS of each for the 1 GiB case (`time -f %M`).
#
#   bench/mycat-throughput.sh            # RUNS=10 by default; SIZE=1G; WORK=/tmp
#
# Needs hyperfine, python3, cc, GNU time (/usr/bin/time) and rust-coreutils; the 1 GiB files live
# in a temporary directory under $WORK and are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${RUNS:-10}
size=${SIZE:-1G}
cargo build --release --locked --bins -q
mycat=$PWD/target/release/mycat
gnu_cat=$(command -v cat)
uu_cat=${UU_CAT:-/usr/lib/cargo/bin/coreutils/cat}
[ -x "$uu_cat" ] || { echo "uutils cat not found at $uu_cat (apt-get install rust-coreutils)" >&2; exit 1; }

work=$(mktemp -d "${WORK:-/tmp}/mycat-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The drain: reads the pipe into a buffer and throws it away, the same for every cat.
cat > "$work/drain.c" <<'C'
#include <unistd.h>
static char buffer[1 << 17];
int main(void) { while (read(0, buffer, sizeof buffer) > 0) {} return 0; }
C
cc -O2 -o "$work/drain" "$work/drain.c"

head -c "$size" /dev/urandom > "$work/big"
head -c 4096 /dev/urandom > "$work/4k"
cat "$work/big" > /dev/null # warm the page cache

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# GNU: $("$gnu_cat" --version | head -n1); uutils: $("$uu_cat" --version | head -n1); mycat: $("$mycat" --version)"

declare -A names=([gnu]="GNU cat" [uu]="uutils cat" [mycat]="mycat")
declare -A programs=([gnu]="$gnu_cat" [uu]="$uu_cat" [mycat]="$mycat")
order=(gnu uu mycat)

bench() { # case-name hyperfine-args... (commands built by the caller)
    local case=$1 json; shift
    json="$work/results-$(tr -c 'A-Za-z0-9' - <<<"$case").json"
    hyperfine -N --style none --export-json "$json" "$@" >/dev/null
    python3 bench/summarise.py hyperfine "$json" --title "$case" --column "GNU cat"
}

commands() { # template with %s for the program
    for key in "${order[@]}"; do
        printf -- '-n\n%s\n%s\n' "${names[$key]}" "$(printf "$1" "${programs[$key]}")"
    done
}

mapfile -t args < <(commands "sh -c 'exec %s $work/big > /dev/null'")
bench "1 GiB to /dev/null" --warmup 2 --runs "$runs" "${args[@]}"

mapfile -t args < <(commands "sh -c '%s $work/big | $work/drain'")
bench "1 GiB into a pipe read by a drain program" --warmup 2 --runs "$runs" "${args[@]}"

mapfile -t args < <(commands "sh -c 'exec %s $work/big > $work/out'")
bench "1 GiB to a regular file (same file system)" --warmup 2 --runs "$runs" "${args[@]}"
rm -f "$work/out"

mapfile -t args < <(commands "sh -c 'exec %s $work/4k > /dev/null'")
bench "4 KiB to /dev/null" --warmup 50 --runs $((runs * 30)) "${args[@]}"

echo
echo "## Peak RSS, 1 GiB (time -f %M, KiB)"
echo
echo "| command | to /dev/null | into a pipe | to a regular file |"
echo "| --- | ---: | ---: | ---: |"
for key in "${order[@]}"; do
    program=${programs[$key]}
    null=$(/usr/bin/time -f %M "$program" "$work/big" 2>&1 >/dev/null)
    pipe=$( { /usr/bin/time -f %M "$program" "$work/big" 2>&3 | "$work/drain"; } 3>&1 )
    file=$(/usr/bin/time -f %M "$program" "$work/big" 2>&1 >"$work/out")
    rm -f "$work/out"
    echo "| ${names[$key]} | $null | $pipe | $file |"
done
