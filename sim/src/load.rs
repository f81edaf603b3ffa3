//! Load models: how much current a load draws from a given bus voltage phasor.

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSpec {
    pub name: String,
    pub model: LoadModel,
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
const VMIN_PU: f64 = 0.5;

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

/// Runtime state of one load circuit.
#[derive(Debug, Clone)]
pub struct Load {
    pub spec: LoadSpec,
    /// Multiplier on the demanded power from a load step.
    pub scale: f64,
    /// A short circuit on this circuit (downstream of its relay), ohms.
    pub short_ohm: Option<f64>,
    /// Seconds since this load was last energized (drives compressor cycling and inrush).
    energized_for: Option<f64>,
}

impl Load {
    pub fn new(spec: LoadSpec) -> Self {
        Self {
            spec,
            scale: 1.0,
            short_ohm: None,
            energized_for: None,
        }
    }

    pub fn advance(&mut self, dt: f64, energized: bool) {
        self.energized_for = if energized {
            Some(self.energized_for.map_or(0.0, |s| s + dt))
        } else {
            None
        };
    }

    /// What the load draws at bus voltage `v` (nominal `vn`) at time `t`, in Norton form: the
    /// current is `y * v + i`. Impedance parts go in `y` so a short against the source solves
    /// exactly; voltage-dependent (constant-power) parts go in `i`.
    pub fn draw(&self, t: f64, v: Complex64, vn: f64) -> (Complex64, Complex64) {
        let zero = Complex64::default();
        let Some(on_for) = self.energized_for else {
            return (zero, zero);
        };
        let short = self
            .short_ohm
            .map_or(zero, |r| Complex64::new(1.0 / r.max(1e-6), 0.0));
        let demand = match &self.spec.model {
            LoadModel::ConstantPower { watts, pf } => Demand::Power(complex_power(*watts, *pf)),
            LoadModel::ConstantImpedance { watts, pf } => {
                Demand::Impedance(complex_power(*watts, *pf))
            }
            LoadModel::Compressor {
                watts,
                pf,
                on,
                off,
                inrush,
                inrush_time,
            } => {
                let phase = on_for % (on + off).max(1e-9);
                if phase >= *on {
                    Demand::Power(zero)
                } else if phase < *inrush_time {
                    // Locked rotor: `inrush` times the running current, as an impedance.
                    let s_lr = inrush * mag(complex_power(*watts, *pf));
                    let q = s_lr * (1.0 - INRUSH_PF * INRUSH_PF).sqrt();
                    Demand::Impedance(Complex64::new(s_lr * INRUSH_PF, q))
                } else {
                    Demand::Power(complex_power(*watts, *pf))
                }
            }
            LoadModel::Series {
                interval,
                pf,
                watts,
                ..
            } => {
                let w = if watts.is_empty() {
                    0.0
                } else {
                    watts[(t / interval.max(1e-9)).floor() as usize % watts.len()]
                };
                Demand::Power(complex_power(w, *pf))
            }
        };
        match demand {
            Demand::Power(s) if v.norm_sqr() >= (VMIN_PU * vn).powi(2) => {
                (short, (s * self.scale / v).conj())
            }
            // Y = conj(S) / Vn^2 draws S at nominal voltage.
            Demand::Power(s) | Demand::Impedance(s) => {
                (short + (s * self.scale).conj() / (vn * vn), zero)
            }
        }
    }

    /// Current drawn at bus voltage `v`.
    pub fn current(&self, t: f64, v: Complex64, vn: f64) -> Complex64 {
        let (y, i) = self.draw(t, v, vn);
        y * v + i
    }
}

enum Demand {
    Power(Complex64),
    Impedance(Complex64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn energized(model: LoadModel, for_s: f64) -> Load {
        let mut l = Load::new(LoadSpec {
            name: "x".into(),
            model,
        });
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
