#!/usr/bin/env bash
# keystone.sh start|stop DIR: Keystone v3 (Debian python3-keystone, sqlite, fernet tokens)
# on a free 127.0.0.1 port, served by keystone_wsgi.py
# (which also runs db_sync, fernet_setup, credential_setup and bootstrap in-process; wsgiref, no apache).
# Catalog: identity (public) at OS_AUTH_URL, and object-store (public, internal, admin,
# region RegionOne) at $SWIFT_PROXY_URL/v1/AUTH_%(project_id)s (swift.sh passes it in
# keystone mode; default http://127.0.0.1:1 when Keystone is started alone).
# Users (domain Default): admin/$KEYSTONE_ADMIN_PASSWORD (admin of project admin),
# swift/... (admin of project service: the proxy's authtoken user),
# tester/testing (member of project test), tester2/testing2 (member of project test2).
# Token lifetime: KEYSTONE_TOKEN_LIFE seconds (default 3600). KEYSTONE_PORT and
# KEYSTONE_SWIFT_PASSWORD may be given (swift.sh does); else they are picked.
# Needs the Debian packages python3-keystone (and, for Swift, python3-keystonemiddleware).
# Writes DIR/ports.env: KEYSTONE_PORT OS_AUTH_URL KEYSTONE_ADMIN_* KEYSTONE_SWIFT_*
# KEYSTONE_DEMO_* KEYSTONE_DEMO2_* KEYSTONE_REGION KEYSTONE_TOKEN_LIFE.
# A second start after stop reuses DIR (same port, database and keys).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
check_args "$@"
action=$1; dir=$2

if [ "$action" = stop ]; then
  [ -d "$dir" ] || exit 0
  stop_all "$dir"
  exit 0
fi

[ -x /usr/bin/keystone-manage ] || die "keystone-manage missing: apt-get install python3-keystone"
mkdir -p "$dir/log"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && die "$dir/pids exists: already started? run stop first"
conf=$dir/keystone.conf
export OS_KEYSTONE_CONFIG_FILES=$conf

if [ -f "$dir/ports.env" ]; then
  set -a; . "$dir/ports.env"; set +a
  port=$KEYSTONE_PORT
  fresh=0
else
  port=${KEYSTONE_PORT:-$(free_ports 1)}
  fresh=1
  life=${KEYSTONE_TOKEN_LIFE:-3600}
  swift_url=${SWIFT_PROXY_URL:-http://127.0.0.1:1}
  cat >"$conf" <<CONF
[DEFAULT]
use_stderr = true
log_dir =
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
expiration = $life
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[identity]
# bcrypt's fewest rounds: each password auth costs ms, not 0.3 s of a busy core
password_hash_rounds = 4
[cache]
enabled = false
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
CONF
  cat >"$dir/ports.env" <<ENV
KEYSTONE_PORT=$port
OS_AUTH_URL=http://127.0.0.1:$port/v3
KEYSTONE_REGION=RegionOne
KEYSTONE_TOKEN_LIFE=$life
KEYSTONE_ADMIN_USER=admin
KEYSTONE_ADMIN_PASSWORD=admin-$(rand_hex 16)
KEYSTONE_ADMIN_PROJECT=admin
KEYSTONE_SWIFT_USER=swift
KEYSTONE_SWIFT_PASSWORD=${KEYSTONE_SWIFT_PASSWORD:-swift-$(rand_hex 16)}
KEYSTONE_DEMO_USER=tester
KEYSTONE_DEMO_PASSWORD=testing
KEYSTONE_DEMO_PROJECT=test
KEYSTONE_DEMO2_USER=tester2
KEYSTONE_DEMO2_PASSWORD=testing2
KEYSTONE_DEMO2_PROJECT=test2
KEYSTONE_OBJECT_STORE_URL='$swift_url/v1/AUTH_%(project_id)s'
ENV
  set -a; . "$dir/ports.env"; set +a
fi

init=()
if [ $fresh = 1 ]; then
  cat >"$dir/setup.json" <<JSON
{"roles": ["ResellerAdmin"],
 "users": [
  {"name": "$KEYSTONE_SWIFT_USER", "password": "$KEYSTONE_SWIFT_PASSWORD", "project": "service", "role": "admin"},
  {"name": "$KEYSTONE_DEMO_USER", "password": "$KEYSTONE_DEMO_PASSWORD", "project": "$KEYSTONE_DEMO_PROJECT", "role": "member"},
  {"name": "$KEYSTONE_DEMO2_USER", "password": "$KEYSTONE_DEMO2_PASSWORD", "project": "$KEYSTONE_DEMO2_PROJECT", "role": "member"}],
 "services": [{"type": "object-store", "name": "swift", "region": "RegionOne",
               "url": "$KEYSTONE_OBJECT_STORE_URL"}]}
JSON
  init=(--init "$KEYSTONE_ADMIN_PASSWORD" "$OS_AUTH_URL" RegionOne "$dir/setup.json")
fi
spawn "$dir" keystone /usr/bin/python3 "$here/keystone_wsgi.py" "$port" "$conf" "${init[@]}"
if ! wait_until "$dir" 60 http_up "http://127.0.0.1:$port/v3"; then
  stop_all "$dir"; exit 1
fi

[ -n "${STORES_NESTED:-}" ] || watch_parent "$dir" "$here/keystone.sh"
echo "keystone up: $OS_AUTH_URL (data in $dir)"
