//! What the subcommands do, so that `main.rs` only parses.

pub mod sign;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::app::{Live, State};
use crate::config::{Config, LogFormat};
use crate::demo;
use crate::first_run;
use crate::server;
use crate::share::{self, Mode, Protocol, ShareSpec};

/// Log lines go to stderr, at `RUST_LOG`'s levels (default `info`). In JSON each line is one
/// object: `timestamp` (RFC 3339, UTC), `level`, `target` and the event's fields at the top.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // The target tells an access line (`keyhole::access`) from the others.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .try_init(),
    };
}

/// Raises the soft limit on open files to the hard limit: every connection and every
/// object being sent holds a descriptor, and the usual soft default (1024) is far too low.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let below = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
}

/// `keyhole serve`.
pub fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    workers: Option<usize>,
    log_format: Option<LogFormat>,
) -> Result<(), String> {
    raise_fd_limit();
    let path = match config {
        Some(p) => p,
        None => {
            let p = PathBuf::from(demo::CONFIG_FILE);
            if !p.exists() {
                let created = demo::create(Path::new("."))
                    .map_err(|e| format!("cannot write the demo config: {e}"))?;
                eprintln!(
                    "keyhole: no config found; wrote {} and {}/ with a demo project",
                    created.display(),
                    demo::DATA_DIR
                );
            }
            p
        }
    };
    let mut cfg = Config::load(&path).map_err(|e| e.to_string())?;
    // Only now is the config's `log_format` known; nothing before this logs.
    let log_format = log_format.unwrap_or(cfg.log_format);
    init_logging(log_format);
    if let Some(l) = listen {
        cfg.listen = l;
    }
    let workers = workers
        .or(cfg.workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    // One worker is one thread: a multi-thread runtime would run the accept loop on this
    // thread and wake its single worker for every connection. (Measured: about 4% more
    // 4 KiB requests/s on one core.)
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = cfg.scheme();
        let state = State::new(cfg).map_err(|e| e.to_string())?;
        let live = Arc::new(Live::new(state));
        let state = live.load();
        let reload = Reload {
            live: live.clone(),
            path: path.clone(),
            listen,
        };
        // Installed before the listening line, so no signal sent after it meets the default
        // (fatal) disposition.
        let shutdown =
            shutdown_signal(reload).map_err(|e| format!("cannot handle signals: {e}"))?;
        banner(&format!("keyhole listening on {scheme}://{addr}"));
        tracing::info!(%addr, workers, "listening");
        let (base, warning) = first_run::base_url(&state.config, addr);
        match warning {
            // A log pipeline reads stderr as JSON lines.
            Some(w) if log_format == LogFormat::Json => tracing::warn!("{w}"),
            Some(w) => eprintln!("keyhole: warning: {w}"),
            None => {}
        }
        for (label, url) in demo::links(&state.config, &base, crate::clock::unix_now()) {
            banner(&format!("  {label}:\n    {url}"));
        }
        let demo = first_run::is_demo(&path);
        for line in first_run::share_page_lines(&state.config, &base, &path, demo) {
            banner(&line);
        }
        let grace = state.config.limits.shutdown_grace;
        drop(state);
        server::serve(live, listener, shutdown, grace).await;
        Ok::<(), String>(())
    })?;
    // A blocking read still running must not hold the exit past the grace.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// What SIGHUP reloads: the file the server started with, and its `--listen`.
struct Reload {
    live: Arc<Live>,
    path: PathBuf,
    listen: Option<SocketAddr>,
}

impl Reload {
    /// Reads and validates the file as at start and swaps it in, or says why not and keeps
    /// the config being served. Messages name keys and paths, never a secret.
    async fn run(&self) {
        let path = self.path.clone();
        // Secret and certificate files are read too: off the runtime's threads.
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path)).await;
        let mut cfg = match loaded {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                self.live.refuse();
                return tracing::error!("SIGHUP: config refused, the old one stays: {e}");
            }
            Err(e) => {
                self.live.refuse();
                return tracing::error!("SIGHUP: reading the config failed: {e}");
            }
        };
        if let Some(l) = self.listen {
            cfg.listen = l;
        }
        match self.live.reload(cfg) {
            Ok(done) => {
                for key in &done.ignored {
                    tracing::warn!("SIGHUP: {key} changed; the new value takes effect at restart");
                }
                let changed = if done.counts.is_empty() {
                    "no count changed".to_string()
                } else {
                    done.counts
                };
                let (ok, refused) = self.live.reloads();
                tracing::info!(
                    reloads = ok,
                    refused,
                    "SIGHUP: config reloaded from {} ({changed})",
                    self.path.display()
                );
            }
            Err(e) => tracing::error!("SIGHUP: config refused, the old one stays: {e}"),
        }
    }
}

