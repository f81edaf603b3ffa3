//! IEEE 1459 quantities from raw samples of one voltage/current pair, over IEC 61000-4-30 style
//! windows of whole cycles (10 at 50 Hz, 12 at 60 Hz).
//!
//! Sampling is never assumed coherent: window edges are the voltage's interpolated positive zero
//! crossings, so a window spans exactly N periods in continuous time, and every integral is a
//! trapezoid over the samples with fractional end pieces. The fundamental phasors come from a
//! single-bin DFT at the measured frequency over that exact window; THD follows from the total
//! and fundamental RMS (everything that is not fundamental counts as distortion).

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

/// One channel's calibration: the reading is `gain * (raw - offset)`, and the channel lags the
/// quantity it measures by `phase_deg` at the fundamental (a current transformer's phase error).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Calibration {
    pub gain: f64,
    pub offset: f64,
    pub phase_deg: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            gain: 1.0,
            offset: 0.0,
            phase_deg: 0.0,
        }
    }
}

impl Calibration {
    #[inline]
    pub fn apply(&self, raw: f64) -> f64 {
        self.gain * (raw - self.offset)
    }
}

/// The measured quantities of one window (or of a whole record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Window {
    /// Start and end, in samples from the first sample pushed (fractional: zero crossings).
    /// Reports give them in seconds instead.
    #[serde(skip)]
    pub start: f64,
    #[serde(skip)]
    pub end: f64,
    pub cycles: u32,
    pub vrms: f64,
    pub irms: f64,
    /// Active power, W.
    pub p: f64,
    /// Fundamental active power, W.
    pub p1: f64,
    /// Fundamental reactive power, var (positive: current lags).
    pub q1: f64,
    /// Apparent power Vrms * Irms, VA.
    pub s: f64,
    /// Power factor P / S.
    pub pf: f64,
    /// Displacement power factor: cosine of the fundamental phase angle.
    pub dpf: f64,
    pub crest_v: f64,
    pub crest_i: f64,
    /// Total harmonic distortion relative to the fundamental, as a fraction.
    pub thd_v: f64,
    pub thd_i: f64,
    /// Hz.
    pub freq: f64,
}

/// Integrals over the continuous interval [a, b] (in sample units) of the samples, by trapezoids
/// on the sample grid with linearly interpolated end pieces.
struct Integrator {
    /// ∫v², ∫i², ∫v·i, ∫v·e^{-jθ}, ∫i·e^{-jθ}
    vv: f64,
    ii: f64,
    vi: f64,
    v1: Complex64,
    i1: Complex64,
}

/// Analyse samples `v`, `i` over [a, b] (fractional sample positions, `b - a` = `cycles`
/// periods). Needs samples at floor(a) ..= ceil(b).
pub fn analyse(v: &[f64], i: &[f64], a: f64, b: f64, cycles: u32, rate: f64) -> Window {
    analyse_corrected(v, i, a, b, cycles, rate, 0.0)
}

