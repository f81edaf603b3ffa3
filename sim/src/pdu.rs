//! The PDU twin: two sources behind contactors, one bus, loads behind relays.
//!
//! Each `step` applies the actuation first and then solves the bus, so what `readings` returns is
//! the physical answer to the previous decision, as on real hardware.

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use grid_types::{Legs, LoadReading, Readings, SourceId, SourceReading};

use crate::load::{Draw, Leg, Load, LoadSpec, VMIN_PU, mag};
use crate::panel;
use crate::rng::SplitMix64;
use crate::sensor::{Sensor, SensorFault};
use crate::source::{GenState, Source, SourceSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PduSpec {
    #[serde(default = "default_nominal_v")]
    pub nominal_v: f64,
    #[serde(default = "default_nominal_hz")]
    pub nominal_hz: f64,
    pub main: SourceSpec,
    pub backup: SourceSpec,
    pub loads: Vec<LoadSpec>,
    /// Seed for sensor noise.
    #[serde(default)]
    pub seed: u64,
    /// The panel's wiring.
    #[serde(default)]
    pub service: Service,
}

/// How a panel is wired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub enum Service {
    /// One line and a neutral: every load across `nominal_v`.
    #[default]
    SinglePhase,
    /// A North American 120/240 V panel: legs L1 and L2 from a center-tapped source, each
    /// `nominal_v` (120 V) to the neutral, loads on either leg or across both (`LoadSpec::leg`).
    /// Each source's impedance is a leg's; the neutral back to the sources' center tap has its
    /// own, ohms. The sensed source voltage is the leg farthest from nominal and its current
    /// the larger leg's, as a two-pole transfer switch and breaker see them.
    SplitPhase {
        neutral_r_ohm: f64,
        neutral_x_ohm: f64,
    },
}

fn default_nominal_v() -> f64 {
    230.0
}
fn default_nominal_hz() -> f64 {
    50.0
}

/// What the controller drives: contactor coils, the generator start contact and load relays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actuation {
    pub main_closed: bool,
    pub backup_closed: bool,
    pub backup_start: bool,
    pub relays: Vec<bool>,
}

#[derive(Debug, Clone, Default)]
struct SourceSensors {
    v: Sensor,
    i: Sensor,
}

#[derive(Debug, Clone, Default)]
struct LoadSensors {
    i: Sensor,
}

#[derive(Debug, Clone)]
pub struct Pdu {
    nominal_v: f64,
    pub main: Source,
    pub backup: Source,
    pub loads: Vec<Load>,
    service: Service,
    /// Each source's neutral to the split-phase panel is open (a lost neutral): main, backup.
    neutral_open: [bool; 2],
    /// The split-phase panel's last solution.
    nodes: panel::Nodes,
    main_closed: bool,
    backup_closed: bool,
    relay_cmd: Vec<bool>,
    welded: Vec<bool>,
    t: f64,
    bus: Complex64,
    truth: Readings,
    readings: Readings,
    /// Whether any sensor has a fault (else the readings are the truth and are not copied).
    sensors_faulty: bool,
    /// Each load's demand this step and at the last solve (scratch, reused).
    draws: Vec<Draw>,
    solved_draws: Vec<Draw>,
    /// What the last solve was for (feeding source and EMF) and its total current: when nothing
    /// changed since, the bus solution stands and the solve is skipped.
    solved_for: Option<(Option<SourceId>, f64)>,
    total: Complex64,
    /// Each load's current phasor at the last solve.
    load_currents: Vec<Complex64>,
    source_sensors: [SourceSensors; 2],
    load_sensors: Vec<LoadSensors>,
    rng: SplitMix64,
}

