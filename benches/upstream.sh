#!/usr/bin/env bash
# Keyhole in front of a real store: SeaweedFS (tests/stores/seaweedfs.sh) with the s3 backend,
# against the same objects fetched from SeaweedFS directly with presigned GETs, in one run.
#
#   1. 1 GiB, one stream: throughput through Keyhole / direct, and Keyhole's CPU seconds per GiB
#   2. 4 KiB at 16 connections (wrk, DURATION s): p50 and p99 through Keyhole (a Swift link)
#      and direct (a presigned GET), and the time Keyhole adds
#   3. Keyhole's peak RSS while 8 clients each download the 1 GiB object through it
#
# Pinning: SeaweedFS on STORE_CPU (0), Keyhole on KEYHOLE_CPU (0), every client on CLIENT_CPU
# (1); direct runs keep the same pinning. On a 2-core machine Keyhole then shares a core with
# the store (KEYHOLE_CPU=0) or with the clients (KEYHOLE_CPU=1): run both. Release build;
# objects in SeaweedFS's volume, which is in the page cache after the warm-up.
#
# Usage: benches/upstream.sh            (DURATION=10 by default; needs weed, boto3, wrk)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
duration=${DURATION:-10}
store_cpu=${STORE_CPU:-0} keyhole_cpu=${KEYHOLE_CPU:-0} client_cpu=${CLIENT_CPU:-1}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
python3 -c 'import boto3' || { echo "boto3 is needed (pip install boto3)" >&2; exit 2; }

cargo build --release --quiet
work=$(mktemp -d /tmp/keyhole-upstream-bench.XXXXXX)
kpid=
cleanup() {
  [ -n "$kpid" ] && kill "$kpid" 2>/dev/null || true
  bash tests/stores/seaweedfs.sh stop "$work/store" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/store"
taskset -c "$store_cpu" bash tests/stores/seaweedfs.sh start "$work/store" >/dev/null
. "$work/store/ports.env"

head -c $((1024 * 1024 * 1024)) /dev/urandom >"$work/big.bin"
head -c 4096 /dev/urandom >"$work/small.bin"
big_sha=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
read -r direct_big direct_small < <(python3 - "$S3_ENDPOINT" "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$work" <<'PY'
import sys, boto3
from boto3.s3.transfer import TransferConfig
e, ak, sk, d = sys.argv[1:]
c = boto3.client("s3", endpoint_url=e, region_name="us-east-1",
                 aws_access_key_id=ak, aws_secret_access_key=sk)
c.create_bucket(Bucket="bench")
# One PUT per object (no multipart), as most objects are stored.
cfg = TransferConfig(multipart_threshold=2 * 1024**3)
for n in ("big.bin", "small.bin"):
    c.upload_file(f"{d}/{n}", "bench", n, Config=cfg)
url = lambda k: c.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600)
print(url("big.bin"), url("small.bin"))
PY
)
rm -f "$work/big.bin"

cat >"$work/keyhole.toml" <<TOML
listen = "127.0.0.1:0"
[backend]
kind = "s3"
endpoint = "$S3_ENDPOINT"
region = "us-east-1"
access_key = "$S3_ACCESS_KEY"
secret_key = "$S3_SECRET_KEY"
style = "path"
bucket = "{container}"
object = "{object}"
[[project]]
id = "bench"
temp_url_keys = ["bench-key"]
  [[project.container]]
  name = "bench"
TOML
RUST_LOG=warn taskset -c "$keyhole_cpu" ./target/release/keyhole serve --config "$work/keyhole.toml" >"$work/log" 2>&1 &
kpid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/log" && break; sleep 0.1; done
base=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/log" | head -1)
sign() { ./target/release/keyhole sign swift --key bench-key --path "/v1/AUTH_bench/bench/$1" --base-url "$base" --expires 1h; }
via_big=$(sign big.bin)
via_small=$(sign small.bin)

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
get_big() { # url -> seconds (and checks the bytes)
  local start end sha
  start=$(date +%s.%N)
  sha=$(taskset -c "$client_cpu" curl -sf "$1" | taskset -c "$client_cpu" sha256sum | cut -d' ' -f1)
  end=$(date +%s.%N)
  [ "$sha" = "$big_sha" ] || { echo "wrong bytes from $2" >&2; exit 1; }
  echo "$end - $start" | bc -l
}

