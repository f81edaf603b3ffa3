//! Virtual GPIO for the relay board: output pins whose level the emulated world reads, and the
//! board's hardware watchdog. On the bench the relay coils are powered through a retriggerable
//! monostable kept alive by a heartbeat pin; when the heartbeat stops (the controller hung or
//! died) coil power drops and every relay falls to its de-energized contact, which the wiring
//! (normally open or normally closed) makes each load's safe state.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use embedded_hal::digital::{ErrorType, OutputPin, StatefulOutputPin};

use super::Nanos;
use crate::relays::Contact;

/// One output pin. Clones share the pin: the driver drives one, the board model reads another.
#[derive(Debug, Clone, Default)]
pub struct Pin {
    high: Arc<AtomicBool>,
    /// Level changes so far: the watchdog sees a heartbeat by its edges.
    edges: Arc<AtomicU64>,
}

impl Pin {
    pub fn is_high_now(&self) -> bool {
        self.high.load(Ordering::Acquire)
    }

    pub fn edges(&self) -> u64 {
        self.edges.load(Ordering::Acquire)
    }

    fn set(&self, high: bool) {
        if self.high.swap(high, Ordering::AcqRel) != high {
            self.edges.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl ErrorType for Pin {
    type Error = Infallible;
}

impl OutputPin for Pin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.set(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.set(true);
        Ok(())
    }
}

impl StatefulOutputPin for Pin {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.is_high_now())
    }

    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.is_high_now())
    }
}

/// The monostable on the heartbeat pin: coil power stays on while an edge arrives at least
/// every `timeout`.
#[derive(Debug, Clone)]
pub struct Watchdog {
    pin: Pin,
    timeout: Nanos,
    seen_edges: u64,
    last_edge: Option<Nanos>,
}

impl Watchdog {
    pub fn new(pin: Pin, timeout: Nanos) -> Self {
        Watchdog {
            seen_edges: pin.edges(),
            pin,
            timeout,
            last_edge: None,
        }
    }

    /// Whether the relay coils have power at `now`. Sampled at least once per heartbeat period
    /// (the emulated world samples it every step); power is off until the first heartbeat.
    pub fn powered(&mut self, now: Nanos) -> bool {
        let edges = self.pin.edges();
        if edges != self.seen_edges {
            self.seen_edges = edges;
            self.last_edge = Some(now);
        }
        self.last_edge
            .is_some_and(|t| now.saturating_sub(t) < self.timeout)
    }
}

/// A relay board: a coil per pin, its polarity, its contact wiring and the watchdog on its
/// supply. `closed` is what the emulated world sees: whether each load's circuit is made.
pub struct RelayBoard {
    coils: Vec<(Pin, Contact)>,
    active_low: bool,
    watchdog: Watchdog,
}

impl RelayBoard {
    pub fn new(coils: Vec<(Pin, Contact)>, active_low: bool, watchdog: Watchdog) -> Self {
        RelayBoard {
            coils,
            active_low,
            watchdog,
        }
    }

    /// Each circuit's state at `now`, into `out`.
    pub fn closed(&mut self, now: Nanos, out: &mut Vec<bool>) {
        let powered = self.watchdog.powered(now);
        out.clear();
        out.extend(self.coils.iter().map(|(pin, contact)| {
            let energized = powered && pin.is_high_now() != self.active_low;
            energized == (*contact == Contact::NormallyOpen)
        }));
    }
}
