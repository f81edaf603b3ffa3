//! Backends: where measurements come from and where commands go. The controller never knows which
//! one it runs against; the simulated grid is the first, the emulated bus and the Pi follow.

use sim::{Actuation, Pdu, Readings};

use crate::core::{Commands, LoadMeasurement, Measurements, SourceMeasurement};

pub trait Backend {
    /// What the sensors read now, into `out` (reused so the loop does not allocate).
    fn measure(&mut self, out: &mut Measurements);
    /// Drive the outputs, then let `dt` seconds pass (real hardware: they pass by themselves).
    fn actuate(&mut self, commands: &Commands, dt: f64);
}

/// The PDU twin as a backend.
pub struct SimBackend {
    pub pdu: Pdu,
    actuation: Actuation,
}

impl SimBackend {
    pub fn new(pdu: Pdu) -> Self {
        SimBackend {
            pdu,
            actuation: Actuation::default(),
        }
    }
}

/// The controller's view of the twin's sensor readings.
fn measurements(r: &Readings, out: &mut Measurements) {
    let src = |s: &sim::SourceReading| SourceMeasurement {
        v: s.v,
        hz: s.hz,
        i: s.i,
        p: s.p,
    };
    out.main = src(&r.main);
    out.backup = src(&r.backup);
    out.loads.clear();
    out.loads
        .extend(r.loads.iter().map(|l| LoadMeasurement { i: l.i, p: l.p }));
}

impl Backend for SimBackend {
    fn measure(&mut self, out: &mut Measurements) {
        measurements(self.pdu.readings(), out)
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        self.actuation.main_closed = c.main_closed;
        self.actuation.backup_closed = c.backup_closed;
        self.actuation.backup_start = c.backup_start;
        self.actuation.relays.clone_from(&c.relays);
        self.pdu.step(dt, &self.actuation);
    }
}
