//! Administration: API keys, the audit log, settings and users.

pub mod api_keys;
pub mod audit;
pub mod fns;
pub mod settings;
