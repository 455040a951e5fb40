pub mod charts;
pub mod endpoint_form;
pub mod layout;
pub mod list;
pub mod live;
pub mod live_deliveries;
pub mod ui;
