//! Ishara turns the SMS and field reports of people in a crisis into
//! alerts that reach responders in seconds.

pub mod alert;
pub mod api;
pub mod app;
pub mod cap;
pub mod config;
pub mod country;
pub mod enrich;
pub mod eval;
pub mod fold;
pub mod fuzzing;
pub mod ingest;
pub mod language;
pub mod notify;
pub mod phone;
pub mod queue;
pub mod reload;
pub mod report;
pub mod rules;
pub mod secret;
pub mod store;
pub mod window;
pub mod worker;
