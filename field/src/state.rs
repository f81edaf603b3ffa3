//! What the site's transports have heard, shared between their tasks and the site: each home's
//! last report and each meter's last reading with their freshness, the events, the traffic.

use std::sync::{Arc, Mutex, MutexGuard};

use grid_types::Phase;
use tokio::sync::Notify;

use crate::clock::Clock;

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
    /// Its last poll was answered (a meter powered by the circuit it measures is silent while
    /// that circuit is dead).
    pub answering: bool,
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
    /// Uplink messages that reached the site (duplicates and refused ones too), and downlinks
    /// it queued: what a virtual-time run waits for.
    pub(crate) messages: u64,
    pub(crate) downlinks: u64,
    /// Commands given and not yet written or queued.
    pub(crate) pending: u64,
    /// Per task: the clock time it waits for (infinity: only for a command or a message; minus
    /// infinity: working).
    pub(crate) waiting: Vec<f64>,
    /// ChirpStack transports not yet subscribed to their uplinks.
    pub(crate) unsubscribed: usize,
}

impl Shared {
    /// Every task has done what was due by `t`.
    pub(crate) fn quiet(&self, t: f64) -> bool {
        self.pending == 0 && self.waiting.iter().all(|w| *w > t)
    }
}

/// A command for a home: its index in the field file, the id, the target phase.
pub(crate) type Cmd = (usize, u16, Phase);

/// A transport's task's place in the site: its index, the shared state, the clock, and whom
/// to tell when it waits.
pub(crate) struct Tasked {
    pub(crate) task: usize,
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) clock: Clock,
    pub(crate) notify: Arc<Notify>,
}

impl Tasked {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> f64 {
        self.clock.now()
    }

    /// The task waits for the clock to read `t` (infinity: for a command or a message only).
    pub(crate) fn wait_for(&self, t: f64) {
        self.lock().waiting[self.task] = t;
        self.notify.notify_waiters();
    }

    pub(crate) fn working(&self) {
        self.lock().waiting[self.task] = f64::NEG_INFINITY;
    }

    /// A command given to the site has been written or queued.
    pub(crate) fn command_done(&self) {
        let mut s = self.lock();
        s.pending = s.pending.saturating_sub(1);
        drop(s);
        self.notify.notify_waiters();
    }
}
