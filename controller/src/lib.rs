//! Gridtwin's controller crate: the sans-IO control logic (`core`) and the adapters around it
//! (backends, scenario files, the run loop and the CLI).

pub mod backend;
pub mod balance_cli;
pub mod core;
pub mod feeder_cli;
pub mod measure_csv;
pub mod run;
pub mod scenario;

/// The scenario `gridtwin run` plays when given no file.
pub const DEMO_SCENARIO: &str = include_str!("../../scenarios/outage_generator_start.ron");