echo "# Keyhole in front of SeaweedFS: $(date -u +%FT%TZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), sha_ni: $(grep -c sha_ni /proc/cpuinfo), load: $(cut -d' ' -f1-3 /proc/loadavg); cores: store $store_cpu, keyhole $keyhole_cpu, clients $client_cpu"
get_big "$direct_big" direct >/dev/null   # warm the store's volume into the page cache
echo
echo "## 1 GiB, one stream (best of 3)"
best_direct=999; best_via=999; cpu_via=0
for _ in 1 2 3; do
  t=$(get_big "$direct_big" direct)
  (( $(echo "$t < $best_direct" | bc -l) )) && best_direct=$t
  c0=$(cpu_of "$kpid")
  t=$(get_big "$via_big" keyhole)
  c1=$(cpu_of "$kpid")
  if (( $(echo "$t < $best_via" | bc -l) )); then best_via=$t; cpu_via=$(echo "($c1 - $c0) / $tck" | bc -l); fi
done
printf '| path | GB/s | Keyhole CPU s/GiB |\n|---|---|---|\n'
printf '| direct from SeaweedFS | %.2f | |\n' "$(echo "1.073741824 / $best_direct" | bc -l)"
printf '| through Keyhole | %.2f | %.3f |\n' "$(echo "1.073741824 / $best_via" | bc -l)" "$cpu_via"
printf '\nratio through/direct: %.3f\n' "$(echo "$best_direct / $best_via" | bc -l)"

echo
echo "## 4 KiB, 16 connections, ${duration}s each (wrk, latency in ms)"
lat() { # url -> "p50 p99 req/s"
  taskset -c "$client_cpu" wrk -t1 -c16 -d"${duration}s" --latency "$1" 2>&1 | awk '
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2}
    /Non-2xx/ {bad=1}
    END {if (bad) {print "non-2xx answers" > "/dev/stderr"; exit 1}; print p50, p99, rps}'
}
ms() { case $1 in *us) echo "${1%us} / 1000" | bc -l;; *ms) echo "${1%ms}";; *s) echo "${1%s} * 1000" | bc -l;; esac; }
read -r d50 d99 drps < <(lat "$direct_small")
read -r v50 v99 vrps < <(lat "$via_small")
printf '| path | p50 | p99 | req/s |\n|---|---|---|---|\n'
printf '| direct presigned GET | %.3f | %.3f | %s |\n' "$(ms "$d50")" "$(ms "$d99")" "$drps"
printf '| through Keyhole (Swift link) | %.3f | %.3f | %s |\n' "$(ms "$v50")" "$(ms "$v99")" "$vrps"
printf '\nadded by Keyhole: p50 %.3f ms, p99 %.3f ms\n' \
  "$(echo "$(ms "$v50") - $(ms "$d50")" | bc -l)" "$(echo "$(ms "$v99") - $(ms "$d99")" | bc -l)"

echo
echo "## Keyhole's RSS while 8 clients each download 1 GiB through it"
peak=0
pids=()
for _ in $(seq 8); do
  taskset -c "$client_cpu" curl -sf -o /dev/null "$via_big" & pids+=($!)
done
while kill -0 "${pids[@]}" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$kpid/status")
  (( rss > peak )) && peak=$rss
  sleep 0.05
done
for p in "${pids[@]}"; do wait "$p" || { echo "a download failed" >&2; exit 1; }; done
printf 'peak RSS: %.1f MiB (VmHWM %s)\n' "$(echo "$peak / 1024" | bc -l)" "$(awk '/VmHWM/ {print $2 " kB"}' "/proc/$kpid/status")"
