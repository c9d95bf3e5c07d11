//! The deploy artifacts, each checked by the tool that owns its format where one can be
//! installed, and against each other: `deploy/systemd/keyhole.service` by
//! `systemd-analyze verify` and `security`, the `Dockerfile` by hadolint and a review of its
//! stages (its HEALTHCHECK run against a real Keyhole), `deploy/kubernetes/` by a Kubernetes
//! schema validator and by the facts the manifests and the config they carry must agree on.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::*;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---- systemd ----

const UNIT: &str = "deploy/systemd/keyhole.service";

/// The `[Service]` settings of a unit, every value of each key in file order.
fn service_settings(unit: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section == "[Service]" {
            let (k, v) = line.split_once('=').expect("key=value");
            out.entry(k.trim().to_string())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    out
}

/// The shipped unit in a temporary folder, every path to the binary pointed at the one cargo
/// built: `systemd-analyze verify` refuses a unit whose ExecStart= binary does not exist.
/// None (the test skips) without systemd-analyze.
fn unit_with_built_binary() -> Option<(TempDir, PathBuf)> {
    if !require_tool("systemd-analyze") {
        return None;
    }
    let dir = TempDir::new("unit");
    let text = read(UNIT).replace("/usr/local/bin/keyhole", env!("CARGO_BIN_EXE_keyhole"));
    let path = dir.0.join("keyhole.service");
    std::fs::write(&path, text).unwrap();
    Some((dir, path))
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    let Some((dir, unit)) = unit_with_built_binary() else {
        return;
    };
    let out = run("systemd-analyze", &["verify", unit.to_str().unwrap()]);
    let text = combined(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    // verify exits 0 on an unknown key or a value it cannot parse ("..., ignoring"): every
    // line about this unit is a defect. Lines about other units of the host are not ours.
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("keyhole.service") || l.contains(&*dir.0.to_string_lossy()))
        .collect();
    assert!(
        ours.is_empty(),
        "systemd-analyze verify warned:\n{}",
        ours.join("\n")
    );
    // verify looks at ExecStart= only: the other commands' programs must exist too.
    let text = std::fs::read_to_string(&unit).unwrap();
    for (key, values) in service_settings(&text) {
        if !key.starts_with("Exec") {
            continue;
        }
        for v in values {
            let program = v.trim_start_matches(['-', '+', '!', '@', ':']);
            let program = program.split_whitespace().next().unwrap_or_default();
            let meta = std::fs::metadata(program);
            let executable = meta.is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            assert!(executable, "{key}={v}: {program} is not an executable file");
        }
    }
}

#[test]
fn systemd_unit_exposure_score_is_at_most_2_of_10() {
    let Some((_dir, unit)) = unit_with_built_binary() else {
        return;
    };
    // --threshold is in tenths of the printed 0-10 scale.
    let out = run(
        "systemd-analyze",
        &[
            "security",
            "--offline=yes",
            "--threshold=20",
            unit.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{}",
        combined(&out)
    );
}

#[test]
fn systemd_unit_sets_every_hardening_and_lifecycle_directive() {
    let s = service_settings(&read(UNIT));
    let one = |k: &str| -> &str {
        match s.get(k).map(Vec::as_slice) {
            Some([v]) => v,
            other => panic!("{k}: expected one value, found {other:?}"),
        }
    };
    for (k, v) in [
        ("NoNewPrivileges", "true"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "true"),
        ("PrivateTmp", "true"),
        ("PrivateDevices", "true"),
        ("ProtectKernelTunables", "true"),
        ("ProtectKernelModules", "true"),
        ("ProtectKernelLogs", "true"),
        ("ProtectControlGroups", "true"),
        ("RestrictNamespaces", "true"),
        ("LockPersonality", "true"),
        ("MemoryDenyWriteExecute", "true"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("KillSignal", "SIGTERM"),
        ("Restart", "on-failure"),
        ("ReadOnlyPaths", "/srv/keyhole-data"),
        ("ConfigurationDirectory", "keyhole"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    let user = one("User");
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "User={user}"
    );
    assert_eq!(
        s["ExecStart"],
        ["/usr/local/bin/keyhole serve --config /etc/keyhole/keyhole.toml"]
    );
    // A reload checks the file first, so a broken one fails `systemctl reload` visibly and
    // no signal is sent.
    assert_eq!(
        s["ExecReload"],
        [
            "/usr/local/bin/keyhole check-config /etc/keyhole/keyhole.toml",
            "/bin/kill -HUP $MAINPID"
        ]
    );
    // Past DESIGN.md's default shutdown_grace (30 s), so the grace runs out before systemd's.
    let stop: u64 = one("TimeoutStopSec")
        .parse()
        .expect("TimeoutStopSec in seconds");
    assert!((31..=60).contains(&stop), "TimeoutStopSec={stop}");
    // Each of max_connections (10000 by default) may hold a socket and an open object.
    let nofile: u64 = one("LimitNOFILE").parse().expect("LimitNOFILE a number");
    assert!(nofile >= 2 * 10_000 + 1024, "LimitNOFILE={nofile}");
}

/// The system calls in a `systemd-analyze syscall-filter` group, nested groups expanded.
fn syscall_group(group: &str, seen: &mut BTreeSet<String>) -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    if !seen.insert(group.to_string()) {
        return calls;
    }
    let out = run("systemd-analyze", &["syscall-filter", group]);
    assert!(out.status.success(), "syscall-filter {group}");
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if name.starts_with('@') {
            calls.extend(syscall_group(name, seen));
        } else {
            calls.insert(name.to_string());
        }
    }
    calls
}

/// What the unit's SystemCallFilter= lines allow: the first allow list, plus later allow
/// lines, minus `~` lines, as systemd.exec(5) combines them.
fn allowed_syscalls(lines: &[String]) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for line in lines {
        let (deny, names) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line.as_str()),
        };
        for name in names.split_whitespace() {
            let calls = if name.starts_with('@') {
                syscall_group(name, &mut BTreeSet::new())
            } else {
                BTreeSet::from([name.to_string()])
            };
            for c in calls {
                if deny {
                    allowed.remove(&c);
                } else {
                    allowed.insert(c);
                }
            }
        }
    }
    allowed
}

