//! Anderson acceleration of the sweep's fixed point.
//!
//! On a long feeder the sweep converges linearly, by a ratio set by the voltage drop along its
//! longest path (about 0.6 on the IEEE 8500-node). A constant-power load draws a current
//! conjugate to its voltage, so a slow mode comes as a pair of real ratios ±ρ, which one secant
//! step cannot cancel: each sweep's result is mixed with the last two by the least-squares
//! combination of their changes of residual (in pu), which takes such a pair out. The
//! solution is still judged by the plain sweep's change, so it meets the same tolerance.

use num_complex::Complex64 as C64;

/// Changes kept: two, for one pair of modes ±ρ.
const DEPTH: usize = 2;

#[derive(Default)]
pub(super) struct Anderson {
    /// The sweep's input, kept before it.
    x: Vec<C64>,
    /// The last sweep's result, and its residual (result − input) in pu.
    g_prev: Vec<C64>,
    f_prev: Vec<C64>,
    /// Changes of residual (pu) and of result between sweeps, in a ring of `DEPTH` slots:
    /// `stored` of them valid, the newest just before `next`.
    df: [Vec<C64>; DEPTH],
    dg: [Vec<C64>; DEPTH],
    stored: usize,
    next: usize,
    /// `<df_a, df_b>` and `<df_a, f_prev>` per slot.
    gram: [[f64; DEPTH]; DEPTH],
    rhs: [f64; DEPTH],
    /// Whether `g_prev` and `f_prev` are of this solution.
    primed: bool,
    /// The last sweep's largest change, to catch a mix that made things worse.
    last_delta: f64,
}

#[inline(always)]
fn dot(a: C64, b: C64) -> f64 {
    a.re * b.re + a.im * b.im
}

impl Anderson {
    /// A new solution (a time point, or the controls moved): start from a plain sweep.
    pub(super) fn reset(&mut self) {
        self.primed = false;
        self.stored = 0;
    }

    /// Before a sweep: keep its input.
    pub(super) fn before(&mut self, v: &[C64]) {
        self.x.clear();
        self.x.extend_from_slice(v);
    }

    /// After a sweep that left its result in `v`, its largest change `delta`: replace the
    /// result by the next sweep's input.
    pub(super) fn after(&mut self, v: &mut [C64], inv_base: &[f64], delta: f64) {
        let n = v.len();
        if self.g_prev.len() != n {
            let zeros = vec![C64::new(0.0, 0.0); n];
            self.g_prev = zeros.clone();
            self.f_prev = zeros.clone();
            self.df = std::array::from_fn(|_| zeros.clone());
            self.dg = std::array::from_fn(|_| zeros.clone());
            self.reset();
        }
        if !self.primed {
            for i in 0..n {
                self.f_prev[i] = (v[i] - self.x[i]) * inv_base[i];
            }
            self.g_prev.copy_from_slice(v);
            self.primed = true;
            self.last_delta = delta;
            return;
        }
        // A sweep that changed more than the one before: the history misleads, drop it.
        if delta > self.last_delta {
            self.stored = 0;
        }
        self.last_delta = delta;
        // One pass: the new slot's changes, and its products with the other slot and with
        // the residual.
        let s = self.next;
        let [df0, df1] = &mut self.df;
        let (new, old) = if s == 0 { (df0, &*df1) } else { (df1, &*df0) };
        let dg = &mut self.dg[s];
        let (mut own, mut with_old, mut with_f) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let g = v[i];
            let f = (g - self.x[i]) * inv_base[i];
            let d = f - self.f_prev[i];
            new[i] = d;
            dg[i] = g - self.g_prev[i];
            self.f_prev[i] = f;
            self.g_prev[i] = g;
            own += d.norm_sqr();
            with_old += dot(d, old[i]);
            with_f += dot(d, f);
        }
        let o = 1 - s;
        self.gram[s][s] = own;
        self.gram[s][o] = with_old;
        self.gram[o][s] = with_old;
        // The residual moved on by `d`.
        self.rhs[o] += with_old;
        self.rhs[s] = with_f;
        self.next = o;
        self.stored = (self.stored + 1).min(DEPTH);
        let gamma = least_squares(&self.gram, &self.rhs, s, (self.stored == 2).then_some(o));
        let [dg0, dg1] = &self.dg;
        for i in 0..n {
            v[i] -= gamma[0] * dg0[i] + gamma[1] * dg1[i];
        }
    }
}

/// The weights γ on the newest slot `a` and the one before it `b` minimizing |f − Σ γ df|, by
/// the normal equations; a near-singular pair falls back to the newest alone, a zero change to
/// none.
fn least_squares(
    g: &[[f64; DEPTH]; DEPTH],
    r: &[f64; DEPTH],
    a: usize,
    b: Option<usize>,
) -> [f64; DEPTH] {
    let mut out = [0.0; DEPTH];
    if let Some(b) = b {
        let det = g[a][a] * g[b][b] - g[a][b] * g[a][b];
        if det > 1e-9 * g[a][a] * g[b][b] {
            out[a] = (r[a] * g[b][b] - g[a][b] * r[b]) / det;
            out[b] = (g[a][a] * r[b] - g[a][b] * r[a]) / det;
            return out;
        }
    }
    if g[a][a] > 0.0 {
        out[a] = r[a] / g[a][a];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed point as a constant-power load makes it, z = 0.9·conj(z) + c: the pair of
    /// ratios ±0.9 (its real and imaginary parts). Plain sweeps need some 130 to reach 1e-6;
    /// mixed, the pair is gone once two changes are known.
    #[test]
    fn a_pair_of_slow_modes_is_taken_out() {
        let c = C64::new(1.0, 0.5);
        let step = |x: &[C64]| vec![0.9 * x[0].conj() + c];
        // z = 0.9 z̄ + c: re = 1 / 0.1, im = 0.5 / 1.9.
        let fixed = [C64::new(10.0, 0.5 / 1.9)];
        let count = |accelerate: bool| {
            let mut acc = Anderson::default();
            let mut v = vec![C64::new(0.0, 0.0)];
            for it in 1..=1000 {
                acc.before(&v);
                let g = step(&v);
                let delta = g
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| (a - b).norm())
                    .fold(0.0, f64::max);
                v = g;
                if delta <= 1e-6 {
                    let error = v.iter().zip(&fixed).map(|(a, b)| (a - b).norm());
                    assert!(error.fold(0.0, f64::max) < 1e-4);
                    return it;
                }
                if accelerate {
                    acc.after(&mut v, &[1.0], delta);
                }
            }
            panic!("no convergence");
        };
        let (plain, mixed) = (count(false), count(true));
        assert!(plain > 100, "{plain}");
        assert_eq!(mixed, 4);
    }
}
