//! A circuit's values from an ADS1115's multiplexed samples. Each current is taken some
//! conversions after its frame's voltage (up to 3.5 ms, 63° at 50 Hz), so a power factor from
//! the products of a frame's samples is badly wrong. `Metering` fits each channel's fundamental
//! (a cos ωt + b sin ωt, least squares, Hann-weighted over the window) at its samples' own
//! instants, so the skew between channels is nothing and conversions left unread cost samples
//! rather than accuracy; P is the product of the fitted phasors, an RMS the fitted
//! fundamental's with what lies beyond it (harmonics). The part's delta-sigma filter averages
//! each conversion over its period, which shortens the fundamental by sinc(f T); it is divided
//! out.

use std::collections::VecDeque;
use std::f64::consts::PI;

use crate::ads1115::Rate;
use crate::node::Values;

/// The window the values are over: 10 cycles at 50 Hz, as the nodes'.
pub const WINDOW_S: f64 = 0.2;

/// One input's samples: the conversion's mid-point (s), which input, the sensor's value (SI
/// units).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    t: f64,
    input: u8,
    value: f64,
}

/// The metering of one ADS1115's inputs: input 0 is the voltage, 1.. the currents.
#[derive(Debug, Clone)]
pub struct Metering {
    period: f64,
    inputs: u8,
    nominal_hz: f64,
    skew_correction: bool,
    samples: VecDeque<Sample>,
    hz: f64,
    /// Each current's energy, J, and the time it was last integrated to.
    energy: Vec<f64>,
    integrated_to: Option<f64>,
}

/// A current channel's values over the window, and its largest RMS over 2.5 cycles in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metered {
    pub values: Values,
    pub i_fast: f64,
    /// Net active energy since start, J.
    pub energy: f64,
}

impl Metering {
    pub fn new(rate: Rate, inputs: u8, nominal_hz: f64) -> Metering {
        Metering {
            period: 1.0 / f64::from(rate.sps()),
            inputs: inputs.max(2),
            nominal_hz,
            skew_correction: true,
            samples: VecDeque::new(),
            hz: 0.0,
            energy: vec![0.0; usize::from(inputs.max(2) - 1)],
            integrated_to: None,
        }
    }

    /// Without the voltage-current skew correction: each current paired with the voltage
    /// converted before it (for the figure of what the correction is worth).
    pub fn without_skew_correction(mut self) -> Metering {
        self.skew_correction = false;
        self
    }

    /// A conversion of `input`, its mid-point at `t` (s), gave `value`.
    pub fn push(&mut self, t: f64, input: u8, value: f64) {
        self.samples.push_back(Sample { t, input, value });
        let keep = WINDOW_S + 2.0 * f64::from(self.inputs) * self.period;
        while self.samples.front().is_some_and(|s| s.t < t - keep) {
            self.samples.pop_front();
        }
    }

    /// Forget the samples (they may be garbled); the energy and frequency stay.
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The last conversion's mid-point, if any.
    pub fn last_time(&self) -> Option<f64> {
        self.samples.back().map(|s| s.t)
    }

    /// The samples in the window ending at the last one.
    fn window(&self) -> impl Iterator<Item = &Sample> {
        let last = self.last_time().unwrap_or(0.0);
        let from = last - WINDOW_S + 0.5 * self.period;
        self.samples.iter().filter(move |s| s.t > from)
    }

    /// The frequency from the voltage's rising zero crossings, each placed by the sine through
    /// the samples either side (exact for a sinusoid of the frequency assumed; two passes).
    /// Samples more than half a cycle apart (conversions left unread) place no crossing, so the
    /// cycles between the first and the last are counted by the frequency assumed too.
    fn frequency(&self, v: &[(f64, f64)]) -> f64 {
        let mut hz = if self.hz > 0.0 {
            self.hz
        } else {
            self.nominal_hz
        };
        for _ in 0..2 {
            let mut first = None;
            let mut last = 0.0;
            let mut crossings = 0u32;
            for w in v.windows(2) {
                let ((t0, v0), (t1, v1)) = (w[0], w[1]);
                if !(v0 < 0.0 && v1 >= 0.0) {
                    continue;
                }
                let dt = t1 - t0;
                let step = 2.0 * PI * hz * dt;
                if step >= PI {
                    continue;
                }
                // v0 = A sin(θ0), v1 = A sin(θ0 + step): θ0 from both, the crossing at θ = 0.
                let theta0 = (v0 * step.sin()).atan2(v1 - v0 * step.cos());
                let t = t0 - theta0 / (2.0 * PI * hz);
                first.get_or_insert(t);
                last = t;
                crossings += 1;
            }
            match first {
                Some(t0) if crossings >= 2 && last > t0 => {
                    let cycles = f64::from(crossings - 1).max(((last - t0) * hz).round());
                    hz = cycles / (last - t0);
                }
                _ => return 0.0,
            }
        }
        hz
    }

