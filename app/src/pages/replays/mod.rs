//! Replays: preview, start and watch jobs.

pub mod fns;
pub mod page;
