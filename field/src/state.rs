//! What the site's transports have heard, shared between their tasks and the site: each home's
//! last report and each meter's last reading with their freshness, the events, the traffic.

use grid_types::Phase;

use crate::home_node::NodeReport;
use crate::meter::MeterReading;

/// A home's last report and when it was read (site clock, s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HomeSeen {
    pub report: NodeReport,
    pub read_at: f64,
    /// A good read within `stale_s`, of a window newer than the one before, from a node not
    /// lost: fit to act on.
    pub fresh: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeterSeen {
    pub reading: MeterReading,
    pub read_at: f64,
    pub fresh: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteEvent {
    /// Its polls failed `lost_after` times running: the last error.
    Lost {
        device: String,
        error: String,
    },
    Back {
        device: String,
    },
    /// A command could not be written (it is not retried here: the balancer repeats it).
    CommandFailed {
        home: String,
        error: String,
    },
    /// The node restarted (its uptime went back).
    Restarted {
        home: String,
    },
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) homes: Vec<Option<HomeSeen>>,
    pub(crate) meters: Vec<Option<MeterSeen>>,
    pub(crate) events: Vec<(f64, SiteEvent)>,
    /// Requests made and their time on the line, and uplinks taken, for the figures.
    pub(crate) requests: u64,
    pub(crate) busy_s: f64,
    pub(crate) uplinks: u64,
}

/// A command for a home: its index in the field file, the id, the target phase.
pub(crate) type Cmd = (usize, u16, Phase);
