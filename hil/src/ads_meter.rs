//! The ADS1115 metered live (the monitoring seed's reference wiring: a ZMPT101B on one input,
//! current sensors on the others): the part converting continuously at 860 samples/s with its
//! multiplexer stepped through the inputs, and the circuits' V, I, P, PF, f and energy from the
//! samples.
//!
//! A frame is a voltage conversion and then one per current. Each current is taken `c + 1`
//! conversions after its frame's voltage, up to 4.7 ms (84° at 50 Hz) later, so a power factor
//! from the products of the frame's samples is badly wrong. `Metering` corrects it: the current
//! is paired with the voltage before it (a skew of -(c+1) conversions) and the one after it (the
//! next frame's, +(n-1-c)); two such averages of v·i at known phase offsets give P and Q exactly
//! for the fundamental. The part's delta-sigma filter averages each conversion over its period,
//! which shortens the fundamental by sinc(f T); the RMS values and powers are divided by it.
//!
//! The stream shares the I2C bus with the measurement nodes, so it writes the two registers it
//! needs itself (SBAS444's config and conversion registers) rather than through `ads1x1x`,
//! which owns its bus.

use std::collections::VecDeque;
use std::f64::consts::PI;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::ads1115::{Calibration, Input, Range, Rate};
use crate::node::Values;

/// The window the values are over: 10 cycles at 50 Hz, as the nodes'.
pub const WINDOW_S: f64 = 0.2;

