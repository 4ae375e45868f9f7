//! Accuracy evaluations run by `ishara eval`: they score the real pipeline
//! on labelled data and print what they measured.

pub mod geo;
pub mod language;
pub mod sms_language;
