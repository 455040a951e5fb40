//! Endpoints: the list with health, registering one, and one endpoint.

pub mod detail;
pub mod fns;
pub mod list;
pub mod play;
