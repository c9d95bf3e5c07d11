#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a figure that does not
# drift with the machine the way requests/s do on a shared VM, for A/B-ing a change to the
# request path. Kernel work (syscalls, TCP) is not counted.
#
#   benches/instructions.sh [REQUESTS]        # default 2000; needs valgrind and python3
#
# It serves one 4 KiB object through a Swift link and an S3 (SigV4) link, warms the link
# cache, then counts REQUESTS keep-alive GETs of each. Under valgrind openat2 is refused, so
# the filesystem backend's component-walk fallback is what gets counted. When nginx is
# installed, the same object through its `secure_link` module (one process, one worker, as
# in the load bench) is counted the same way, for scale.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-2000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
# rustix's own vDSO lookup reads memory valgrind does not map (rustix issue #1559); its libc
# backend goes through glibc's, which valgrind knows. Built apart so the cfg stays here.
RUSTFLAGS="--cfg=rustix_use_libc" CARGO_TARGET_DIR="$repo/target/valgrind" \
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
bin=$repo/target/valgrind/release/keyhole
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
  [[project.container]]
  name = "c"
  [[project.s3_key]]
  access_key = "BENCHKEY"
  secret_key = "benchsecret"
EOF

count() { # label url server-command...
  local label=$1 url=$2 out=$work/cg.out
  shift 2
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$work/vg.log" 2>&1 &
  local vg=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "$url" && break; sleep 0.2; done
  python3 - "$url" "$n" "$vg" <<'PY'
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
  awk -v n="$n" -v label="$label" '/^summary:/ {printf "%-10s %8d instructions per request\n", label, $2 / n}' "$part"
  rm -f "$out"*
}

swift=$("$bin" share --config "$work/k.toml" p/c/small.bin --expires 1d)
s3=$("$bin" share --config "$work/k.toml" p/c/small.bin --protocol s3 --expires 1d)
serve=("$bin" serve --config "$work/k.toml" --workers 1)
count swift "$swift" "${serve[@]}"
count s3 "$s3" "${serve[@]}"

command -v nginx >/dev/null || exit 0
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $work/t1;
    proxy_temp_path $work/t2;
    fastcgi_temp_path $work/t3;
    uwsgi_temp_path $work/t4;
    scgi_temp_path $work/t5;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$nport;
        root $work/data;
        location / {
            secure_link \$arg_md5,\$arg_expires;
            secure_link_md5 "\$secure_link_expires\$uri secret";
            if (\$secure_link = "") { return 403; }
            if (\$secure_link = "0") { return 403; }
        }
    }
}
EOF
# secure_link's signature: base64url(md5("<expires><uri> secret")), unpadded.
nginx_url=$(python3 - "$nport" <<'PY'
import base64, hashlib, sys, time
uri, expires = "/p/c/small.bin", int(time.time()) + 86400
md5 = base64.urlsafe_b64encode(hashlib.md5(f"{expires}{uri} secret".encode()).digest())
print(f"http://127.0.0.1:{sys.argv[1]}{uri}?md5={md5.decode().rstrip('=')}&expires={expires}")
PY
)
count nginx "$nginx_url" nginx -e "$work/nginx.err" -c "$work/nginx.conf"
