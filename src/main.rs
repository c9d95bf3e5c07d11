//! The `keyhole` command line. Only parsing lives here; each command is a library call.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use keyhole::config::{Config, LogFormat};
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
    /// How log lines are written: text, or json (one object per line); overrides the
    /// config's `log_format`.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
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
    protocol: Protocol,
    #[arg(long, value_enum, default_value = "download")]
    mode: Mode,
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
    Swift(Box<cli::sign::SwiftArgs>),
    /// An S3 presigned GET URL (SigV4, or V2 with --v2), as the AWS SDKs make it.
    S3(Box<cli::sign::S3Args>),
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("keyhole: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(a) => match cli::serve(
            a.config,
            a.listen,
            a.workers,
            a.log_format.as_deref().and_then(LogFormat::parse),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(e),
        },
        Command::Share(a) => {
            let lifetime = match expiry::parse_lifetime(&a.expires) {
                Ok(s) => s,
                Err(e) => return usage_error(format!("--expires: {e}")),
            };
            let opts = cli::ShareOptions {
                protocol: a.protocol,
                mode: a.mode,
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
        Command::Sign(SignCommand::Swift(a)) => print_or_fail(cli::sign::swift(&a)),
        Command::Sign(SignCommand::S3(a)) => print_or_fail(cli::sign::s3(&a)),
    }
}

fn print_or_fail(made: Result<String, String>) -> ExitCode {
    match made {
        Ok(url) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(e) => usage_error(e),
    }
}