impl Pdu {
    pub fn new(spec: &PduSpec) -> Self {
        let n = spec.loads.len();
        let mut pdu = Self {
            nominal_v: spec.nominal_v,
            main: Source::new(spec.main.clone(), spec.nominal_v, spec.nominal_hz),
            backup: Source::new(spec.backup.clone(), spec.nominal_v, spec.nominal_hz),
            loads: spec
                .loads
                .iter()
                .cloned()
                .map(|l| {
                    let vn = l.leg.nominal_v(spec.nominal_v);
                    Load::new(l, vn)
                })
                .collect(),
            service: spec.service,
            neutral_open: [false; 2],
            nodes: Default::default(),
            sensors_faulty: false,
            draws: vec![Draw::default(); n],
            solved_draws: vec![Draw::default(); n],
            solved_for: None,
            total: Complex64::default(),
            load_currents: vec![Complex64::default(); n],
            main_closed: false,
            backup_closed: false,
            relay_cmd: vec![false; n],
            welded: vec![false; n],
            t: 0.0,
            bus: Complex64::default(),
            truth: Readings::default(),
            readings: Readings::default(),
            source_sensors: Default::default(),
            load_sensors: vec![LoadSensors::default(); n],
            rng: SplitMix64::new(spec.seed),
        };
        pdu.solve();
        pdu
    }

    pub fn time(&self) -> f64 {
        self.t
    }

    pub fn nominal_v(&self) -> f64 {
        self.nominal_v
    }

    /// What the sensors report (with any sensor fault applied).
    pub fn readings(&self) -> &Readings {
        if self.sensors_faulty {
            &self.readings
        } else {
            &self.truth
        }
    }

    /// The physical truth, for checking expectations.
    pub fn truth(&self) -> &Readings {
        &self.truth
    }

    pub fn main_closed(&self) -> bool {
        self.main_closed
    }

    pub fn backup_closed(&self) -> bool {
        self.backup_closed
    }

    /// Whether the load's relay contacts are physically closed.
    pub fn relay_closed(&self, load: usize) -> bool {
        self.relay_cmd[load] || self.welded[load]
    }

    pub fn source(&self, id: SourceId) -> &Source {
        match id {
            SourceId::Main => &self.main,
            SourceId::Backup => &self.backup,
        }
    }

    pub fn source_mut(&mut self, id: SourceId) -> &mut Source {
        match id {
            SourceId::Main => &mut self.main,
            SourceId::Backup => &mut self.backup,
        }
    }

    pub fn backup_state(&self) -> GenState {
        self.backup.gen_state()
    }

    /// The bus voltage phasor, V rms, at the feeding source's phase.
    pub fn bus_phasor(&self) -> Complex64 {
        self.bus
    }

    /// The load's current phasor, A rms (zero when its circuit is open or dead).
    pub fn load_current(&self, load: usize) -> Complex64 {
        self.load_currents[load]
    }

    /// The current the feeding source delivers, A rms (L1's on a split-phase panel).
    pub fn total_current(&self) -> Complex64 {
        if self.connected().is_some() {
            self.total
        } else {
            Complex64::default()
        }
    }

    /// The source's Thevenin impedance at the fundamental, ohms.
    pub fn source_z(&self, id: SourceId) -> Complex64 {
        self.z(self.source(id))
    }

    /// A source's neutral to a split-phase panel opened or restored (a lost neutral: fed by
    /// that source, the 120 V circuits share the legs' 240 V in proportion to their
    /// impedances). Each source has its own, as through a transfer switch that switches the
    /// neutral.
    pub fn set_neutral_open(&mut self, source: SourceId, open: bool) {
        self.neutral_open[source as usize] = open;
    }

    pub fn service(&self) -> Service {
        self.service
    }

    /// The split-phase panel's node voltages to the sources' center tap: L1, L2, the neutral bar.
    pub fn panel_nodes(&self) -> panel::Nodes {
        self.nodes
    }

    /// A welded relay stays closed whatever it is told.
    pub fn set_welded(&mut self, load: usize, welded: bool) {
        self.welded[load] = welded;
    }

