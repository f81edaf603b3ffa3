//! A bench file's hardware in software: its nodes and ADCs on an emulated bus, its outputs and
//! the relay board with its watchdog, for the selftest, calibration and the controller to run
//! against where there is no Pi.

use crate::bench::{Bench, Circuit, METER_BIAS_V, MeterCfg, NodeCfg};
use crate::emulated::ads1115::{self, ReadyLine, VirtualAds1115};
use crate::emulated::gpio::{Pin, RelayBoard, Watchdog};
use crate::emulated::node::{Inputs, NodeSpec, Signal, VirtualNode};
use crate::emulated::{EmulatedBus, Nanos};
use crate::selftest::{Check, Hardware};

/// The meters' oscillators, by the order of the bench's meters, off the nominal rate by as much
/// as the datasheet allows a part over temperature (±10 %) and more than any will be at room
/// temperature: the stream must follow the part's own time.
pub const METER_CLOCK_ERRORS: [f64; 4] = [0.035, -0.02, 0.01, -0.045];

/// The bench in software: its nodes and ADCs on an emulated bus, its outputs and the relay board.
pub struct Emulated {
    pub bus: EmulatedBus,
    /// Each meter's ALERT/RDY, on the bus's clock (set `offset_s` for another).
    pub ready: Vec<ReadyLine>,
    pub outputs: Vec<Pin>,
    pub heartbeat: Pin,
    pub board: RelayBoard,
}

/// The bench at no load: mains on the main and (through the normally closed main contactor)
/// on the bus, the generator stopped, no current anywhere, ADC inputs at mid-supply.
pub fn emulate(b: &Bench) -> Emulated {
    let (v_rms, hz) = (b.nominal_v, b.nominal_hz);
    let mains =
        move |t: f64| v_rms * std::f64::consts::SQRT_2 * (std::f64::consts::TAU * hz * t).sin();
    let live = |c: &Circuit| matches!(c, Circuit::Main | Circuit::Bus);
    emulate_with(
        b,
        &mut |n: &NodeCfg| {
            let live = live(&n.voltage);
            Box::new(move |s: Signal, t: f64| match s {
                Signal::Voltage if live => mains(t),
                _ => 0.0,
            })
        },
        &mut |m: &MeterCfg| {
            let live = live(&m.voltage.circuit);
            let m = m.clone();
            Box::new(move |pin: usize, t: f64| {
                let v = m.voltage.volts(if live { mains(t) } else { 0.0 });
                let at = |i: &crate::bench::MeterInput| crate::ads_meter::pin(i.input) == Some(pin);
                if at(&m.voltage) {
                    return v;
                }
                m.currents
                    .iter()
                    .find(|i| at(i))
                    .map_or(METER_BIAS_V, |i| i.volts(0.0))
            })
        },
    )
}

/// The bench with each node's and each meter's analog inputs given by `nodes` and `meters`
/// (a twin's waveforms, say; a meter's as the volts at each of the part's pins).
pub fn emulate_with(
    b: &Bench,
    nodes: &mut dyn FnMut(&NodeCfg) -> Inputs,
    meters: &mut dyn FnMut(&MeterCfg) -> ads1115::Inputs,
) -> Emulated {
    let bus = EmulatedBus::new(b.i2c.hz);
    let hz = b.nominal_hz;
    for n in &b.nodes {
        let inputs = nodes(n);
        let spec = NodeSpec {
            channels: n.channels.len() as u8,
            nominal_hz: hz,
            v_peak: n.v_peak_v,
            i_peak: n.i_peak_a,
            ..NodeSpec::default()
        };
        bus.attach(n.address, VirtualNode::new(n.address, spec, inputs));
    }
    for a in &b.adcs {
        bus.attach(a.address, VirtualAds1115::new(3.3, Box::new(|_, _| 1.65)));
    }
    let mut ready = Vec::new();
    for (m, error) in b.meters.iter().zip(METER_CLOCK_ERRORS) {
        bus.attach(
            m.address,
            VirtualAds1115::new(3.3, meters(m)).with_clock_error(error),
        );
        ready.push(ReadyLine {
            bus: bus.clone(),
            address: m.address,
            offset_s: 0.0,
        });
    }
    let outputs: Vec<Pin> = b.relays.outputs.iter().map(|_| Pin::default()).collect();
    let heartbeat = Pin::default();
    let board = RelayBoard::new(
        outputs
            .iter()
            .cloned()
            .zip(b.relays.outputs.iter().map(|o| o.contact))
            .collect(),
        b.relays.active_low,
        Watchdog::new(
            heartbeat.clone(),
            Nanos::from(b.relays.watchdog_ms) * 1_000_000,
        ),
    );
    Emulated {
        bus,
        ready,
        outputs,
        heartbeat,
        board,
    }
}

impl Emulated {
    /// The bench test against the emulation, the relay board's contacts read back.
    pub fn selftest(&mut self, b: &Bench, ask: &mut dyn FnMut(&str) -> bool) -> Vec<Check> {
        let (mut i2c, mut delay, clock) = (self.bus.clone(), self.bus.clone(), self.bus.clone());
        let board = &mut self.board;
        let mut contacts = Vec::new();
        let mut hw = Hardware {
            i2c: &mut i2c,
            outputs: &mut self.outputs,
            heartbeat: &mut self.heartbeat,
            delay: &mut delay,
        };
        hw.selftest(b, ask, &mut |k| {
            board.closed(clock.now(), &mut contacts);
            contacts.get(k).copied()
        })
    }

    /// `Hardware::calibrate` against the emulation.
    pub fn calibrate(
        &mut self,
        b: &mut Bench,
        channel: &str,
        reference: f64,
        windows: u32,
    ) -> Result<(f64, String), String> {
        let (mut i2c, mut delay) = (self.bus.clone(), self.bus.clone());
        let mut hw = Hardware {
            i2c: &mut i2c,
            outputs: &mut self.outputs,
            heartbeat: &mut self.heartbeat,
            delay: &mut delay,
        };
        hw.calibrate(b, channel, reference, windows)
    }
}
