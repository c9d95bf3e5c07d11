#!/usr/bin/env bash
# swift.sh start|stop DIR: a one-replica OpenStack Swift (proxy, object, container,
# account servers and memcached) on free 127.0.0.1 ports, config, rings and devices in
# DIR (mount_check off; DIR must be on a filesystem with user xattrs: ext4, xfs).
#
# Auth, chosen by SWIFT_AUTH:
#   tempauth (default): users test:tester/testing (.admin of AUTH_test),
#     test2:tester2/testing2 (.admin of AUTH_test2), test:tester3/testing3 (no role),
#     admin:admin/admin (.reseller_admin); token_life = SWIFT_TOKEN_LIFE (default 86400 s).
#   keystone: also starts tests/stores/keystone.sh in DIR/keystone, and the proxy runs
#     authtoken + keystoneauth (see keystone.sh for users and the catalog).
# tempurl is in the pipeline either way (`swift post -m Temp-URL-Key:...`).
# Needs the Debian packages swift swift-proxy swift-object swift-container swift-account
# memcached python3-swiftclient (and python3-keystone python3-keystonemiddleware for keystone).
# Writes DIR/ports.env: SWIFT_PROXY_PORT SWIFT_URL SWIFT_AUTH_URL (v1) SWIFT_USER SWIFT_KEY
# SWIFT_STORAGE_URL SWIFT_USER2 SWIFT_KEY2 SWIFT_STORAGE_URL2 SWIFT_TOKEN_LIFE, the
# backend ports, and in keystone mode everything of keystone.sh's ports.env too.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
check_args "$@"
action=$1; dir=$2

if [ "$action" = stop ]; then
  [ -d "$dir" ] || exit 0
  stop_all "$dir"
  [ -d "$dir/keystone" ] && "$here/keystone.sh" stop "$dir/keystone"
  exit 0
fi

t0=$(date +%s%N)
auth=${SWIFT_AUTH:-tempauth}
case $auth in tempauth|keystone) ;; *) die "SWIFT_AUTH must be tempauth or keystone";; esac
token_life=${SWIFT_TOKEN_LIFE:-86400}
for b in swift-proxy-server swift-object-server swift-container-server swift-account-server \
         swift-ring-builder memcached; do
  [ -x "/usr/bin/$b" ] || die "/usr/bin/$b missing: apt-get install swift swift-proxy swift-object swift-container swift-account memcached"
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/pids" ] && die "$dir/pids exists: already started? run stop first"
etc=$dir/etc
mkdir -p "$etc" "$dir/srv/d1" "$dir/run" "$dir/log" "$dir/cache"

# Swift keeps object metadata in user xattrs: fail early and clearly if DIR lacks them.
/usr/bin/python3 - "$dir/srv/d1" <<'PY' || die "$dir has no working user xattrs (Swift needs them): use a dir on ext4 or xfs (tmpfs has user xattrs only from Linux 6.6)"
import os, sys
p = os.path.join(sys.argv[1], ".xattr-probe")
open(p, "w").close()
try:
    os.setxattr(p, "user.swift.probe", b"x" * 254)
finally:
    os.unlink(p)
PY

if [ -f "$dir/ports.env" ]; then
  # a restart (after stop): same config, rings, ports and data
  . "$dir/ports.env"
  auth=$SWIFT_AUTH proxy=$SWIFT_PROXY_PORT obj=$SWIFT_OBJECT_PORT cont=$SWIFT_CONTAINER_PORT
  acct=$SWIFT_ACCOUNT_PORT mc=$SWIFT_MEMCACHED_PORT user=$(id -un)
else
read -r proxy obj cont acct mc <<<"$(free_ports 5)"
user=$(id -un)

cat >"$etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = $(rand_hex 16)
swift_hash_path_prefix = $(rand_hex 16)
[storage-policy:0]
name = Policy-0
default = yes
CONF

common() {  # [DEFAULT] of every server: $1 = port
  cat <<CONF
[DEFAULT]
swift_dir = $etc
devices = $dir/srv
mount_check = false
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $user
log_level = INFO
# no /dev/log here: console logging (-v) goes to DIR/log; syslog falls back to loopback UDP
log_udp_host = 127.0.0.1
log_udp_port = 9
CONF
}

for s in object container account; do
  case $s in object) port=$obj;; container) port=$cont;; account) port=$acct;; esac
  { common "$port"
    cat <<CONF

[pipeline:main]
pipeline = $s-server

[app:$s-server]
use = egg:swift#$s

[$s-replicator]
[$s-updater]
[$s-auditor]
CONF
  } >"$etc/$s-server.conf"
done
# The rings: what `swift-ring-builder X.builder create 4 1 1; add r1z1-127.0.0.1:PORT/d1 1;
# rebalance` does, for the three rings in one python (9 CLI runs cost ~5 s when busy).
/usr/bin/python3 - "$etc" "$obj" "$cont" "$acct" <<'PY' || die "building the rings failed"
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for name, port in zip(("object", "container", "account"), sys.argv[2:5]):
    b = RingBuilder(4, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "replication_ip": "127.0.0.1", "replication_port": int(port),
               "device": "d1", "weight": 1.0, "meta": ""})
    b.rebalance()
    b.get_ring().save(f"{etc}/{name}.ring.gz")
    b.save(f"{etc}/{name}.builder")
PY

