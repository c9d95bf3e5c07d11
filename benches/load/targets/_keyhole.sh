# Shared launcher for the keyhole-swift and keyhole-s3 targets (sourced by them, and by
# ../cpu_per_request.sh for `keyhole_config` and `share`).

# keyhole_config FILE PORT: a config serving $PERF_DATA/bench as project
# "$(basename $PERF_DATA)", container/bucket "bench", with one worker thread (one core against
# nginx's one worker). Sets PROJECT and CONFIG.
keyhole_config() {
  CONFIG=$1
  PROJECT=$(basename "$PERF_DATA")
  cat > "$CONFIG" <<CFG
listen = "127.0.0.1:$2"
public_url = "http://127.0.0.1:$2"
workers = 1
[backend]
kind = "fs"
root = "$(dirname "$PERF_DATA")"
[[project]]
id = "$PROJECT"
temp_url_keys = ["bench-temp-url-key"]
  [[project.container]]
  name = "bench"
  [[project.s3_key]]
  access_key = "KEYHOLEBENCHKEY"
  secret_key = "keyhole-bench-secret"
CFG
}

# start_keyhole NAME PORT: `keyhole_config`, then Keyhole started on core 0.
start_keyhole() {
  local name=$1 port=$2
  local dir="$PERF_RUN/$name"
  mkdir -p "$dir"
  port_free "$port"
  keyhole_config "$dir/keyhole.toml" "$port"
  RUST_LOG=warn nohup taskset -c 0 "$KEYHOLE_BIN" serve --config "$CONFIG" > "$dir/log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  PIDFILE="$dir/pid"
  PORT=$port
  TARGET_VERSION="keyhole $("$KEYHOLE_BIN" --version | cut -d' ' -f2) ($(git -C "$KEYHOLE_REPO" describe --always --dirty 2>/dev/null || echo unknown)), workers 1"
  wait_http "http://127.0.0.1:$port/_keyhole/healthz"
}

# share OBJECT PROTOCOL: a 30-day (S3: 7-day) download link made by `keyhole share`.
share() {
  local life=30d
  [[ $2 == s3 ]] && life=7d
  "$KEYHOLE_BIN" share --config "$CONFIG" "$PROJECT/bench/$1" --protocol "$2" --mode download --expires "$life"
}

# tamper URL: change one character of the signature parameter's value.
tamper() {
  python3 - "$1" <<'PY'
import sys, re
u = sys.argv[1]
m = re.search(r'(temp_url_sig|X-Amz-Signature|Signature)=([^&]+)', u)
i = m.start(2) + 5
c = '0' if u[i] != '0' else '1'
print(u[:i] + c + u[i + 1:])
PY
}

# keyhole_variant NAME PORT: NAME-base (a symlink to the same script) runs $KEYHOLE_BASE_BIN on
# PORT + 10, so another build is measured in the same pass; any other NAME runs $KEYHOLE_BIN.
keyhole_variant() {
  PORT=$2
  if [[ $1 == *-base ]]; then
    KEYHOLE_BIN=${KEYHOLE_BASE_BIN:?set KEYHOLE_BASE_BIN to the baseline keyhole binary}
    PORT=$(($2 + 10))
  fi
}