/// One input's samples: conversion index, which input, the sensor's value (SI units).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    k: i64,
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
    /// Each current's energy, J, and the conversion index it was last integrated to.
    energy: Vec<f64>,
    integrated_to: Option<i64>,
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

    /// Without the voltage-current skew correction: each current paired with its frame's
    /// voltage (for the figure of what the correction is worth).
    pub fn without_skew_correction(mut self) -> Metering {
        self.skew_correction = false;
        self
    }

    /// The conversion's mid-point, s since the stream started.
    fn time(&self, k: i64) -> f64 {
        (k as f64 + 0.5) * self.period
    }

    /// Conversion `k` of `input` gave `value`.
    pub fn push(&mut self, k: i64, input: u8, value: f64) {
        self.samples.push_back(Sample { k, input, value });
        let keep = (WINDOW_S / self.period).ceil() as i64 + 2 * i64::from(self.inputs);
        while self.samples.front().is_some_and(|s| s.k < k - keep) {
            self.samples.pop_front();
        }
    }

    /// The last conversion's index, if any.
    pub fn last(&self) -> Option<i64> {
        self.samples.back().map(|s| s.k)
    }

    /// The samples in the window ending at the last one.
    fn window(&self) -> impl Iterator<Item = &Sample> {
        let last = self.last().unwrap_or(0);
        let span = (WINDOW_S / self.period).round() as i64;
        self.samples.iter().filter(move |s| s.k > last - span)
    }

    /// The frequency from the voltage's rising zero crossings, each placed by the sine through
    /// the samples either side (exact for a sinusoid of the frequency assumed; two passes).
    fn frequency(&self, v: &[(i64, f64)]) -> f64 {
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
                let ((k0, v0), (k1, v1)) = (w[0], w[1]);
                if !(v0 < 0.0 && v1 >= 0.0) {
                    continue;
                }
                let dt = (k1 - k0) as f64 * self.period;
                let step = 2.0 * PI * hz * dt;
                // v0 = A sin(θ0), v1 = A sin(θ0 + step): θ0 from both, the crossing at θ = 0.
                let theta0 = (v0 * step.sin()).atan2(v1 - v0 * step.cos());
                let t = self.time(k0) - theta0 / (2.0 * PI * hz);
                first.get_or_insert(t);
                last = t;
                crossings += 1;
            }
            match first {
                Some(t0) if crossings >= 2 && last > t0 => {
                    hz = f64::from(crossings - 1) / (last - t0);
                }
                _ => return 0.0,
            }
        }
        hz
    }

    /// The values of each current channel over the window, or None before a whole window.
    pub fn values(&mut self) -> Option<Vec<Metered>> {
        let last = self.last()?;
        let n = i64::from(self.inputs);
        let window: Vec<Sample> = self.window().copied().collect();
        if window.len() < (WINDOW_S / self.period * 0.8) as usize {
            return None;
        }
        let at = |k: i64, input: u8| {
            window
                .binary_search_by_key(&k, |s| s.k)
                .ok()
                .map(|i| window[i])
                .filter(|s| s.input == input)
                .map(|s| s.value)
        };
        let v: Vec<(i64, f64)> = window
            .iter()
            .filter(|s| s.input == 0)
            .map(|s| (s.k, s.value))
            .collect();
        let hz = self.frequency(&v);
        self.hz = hz;
        let f = if hz > 0.0 { hz } else { self.nominal_hz };
        // The conversion's average over its period shortens the fundamental.
        let x = PI * f * self.period;
        let sinc = x.sin() / x;
        // Means over the window are Hann-weighted: at four samples a cycle the window holds a
        // whole number of cycles only at 50 Hz, and the double-frequency terms of v², i² and v·i
        // would leak percents into the means; the weighting leaves them a few parts in 10^4.
        let span = (WINDOW_S / self.period).round();
        let start = (last + 1) as f64 - span;
        let hann = |k: i64| (PI * ((k as f64 - start + 0.5) / span)).sin().powi(2);
        let weighted = |xs: &mut dyn Iterator<Item = (i64, f64)>| {
            let (w, s) = xs.fold((0.0, 0.0), |(w, s), (k, x)| (w + hann(k), s + hann(k) * x));
            if w > 0.0 { s / w } else { 0.0 }
        };
        let rms = |xs: &mut dyn Iterator<Item = f64>| {
            let (n, s) = xs.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x * x));
            if n == 0 {
                0.0
            } else {
                (s / f64::from(n)).sqrt()
            }
        };
        let v_rms = weighted(&mut v.iter().map(|&(k, x)| (k, x * x))).sqrt() / sinc;
        let w = 2.0 * PI * f * self.period;
        let cycle = 1.0 / (f * self.period);
        let mut out = Vec::with_capacity(usize::from(self.inputs - 1));
        for c in 0..self.inputs - 1 {
            let input = c + 1;
            let i: Vec<(i64, f64)> = window
                .iter()
                .filter(|s| s.input == input)
                .map(|s| (s.k, s.value))
                .collect();
            let i_rms = weighted(&mut i.iter().map(|&(k, x)| (k, x * x))).sqrt() / sinc;
            // v·i with the voltage before the current and with the one after it.
            let lead = i64::from(input);
            let pairs: Vec<(i64, f64, f64)> = i
                .iter()
                .filter_map(|&(k, iv)| Some((k, at(k - lead, 0)? * iv, at(k - lead + n, 0)? * iv)))
                .collect();
            let p1 = weighted(&mut pairs.iter().map(|p| (p.0, p.1))) / (sinc * sinc);
            let p2 = weighted(&mut pairs.iter().map(|p| (p.0, p.2))) / (sinc * sinc);
            let p = if self.skew_correction {
                // p1 = P cos θ1 - Q sin θ1 and p2 = P cos θ2 - Q sin θ2, θ the voltage's lag.
                let (t1, t2) = (-w * lead as f64, w * (n - lead) as f64);
                (p1 * t2.sin() - p2 * t1.sin()) / (t2 - t1).sin()
            } else {
                p1
            };
            let s = v_rms * i_rms;
            // The largest RMS over any 2.5 cycles of this current's samples in the window: at four
            // samples a cycle, a single cycle's RMS is too rough to trip on.
            let span = (2.5 * cycle / n as f64).round().max(1.0) as usize;
            let i_fast = i
                .windows(span.min(i.len()).max(1))
                .map(|w| rms(&mut w.iter().map(|x| x.1)) / sinc)
                .fold(i_rms, f64::max);
            out.push(Metered {
                values: Values {
                    v_rms,
                    i_rms,
                    p,
                    pf: if s > 1e-9 {
                        (p / s).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    },
                    hz,
                },
                i_fast,
                energy: 0.0,
            });
        }
        // Energy: each window's power over the time since the last values.
        let from = self.integrated_to.unwrap_or(last);
        let dt = (last - from) as f64 * self.period;
        for (e, m) in self.energy.iter_mut().zip(out.iter_mut()) {
            *e += m.values.p * dt;
            m.energy = *e;
        }
        self.integrated_to = Some(last);
        Some(out)
    }
}

