#!/usr/bin/env bash
# The server CPU one 4 KiB link request costs, for comparing builds quickly (and bisecting):
# one Keyhole on core 0 with one worker, wrk on core 1 at 64 connections for 5 s after a 2 s
# warm-up, the server's user+system time read from /proc before and after. Run it for each
# build alternately, more than once; the figures only compare within one run of one machine.
#
#   benches/load/cpu_per_request.sh /path/to/keyhole [s3|swift]
#
# Needs wrk and the bench data (/tmp/perf-data/bench/small.bin) that ../shared/bench/setup.sh
# makes. The config and the link are the load bench's (targets/_keyhole.sh).
set -euo pipefail
KEYHOLE_BIN=$1 protocol=${2:-s3} port=${PORT:-17100}
PERF_DATA=${PERF_DATA:-/tmp/perf-data}
source "$(dirname "$0")/targets/_keyhole.sh"
dir=$(mktemp -d) pid=
trap '[[ -z $pid ]] || kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
keyhole_config "$dir/keyhole.toml" "$port"
RUST_LOG=warn taskset -c 0 "$KEYHOLE_BIN" serve --config "$CONFIG" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/_keyhole/healthz" && break
  sleep 0.1
done
url=$(share small.bin "$protocol")
curl -sf -o /dev/null "$url"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
taskset -c 1 wrk -t1 -c64 -d2s "$url" > /dev/null
before=$(cpu)
out=$(taskset -c 1 wrk -t1 -c64 -d5s "$url")
after=$(cpu)
requests=$(awk '/requests in/ {print $1}' <<< "$out")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
if grep -q Non-2xx <<< "$out" || [[ -z $requests ]]; then echo "wrk: $out" >&2; exit 1; fi
ticks=$(getconf CLK_TCK)
python3 -c "
r, t = $requests, ($after - $before) / $ticks
print(f'$(basename "$KEYHOLE_BIN") $protocol: {r / 5:.0f} requests/s, {t * 1e6 / r:.2f} us server CPU each, RSS {$rss} kB')"
