//! The scenario file format (RON). `scenarios/README.md` documents it for users.

use grid_types::Phase;
use grid_types::SourceId;
use serde::{Deserialize, Serialize};
use sim::{PduSpec, SensorFault, WaveformSpec};

use control_core::AlertRule;
use control_core::LoadStatus;
use control_core::OperatorCommand;
use control_core::WallTime;
use control_core::{Positive, Secs, Settings};

use crate::field::{Balancing, FieldFault};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Local wall-clock time at the start of the run (for schedules).
    #[serde(default = "default_start")]
    pub start: WallTime,
    /// Simulated seconds to run.
    pub duration: Positive,
    /// Control step, s: one 50 Hz cycle for a PDU, one minute for a feeder when absent.
    #[serde(default)]
    pub step: Option<Positive>,
    /// Interval of the recorded time series, s: 1 s for a PDU, one step for a feeder when absent.
    #[serde(default)]
    pub record_every: Option<Positive>,
    pub grid: Grid,
    /// What the controller sees: RMS readings, or sampled waveforms it measures itself.
    #[serde(default)]
    pub fidelity: Fidelity,
    /// What it runs against by default: the twin (`Sim`), or the hardware path over an
    /// emulated bus (`EmulatedHil`, which bus faults need). `gridtwin run --backend` overrides.
    #[serde(default)]
    pub backend: BackendKind,
    #[serde(default)]
    pub controller: Settings,
    #[serde(default)]
    pub timeline: Vec<Entry>,
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// Feeders: home nodes with phase selectors and a balancer at the transformer.
    #[serde(default)]
    pub balancing: Option<Balancing>,
    /// Energy prices for the report's cost figures.
    #[serde(default)]
    pub tariff: Option<record::Tariff>,
    /// Alert rules on the site's recorded channels, evaluated on each recorded row.
    #[serde(default)]
    pub alerts: Vec<AlertRule>,
}

impl Scenario {
    /// The step, s (the loader fills in the grid's default).
    pub fn step(&self) -> f64 {
        self.step.map_or(0.02, Positive::get)
    }

    /// The recording interval, s (the loader fills in the grid's default).
    pub fn record_every(&self) -> f64 {
        self.record_every.map_or(1.0, Positive::get)
    }
}