    /// The values of each current channel over the window, or None before a whole window.
    pub fn values(&mut self) -> Option<Vec<Metered>> {
        let last = self.last_time()?;
        let window: Vec<Sample> = self.window().copied().collect();
        // Half the window's conversions at least (a control step may leave some unread).
        if window.len() < (WINDOW_S / self.period * 0.5) as usize {
            return None;
        }
        let v: Vec<(f64, f64)> = window
            .iter()
            .filter(|s| s.input == 0)
            .map(|s| (s.t, s.value))
            .collect();
        let hz = self.frequency(&v);
        self.hz = hz;
        let f = if hz > 0.0 { hz } else { self.nominal_hz };
        // The conversion's average over its period shortens the fundamental.
        let x = PI * f * self.period;
        let sinc = x.sin() / x;
        // Sums over the window are Hann-weighted in time, which keeps what a window of other
        // than whole cycles would leak into them small.
        let start = last - WINDOW_S + 0.5 * self.period;
        let hann = |t: f64| (PI * (t - start) / WINDOW_S).sin().powi(2);
        let weighted = |xs: &mut dyn Iterator<Item = (f64, f64)>| {
            let (w, s) = xs.fold((0.0, 0.0), |(w, s), (t, x)| (w + hann(t), s + hann(t) * x));
            if w > 0.0 { s / w } else { 0.0 }
        };
        // a cos ωt + b sin ωt through the samples, least squares with the same weights.
        let w = 2.0 * PI * f;
        let fit = |xs: &[(f64, f64)]| {
            let (mut cc, mut cs, mut ss, mut xc, mut xs_) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(t, x) in xs {
                let k = hann(t);
                let (c, s) = ((w * t).cos(), (w * t).sin());
                cc += k * c * c;
                cs += k * c * s;
                ss += k * s * s;
                xc += k * x * c;
                xs_ += k * x * s;
            }
            let det = cc * ss - cs * cs;
            if det.abs() < 1e-12 {
                return (0.0, 0.0);
            }
            ((xc * ss - xs_ * cs) / det, (xs_ * cc - xc * cs) / det)
        };
        // The RMS: the fitted fundamental's (its shortening divided out) and what the samples
        // hold beyond it (harmonics), so that unread conversions do not bias it either.
        let rms_of = |xs: &[(f64, f64)]| {
            let (c, s) = fit(xs);
            let beyond = weighted(
                &mut xs
                    .iter()
                    .map(|&(t, x)| (t, (x - c * (w * t).cos() - s * (w * t).sin()).powi(2))),
            );
            ((c * c + s * s) / 2.0 / (sinc * sinc) + beyond).sqrt()
        };
        let rms = |xs: &mut dyn Iterator<Item = f64>| {
            let (n, s) = xs.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x * x));
            if n == 0 {
                0.0
            } else {
                (s / f64::from(n)).sqrt()
            }
        };
        let v_rms = rms_of(&v);
        let (vc, vs) = fit(&v);
        let cycle = 1.0 / (f * self.period);
        let mut out = Vec::with_capacity(usize::from(self.inputs - 1));
        for input in 1..self.inputs {
            let i: Vec<(f64, f64)> = window
                .iter()
                .filter(|s| s.input == input)
                .map(|s| (s.t, s.value))
                .collect();
            let i_rms = rms_of(&i);
            // The fundamental's power from each channel's own fundamental phasor, fitted at the
            // samples' own instants: the skew between the channels is then nothing, and
            // conversions left unread cost samples, not accuracy. Uncorrected: each current
            // with the voltage converted before it, as if taken together.
            let p = if self.skew_correction {
                let (ic, is) = fit(&i);
                (vc * ic + vs * is) / 2.0 / (sinc * sinc)
            } else {
                let products: Vec<(f64, f64)> = i
                    .iter()
                    .filter_map(|&(t, x)| {
                        let before = v.partition_point(|s| s.0 < t).checked_sub(1)?;
                        Some((t, v[before].1 * x))
                    })
                    .collect();
                weighted(&mut products.iter().copied()) / (sinc * sinc)
            };
            // The largest RMS over any 2.5 cycles of this current's samples in the window: at four
            // samples a cycle, a single cycle's RMS is too rough to trip on.
            let span = (2.5 * cycle / f64::from(self.inputs)).round().max(1.0) as usize;
            let i_fast = i
                .windows(span.min(i.len()).max(1))
                .map(|w| rms(&mut w.iter().map(|s| s.1)) / sinc)
                .fold(i_rms, f64::max);
            out.push(Metered {
                values: Values::new(v_rms, i_rms, p, hz),
                i_fast,
                energy: 0.0,
            });
        }
        // Energy: each window's power over the time since the last values.
        let from = self.integrated_to.unwrap_or(last);
        let dt = last - from;
        for (e, m) in self.energy.iter_mut().zip(out.iter_mut()) {
            *e += m.values.p * dt;
            m.energy = *e;
        }
        self.integrated_to = Some(last);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's conversions of 230 V and `amps` lagging by `deg` at `hz`, each averaged over
    /// its period as the part does.
    fn feed(m: &mut Metering, hz: f64, amps: f64, deg: f64, seconds: f64) {
        let period = 1.0 / 860.0;
        let n = i64::from(m.inputs);
        let avg = |f: &dyn Fn(f64) -> f64, k: i64| {
            (0..32)
                .map(|j| f((k as f64 + (f64::from(j) + 0.5) / 32.0) * period))
                .sum::<f64>()
                / 32.0
        };
        let w = 2.0 * PI * hz;
        let v = |t: f64| 230.0 * 2f64.sqrt() * (w * t).sin();
        let i = |t: f64| amps * 2f64.sqrt() * (w * t - deg.to_radians()).sin();
        for k in 0..(seconds / period) as i64 {
            let input = (k % n) as u8;
            let x = if input == 0 { avg(&v, k) } else { avg(&i, k) };
            m.push((k as f64 + 0.5) * period, input, x);
        }
    }

    /// The largest power-factor error over the channels.
    fn worst_pf_error(m: &mut Metering, pf: f64) -> f64 {
        m.values()
            .unwrap()
            .iter()
            .map(|x| (x.values.pf - pf).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn values_match_the_closed_form_at_pf_half_only_with_the_skew_correction() {
        for (hz, inputs) in [
            (49.5, 4),
            (50.0, 4),
            (50.5, 4),
            (60.0, 4),
            (50.0, 3),
            (50.0, 2),
        ] {
            let mut m = Metering::new(Rate::Sps860, inputs, 50.0);
            feed(&mut m, hz, 10.0, 60.0, 0.5);
            for (c, x) in m.values().unwrap().iter().enumerate() {
                let v = x.values;
                assert!((v.v_rms / 230.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.i_rms / 10.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.p / 1150.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.pf - 0.5).abs() < 0.005, "{hz} {c}: {v:?}");
                assert!((v.hz - hz).abs() < 0.05, "{hz} {c}: {v:?}");
            }
            let mut raw = Metering::new(Rate::Sps860, inputs, 50.0).without_skew_correction();
            feed(&mut raw, hz, 10.0, 60.0, 0.5);
            let worst = worst_pf_error(&mut raw, 0.5);
            // The last current is up to three conversions (3.5 ms, 63° at 50 Hz) after its
            // voltage.
            assert!(worst > 0.15, "{hz}: uncorrected PF error only {worst}");
            let corrected = worst_pf_error(&mut m, 0.5);
            println!(
                "{hz} Hz, {inputs} inputs: PF 0.5 read with error {corrected:.5} corrected, {worst:.3} uncorrected"
            );
        }
    }

    #[test]
    fn a_dead_voltage_has_no_frequency_and_energy_integrates_the_power() {
        let mut m = Metering::new(Rate::Sps860, 2, 50.0);
        for k in 0..400 {
            m.push((k as f64 + 0.5) / 860.0, (k % 2) as u8, 0.0);
        }
        assert_eq!(m.values().unwrap()[0].values.hz, 0.0);
        let mut m = Metering::new(Rate::Sps860, 2, 50.0);
        feed(&mut m, 50.0, 4.0, 0.0, 0.3);
        let e0 = m.values().unwrap()[0].energy;
        let period = 1.0 / 860.0;
        // The last conversion `feed` gave.
        let k0 = (0.3 / period) as i64 - 1;
        let n = 2;
        let w = 2.0 * PI * 50.0;
        for k in k0 + 1..k0 + 1 + 860 {
            let t = (k as f64 + 0.5) * period;
            let x = if k % n == 0 {
                230.0 * 2f64.sqrt() * (w * t).sin()
            } else {
                4.0 * 2f64.sqrt() * (w * t).sin()
            };
            m.push(t, (k % n) as u8, x);
            if k % 20 == 0 {
                m.values();
            }
        }
        let e1 = m.values().unwrap()[0].energy;
        // One second at 920 W.
        assert!(((e1 - e0) / 920.0 - 1.0).abs() < 0.02, "{}", e1 - e0);
    }
}
