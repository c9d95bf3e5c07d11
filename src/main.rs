//! The `keyhole` command line. Only parsing lives here; each command is a library call.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use keyhole::auth::swift::Digest;
use keyhole::config::Config;
use keyhole::share::{Mode, Protocol};
use keyhole::{cli, expiry};

#[derive(Parser)]
#[command(
    name = "keyhole",
    version,
    about = "Verifies and serves Swift Temporary URLs and S3 presigned URLs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default). With no --config and no ./keyhole.toml, writes a demo
    /// config and data and prints links to open.
    Serve(ServeArgs),
    /// Make share links with the config's keys and public_url, one per object.
    Share(ShareArgs),
    /// Make a link from explicit keys, without a config.
    #[command(subcommand)]
    Sign(SignCommand),
    /// Validate a config file and say exactly what is wrong.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Config file (default: ./keyhole.toml, created with demo data if missing).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the config's `listen`.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Tokio worker threads (default: the config's `workers`, else the number of cores).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Swift,
    S3,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    View,
    Download,
}

#[derive(Args)]
struct ShareArgs {
    /// Config file (default: ./keyhole.toml).
    #[arg(long, default_value = "keyhole.toml")]
    config: PathBuf,
    /// PROJECT/CONTAINER/OBJECT (with --prefix: PROJECT/CONTAINER/PREFIX); several allowed.
    #[arg(required = true)]
    targets: Vec<String>,
    #[arg(long, value_enum, default_value = "swift")]
    protocol: ProtocolArg,
    #[arg(long, value_enum, default_value = "download")]
    mode: ModeArg,
    /// Lifetime: seconds or days/hours/minutes such as 1d2h30m, 45m (S3: at most 7d).
    #[arg(long, default_value = "1d")]
    expires: String,
    /// S3: the project's access key to sign with (default: its first).
    #[arg(long)]
    access_key: Option<String>,
    /// Name to save or show the object under.
    #[arg(long)]
    filename: Option<String>,
    /// Swift: only clients in this IP or CIDR may use the link.
    #[arg(long)]
    ip_range: Option<String>,
    /// Swift: one link for every object whose name starts with the given prefix.
    #[arg(long)]
    prefix: bool,
    /// Where links point, e.g. http://192.168.1.10:8080 (default: the config's public_url,
    /// else its listen address); use it when the server runs with another --listen.
    #[arg(long)]
    base_url: Option<String>,
}

#[derive(Subcommand)]
enum SignCommand {
    /// A Swift Temporary URL, as `swift tempurl` makes it.
    Swift(Box<SignSwiftArgs>),
    /// An S3 presigned GET URL (SigV4, or V2 with --v2), as the AWS SDKs make it.
    S3(Box<SignS3Args>),
}

#[derive(Clone, Copy, ValueEnum)]
enum StyleArg {
    /// https://host/<bucket>/<key>
    Path,
    /// https://<bucket>.host/<key>
    Virtual,
}

#[derive(Args)]
struct SignS3Args {
    /// The access key id.
    #[arg(long)]
    access_key: String,
    /// The secret access key.
    #[arg(long)]
    secret_key: String,
    /// Signing region (SigV4).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Where clients reach the gateway: scheme://host[:port][/prefix].
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    bucket: String,
    /// The object key, unencoded (e.g. "reports/Báo cáo.pdf").
    #[arg(long)]
    key: String,
    /// Lifetime: seconds or e.g. 1d2h30m (SigV4 allows at most 7 days).
    #[arg(long, default_value = "1h")]
    expires: String,
    /// The clock: unix seconds or YYYYMMDDTHHMMSSZ (default: the system clock).
    #[arg(long)]
    now: Option<String>,
    /// Path style puts the bucket in the path; virtual puts it in the host name.
    #[arg(long, value_enum, default_value = "path")]
    style: StyleArg,
    /// Sign with Signature Version 2 (AWSAccessKeyId/Expires/Signature).
    #[arg(long)]
    v2: bool,
    /// Content-Type the response will carry.
    #[arg(long)]
    response_content_type: Option<String>,
    /// Content-Disposition the response will carry, e.g. 'attachment; filename="a.pdf"'.
    #[arg(long)]
    response_content_disposition: Option<String>,
    /// Cache-Control the response will carry.
    #[arg(long)]
    response_cache_control: Option<String>,
    /// Expires the response will carry.
    #[arg(long)]
    response_expires: Option<String>,
    /// Content-Language the response will carry.
    #[arg(long)]
    response_content_language: Option<String>,
    /// Content-Encoding the response will carry.
    #[arg(long)]
    response_content_encoding: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DigestArg {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Args)]