    pub fn set_load_sensor_fault(&mut self, load: usize, fault: Option<SensorFault>) {
        self.load_sensors[load].i.set_fault(fault);
    }

    pub fn load_sensor_fault(&self, load: usize) -> Option<SensorFault> {
        self.load_sensors[load].i.fault()
    }

    pub fn source_sensor_fault(&self, id: SourceId) -> Option<SensorFault> {
        self.source_sensors[id as usize].v.fault()
    }

    pub fn set_source_sensor_fault(&mut self, id: SourceId, fault: Option<SensorFault>) {
        let s = &mut self.source_sensors[id as usize];
        s.v.set_fault(fault);
        s.i.set_fault(fault);
    }

    /// Apply the actuation, advance `dt` seconds and solve the bus.
    pub fn step(&mut self, dt: f64, act: &Actuation) {
        self.t += dt;
        self.main_closed = act.main_closed;
        self.backup_closed = act.backup_closed;
        for (cmd, new) in self.relay_cmd.iter_mut().zip(&act.relays) {
            *cmd = *new;
        }
        self.main.advance(self.t, true);
        self.backup.advance(self.t, act.backup_start);
        let live = match self.connected() {
            Some(id) => self.source(id).emf(self.t, 0.0).0 > 0.0,
            None => false,
        };
        for (i, load) in self.loads.iter_mut().enumerate() {
            load.advance(dt, live && (self.relay_cmd[i] || self.welded[i]));
        }
        self.solve();
    }

    /// The source feeding the bus. With both contactors closed (never allowed by a sound
    /// controller) the bus follows the main.
    pub fn connected(&self) -> Option<SourceId> {
        if self.main_closed {
            Some(SourceId::Main)
        } else if self.backup_closed {
            Some(SourceId::Backup)
        } else {
            None
        }
    }

    fn solve(&mut self) {
        let t = self.t;
        let drawn = |id: SourceId, r: &Readings| match id {
            SourceId::Main => r.main.p,
            SourceId::Backup => r.backup.p,
        };
        let (e_main, f_main) = self.main.emf(t, drawn(SourceId::Main, &self.truth));
        let (e_backup, f_backup) = self.backup.emf(t, drawn(SourceId::Backup, &self.truth));
        let conn = self.connected();
        let (e, zs, hz) = match conn {
            Some(SourceId::Main) => (e_main, self.z(&self.main), f_main),
            Some(SourceId::Backup) => (e_backup, self.z(&self.backup), f_backup),
            None => (0.0, Complex64::default(), 0.0),
        };
        let e = Complex64::new(e, 0.0);
        let energize = e.re > 0.0;
        let mut sum = Draw::default();
        for (i, load) in self.loads.iter().enumerate() {
            let closed = self.relay_cmd[i] || self.welded[i];
            self.draws[i] = if closed && energize {
                load.demand(t, load.spec.leg.nominal_v(self.nominal_v))
            } else {
                Draw::default()
            };
            sum.add(&self.draws[i]);
        }
        let fed = match self.service {
            Service::SinglePhase => self.solve_bus(conn, e, zs, &sum),
            Service::SplitPhase {
                neutral_r_ohm,
                neutral_x_ohm,
            } => {
                let open = conn.is_some_and(|id| self.neutral_open[id as usize]);
                let zn = (!open).then_some(Complex64::new(neutral_r_ohm, neutral_x_ohm));
                self.solve_panel(e, zs, zn)
            }
        };
        let feeding = |id, emf| {
            if conn == Some(id) {
                fed
            } else {
                (emf, 0.0, 0.0, 0.0)
            }
        };
        let (mv, mi, mp, mq) = feeding(SourceId::Main, e_main);
        let (bv, bi, bp, bq) = feeding(SourceId::Backup, e_backup);
        self.truth.main = SourceReading {
            v: mv,
            hz: f_main,
            i: mi,
            p: mp,
            q: mq,
        };
        self.truth.backup = SourceReading {
            v: bv,
            hz: f_backup,
            i: bi,
            p: bp,
            q: bq,
        };
        self.truth.bus_v = fed.0;
        self.truth.bus_hz = if energize { hz } else { 0.0 };
        self.sense();
    }

