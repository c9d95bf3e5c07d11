#!/usr/bin/python3
"""Keystone for tests, in one Python process (imports cost ~5 s of a busy core, so they
are paid once): with --init, run keystone-manage's db_sync, fernet_setup,
credential_setup and bootstrap in-process; then serve Keystone's public WSGI app on
127.0.0.1:PORT with wsgiref, one request at a time (sqlite; the Debian
keystone-wsgi-public script serves the same app the same way).

    keystone_wsgi.py PORT CONFIG [--init ADMIN_PASSWORD PUBLIC_URL REGION SETUP_JSON]

SETUP_JSON (written by keystone.sh) lists more users, roles and catalog services to
create, also in-process (through the API each call took ~1 s on a busy machine):
{"roles": [...], "users": [{"name", "password", "project", "role"}],
 "services": [{"type", "name", "region", "url"}]}  (url: public, internal and admin)

Used by keystone.sh; needs Debian's python3 with python3-keystone."""
import os
import sys
import time
import wsgiref.simple_server as wss


class Handler(wss.WSGIRequestHandler):
    def log_message(self, fmt, *args):  # one line per request to stderr (DIR/log)
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def manage(conf, *cmd):
    from keystone.cmd import cli
    from keystone.conf import CONF
    CONF.reset()
    try:
        CONF.unregister_opt(cli.command_opt)
    except Exception:
        pass
    CONF.clear()
    from keystone.common import provider_api
    provider_api.ProviderAPIs._clear_registry_instances()
    t = time.monotonic()
    cli.main(["keystone-manage", "--config-file", conf, *cmd])
    print("keystone-manage %s: %.2f s" % (cmd[0], time.monotonic() - t), flush=True)


def extra_setup(path):
    """Users, projects, roles and services beyond bootstrap's, with keystone's own
    Bootstrapper (CONF is still parsed from the bootstrap command)."""
    import json
    import uuid
    from keystone.cmd.bootstrap import Bootstrapper
    from keystone.common import provider_api
    from keystone.conf import CONF
    with open(path) as f:
        spec = json.load(f)
    provider_api.ProviderAPIs._clear_registry_instances()
    b = Bootstrapper()
    P = provider_api.ProviderAPIs
    b.default_domain_id = CONF.identity.default_domain_id
    b.reader_role_id = b._ensure_role_exists("reader")["id"]
    b.member_role_id = b._ensure_role_exists("member")["id"]
    for role in spec.get("roles", []):
        b._ensure_role_exists(role)
    for u in spec.get("users", []):
        b.admin_username, b.admin_password = u["name"], u["password"]
        b.project_name, b.admin_role_name = u["project"], u["role"]
        b._bootstrap_project()
        b._bootstrap_admin_user()
        b.admin_role_id = b._ensure_role_exists(u["role"])["id"]
        b._bootstrap_project_role_assignment()
    for sv in spec.get("services", []):
        sid = uuid.uuid4().hex
        P.catalog_api.create_service(sid, {"id": sid, "name": sv["name"], "type": sv["type"],
                                           "enabled": True})
        for iface in ("public", "internal", "admin"):
            eid = uuid.uuid4().hex
            P.catalog_api.create_endpoint(eid, {"id": eid, "interface": iface, "url": sv["url"],
                                                "service_id": sid, "region_id": sv["region"],
                                                "enabled": True})


def _db_path(conf):
    import configparser
    c = configparser.ConfigParser(interpolation=None)
    c.read(conf)
    url = c["database"]["connection"]
    assert url.startswith("sqlite:///"), url
    return url[len("sqlite:///"):]


def main():
    port, conf = int(sys.argv[1]), sys.argv[2]
    t = time.monotonic()
    if len(sys.argv) > 3 and sys.argv[3] == "--init":
        password, url, region, setup = sys.argv[4:8]
        user = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
        manage(conf, "db_sync")
        manage(conf, "fernet_setup", *user)
        manage(conf, "credential_setup", *user)
        manage(conf, "bootstrap", "--bootstrap-password", password,
               "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
               "--bootstrap-admin-url", url, "--bootstrap-internal-url", url,
               "--bootstrap-public-url", url, "--bootstrap-region-id", region)
        t2 = time.monotonic()
        extra_setup(setup)
        print("extra setup: %.2f s" % (time.monotonic() - t2), flush=True)
        from keystone.cmd import cli
        from keystone.conf import CONF
        CONF.reset()
        CONF.unregister_opt(cli.command_opt)  # the app's own parse must not want a command
        CONF.clear()
        from keystone.common import provider_api
        provider_api.ProviderAPIs._clear_registry_instances()  # bootstrap locked it
    # A connection of Keystone's pool keeps a read transaction open between requests,
    # and sqlite's default rollback journal then refuses every write ("database is
    # locked"); with WAL a writer and readers coexist. The mode is kept in the file.
    import sqlite3
    db = sqlite3.connect(_db_path(conf))
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    sys.argv[1:] = []
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    from keystone.server.wsgi import initialize_public_application
    app = initialize_public_application()
    server = wss.make_server("127.0.0.1", port, app, handler_class=Handler)
    print("keystone listening on 127.0.0.1:%d after %.2f s" % (port, time.monotonic() - t),
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
