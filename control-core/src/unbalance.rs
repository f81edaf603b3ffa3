//! Three-phase quantities from per-phase fundamental phasors: symmetrical components, the
//! voltage unbalance factor |V2|/|V1| (EN 50160 allows 2 %), current unbalance and the neutral
//! current.

use num_complex::Complex64;
use serde::Serialize;

/// The operator a = 1∠120°, to the bit as `Complex64::from_polar(1.0, TAU / 3.0)` gives it (a
/// test checks), without a sine and a cosine at every use.
const A: Complex64 = Complex64::new(-0.4999999999999998, 0.8660254037844387);

/// Zero, positive and negative sequence components of phases A, B, C.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sequences {
    pub zero: Complex64,
    pub positive: Complex64,
    pub negative: Complex64,
}

pub fn sequences(pa: Complex64, pb: Complex64, pc: Complex64) -> Sequences {
    let (a, a2) = (A, A * A);
    Sequences {
        zero: (pa + pb + pc) / 3.0,
        positive: (pa + a * pb + a2 * pc) / 3.0,
        negative: (pa + a2 * pb + a * pc) / 3.0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unbalance {
    /// |V2| / |V1|.
    pub vuf: f64,
    /// |V0| / |V1|.
    pub v0_ratio: f64,
    /// |I2| / |I1|.
    pub iuf: f64,
    /// Largest deviation of a phase current magnitude from their mean, over the mean (the
    /// definition the balancing planner uses).
    pub current_deviation: f64,
    /// |Ia + Ib + Ic|, A (fundamental).
    pub neutral_a: f64,
}

/// The voltage unbalance factor |V2| / |V1| of three phase voltages (0 with no positive
/// sequence).
pub fn vuf(v: [Complex64; 3]) -> f64 {
    let s = sequences(v[0], v[1], v[2]);
    ratio(s.negative, s.positive)
}

/// The largest deviation of a phase current's magnitude from their mean, over the mean (the
/// definition the balancing planner uses), for however many phases a bus has; 0 with no
/// current.
pub fn current_deviation(magnitudes: &[f64]) -> f64 {
    let mean = magnitudes.iter().sum::<f64>() / magnitudes.len().max(1) as f64;
    if mean > 0.0 {
        magnitudes
            .iter()
            .map(|m| (m - mean).abs())
            .fold(0.0, f64::max)
            / mean
    } else {
        0.0
    }
}

/// |V2|² / |V1|² (0 with no positive sequence): buses in the order of their VUF, without its
/// square roots, for finding the worst of many.
pub fn vuf_squared(v: [Complex64; 3]) -> f64 {
    // The sequences' common 1/3 cancels, and the zero sequence is not needed. With
    // a = -1/2 + j√3/2, V1 and V2 are m ± n for m = Va - (Vb + Vc)/2 and n = j√3/2 (Vb - Vc):
    // no complex products, for the thousand buses of a feeder every step.
    let m = v[0] - (v[1] + v[2]) * 0.5;
    let d = (v[1] - v[2]) * (3f64.sqrt() / 2.0);
    let n = Complex64::new(-d.im, d.re);
    let p = (m + n).norm_sqr();
    if p > 0.0 { (m - n).norm_sqr() / p } else { 0.0 }
}

fn ratio(x: Complex64, y: Complex64) -> f64 {
    if y.norm() > 0.0 {
        x.norm() / y.norm()
    } else {
        0.0
    }
}

/// Unbalance from the three voltage and current phasors.
pub fn unbalance(v: [Complex64; 3], i: [Complex64; 3]) -> Unbalance {
    let si = sequences(i[0], i[1], i[2]);
    let sv = sequences(v[0], v[1], v[2]);
    Unbalance {
        vuf: vuf(v),
        v0_ratio: ratio(sv.zero, sv.positive),
        iuf: ratio(si.negative, si.positive),
        current_deviation: current_deviation(&i.map(|x| x.norm())),
        neutral_a: (i[0] + i[1] + i[2]).norm(),
    }
}

/// RMS of the neutral current from instantaneous phase currents over whole cycles: unlike the
/// phasor sum, it carries the triplen harmonics that add up in the neutral.
pub fn neutral_rms(ia: &[f64], ib: &[f64], ic: &[f64]) -> f64 {
    let n = ia.len().min(ib.len()).min(ic.len());
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = (0..n).map(|k| (ia[k] + ib[k] + ic[k]).powi(2)).sum();
    (sum / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn polar(m: f64, deg: f64) -> Complex64 {
        Complex64::from_polar(m, deg.to_radians())
    }

    /// IEC 61000-4-30's magnitude-only formula from line-to-line voltages, an independent route.
    fn vuf_iec(vab: f64, vbc: f64, vca: f64) -> f64 {
        let beta =
            (vab.powi(4) + vbc.powi(4) + vca.powi(4)) / (vab * vab + vbc * vbc + vca * vca).powi(2);
        let r = (3.0 - 6.0 * beta).max(0.0).sqrt();
        ((1.0 - r) / (1.0 + r)).sqrt()
    }

    #[test]
    fn constructed_sequences_come_back() {
        // V1 = 230∠0, V2 = 4.6∠40 (2 %), V0 = 3∠-10.
        let (v1, v2, v0) = (polar(230.0, 0.0), polar(4.6, 40.0), polar(3.0, -10.0));
        let (a, a2) = (A, A * A);
        let va = v0 + v1 + v2;
        let vb = v0 + a2 * v1 + a * v2;
        let vc = v0 + a * v1 + a2 * v2;
        let s = sequences(va, vb, vc);
        assert!((s.positive - v1).norm() < 1e-9);
        assert!((s.negative - v2).norm() < 1e-9);
        assert!((s.zero - v0).norm() < 1e-9);
        let u = unbalance([va, vb, vc], [va / 23.0, vb / 23.0, vc / 23.0]);
        assert!((u.vuf - 0.02).abs() < 1e-12);
        assert!(
            (u.iuf - 0.02).abs() < 1e-12,
            "a balanced impedance keeps the ratio"
        );
        assert!((u.neutral_a - 3.0 * v0.norm() / 23.0).abs() < 1e-9);
    }

    #[test]
    fn the_operator_a_is_one_at_120_degrees_to_the_bit() {
        assert_eq!(A, Complex64::from_polar(1.0, std::f64::consts::TAU / 3.0));
    }

    #[test]
    fn balanced_set_has_no_unbalance_and_no_neutral_current() {
        let v = [polar(230.0, 0.0), polar(230.0, -120.0), polar(230.0, 120.0)];
        let i = [polar(10.0, -30.0), polar(10.0, -150.0), polar(10.0, 90.0)];
        let u = unbalance(v, i);
        assert!(u.vuf < 1e-12 && u.iuf < 1e-12 && u.current_deviation < 1e-12);
        assert!(u.neutral_a < 1e-9);
    }

    #[test]
    fn triplen_harmonics_add_in_the_neutral() {
        // Balanced fundamentals cancel; a 3rd harmonic of 3 A per phase adds to 9 A.
        let n = 3200;
        let wave = |shift: f64| -> Vec<f64> {
            (0..n)
                .map(|k| {
                    let w = std::f64::consts::TAU * k as f64 / 64.0;
                    10.0 * 2f64.sqrt() * (w - shift).sin()
                        + 3.0 * 2f64.sqrt() * (3.0 * (w - shift)).sin()
                })
                .collect()
        };
        let third = std::f64::consts::TAU / 3.0;
        let r = neutral_rms(&wave(0.0), &wave(third), &wave(2.0 * third));
        assert!((r - 9.0).abs() < 1e-9, "{r}");
    }

    proptest! {
        /// Symmetrical components agree with the IEC formula for any three phasors.
        #[test]
        fn vuf_agrees_with_the_iec_formula(
            m in prop::array::uniform3(150.0f64..260.0),
            d in prop::array::uniform3(-15.0f64..15.0),
        ) {
            let v = [polar(m[0], d[0]), polar(m[1], -120.0 + d[1]), polar(m[2], 120.0 + d[2])];
            let u = unbalance(v, [Complex64::default(); 3]);
            let iec = vuf_iec((v[0] - v[1]).norm(), (v[1] - v[2]).norm(), (v[2] - v[0]).norm());
            prop_assert!((u.vuf - iec).abs() < 1e-9, "{} vs {}", u.vuf, iec);
            let squared = vuf_squared(v);
            prop_assert!((squared.sqrt() - u.vuf).abs() <= 1e-15, "{} vs {}", squared, u.vuf);
        }
    }
}
