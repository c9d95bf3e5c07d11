#!/usr/bin/env bash
# The load bench: Keyhole (Swift and S3 links) against nginx (static and secure_link) in one
# run, measured by the shared harness (../shared/bench: wrk, curl, hyperfine; server pinned
# to core 0, clients to core 1; every download's sha256 checked, non-2xx refused).
#
#   benches/load/run.sh                       # nginx-static nginx-securelink keyhole-swift keyhole-s3
#   benches/load/run.sh nginx-securelink keyhole-swift nginx-securelink keyhole-swift
#   DURATION=5 REPS=1 benches/load/run.sh     # a quick pass
#   KEYHOLE_BASE_BIN=/path/to/old/keyhole benches/load/run.sh keyhole-s3-base keyhole-s3
#
# The harness is copied to a temporary folder with Keyhole's targets added; its results stay
# there (printed at the end). Run on an otherwise idle machine.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
harness=${BENCH_HARNESS:-$repo/../shared/bench}
[[ -x $harness/run.sh ]] || { echo "no bench harness at $harness (set BENCH_HARNESS)" >&2; exit 2; }
targets=("$@")
((${#targets[@]})) || targets=(nginx-static nginx-securelink keyhole-swift keyhole-s3)

work=${BENCH_WORK:-$(mktemp -d /tmp/keyhole-load.XXXXXX)}
cp -r "$harness/." "$work/"
chmod -R u+w "$work"
cp "$repo"/benches/load/targets/*.sh "$work/targets/"
# The harness expects 403 for an unsigned URL; Swift answers 401, so targets may say so.
sed -i 's/if \[\[ \$code2 == 403 \]\]/if [[ $code2 == "${NOSIG_EXPECT:-403}" ]]/; s/(expected 403) FAIL/(expected ${NOSIG_EXPECT:-403}) FAIL/' "$work/run.sh"
rm -rf "$work/results"; mkdir -p "$work/results"

# KEYHOLE_BIN picks the binary to measure (default: this tree, built here); the targets
# keyhole-swift-base and keyhole-s3-base run KEYHOLE_BASE_BIN (another commit's build) in the
# same pass, so two builds are compared within one run.
if [[ -z ${KEYHOLE_BIN:-} ]]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
  KEYHOLE_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/keyhole
fi
export KEYHOLE_BIN KEYHOLE_BASE_BIN=${KEYHOLE_BASE_BIN:-} KEYHOLE_REPO=$repo
SKIP_RUST=1 "$work/setup.sh"
rc=0
"$work/run-all.sh" "${targets[@]}" || rc=$?
for t in "${targets[@]}"; do "$work/targets/stop.sh" "$t" >/dev/null 2>&1 || true; done
python3 "$work/tools/summarize.py" "${targets[@]}"
base=nginx-securelink
# Ratios only when the pass measured the target they are taken against.
if [[ " ${targets[*]} " == *" $base "* ]]; then
  python3 "$work/tools/summarize.py" --vs "$base" "${targets[@]}" || true
fi
echo "raw results: $work/results" >&2
if ((rc)); then echo "a target failed its correctness checks or did not start: no figures to report" >&2; fi
exit $rc
