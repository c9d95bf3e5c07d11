//! The embedded default: with no config, `keyhole serve` writes `./keyhole.toml` and
//! `./keyhole-data/` (a demo project with random keys and a few objects), then prints links
//! a newcomer can open straight away.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::share::{make_link, Mode, Protocol, ShareSpec};

pub const CONFIG_FILE: &str = "keyhole.toml";
pub const DATA_DIR: &str = "keyhole-data";
pub const CONTAINER: &str = "demo";

const PICTURE: &[u8] = include_bytes!("../assets/demo/keyhole.png");
const PDF: &[u8] = include_bytes!("../assets/demo/guide.pdf");
const REPORT_NAME: &str = "Báo cáo tháng 11.txt";
const REPORT: &str = "Báo cáo tháng 11\n\nThis text file has a Vietnamese name: download it and it keeps that name.\n";

fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(const_hex::encode(buf))
}

/// Writes the demo config and data under `dir`; returns the config's path.
pub fn create(dir: &Path) -> io::Result<PathBuf> {
    let project = random_hex(16)?;
    let account_key = random_hex(16)?;
    let access_key = random_hex(10)?.to_uppercase();
    let secret_key = random_hex(20)?;
    let api_token = random_hex(16)?;

    let objects = dir.join(DATA_DIR).join(&project).join(CONTAINER);
    std::fs::create_dir_all(objects.join("data"))?;
    std::fs::write(objects.join("keyhole.png"), PICTURE)?;
    std::fs::write(objects.join("guide.pdf"), PDF)?;
    std::fs::write(objects.join(REPORT_NAME), REPORT)?;
    let mut binary = vec![0u8; 64 * 1024];
    getrandom::getrandom(&mut binary).map_err(|e| io::Error::other(e.to_string()))?;
    std::fs::write(objects.join("data/sample.bin"), binary)?;

    let text = format!(
        r#"{header}
# Edit it freely; the full reference is in README.md.
listen = "127.0.0.1:8080"
# Where links point; unset, they use the address Keyhole listens on (or the request's host).
# A path (https://example.com/files) is where a proxy mounts Keyhole: routes live below it.
# public_url = "https://share.example.com"

[backend]
kind = "fs"
root = "{DATA_DIR}"

[[project]]
id = "{project}"
temp_url_keys = ["{account_key}"]
# Only the containers listed below exist; true serves every folder under the project.
any_container = false

  [[project.s3_key]]
  access_key = "{access_key}"
  secret_key = "{secret_key}"

  [[project.container]]
  name = "{CONTAINER}"

[[api_token]]
token = "{api_token}"
projects = ["{project}"]
"#,
        header = crate::first_run::DEMO_HEADER
    );
    let path = dir.join(CONFIG_FILE);
    // create_new: never overwrite a config someone already has.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?
        .write_all(text.as_bytes())?;
    Ok(path)
}

/// Ready-to-open links to the demo objects, when `cfg` is the demo's config.
pub fn links(cfg: &Config, base_url: &str, now: u64) -> Vec<(&'static str, String)> {
    let Some(project) = cfg.projects.first() else {
        return Vec::new();
    };
    if project.container(CONTAINER).is_none() {
        return Vec::new();
    }
    let link = |object: &str, protocol: Protocol, mode: Mode| {
        let spec = ShareSpec {
            project: &project.id,
            container: CONTAINER,
            object,
            protocol,
            mode,
            lifetime: 86_400,
            access_key: None,
            filename: None,
            ip_range: None,
            prefix: false,
        };
        make_link(cfg, &spec, base_url, now).ok()
    };
    [
        (
            "Swift view (picture, shown in the browser)",
            link("keyhole.png", Protocol::Swift, Mode::View),
        ),
        (
            "Swift view (PDF)",
            link("guide.pdf", Protocol::Swift, Mode::View),
        ),
        (
            "Swift download (UTF-8 name)",
            link(REPORT_NAME, Protocol::Swift, Mode::Download),
        ),
        (
            "S3 presigned view (picture)",
            link("keyhole.png", Protocol::S3, Mode::View),
        ),
        (
            "S3 presigned download (binary)",
            link("data/sample.bin", Protocol::S3, Mode::Download),
        ),
    ]
    .into_iter()
    .filter_map(|(label, url)| url.map(|u| (label, u)))
    .collect()
}