#[test]
fn systemd_unit_allows_the_system_calls_keyhole_makes() {
    if !require_tool("systemd-analyze") {
        return;
    }
    let s = service_settings(&read(UNIT));
    let filter = s.get("SystemCallFilter").expect("a SystemCallFilter");
    assert!(
        !filter[0].starts_with('~'),
        "the first SystemCallFilter= must be an allow list"
    );
    let allowed = allowed_syscalls(filter);
    // Named in src/ (objects beneath the root, reads that must not block, zero-copy and its
    // page-cache check, the descriptor limit, the buffer pool), then what tokio's reactor,
    // the listener and the clock need.
    for call in [
        "openat2",
        "openat",
        "preadv2",
        "pread64",
        "sendfile",
        "cachestat",
        "getrlimit",
        "setrlimit",
        "prlimit64",
        "mmap",
        "munmap",
        "sendmsg",
        "sendto",
        "writev",
        "statx",
        "newfstatat",
        "epoll_wait",
        "epoll_ctl",
        "eventfd2",
        "socket",
        "bind",
        "listen",
        "accept4",
        "setsockopt",
        "getsockname",
        "connect",
        "futex",
        "clone3",
        "getrandom",
        "clock_gettime",
        "sched_getaffinity",
    ] {
        assert!(allowed.contains(call), "SystemCallFilter blocks {call}");
    }
    // And it is a filter: what a gateway never needs stays out.
    for call in [
        "reboot",
        "init_module",
        "mount",
        "ptrace",
        "setuid",
        "kexec_load",
    ] {
        assert!(!allowed.contains(call), "SystemCallFilter allows {call}");
    }
}

// ---- Dockerfile ----

/// One Dockerfile instruction: its keyword (upper case) and the rest of the line, with
/// continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if pending.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if t.starts_with('#') {
            continue; // a comment between continuation lines
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(t);
                let (k, rest) = pending
                    .split_once(char::is_whitespace)
                    .unwrap_or((&pending, ""));
                out.push((k.to_ascii_uppercase(), rest.trim().to_string()));
                pending.clear();
            }
        }
    }
    out
}

const ENTRYPOINT: [&str; 4] = ["keyhole", "serve", "--config", "/etc/keyhole/keyhole.toml"];