// The ADS1115's registers (SBAS444 section 8.6).
const CONVERSION: u8 = 0x00;
const CONFIG: u8 = 0x01;
/// Continuous conversion (MODE 0), the comparator disabled (COMP_QUE 11).
const CONTINUOUS: u16 = 0b11;

fn mux_bits(input: Input) -> u16 {
    (match input {
        Input::A0A1 => 0,
        Input::A0A3 => 1,
        Input::A1A3 => 2,
        Input::A2A3 => 3,
        Input::A0 => 4,
        Input::A1 => 5,
        Input::A2 => 6,
        Input::A3 => 7,
    }) << 12
}

fn pga_bits(range: Range) -> u16 {
    (match range {
        Range::V6_144 => 0,
        Range::V4_096 => 1,
        Range::V2_048 => 2,
        Range::V1_024 => 3,
        Range::V0_512 => 4,
        Range::V0_256 => 5,
    }) << 9
}

/// A sensor on one of the part's inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensor {
    pub input: Input,
    pub cal: Calibration,
}

/// One ADS1115 streaming: its inputs (the voltage first), the mux writes it has made and when
/// (a conversion measures the input selected when it started), and the metering.
pub struct Stream {
    pub address: u8,
    range: Range,
    rate: Rate,
    sensors: Vec<Sensor>,
    /// When conversion 0 started (clock s); None before the part is started.
    t0: Option<f64>,
    /// (time, input index) of each mux write still needed to label a conversion.
    writes: VecDeque<(f64, u8)>,
    next: i64,
    pub metering: Metering,
}

impl Stream {
    /// `sensors[0]` is the voltage; all at one PGA `range`.
    pub fn new(address: u8, range: Range, rate: Rate, sensors: Vec<Sensor>, hz: f64) -> Stream {
        let inputs = sensors.len() as u8;
        Stream {
            address,
            range,
            rate,
            sensors,
            t0: None,
            writes: VecDeque::new(),
            next: 0,
            metering: Metering::new(rate, inputs, hz),
        }
    }

    fn period(&self) -> f64 {
        1.0 / f64::from(self.rate.sps())
    }

    fn select<I: I2c>(&mut self, i2c: &mut I, input: u8, now: f64) -> Result<(), I::Error> {
        let dr = (self.rate as u16) << 5;
        let cfg = mux_bits(self.sensors[usize::from(input)].input)
            | pga_bits(self.range)
            | dr
            | CONTINUOUS;
        let [hi, lo] = cfg.to_be_bytes();
        i2c.write(self.address, &[CONFIG, hi, lo])?;
        self.writes.push_back((now, input));
        Ok(())
    }

    /// The input conversion `k` measured: the last selected before it started.
    fn input_of(&mut self, k: i64, t0: f64) -> u8 {
        let start = t0 + k as f64 * self.period();
        while self.writes.len() > 1 && self.writes[1].0 <= start {
            self.writes.pop_front();
        }
        self.writes.front().map_or(0, |w| w.1)
    }

