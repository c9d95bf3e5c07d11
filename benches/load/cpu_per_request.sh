#!/usr/bin/env bash
# The server CPU one 4 KiB link request costs, for comparing builds quickly (and bisecting):
# one Keyhole on core 0 with one worker, wrk on core 1 at 64 connections for 5 s after a 2 s
# warm-up, the server's user+system time read from /proc before and after. Run it for each
# build alternately, more than once; the figures only compare within one run of one machine.
#
#   benches/load/cpu_per_request.sh /path/to/keyhole [s3|swift]
#
# Needs wrk and the bench data (/tmp/perf-data/bench/small.bin) that ../shared/bench/setup.sh
# makes.
set -euo pipefail
bin=$1 protocol=${2:-s3} port=${PORT:-17100}
data=${PERF_DATA:-/tmp/perf-data}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/keyhole.toml" <<CFG
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
workers = 1
[backend]
kind = "fs"
root = "$(dirname "$data")"
[[project]]
id = "$(basename "$data")"
temp_url_keys = ["bench-temp-url-key"]
  [[project.container]]
  name = "bench"
  [[project.s3_key]]
  access_key = "KEYHOLEBENCHKEY"
  secret_key = "keyhole-bench-secret"
CFG
RUST_LOG=warn taskset -c 0 "$bin" serve --config "$dir/keyhole.toml" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/_keyhole/healthz" && break
  sleep 0.1
done
life=30d
[[ $protocol == s3 ]] && life=7d
url=$("$bin" share --config "$dir/keyhole.toml" "$(basename "$data")/bench/small.bin" \
  --protocol "$protocol" --mode download --expires "$life")
curl -sf -o /dev/null "$url"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
taskset -c 1 wrk -t1 -c64 -d2s "$url" > /dev/null
before=$(cpu)
out=$(taskset -c 1 wrk -t1 -c64 -d5s "$url")
after=$(cpu)
requests=$(awk '/requests in/ {print $1}' <<< "$out")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
if grep -q Non-2xx <<< "$out"; then echo "non-2xx answers: $out" >&2; exit 1; fi
ticks=$(getconf CLK_TCK)
python3 -c "
r, t = $requests, ($after - $before) / $ticks
print(f'$(basename "$bin") $protocol: {r / 5:.0f} requests/s, {t * 1e6 / r:.2f} us server CPU each, RSS {$rss} kB')"
