//! Load models: how much current a load draws from a given bus voltage phasor.

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

/// A load's current beyond its fundamental.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Harmonics {
    /// Sinusoidal current: heaters, lamps, anything linear.
    #[default]
    Linear,
    /// An induction motor: small 5th and 7th from the winding and slots.
    Motor,
    /// A switched-mode supply without power-factor correction: capacitor-input rectifier
    /// pulses, strong 3rd, 5th and 7th (THD about 110 %, a typical desktop PC supply).
    SwitchedMode,
    /// (order, magnitude relative to the fundamental, phase in degrees relative to `order`
    /// times the fundamental current's phase).
    Custom(Vec<(u32, f64, f64)>),
}

const MOTOR: &[(u32, f64, f64)] = &[(5, 0.03, 0.0), (7, 0.02, 0.0)];
const SWITCHED_MODE: &[(u32, f64, f64)] = &[
    (3, 0.81, 0.0),
    (5, 0.60, 0.0),
    (7, 0.37, 0.0),
    (9, 0.16, 0.0),
    (11, 0.06, 0.0),
];

impl Harmonics {
    pub fn spectrum(&self) -> &[(u32, f64, f64)] {
        match self {
            Harmonics::Linear => &[],
            Harmonics::Motor => MOTOR,
            Harmonics::SwitchedMode => SWITCHED_MODE,
            Harmonics::Custom(v) => v,
        }
    }
}

/// Where a load's circuit is wired on a split-phase panel: a 120 V circuit from one leg to the
/// neutral, or a 240 V circuit across both legs (two-pole breaker, no neutral). A single-phase
/// panel has one line: `L1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leg {
    #[default]
    L1,
    L2,
    L1L2,
}

