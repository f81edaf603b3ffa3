//! Phase impedance and capacitance of overhead lines from their geometry: Carson's equations
//! in the simplified form Kersting uses (OpenDSS's `earthmodel=carson`) or Deri's complex
//! depth of return with a skin-effect resistance (`deri`, OpenDSS's default), and potential
//! coefficients for the capacitance, with the neutral Kron-reduced.

use nalgebra::DMatrix;
use num_complex::Complex64 as C64;
use std::f64::consts::PI;

const MU0: f64 = 4.0e-7 * PI;
const EPS0: f64 = 8.854_187_812_8e-12;

/// One conductor of a line geometry, SI units.
#[derive(Debug, Clone, Copy)]
pub struct Conductor {
    pub x_m: f64,
    pub h_m: f64,
    /// AC resistance (Carson) and DC resistance (Deri's skin-effect model starts from it).
    pub r_ohm_per_m: f64,
    pub rdc_ohm_per_m: f64,
    pub gmr_m: f64,
    pub radius_m: f64,
}

/// OpenDSS's `earthmodel`; Deri is its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EarthModel {
    Carson,
    #[default]
    Deri,
}

/// Series impedance (Ω/km) and shunt capacitance (nF/km) matrices of the first `phases`
/// conductors, the others (neutrals) eliminated as grounded at every pole.
pub fn line_matrices(
    conds: &[Conductor],
    phases: usize,
    frequency_hz: f64,
    earth_resistivity: f64,
    earth: EarthModel,
) -> (DMatrix<C64>, DMatrix<f64>) {
    let n = conds.len();
    let w = 2.0 * PI * frequency_hz;
    // Carson: depth of the equivalent earth return, ln(658.5 √(ρ/f)) in metres.
    let de = (658.5 * (earth_resistivity / frequency_hz).sqrt()).ln();
    // Deri: the complex depth of penetration 1 / √(jωμ0/ρ).
    let p = C64::new(0.0, w * MU0 / earth_resistivity).sqrt().inv();
    let k = w * MU0 / (2.0 * PI);
    let z = DMatrix::from_fn(n, n, |i, j| {
        let (a, b) = (&conds[i], &conds[j]);
        let d = if i == j {
            a.gmr_m
        } else {
            (a.x_m - b.x_m).hypot(a.h_m - b.h_m)
        };
        let z = match earth {
            EarthModel::Carson => {
                let r = if i == j { a.r_ohm_per_m } else { 0.0 };
                C64::new(r + w * MU0 / 8.0, k * (de - d.ln()))
            }
            EarthModel::Deri => {
                let r = if i == j {
                    skin_resistance(a.rdc_ohm_per_m, frequency_hz)
                } else {
                    0.0
                };
                let depth =
                    (C64::new(a.h_m + b.h_m, 0.0) + 2.0 * p).powi(2) + (a.x_m - b.x_m).powi(2);
                C64::new(r, 0.0) + C64::new(0.0, k) * (depth.sqrt().ln() - d.ln())
            }
        };
        z * 1000.0
    });
    let p = DMatrix::from_fn(n, n, |i, j| {
        let (a, b) = (&conds[i], &conds[j]);
        let ratio = if i == j {
            2.0 * a.h_m / a.radius_m
        } else {
            (a.x_m - b.x_m).hypot(a.h_m + b.h_m) / (a.x_m - b.x_m).hypot(a.h_m - b.h_m)
        };
        ratio.ln() / (2.0 * PI * EPS0)
    });
    let z = kron(&z, phases);
    let p = kron(&p, phases);
    let c = p
        .try_inverse()
        .unwrap_or_else(|| DMatrix::zeros(phases, phases))
        * 1e9
        / 1000.0;
    (z, c)
}

/// AC resistance of a round solid conductor from its DC resistance: the real part of
/// (1+j)/2 · √(Rdc f μ0) · I0(α)/I1(α), α = (1+j) √(f μ0 / Rdc), as OpenDSS's Deri model has it.
fn skin_resistance(rdc: f64, f: f64) -> f64 {
    let alpha = C64::new(1.0, 1.0) * (f * MU0 / rdc).sqrt();
    let ratio = if alpha.norm() > 35.0 {
        C64::new(1.0, 0.0)
    } else {
        bessel_i(0, alpha) / bessel_i(1, alpha)
    };
    (C64::new(1.0, 1.0) * ratio * ((rdc * f * MU0).sqrt() / 2.0)).re
}

/// Modified Bessel function of the first kind, order 0 or 1, by its power series (|z| ≤ 35).
fn bessel_i(order: u32, z: C64) -> C64 {
    let half = z / 2.0;
    let q = half * half;
    let mut term = if order == 0 { C64::new(1.0, 0.0) } else { half };
    let mut sum = term;
    for k in 1..200 {
        term *= q / (k as f64 * (k + order) as f64);
        sum += term;
        if term.norm() < 1e-17 * sum.norm() {
            break;
        }
    }
    sum
}