    /// The single-phase bus fed by EMF `e` behind `zs` (dead when `e` is zero), its loads
    /// drawing `sum`: the feeding source's V, I, P and Q.
    fn solve_bus(
        &mut self,
        conn: Option<SourceId>,
        e: Complex64,
        zs: Complex64,
        sum: &Draw,
    ) -> (f64, f64, f64, f64) {
        let vn = self.nominal_v;
        let key = Some((conn, e.re));
        let unchanged = self.solved_for == key && self.draws == self.solved_draws;
        let mut v = if mag(self.bus) > 0.0 { self.bus } else { e };
        if unchanged {
            v = self.bus;
        } else if e.re > 0.0 {
            // V = E - Zs I(V): with the demands summed, only two numbers iterate.
            let one = Complex64::new(1.0, 0.0);
            let vmin2 = (VMIN_PU * vn).powi(2);
            for _ in 0..50 {
                let next = if v.norm_sqr() >= vmin2 {
                    (e - zs * (sum.s / v).conj()) / (one + zs * sum.y)
                } else {
                    e / (one + zs * (sum.y + sum.s.conj() / (vn * vn)))
                };
                let done = (next - v).norm_sqr() < (1e-9 * vn).powi(2);
                v = next;
                if done {
                    break;
                }
            }
        } else {
            v = Complex64::default();
        }
        self.bus = v;
        if !unchanged {
            self.solved_for = key;
            self.solved_draws.clone_from(&self.draws);
            self.load_truth(v);
        }
        let total = self.total;
        let s_total = v * total.conj();
        (mag(v), mag(total), s_total.re, s_total.im)
    }

    /// Each load's current and power at bus voltage `v`, and the total current.
    fn load_truth(&mut self, v: Complex64) {
        let vn = self.nominal_v;
        let mut total = Complex64::default();
        self.truth.loads.clear();
        for (i, d) in self.draws.iter().enumerate() {
            let closed = self.relay_cmd[i] || self.welded[i];
            let cur = d.current(v, vn);
            self.load_currents[i] = cur;
            total += cur;
            let s = v * cur.conj();
            self.truth.loads.push(LoadReading {
                v: if closed { mag(v) } else { 0.0 },
                i: mag(cur),
                p: s.re,
                q: s.im,
            });
        }
        self.total = total;
    }

