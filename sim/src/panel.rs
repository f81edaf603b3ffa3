//! The three-wire panel of a split-phase service (a North American home: 120/240 V): legs L1 and
//! L2 from a center-tapped source, 180° apart, each behind its source impedance, and a neutral
//! bar tied to the source's grounded center tap through the neutral's own impedance.
//!
//! Solved by nodal analysis on the panel's three nodes (L1, L2 and the neutral bar, against the
//! center tap), each load an admittance in it: a constant-power load's at the last iterate's
//! voltage across it, until the voltages settle.

use num_complex::Complex64;

use crate::load::{Draw, Leg, VMIN_PU};

/// The panel's nodes in its voltage vector.
const L1: usize = 0;
const L2: usize = 1;
const N: usize = 2;

/// What feeds the panel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wiring {
    /// L1's EMF to the center tap, V rms (L2's is its opposite).
    pub e: Complex64,
    /// Each leg's source impedance, ohms.
    pub zs: Complex64,
    /// The neutral's impedance back to the center tap, ohms; `None` when it is open.
    pub zn: Option<Complex64>,
    /// A leg's nominal voltage, V rms.
    pub leg_v: f64,
}

/// The panel's node voltages to the center tap, V rms: L1, L2 and the neutral bar.
pub type Nodes = [Complex64; 3];

/// The nodes a load on `leg` is wired across, from and to.
fn terminals(leg: Leg) -> (usize, usize) {
    match leg {
        Leg::L1 => (L1, N),
        Leg::L2 => (L2, N),
        Leg::L1L2 => (L1, L2),
    }
}

/// The voltage across a load on `leg`.
pub fn across(v: &Nodes, leg: Leg) -> Complex64 {
    let (a, b) = terminals(leg);
    v[a] - v[b]
}

/// The node voltages with `loads` (each one's circuit and draw) drawing, from `start` (the last
/// solution, or the open-circuit voltages).
pub fn solve(w: &Wiring, loads: &[(Leg, Draw)], start: Nodes) -> Nodes {
    let one = Complex64::new(1.0, 0.0);
    let ys = one / w.zs;
    let mut v = start;
    for _ in 0..50 {
        let mut y = [[Complex64::default(); 3]; 3];
        let mut j = [Complex64::default(); 3];
        y[L1][L1] += ys;
        y[L2][L2] += ys;
        j[L1] += ys * w.e;
        j[L2] -= ys * w.e;
        if let Some(zn) = w.zn {
            y[N][N] += one / zn;
        }
        for &(leg, d) in loads {
            let (a, b) = terminals(leg);
            let vn = leg.nominal_v(w.leg_v);
            let u = v[a] - v[b];
            // Constant power as the admittance that draws it at the last iterate's voltage
            // (below VMIN_PU, at nominal voltage, as `Draw::current` has it): a neutral bar
            // that only loads tie to the legs then still has its equation.
            let at = match u.norm_sqr() {
                u2 if u2 >= (VMIN_PU * vn).powi(2) => u2,
                _ => vn * vn,
            };
            let adm = d.y + d.s.conj() / at;
            y[a][a] += adm;
            y[b][b] += adm;
            y[a][b] -= adm;
            y[b][a] -= adm;
        }
        let next = gauss(y, j);
        let done = next
            .iter()
            .zip(&v)
            .all(|(a, b)| (a - b).norm_sqr() < (1e-9 * w.leg_v).powi(2));
        v = next;
        if done {
            break;
        }
    }
    v
}