impl Leg {
    /// The circuit's nominal voltage on a panel of `leg_v` a leg.
    pub fn nominal_v(self, leg_v: f64) -> f64 {
        match self {
            Leg::L1 | Leg::L2 => leg_v,
            Leg::L1L2 => 2.0 * leg_v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub name: String,
    pub model: LoadModel,
    /// Its circuit on a split-phase panel.
    #[serde(default)]
    pub leg: Leg,
    /// The current's harmonic content in waveform runs.
    #[serde(default)]
    pub harmonics: Harmonics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LoadModel {
    /// Draws the same power at any voltage (switched-mode supplies, drives).
    ConstantPower { watts: f64, pf: f64 },
    /// A fixed impedance sized for `watts` at nominal voltage (heaters, incandescent lamps).
    ConstantImpedance { watts: f64, pf: f64 },
    /// A thermostat-cycled motor: `on` s running, `off` s idle while energized; every start draws
    /// `inrush` times its running current at low power factor for `inrush_time` s.
    Compressor {
        watts: f64,
        pf: f64,
        on: f64,
        off: f64,
        #[serde(default = "default_inrush")]
        inrush: f64,
        #[serde(default = "default_inrush_time")]
        inrush_time: f64,
    },
    /// Power from a time series, one value per `interval` s, repeating. `watts` is filled from
    /// `file` (one column of watts, optional header) by the scenario loader, or written inline.
    Series {
        interval: f64,
        pf: f64,
        #[serde(default)]
        file: Option<String>,
        #[serde(default)]
        watts: Vec<f64>,
    },
}

fn default_inrush() -> f64 {
    5.0
}
fn default_inrush_time() -> f64 {
    0.3
}

/// Power factor of a motor during locked-rotor inrush.
const INRUSH_PF: f64 = 0.35;
/// Below this fraction of nominal voltage, constant-power loads behave as impedances (as OpenDSS's
/// vminpu does): real supplies drop out rather than draw unbounded current.
pub const VMIN_PU: f64 = 0.5;

impl LoadModel {
    /// Nominal real power, W (for Series: the first point).
    pub fn rated_watts(&self) -> f64 {
        match self {
            LoadModel::ConstantPower { watts, .. }
            | LoadModel::ConstantImpedance { watts, .. }
            | LoadModel::Compressor { watts, .. } => *watts,
            LoadModel::Series { watts, .. } => watts.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// |z| without `hypot`'s overflow care, which costs a quarter of a run and is not needed at
/// power-system magnitudes.
pub fn mag(z: Complex64) -> f64 {
    z.norm_sqr().sqrt()
}

fn complex_power(watts: f64, pf: f64) -> Complex64 {
    let pf = pf.clamp(1e-3, 1.0);
    Complex64::new(watts, watts * (1.0 - pf * pf).sqrt() / pf)
}

/// What a load draws this step, before the bus voltage is known: an admittance part and a
/// constant-power part. Both are independent of the voltage, so the bus solve can sum them once
/// and iterate on two numbers instead of on every load.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Draw {
    /// Admittance, S: impedance loads, locked rotors, faults.
    pub y: Complex64,
    /// Complex power drawn whatever the voltage, VA.
    pub s: Complex64,
}

impl Draw {
    /// Current at bus voltage `v` (nominal `vn`). Below `VMIN_PU` the constant-power part acts
    /// as the impedance that draws it at nominal voltage.
    pub fn current(&self, v: Complex64, vn: f64) -> Complex64 {
        if v.norm_sqr() >= (VMIN_PU * vn).powi(2) {
            self.y * v + (self.s / v).conj()
        } else {
            (self.y + self.s.conj() / (vn * vn)) * v
        }
    }

    pub fn add(&mut self, o: &Draw) {
        self.y += o.y;
        self.s += o.s;
    }
}

/// Runtime state of one load circuit.
#[derive(Debug, Clone)]
pub struct Load {
    pub spec: LoadSpec,
    /// Multiplier on the demanded power from a load step.
    pub scale: f64,
    /// A short circuit on this circuit (downstream of its relay), ohms.
    pub short_ohm: Option<f64>,
    /// Seconds into the duty cycle since this load was last energized, wrapping at `period`
    /// (drives compressor cycling and inrush); none while de-energized.
    energized_for: Option<f64>,
    period: f64,
    /// Rated complex power, and a locked rotor's admittance at nominal voltage (compressors).
    s_rated: Complex64,
    y_inrush: Complex64,
}

impl Load {
    pub fn new(spec: LoadSpec, vn: f64) -> Self {
        let (s_rated, y_inrush) = match &spec.model {
            LoadModel::ConstantPower { watts, pf } | LoadModel::ConstantImpedance { watts, pf } => {
                (complex_power(*watts, *pf), Complex64::default())
            }
            LoadModel::Compressor {
                watts, pf, inrush, ..
            } => {
                let s_run = complex_power(*watts, *pf);
                // Locked rotor: `inrush` times the running current at a low power factor.
                let s_lr = inrush * mag(s_run);
                let s_lr = Complex64::new(
                    s_lr * INRUSH_PF,
                    s_lr * (1.0 - INRUSH_PF * INRUSH_PF).sqrt(),
                );
                (s_run, s_lr.conj() / (vn * vn))
            }
            LoadModel::Series { pf, .. } => (complex_power(1.0, *pf), Complex64::default()),
        };
        let period = match &spec.model {
            LoadModel::Compressor { on, off, .. } => (on + off).max(1e-9),
            _ => f64::INFINITY,
        };
        Self {
            spec,
            scale: 1.0,
            short_ohm: None,
            energized_for: None,
            period,
            s_rated,
            y_inrush,
        }
    }

    pub fn advance(&mut self, dt: f64, energized: bool) {
        self.energized_for = if energized {
            let mut s = self.energized_for.map_or(0.0, |s| s + dt);
            while s >= self.period {
                s -= self.period;
            }
            Some(s)
        } else {
            None
        };
    }

    /// What the load draws at time `t` (nothing when not energized).
    pub fn demand(&self, t: f64, vn: f64) -> Draw {
        let Some(on_for) = self.energized_for else {
            return Draw::default();
        };
        let mut d = Draw::default();
        if let Some(r) = self.short_ohm {
            d.y = Complex64::new(1.0 / r.max(1e-6), 0.0);
        }
        let k = self.scale;
        match &self.spec.model {
            LoadModel::ConstantPower { .. } => d.s += self.s_rated * k,
            LoadModel::ConstantImpedance { .. } => d.y += self.s_rated.conj() * k / (vn * vn),
            LoadModel::Compressor {
                on, inrush_time, ..
            } => {
                let phase = on_for;
                if phase < *inrush_time {
                    d.y += self.y_inrush * k;
                } else if phase < *on {
                    d.s += self.s_rated * k;
                }
            }
            LoadModel::Series {
                interval, watts, ..
            } => {
                if !watts.is_empty() {
                    let w = watts[(t / interval.max(1e-9)).floor() as usize % watts.len()];
                    d.s += self.s_rated * (w * k);
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Load {
        fn current(&self, t: f64, v: Complex64, vn: f64) -> Complex64 {
            self.demand(t, vn).current(v, vn)
        }
    }

    fn energized(model: LoadModel, for_s: f64) -> Load {
        let mut l = Load::new(
            LoadSpec {
                name: "x".into(),
                model,
                harmonics: Harmonics::Linear,
                leg: Default::default(),
            },
            230.0,
        );
        l.advance(0.0, true);
        l.advance(for_s, true);
        l
    }

    #[test]
    fn constant_power_draws_rated_power_at_any_normal_voltage() {
        let l = energized(
            LoadModel::ConstantPower {
                watts: 2300.0,
                pf: 0.8,
            },
            1.0,
        );
        for v in [230.0, 207.0, 250.0] {
            let vc = Complex64::new(v, 0.0);
            let s = vc * l.current(0.0, vc, 230.0).conj();
            assert!((s.re - 2300.0).abs() < 1e-6);
            assert!((s.im - 2300.0 * 0.75).abs() < 1e-6); // tan(acos 0.8) = 0.75
        }
    }

    #[test]
    fn constant_impedance_power_scales_with_voltage_squared() {
        let l = energized(
            LoadModel::ConstantImpedance {
                watts: 1000.0,
                pf: 1.0,
            },
            1.0,
        );
        let vc = Complex64::new(115.0, 0.0);
        let s = vc * l.current(0.0, vc, 230.0).conj();
        assert!((s.re - 250.0).abs() < 1e-9);
    }

    #[test]
    fn compressor_inrush_then_run_then_idle() {
        let model = LoadModel::Compressor {
            watts: 1000.0,
            pf: 0.8,
            on: 10.0,
            off: 20.0,
            inrush: 6.0,
            inrush_time: 0.3,
        };
        let v = Complex64::new(230.0, 0.0);
        let run_a = 1000.0 / 0.8 / 230.0;
        let starting = energized(model.clone(), 0.1);
        assert!((starting.current(0.0, v, 230.0).norm() - 6.0 * run_a).abs() < 1e-6);
        let running = energized(model.clone(), 5.0);
        assert!((running.current(0.0, v, 230.0).norm() - run_a).abs() < 1e-6);
        let idle = energized(model, 15.0);
        assert_eq!(idle.current(0.0, v, 230.0).norm(), 0.0);
    }

    #[test]
    fn short_circuit_adds_v_over_r() {
        let mut l = energized(
            LoadModel::ConstantPower {
                watts: 0.0,
                pf: 1.0,
            },
            1.0,
        );
        l.short_ohm = Some(0.5);
        let v = Complex64::new(200.0, 0.0);
        assert!((l.current(0.0, v, 230.0).re - 400.0).abs() < 1e-9);
    }
}
