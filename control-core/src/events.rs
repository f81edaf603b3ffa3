//! The one typed event log. Every decision the controller takes that a person may ask about later
//! (why did the lights go out?) is an event with time, subject, severity and the values behind it.

use grid_types::Phase;
use grid_types::SourceId;
use serde::Serialize;

use super::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Alarm,
    Critical,
}

impl Severity {
    /// The name used in event logs (as serialized).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Alarm => "alarm",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Pdu,
    Source(SourceId),
    Load(String),
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Pdu => f.write_str("pdu"),
            Subject::Source(SourceId::Main) => f.write_str("main"),
            Subject::Source(SourceId::Backup) => f.write_str("backup"),
            Subject::Load(n) => f.write_str(n),
        }
    }
}

/// Which protection element or function acted, named by its ANSI device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// 59 overvoltage, stage n (1-based)
    Overvoltage(u8),
    Undervoltage(u8),
    Overfrequency(u8),
    Underfrequency(u8),
    Instantaneous,
    InverseTime,
    /// The load's configured current limit.
    CurrentLimit,
    PowerLimit,
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Element::Overvoltage(n) => write!(f, "59-{n}"),
            Element::Undervoltage(n) => write!(f, "27-{n}"),
            Element::Overfrequency(n) => write!(f, "81O-{n}"),
            Element::Underfrequency(n) => write!(f, "81U-{n}"),
            Element::Instantaneous => f.write_str("50"),
            Element::InverseTime => f.write_str("51"),
            Element::CurrentLimit => f.write_str("limit_a"),
            Element::PowerLimit => f.write_str("limit_w"),
        }
    }
}

