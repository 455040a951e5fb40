//! The dead-letter queue: the list with bulk reprocess, and one entry.

pub mod fns;
pub mod page;