/// As `analyse`, with the current channel's phase lag relative to the voltage channel
/// (`lag_rad`) taken out of the fundamental: Q1 and DPF exactly, P through its fundamental part.
pub fn analyse_corrected(
    v: &[f64],
    i: &[f64],
    a: f64,
    b: f64,
    cycles: u32,
    rate: f64,
    lag_rad: f64,
) -> Window {
    let len = b - a;
    // Phase advance per sample at the measured fundamental.
    let theta = std::f64::consts::TAU * f64::from(cycles) / len;
    let ka = a.ceil() as usize;
    let kb = b.floor() as usize;
    let step = Complex64::from_polar(1.0, -theta);
    // e^{-jθ(k - a)} at k = ka.
    let rot = Complex64::from_polar(1.0, -theta * (ka as f64 - a));
    let mut acc = Integrator {
        vv: 0.0,
        ii: 0.0,
        vi: 0.0,
        v1: Complex64::default(),
        i1: Complex64::default(),
    };
    let (mut peak_v, mut peak_i) = (0.0f64, 0.0f64);
    // Interior: trapezoids between ka and kb, i.e. full weight everywhere, then half of each end
    // sample taken back. Two rotators a sample apart, each stepping two samples, halve the
    // multiply chain that bounds the loop's speed.
    let step2 = step * step;
    let (mut ra, mut rb) = (rot, rot * step);
    let mut k = ka;
    let mut pairs = 0u32;
    while k < kb {
        let (x0, y0, x1, y1) = (v[k], i[k], v[k + 1], i[k + 1]);
        acc.vv += x0 * x0 + x1 * x1;
        acc.ii += y0 * y0 + y1 * y1;
        acc.vi += x0 * y0 + x1 * y1;
        acc.v1 += ra * x0 + rb * x1;
        acc.i1 += ra * y0 + rb * y1;
        peak_v = peak_v.max(x0.abs()).max(x1.abs());
        peak_i = peak_i.max(y0.abs()).max(y1.abs());
        ra *= step2;
        rb *= step2;
        k += 2;
        pairs += 1;
        if pairs.is_multiple_of(128) {
            // Keep the recurrences on the unit circle.
            ra /= ra.norm();
            rb /= rb.norm();
        }
    }
    if k == kb {
        let (x, y) = (v[k], i[k]);
        acc.vv += x * x;
        acc.ii += y * y;
        acc.vi += x * y;
        acc.v1 += ra * x;
        acc.i1 += ra * y;
        peak_v = peak_v.max(x.abs());
        peak_i = peak_i.max(y.abs());
    }
    for g in [ka, kb] {
        let (x, y) = (v[g], i[g]);
        let r = Complex64::from_polar(0.5, -theta * (g as f64 - a));
        acc.vv -= 0.5 * x * x;
        acc.ii -= 0.5 * y * y;
        acc.vi -= 0.5 * x * y;
        acc.v1 -= r * x;
        acc.i1 -= r * y;
    }
    // End pieces [a, ka] and [kb, b]: trapezoid between the interpolated edge and the grid point.
    let lerp = |s: &[f64], x: f64| {
        let k = x.floor() as usize;
        let f = x - k as f64;
        if f == 0.0 {
            s[k]
        } else {
            s[k] * (1.0 - f) + s[k + 1] * f
        }
    };
    for (edge, grid, width) in [(a, ka, ka as f64 - a), (b, kb, b - kb as f64)] {
        if width <= 0.0 {
            continue;
        }
        let (xe, ye) = (lerp(v, edge), lerp(i, edge));
        let (xg, yg) = (v[grid], i[grid]);
        let re = Complex64::from_polar(1.0, -theta * (edge - a));
        let rg = Complex64::from_polar(1.0, -theta * (grid as f64 - a));
        let h = 0.5 * width;
        acc.vv += h * (xe * xe + xg * xg);
        acc.ii += h * (ye * ye + yg * yg);
        acc.vi += h * (xe * ye + xg * yg);
        acc.v1 += (re * xe + rg * xg) * h;
        acc.i1 += (re * ye + rg * yg) * h;
    }
    let vrms = (acc.vv / len).sqrt();
    let irms = (acc.ii / len).sqrt();
    let p = acc.vi / len;
    // Fourier coefficient (peak) = 2/T ∫ x e^{-jωt}; RMS phasor = peak / √2.
    let v1 = acc.v1 * (2.0 / len / std::f64::consts::SQRT_2);
    let measured_i1 = acc.i1 * (2.0 / len / std::f64::consts::SQRT_2);
    let i1 = measured_i1 * Complex64::from_polar(1.0, lag_rad);
    let s1 = v1 * i1.conj();
    // The phase error moved real power between P and Q at the fundamental only.
    let p = p + s1.re - (v1 * measured_i1.conj()).re;
    let s = vrms * irms;
    let thd = |rms: f64, fund: f64| {
        if fund > 0.0 {
            (rms * rms - fund * fund).max(0.0).sqrt() / fund
        } else {
            0.0
        }
    };
    let (v1m, i1m) = (v1.norm(), i1.norm());
    Window {
        start: a,
        end: b,
        cycles,
        vrms,
        irms,
        p,
        p1: s1.re,
        q1: s1.im,
        s,
        pf: if s > 0.0 { p / s } else { 0.0 },
        dpf: if s1.norm() > 0.0 {
            s1.re / s1.norm()
        } else {
            0.0
        },
        crest_v: if vrms > 0.0 { peak_v / vrms } else { 0.0 },
        crest_i: if irms > 0.0 { peak_i / irms } else { 0.0 },
        thd_v: thd(vrms, v1m),
        thd_i: thd(irms, i1m),
        freq: rate * f64::from(cycles) / len,
    }
}

