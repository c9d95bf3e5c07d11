//! What every request shares. [`State`] is one snapshot: a config, the store opened for it and
//! the links verified under it, with the counters and the body budget every snapshot shares.
//! [`Live`] holds the current snapshot: each request loads it once and keeps it while in
//! flight, and a reload (SIGHUP) stores a new one for the requests after it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::app::links::LinkCache;
use crate::backend::Backend;
use crate::budget::Budget;
use crate::config::Config;
use crate::metrics::Metrics;

pub struct State {
    pub config: Config,
    pub backend: Backend,
    pub metrics: Arc<Metrics>,
    /// Links verified recently under this config (see `app::links`). Each snapshot starts
    /// with an empty one: a link verified with a key that a reload removed is never found.
    pub links: LinkCache,
    /// What body chunks read but not yet sent may hold, over all connections.
    pub buffers: Arc<Budget>,
}

impl State {
    pub fn new(config: Config) -> std::io::Result<State> {
        let metrics = Arc::new(Metrics::default());
        let buffers = Arc::new(Budget::new(
            crate::budget::SERVER,
            metrics.budget_spent.clone(),
        ));
        State::with(config, metrics, buffers)
    }

    /// A snapshot for `config` that shares the counters and the budget of the running server.
    fn with(config: Config, metrics: Arc<Metrics>, buffers: Arc<Budget>) -> std::io::Result<State> {
        Ok(State {
            backend: Backend::from_config(&config)?,
            config,
            metrics,
            links: Default::default(),
            buffers,
        })
    }
}

/// The current snapshot, swapped whole by [`Live::reload`].
pub struct Live {
    current: ArcSwap<State>,
    reloads: AtomicU64,
    refused: AtomicU64,
}

impl Live {
    pub fn new(state: State) -> Live {
        Live {
            current: ArcSwap::from_pointee(state),
            reloads: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The snapshot for one request (or one connection's settings): one atomic load, no lock.
    pub fn load(&self) -> Arc<State> {
        self.current.load_full()
    }

    /// Swaps in `config` (validated already, as at start), with the store opened anew for it
    /// and an empty link cache. What cannot change while serving is kept and said in
    /// [`Reloaded::ignored`]; a change that would leave the listener wrong refuses the reload.
    pub fn reload(&self, mut config: Config) -> Result<Reloaded, String> {
        let old = self.load();
        let refused = |e: String| {
            self.refused.fetch_add(1, Relaxed);
            e
        };
        if old.config.tls.is_some() != config.tls.is_some() {
            return Err(refused(
                "tls: turning TLS on or off needs a restart (the listener speaks one or the other)"
                    .into(),
            ));
        }
        let ignored = restart_only(&old.config, &config);
        // What the listener really uses, so the snapshot says what is served.
        config.listen = old.config.listen;
        let state = State::with(config, old.metrics.clone(), old.buffers.clone())
            .map_err(|e| refused(e.to_string()))?;
        let counts = Counts::of(&old.config)
            .changes(&Counts::of(&state.config))
            .join(", ");
        self.current.store(Arc::new(state));
        self.reloads.fetch_add(1, Relaxed);
        Ok(Reloaded { counts, ignored })
    }

    /// A reload refused before it reached [`Live::reload`] (the file did not validate).
    pub fn refuse(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// Reloads done and refused since start.
    pub fn reloads(&self) -> (u64, u64) {
        (self.reloads.load(Relaxed), self.refused.load(Relaxed))
    }
}

/// What a reload changed, for its log line.
#[derive(Debug)]
pub struct Reloaded {
    /// `projects 2 -> 3, ...`, or empty when no count changed.
    pub counts: String,
    /// Keys whose new value waits for a restart.
    pub ignored: Vec<&'static str>,
}

/// Keys the running listener and runtime were built with.
fn restart_only(old: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&old.limits, &new.limits);
    [
        ("listen", old.listen != new.listen),
        ("workers", old.workers != new.workers),
        (
            "limits.max_connections",
            a.max_connections != b.max_connections,
        ),
        ("limits.max_streams", a.max_streams != b.max_streams),
        (
            "limits.shutdown_grace",
            a.shutdown_grace != b.shutdown_grace,
        ),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

/// How many of each thing a config holds; never a name or a secret.
struct Counts([(&'static str, usize); 5]);

impl Counts {
    fn of(c: &Config) -> Counts {
        let containers = c.projects.iter().map(|p| p.containers.len()).sum();
        let swift_keys = c
            .projects
            .iter()
            .map(|p| {
                p.temp_url_keys.len()
                    + p.containers
                        .iter()
                        .map(|c| c.temp_url_keys.len())
                        .sum::<usize>()
            })
            .sum();
        let s3_keys = c.projects.iter().map(|p| p.s3_keys.len()).sum();
        Counts([
            ("projects", c.projects.len()),
            ("containers", containers),
            ("temp_url_keys", swift_keys),
            ("s3_keys", s3_keys),
            ("api_tokens", c.api_tokens.len()),
        ])
    }

    fn changes(&self, new: &Counts) -> Vec<String> {
        self.0
            .iter()
            .zip(new.0.iter())
            .filter(|(a, b)| a.1 != b.1)
            .map(|((name, a), (_, b))| format!("{name} {a} -> {b}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(extra: &str, keys: &str) -> Config {
        let root = std::env::temp_dir();
        let text = format!(
            "{extra}\n[backend]\nkind = \"fs\"\nroot = {root:?}\n\
             [[project]]\nid = \"p\"\ntemp_url_keys = [{keys}]\n"
        );
        Config::parse(&text, Path::new("/")).unwrap()
    }

    #[test]
    fn a_reload_swaps_the_snapshot_and_an_old_one_stays_whole() {
        let live = Live::new(State::new(config("", "\"k1\"")).unwrap());
        let before = live.load();
        let done = live.reload(config("", "\"k1\", \"k2\"")).unwrap();
        assert_eq!(done.counts, "temp_url_keys 1 -> 2");
        assert!(done.ignored.is_empty());
        assert_eq!(before.config.projects[0].temp_url_keys.len(), 1);
        assert_eq!(live.load().config.projects[0].temp_url_keys.len(), 2);
        assert!(Arc::ptr_eq(&before.metrics, &live.load().metrics));
        assert_eq!(live.reloads(), (1, 0));
    }

    #[test]
    fn a_new_listen_address_is_kept_for_a_restart() {
        let live = Live::new(State::new(config("listen = \"127.0.0.1:1\"", "\"k\"")).unwrap());
        let done = live
            .reload(config("listen = \"127.0.0.1:2\"", "\"k\""))
            .unwrap();
        assert_eq!(done.ignored, ["listen"]);
        assert_eq!(live.load().config.listen.port(), 1);
    }
}
