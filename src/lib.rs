//! Ishara turns the SMS and field reports of people in a crisis into
//! alerts that reach responders in seconds.

pub mod api;
pub mod app;
pub mod config;
pub mod country;
pub mod enrich;
pub mod eval;
pub mod fuzzing;
pub mod ingest;
pub mod notify;
pub mod phone;
pub mod queue;
pub mod report;
pub mod rules;
pub mod store;
pub mod window;
pub mod worker;
