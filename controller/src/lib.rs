//! Gridtwin's controller crate: the sans-IO control logic (`core`) and the adapters around it
//! (backends, scenario files, the run loop and the CLI).

pub mod core;
