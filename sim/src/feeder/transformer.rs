//! A transformer's primitive admittance over its windings' conductors, as OpenDSS builds it.

use nalgebra::DMatrix;
use num_complex::Complex64 as C64;

use super::FeederError;
use super::model::{Conn, Transformer};

/// Winding `k`'s phase `ph`: the (from, to) conductors it spans among the transformer
/// element's (each winding's `phases + 1` in turn): phase to neutral on a wye winding, phase to
/// phase on a delta one.
pub fn winding_ends(t: &Transformer, k: usize, ph: usize) -> (usize, usize) {
    let nph = t.phases;
    let base = k * (nph + 1);
    match t.windings[k].conn {
        Conn::Wye => (base + ph, base + nph),
        Conn::Delta if nph == 1 => (base, base + 1),
        Conn::Delta => (base + ph, base + (ph + nph - 1) % nph),
    }
}

/// Winding `k`'s rated volts across one of its phase windings: line to neutral on a
/// polyphase wye, its kV otherwise.
pub fn winding_volts(t: &Transformer, k: usize) -> f64 {
    let w = &t.windings[k];
    1000.0
        * if t.phases > 1 && w.conn == Conn::Wye {
            w.kv / 3f64.sqrt()
        } else {
            w.kv
        }
}

/// Primitive admittance of a transformer of two or three windings over its
/// windings·(phases+1) conductors: per phase the windings coupled through their short-circuit
/// impedances, each across phase and neutral (wye) or across two phases (delta, each winding
/// from its phase to the one before, which puts the low side 30° behind for Dy as OpenDSS
/// does).
pub fn transformer_y(t: &Transformer, what: &str) -> Result<DMatrix<C64>, FeederError> {
    let nph = t.phases;
    let nc = nph + 1;
    let nw = t.windings.len();
    let rated = |k: usize| winding_volts(t, k);
    let wv = |k: usize| rated(k) * t.windings[k].tap;
    let kva = t.windings[0].kva;
    if (0..nw).map(wv).chain([kva]).any(|x| x.is_nan() || x <= 0.0) {
        return Err(FeederError::Model(format!(
            "{what}: kV and kVA must be positive"
        )));
    }
    let s_ph = kva * 1000.0 / nph as f64;
    // As OpenDSS builds it: the short-circuit impedances from winding 1 to each other winding
    // (ohms on a one-volt base), and between those, the mutual terms from the third pair.
    let r = |k: usize| t.windings[k].r_pct / 100.0;
    let x = |a: usize, b: usize| {
        match (a, b) {
            (0, 1) => t.xhl_pct,
            (0, 2) => t.xht_pct,
            _ => t.xlt_pct,
        }
    } / 100.0;
    let zsc = |a: usize, b: usize| C64::new(r(a) + r(b), x(a, b)) / s_ph;
    let zb = DMatrix::from_fn(nw - 1, nw - 1, |i, j| {
        if i == j {
            zsc(0, i + 1)
        } else {
            (zsc(0, i + 1) + zsc(0, j + 1) - zsc(i + 1, j + 1)) * 0.5
        }
    });
    let zinv = zb
        .try_inverse()
        .filter(|m| m.iter().all(|v| v.is_finite()))
        .ok_or_else(|| FeederError::Model(format!("{what}: zero leakage impedance")))?;
    // One-volt winding admittance: the other windings' voltages against winding 1's.
    let a = DMatrix::from_fn(nw - 1, nw, |i, j| {
        if j == 0 {
            C64::new(-1.0, 0.0)
        } else if j == i + 1 {
            C64::new(1.0, 0.0)
        } else {
            C64::new(0.0, 0.0)
        }
    });
    let mut y1 = a.transpose() * zinv * &a;
    // The magnetizing branch on winding 2, nearest the core.
    y1[(1, 1)] += C64::new(t.noload_loss_pct / 100.0, -t.imag_pct / 100.0) * s_ph;
    let ends = |k: usize, ph: usize| winding_ends(t, k, ph);
    let mut y = DMatrix::<C64>::zeros(nw * nc, nw * nc);
    for ph in 0..nph {
        for i in 0..nw {
            for j in 0..nw {
                let v = y1[(i, j)] / (wv(i) * wv(j));
                let ((ip, in_), (jp, jn)) = (ends(i, ph), ends(j, ph));
                y[(ip, jp)] += v;
                y[(in_, jn)] += v;
                y[(ip, jn)] -= v;
                y[(in_, jp)] -= v;
            }
        }
    }
    // OpenDSS's anti-float: a reactance of `ppm` of the winding's single-phase rating, half
    // on each end of every winding, and once more on a wye winding's neutral.
    if t.ppm_antifloat != 0.0 {
        for k in 0..nw {
            let vbase = rated(k);
            let adder = C64::new(0.0, -t.ppm_antifloat * 1e-6 * s_ph / (vbase * vbase) / 2.0);
            for ph in 0..nph {
                let (a, b) = ends(k, ph);
                y[(a, a)] += adder;
                y[(b, b)] += adder;
            }
            if t.windings[k].conn == Conn::Wye {
                y[(k * nc + nph, k * nc + nph)] += adder;
            }
        }
    }
    Ok(y)
}
