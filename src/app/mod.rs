//! The application layer: the state requests share, the link cache, and the one place a
//! link request is authorized (`authorize`) and its failures rendered (`denied`). Everything below it
//! (config, auth, backend, delivery and the leaves) never sees `State`; the handler, the API
//! and the listener above it do.

pub mod authorize;
pub mod denied;
pub mod links;
pub mod state;

pub use state::{Live, State};