    /// The split-phase panel fed by L1's EMF `e` (dead when zero), each leg behind `zs`, the
    /// neutral `zn` (none when open): each load's truth, the legs' meters, and the feeding source's
    /// V (the leg farthest from nominal), I (the larger leg's), P and Q (the legs' sums).
    fn solve_panel(
        &mut self,
        e: Complex64,
        zs: Complex64,
        zn: Option<Complex64>,
    ) -> (f64, f64, f64, f64) {
        let vn = self.nominal_v;
        let circuits: Vec<(Leg, Draw)> = self
            .loads
            .iter()
            .zip(&self.draws)
            .map(|(l, d)| (l.spec.leg, *d))
            .collect();
        let v = if e.re > 0.0 {
            let wiring = panel::Wiring {
                e,
                zs,
                zn,
                leg_v: vn,
            };
            let start = if self.nodes[0].norm_sqr() > 0.0 {
                self.nodes
            } else {
                [e, -e, Complex64::default()]
            };
            panel::solve(&wiring, &circuits, start)
        } else {
            panel::Nodes::default()
        };
        self.nodes = v;
        self.truth.loads.clear();
        let mut leg_i = [Complex64::default(); 2];
        for (i, (leg, d)) in circuits.iter().enumerate() {
            let u = panel::across(&v, *leg);
            let cur = d.current(u, leg.nominal_v(vn));
            self.load_currents[i] = cur;
            match leg {
                Leg::L1 => leg_i[0] += cur,
                Leg::L2 => leg_i[1] += cur,
                Leg::L1L2 => {
                    leg_i[0] += cur;
                    leg_i[1] -= cur;
                }
            }
            let s = u * cur.conj();
            let closed = self.relay_cmd[i] || self.welded[i];
            self.truth.loads.push(LoadReading {
                v: if closed { mag(u) } else { 0.0 },
                i: mag(cur),
                p: s.re,
                q: s.im,
            });
        }
        let leg_v = [Leg::L1, Leg::L2].map(|leg| panel::across(&v, leg));
        let s = [leg_v[0] * leg_i[0].conj(), leg_v[1] * leg_i[1].conj()];
        let legs = Legs {
            v: leg_v.map(mag),
            i: leg_i.map(mag),
            p: s.map(|s| s.re),
            q: s.map(|s| s.im),
            // What the 120 V circuits return: L1's and L2's currents summed, the 240 V ones
            // cancelling.
            neutral_i: mag(leg_i[0] + leg_i[1]),
        };
        self.truth.legs = Some(legs);
        self.total = leg_i[0];
        let worst = if (legs.v[0] - vn).abs() >= (legs.v[1] - vn).abs() {
            legs.v[0]
        } else {
            legs.v[1]
        };
        (
            worst,
            legs.i[0].max(legs.i[1]),
            legs.p[0] + legs.p[1],
            legs.q[0] + legs.q[1],
        )
    }

    fn z(&self, s: &Source) -> Complex64 {
        Complex64::new(s.spec.r_ohm, s.spec.x_ohm)
    }

    fn sense(&mut self) {
        self.sensors_faulty = self
            .source_sensors
            .iter()
            .any(|s| s.v.is_faulty() || s.i.is_faulty())
            || self.load_sensors.iter().any(|s| s.i.is_faulty());
        if !self.sensors_faulty {
            return;
        }
        let rng = &mut self.rng;
        let r = &mut self.readings;
        r.clone_from(&self.truth);
        for (reading, sensors) in [&mut r.main, &mut r.backup]
            .into_iter()
            .zip(self.source_sensors.iter_mut())
        {
            let v = sensors.v.read(reading.v, rng);
            let i = sensors.i.read(reading.i, rng);
            rescale(reading, v, i);
        }
        for (reading, sensors) in r.loads.iter_mut().zip(self.load_sensors.iter_mut()) {
            if !sensors.i.is_faulty() {
                continue;
            }
            let i = sensors.i.read(reading.i, rng);
            let k = if reading.i > 0.0 { i / reading.i } else { 0.0 };
            reading.i = i;
            reading.p *= k;
            reading.q *= k;
        }
    }
}

