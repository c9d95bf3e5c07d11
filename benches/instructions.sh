#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a figure that does not
# drift with the machine the way requests/s do on a shared VM, for A/B-ing a change to the
# request path. Kernel work (syscalls, TCP) is not counted.
#
#   benches/instructions.sh [REQUESTS]        # default 2000; needs valgrind and python3
#
# It serves one 4 KiB object through a Swift link and an S3 (SigV4) link, warms the link
# cache, then counts REQUESTS keep-alive GETs of each. Under valgrind openat2 is refused, so
# the filesystem backend's component-walk fallback is what gets counted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-2000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin=$repo/target/release/keyhole
work=$(mktemp -d /tmp/keyhole-instr.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data/p/c"
head -c 4096 /dev/urandom > "$work/data/p/c/small.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/k.toml" <<EOF
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[backend]
kind = "fs"
root = "$work/data"
[[project]]
id = "p"
temp_url_keys = ["bench-key"]
  [[project.s3_key]]
  access_key = "BENCHKEY"
  secret_key = "benchsecret"
EOF

count() { # label url
  local out=$work/cg.out
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" serve --config "$work/k.toml" --workers 1 >"$work/vg.log" 2>&1 &
  local vg=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$2" && break; sleep 0.2; done
  python3 - "$2" "$n" "$vg" <<'PY'
import http.client, subprocess, sys, urllib.parse
url, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
u = urllib.parse.urlsplit(url)
path = u.path + "?" + u.query
c = http.client.HTTPConnection(u.hostname, u.port)
def get(k):
    for _ in range(k):
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or len(body) != 4096:
            sys.exit(f"unexpected answer {r.status}, {len(body)} bytes")
get(50)
subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
get(n)
subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
PY
  kill "$vg"; wait "$vg" 2>/dev/null || true
  local part
  part=$(grep -l '^part: 1' "$out"* | head -1)
  awk -v n="$n" -v label="$1" '/^summary:/ {printf "%-10s %8d instructions per request\n", label, $2 / n}' "$part"
  rm -f "$out"*
}

swift=$("$bin" share --config "$work/k.toml" p/c/small.bin --expires 1d)
s3=$("$bin" share --config "$work/k.toml" p/c/small.bin --protocol s3 --expires 1d)
count swift "$swift"
count s3 "$s3"
