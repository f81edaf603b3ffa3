//! Phase impedance and capacitance of overhead lines from their geometry: Carson's equations
//! in the simplified form Kersting uses (the one OpenDSS calls `earthmodel=carson`), and
//! potential coefficients for the capacitance, with the neutral Kron-reduced.

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
    pub r_ohm_per_m: f64,
    pub gmr_m: f64,
    pub radius_m: f64,
}

/// Series impedance (Ω/km) and shunt capacitance (nF/km) matrices of the first `phases`
/// conductors, the others (neutrals) eliminated as grounded at every pole.
pub fn line_matrices(
    conds: &[Conductor],
    phases: usize,
    frequency_hz: f64,
    earth_resistivity: f64,
) -> (DMatrix<C64>, DMatrix<f64>) {
    let n = conds.len();
    let w = 2.0 * PI * frequency_hz;
    // Depth of the equivalent earth return: ln(658.5 √(ρ/f)) in metres.
    let de = (658.5 * (earth_resistivity / frequency_hz).sqrt()).ln();
    let k = w * MU0 / (2.0 * PI);
    let z = DMatrix::from_fn(n, n, |i, j| {
        let d = if i == j {
            conds[i].gmr_m
        } else {
            (conds[i].x_m - conds[j].x_m).hypot(conds[i].h_m - conds[j].h_m)
        };
        let r = if i == j { conds[i].r_ohm_per_m } else { 0.0 };
        C64::new(r + w * MU0 / 8.0, k * (de - d.ln())) * 1000.0
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
                gmr_m: 0.00814 * FT,
                radius_m: 0.563 / 2.0 * 0.0254,
            },
        ];
        let (z, _) = line_matrices(&conds, 3, 60.0, 100.0);
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
}
