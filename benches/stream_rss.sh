#!/usr/bin/env bash
# Streaming under load: the server's RSS while N clients download one large object at once,
# and single-stream throughput on loopback. Release build, public container (no signing),
# object in the page cache (the network path, not the disk, is what is measured).
#
# Usage: benches/stream_rss.sh [SIZE_MIB=1024] [CLIENTS=8]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
clients=${2:-8}

cargo build --release --quiet
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/data/bench/pub"
obj="$work/data/bench/pub/big.bin"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$obj"
cat >"$work/keyhole.toml" <<TOML
listen = "127.0.0.1:0"
[backend]
kind = "fs"
root = "data"
[[project]]
id = "bench"
temp_url_keys = ["bench-key"]
  [[project.container]]
  name = "pub"
  public = true
TOML

RUST_LOG=warn ./target/release/keyhole serve --config "$work/keyhole.toml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/log" && break; sleep 0.1; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/log" | head -1)
url="$base/v1/AUTH_bench/pub/big.bin"
cat "$obj" >/dev/null # warm the page cache

rss() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$pid/status"; }
echo "idle: VmRSS $(rss VmRSS) kB, VmHWM $(rss VmHWM) kB"

speed=$(curl -s -o /dev/null -w '%{speed_download}' "$url")
echo "single stream: $(awk -v s="$speed" 'BEGIN {printf "%.0f MB/s (%.0f MiB/s)", s / 1e6, s / 1048576}') for ${size_mib} MiB"

max=0
for _ in $(seq "$clients"); do curl -s -o /dev/null "$url" & done
start=$(date +%s.%N)
while [ -n "$(jobs -rp | grep -v "^$pid\$" || true)" ]; do
  r=$(rss VmRSS)
  [ "$r" -gt "$max" ] && max=$r
  sleep 0.1
done
end=$(date +%s.%N)
total=$(awk -v n="$clients" -v m="$size_mib" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n * m * 1.048576 / (b - a)}')
echo "$clients concurrent: peak sampled VmRSS ${max} kB, VmHWM $(rss VmHWM) kB, aggregate ~${total} MB/s"
