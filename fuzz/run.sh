#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), one after another, on the
# committed seeds in fuzz/corpus/<target>/. New inputs go to a scratch folder, so the tree is
# left as it was. Fails on the first target that finds a crash, a panic (every property is an
# assert) or a hang; the reproducer is left in fuzz/artifacts/<target>/.
#
# Runs on stable Rust: `cargo fuzz ... -s none` (no sanitizer) passes no -Z flag, only the
# sancov LLVM passes in RUSTFLAGS. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

cargo fuzz build -s none
for t in $TARGETS; do
    echo "== fuzz $t for ${SECONDS_EACH}s"
    mkdir -p "$SCRATCH/$t" "corpus/$t"
    log="$SCRATCH/$t.log"
    if ! cargo fuzz run -s none "$t" "$SCRATCH/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "FAIL: fuzz target $t found a problem (see fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov: ' "$log" | tail -n 4
done
echo "fuzz: every target ran ${SECONDS_EACH}s without a finding"