/// Streaming analyser: push samples, get a window each time N more cycles have completed.
#[derive(Debug, Clone)]
pub struct Analyzer {
    rate: f64,
    cycles_per_window: u32,
    v: Vec<f64>,
    i: Vec<f64>,
    /// Sample index of `v[0]`.
    offset: u64,
    /// Positive zero crossings of v in the current window, as absolute fractional indices.
    crossings: Vec<f64>,
    detector: CrossingDetector,
    v_cal: Calibration,
    i_cal: Calibration,
    pub energy: Energy,
}

/// Energy registers, as a meter keeps them: import and export separately so none ever runs
/// backwards. J and var·s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Energy {
    pub import_j: f64,
    pub export_j: f64,
    /// Fundamental reactive energy with the current lagging (inductive) and leading.
    pub lagging_vars: f64,
    pub leading_vars: f64,
}

impl Energy {
    /// Add a window's worth of power over `secs` seconds.
    pub fn add(&mut self, p: f64, q1: f64, secs: f64) {
        let secs = secs.max(0.0);
        self.import_j += p.max(0.0) * secs;
        self.export_j += (-p).max(0.0) * secs;
        self.lagging_vars += q1.max(0.0) * secs;
        self.leading_vars += (-q1).max(0.0) * secs;
    }

    pub fn import_kwh(&self) -> f64 {
        self.import_j / 3.6e6
    }
}

/// IEC 61000-4-30 aggregation of consecutive windows (15 of them make the 150/180-cycle value;
/// 10-minute values aggregate those): RMS quantities as the root of the time-weighted mean
/// square, powers and frequency as time-weighted means, PF and DPF from the aggregated powers,
/// crest factors as the worst seen. None for no windows.
pub fn aggregate(windows: &[Window]) -> Option<Window> {
    let first = windows.first()?;
    let last = windows.last()?;
    let total: f64 = windows.iter().map(|w| w.end - w.start).sum();
    if total <= 0.0 {
        return None;
    }
    let mean = |f: &dyn Fn(&Window) -> f64| {
        windows
            .iter()
            .map(|w| f(w) * (w.end - w.start))
            .sum::<f64>()
            / total
    };
    let rms = |f: &dyn Fn(&Window) -> f64| mean(&|w| f(w).powi(2)).sqrt();
    let (vrms, irms) = (rms(&|w| w.vrms), rms(&|w| w.irms));
    let (p, q1) = (mean(&|w| w.p), mean(&|w| w.q1));
    let p1 = mean(&|w| w.p1);
    let s = vrms * irms;
    let s1 = p1.hypot(q1);
    let worst = |f: &dyn Fn(&Window) -> f64| windows.iter().map(f).fold(0.0, f64::max);
    Some(Window {
        start: first.start,
        end: last.end,
        cycles: windows.iter().map(|w| w.cycles).sum(),
        vrms,
        irms,
        p,
        p1,
        q1,
        s,
        pf: if s > 0.0 { p / s } else { 0.0 },
        dpf: if s1 > 0.0 { p1 / s1 } else { 0.0 },
        crest_v: worst(&|w| w.crest_v),
        crest_i: worst(&|w| w.crest_i),
        thd_v: rms(&|w| w.thd_v),
        thd_i: rms(&|w| w.thd_i),
        freq: mean(&|w| w.freq),
    })
}

/// Finds positive-going zero crossings by linear interpolation. After a crossing the signal
/// must fall below `-hysteresis` before the next one counts, so noise near zero is not a cycle.
#[derive(Debug, Clone, Default)]
pub(crate) struct CrossingDetector {
    armed: bool,
    hysteresis: f64,
}

impl CrossingDetector {
    pub(crate) fn new(hysteresis: f64) -> Self {
        CrossingDetector {
            armed: false,
            hysteresis,
        }
    }

    /// Samples `prev` at index k - 1 and `cur` at k: the crossing's fractional index, if any.
    #[inline]
    pub(crate) fn feed(&mut self, prev: f64, cur: f64, k: u64) -> Option<f64> {
        if cur < -self.hysteresis {
            self.armed = true;
        }
        if self.armed && prev < 0.0 && cur >= 0.0 {
            self.armed = false;
            return Some((k - 1) as f64 + (-prev) / (cur - prev));
        }
        None
    }
}

/// Positive-going zero crossings of `v` as fractional sample indices.
pub fn zero_crossings(v: &[f64], hysteresis: f64) -> Vec<f64> {
    let mut d = CrossingDetector::new(hysteresis);
    (1..v.len())
        .filter_map(|k| d.feed(v[k - 1], v[k], k as u64))
        .collect()
}

