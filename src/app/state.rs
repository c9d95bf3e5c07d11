//! What every request shares: the config, the store, the counters, the link cache and the
//! body budget. Made once at start; the listener hands it to each request.

use crate::app::links::LinkCache;
use crate::backend::Backend;
use crate::budget::Budget;
use crate::config::Config;
use crate::metrics::Metrics;

pub struct State {
    pub config: Config,
    pub backend: Backend,
    pub metrics: Metrics,
    /// Links verified recently (see `app::links`).
    pub links: LinkCache,
    /// What body chunks read but not yet sent may hold, over all connections.
    pub buffers: Budget,
}

impl State {
    pub fn new(config: Config) -> std::io::Result<State> {
        let backend = Backend::from_config(&config)?;
        let metrics = Metrics::default();
        let buffers = Budget::new(crate::budget::SERVER, metrics.budget_spent.clone());
        Ok(State {
            config,
            backend,
            metrics,
            links: Default::default(),
            buffers,
        })
    }
}
