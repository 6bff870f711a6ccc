#!/bin/bash
# The policy's share of a one-shot request, in instructions (callgrind), for policies of 1, 200
# and 10,000 rules in the shapes bench/user-case.sh uses (the granting rule last). Runs
# examples/policy_cost.rs, which loads the policy as the helper does (the same reads and checks,
# real name lookups) and decides one open. Needs root (the loader wants root-owned files) and
# valgrind. Instruction counts repeat to the instruction on one machine, so one run per size is
# enough; the ratios are what to compare.
#
#     bench/policy-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "policy-cost.sh: needs valgrind" >&2; exit 1; }
cargo build --release --locked -p openfile-helper --example policy_cost > /dev/null 2>&1
work=$(mktemp -d /tmp/myopen-policy-cost.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
user=$(id -un 65534)
bench/make-policies.py "$user" "$work/data" "$work/{count}/myopen/policy.toml"
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); instructions of examples/policy_cost (load + one decision), callgrind"
declare -A counts
for rules in 1 200 10000; do
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$rules" \
        target/release/examples/policy_cost "$work/$rules" "$work/data/secret" 65534:65534 \
        > "$work/out.$rules" 2> "$work/valgrind.$rules" \
        || { cat "$work/out.$rules" "$work/valgrind.$rules" >&2; exit 1; }
    counts[$rules]=$(sed -n 's/^summary: //p' "$work/callgrind.$rules")
    printf '%6s rules: %12s instructions (%s)\n' "$rules" "${counts[$rules]}" "$(cat "$work/out.$rules")"
done
for rules in 200 10000; do
    awk -v n="${counts[$rules]}" -v one="${counts[1]}" -v rules="$rules" \
        'BEGIN { printf "%s rules / 1 rule: %.2fx; %.0f instructions per added rule\n", rules, n / one, (n - one) / (rules - 1) }'
done
if [ -n "${POLICY_COST_ANNOTATE:-}" ]; then
    callgrind_annotate --inclusive=yes "$work/callgrind.10000" | head -60
fi
