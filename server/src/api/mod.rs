//! The REST API. Handlers are thin translations onto engine calls.

pub mod extract;
pub mod v1;
