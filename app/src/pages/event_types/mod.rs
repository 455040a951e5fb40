//! The event catalog: its types, one type's page, the schema editor.

pub mod detail;
pub mod editor;
pub mod fns;
pub mod list;
