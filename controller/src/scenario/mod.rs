//! Scenario files: the format, and loading with validation.

pub mod format;
pub mod load;

pub use format::Scenario;
pub use load::{Loaded, ScenarioError, load, parse};
