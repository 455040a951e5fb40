//! The API reference, served inside the console.

pub mod fns;
pub mod page;
