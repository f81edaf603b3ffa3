//! Backends: where measurements come from and where commands go. The controller never knows which
//! one it runs against; the simulated grid is the first, the emulated bus and the Pi follow.

use sim::{Actuation, Pdu, Readings};

use crate::core::{Commands, LoadMeasurement, Measurements, SourceMeasurement};

pub trait Backend {
    /// What the sensors read now.
    fn measure(&mut self) -> Measurements;
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

pub fn measurements(r: &Readings) -> Measurements {
    let src = |s: &sim::SourceReading| SourceMeasurement {
        v: s.v,
        hz: s.hz,
        i: s.i,
        p: s.p,
    };
    Measurements {
        main: src(&r.main),
        backup: src(&r.backup),
        loads: r
            .loads
            .iter()
            .map(|l| LoadMeasurement { i: l.i, p: l.p })
            .collect(),
    }
}

impl Backend for SimBackend {
    fn measure(&mut self) -> Measurements {
        measurements(self.pdu.readings())
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        self.actuation.main_closed = c.main_closed;
        self.actuation.backup_closed = c.backup_closed;
        self.actuation.backup_start = c.backup_start;
        self.actuation.relays.clone_from(&c.relays);
        self.pdu.step(dt, &self.actuation);
    }
}
