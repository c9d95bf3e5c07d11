#!/usr/bin/env bash
# Target keyhole-s3: Keyhole serving the bench files through S3 SigV4 presigned URLs (path
# style, 7 days, as `keyhole share --protocol s3` makes them). Port 17006.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/_keyhole.sh"
NAME=$(basename "$0" .sh)
keyhole_variant "$NAME" 17006
start_keyhole "$NAME" "$PORT"
TARGET=$NAME
SIGNED=1
URL_SMALL=$(share small.bin s3)
URL_MEDIUM=$(share medium.bin s3)
URL_LARGE=$(share large.bin s3)
URL_BAD=$(tamper "$URL_SMALL")
BAD_EXPECT=403
NOSIG_EXPECT=403
write_env "$NAME" TARGET TARGET_VERSION PORT PIDFILE SIGNED URL_SMALL URL_MEDIUM URL_LARGE URL_BAD BAD_EXPECT NOSIG_EXPECT
