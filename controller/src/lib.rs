//! Gridtwin's controller crate: the adapters around the control core (`control_core`)
//! (backends, scenario files, the run loop and the CLI).

pub mod alerts;
pub mod backend;
pub mod capture;
pub mod channels;
pub mod disturbance;
pub mod field;
pub mod run;
pub mod scenario;

/// The scenario `gridtwin run` plays when given no file.
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/outage_generator_start.ron");