    /// Read every conversion that completes before `until` (clock s), keeping the multiplexer
    /// a conversion ahead. A conversion not read before the next completes is lost; the
    /// metering works from those it has.
    pub fn run<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
        clock: &dyn Fn() -> f64,
        until: f64,
    ) -> Result<(), I::Error> {
        let period = self.period();
        let n = self.sensors.len() as i64;
        let t0 = match self.t0 {
            Some(t) => t,
            None => {
                // Conversion 0 (the voltage) starts now; conversion 1's input is written at
                // once, during it.
                let now = clock();
                self.select(i2c, 0, now)?;
                self.t0 = Some(now);
                self.select(i2c, 1, clock())?;
                now
            }
        };
        loop {
            let now = clock();
            let done = ((now - t0) / period).floor() as i64 - 1;
            if done >= self.next {
                let mut code = [0u8; 2];
                i2c.write_read(self.address, &[CONVERSION], &mut code)?;
                let volts = f64::from(i16::from_be_bytes(code)) * self.range.volts() / 32768.0;
                let input = self.input_of(done, t0);
                let value = self.sensors[usize::from(input)].cal.apply(volts);
                self.metering.push(done, input, value);
                self.next = done + 1;
                // We are within conversion done + 1: a write now sets done + 2's input.
                let want = ((done + 2) % n) as u8;
                self.select(i2c, want, clock())?;
            }
            // A quarter period past the next completion.
            let next_read = t0 + (self.next as f64 + 1.25) * period;
            if next_read >= until {
                return Ok(());
            }
            let wait = next_read - clock();
            if wait > 0.0 {
                delay.delay_us((wait * 1e6).ceil() as u32);
            }
        }
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
            m.push(k, input, x);
        }
    }

    #[test]
    fn values_match_the_closed_form_at_pf_half_only_with_the_skew_correction() {
        for hz in [49.5, 50.0, 50.5, 60.0] {
            let mut m = Metering::new(Rate::Sps860, 4, 50.0);
            feed(&mut m, hz, 10.0, 60.0, 0.5);
            for (c, x) in m.values().unwrap().iter().enumerate() {
                let v = x.values;
                assert!((v.v_rms / 230.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.i_rms / 10.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.p / 1150.0 - 1.0).abs() < 0.01, "{hz} {c}: {v:?}");
                assert!((v.pf - 0.5).abs() < 0.005, "{hz} {c}: {v:?}");
                assert!((v.hz - hz).abs() < 0.05, "{hz} {c}: {v:?}");
            }
            let mut raw = Metering::new(Rate::Sps860, 4, 50.0).without_skew_correction();
            feed(&mut raw, hz, 10.0, 60.0, 0.5);
            let worst = raw
                .values()
                .unwrap()
                .iter()
                .map(|x| (x.values.pf - 0.5).abs())
                .fold(0.0, f64::max);
            // The last current is three conversions (3.5 ms, 63° at 50 Hz) after its voltage.
            assert!(worst > 0.3, "{hz}: uncorrected PF error only {worst}");
        }
    }

    #[test]
    fn a_dead_voltage_has_no_frequency_and_energy_integrates_the_power() {
        let mut m = Metering::new(Rate::Sps860, 2, 50.0);
        for k in 0..400 {
            m.push(k, (k % 2) as u8, 0.0);
        }
        assert_eq!(m.values().unwrap()[0].values.hz, 0.0);
        let mut m = Metering::new(Rate::Sps860, 2, 50.0);
        feed(&mut m, 50.0, 4.0, 0.0, 0.3);
        let e0 = m.values().unwrap()[0].energy;
        let k0 = m.last().unwrap();
        let period = 1.0 / 860.0;
        let n = 2;
        let w = 2.0 * PI * 50.0;
        for k in k0 + 1..k0 + 1 + 860 {
            let t = (k as f64 + 0.5) * period;
            let x = if k % n == 0 {
                230.0 * 2f64.sqrt() * (w * t).sin()
            } else {
                4.0 * 2f64.sqrt() * (w * t).sin()
            };
            m.push(k, (k % n) as u8, x);
            if k % 20 == 0 {
                m.values();
            }
        }
        let e1 = m.values().unwrap()[0].energy;
        // One second at 920 W.
        assert!(((e1 - e0) / 920.0 - 1.0).abs() < 0.02, "{}", e1 - e0);
    }
}
