//! The control core: the PDU controller's and the phase balancer's state machines, sans-IO as
//! quinn-proto is. Nothing in this crate reads a clock, spawns a thread, touches a file or
//! socket, or is async (its `clippy.toml` makes CI refuse them): time and measurements come in
//! as arguments, commands and events go out as values. Same inputs, same event log, byte for
//! byte.
//!
//! Entry points: `Controller::step` (a PDU's measurements at an instant → relay and contactor
//! commands, events), `Controller::operator` and `Controller::configure_load`; `Balancer` (the
//! home nodes' reports → phase moves) and `balance::plan`; `measurement::analyse` and
//! `PduMetering` (raw samples → IEEE 1459 quantities).

mod alerts;
mod controller;
mod events;
mod interface;
mod loads;
mod metering;
mod protection;
mod schedule;
mod settings;
mod shedding;
mod source_guard;
mod time;
mod transfer;
mod unbalance;

pub mod balance;
pub mod measurement;
pub mod pq;

pub use alerts::{
    ActiveAlert, AlertRule, Alerts, Combine, Crossing, Escalation, Input, Quantity, Scope,
};
pub use controller::{ConfigError, Controller, Refused, Status, UnknownLoad, check_settings};
pub use events::{
    Alarm, AlertAction, AlertLevel, EVENT_NAMES, Element, Event, EventKind, NodeTrouble, Severity,
    ShedReason, Subject, TestEnd, Why,
};
pub use interface::{Commands, LoadMeasurement, Measurements, OperatorCommand, SourceMeasurement};
pub use loads::LoadStatus;
pub use metering::{PduCalibration, PduMetering};
pub use schedule::{Day, Schedule, TimeOfDay, WallTime};
pub use settings::{
    AtsSettings, Curve, Exercise, InverseStage, LoadSettings, OnLoss, Overcurrent, Positive,
    PowerOn, Retry, Secs, Settings, SheddingSettings, SourceProtection, Stage,
};
pub use time::Instant;
pub use transfer::AtsState;
pub use unbalance::{
    Unbalance, current_deviation, neutral_rms, sequences, unbalance, vuf, vuf_squared,
};