/// `y x = j` by Gaussian elimination with partial pivoting. A node nothing is connected to (an
/// open neutral with no 120 V load) has no equation and stays at zero.
fn gauss(mut y: [[Complex64; 3]; 3], mut j: [Complex64; 3]) -> Nodes {
    let mut x = [Complex64::default(); 3];
    let mut solved = [false; 3];
    for col in 0..3 {
        let Some(p) = (col..3)
            .max_by(|&a, &b| y[a][col].norm_sqr().total_cmp(&y[b][col].norm_sqr()))
            .filter(|&p| y[p][col].norm_sqr() > 1e-30)
        else {
            continue;
        };
        y.swap(col, p);
        j.swap(col, p);
        let pivot = y[col];
        for r in col + 1..3 {
            let k = y[r][col] / pivot[col];
            for (a, b) in y[r].iter_mut().zip(&pivot).skip(col) {
                *a -= k * b;
            }
            let sub = k * j[col];
            j[r] -= sub;
        }
        solved[col] = true;
    }
    for r in (0..3).rev() {
        if solved[r] {
            let rest: Complex64 = (r + 1..3).map(|c| y[r][c] * x[c]).sum();
            x[r] = (j[r] - rest) / y[r][r];
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(re: f64, im: f64) -> Complex64 {
        Complex64::new(re, im)
    }

    fn wiring(zn: Option<Complex64>) -> Wiring {
        Wiring {
            e: c(120.0, 0.0),
            zs: c(0.04, 0.03),
            zn,
            leg_v: 120.0,
        }
    }

    fn open_circuit() -> Nodes {
        [c(120.0, 0.0), c(-120.0, 0.0), Complex64::default()]
    }

    proptest! {
        /// Kirchhoff at every node for any mix of loads: each leg's source current is what its
        /// loads draw, and the neutral returns the 120 V loads' difference. With the neutral
        /// open, the 120 V circuits are in series across 240 V: two constant-power loads there
        /// have no operating point (the lighter one's voltage collapses), so its 120 V loads
        /// are impedances.
        #[test]
        fn each_node_balances(
            loads in prop::collection::vec(
                (0..3usize, 0.0..0.2f64, -0.05..0.05f64, 0.0..3000.0f64, 0.0..1500.0f64),
                0..8,
            ),
            open in any::<bool>(),
        ) {
            let w = wiring(if open { None } else { Some(c(0.06, 0.02)) });
            let loads: Vec<(Leg, Draw)> = loads
                .iter()
                .map(|&(k, g, b, p, q)| {
                    let leg = [Leg::L1, Leg::L2, Leg::L1L2][k];
                    let s = if open && leg != Leg::L1L2 { c(0.0, 0.0) } else { c(p, q) };
                    (leg, Draw { y: c(g, b), s })
                })
                .collect();
            let v = solve(&w, &loads, open_circuit());
            let mut into = [Complex64::default(); 3];
            for &(leg, d) in &loads {
                let (a, b) = terminals(leg);
                let i = d.current(across(&v, leg), leg.nominal_v(w.leg_v));
                into[a] += i;
                into[b] -= i;
            }
            let from_l1 = (w.e - v[L1]) / w.zs;
            let from_l2 = (-w.e - v[L2]) / w.zs;
            let to_tap = w.zn.map_or(Complex64::default(), |zn| v[N] / zn);
            for (drawn, fed) in [(into[L1], from_l1), (into[L2], from_l2), (-into[N], to_tap)] {
                prop_assert!((drawn - fed).norm() < 1e-6 * (1.0 + fed.norm()), "{drawn} {fed}");
            }
        }
    }

    #[test]
    fn a_240_v_load_alone_leaves_the_neutral_idle() {
        let w = wiring(Some(c(0.06, 0.02)));
        let d = Draw {
            y: c(5000.0 / (240.0 * 240.0), 0.0),
            s: c(2000.0, 900.0),
        };
        let v = solve(&w, &[(Leg::L1L2, d)], open_circuit());
        assert!(v[N].norm() < 1e-9, "the bar stays at the tap: {}", v[N]);
        assert!((v[L1] + v[L2]).norm() < 1e-9, "legs stay opposite");
    }

    #[test]
    fn an_open_neutral_with_nothing_on_it_is_not_singular() {
        let v = solve(&wiring(None), &[], open_circuit());
        assert_eq!(v, open_circuit());
    }
}