/// What a review of the Dockerfile looks for, each failure a sentence.
fn review_dockerfile(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let all = instructions(text);
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for (k, rest) in &all {
        if k == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let image = words.iter().find(|w| !w.starts_with("--")).unwrap_or(&"");
            let tag = image.rsplit('/').next().unwrap_or("").split_once(':');
            match tag {
                _ if image.contains("@sha256:") => {}
                Some((_, t)) if !t.is_empty() && t != "latest" => {}
                _ => problems.push(format!("FROM {image}: pin the base image by tag or digest")),
            }
            let named = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("as"))
                .is_some_and(|i| i + 1 < words.len());
            if !named {
                problems.push(format!("FROM {image}: name the stage (FROM ... AS name)"));
            }
            stages.push(Vec::new());
        } else if let Some(stage) = stages.last_mut() {
            stage.push((k.clone(), rest.clone()));
        } else if k != "ARG" {
            problems.push(format!("{k} before the first FROM"));
        }
    }
    if stages.len() < 2 {
        problems.push("not multi-stage: build in one stage, run in another".into());
    }
    for (k, rest) in &all {
        if k == "ADD" {
            problems.push(format!(
                "ADD {rest}: use COPY (ADD fetches URLs and unpacks archives)"
            ));
        }
        if (k == "ENV" || k == "ARG")
            && ["SECRET", "TOKEN", "PASSWORD", "_KEY"]
                .iter()
                .any(|w| rest.to_ascii_uppercase().contains(w))
        {
            problems.push(format!("{k} {rest}: secrets never go in an image"));
        }
    }
    let Some(last) = stages.last() else {
        return problems;
    };
    let find = |key: &str| {
        last.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.as_str())
    };
    match find("USER") {
        None => problems.push("the final stage runs as root: no USER".into()),
        Some(u) => {
            let (uid, gid) = u.split_once(':').unwrap_or((u, ""));
            let numeric_non_root = |s: &str| s.parse::<u32>().is_ok_and(|n| n != 0);
            if !numeric_non_root(uid) || !(gid.is_empty() || numeric_non_root(gid)) {
                problems.push(format!(
                    "USER {u}: a numeric non-root uid, so runAsNonRoot can check it"
                ));
            }
        }
    }
    if !find("EXPOSE").is_some_and(|e| e.split_whitespace().any(|p| p == "8080")) {
        problems.push("the final stage does not EXPOSE 8080".into());
    }
    if !find("HEALTHCHECK").is_some_and(|h| h.contains("/_keyhole/healthz")) {
        problems.push("no HEALTHCHECK on /_keyhole/healthz".into());
    }
    let entry: Option<Vec<String>> = find("ENTRYPOINT").and_then(|e| serde_json::from_str(e).ok());
    if entry
        .as_deref()
        .map(|e| e.iter().map(String::as_str).collect::<Vec<_>>())
        != Some(ENTRYPOINT.to_vec())
    {
        problems.push(format!("ENTRYPOINT must be exec form {ENTRYPOINT:?}"));
    }
    // The runtime image holds what earlier stages made, never the build context: a local
    // keyhole.toml with real keys must not ride along.
    for (k, rest) in last {
        if k == "COPY" && !rest.split_whitespace().any(|w| w.starts_with("--from=")) {
            problems.push(format!(
                "COPY {rest}: the final stage copies only from a stage"
            ));
        }
        if k == "RUN"
            && ["curl", "wget", "apt-get install"]
                .iter()
                .any(|w| rest.contains(w))
        {
            problems.push(format!(
                "RUN {rest}: nothing is fetched into the runtime image"
            ));
        }
    }
    for (k, rest) in stages.iter().take(stages.len() - 1).flatten() {
        if k == "RUN" && rest.contains("cargo build") && !rest.contains("--locked") {
            problems.push("cargo build without --locked".into());
        }
    }
    problems
}