/// A power reading comes from the same V and I channels, so a faulty channel corrupts it too.
fn rescale(r: &mut SourceReading, v: f64, i: f64) {
    let kv = if r.v > 0.0 { v / r.v } else { 0.0 };
    let ki = if r.i > 0.0 { i / r.i } else { 0.0 };
    r.v = v;
    r.i = i;
    r.p *= kv * ki;
    r.q *= kv * ki;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadModel;
    use crate::source::SourceKind;

    fn spec() -> PduSpec {
        PduSpec {
            nominal_v: 230.0,
            nominal_hz: 50.0,
            main: SourceSpec {
                kind: SourceKind::Utility,
                r_ohm: 0.1,
                x_ohm: 0.0,
            },
            backup: SourceSpec {
                kind: SourceKind::Generator {
                    rating_kw: 5.0,
                    start_delay: 1.0,
                    ramp: 1.0,
                    v_droop: 0.5,
                    f_droop: 0.1,
                },
                r_ohm: 0.2,
                x_ohm: 0.1,
            },
            loads: vec![
                LoadSpec {
                    name: "heater".into(),
                    model: LoadModel::ConstantImpedance {
                        watts: 2300.0,
                        pf: 1.0,
                    },
                    harmonics: Default::default(),
                    leg: Default::default(),
                },
                LoadSpec {
                    name: "psu".into(),
                    model: LoadModel::ConstantPower {
                        watts: 1000.0,
                        pf: 0.9,
                    },
                    harmonics: Default::default(),
                    leg: Default::default(),
                },
            ],
            seed: 1,
            service: Default::default(),
        }
    }

    fn on_main() -> Actuation {
        Actuation {
            main_closed: true,
            backup_closed: false,
            backup_start: false,
            relays: vec![true, true],
        }
    }

    #[test]
    fn bus_solution_satisfies_kirchhoff() {
        let mut pdu = Pdu::new(&spec());
        pdu.step(0.02, &on_main());
        pdu.step(0.02, &on_main());
        let t = pdu.truth();
        // Heater: a 23 ohm resistor; the PSU holds its power; the source delivers the sum.
        let p_sum: f64 = t.loads.iter().map(|l| l.p).sum();
        assert!((t.main.p - p_sum).abs() < 1e-6);
        assert!((t.loads[1].p - 1000.0).abs() < 1e-6, "constant power holds");
        let heater_expected = t.bus_v * t.bus_v / 23.0;
        assert!((t.loads[0].p - heater_expected).abs() < 1e-6);
        assert!(t.bus_v < 230.0 && t.bus_v > 225.0);
    }

    #[test]
    fn bolted_short_is_limited_by_source_impedance() {
        let mut pdu = Pdu::new(&spec());
        pdu.loads[0].short_ohm = Some(0.0);
        pdu.step(0.02, &on_main());
        pdu.step(0.02, &on_main());
        // 230 V over 0.1 ohm source resistance, bus collapses.
        assert!((pdu.truth().main.i - 2300.0).abs() < 5.0);
        assert!(pdu.truth().bus_v < 1.0);
    }

    #[test]
    fn dead_bus_without_a_source() {
        let mut pdu = Pdu::new(&spec());
        let open = Actuation {
            relays: vec![true, true],
            ..Default::default()
        };
        pdu.step(0.02, &open);
        assert_eq!(pdu.truth().bus_v, 0.0);
        assert!(pdu.truth().loads.iter().all(|l| l.i == 0.0));
        assert_eq!(
            pdu.truth().main.v,
            230.0,
            "the main is sensed on its own terminals"
        );
    }

    #[test]
    fn welded_relay_conducts_when_told_to_open() {
        let mut pdu = Pdu::new(&spec());
        pdu.step(0.02, &on_main());
        pdu.set_welded(0, true);
        let mut act = on_main();
        act.relays[0] = false;
        pdu.step(0.02, &act);
        assert!(pdu.relay_closed(0));
        assert!(pdu.truth().loads[0].i > 9.0);
    }

    #[test]
    fn backup_feeds_the_bus_once_running() {
        let mut pdu = Pdu::new(&spec());
        let act = Actuation {
            main_closed: false,
            backup_closed: true,
            backup_start: true,
            relays: vec![false, true],
        };
        for _ in 0..150 {
            pdu.step(0.02, &act);
        }
        let t = pdu.truth();
        assert!(t.bus_v > 220.0, "bus {}", t.bus_v);
        assert!((t.backup.p - 1000.0).abs() < 1e-6);
        assert_eq!(t.main.p, 0.0);
    }

    #[test]
    fn dead_current_sensor_reads_zero_power() {
        let mut pdu = Pdu::new(&spec());
        pdu.set_load_sensor_fault(1, Some(SensorFault::Dead));
        pdu.step(0.02, &on_main());
        assert_eq!(pdu.readings().loads[1].p, 0.0);
        assert!(pdu.truth().loads[1].p > 999.0);
    }
}
