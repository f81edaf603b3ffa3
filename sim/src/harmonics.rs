//! The twin's harmonics: each load's harmonic currents from its spectrum and its fundamental,
//! and the bus voltage they distort through the feeding source's impedance. Waveform runs
//! sample them; every run records their THD.

use num_complex::Complex64;

use crate::load::Harmonics;
use crate::pdu::Pdu;

/// A load's harmonic currents (order, rms phasor) for its fundamental current `i1`.
pub fn load_currents(h: &Harmonics, i1: Complex64) -> impl Iterator<Item = (usize, Complex64)> {
    let (m, a) = i1.to_polar();
    let drawn = i1 != Complex64::default();
    h.spectrum()
        .iter()
        .filter(move |_| drawn)
        .map(move |&(h, ratio, deg)| {
            let x = Complex64::from_polar(m * ratio, a * f64::from(h) + deg.to_radians());
            (h as usize, x)
        })
}

/// The bus's harmonic voltage of order `h` for the total harmonic current `ih` drawn through
/// a source of impedance `z` at the fundamental: the drop across R + jhX.
pub fn bus_voltage(z: Complex64, h: usize, ih: Complex64) -> Complex64 {
    -Complex64::new(z.re, z.im * h as f64) * ih
}

/// Total harmonic distortion, % of the fundamental's rms `fund`, of harmonics of rms `hs`;
/// absent (NaN) without a fundamental.
pub fn thd_pct(fund: f64, hs: impl Iterator<Item = f64>) -> f64 {
    if fund > 1e-9 {
        100.0 * hs.map(|x| x * x).sum::<f64>().sqrt() / fund
    } else {
        f64::NAN
    }
}

/// The distortion of a step's solution, %.
#[derive(Debug, Clone, PartialEq)]
pub struct Thd {
    /// Each load's current (absent while it draws nothing).
    pub loads: Vec<f64>,
    /// The feeding source's current (absent with the bus dead).
    pub current: f64,
    /// The bus voltage.
    pub voltage: f64,
}

impl Pdu {
    /// The THD of the last step's solution.
    pub fn thd(&self) -> Thd {
        let mut total: Vec<Complex64> = Vec::new();
        let loads = (0..self.loads.len())
            .map(|k| {
                let i1 = self.load_current(k);
                let hs = load_currents(&self.loads[k].spec.harmonics, i1).inspect(|&(h, x)| {
                    if total.len() <= h {
                        total.resize(h + 1, Complex64::default());
                    }
                    total[h] += x;
                });
                thd_pct(i1.norm(), hs.map(|(_, x)| x.norm()))
            })
            .collect();
        let Some(id) = self.connected() else {
            return Thd {
                loads,
                current: f64::NAN,
                voltage: f64::NAN,
            };
        };
        let z = self.source_z(id);
        let harmonics = || total.iter().enumerate().skip(2);
        Thd {
            loads,
            current: thd_pct(
                self.total_current().norm(),
                harmonics().map(|(_, x)| x.norm()),
            ),
            voltage: thd_pct(
                self.bus_phasor().norm(),
                harmonics().map(|(h, x)| bus_voltage(z, h, *x).norm()),
            ),
        }
    }
}
