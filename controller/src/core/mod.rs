//! The sans-IO control logic. Nothing in this module tree may read a clock, spawn a thread,
//! touch a file or socket, or be async: time and measurements come in as arguments, commands and
//! events go out as values.

pub mod balance;
pub mod controller;
pub mod events;
pub mod interface;
pub mod loads;
pub mod measurement;
pub mod metering;
pub mod protection;
pub mod schedule;
pub mod settings;
pub mod shedding;
pub mod source_guard;
pub mod time;
pub mod transfer;
pub mod unbalance;

pub use controller::{Controller, Status};
pub use events::{Event, EventKind, Severity, Subject};
pub use interface::{Commands, LoadMeasurement, Measurements, OperatorCommand, SourceMeasurement};
pub use loads::LoadStatus;
pub use settings::Settings;
pub use time::Instant;