fn default_start() -> WallTime {
    WallTime::parse("2026-01-05T00:00:00").expect("valid literal")
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub enum Fidelity {
    /// The twin's RMS phasor readings go straight to the controller.
    #[default]
    Phasor,
    /// The twin synthesizes every sensor channel's samples and the controller's metering
    /// measures them, as on the hardware.
    Waveform(WaveformSpec),
}

#[derive(Debug, Clone, Deserialize)]
pub enum Grid {
    Pdu(PduSpec),
    /// A PDU described in another RON file, relative to the scenario.
    PduFile(String),
    /// A radial three-phase feeder (the format `gridtwin import-dss` writes).
    Feeder(Box<sim::feeder::Feeder>),
    /// A feeder in another file, relative to the scenario: RON, or an OpenDSS master file
    /// (`.dss`) imported as the run starts.
    FeederFile(String),
    /// A low-voltage street generated from a seed: `Urban` (two underground feeders), `Campus`
    /// (four feeders with branches) or `Rural` (one long overhead line with laterals), every
    /// home single-phase on a random phase with its own household profile.
    Street {
        setting: sim::feeder::street::Setting,
        homes: usize,
        seed: u64,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Seconds from the start.
    pub at: Secs,
    #[serde(rename = "do")]
    pub action: Action,
}

/// An emulated meter's name (`BackendKind::EmulatedMeters`): this, then the circuit it measures.
pub const METER_PREFIX: &str = "pzem-";

/// Which backend a PDU run uses: the scenario's `backend`, unless the run chooses another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub enum BackendKind {
    #[default]
    Sim,
    /// The hardware path (virtual nodes on an emulated I2C bus, the relay board and its
    /// watchdog) against the twin.
    EmulatedHil,
    /// The same with the loads metered by ADS1115s streamed on the bus (`hil::ads_meter`),
    /// the sources by nodes.
    EmulatedHilAds1115,
    /// Feeders: the home nodes emulated register-exact on the balancing link (an RS-485 line
    /// behind a pseudo-terminal pair, or ChirpStack over Mosquitto), heard by the real master,
    /// which field faults need.
    EmulatedField,
    /// PDUs: each source and load metered by a PZEM-004T v3 on an emulated RS-485 line (behind
    /// a pseudo-terminal pair), read by the real master; the relays act on the twin. The
    /// meters give RMS values whatever the fidelity.
    EmulatedMeters,
}

impl BackendKind {
    /// Either hardware path against the twin.
    pub fn is_emulated_hil(self) -> bool {
        matches!(
            self,
            BackendKind::EmulatedHil | BackendKind::EmulatedHilAds1115
        )
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sim" => Ok(BackendKind::Sim),
            "emulated-hil" => Ok(BackendKind::EmulatedHil),
            "emulated-hil-ads1115" => Ok(BackendKind::EmulatedHilAds1115),
            "emulated-field" => Ok(BackendKind::EmulatedField),
            "emulated-meters" => Ok(BackendKind::EmulatedMeters),
            _ => Err(format!(
                "unknown backend {s:?}: sim, emulated-hil, emulated-hil-ads1115, emulated-field or emulated-meters"
            )),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub enum Target {
    Source(SourceId),
    Load(String),
}

/// What goes wrong on the emulated bus.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum BusFault {
    /// The node NAKs every transaction (busy, or rebooting in a loop).
    Nak,
    /// SDA held low: every transaction on the bus fails.
    Stuck,
    /// Every frame from the node arrives with a flipped bit (a noisy cable): its PEC fails.
    Corrupt,
    /// The node stretches the clock by `us` µs per byte (past 35 ms a transfer times out).
    Slow { us: Positive },
    /// The node is gone (unplugged, or its supply failed).
    Vanish,
}

#[derive(Debug, Clone, Deserialize)]
pub enum Action {
    /// The source goes dead for `duration` s (for good when absent).
    Outage {
        source: SourceId,
        #[serde(default)]
        duration: Option<Secs>,
    },
    /// The source voltage falls to `pu` of nominal.
    Sag {
        source: SourceId,
        pu: Positive,
        duration: Secs,
    },
    /// The source voltage rises to `pu` of nominal (a surge).
    Swell {
        source: SourceId,
        pu: Positive,
        duration: Secs,
    },
    FrequencyExcursion {
        source: SourceId,
        hz: Positive,
        duration: Secs,
    },
    /// The generator cranks but never builds voltage.
    FailToStart {
        source: SourceId,
    },
    /// A fault of `ohms` on a load circuit, downstream of its relay.
    ShortCircuit {
        load: String,
        ohms: f64,
        #[serde(default)]
        duration: Option<Secs>,
    },
    /// The source's neutral to a split-phase panel opens (a lost service neutral) for
    /// `duration` s (for good when absent): fed by it, the 120 V circuits sit in series across
    /// 240 V.
    OpenNeutral {
        source: SourceId,
        #[serde(default)]
        duration: Option<Secs>,
    },
    /// The load's demand is multiplied by `factor` from now on.
    LoadStep {
        load: String,
        factor: f64,
    },
    /// The load's relay contacts weld shut.
    WeldRelay {
        load: String,
    },
    SensorFault {
        target: Target,
        fault: SensorFault,
        #[serde(default)]
        duration: Option<Secs>,
    },
    Operator(OperatorCommand),
    /// Emulated hardware runs: a fault on the I2C bus at the node that measures `target` (the
    /// whole bus for `Stuck`), for `duration` s (for good when absent).
    BusFault {
        fault: BusFault,
        #[serde(default)]
        target: Option<Target>,
        #[serde(default)]
        duration: Option<Secs>,
    },
    /// Emulated hardware runs: the control loop hangs for `duration` s (no measurement, no
    /// decision, no heartbeat) while the world goes on; the relay board's watchdog acts.
    ControllerHang {
        duration: Secs,
    },
    /// Feeders on the emulated field: a fault at `home`'s node (the link's own for
    /// `GatewayDown`), for `duration` s (for good when absent).
    FieldFault {
        fault: FieldFault,
        #[serde(default)]
        home: Option<String>,
        #[serde(default)]
        duration: Option<Secs>,
    },
    /// Feeders: a single-phase load's phase selector moves it to `phase`.
    PhaseSelect {
        load: String,
        phase: Phase,
    },
    /// Feeders: a regulator's tap is fixed at `tap` steps from neutral and its control stops.
    Tap {
        regulator: String,
        tap: i32,
    },
    /// `action` at the entry's time and then every `every` s, `count` times in all.
    Repeat {
        every: Positive,
        count: u32,
        action: Box<Action>,
    },
}

impl Action {
    /// The name of a PDU-only action, as a refusal names it.
    pub(super) fn variant_name(&self) -> &'static str {
        match self {
            Action::FrequencyExcursion { .. } => "FrequencyExcursion",
            Action::FailToStart { .. } => "FailToStart",
            Action::ShortCircuit { .. } => "ShortCircuit",
            Action::OpenNeutral { .. } => "OpenNeutral",
            Action::WeldRelay { .. } => "WeldRelay",
            Action::SensorFault { .. } => "SensorFault",
            Action::BusFault { .. } => "BusFault",
            Action::ControllerHang { .. } => "ControllerHang",
            Action::Operator(_) => "Operator",
            _ => "this action",
        }
    }
}

/// Where a "within" measurement starts.
#[derive(Debug, Clone, Deserialize)]
pub enum Anchor {
    Time(Secs),
    /// The first matching event.
    Event {
        event: String,
        #[serde(default)]
        subject: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub enum Stat {
    Min,
    Max,
    Mean,
    P95,
    P99,
}

#[derive(Debug, Clone, Deserialize)]
pub enum Expect {
    /// How many matching events happen (in [from, until] when given).
    Count {
        event: String,
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        from: Option<Secs>,
        #[serde(default)]
        until: Option<Secs>,
        #[serde(default)]
        min: Option<u32>,
        #[serde(default)]
        max: Option<u32>,
    },
    /// No matching event at all.
    Never {
        event: String,
        #[serde(default)]
        subject: Option<String>,
    },
    /// The first matching event after the anchor comes within `seconds`.
    Within {
        event: String,
        #[serde(default)]
        subject: Option<String>,
        after: Anchor,
        seconds: Secs,
    },
    /// The load's relay state (contacts) at a time.
    Relay {
        load: String,
        at: Secs,
        closed: bool,
    },
    /// The load's controller status at a time.
    Status {
        load: String,
        at: Secs,
        is: LoadStatus,
    },
    /// Which source feeds the bus at a time (none: dead bus).
    Feeding { at: Secs, source: Option<SourceId> },
    /// The load never stays above its configured current or power limit longer than `seconds`.
    LoadWithinLimit { load: String, seconds: Secs },
    /// The feeding source never stays above its configured capacity longer than `seconds`.
    SourceWithinCapacity { seconds: Secs },
    /// The bus never stays dead longer than `seconds` (in [from, until] when given).
    MaxDeadBus {
        seconds: Secs,
        #[serde(default)]
        from: Option<Secs>,
        #[serde(default)]
        until: Option<Secs>,
    },
    /// A statistic of the bus voltage (pu) while the bus is live, within bounds.
    BusVoltage {
        stat: Stat,
        #[serde(default)]
        from: Option<Secs>,
        #[serde(default)]
        until: Option<Secs>,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
    /// The site's average power over each complete fixed window from the start (a utility's
    /// demand intervals) never exceeds `max_kw`.
    Demand { window: Positive, max_kw: f64 },
    /// A load's energy over the run, kWh, within bounds.
    Energy {
        load: String,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
    /// Feeders with balancing: a statistic of a measure is at least `min_pct` % lower than in
    /// the same run with the balancer off (the runner makes both runs).
    Reduced {
        of: Measure,
        stat: Stat,
        min_pct: f64,
    },
    /// Feeders: a statistic of a measure over every step in [from, until], within bounds.
    FeederStat {
        of: Measure,
        stat: Stat,
        #[serde(default)]
        from: Option<Secs>,
        #[serde(default)]
        until: Option<Secs>,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
}

/// What a feeder expectation measures each step.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum Measure {
    /// Node voltages, pu of the bus base: every node of `bus`, or every load's node when
    /// absent, all pooled.
    Voltage {
        #[serde(default)]
        bus: Option<String>,
    },
    /// Voltage unbalance factor |V2| / |V1| in % at a three-phase bus, or at the worst
    /// three-phase bus of each step when absent.
    Vuf {
        #[serde(default)]
        bus: Option<String>,
    },
    /// Residual current |Ia + Ib + Ic| (A) entering `bus` from its parent: what returns by
    /// the neutral and the earth.
    NeutralCurrent { bus: String },
    /// Current unbalance at `bus` in %: the largest deviation of a phase current magnitude
    /// from their mean, over the mean.
    CurrentUnbalance { bus: String },
    /// Real power the source delivers, kW.
    SourceKw,
}
