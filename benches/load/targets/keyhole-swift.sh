#!/usr/bin/env bash
# Target keyhole-swift: Keyhole serving the bench files through Swift Temporary URLs
# (HMAC-SHA256, as `keyhole share` makes them). Port 17005.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/_keyhole.sh"
NAME=$(basename "$0" .sh)
keyhole_variant "$NAME" 17005
start_keyhole "$NAME" "$PORT"
TARGET=$NAME
SIGNED=1
URL_SMALL=$(share small.bin swift)
URL_MEDIUM=$(share medium.bin swift)
URL_LARGE=$(share large.bin swift)
URL_BAD=$(tamper "$URL_SMALL")
BAD_EXPECT=401      # Swift's answer to a bad link
NOSIG_EXPECT=401
write_env "$NAME" TARGET TARGET_VERSION PORT PIDFILE SIGNED URL_SMALL URL_MEDIUM URL_LARGE URL_BAD BAD_EXPECT NOSIG_EXPECT
