//! The console's server functions, one module per area. Each checks the
//! caller's permission with the same role matrix as the REST API, then calls
//! the engine (`herald_engine::service`) or reads the store.

pub mod admin;
pub mod dlq;
pub mod docs;
pub mod endpoints;
pub mod events;
pub mod policies;
pub mod replays;
pub mod stats;
