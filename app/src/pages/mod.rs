//! The console's pages, one folder per area with the server functions its
//! pages call beside them (`<area>/fns.rs`). Each server function checks the
//! caller's permission with the same role matrix as the REST API, then calls
//! the engine or reads the store.

pub mod admin;
pub mod dashboard;
pub mod dlq;
pub mod docs;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod login;
pub mod not_found;
pub mod policies;
pub mod replays;
