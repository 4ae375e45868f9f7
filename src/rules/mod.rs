//! Alert rules: YAML files loaded with positions (`load`), one compiled
//! matcher for all rules (`matcher`), the engine that counts and fires
//! (`engine`), and the replay runner behind `ishara rules test` (`test`).

pub mod load;
pub mod matcher;
pub mod model;

pub use load::{Diagnostic, Known, load_dir, load_str, templates_in};
pub use matcher::{Matcher, RuleMatch, Scratch, Subject};
pub use model::{Condition, Filter, GroupBy, Origin, PlaceFilter, Rule, RuleId, Severity, Topic};
