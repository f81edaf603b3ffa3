//! Scenario files: the format, and loading with validation.

mod feeder;
pub mod format;
pub mod load;
mod pdu;

pub use feeder::feeder_load;
pub use format::{BackendKind, Scenario};
pub use load::{Loaded, ScenarioError, Site, load, parse};
