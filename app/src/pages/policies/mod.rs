//! Named retry policies.

pub mod fns;
pub mod page;