if [ "$auth" = keystone ]; then
  # Keystone is started after the Swift servers (they import in parallel with it);
  # its port and the proxy's service password are fixed here and handed to keystone.sh.
  read -r kport <<<"$(free_ports 1)"
  kswift_pw=swift-$(rand_hex 16)
  OS_AUTH_URL=http://127.0.0.1:$kport/v3 KEYSTONE_SWIFT_USER=swift KEYSTONE_SWIFT_PASSWORD=$kswift_pw
  authfilters="authtoken keystoneauth"
  authconf=$(cat <<CONF
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $OS_AUTH_URL
auth_url = $OS_AUTH_URL
auth_type = password
user_domain_id = default
project_domain_id = default
project_name = service
username = $KEYSTONE_SWIFT_USER
password = $KEYSTONE_SWIFT_PASSWORD
delay_auth_decision = True
memcached_servers = 127.0.0.1:$mc
service_token_roles_required = True
cache = swift.cache
include_service_catalog = False

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin
CONF
)
else
  authfilters=tempauth
  authconf=$(cat <<CONF
[filter:tempauth]
use = egg:swift#tempauth
token_life = $token_life
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3
CONF
)
fi

{ common "$proxy"
  cat <<CONF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl $authfilters copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
node_timeout = 10
conn_timeout = 2
recoverable_node_timeout = 10

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mc
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes

$authconf
CONF
} >"$etc/proxy-server.conf"

cat >"$dir/ports.env" <<ENV
SWIFT_AUTH=$auth
SWIFT_PROXY_PORT=$proxy
SWIFT_URL=http://127.0.0.1:$proxy
SWIFT_OBJECT_PORT=$obj
SWIFT_CONTAINER_PORT=$cont
SWIFT_ACCOUNT_PORT=$acct
SWIFT_MEMCACHED_PORT=$mc
ENV
if [ "$auth" = tempauth ]; then
  cat >>"$dir/ports.env" <<ENV
SWIFT_AUTH_URL=http://127.0.0.1:$proxy/auth/v1.0
SWIFT_USER=test:tester
SWIFT_KEY=testing
SWIFT_STORAGE_URL=http://127.0.0.1:$proxy/v1/AUTH_test
SWIFT_USER2=test2:tester2
SWIFT_KEY2=testing2
SWIFT_STORAGE_URL2=http://127.0.0.1:$proxy/v1/AUTH_test2
SWIFT_USER_NOROLE=test:tester3
SWIFT_KEY_NOROLE=testing3
SWIFT_RESELLER_USER=admin:admin
SWIFT_RESELLER_KEY=admin
SWIFT_TOKEN_LIFE=$token_life
ENV
fi
fi

spawn "$dir" memcached /usr/bin/memcached -l 127.0.0.1 -p "$mc" -U 0 -m 32 -u "$user"
for s in object container account proxy; do
  spawn "$dir" "$s" "/usr/bin/swift-$s-server" "$etc/$s-server.conf" -v
done

if [ "$auth" = keystone ]; then
  if [ ! -f "$dir/keystone/ports.env" ]; then
    env STORES_NESTED=1 KEYSTONE_PORT="$kport" KEYSTONE_SWIFT_PASSWORD="$kswift_pw" SWIFT_PROXY_URL="http://127.0.0.1:$proxy" \
      "$here/keystone.sh" start "$dir/keystone" || { stop_all "$dir"; die "keystone did not start"; }
    cat "$dir/keystone/ports.env" >>"$dir/ports.env"
  else
    STORES_NESTED=1 "$here/keystone.sh" start "$dir/keystone" || { stop_all "$dir"; die "keystone did not start"; }
  fi
  set -a; . "$dir/keystone/ports.env"; set +a
fi

if [ "$auth" = tempauth ]; then
  ready() {
    /usr/bin/python3 - "$proxy" <<'PY'
import sys, urllib.request
port = sys.argv[1]
r = urllib.request.urlopen(urllib.request.Request(
    f"http://127.0.0.1:{port}/auth/v1.0",
    headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}), timeout=3)
tok = r.headers["X-Auth-Token"]
url = r.headers["X-Storage-Url"]
# an account HEAD goes proxy -> account server; a PUT of a container -> container server
urllib.request.urlopen(urllib.request.Request(url, method="HEAD", headers={"X-Auth-Token": tok}), timeout=5)
PY
  }
else
  ready() {
    curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$proxy/healthcheck" || return 1
    /usr/bin/python3 - "$OS_AUTH_URL" "$KEYSTONE_DEMO_USER" "$KEYSTONE_DEMO_PASSWORD" "$KEYSTONE_DEMO_PROJECT" <<'PY'
import json, sys, urllib.request
auth, user, pw, project = sys.argv[1:]
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": user, "domain": {"id": "default"}, "password": pw}}},
    "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
r = urllib.request.urlopen(urllib.request.Request(auth + "/auth/tokens", method="POST",
    data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}), timeout=10)
tok = r.headers["X-Subject-Token"]
cat = json.load(r)["token"]["catalog"]
url = [e["url"] for s in cat if s["type"] == "object-store" for e in s["endpoints"]
       if e["interface"] == "public"][0]
urllib.request.urlopen(urllib.request.Request(url, method="HEAD", headers={"X-Auth-Token": tok}), timeout=10)
PY
  }
fi
# the object server is the last one in the chain of a PUT; check it answers too
obj_up() { http_up "http://127.0.0.1:$obj/"; }
if ! wait_until "$dir" 60 obj_up || ! wait_until "$dir" 60 ready; then
  stop_all "$dir"
  [ -d "$dir/keystone" ] && "$here/keystone.sh" stop "$dir/keystone"
  exit 1
fi
watch_parent "$dir" "$here/swift.sh"
echo "swift ($auth) up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: proxy on 127.0.0.1:$proxy (config in $etc)"
