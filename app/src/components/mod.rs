pub mod endpoint_form;
pub mod layout;
pub mod ui;