#[test]
fn dockerfile_review_passes_on_the_shipped_dockerfile() {
    let problems = review_dockerfile(&read("Dockerfile"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn dockerfile_review_catches_each_mistake_it_looks_for() {
    let good = read("Dockerfile");
    let cases = [
        ("USER 10001:10001", "USER root", "USER root"),
        ("USER 10001:10001", "", "no USER"),
        (
            "FROM debian:bookworm-slim",
            "FROM debian:latest",
            "pin the base image",
        ),
        (
            "FROM debian:bookworm-slim AS runtime",
            "FROM debian",
            "pin the base image",
        ),
        ("EXPOSE 8080", "EXPOSE 9000", "EXPOSE 8080"),
        ("HEALTHCHECK --", "#HEALTHCHECK --", "HEALTHCHECK"),
        (
            "\"/etc/keyhole/keyhole.toml\"]",
            "\"keyhole.toml\"]",
            "ENTRYPOINT",
        ),
        (
            "COPY --from=builder /out/keyhole",
            "ADD https://example.com/keyhole",
            "use COPY",
        ),
        (
            "COPY --from=builder /out/keyhole",
            "COPY keyhole.toml /etc/keyhole/keyhole.toml\nCOPY --from=builder /out/keyhole",
            "copies only from a stage",
        ),
        ("--locked", "", "--locked"),
    ];
    for (from, to, expect) in cases {
        assert!(good.contains(from), "the Dockerfile no longer has {from:?}");
        let bad = good.replacen(from, to, 1);
        let problems = review_dockerfile(&bad);
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "{from:?} -> {to:?}: expected a problem with {expect:?}, got {problems:#?}"
        );
    }
    let single = "FROM rust:1-bookworm AS b\nUSER 1\nEXPOSE 8080\n";
    assert!(review_dockerfile(single)
        .iter()
        .any(|p| p.contains("multi-stage")));
}

#[test]
fn dockerfile_passes_hadolint() {
    if !require_tool("hadolint") {
        return;
    }
    let out = run("hadolint", &[repo("Dockerfile").to_str().unwrap()]);
    assert!(out.status.success(), "hadolint:\n{}", combined(&out));
}

#[test]
fn dockerignore_lets_in_only_what_the_dockerfile_copies() {
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        patterns.first(),
        Some(&"*"),
        "start by excluding everything"
    );
    let let_in: BTreeSet<String> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .map(|p| p.trim_end_matches('/').to_string())
        .collect();
    let mut copied = BTreeSet::new();
    for (k, rest) in instructions(&read("Dockerfile")) {
        let words: Vec<&str> = rest.split_whitespace().collect();
        if k == "COPY" && !words.iter().any(|w| w.starts_with("--from=")) {
            let sources = &words[..words.len() - 1];
            copied.extend(sources.iter().map(|s| s.trim_end_matches('/').to_string()));
        }
    }
    assert_eq!(
        let_in, copied,
        ".dockerignore's ! lines against the COPY sources"
    );
    for secret in ["keyhole.toml", "keyhole-data", "target", ".git"] {
        assert!(
            !let_in.contains(secret),
            "{secret} reaches the build context"
        );
    }
}

/// The HEALTHCHECK's command (exec form), aimed at `port` instead of 8080.
fn healthcheck_for(port: u16) -> Vec<String> {
    let (_, rest) = instructions(&read("Dockerfile"))
        .into_iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .expect("a HEALTHCHECK");
    let json = rest.split_once("CMD ").expect("HEALTHCHECK ... CMD").1;
    let cmd: Vec<String> = serde_json::from_str(json).expect("CMD in exec form");
    let target = "/dev/tcp/127.0.0.1/8080";
    assert!(cmd.iter().any(|a| a.contains(target)), "{cmd:?}");
    cmd.iter()
        .map(|a| a.replace(target, &format!("/dev/tcp/127.0.0.1/{port}")))
        .collect()
}

fn healthy(port: u16) -> bool {
    let cmd = healthcheck_for(port);
    Command::new(&cmd[0])
        .args(&cmd[1..])
        .stderr(Stdio::null())
        .status()
        .expect("the healthcheck runs")
        .success()
}

#[test]
fn dockerfile_healthcheck_passes_on_a_running_keyhole_and_fails_otherwise() {
    if !require_tool("bash") {
        return;
    }
    let srv = TestServer::start();
    assert!(
        healthy(srv.addr.port()),
        "healthy Keyhole reported unhealthy"
    );

    // Nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    assert!(!healthy(port), "a closed port reported healthy");

    // Something listening that is not well: the status line is what counts.
    let sick = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = sick.local_addr().unwrap().port();
    let answer = std::thread::spawn(move || {
        if let Ok((mut s, _)) = sick.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        }
    });
    assert!(!healthy(port), "a 503 reported healthy");
    answer.join().unwrap();
}

// ---- Kubernetes ----

const MANIFESTS: [&str; 5] = [
    "deploy/kubernetes/configmap.yaml",
    "deploy/kubernetes/secret.yaml",
    "deploy/kubernetes/deployment.yaml",
    "deploy/kubernetes/service.yaml",
    "deploy/kubernetes/poddisruptionbudget.yaml",
];

