#!/usr/bin/env python3
"""Smoke test of the store scripts: start each store in a temp dir, put an object,
read it back, fetch a presigned URL / Swift TempURL with curl, probe the HTTP quirks
Keyhole has to live with, stop the store and check nothing is left running.

    python3 tests/stores/smoke.py [seaweedfs] [rclone] [swift] [keystone]

Needs boto3 and python-swiftclient (see .ci/requirements-stores.txt) and the
packages of .ci/packages-stores.apt. Exit status 0 only if every store passed."""
import hashlib, os, subprocess, sys, tempfile, time, json, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
BODY = bytes(range(256)) * 64 + b"tail"          # 16388 bytes, not a power of two
failures = []
timings = {}
passed = [0]


def sh(*args, env=None, check=True):
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{args} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def load_env(d):
    env = {}
    for line in open(os.path.join(d, "ports.env")):
        line = line.strip()
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v.strip("'\"")
    return env


def curl(url, *headers, method="GET"):
    """(status, headers dict lower-cased, body bytes) of one curl request."""
    args = ["curl", "-s", "-g", "--max-time", "20", "-D", "-", "-o", "-", "-X", method]
    if method == "HEAD":
        args = ["curl", "-s", "-g", "--max-time", "20", "-I", "-o", "-"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [url], capture_output=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def check(name, cond, detail=""):
    mark = "ok  " if cond else "FAIL"
    print(f"    {mark} {name}{(': ' + detail) if detail else ''}")
    if cond:
        passed[0] += 1
    else:
        failures.append(f"{current}: {name} {detail}")


def probe(url, etag, head_url=None):
    """Record how the store answers the conditional/range requests (facts, not checks)."""
    n = len(BODY)
    cases = [
        ("Range: bytes=2-5", ["Range: bytes=2-5"]),
        ("Range: bytes=-3 (suffix)", ["Range: bytes=-3"]),
        ("Range: bytes=0-1,4-5 (multi)", ["Range: bytes=0-1,4-5"]),
        ("Range: bytes=99999-", [f"Range: bytes={n + 10}-"]),
        ("Range + If-Range: wrong etag", ["Range: bytes=2-5", 'If-Range: "0000wrong"']),
        ("Range + If-Range: right etag", ["Range: bytes=2-5", f"If-Range: {etag}"]),
        ("Range + If-Range: old date", ["Range: bytes=2-5", "If-Range: Tue, 01 Jan 2019 00:00:00 GMT"]),
        ("If-None-Match: etag", [f"If-None-Match: {etag}"]),
        ("If-None-Match: *", ["If-None-Match: *"]),
        ("If-Match: wrong", ['If-Match: "0000wrong"']),
        ("If-Modified-Since: future", ["If-Modified-Since: Tue, 01 Jan 2999 00:00:00 GMT"]),
        ("If-Unmodified-Since: past", ["If-Unmodified-Since: Tue, 01 Jan 2019 00:00:00 GMT"]),
    ]
    bare = etag.strip('"')
    cases += [
        ("Range + If-Range: etag unquoted", ["Range: bytes=2-5", f"If-Range: {bare}"]),
        ("Range + If-Range: W/etag", ["Range: bytes=2-5", f'If-Range: W/"{bare}"']),
        ("HEAD", [], "HEAD"),
        ("HEAD + Range: bytes=2-5", ["Range: bytes=2-5"], "HEAD"),
        ("HEAD + If-None-Match: etag", [f'If-None-Match: "{bare}"'], "HEAD"),
    ]
    facts = {}
    for label, hs, *m in cases:
        st, h, b = curl(head_url or url if m else url, *hs, method=m[0] if m else "GET")
        if m:
            b = b"" if not h.get("content-length") else b"?" * int(h["content-length"])
        cr = h.get("content-range", "-")
        facts[label] = f"{st} len={len(b)} content-range={cr}" + (f" etag={h.get('etag', '-')}" if label == "HEAD" else "")
        print(f"    probe {label:34s} -> {facts[label]}")
    return facts


def s3_store(script, label):
    import boto3
    from botocore.config import Config
    d = tempfile.mkdtemp(prefix=f"keyhole-{label}-")
    try:
        t = time.monotonic()
        sh(os.path.join(HERE, script), "start", d)
        timings[label] = time.monotonic() - t
        e = load_env(d)
        print(f"  started in {timings[label]:.2f} s on {e['S3_ENDPOINT']}")
        cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                     retries={"max_attempts": 1})
        c = boto3.client("s3", endpoint_url=e["S3_ENDPOINT"], region_name=e["S3_REGION"],
                         aws_access_key_id=e["S3_ACCESS_KEY"],
                         aws_secret_access_key=e["S3_SECRET_KEY"], config=cfg)
        c.create_bucket(Bucket="test")
        t = time.monotonic()
        c.put_object(Bucket="test", Key="dir/obj ü.bin", Body=BODY,
                     ContentType="application/x-keyhole")
        print(f"    first put {time.monotonic() - t:.2f} s")
        got = c.get_object(Bucket="test", Key="dir/obj ü.bin")
        check("boto3 get returns the bytes", got["Body"].read() == BODY)
        etag = got["ETag"]
        url = c.generate_presigned_url("get_object", Params={"Bucket": "test", "Key": "dir/obj ü.bin"},
                                       ExpiresIn=300)
        st, h, b = curl(url)
        check("presigned GET via curl", st == 200 and b == BODY, f"{st} {len(b)} bytes")
        check("content-type kept", h.get("content-type") == "application/x-keyhole",
              h.get("content-type", "-"))
        bad = boto3.client("s3", endpoint_url=e["S3_ENDPOINT"], region_name=e["S3_REGION"],
                           aws_access_key_id=e["S3_ACCESS_KEY"], aws_secret_access_key="wrong",
                           config=cfg)
        try:
            bad.head_object(Bucket="test", Key="dir/obj ü.bin")
            check("wrong secret refused", False)
        except Exception as x:
            check("wrong secret refused", True, str(x)[:60])
        st, _, _ = curl(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
        check("tampered presigned URL refused", st == 403, str(st))
        st, _, _ = curl(c.generate_presigned_url("get_object", Params={"Bucket": "test", "Key": "missing"}))
        check("missing object 404", st == 404, str(st))
        head = c.generate_presigned_url("head_object", Params={"Bucket": "test", "Key": "dir/obj ü.bin"},
                                        ExpiresIn=300)
        probe(url, etag, head)
    finally:
        stop_and_check(script, d)


def stop_and_check(script, d, env=None):
    pgids = set()
    for f in ("pids", "keystone/pids"):
        try:
            pgids |= {l.split()[0] for l in open(os.path.join(d, f)) if l.strip()}
        except FileNotFoundError:
            pass
    t = time.monotonic()
    r = sh(os.path.join(HERE, script), "stop", d, env=env, check=False)
    print(f"  stopped in {time.monotonic() - t:.2f} s (rc {r.returncode}) {r.stderr.strip()}")
    time.sleep(0.2)
    left = []
    for l in sh("ps", "-eo", "pgid=,pid=,stat=,args=").stdout.splitlines():
        pgid, pid, stat, args = l.split(None, 3)
        if not stat.startswith("Z") and (pgid in pgids or d in args):
            left.append(f"{pid} {args[:80]}")
    check("no process left after stop", not left, "; ".join(left))
    if not failures:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"  kept {d} for inspection")


