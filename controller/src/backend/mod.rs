//! Backends: where measurements come from and where commands go. The controller never knows which
//! one it runs against: the simulated grid's readings or waveforms (`SimBackend`), the
//! hardware path over an emulated bus fed by the twin (`emulated_hil`), or Modbus meters on an
//! emulated RS-485 line fed by the twin (`emulated_meters`, read as `field_meters` says).

pub mod emulated_hil;
pub mod emulated_meters;
pub mod field_meters;
pub mod hardware;
pub mod metered_site;
pub mod relay_outputs;

use grid_types::{Readings, SourceId};
use record::FaultRecord;
use sim::{Actuation, Pdu, SensorChain, Synth, WaveformSpec};

use crate::disturbance::Recorder;

use control_core::measurement::Calibration;
use control_core::{Commands, Event, Instant, LoadMeasurement, Measurements, SourceMeasurement};
use control_core::{PduCalibration, PduMetering};

pub trait Backend {
    /// What the sensors read at `now` (s since the start), into `out` (reused so the loop does
    /// not allocate).
    fn measure(&mut self, now: f64, out: &mut Measurements);
    /// Drive the outputs, then let `dt` seconds pass (real hardware: they pass by themselves).
    fn actuate(&mut self, commands: &Commands, dt: f64);
    /// What the site's meters show now, for people and the record (the controller decides on
    /// what `measure` gives).
    fn readings(&self) -> &Readings;
    /// Whether load `i`'s relay is closed, as far as the backend can tell.
    fn relay_closed(&self, i: usize) -> bool;
    /// What the hardware reported since the last call, as events at `now`.
    fn reports(&mut self, _now: Instant, _out: &mut Vec<Event>) {}
    /// `subject` tripped at `t` s: a backend that samples records the cycles around it.
    fn trip(&mut self, _t: f64, _subject: &str) {}
    /// The fault records completed since the last call.
    fn fault_records(&mut self, _out: &mut Vec<FaultRecord>) {}
}

/// The source whose contactor `c` closes (the main, if both: the interlock never allows it).
pub(crate) fn feeding(c: &Commands) -> Option<SourceId> {
    match (c.main_closed, c.backup_closed) {
        (true, _) => Some(SourceId::Main),
        (_, true) => Some(SourceId::Backup),
        _ => None,
    }
}

/// The PDU twin as a backend: its RMS readings, or its sampled waveforms through the
/// controller's own metering.
pub struct SimBackend {
    pub pdu: Pdu,
    actuation: Actuation,
    sampled: Option<Sampled>,
}

struct Sampled {
    synth: Synth,
    metering: PduMetering,
    /// The meters' nominal scales, to record the samples in V and A.
    scales: PduCalibration,
    recorder: Recorder,
    frame: Vec<f64>,
}

impl SimBackend {
    pub fn new(pdu: Pdu) -> Self {
        SimBackend {
            pdu,
            actuation: Actuation::default(),
            sampled: None,
        }
    }

    /// Waveform fidelity: every channel sampled at `spec.sample_rate` through its sensor chain,
    /// read back with each chain's nominal (datasheet) scale, as an installer would configure it.
    pub fn sampled(
        pdu: Pdu,
        spec: &WaveformSpec,
        nominal_v: f64,
        nominal_hz: f64,
        seed: u64,
    ) -> Self {
        let metering = PduMetering::new(
            spec.sample_rate,
            nominal_v,
            nominal_hz,
            pdu.loads.len(),
            &nominal_calibration(spec),
        );
        let synth = Synth::new(spec, &pdu, seed);
        let mut channels: Vec<(String, &'static str)> = Vec::new();
        for s in ["main", "backup"] {
            channels.push((format!("{s}/v"), "V"));
            channels.push((format!("{s}/i"), "A"));
        }
        channels.push(("bus/v".into(), "V"));
        channels.extend(
            pdu.loads
                .iter()
                .map(|l| (format!("load/{}/i", l.spec.name), "A")),
        );
        let mut sampled = Sampled {
            recorder: Recorder::new(
                channels,
                spec.sample_rate,
                nominal_hz,
                crate::disturbance::WAVE_CYCLES,
            ),
            synth,
            metering,
            scales: nominal_calibration(spec),
            frame: Vec::new(),
        };
        // The waveform's history before the start, so the first step has whole cycles to see.
        sampled.feed(&pdu, 0.0);
        SimBackend {
            sampled: Some(sampled),
            pdu,
            actuation: Actuation::default(),
        }
    }

    /// The controller-side meters of a waveform run.
    pub fn metering(&self) -> Option<&PduMetering> {
        self.sampled.as_ref().map(|s| &s.metering)
    }
}

/// Each chain's datasheet scale as the meters' calibration (no phase correction).
pub fn nominal_calibration(spec: &WaveformSpec) -> PduCalibration {
    let cal = |c: &SensorChain| {
        let s = c.nominal_scale(&spec.adc);
        Calibration {
            gain: s.per_count,
            offset: s.zero,
            phase_deg: 0.0,
        }
    };
    PduCalibration {
        voltage: cal(&spec.voltage_sensor),
        source_current: cal(&spec.source_current_sensor),
        load_current: cal(&spec.load_current_sensor),
    }
}

/// The controller's view of the twin's RMS readings.
fn measurements(r: &Readings, out: &mut Measurements) {
    let src = |s: &grid_types::SourceReading| SourceMeasurement {
        v: s.v,
        hz: s.hz,
        i: s.i,
        p: s.p,
        i_fast: s.i,
        lost: false,
    };
    out.main = src(&r.main);
    out.backup = src(&r.backup);
    out.loads.clear();
    out.loads.extend(r.loads.iter().map(|l| LoadMeasurement {
        i: l.i,
        p: l.p,
        i_fast: l.i,
        lost: false,
    }));
}

impl Backend for SimBackend {
    fn measure(&mut self, _now: f64, out: &mut Measurements) {
        match &mut self.sampled {
            Some(s) => s.metering.measure(out),
            None => measurements(self.pdu.readings(), out),
        }
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        self.actuation.main_closed = c.main_closed;
        self.actuation.backup_closed = c.backup_closed;
        self.actuation.backup_start = c.backup_start;
        self.actuation.relays.clone_from(&c.relays);
        self.pdu.step(dt, &self.actuation);
        if let Some(s) = &mut self.sampled {
            s.feed(&self.pdu, dt);
        }
    }