impl Serialize for Element {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Element {
    pub fn is_voltage_or_frequency(self) -> bool {
        matches!(
            self,
            Element::Overvoltage(_)
                | Element::Undervoltage(_)
                | Element::Overfrequency(_)
                | Element::Underfrequency(_)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alarm {
    /// The backup did not become acceptable in time after its start signal.
    TransferFail,
    /// The source feeding the bus was lost and nothing can take over.
    BackupLost,
    /// Current flows through a relay that was told to open.
    WeldedRelay,
    /// Shedding cannot bring the load within capacity (only critical loads remain).
    CannotShed,
    /// No fresh measurement (bus errors past their retries, a silent node, stale data): the
    /// subject's protection waits and a load goes to its loss-of-measurement state.
    SensorFault,
}

/// What is done when an alert is raised or cleared, beside its event in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum AlertAction {
    /// Sent to the rule's recipients by the live site's notifier.
    #[default]
    Notify,
    /// Logged only.
    Log,
    /// Notified, and the rule's `shed` loads (else the loads of its scope) held off while the
    /// alert stands; critical loads are never shed.
    Shed,
}

/// An alert rule's level, in order of gravity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    #[default]
    Normal,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShedReason {
    Capacity,
    Demand,
    /// Not re-energized after a transfer because it would not fit on the new source.
    CapacityAtTransfer,
    /// Held off by an alert rule's shed action while its alert stands.
    Alert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    Undervoltage,
    Overvoltage,
    Frequency,
    Protection,
    Lockout,
}

/// Why a transfer switch test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestEnd {
    /// Its timer ran out.
    Timer,
    /// The exercise schedule's window closed.
    Schedule,
    /// An operator ended it.
    Operator,
    /// The backup failed while it carried the load: back to the main at once.
    BackupLost,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A source left its acceptance band.
    SourceLost {
        why: Why,
        v_pu: f64,
        f_pu: f64,
    },
    /// A source is acceptable (again), with how long it had been lost when it was seen lost.
    SourceRecovered {
        #[serde(skip_serializing_if = "Option::is_none")]
        after_s: Option<f64>,
    },
    /// The main has been lost longer than the momentary override (or kept dropping out).
    Outage {
        brownout: bool,
    },
    /// The main is back after a declared outage.
    Restore {
        outage_s: f64,
    },
    EngineStart,
    EngineStop,
    /// Load moved to the backup.
    Transfer,
    /// Load moved back to the main.
    Retransfer {
        early: bool,
    },
    /// The backup came back before the load was moved; it cools down.
    TransferCancelled,
    /// A transfer switch test began (an operator's, or the exercise schedule's): on load, the
    /// switch acts as if the main were lost; off load, only the engine runs. `minutes`: its
    /// timer (none: until the schedule's window ends).
    TestStarted {
        on_load: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
    },
    /// The test ended: the load goes back to the main after the retransfer delay, the engine
    /// cools down.
    TestEnded {
        on_load: bool,
        why: TestEnd,
    },
    Trip {
        element: Element,
        value: f64,
    },
    Reclose {
        attempt: u32,
    },
    Lockout {
        element: Element,
    },
    Reset,
    Shed {
        reason: ShedReason,
        watts: f64,
    },
    LoadRestored {
        watts: f64,
    },
    Schedule {
        on: bool,
    },
    Operator {
        action: String,
    },
    Alarm {
        alarm: Alarm,
    },
    AlarmCleared {
        alarm: Alarm,
    },
    /// An alert rule's value entered `level` (from normal or from the other level): `value`
    /// against its `threshold`.
    AlertRaised {
        rule: String,
        level: AlertLevel,
        value: f64,
        threshold: f64,
        action: AlertAction,
    },
    /// An alert rule's value is back to normal, `after_s` after it was raised.
    AlertCleared {
        rule: String,
        value: f64,
        after_s: f64,
        action: AlertAction,
    },
    /// Power quality (IEC 61000-4-30, `pq`): the voltage was below the dip threshold for
    /// `duration_s`, at its lowest `residual_pct` of nominal.
    VoltageDip {
        residual_v: f64,
        residual_pct: f64,
        duration_s: f64,
    },
    /// The voltage was above the swell threshold for `duration_s`, at its highest `peak_pct`.
    VoltageSwell {
        peak_v: f64,
        peak_pct: f64,
        duration_s: f64,
    },
    /// The voltage was below the interruption threshold for `duration_s`.
    Interruption {
        duration_s: f64,
    },
    /// Feeders: a regulator moved to `tap` steps from neutral.
    Tap {
        tap: i32,
    },
    /// Feeders: a capacitor control switched its bank in (`closed`) or out.
    Capacitor {
        closed: bool,
    },
    /// Feeders: a home's phase selector moved it.
    PhaseMove {
        from: Phase,
        to: Phase,
    },
    /// Feeders: the power flow failed; the previous solution stands.
    SolveFailed {
        error: String,
    },
    /// Feeders: the balancer adopted a plan of `moves` moves, expecting the unbalance at the
    /// transformer to go from `before_pct` to `after_pct`, on `fresh` fresh readings.
    BalancePlan {
        moves: usize,
        before_pct: f64,
        after_pct: f64,
        fresh: usize,
    },
    /// Feeders: a move command to a home was not acknowledged in time and is sent again.
    BalanceRetry {
        to: Phase,
        attempt: u32,
    },
    /// Feeders: a home never acknowledged its move; it keeps its phase and is left alone.
    BalanceGaveUp {
        to: Phase,
    },
    /// Feeders: a home reported a phase the balancer did not command.
    BalanceUnexpected {
        phase: Phase,
    },
    /// Hardware: a measurement node (the subject) stopped answering; `error` is the last
    /// attempt's, after its retries.
    NodeLost {
        error: String,
    },
    /// Hardware: a node that had stopped answering answers again.
    NodeBack,
    /// Hardware: a node reports trouble of its own.
    NodeTrouble {
        trouble: NodeTrouble,
    },
}

/// What a measurement node reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeTrouble {
    /// It restarted from its watchdog.
    Reset,
    /// It cannot sample as fast as asked.
    AdcOverrun,
    /// Its stored calibration is corrupt; it measures with defaults.
    CalibrationInvalid,
}

/// Every event name, as written in logs and expectations.
pub const EVENT_NAMES: &[&str] = &[
    "source_lost",
    "source_recovered",
    "outage",
    "restore",
    "engine_start",
    "engine_stop",
    "transfer",
    "retransfer",
    "transfer_cancelled",
    "test_started",
    "test_ended",
    "trip",
    "reclose",
    "lockout",
    "reset",
    "shed",
    "load_restored",
    "schedule",
    "operator",
    "alarm",
    "alarm_cleared",
    "alert_raised",
    "alert_cleared",
    "voltage_dip",
    "voltage_swell",
    "interruption",
    "tap",
    "capacitor",
    "phase_move",
    "solve_failed",
    "balance_plan",
    "balance_retry",
    "balance_gave_up",
    "balance_unexpected",
    "node_lost",
    "node_back",
    "node_trouble",
];

impl EventKind {
    /// The name used in event logs and in scenario expectations.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SourceLost { .. } => "source_lost",
            EventKind::SourceRecovered { .. } => "source_recovered",
            EventKind::Outage { .. } => "outage",
            EventKind::Restore { .. } => "restore",
            EventKind::EngineStart => "engine_start",
            EventKind::EngineStop => "engine_stop",
            EventKind::Transfer => "transfer",
            EventKind::Retransfer { .. } => "retransfer",
            EventKind::TransferCancelled => "transfer_cancelled",
            EventKind::TestStarted { .. } => "test_started",
            EventKind::TestEnded { .. } => "test_ended",
            EventKind::Trip { .. } => "trip",
            EventKind::Reclose { .. } => "reclose",
            EventKind::Lockout { .. } => "lockout",
            EventKind::Reset => "reset",
            EventKind::Shed { .. } => "shed",
            EventKind::LoadRestored { .. } => "load_restored",
            EventKind::Schedule { .. } => "schedule",
            EventKind::Operator { .. } => "operator",
            EventKind::Alarm { .. } => "alarm",
            EventKind::AlarmCleared { .. } => "alarm_cleared",
            EventKind::AlertRaised { .. } => "alert_raised",
            EventKind::AlertCleared { .. } => "alert_cleared",
            EventKind::VoltageDip { .. } => "voltage_dip",
            EventKind::VoltageSwell { .. } => "voltage_swell",
            EventKind::Interruption { .. } => "interruption",
            EventKind::Tap { .. } => "tap",
            EventKind::Capacitor { .. } => "capacitor",
            EventKind::PhaseMove { .. } => "phase_move",
            EventKind::SolveFailed { .. } => "solve_failed",
            EventKind::BalancePlan { .. } => "balance_plan",
            EventKind::BalanceRetry { .. } => "balance_retry",
            EventKind::BalanceGaveUp { .. } => "balance_gave_up",
            EventKind::BalanceUnexpected { .. } => "balance_unexpected",
            EventKind::NodeLost { .. } => "node_lost",
            EventKind::NodeBack => "node_back",
            EventKind::NodeTrouble { .. } => "node_trouble",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            EventKind::SourceLost { .. }
            | EventKind::TransferCancelled
            | EventKind::TestEnded {
                why: TestEnd::BackupLost,
                ..
            }
            | EventKind::Shed { .. }
            | EventKind::Reclose { .. }
            | EventKind::BalanceGaveUp { .. }
            | EventKind::BalanceUnexpected { .. }
            | EventKind::NodeTrouble { .. }
            | EventKind::VoltageDip { .. }
            | EventKind::VoltageSwell { .. }
            | EventKind::Interruption { .. } => Severity::Warning,
            EventKind::Outage { .. }
            | EventKind::Trip { .. }
            | EventKind::SolveFailed { .. }
            | EventKind::NodeLost { .. } => Severity::Alarm,
            EventKind::Lockout { .. } => Severity::Critical,
            EventKind::AlertRaised { level, .. } => match level {
                AlertLevel::Critical => Severity::Critical,
                _ => Severity::Warning,
            },
            EventKind::Alarm { alarm } => match alarm {
                Alarm::TransferFail | Alarm::BackupLost | Alarm::WeldedRelay => Severity::Critical,
                Alarm::CannotShed | Alarm::SensorFault => Severity::Alarm,
            },
            _ => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Seconds since the controller started.
    pub t: f64,
    pub severity: Severity,
    pub subject: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub fn new(now: Instant, subject: &Subject, kind: EventKind) -> Self {
        Self::at(now.as_secs_f64(), subject.to_string(), kind)
    }

    /// An event at `t` seconds about any named thing (a feeder's regulator, say).
    pub fn at(t: f64, subject: impl Into<String>, kind: EventKind) -> Self {
        Event {
            t,
            severity: kind.severity(),
            subject: subject.into(),
            kind,
        }
    }
}
