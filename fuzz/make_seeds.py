#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/<target>/ (the layouts are described at the top
of each target). Re-run after changing a layout; corpus files the fuzzer found stay."""
import base64, hashlib, hmac, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# ---- swift_verify: real links signed with the target's config keys ----
NOW = 1_700_000_000
EXP = NOW + 600
def sig(key, text, digest=hashlib.sha256):
    return hmac.new(key.encode(), text.encode(), digest).digest()
def swift(flags, url, back=0, ip=(127, 0, 0, 1)):
    return bytes([flags]) + bytes(ip) + struct.pack("<I", back) + url.encode()
p = "/v1/AUTH_p/c/o"
s1 = sig("key-one", f"GET\n{EXP}\n{p}", hashlib.sha1).hex()
s256 = sig("key-one", f"GET\n{EXP}\n{p}").hex()
s512 = base64.urlsafe_b64encode(sig("key-two", f"GET\n{EXP}\n{p}", hashlib.sha512)).decode().rstrip("=")
ck = sig("container-key", f"GET\n{EXP}\n{p}").hex()
pre = sig("key-one", f"GET\n{EXP}\nprefix:/v1/AUTH_p/c/dir/").hex()
ipr = sig("key-one", f"ip=10.0.0.0/8\nGET\n{EXP}\n{p}").hex()
head = sig("key-one", f"HEAD\n{EXP}\n{p}").hex()
utf = sig("key-one", f"GET\n{EXP}\n/v1/AUTH_p/c/Báo cáo.pdf").hex()
put("swift_verify", "sha1", swift(0, f"{p}?temp_url_sig={s1}&temp_url_expires={EXP}"))
put("swift_verify", "sha256", swift(1, f"{p}?temp_url_sig={s256}&temp_url_expires={EXP}"))
put("swift_verify", "sha512-b64", swift(0, f"{p}?temp_url_sig=sha512:{s512}&temp_url_expires={EXP}"))
put("swift_verify", "container-key", swift(0, f"{p}?temp_url_sig={ck}&temp_url_expires={EXP}&inline&filename=a%20b.txt"))
put("swift_verify", "prefix", swift(0, f"/v1/AUTH_p/c/dir/a/b.txt?temp_url_sig={pre}&temp_url_expires=2023-11-14T22%3A23%3A20Z&temp_url_prefix=dir%2F"))
put("swift_verify", "ip-range", swift(4, f"{p}?temp_url_sig={ipr}&temp_url_expires={EXP}&temp_url_ip_range=10.0.0.0%2F8", ip=(10, 1, 2, 3)))
put("swift_verify", "head", swift(2, f"{p}?temp_url_sig={head}&temp_url_expires={EXP}"))
put("swift_verify", "utf8", swift(0, f"/v1/AUTH_p/c/B%C3%A1o%20c%C3%A1o.pdf?temp_url_sig={utf}&temp_url_expires={EXP}"))
put("swift_verify", "traversal", swift(0, f"/v1/AUTH_p/c/%2e%2e/d/o?temp_url_sig={s256}&temp_url_expires={EXP}&temp_url_sig={s256}"))
put("swift_verify", "signed", bytes([8]) + bytes(8) + bytes(range(1, 120)))

# ---- fs_path: object names (the target takes the name as is) ----
for i, n in enumerate(["a.txt", "sub/b.txt", "in", "dirlink/b.txt", "sub/up_in", "out_rel", "out_abs",
                       "out_root", "parent/other/secret", "sub/deeper/top/secret", "../other/secret",
                       "sub/../../other/secret", "self/a.txt", "loop", "proc", "..a", "a.txt/", "/etc/passwd"]):
    put("fs_path", str(i), n)

# ---- range: byte 0 mode (0 text, 1 request, 2 specs; 0x10 large length), 8-byte length ----
def rng(mode, length, rest):
    return bytes([mode]) + struct.pack("<Q", length) + rest.encode()
for i, (m, n, v) in enumerate([(0, 100, "bytes=0-9"), (0, 100, "bytes=-10"), (0, 100, "bytes=90-"),
                               (0, 1000, "bytes=0-9, 50-59, 900-"), (0, 100, "bytes=5-3"),
                               (0x10, 2**62, "bytes=0-99999999999999999999999"), (0, 0, "bytes=0-"),
                               (1, 100, "bytes=0-1\n\"1-2-3\""), (1, 100, "bytes=0-1\nW/\"1-2-3\""),
                               (1, 100, "bytes=0-1\nThu, 01 Jan 1970 00:16:40 GMT"), (0, 100, "items=0-1")]):
    put("range", str(i), rng(m, n, v))

# ---- conditional: byte 0 method (low 3 bits) + mode bit 3, 4-byte Last-Modified, lines ----
def cond(method, lines):
    return bytes([method]) + struct.pack("<I", 1_000_000) + "\n".join(lines).encode()
for i, (m, l) in enumerate([(0, ["If-None-Match: \"1a-2b-3c\""]), (0, ["If-Match: \"x\", \"1a-2b-3c\""]),
                            (1, ["If-Modified-Since: Mon, 12 Jan 1970 13:46:40 GMT"]),
                            (0, ["If-Unmodified-Since: Mon, 12 Jan 1970 13:46:39 GMT"]),
                            (2, ["If-None-Match: *"]), (0, ["If-Match: W/\"1a-2b-3c\"", "If-None-Match: \"1a-2b-3c\""]),
                            (8, [])]):
    put("conditional", str(i), cond(m, l))

# ---- disposition: (inline: bool, name) — one byte for the bool, then the name ----
for i, n in enumerate(["Báo cáo tháng 11.pdf", "photo.jpg", "a\"b\\c\r\nd\0e%41.txt", "日本語", "",
                       "Đà Nẵng ﬁle ½.txt", "..", "a;b=c, d"]):
    put("disposition", str(i), bytes([i & 1]) + n.encode())

# ---- config: real config files ----
put("config", "small", """listen = "127.0.0.1:9000"
public_url = "https://share.example.com/files/"
max_link_lifetime = 86400
[swift]
reseller_prefix = "AUTH_"
allowed_digests = ["sha256", "sha512"]
[s3]
regions = ["us-east-1", "eu-west-1"]
domain = "s3.example.com"
[backend]
kind = "fs"
root = "data"
[[project]]
id = "p1"
temp_url_keys = ["a", "b"]
  [[project.s3_key]]
  access_key = "AK1"
  secret_key = "SK1"
  [[project.container]]
  name = "c1"
  temp_url_keys = ["ck"]
  public = true
  cors_origins = ["https://app.example.com/", "*"]
