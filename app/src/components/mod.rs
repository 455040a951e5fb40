pub mod endpoint_form;
pub mod layout;
pub mod live;
pub mod ui;