    fn readings(&self) -> &Readings {
        self.pdu.readings()
    }

    fn relay_closed(&self, i: usize) -> bool {
        self.pdu.relay_closed(i)
    }

    fn trip(&mut self, t: f64, subject: &str) {
        if let Some(s) = &mut self.sampled {
            s.recorder.trip(t, subject);
        }
    }

    fn fault_records(&mut self, out: &mut Vec<FaultRecord>) {
        if let Some(s) = &mut self.sampled {
            s.recorder.take(out);
        }
    }
}

impl Sampled {
    /// The samples of the last `dt` seconds into the meters and the disturbance recorder.
    fn feed(&mut self, pdu: &Pdu, dt: f64) {
        let (m, rec, frame, k) = (
            &mut self.metering,
            &mut self.recorder,
            &mut self.frame,
            &self.scales,
        );
        let mut t = self.synth.next_time();
        let period = 1.0 / self.synth.rate();
        self.synth.run(pdu, dt, |f| {
            m.push(
                [f.main_v, f.main_i],
                [f.backup_v, f.backup_i],
                f.bus_v,
                f.loads_i,
            );
            frame.clear();
            let (v, i) = (&k.voltage, &k.source_current);
            frame.extend([f.main_v, f.main_i, f.backup_v, f.backup_i, f.bus_v]);
            for (x, c) in frame.iter_mut().zip([v, i, v, i, v]) {
                *x = c.apply(*x);
            }
            frame.extend(f.loads_i.iter().map(|&x| k.load_current.apply(x)));
            rec.push(t, frame);
            t += period;
        });
    }
}

/// What a PDU loop runs against: the twin through one of the backends, or a real site.
pub enum PduBackend {
    Sim(Box<SimBackend>),
    EmulatedHil(Box<emulated_hil::EmulatedHil>),
    EmulatedMeters(Box<emulated_meters::EmulatedMeters>),
    /// Real hardware (`hardware::Hardware` on a Pi): no twin.
    Site(Box<dyn Backend + Send>),
}

impl PduBackend {
    /// The twin, if there is one.
    pub fn pdu(&self) -> Option<&Pdu> {
        match self {
            PduBackend::Sim(b) => Some(&b.pdu),
            PduBackend::EmulatedHil(b) => Some(&b.pdu),
            PduBackend::EmulatedMeters(b) => Some(&b.pdu),
            PduBackend::Site(_) => None,
        }
    }

    pub fn pdu_mut(&mut self) -> Option<&mut Pdu> {
        match self {
            PduBackend::Sim(b) => Some(&mut b.pdu),
            PduBackend::EmulatedHil(b) => Some(&mut b.pdu),
            PduBackend::EmulatedMeters(b) => Some(&mut b.pdu),
            PduBackend::Site(_) => None,
        }
    }

    pub fn metering(&self) -> Option<&PduMetering> {
        match self {
            PduBackend::Sim(b) => b.metering(),
            _ => None,
        }
    }

    pub fn hil(&mut self) -> Option<&mut emulated_hil::EmulatedHil> {
        match self {
            PduBackend::EmulatedHil(b) => Some(b),
            _ => None,
        }
    }

    fn backend(&self) -> &dyn Backend {
        match self {
            PduBackend::Sim(b) => &**b,
            PduBackend::EmulatedHil(b) => &**b,
            PduBackend::EmulatedMeters(b) => &**b,
            PduBackend::Site(b) => &**b,
        }
    }

    fn backend_mut(&mut self) -> &mut dyn Backend {
        match self {
            PduBackend::Sim(b) => &mut **b,
            PduBackend::EmulatedHil(b) => &mut **b,
            PduBackend::EmulatedMeters(b) => &mut **b,
            PduBackend::Site(b) => &mut **b,
        }
    }
}

impl Backend for PduBackend {
    fn measure(&mut self, now: f64, out: &mut Measurements) {
        self.backend_mut().measure(now, out);
    }

    fn actuate(&mut self, commands: &Commands, dt: f64) {
        self.backend_mut().actuate(commands, dt);
    }

    fn readings(&self) -> &Readings {
        self.backend().readings()
    }

    fn relay_closed(&self, i: usize) -> bool {
        self.backend().relay_closed(i)
    }

    fn reports(&mut self, now: Instant, out: &mut Vec<Event>) {
        self.backend_mut().reports(now, out);
    }

    fn trip(&mut self, t: f64, subject: &str) {
        self.backend_mut().trip(t, subject);
    }

    fn fault_records(&mut self, out: &mut Vec<FaultRecord>) {
        self.backend_mut().fault_records(out);
    }
}