def swift_store(keystone):
    import swiftclient
    label = "swift-keystone" if keystone else "swift"
    d = tempfile.mkdtemp(prefix=f"keyhole-{label}-")
    env = dict(os.environ, SWIFT_AUTH="keystone" if keystone else "tempauth")
    try:
        t = time.monotonic()
        sh(os.path.join(HERE, "swift.sh"), "start", d, env=env)
        timings[label] = time.monotonic() - t
        e = load_env(d)
        print(f"  started in {timings[label]:.2f} s, proxy {e['SWIFT_URL']}")
        if keystone:
            kt = keystone_checks(e)
            cli = ["/usr/bin/swift", "--os-auth-url", e["OS_AUTH_URL"], "--auth-version", "3",
                   "--os-username", e["KEYSTONE_DEMO_USER"], "--os-password", e["KEYSTONE_DEMO_PASSWORD"],
                   "--os-project-name", e["KEYSTONE_DEMO_PROJECT"],
                   "--os-user-domain-id", "default", "--os-project-domain-id", "default"]
            # swiftclient's own v3 auth wants python-keystoneclient: use the token and
            # storage URL of the v3 response checked above, as Keyhole will
            conn = swiftclient.Connection(preauthurl=kt[0], preauthtoken=kt[1], retries=0)
        else:
            cli = ["/usr/bin/swift", "-A", e["SWIFT_AUTH_URL"], "-U", e["SWIFT_USER"], "-K", e["SWIFT_KEY"]]
            conn = swiftclient.Connection(authurl=e["SWIFT_AUTH_URL"], user=e["SWIFT_USER"],
                                          key=e["SWIFT_KEY"], retries=0)
        r = sh(*cli, "stat", check=False)
        check("`swift stat` works", r.returncode == 0, r.stderr.strip()[:200])
        storage_url, token = kt if keystone else conn.get_auth()
        account = storage_url.rsplit("/", 1)[1]
        conn.put_container("test")
        t = time.monotonic()
        conn.put_object("test", "dir/obj ü.bin", BODY, content_type="application/x-keyhole")
        print(f"    first put {time.monotonic() - t:.2f} s")
        h, b = conn.get_object("test", "dir/obj ü.bin")
        check("swiftclient get returns the bytes", b == BODY)
        etag = h["etag"]
        conn.post_account({"X-Account-Meta-Temp-URL-Key": "acct-key-1"})
        conn.post_container("test", {"X-Container-Meta-Temp-URL-Key": "cont-key-1"})
        path = f"/v1/{account}/test/dir/obj ü.bin"
        from urllib.parse import quote
        for key in ("acct-key-1", "cont-key-1"):
            p = sh("/usr/bin/swift", "tempurl", "GET", "300", path, key).stdout.strip()
            url = e["SWIFT_URL"] + quote(p, safe="/?=&")
            st, hh, bb = curl(url)
            check(f"`swift tempurl` ({key}) GET via curl", st == 200 and bb == BODY, f"{st} {len(bb)}")
        p = sh("/usr/bin/swift", "tempurl", "GET", "300", path, "wrong-key").stdout.strip()
        st, _, _ = curl(e["SWIFT_URL"] + quote(p, safe="/?=&"))
        check("tempurl with a wrong key refused", st == 401, str(st))
        st, _, _ = curl(e["SWIFT_URL"] + quote(path))
        check("anonymous GET refused", st == 401, str(st))
        st, _, _ = curl(e["SWIFT_URL"] + f"/v1/{account}/test/missing", f"X-Auth-Token: {token}")
        check("missing object 404", st == 404, str(st))
        if not keystone:
            # token_life: a token from tempauth says how long it lives
            st, hh, _ = curl(e["SWIFT_AUTH_URL"], f"X-Auth-User: {e['SWIFT_USER2']}", f"X-Auth-Key: {e['SWIFT_KEY2']}")
            check("second account authenticates", st == 200 and hh.get("x-storage-url", "").endswith("AUTH_test2"),
                  hh.get("x-storage-url", ""))
            check("token lifetime is SWIFT_TOKEN_LIFE", hh.get("x-auth-token-expires", "?").isdigit(),
                  "X-Auth-Token-Expires: " + hh.get("x-auth-token-expires", "?"))
        url = e["SWIFT_URL"] + quote(sh("/usr/bin/swift", "tempurl", "GET", "300", path, "acct-key-1").stdout.strip(), safe="/?=&")
        probe(url, etag)
    finally:
        stop_and_check("swift.sh", d, env=env)