impl Analyzer {
    /// `rate` in samples/s; `nominal_hz` picks the window: 10 cycles at 50 Hz, 12 at 60 Hz.
    pub fn new(rate: f64, nominal_hz: f64) -> Self {
        Analyzer {
            rate,
            cycles_per_window: if nominal_hz > 55.0 { 12 } else { 10 },
            v: Vec::new(),
            i: Vec::new(),
            offset: 0,
            crossings: Vec::new(),
            detector: CrossingDetector::default(),
            v_cal: Calibration::default(),
            i_cal: Calibration::default(),
            energy: Energy::default(),
        }
    }

    pub fn with_calibration(mut self, v: Calibration, i: Calibration) -> Self {
        self.v_cal = v;
        self.i_cal = i;
        self
    }

    /// Feed one sample pair; returns a window when one completes. Inlined: it runs per sample.
    #[inline]
    pub fn push(&mut self, v: f64, i: f64) -> Option<Window> {
        let (v, i) = (self.v_cal.apply(v), self.i_cal.apply(i));
        let k = self.offset + self.v.len() as u64;
        if let Some(&prev) = self.v.last()
            && let Some(x) = self.detector.feed(prev, v, k)
        {
            self.crossings.push(x);
        }
        self.v.push(v);
        self.i.push(i);
        if self.crossings.is_empty() {
            // Nothing to measure yet: keep only the last sample for the crossing test.
            if self.v.len() > 1 {
                self.offset += (self.v.len() - 1) as u64;
                self.v.drain(..self.v.len() - 1);
                self.i.drain(..self.i.len() - 1);
            }
            return None;
        }
        if self.crossings.len() <= self.cycles_per_window as usize {
            return None;
        }
        // The window ends at the latest crossing, whose next sample we now hold.
        let a = self.crossings[0] - self.offset as f64;
        let b = self.crossings[self.cycles_per_window as usize] - self.offset as f64;
        let lag = (self.i_cal.phase_deg - self.v_cal.phase_deg).to_radians();
        let mut w = analyse_corrected(
            &self.v,
            &self.i,
            a,
            b,
            self.cycles_per_window,
            self.rate,
            lag,
        );
        w.start += self.offset as f64;
        w.end += self.offset as f64;
        let secs = (b - a) / self.rate;
        self.energy.add(w.p, w.q1, secs);
        self.detector.hysteresis = 0.05 * w.vrms;
        // The next window starts where this one ended.
        let keep_from = b.floor() as usize;
        self.offset += keep_from as u64;
        self.v.drain(..keep_from);
        self.i.drain(..keep_from);
        let last = self.crossings[self.cycles_per_window as usize];
        self.crossings.clear();
        self.crossings.push(last);
        Some(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{PI, SQRT_2, TAU};

    /// The reference case: V = 230 V at 0° plus 5 % 3rd; I = 10 A at -30° plus 20 % 3rd
    /// and 10 % 5th (harmonic phases 0). Independent answers by Parseval:
    /// Vrms = 230 √(1 + 0.05²), Irms = 10 √(1 + 0.2² + 0.1²),
    /// P = 230·10·cos 30° + 230·0.05·10·0.2·cos(0 - 3·(-0)) ... computed per harmonic below.
    fn reference(f: f64, rate: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
        let w = TAU * f;
        let phi = -30f64.to_radians();
        (0..n)
            .map(|k| {
                let t = k as f64 / rate;
                let v = 230.0 * SQRT_2 * ((w * t).sin() + 0.05 * (3.0 * w * t).sin());
                let i = 10.0
                    * SQRT_2
                    * ((w * t + phi).sin()
                        + 0.2 * (3.0 * (w * t + phi)).sin()
                        + 0.1 * (5.0 * (w * t + phi)).sin());
                (v, i)
            })
            .unzip()
    }

    fn close(x: f64, want: f64, rel: f64, what: &str) {
        assert!(
            (x - want).abs() <= rel * want.abs(),
            "{what}: {x} vs {want} (allowed {rel:e} relative)"
        );
    }

    #[test]
    fn reference_case_at_every_frequency_and_rate() {
        let vrms = 230.0 * (1.0f64 + 0.05 * 0.05).sqrt();
        let irms = 10.0 * (1.0f64 + 0.04 + 0.01).sqrt();
        // P per harmonic: V_h I_h cos(angle_v,h - angle_i,h). Fundamental: 2300 cos 30°.
        // 3rd: 11.5 V · 2 A · cos(0 - 3·(-30°)) = 23 cos 90° = 0.
        let p = 2300.0 * (PI / 6.0).cos() + 11.5 * 2.0 * (PI / 2.0).cos();
        let q1 = 2300.0 * (PI / 6.0).sin();
        let thd_v = 0.05;
        let thd_i = (0.04f64 + 0.01).sqrt();
        for rate in [1800.0, 3200.0] {
            for f in [45.0, 49.7, 50.0, 60.0, 65.0] {
                let nominal = if f > 55.0 { 60.0 } else { 50.0 };
                let (v, i) = reference(f, rate, (rate * 1.2) as usize);
                let mut an = Analyzer::new(rate, nominal);
                let windows: Vec<Window> = v
                    .iter()
                    .zip(&i)
                    .filter_map(|(&v, &i)| an.push(v, i))
                    .collect();
                assert!(
                    windows.len() >= 3,
                    "{f} Hz at {rate}: {} windows",
                    windows.len()
                );
                for w in &windows {
                    let at = format!("{f} Hz, {rate} S/s");
                    close(w.vrms, vrms, 1e-3, &format!("vrms {at}"));
                    close(w.irms, irms, 1e-3, &format!("irms {at}"));
                    close(w.p, p, 1e-3, &format!("p {at}"));
                    close(w.s, vrms * irms, 1e-3, &format!("s {at}"));
                    close(w.pf, p / (vrms * irms), 1e-3, &format!("pf {at}"));
                    close(w.q1, q1, 1e-3, &format!("q1 {at}"));
                    close(w.dpf, (PI / 6.0).cos(), 1e-3, &format!("dpf {at}"));
                    assert!((w.freq - f).abs() < 0.01, "freq {at}: {}", w.freq);
                    assert!((w.thd_v - thd_v).abs() < 0.002, "thd_v {at}: {}", w.thd_v);
                    assert!((w.thd_i - thd_i).abs() < 0.002, "thd_i {at}: {}", w.thd_i);
                    assert_eq!(w.cycles, if nominal == 60.0 { 12 } else { 10 });
                }
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// For any waveform pair: |P| <= S, PF within [-1, 1], and no energy register ever
        /// decreases, window after window.
        #[test]
        fn p_never_exceeds_s_and_energy_never_decreases(
            f in 45.0f64..65.0,
            rate in prop::sample::select(vec![1800.0, 3200.0, 4000.0]),
            harmonics in prop::collection::vec((2u32..9, 0.0f64..0.3, 0.0f64..TAU, 0.0f64..0.3, 0.0f64..TAU), 0..4),
            phi in -PI..PI,
            noise_seed in any::<u64>(),
        ) {
            let w = TAU * f;
            let mut an = Analyzer::new(rate, if f > 55.0 { 60.0 } else { 50.0 });
            let mut last = Energy::default();
            let mut rng = noise_seed | 1;
            for k in 0..(rate as usize) {
                let t = k as f64 / rate;
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                let noise = (rng % 1000) as f64 / 1000.0 - 0.5;
                let mut v = 325.0 * (w * t).sin() + noise;
                let mut i = 14.0 * (w * t + phi).sin();
                for &(h, av, pv, ai, pi) in &harmonics {
                    v += 325.0 * av * (f64::from(h) * w * t + pv).sin();
                    i += 14.0 * ai * (f64::from(h) * w * t + pi).sin();
                }
                if let Some(x) = an.push(v, i) {
                    prop_assert!(x.p.abs() <= x.s * (1.0 + 1e-9), "P {} > S {}", x.p, x.s);
                    prop_assert!(x.pf.abs() <= 1.0 + 1e-9);
                    let e = an.energy;
                    prop_assert!(e.import_j >= last.import_j && e.export_j >= last.export_j);
                    prop_assert!(e.lagging_vars >= last.lagging_vars && e.leading_vars >= last.leading_vars);
                    last = e;
                }
            }
        }
    }

    #[test]
    fn crossings_are_interpolated_and_debounced() {
        // A ramp through zero between samples 2 and 3, at 2.25; then chatter around zero that
        // never goes below the hysteresis does not count again.
        let v = [-3.0, -2.0, -1.0, 3.0, 0.5, -0.1, 0.2, -0.05, 0.3, -5.0, 5.0];
        assert_eq!(zero_crossings(&v, 1.0), vec![2.25, 9.5]);
        assert_eq!(zero_crossings(&v, 0.0).len(), 4);
    }

    /// A current transducer reading 0.4 of the current plus 0.02 of offset and lagging
    /// `lag_deg`, and a voltage channel at 0.01 of the voltage, through a calibration that
    /// claims a `cal_deg` lag: the last window, and the same signals measured directly.
    fn calibrated(lag_deg: f64, cal_deg: f64) -> (Window, Window) {
        let (rate, f) = (3200.0, 50.0);
        let phi = -30f64.to_radians();
        let lag = lag_deg.to_radians();
        let mut plain = Analyzer::new(rate, 50.0);
        let v_cal = Calibration {
            gain: 100.0,
            ..Calibration::default()
        };
        let i_cal = Calibration {
            gain: 2.5,
            offset: 0.02,
            phase_deg: cal_deg,
        };
        let mut cal = Analyzer::new(rate, 50.0).with_calibration(v_cal, i_cal);
        let (mut wp, mut wc) = (None, None);
        for k in 0..3200 {
            let w = TAU * f * k as f64 / rate;
            let (v, i) = (325.27 * w.sin(), 14.142 * (w + phi).sin());
            let (rv, ri) = (0.01 * v, 0.4 * 14.142 * (w + phi - lag).sin() + 0.02);
            wp = plain.push(v, i).or(wp);
            wc = cal.push(rv, ri).or(wc);
        }
        (wp.unwrap(), wc.unwrap())
    }

    #[test]
    fn calibration_undoes_a_sensor_gain_offset_and_phase_error() {
        let (wp, wc) = calibrated(3.0, 3.0);
        close(wc.vrms, wp.vrms, 1e-4, "vrms");
        close(wc.irms, wp.irms, 1e-4, "irms");
        close(wc.p, wp.p, 1e-3, "p");
        close(wc.q1, wp.q1, 1e-3, "q1");
        close(wc.dpf, wp.dpf, 1e-4, "dpf");
        close(wp.dpf, (PI / 6.0).cos(), 1e-4, "dpf truth");
        // Without the phase term the 3° lag shows: P off by about 3 %.
        let (wp, wc) = calibrated(3.0, 0.0);
        assert!((wc.p / wp.p - 1.0).abs() > 0.02, "{} vs {}", wc.p, wp.p);
    }

    #[test]
    fn aggregation_weights_by_time_and_squares_rms() {
        let w = |start: f64, len: f64, vrms: f64, p: f64| Window {
            start,
            end: start + len,
            cycles: 10,
            vrms,
            irms: 1.0,
            p,
            p1: p,
            q1: 0.0,
            s: vrms,
            pf: 1.0,
            dpf: 1.0,
            crest_v: 1.5,
            crest_i: 1.4,
            thd_v: 0.0,
            thd_i: 0.0,
            freq: 50.0,
        };
        // 230 V for 640 samples, then 200 V for 1920: V = √((230²·1 + 200²·3) / 4).
        let a = aggregate(&[w(0.0, 640.0, 230.0, 100.0), w(640.0, 1920.0, 200.0, 300.0)]).unwrap();
        close(
            a.vrms,
            ((230.0f64.powi(2) + 3.0 * 200.0f64.powi(2)) / 4.0).sqrt(),
            1e-12,
            "vrms",
        );
        close(a.p, (100.0 + 3.0 * 300.0) / 4.0, 1e-12, "p");
        assert_eq!((a.start, a.end, a.cycles), (0.0, 2560.0, 20));
        close(a.dpf, 1.0, 1e-12, "dpf");
        assert!(aggregate(&[]).is_none());
    }

    #[test]
    fn crest_factor_of_a_pure_sine_is_root_two() {
        let rate = 3200.0;
        let (v, _) = reference(50.0, rate, 4000);
        let pure: Vec<f64> = (0..4000)
            .map(|k| 100.0 * (TAU * 50.0 * k as f64 / rate + 0.3).sin())
            .collect();
        let mut an = Analyzer::new(rate, 50.0);
        let w = pure
            .iter()
            .zip(&v)
            .filter_map(|(&x, _)| an.push(x, x / 10.0))
            .last()
            .unwrap();
        close(w.crest_v, SQRT_2, 2e-3, "crest");
        close(w.pf, 1.0, 1e-6, "resistive pf");
        assert!(w.thd_v < 1e-3);
    }
}
