//! SMS through a provider's send API, within a budget of segments.

pub mod segments;
pub mod send;

pub use send::SmsSender;