def keystone_checks(e):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": e["KEYSTONE_DEMO_USER"], "domain": {"id": "default"},
        "password": e["KEYSTONE_DEMO_PASSWORD"]}}},
        "scope": {"project": {"name": e["KEYSTONE_DEMO_PROJECT"], "domain": {"id": "default"}}}}}
    r = subprocess.run(["curl", "-s", "-D", "-", "-H", "Content-Type: application/json",
                        "-d", json.dumps(body), e["OS_AUTH_URL"] + "/auth/tokens"], capture_output=True, text=True)
    head, _, js = r.stdout.replace("\r\n", "\n").partition("\n\n")
    check("v3 password auth gives X-Subject-Token", "x-subject-token:" in head.lower())
    cat = json.loads(js)["token"]["catalog"]
    eps = [ep for s in cat if s["type"] == "object-store" for ep in s["endpoints"]
           if ep["interface"] == "public" and ep["region"] == "RegionOne"]
    check("catalog has object-store public endpoint in RegionOne",
          len(eps) == 1 and eps[0]["url"].startswith(e["SWIFT_URL"] + "/v1/AUTH_"),
          eps[0]["url"] if eps else "none")
    token = [l.split(":", 1)[1].strip() for l in head.splitlines()
             if l.lower().startswith("x-subject-token:")][0]
    return eps[0]["url"], token


def main():
    global current
    which = sys.argv[1:] or ["seaweedfs", "rclone", "swift", "keystone"]
    for w in which:
        current = w
        print(f"== {w}")
        try:
            if w == "seaweedfs":
                s3_store("seaweedfs.sh", "seaweedfs")
            elif w == "rclone":
                s3_store("rclone-s3.sh", "rclone")
            elif w == "swift":
                swift_store(keystone=False)
            elif w == "keystone":
                swift_store(keystone=True)
            else:
                raise SystemExit(f"unknown store {w}")
        except Exception as x:
            import traceback
            traceback.print_exc()
            failures.append(f"{w}: {x}")
    print("start times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    checks_failed = len(failures)
    print("FAILED:\n  " + "\n  ".join(failures) if failures else "all stores passed")
    print(f"{passed[0]} passed, {len(failures)} failed")
    sys.exit(1 if checks_failed else 0)


current = ""
if __name__ == "__main__":
    main()
