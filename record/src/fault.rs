//! A fault record: the sampled channels over the cycles before and after a trip, as a disturbance
//! recorder keeps them. `comtrade` writes one as IEEE C37.111 files.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// What tripped, and when (s since the run's start), first trip first.
    pub trips: Vec<(String, f64)>,
    /// The first sample's time, s since the run's start.
    pub start_s: f64,
    /// Samples per second of every channel.
    pub rate: f64,
    /// The nominal line frequency, Hz.
    pub frequency: f64,
    pub channels: Vec<Channel>,
}

/// One sampled channel, in its unit (`main/v` in V, `load/heater/i` in A).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub unit: String,
    pub samples: Vec<f64>,
}

impl FaultRecord {
    /// The first trip's time, s since the run's start.
    pub fn trigger_s(&self) -> f64 {
        self.trips.first().map_or(self.start_s, |t| t.1)
    }

    /// Samples per channel.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, |c| c.samples.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
