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
# Token lifetime: KEYSTONE_TOKEN_LIFE seconds (default 3600).
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
  read -r port <<<"$(free_ports 1)"
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
KEYSTONE_SWIFT_PASSWORD=swift-$(rand_hex 16)
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
[ $fresh = 1 ] && init=(--init "$KEYSTONE_ADMIN_PASSWORD" "$OS_AUTH_URL" RegionOne)
spawn "$dir" keystone /usr/bin/python3 "$here/keystone_wsgi.py" "$port" "$conf" "${init[@]}"
if ! wait_until "$dir" 60 http_up "http://127.0.0.1:$port/v3"; then
  stop_all "$dir"; exit 1
fi

if [ $fresh = 1 ]; then
  # projects, users, roles and the object-store endpoints, through the API as admin
  if ! /usr/bin/python3 - >>"$dir/log/keystone-setup.log" 2>&1 <<'PY'
import json, os, urllib.request
e = os.environ
base = e["OS_AUTH_URL"]

def call(method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["X-Auth-Token"] = token
    r = urllib.request.urlopen(urllib.request.Request(base + path, method=method,
        data=json.dumps(body).encode() if body is not None else None, headers=h), timeout=30)
    data = r.read()
    return r, (json.loads(data) if data else None)

r, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"],
    "password": {"user": {"name": "admin", "domain": {"id": "default"},
                          "password": e["KEYSTONE_ADMIN_PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
tok = r.headers["X-Subject-Token"]
roles = {x["name"]: x["id"] for x in call("GET", "/roles", token=tok)[1]["roles"]}
for name in ("ResellerAdmin",):
    if name not in roles:
        roles[name] = call("POST", "/roles", {"role": {"name": name}}, tok)[1]["role"]["id"]

def project(name):
    return call("POST", "/projects", {"project": {"name": name, "domain_id": "default"}}, tok)[1]["project"]["id"]

def user(name, pw, proj, role):
    uid = call("POST", "/users", {"user": {"name": name, "password": pw, "domain_id": "default",
                                           "default_project_id": proj}}, tok)[1]["user"]["id"]
    call("PUT", f"/projects/{proj}/users/{uid}/roles/{roles[role]}", token=tok)

service = project("service")
user(e["KEYSTONE_SWIFT_USER"], e["KEYSTONE_SWIFT_PASSWORD"], service, "admin")
user(e["KEYSTONE_DEMO_USER"], e["KEYSTONE_DEMO_PASSWORD"], project(e["KEYSTONE_DEMO_PROJECT"]), "member")
user(e["KEYSTONE_DEMO2_USER"], e["KEYSTONE_DEMO2_PASSWORD"], project(e["KEYSTONE_DEMO2_PROJECT"]), "member")
sid = call("POST", "/services", {"service": {"type": "object-store", "name": "swift"}}, tok)[1]["service"]["id"]
for iface in ("public", "internal", "admin"):
    call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": iface,
        "region_id": "RegionOne", "url": e["KEYSTONE_OBJECT_STORE_URL"]}}, tok)
print("keystone setup done")
PY
  then
    tail -20 "$dir/log/keystone-setup.log" >&2
    stop_all "$dir"; die "keystone setup through the API failed"
  fi
fi
echo "keystone up: $OS_AUTH_URL (data in $dir)"