[[api_token]]
token = "t"
projects = ["p1"]
[proxy]
trusted = ["10.0.0.0/8", "::1"]
""")
put("config", "dup", """[backend]
kind = "fs"
root = "d"
[[project]]
id = "p"
  [[project.s3_key]]
  access_key = "AK"
  secret_key = "x"
[[project]]
id = "q"
  [[project.s3_key]]
  access_key = "AK"
  secret_key = "y"
""")

# ---- request: byte 0 kind (low 3 bits: 0 Swift, 1 SigV4, 2 V2, 3 API, 4 raw) + bit 3 strict ----
# Structured kinds are drawn with `arbitrary` from the bytes; raw ones are real requests,
# signed with the target's keys (swift-key; AKIDFUZZ / fuzz-secret).
for kind in range(4):
    put("request", f"kind-{kind}", bytes([kind]) + bytes(range(0, 96)))
    put("request", f"kind-{kind}-strict", bytes([kind | 8]) + bytes(range(96, 0, -1)))
def swift_raw(expires, headers=()):
    path = "/v1/AUTH_p/c/o.txt"
    s = sig("swift-key", f"GET\n{expires}\n{path}").hex()
    return bytes([4]) + "\n".join([f"GET {path}?temp_url_sig={s}&temp_url_expires={expires}", *headers]).encode()
def v2_raw(expires, headers=()):
    s = base64.b64encode(sig("fuzz-secret", f"GET\n\n\n{expires}\n/c/o.txt", hashlib.sha1)).decode()
    s = s.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return bytes([4]) + "\n".join([f"GET /c/o.txt?AWSAccessKeyId=AKIDFUZZ&Expires={expires}&Signature={s}", *headers]).encode()
put("request", "swift-year-10000", swift_raw(253402300800))
put("request", "swift-u64-max", swift_raw(2**64 - 1, ["Range: bytes=0-9,20-29", "If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT"]))
put("request", "v2-u64-max", v2_raw(2**64 - 1, ["If-Range: Thu, 01 Jan 1970 00:00:00 GMT", "Range: bytes=-5"]))
put("request", "v2-past-u64", v2_raw("99999999999999999999999"))
