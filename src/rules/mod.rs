//! Alert rules: YAML files loaded with positions (`load`), one compiled
//! matcher for all rules (`matcher`), the engine that counts and fires
//! (`engine`), and the replay runner behind `ishara rules test` (`test`).

pub mod alert;
pub mod engine;
pub mod facts;
pub mod model;
pub mod reload;
pub mod testing;

pub use model::{Condition, Filter, GroupBy, Origin, PlaceFilter, Rule, RuleId, Severity, Topic};
