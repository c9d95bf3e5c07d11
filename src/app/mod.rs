//! The application layer: the state requests share and the link cache. Everything below it
//! (config, auth, backend, delivery and the leaves) never sees `State`; the handler, the API
//! and the listener above it do.

pub mod links;
pub mod state;

pub use state::State;