/// Resolves at SIGTERM or SIGINT. SIGHUP reloads the config (`reload`); SIGUSR1 is answered
/// with a warning and otherwise ignored: its default would end the process.
#[cfg(unix)]
fn shutdown_signal(reload: Reload) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                // One reload at a time, in the order the signals came.
                Some(()) = hup.recv() => reload.run().await,
                Some(()) = usr1.recv() => tracing::warn!("SIGUSR1: not used by Keyhole; ignored"),
                else => break,
            }
        }
    });
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

/// One line of the startup banner. `println!` panics when stdout is gone (a supervisor that
/// read the first line and closed the pipe), and a panic here would take the server down
/// with it: the banner is a courtesy, so a failed write is ignored.
fn banner(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

#[cfg(not(unix))]
fn shutdown_signal(_reload: Reload) -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

/// What `keyhole share` was asked for, besides the targets.
pub struct ShareOptions {
    pub protocol: Protocol,
    pub mode: Mode,
    pub lifetime: u64,
    pub access_key: Option<String>,
    pub filename: Option<String>,
    pub ip_range: Option<String>,
    pub prefix: bool,
    /// Overrides `public_url` and the listen address as the base of the links.
    pub base_url: Option<String>,
}

/// Why the one-object link for `spec` cannot open now: the object (or its container's folder)
/// is not in the store. A link for something still to be uploaded is legitimate, so this is
/// a warning, not an error. (`make_link` has already refused an unconfigured container.)
fn missing(
    backend: &std::io::Result<crate::backend::Backend>,
    spec: &ShareSpec<'_>,
) -> Option<String> {
    if spec.prefix {
        return None;
    }
    let backend = match backend {
        Ok(b) => b,
        Err(e) => return Some(format!("the store cannot be read ({e})")),
    };
    // An upstream store is asked over the network: the runtime needs its IO and timers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    match runtime.block_on(backend.exists(spec.project, spec.container, spec.object)) {
        Ok(_) => None,
        Err(crate::backend::BackendError::NotFound) => Some(format!(
            "there is no object {:?} in {}/{}",
            spec.object, spec.project, spec.container
        )),
        Err(crate::backend::BackendError::Denied) => {
            Some("the object is there but not readable by the gateway".to_string())
        }
        Err(e) => Some(format!("the object could not be checked ({e})")),
    }
}

/// `keyhole share`: prints one link per target, in order.
pub fn share(config: &Path, targets: &[String], o: &ShareOptions) -> Result<(), String> {
    let cfg = Config::load(config).map_err(|e| e.to_string())?;
    if let Some(r) = &o.ip_range {
        if crate::ip_range::parse(r).is_none() {
            return Err(format!("--ip-range: {r:?} is not an IP address or CIDR"));
        }
    }
    let now = crate::clock::unix_now();
    let base = match &o.base_url {
        Some(u) => {
            let u = u.trim_end_matches('/');
            if !(u.starts_with("http://") || u.starts_with("https://"))
                || u.len() <= "https://".len()
            {
                return Err(format!(
                    "--base-url: {u:?} must start with http:// or https:// and name a host"
                ));
            }
            u.to_string()
        }
        None => {
            let (base, warning) = first_run::base_url(&cfg, cfg.listen);
            if let Some(w) = warning {
                eprintln!("keyhole: warning: {w}");
            }
            base
        }
    };
    let backend = crate::backend::Backend::from_config(&cfg);
    let mut links = Vec::new();
    for t in targets {
        let mut parts = t.splitn(3, '/');
        let (Some(project), Some(container), object) =
            (parts.next(), parts.next(), parts.next().unwrap_or(""))
        else {
            return Err(format!("{t:?} is not PROJECT/CONTAINER/OBJECT"));
        };
        if project.is_empty() || container.is_empty() || (object.is_empty() && !o.prefix) {
            return Err(format!("{t:?} is not PROJECT/CONTAINER/OBJECT"));
        }
        let spec = ShareSpec {
            project,
            container,
            object,
            protocol: o.protocol,
            mode: o.mode,
            lifetime: o.lifetime,
            access_key: o.access_key.as_deref(),
            filename: o.filename.as_deref(),
            ip_range: o.ip_range.as_deref(),
            prefix: o.prefix,
        };
        links.push(share::make_link(&cfg, &spec, &base, now).map_err(|e| format!("{t}: {e}"))?);
        if let Some(why) = missing(&backend, &spec) {
            eprintln!("keyhole: warning: {t}: {why}; the link will not open until it exists");
        }
    }
    for l in links {
        println!("{l}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    #[test]
    fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
        // The usual default soft limit, as a service manager would start keyhole.
        let hard = getrlimit(Resource::Nofile).maximum;
        if !matches!(hard, Some(h) if h <= 1024) {
            let usual = Rlimit {
                current: Some(1024),
                maximum: hard,
            };
            setrlimit(Resource::Nofile, usual).unwrap();
        }
        super::raise_fd_limit();
        let lim = getrlimit(Resource::Nofile);
        // An unlimited hard limit cannot be the soft one (Linux caps it at nr_open).
        if lim.maximum.is_some() {
            assert_eq!(lim.current, lim.maximum);
        }
    }
}
