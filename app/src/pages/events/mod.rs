//! Events: the filtered list, and one event with its deliveries and receipts.

pub mod detail;
pub mod fns;
pub mod list;