struct SignSwiftArgs {
    /// The Temp-URL key (account or container).
    #[arg(long)]
    key: String,
    /// Object path as Swift signs it, decoded: /v1/AUTH_<project>/<container>/<object>
    /// (with --prefix: /v1/AUTH_<project>/<container>/<prefix>).
    #[arg(long)]
    path: String,
    /// The method the link is for (HEAD is allowed with a GET link).
    #[arg(long, default_value = "GET")]
    method: String,
    /// Lifetime from now: seconds or e.g. 1d2h30m. Ignored with --expires-at.
    #[arg(long, default_value = "1h")]
    expires: String,
    /// Absolute expiry, unix seconds.
    #[arg(long)]
    expires_at: Option<u64>,
    /// The clock: unix seconds or YYYYMMDDTHHMMSSZ (default: the system clock).
    #[arg(long)]
    now: Option<String>,
    #[arg(long, value_enum, default_value = "sha256")]
    digest: DigestArg,
    /// Only clients in this IP or CIDR may use the link.
    #[arg(long)]
    ip_range: Option<String>,
    /// Sign for every object whose name starts with the path's last part.
    #[arg(long)]
    prefix: bool,
    /// Write the expiry as ISO 8601 instead of unix seconds.
    #[arg(long)]
    iso8601: bool,
    /// View mode: the browser shows the object instead of saving it.
    #[arg(long)]
    inline: bool,
    /// Name to save or show the object under.
    #[arg(long)]
    filename: Option<String>,
    /// Scheme, host and port to put before the path, e.g. https://share.example.com.
    #[arg(long, default_value = "")]
    base_url: String,
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("keyhole: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(a) => match cli::serve(a.config, a.listen, a.workers) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(e),
        },
        Command::Share(a) => {
            let lifetime = match expiry::parse_lifetime(&a.expires) {
                Ok(s) => s,
                Err(e) => return usage_error(format!("--expires: {e}")),
            };
            let opts = cli::ShareOptions {
                protocol: match a.protocol {
                    ProtocolArg::Swift => Protocol::Swift,
                    ProtocolArg::S3 => Protocol::S3,
                },
                mode: match a.mode {
                    ModeArg::View => Mode::View,
                    ModeArg::Download => Mode::Download,
                },
                lifetime,
                access_key: a.access_key,
                filename: a.filename,
                ip_range: a.ip_range,
                prefix: a.prefix,
                base_url: a.base_url,
            };
            match cli::share(&a.config, &a.targets, &opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => usage_error(e),
            }
        }
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                println!("{}: ok ({} projects)", file.display(), c.projects.len());
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(e),
        },
        Command::Sign(SignCommand::Swift(a)) => {
            let now = match a.now.as_deref().map(expiry::parse_now).transpose() {
                Ok(n) => n.unwrap_or_else(keyhole::handler::unix_now),
                Err(e) => return usage_error(format!("--now: {e}")),
            };
            let expires = match a.expires_at {
                Some(t) => t,
                None => match expiry::parse_lifetime(&a.expires) {
                    Ok(s) => now.saturating_add(s),
                    Err(e) => return usage_error(format!("--expires: {e}")),
                },
            };
            if a.iso8601 && expires > keyhole::clock::LAST_HTTP_DATE {
                return usage_error(
                    "--iso8601 cannot write an expiry past 9999-12-31T23:59:59Z; use unix seconds",
                );
            }
            if !a.path.starts_with("/v1/") || a.path.splitn(5, '/').count() < 5 {
                return usage_error(
                    "--path must look like /v1/AUTH_<project>/<container>/<object>",
                );
            }
            let digest = match a.digest {
                DigestArg::Sha1 => Digest::Sha1,
                DigestArg::Sha256 => Digest::Sha256,
                DigestArg::Sha512 => Digest::Sha512,
            };
            let link = keyhole::share::SwiftLink {
                base_url: a.base_url.trim_end_matches('/'),
                path: &a.path,
                key: &a.key,
                method: &a.method.to_ascii_uppercase(),
                expires,
                digest,
                ip_range: a.ip_range.as_deref(),
                prefix: a.prefix,
                iso8601: a.iso8601,
                inline: a.inline,
                filename: a.filename.as_deref(),
            };
            println!("{}", link.url());
            ExitCode::SUCCESS
        }
        Command::Sign(SignCommand::S3(a)) => {
            let now = match a.now.as_deref().map(expiry::parse_now).transpose() {
                Ok(n) => n.unwrap_or_else(keyhole::handler::unix_now),
                Err(e) => return usage_error(format!("--now: {e}")),
            };
            let expires = match expiry::parse_lifetime(&a.expires) {
                Ok(s) => s,
                Err(e) => return usage_error(format!("--expires: {e}")),
            };
            let overrides: Vec<(&str, &str)> = [
                ("response-content-type", &a.response_content_type),
                (
                    "response-content-disposition",
                    &a.response_content_disposition,
                ),
                ("response-cache-control", &a.response_cache_control),
                ("response-expires", &a.response_expires),
                ("response-content-language", &a.response_content_language),
                ("response-content-encoding", &a.response_content_encoding),
            ]
            .into_iter()
            .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
            .collect();
            let link = keyhole::share::s3::S3Link {
                endpoint: &a.endpoint,
                bucket: &a.bucket,
                key: &a.key,
                access_key: &a.access_key,
                secret: &a.secret_key,
                region: &a.region,
                now,
                expires,
                style: match a.style {
                    StyleArg::Path => keyhole::share::s3::Style::Path,
                    StyleArg::Virtual => keyhole::share::s3::Style::Virtual,
                },
                v2: a.v2,
                overrides: &overrides,
            };
            match link.checked_url() {
                Ok(url) => {
                    println!("{url}");
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
    }
}
