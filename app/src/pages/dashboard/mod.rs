//! The dashboard and the delivery statistics its charts (and the endpoint page) draw.

pub mod fns;
pub mod nodes;
pub mod page;
