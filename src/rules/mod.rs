//! Alert rules: YAML files loaded with positions (`load`), one compiled
//! matcher for all rules (`matcher`), the engine that counts and fires
//! (`engine`), hot reload (`reload`), and the replay runner behind
//! `ishara rules test` (`testing`).

pub mod engine;
pub mod facts;
pub mod load;
pub mod matcher;
pub mod model;
pub mod testing;

pub use load::{Diagnostic, Known, load_dir, load_str, templates_in};
pub use matcher::{Matcher, RuleMatch, Scratch, Subject};
pub use model::{Condition, Filter, GroupBy, Origin, PlaceFilter, Rule, RuleId, Severity, Topic};
