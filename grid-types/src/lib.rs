//! The values the control core, the twin (`sim`) and the hardware (`hil`, the backends) share.
//! They live here, not in any one of them, so that the core depends on neither the twin nor the
//! hardware, and a real site's backend needs no twin to describe what its meters read.

use serde::{Deserialize, Serialize};

/// A PDU's two sources: the utility (main) and the generator or inverter (backup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceId {
    Main,
    Backup,
}

/// A phase of a three-phase bus: nodes 1, 2 and 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    A,
    B,
    C,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::A, Phase::B, Phase::C];

    pub fn node(self) -> usize {
        self as usize + 1
    }

    pub fn of_node(node: usize) -> Option<Phase> {
        Phase::ALL.get(node.wrapping_sub(1)).copied()
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Phase::A => "A",
            Phase::B => "B",
            Phase::C => "C",
        })
    }
}

/// What a source's meter reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SourceReading {
    /// Voltage at the source's terminals of the transfer switch, V rms.
    pub v: f64,
    pub hz: f64,
    /// Current delivered to the bus, A rms.
    pub i: f64,
    pub p: f64,
    pub q: f64,
}

/// What a load's meter reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LoadReading {
    pub v: f64,
    pub i: f64,
    pub p: f64,
    pub q: f64,
}

/// A PDU's meters at one instant, the twin's or a real site's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Readings {
    pub main: SourceReading,
    pub backup: SourceReading,
    pub bus_v: f64,
    pub bus_hz: f64,
    pub loads: Vec<LoadReading>,
    /// A split-phase panel's legs (none on a single-phase panel).
    pub legs: Option<Legs>,
}

/// A split-phase panel's meters: each leg against the neutral bar (two-element metering, whose
/// powers sum to the panel's), and the neutral.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Legs {
    /// L1 and L2 to the neutral bar, V rms.
    pub v: [f64; 2],
    /// Each leg's current from the feeding source, A rms.
    pub i: [f64; 2],
    /// Each leg's active (W) and reactive (var) power.
    pub p: [f64; 2],
    pub q: [f64; 2],
    /// The neutral's current back to the source, A rms: the 120 V circuits' difference.
    pub neutral_i: f64,
}
