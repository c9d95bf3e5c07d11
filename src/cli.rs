//! What the subcommands do, so that `main.rs` only parses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::server::{self, State};
use crate::{demo, handler};

/// How long open connections may finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `keyhole serve`.
pub fn serve(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    workers: Option<usize>,
) -> Result<(), String> {
    init_logging();
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
    if let Some(l) = listen {
        cfg.listen = l;
    }
    let workers = workers
        .or(cfg.workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(State::new(cfg).map_err(|e| e.to_string())?);
        println!("keyhole listening on http://{addr}");
        for (label, url) in demo::links(&state.config, handler::unix_now()) {
            println!("  {label}:\n    {url}");
        }
        server::serve(state, listener, shutdown_signal(), SHUTDOWN_GRACE).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
