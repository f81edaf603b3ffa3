//! What goes into the controller and what comes out of it.

use grid_types::SourceId;
use serde::{Deserialize, Serialize};

/// One source as the transfer switch senses it on its own terminals.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SourceMeasurement {
    /// Voltage, V rms.
    pub v: f64,
    /// Frequency, Hz (0 when dead).
    pub hz: f64,
    /// Current delivered to the bus, A rms.
    pub i: f64,
    /// Real power delivered to the bus, W.
    pub p: f64,
    /// The largest half-cycle RMS current since the last step (the instantaneous element's
    /// input); `i` where only RMS values are measured.
    pub i_fast: f64,
    /// No fresh reading for longer than the backend allows (a dead bus, a silent node): the
    /// values are the last good ones and must not be acted on as if current.
    pub lost: bool,
}

/// One load circuit's current transducer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadMeasurement {
    pub i: f64,
    pub p: f64,
    /// As `SourceMeasurement::i_fast`.
    pub i_fast: f64,
    /// As `SourceMeasurement::lost`.
    pub lost: bool,
}

/// Everything measured at one instant. `loads` is indexed like the configured loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements {
    pub main: SourceMeasurement,
    pub backup: SourceMeasurement,
    pub loads: Vec<LoadMeasurement>,
}

/// What the controller wants the contactors, the start contact and the relays to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commands {
    pub main_closed: bool,
    pub backup_closed: bool,
    pub backup_start: bool,
    pub relays: Vec<bool>,
}

/// An operator's request, from the web, the CLI, a scenario timeline or the Bevy window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorCommand {
    /// Switch a load on (clears a manual off; a shed load comes back when shedding allows).
    On(String),
    /// Switch a load off; shedding never turns it back on.
    Off(String),
    /// Clear a load's trip or lockout.
    Reset(String),
    /// Clear a source's overcurrent lockout.
    ResetSource(SourceId),
    /// Test the transfer switch for `minutes`: on load, it acts as if the main were lost and
    /// moves the load to the backup; off load, it runs the engine unloaded.
    Test { on_load: bool, minutes: u32 },
    /// End a test now.
    EndTest,
}
