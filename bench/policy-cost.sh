#!/bin/bash
# The policy's share of a one-shot request, in instructions (callgrind), for policies of 1, 200
# and 10,000 rules in the shapes bench/user-case.sh uses (the granting rule last). Runs
# examples/policy_cost.rs, which loads the policy as the helper does (the same reads and checks,
# real name lookups) and decides one open. Needs root (the loader wants root-owned files) and
# valgrind. Instruction counts repeat to the instruction on one machine, so one run per size is
# enough; the ratios are what to compare.
#
# Two builds, side by side: glibc (dynamic, the default target) and musl (static, as the helper
# is built with BENCH_MUSL=1 and by the musl build), whose malloc costs more per call. The musl
# one is left out, and said so, when its target is not installed.
#
#     bench/policy-cost.sh                      # POLICY_COST_BUILDS="glibc musl" by default
#     POLICY_COST_ANNOTATE=1 bench/policy-cost.sh   # and where the 10,000-rule load goes
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "policy-cost.sh: needs valgrind" >&2; exit 1; }
musl_target=x86_64-unknown-linux-musl
builds=${POLICY_COST_BUILDS:-glibc musl}
declare -A binary
for build in $builds; do
    case $build in
        glibc)
            cargo build --release --locked -p openfile-helper --example policy_cost > /dev/null 2>&1
            binary[glibc]=target/release/examples/policy_cost ;;
        musl)
            if ! rustup target list --installed 2> /dev/null | grep -qx "$musl_target"; then
                echo "# musl: target $musl_target not installed, left out" >&2
                continue
            fi
            # Building an example builds the dev-dependencies, and the tests crate's build script
            # compiles the book's C programs, which the example never links: without a musl C
            # compiler, the system's one does.
            cc_variable=CC_${musl_target//-/_}
            export "$cc_variable=${!cc_variable:-$(command -v x86_64-linux-musl-gcc || command -v musl-gcc || echo cc)}"
            RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
                -p openfile-helper --example policy_cost --target "$musl_target" > /dev/null 2>&1
            binary[musl]=target/$musl_target/release/examples/policy_cost ;;
        *) echo "policy-cost.sh: unknown build $build (glibc, musl)" >&2; exit 2 ;;
    esac
done
work=$(mktemp -d /tmp/myopen-policy-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
user=$(id -un 65534)
bench/make-policies.py "$user" "$work/data" "$work/{count}/myopen/policy.toml"
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); instructions of examples/policy_cost (load + one decision), callgrind"
for build in $builds; do
    [ -n "${binary[$build]:-}" ] || continue
    declare -A counts=()
    # Each policy as its file alone (parsed), then compiled (policy_cost --compile, as
    # openfile-helper --compile; the example reads it as the helper does).
    for form in parsed compiled; do
        for rules in 1 200 10000; do
            rm -rf "$work/$rules/myopen/compiled"
            if [ "$form" = compiled ]; then
                "${binary[$build]}" --compile "$work/$rules" > /dev/null
            fi
            out=$work/callgrind.$build.$form.$rules
            valgrind --tool=callgrind --callgrind-out-file="$out" \
                "${binary[$build]}" "$work/$rules" "$work/data/secret" 65534:65534 \
                > "$work/out.$rules" 2> "$work/valgrind.$rules" \
                || { cat "$work/out.$rules" "$work/valgrind.$rules" >&2; exit 1; }
            counts[$form.$rules]=$(sed -n 's/^summary: //p' "$out")
            printf '%-5s %-8s %6s rules: %12s instructions (%s)\n' "$build" "$form" "$rules" \
                "${counts[$form.$rules]}" "$(cat "$work/out.$rules")"
        done
    done
    for form in parsed compiled; do
        for rules in 200 10000; do
            awk -v n="${counts[$form.$rules]}" -v one="${counts[parsed.1]}" -v rules="$rules" \
                -v build="$build" -v form="$form" \
                'BEGIN { printf "%-5s %s rules, %s / 1 rule, parsed: %.2fx; %.0f instructions per added rule\n", build, rules, form, n / one, (n - one) / (rules - 1) }'
        done
    done
    if [ -n "${POLICY_COST_ANNOTATE:-}" ]; then
        callgrind_annotate --inclusive=yes "$work/callgrind.$build.parsed.10000" | head -60
    fi
done