/// Every manifest, parsed by PyYAML (a YAML 1.1 parser, as kubectl's is) and handed over as
/// JSON, keyed by kind.
fn manifests() -> &'static BTreeMap<String, Value> {
    static PARSED: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    PARSED.get_or_init(parse_manifests)
}

fn parse_manifests() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for path in MANIFESTS {
        let o = run(
            "python3",
            &[
                "-c",
                "import json, sys, yaml; json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)",
                repo(path).to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{path}: {}", combined(&o));
        let docs: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        for doc in docs {
            let kind = doc["kind"].as_str().expect("kind").to_string();
            assert!(out.insert(kind.clone(), doc).is_none(), "two {kind}s");
        }
    }
    out
}

#[test]
fn kubernetes_manifests_pass_strict_schema_validation() {
    if !require_tool("kubernetes-validate") {
        return;
    }
    let mut args = vec!["--strict".to_string()];
    args.extend(MANIFESTS.iter().map(|p| repo(p).display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("kubernetes-validate", &args);
    let text = combined(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed ").count(), MANIFESTS.len(), "{text}");
}

#[test]
fn kubernetes_deployment_runs_three_locked_down_replicas_with_probes() {
    if !require_python_module("yaml") {
        return;
    }
    let m = manifests();
    let d = &m["Deployment"];
    assert_eq!(d["spec"]["replicas"], 3);
    let pod = &d["spec"]["template"]["spec"];
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&d["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&m["Service"]["spec"]["selector"], labels);
    assert_eq!(
        &m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        labels
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_ne!(sc["privileged"], true);
    assert_ne!(sc["runAsUser"], 0);
    // The uid the image runs as (Dockerfile USER).
    let user = instructions(&read("Dockerfile"))
        .into_iter()
        .rfind(|(k, _)| k == "USER")
        .map(|(_, u)| u)
        .unwrap();
    let uid: u64 = user.split(':').next().unwrap().parse().unwrap();
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/_keyhole/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/_keyhole/healthz");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["port"], c["ports"][0]["name"],
            "{probe}"
        );
    }
    assert_eq!(
        m["Service"]["spec"]["ports"][0]["targetPort"],
        c["ports"][0]["name"]
    );
    for r in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][r].is_string(), "requests.{r}");
    }
    assert!(c["resources"]["limits"]["memory"].is_string());
    // The image's own entrypoint runs: no command or args replacing it.
    assert!(c.get("command").is_none() && c.get("args").is_none());
}

#[test]
fn kubernetes_secret_holds_only_placeholders() {
    if !require_python_module("yaml") {
        return;
    }
    let m = manifests();
    let s = &m["Secret"];
    assert!(
        s.get("data").is_none(),
        "base64 data hides what it holds: stringData only"
    );
    let values = s["stringData"].as_object().expect("stringData");
    assert!(!values.is_empty());
    for (k, v) in values {
        let v = v.as_str().unwrap_or_default();
        let placeholder = v.strip_prefix("REPLACE-WITH-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
        });
        assert!(
            placeholder,
            "{k}: {v:?} is not a REPLACE-WITH-... placeholder"
        );
    }
    // And no secret is written anywhere else in the manifests.
    let config = m["ConfigMap"]["data"]["keyhole.toml"].as_str().unwrap();
    let cfg: toml::Value = toml::from_str(config).expect("keyhole.toml is TOML");
    let mut all = Vec::new();
    entries(&cfg, "", &mut all);
    let inline: Vec<&str> = all
        .iter()
        .filter(|(_, k, _)| ["secret_key", "token", "key", "temp_url_keys"].contains(k))
        .map(|(path, _, _)| path.as_str())
        .collect();
    assert!(
        inline.is_empty(),
        "secrets inline in the ConfigMap: {inline:?}"
    );
}

