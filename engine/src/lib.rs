//! Herald's engine: the domain model shared with the console, and (behind the
//! `server` feature) the store, authentication primitives and workers.
//!
//! The engine knows nothing of HTTP handlers or the UI. The REST API and the
//! console's server functions are thin translations onto calls made here.

pub mod model;
pub mod retry;

#[cfg(feature = "server")]
pub mod ack;
#[cfg(feature = "server")]
pub mod asyncapi;
#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod catalog;
#[cfg(feature = "server")]
pub mod content;
#[cfg(feature = "server")]
pub mod deps;
#[cfg(feature = "server")]
pub mod dispatch;
#[cfg(feature = "server")]
pub mod dlq;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod event_types;
#[cfg(feature = "server")]
pub mod inbox;
#[cfg(feature = "server")]
pub mod ingest;
#[cfg(feature = "server")]
pub mod limit;
#[cfg(feature = "server")]
pub mod live;
#[cfg(feature = "server")]
pub mod membership;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod ops;
#[cfg(feature = "server")]
pub mod play;
#[cfg(feature = "server")]
pub mod recovery;
#[cfg(feature = "server")]
pub mod replay;
#[cfg(feature = "server")]
pub mod retention;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod sign;
#[cfg(feature = "server")]
pub mod stats;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod transform;
#[cfg(feature = "server")]
pub mod validate;
#[cfg(feature = "server")]
pub mod vault;

#[cfg(feature = "server")]
pub use error::{EngineError, Result};