/// Eliminate the conductors after the first `keep` (they are at ground potential).
fn kron<T: nalgebra::ComplexField + Copy>(m: &DMatrix<T>, keep: usize) -> DMatrix<T> {
    let n = m.nrows();
    if keep >= n {
        return m.clone();
    }
    let a = m.view((0, 0), (keep, keep));
    let b = m.view((0, keep), (keep, n - keep));
    let c = m.view((keep, 0), (n - keep, keep));
    let d = m.view((keep, keep), (n - keep, n - keep)).clone_owned();
    match d.try_inverse() {
        Some(di) => a - b * di * c,
        None => a.clone_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FT: f64 = 0.3048;
    const MI: f64 = 1609.344;

    /// Kersting, Distribution System Modeling and Analysis, example 4.1: the IEEE 4-node
    /// configuration (336,400 26/7 ACSR phases, 4/0 6/1 ACSR neutral) gives, in Ω/mile,
    /// z_aa = 0.4576 + j1.0780, z_ab = 0.1560 + j0.5017, z_ac = 0.1535 + j0.3849,
    /// z_bc = 0.1580 + j0.4236, z_cc = 0.4615 + j1.0651.
    #[test]
    fn kersting_example_phase_impedance() {
        let phase = |x: f64| Conductor {
            x_m: x * FT,
            h_m: 29.0 * FT,
            r_ohm_per_m: 0.306 / MI,
            rdc_ohm_per_m: 0.3 / MI,
            gmr_m: 0.0244 * FT,
            radius_m: 0.721 / 2.0 * 0.0254,
        };
        let conds = [
            phase(0.0),
            phase(2.5),
            phase(7.0),
            Conductor {
                x_m: 4.0 * FT,
                h_m: 25.0 * FT,
                r_ohm_per_m: 0.592 / MI,
                rdc_ohm_per_m: 0.592 / 1.02 / MI,
                gmr_m: 0.00814 * FT,
                radius_m: 0.563 / 2.0 * 0.0254,
            },
        ];
        let (z, _) = line_matrices(&conds, 3, 60.0, 100.0, EarthModel::Carson);
        let per_mile = |i: usize, j: usize| z[(i, j)] * (MI / 1000.0);
        let close = |got: C64, re: f64, im: f64| {
            assert!(
                (got.re - re).abs() < 2e-4 && (got.im - im).abs() < 2e-4,
                "{got} vs {re}+j{im}"
            )
        };
        close(per_mile(0, 0), 0.4576, 1.0780);
        close(per_mile(0, 1), 0.1560, 0.5017);
        close(per_mile(0, 2), 0.1535, 0.3849);
        close(per_mile(1, 2), 0.1580, 0.4236);
        close(per_mile(2, 2), 0.4615, 1.0651);
    }

    /// The IEEE 4-node geometry as 4Bus-OYOD-Bal.DSS places it, under OpenDSS's default Deri
    /// model: OpenDSS 0.14.5 reports, in Ω/mile, z_aa = 0.45174669 + j1.08046056,
    /// z_ab = 0.15509166 + j0.5039048, z_bc = 0.1571298 + j0.42579605,
    /// z_cc = 0.45563659 + j1.06731957 (Rdc = Rac / 1.02 where only Rac is given).
    #[test]
    fn deri_matches_opendss() {
        let wire = |x: f64, h: f64, rac: f64, gmr_ft: f64, diam_in: f64| Conductor {
            x_m: x * FT,
            h_m: h * FT,
            r_ohm_per_m: rac / MI,
            rdc_ohm_per_m: rac / 1.02 / MI,
            gmr_m: gmr_ft * FT,
            radius_m: diam_in / 2.0 * 0.0254,
        };
        let conds = [
            wire(-4.0, 28.0, 0.306, 0.0244, 0.721),
            wire(-1.5, 28.0, 0.306, 0.0244, 0.721),
            wire(3.0, 28.0, 0.306, 0.0244, 0.721),
            wire(0.0, 24.0, 0.592, 0.00814, 0.563),
        ];
        let (z, _) = line_matrices(&conds, 3, 60.0, 100.0, EarthModel::Deri);
        let got = |i: usize, j: usize| z[(i, j)] * (MI / 1000.0);
        for (i, j, re, im) in [
            (0, 0, 0.45174669, 1.08046056),
            (0, 1, 0.15509166, 0.5039048),
            (1, 2, 0.1571298, 0.42579605),
            (2, 2, 0.45563659, 1.06731957),
        ] {
            let g = got(i, j);
            assert!(
                (g.re - re).abs() < 1e-6 && (g.im - im).abs() < 1e-6,
                "z{i}{j} = {g}, OpenDSS {re}+j{im}"
            );
        }
    }
}
