//! The Pi's polling of its measurement nodes. Each poll reads a node's status; when its cycle
//! counter has moved, its channels' values. A poll has a time budget (the control step): nodes
//! it does not reach are polled first next time, so with many nodes each is read every few
//! steps, as the bus allows. A bus error is retried with exponential backoff;
//! when the retries are spent the poll of that node fails and says why. Each node's data is aged
//! against the caller's clock, so a caller never takes stale values as fresh. A node that keeps
//! failing is tried once (no retries) at growing intervals, up to a second, so a dead or slow
//! node cannot eat every cycle's bus time.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use serde::{Deserialize, Serialize};

use crate::node::{Fast, Node, NodeError, Status, Values};

/// One channel as the poller last read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The window's values.
    pub values: Values,
    /// The node's voltage over its last cycle.
    pub v_cycle: f64,
    /// The largest half-cycle current between the last two reads.
    pub i_fast: f64,
    /// Read within the staleness limit.
    pub fresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollSettings {
    /// Attempts after the first failed one.
    pub retries: u8,
    /// The wait before the first retry, µs; each later one waits twice as long.
    pub backoff_us: u32,
    /// A node whose values have not been refreshed for this many windows is stale.
    pub stale_windows: u32,
    /// The node's metering window, s (10 cycles at 50 Hz, 12 at 60: 0.2 s).
    pub window_s: f64,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            retries: 3,
            backoff_us: 200,
            stale_windows: 3,
            window_s: 0.2,
        }
    }
}

/// What a poll found worth logging.
#[derive(Debug, Clone, PartialEq)]
pub enum PollEvent {
    /// A node's poll failed after its retries.
    Failed { address: u8, error: String },
    /// A failing node answers again.
    Recovered { address: u8 },
    /// The node restarted from its watchdog.
    NodeReset { address: u8 },
    /// The node cannot sample as fast as asked.
    AdcOverrun { address: u8 },
    /// The node's stored calibration is corrupt; it measures with defaults.
    CalibrationInvalid { address: u8 },
}

struct Polled {
    node: Node,
    values: Vec<Values>,
    fast: Fast,
    sequence: Option<u8>,
    /// When the last new window was read, caller's seconds.
    fresh_at: Option<f64>,
    failing: bool,
    /// While failing: the next poll's time and the interval that led to it.
    next_try: f64,
    interval: f64,
    flags: u8,
}

/// The longest wait between tries of a failing node, s.
const MAX_INTERVAL_S: f64 = 1.0;

pub struct Poller {
    nodes: Vec<Polled>,
    settings: PollSettings,
    /// Attempts that failed and were retried, over the poller's life.
    pub retried: u64,
    /// The node the next poll starts with.
    cursor: usize,
}

/// `op` tried once and then up to `retries` more times, waiting `backoff_us` doubling between.
fn with_retries<T, E>(
    settings: &PollSettings,
    delay: &mut impl DelayNs,
    retried: &mut u64,
    mut op: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut wait = settings.backoff_us;
    let mut attempt = 0;
    loop {
        match op() {
            Ok(x) => return Ok(x),
            Err(e) if attempt >= settings.retries => return Err(e),
            Err(_) => {
                *retried += 1;
                attempt += 1;
                delay.delay_us(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
}

impl Poller {
    pub fn new(nodes: impl IntoIterator<Item = Node>, settings: PollSettings) -> Self {
        Poller {
            nodes: nodes
                .into_iter()
                .map(|node| Polled {
                    values: vec![
                        Values {
                            v_rms: 0.0,
                            i_rms: 0.0,
                            p: 0.0,
                            pf: 0.0,
                            hz: 0.0,
                        };
                        usize::from(node.channels)
                    ],
                    node,
                    fast: Fast::default(),
                    sequence: None,
                    fresh_at: None,
                    failing: false,
                    next_try: 0.0,
                    interval: 0.0,
                    flags: 0,
                })
                .collect(),
            settings,
            retried: 0,
            cursor: 0,
        }
    }

    /// Poll the nodes in turn until each has had its turn or `budget_s` has passed on `clock`
    /// (the caller's, in seconds).
    pub fn poll<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
        clock: &dyn Fn() -> f64,
        budget_s: f64,
        events: &mut Vec<PollEvent>,
    ) {
        let start = clock();
        let count = self.nodes.len();
        for k in 0..count {
            let now = clock();
            if now - start >= budget_s {
                self.cursor = (self.cursor + k) % count;
                return;
            }
            let p = &mut self.nodes[(self.cursor + k) % count];
            if p.failing && now < p.next_try {
                continue;
            }
            let settings = PollSettings {
                retries: if p.failing { 0 } else { self.settings.retries },
                ..self.settings
            };
            let address = p.node.address;
            match Self::poll_node(p, i2c, delay, &settings, &mut self.retried, now) {
                Ok(flags) => {
                    if p.failing {
                        p.failing = false;
                        p.interval = 0.0;
                        events.push(PollEvent::Recovered { address });
                    }
                    // Latched flags are reported each time; standing ones when they appear.
                    let rising = flags & !p.flags;
                    if flags & Status::WATCHDOG_RESET != 0 {
                        events.push(PollEvent::NodeReset { address });
                    }
                    if rising & Status::ADC_OVERRUN != 0 {
                        events.push(PollEvent::AdcOverrun { address });
                    }
                    if rising & Status::CALIBRATION_INVALID != 0 {
                        events.push(PollEvent::CalibrationInvalid { address });
                    }
                    p.flags = flags;
                }
                Err(e) => {
                    p.interval =
                        (p.interval * 2.0).clamp(self.settings.window_s / 2.0, MAX_INTERVAL_S);
                    p.next_try = now + p.interval;
                    if !p.failing {
                        p.failing = true;
                        events.push(PollEvent::Failed {
                            address,
                            error: e.to_string(),
                        });
                    }
                }
            }
        }
    }

    fn poll_node<I: I2c>(
        p: &mut Polled,
        i2c: &mut I,
        delay: &mut impl DelayNs,
        settings: &PollSettings,
        retried: &mut u64,
        now: f64,
    ) -> Result<u8, NodeError<I::Error>> {
        let node = p.node;
        let status = with_retries(settings, delay, retried, || node.status(i2c))?;
        // A node that has metered no window since it started has nothing to read.
        let new =
            status.has(Status::DATA_READY) || p.sequence.is_some_and(|s| s != status.sequence);
        if !new {
            return Ok(status.flags);
        }
        let fast = with_retries(settings, delay, retried, || node.fast(i2c))?;
        for ch in 0..node.channels {
            let v = with_retries(settings, delay, retried, || node.values(i2c, ch))?;
            p.values[usize::from(ch)] = v;
        }
        p.fast = fast;
        // Only a whole set of channels read counts as a new window.
        p.sequence = Some(status.sequence);
        p.fresh_at = Some(now);
        Ok(status.flags)
    }

    /// Node `n`'s channel `ch` as last read, and whether that is fresh at `now`.
    pub fn channel(&self, n: usize, ch: u8, now: f64) -> Option<Reading> {
        let p = self.nodes.get(n)?;
        let values = *p.values.get(usize::from(ch))?;
        let limit = f64::from(self.settings.stale_windows) * self.settings.window_s;
        Some(Reading {
            values,
            v_cycle: p.fast.v_cycle,
            i_fast: p.fast.i_half_max[usize::from(ch)],
            fresh: p.fresh_at.is_some_and(|t| now - t <= limit + 1e-9),
        })
    }
}
