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
        args = ["curl", "-s", "-g", "--max-time", "20", "-I"]
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
    if not cond:
        failures.append(f"{current}: {name} {detail}")


def probe(url, etag):
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
    facts = {}
    for label, hs in cases:
        st, h, b = curl(url, *hs)
        cr = h.get("content-range", "-")
        facts[label] = f"{st} len={len(b)} content-range={cr}"
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
        probe(url, etag)
    finally:
        stop_and_check(script, d)


def stop_and_check(script, d, env=None):
    t = time.monotonic()
    r = sh(os.path.join(HERE, script), "stop", d, env=env, check=False)
    print(f"  stopped in {time.monotonic() - t:.2f} s (rc {r.returncode}) {r.stderr.strip()}")
    time.sleep(0.2)
    left = [l for l in sh("ps", "-eo", "pid,stat,args").stdout.splitlines()
            if d in l and " Z" not in l]
    check("no process left after stop", not left, "; ".join(left))
    if not failures:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"  kept {d} for inspection")