/// Every key anywhere in a TOML document: its dotted path, its name and its value.
fn entries<'a>(v: &'a toml::Value, at: &str, out: &mut Vec<(String, &'a str, &'a toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let path = format!("{at}.{k}");
                out.push((path.clone(), k.as_str(), v));
                entries(v, &path, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                entries(v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Every string value of a key named `name` anywhere in `v`.
fn values_of(v: &toml::Value, name: &str) -> Vec<String> {
    let mut all = Vec::new();
    entries(v, "", &mut all);
    all.into_iter()
        .filter(|(_, k, _)| *k == name)
        .filter_map(|(_, _, v)| v.as_str().map(str::to_string))
        .collect()
}

#[test]
fn kubernetes_config_finds_its_secrets_where_the_deployment_puts_them() {
    if !require_python_module("yaml") {
        return;
    }
    let m = manifests();
    let pod = &m["Deployment"]["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let secret_name = m["Secret"]["metadata"]["name"].as_str().unwrap();
    let secret_keys = m["Secret"]["stringData"].as_object().unwrap();
    let cfg: toml::Value =
        toml::from_str(m["ConfigMap"]["data"]["keyhole.toml"].as_str().unwrap()).unwrap();

    // The config is where the image's ENTRYPOINT reads it.
    let volumes = pod["volumes"].as_array().unwrap();
    let mount_of = |volume: &str| -> String {
        let v = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap_or_else(|| panic!("no mount of {volume}"));
        assert_eq!(v["readOnly"], true, "{volume} mounted writable");
        v["mountPath"].as_str().unwrap().to_string()
    };
    let config_volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"])
        .expect("a volume of the ConfigMap");
    let config_dir = mount_of(config_volume["name"].as_str().unwrap());
    assert_eq!(format!("{config_dir}/keyhole.toml"), ENTRYPOINT[3]);

    // Each secret_key_file is a file of the mounted Secret.
    let secret_volume = volumes
        .iter()
        .find(|v| v["secret"]["secretName"] == secret_name)
        .expect("a volume of the Secret");
    let secret_dir = mount_of(secret_volume["name"].as_str().unwrap());
    let files = values_of(&cfg, "secret_key_file");
    assert!(
        files.len() >= 2,
        "the store's and the link key's secret: {files:?}"
    );
    for f in &files {
        let name = f
            .strip_prefix(&format!("{secret_dir}/"))
            .unwrap_or_else(|| panic!("{f} is not under the Secret's mount {secret_dir}"));
        let item = secret_volume["secret"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == name)
            .unwrap_or_else(|| panic!("{f}: no item of the Secret volume"));
        let key = item["key"].as_str().unwrap();
        assert!(
            secret_keys.contains_key(key),
            "{f}: the Secret has no {key}"
        );
    }

    // Each token_env / secret_key_env is set from the Secret.
    let mut envs = values_of(&cfg, "token_env");
    envs.extend(values_of(&cfg, "secret_key_env"));
    assert!(!envs.is_empty());
    for var in &envs {
        let e = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == var.as_str())
            .unwrap_or_else(|| panic!("{var} is not set in the container"));
        let r = &e["valueFrom"]["secretKeyRef"];
        assert_eq!(r["name"], secret_name, "{var}");
        assert!(
            secret_keys.contains_key(r["key"].as_str().unwrap()),
            "{var}"
        );
    }

    // An upstream store (DESIGN.md section 3b), listened for on the probed port.
    let backend = &cfg["backend"];
    assert_eq!(backend["kind"].as_str(), Some("s3"));
    for k in ["endpoint", "region", "access_key", "bucket", "object"] {
        assert!(
            backend.get(k).and_then(toml::Value::as_str).is_some(),
            "backend.{k}"
        );
    }
    let listen: std::net::SocketAddr = cfg["listen"].as_str().unwrap().parse().unwrap();
    assert!(
        listen.ip().is_unspecified(),
        "listen {listen}: probes come from outside"
    );
    assert_eq!(c["ports"][0]["containerPort"], listen.port());

    // Forwarded headers believed from the ingress only: CIDRs, none of them everyone.
    let trusted = cfg["proxy"]["trusted"].as_array().expect("[proxy] trusted");
    assert!(!trusted.is_empty());
    for t in trusted {
        let net: ipnet::IpNet = t.as_str().unwrap().parse().expect("a CIDR");
        assert!(net.prefix_len() > 0, "{net} trusts every address");
    }

    // preStop, then the shutdown grace, fit in the pod's termination grace.
    let grace = cfg["limits"]["shutdown_grace"]
        .as_integer()
        .expect("shutdown_grace");
    let pre_stop: i64 = c["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let termination = pod["terminationGracePeriodSeconds"].as_i64().unwrap();
    assert!(
        pre_stop + grace < termination,
        "preStop {pre_stop} s + shutdown_grace {grace} s >= terminationGracePeriodSeconds {termination}"
    );
}
