//! The REST API. Handlers are thin translations onto engine calls.

pub mod docs;
pub mod examples;
pub mod extract;
pub mod v1;
