//! Metering for control: sample streams in, the values protection and the ATS act on out.
//!
//! A `CycleMeter` watches one voltage channel and any number of current channels that share its
//! cycles (a bus and its load circuits). Every cycle, bounded by the voltage's interpolated
//! positive zero crossings, gives each current channel a full one-cycle `Window` (IEEE 1459
//! quantities, `measurement::analyse`); every 10 (50 Hz) or 12 (60 Hz) cycles the same analysis
//! over the whole interval gives the IEC 61000-4-30
//! 10/12-cycle windows and feed the energy registers. Currents also get a half-cycle RMS over
//! fixed half-periods of the nominal frequency, independent of the voltage, so that a bolted
//! fault that collapses the voltage still trips the instantaneous element within a cycle. With no
//! zero crossing for two nominal periods the channel is dead: frequency 0 and RMS values over the
//! last nominal period.

use super::interface::{LoadMeasurement, Measurements, SourceMeasurement};
use super::measurement::{Calibration, CrossingDetector, Energy, Window, analyse_corrected};

/// Below this fraction of the nominal peak a voltage has no zero crossings worth timing.
const CROSSING_HYSTERESIS_PU: f64 = 0.02;

#[derive(Debug, Clone)]
pub struct CycleMeter {
    rate: f64,
    v_cal: Calibration,
    i_cal: Vec<Calibration>,
    /// Calibrated samples from absolute index `offset` on.
    v: Vec<f64>,
    i: Vec<Vec<f64>>,
    offset: u64,
    /// The last positive zero crossing, absolute fractional index.
    last: Option<f64>,
    /// The last cycle's length, samples (nominal while dead), and whether it was timed.
    period: f64,
    live: bool,
    detector: CrossingDetector,
    /// Shortest and longest plausible cycle, samples.
    min_cycle: f64,
    dead_after: u64,
    nominal_cycle: usize,
    half: Half,
    cycles_per_window: u32,
    /// Where the current 10/12-cycle window began, and how many cycles it has.
    window_start: Option<f64>,
    window_cycles: u32,
    /// The latest one-cycle window of each current channel (the voltage fields are shared).
    pub cycle: Vec<Window>,
    /// The latest 10/12-cycle window of each current channel.
    pub window: Vec<Option<Window>>,
    pub energy: Vec<Energy>,
}

/// Half-cycle RMS of each current channel over consecutive fixed half nominal periods.
#[derive(Debug, Clone)]
struct Half {
    len: usize,
    n: usize,
    sum_sq: Vec<f64>,
    /// Largest completed value since the last `take`, and the latest completed one.
    peak: Vec<f64>,
    last: Vec<f64>,
    fresh: bool,
}

impl Half {
    /// One sample of every channel has been added to `sum_sq`.
    fn tick(&mut self) {
        self.n += 1;
        if self.n == self.len {
            for ((s, p), l) in self
                .sum_sq
                .iter_mut()
                .zip(&mut self.peak)
                .zip(&mut self.last)
            {
                *l = (*s / self.len as f64).sqrt();
                *p = if self.fresh { p.max(*l) } else { *l };
                *s = 0.0;
            }
            self.n = 0;
            self.fresh = true;
        }
    }

    /// The largest half-cycle value since the last call (the latest, if none completed since).
    fn take(&mut self, ch: usize) -> f64 {
        if self.fresh {
            self.peak[ch]
        } else {
            self.last[ch]
        }
    }
}

impl CycleMeter {
    /// `rate` samples/s; `nominal_v` (rms) sets the crossing hysteresis, `nominal_hz` the
    /// windows and the dead-channel timeout; one calibration per current channel.
    pub fn new(
        rate: f64,
        nominal_v: f64,
        nominal_hz: f64,
        v_cal: Calibration,
        i_cal: Vec<Calibration>,
    ) -> Self {
        let n = i_cal.len();
        let period = rate / nominal_hz;
        CycleMeter {
            rate,
            v_cal,
            i_cal,
            v: Vec::new(),
            i: vec![Vec::new(); n],
            offset: 0,
            last: None,
            period,
            live: false,
            detector: CrossingDetector::new(
                CROSSING_HYSTERESIS_PU * nominal_v * std::f64::consts::SQRT_2,
            ),
            // Faster than twice nominal is noise, not a cycle.
            min_cycle: period / 2.0,
            dead_after: (2.0 * period).ceil() as u64,
            nominal_cycle: (period.round() as usize).max(2),
            half: Half {
                len: ((period / 2.0).round() as usize).max(1),
                n: 0,
                sum_sq: vec![0.0; n],
                peak: vec![0.0; n],
                last: vec![0.0; n],
                fresh: false,
            },
            cycles_per_window: if nominal_hz > 55.0 { 12 } else { 10 },
            window_start: None,
            window_cycles: 0,
            cycle: vec![Window::default(); n],
            window: vec![None; n],
            energy: vec![Energy::default(); n],
        }
    }

    /// Feed one instant: the raw voltage reading and each current channel's raw reading.
    #[inline]
    pub fn push(&mut self, v_raw: f64, i_raw: &[f64]) {
        let v = self.v_cal.apply(v_raw);
        let k = self.offset + self.v.len() as u64;
        let crossing = match self.v.last() {
            Some(&prev) => self.detector.feed(prev, v, k),
            None => None,
        };
        self.v.push(v);
        for (((buf, cal), raw), sq) in self
            .i
            .iter_mut()
            .zip(&self.i_cal)
            .zip(i_raw)
            .zip(&mut self.half.sum_sq)
        {
            let x = cal.apply(*raw);
            buf.push(x);
            *sq += x * x;
        }
        self.half.tick();
        match (crossing, self.last) {
            (Some(x), Some(a)) if x - a >= self.min_cycle => {
                self.close_cycle(a, x);
                self.window_cycle(x);
                self.period = x - a;
                self.live = true;
                self.last = Some(x);
                // Keep the cycle just closed (`now` needs one period back from any later
                // sample) and the window being filled.
                let keep = self.window_start.map_or(a, |w| w.min(a));
                self.keep_from(keep.floor() as u64);
            }
            (Some(_), Some(_)) => {}
            (Some(x), None) => {
                self.last = Some(x);
                self.window_start = Some(x);
                self.window_cycles = 0;
            }
            // Nothing for two nominal periods since the last crossing (or the last dead check).
            (None, _) if k - self.last.map_or(self.offset, |a| a as u64) >= self.dead_after => {
                self.dead()
            }
            (None, _) => {}
        }
    }

    /// The last period up to the latest sample, for channel `ch`: what the controller acts on.
    /// Changes in the twin land on step boundaries, and a window that ends at the newest sample
    /// sees a step's change as soon as the step is over, not a cycle later.
    pub fn now(&self, ch: usize) -> Window {
        let b = self.v.len().saturating_sub(1) as f64;
        let a = (b - self.period).max(0.0);
        if b - a < 1.0 {
            return self.cycle[ch];
        }
        let lag = (self.i_cal[ch].phase_deg - self.v_cal.phase_deg).to_radians();
        let mut w = analyse_corrected(&self.v, &self.i[ch], a, b, 1, self.rate, lag);
        w.freq = if self.live {
            self.rate / self.period
        } else {
            0.0
        };
        w
    }

    /// One cycle [a, b] (absolute fractional indices) completed.
    fn close_cycle(&mut self, a: f64, b: f64) {
        let (ra, rb) = (a - self.offset as f64, b - self.offset as f64);
        for ch in 0..self.i.len() {
            let lag = (self.i_cal[ch].phase_deg - self.v_cal.phase_deg).to_radians();
            let mut w = analyse_corrected(&self.v, &self.i[ch], ra, rb, 1, self.rate, lag);
            w.start = a;
            w.end = b;
            self.record(ch, w);
        }
    }

    /// No crossing for too long: report the last nominal period as a dead (or DC) cycle.
    fn dead(&mut self) {
        let len = self.v.len().min(self.nominal_cycle);
        let from = self.v.len() - len;
        let mean_sq = |x: &[f64]| x.iter().map(|s| s * s).sum::<f64>() / x.len().max(1) as f64;
        let vrms = mean_sq(&self.v[from..]).sqrt();
        let end = (self.offset + self.v.len() as u64) as f64;
        for ch in 0..self.i.len() {
            let i = &self.i[ch][from..];
            let irms = mean_sq(i).sqrt();
            let p = self.v[from..]
                .iter()
                .zip(i)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / len as f64;
            let s = vrms * irms;
            // No crossings: no fundamental, no frequency.
            let w = Window {
                start: end - len as f64,
                end,
                vrms,
                irms,
                p,
                s,
                pf: if s > 0.0 { p / s } else { 0.0 },
                ..Window::default()
            };
            self.record(ch, w);
        }
        self.last = None;
        self.window_start = None;
        self.live = false;
        self.period = self.nominal_cycle as f64;
        let end = self.offset + self.v.len() as u64;
        self.keep_from(end.saturating_sub(self.nominal_cycle as u64 + 2));
    }

    fn record(&mut self, ch: usize, w: Window) {
        self.energy[ch].add(w.p, w.q1, (w.end - w.start) / self.rate);
        self.cycle[ch] = w;
    }

    /// A cycle ending at crossing `x` completed: close the 10/12-cycle window when it is full.
    /// One analysis over the whole window, not an aggregate of cycles: end effects and the
    /// fundamental's leakage shrink with the window, which matters for a low THD.
    fn window_cycle(&mut self, x: f64) {
        let Some(start) = self.window_start else {
            self.window_start = Some(x);
            return;
        };
        self.window_cycles += 1;
        if self.window_cycles < self.cycles_per_window {
            return;
        }
        let (a, b) = (start - self.offset as f64, x - self.offset as f64);
        for ch in 0..self.i.len() {
            let lag = (self.i_cal[ch].phase_deg - self.v_cal.phase_deg).to_radians();
            let mut w = analyse_corrected(
                &self.v,
                &self.i[ch],
                a,
                b,
                self.cycles_per_window,
                self.rate,
                lag,
            );
            w.start = start;
            w.end = x;
            self.window[ch] = Some(w);
        }
        self.window_start = Some(x);
        self.window_cycles = 0;
    }

    /// Drop samples before absolute index `k`.
    fn keep_from(&mut self, k: u64) {
        let n = (k.saturating_sub(self.offset) as usize).min(self.v.len());
        self.v.drain(..n);
        for buf in &mut self.i {
            buf.drain(..n);
        }
        self.offset += n as u64;
    }

    /// Channel `ch` as a source measurement, taking its half-cycle peak.
    fn source(&mut self, ch: usize) -> SourceMeasurement {
        let w = self.now(ch);
        SourceMeasurement {
            v: w.vrms,
            hz: w.freq,
            i: w.irms,
            p: w.p,
            i_fast: self.half.take(ch).max(w.irms),
            lost: false,
        }
    }

    fn load(&mut self, ch: usize) -> LoadMeasurement {
        let w = self.now(ch);
        LoadMeasurement {
            i: w.irms,
            p: w.p,
            i_fast: self.half.take(ch).max(w.irms),
            lost: false,
        }
    }

    fn taken(&mut self) {
        self.half.fresh = false;
    }
}

/// A PDU's meters: each source on its own terminals (voltage and the current it delivers), and
/// the bus with every load circuit's current.
#[derive(Debug, Clone)]
pub struct PduMetering {
    pub main: CycleMeter,
    pub backup: CycleMeter,
    pub bus: CycleMeter,
}

/// Per-class channel calibrations (readings to volts and amps).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PduCalibration {
    pub voltage: Calibration,
    pub source_current: Calibration,
    pub load_current: Calibration,
}

impl PduMetering {
    pub fn new(
        rate: f64,
        nominal_v: f64,
        nominal_hz: f64,
        loads: usize,
        cal: &PduCalibration,
    ) -> Self {
        let meter = |n: usize, i_cal: Calibration| {
            CycleMeter::new(rate, nominal_v, nominal_hz, cal.voltage, vec![i_cal; n])
        };
        PduMetering {
            main: meter(1, cal.source_current),
            backup: meter(1, cal.source_current),
            bus: meter(loads, cal.load_current),
        }
    }

    /// One instant of every channel's raw reading.
    #[inline]
    pub fn push(&mut self, main: [f64; 2], backup: [f64; 2], bus_v: f64, loads_i: &[f64]) {
        self.main.push(main[0], &main[1..]);
        self.backup.push(backup[0], &backup[1..]);
        self.bus.push(bus_v, loads_i);
    }

    /// The latest values, as the controller takes them each step.
    pub fn measure(&mut self, out: &mut Measurements) {
        out.main = self.main.source(0);
        out.backup = self.backup.source(0);
        out.loads.clear();
        for ch in 0..self.bus.cycle.len() {
            out.loads.push(self.bus.load(ch));
        }
        for m in [&mut self.main, &mut self.backup, &mut self.bus] {
            m.taken();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{SQRT_2, TAU};

    fn meter(rate: f64, nominal_hz: f64) -> CycleMeter {
        CycleMeter::new(
            rate,
            230.0,
            nominal_hz,
            Calibration::default(),
            vec![Calibration::default()],
        )
    }

    /// Push `secs` of v = `vrms` at `f`, i = `irms` lagging 30 degrees, from sample `k0`.
    fn feed(
        m: &mut CycleMeter,
        rate: f64,
        f: f64,
        vrms: f64,
        irms: f64,
        k0: u64,
        secs: f64,
    ) -> u64 {
        let n = (secs * rate).round() as u64;
        for k in k0..k0 + n {
            let t = k as f64 / rate;
            let v = vrms * SQRT_2 * (TAU * f * t).sin();
            let i = irms * SQRT_2 * (TAU * f * t - 30f64.to_radians()).sin();
            m.push(v, &[i]);
        }
        k0 + n
    }

    #[test]
    fn cycle_values_hold_off_nominal_at_the_lowest_rate() {
        for (f, nominal) in [(49.7, 50.0), (45.0, 50.0), (60.0, 60.0), (65.0, 60.0)] {
            for rate in [1800.0, 3200.0] {
                let mut m = meter(rate, nominal);
                feed(&mut m, rate, f, 230.0, 10.0, 0, 0.5);
                let w = m.cycle[0];
                let p = 2300.0 * 30f64.to_radians().cos();
                assert!(
                    (w.vrms / 230.0 - 1.0).abs() < 1e-3,
                    "{f} {rate}: {}",
                    w.vrms
                );
                assert!((w.irms / 10.0 - 1.0).abs() < 1e-3);
                assert!((w.p / p - 1.0).abs() < 1e-3, "{}", w.p);
                assert!((w.freq - f).abs() < 0.01, "{f} {rate}: {}", w.freq);
                let iec = m.window[0].expect("a 10/12-cycle window");
                assert_eq!(iec.cycles, if nominal > 55.0 { 12 } else { 10 });
                assert!((iec.vrms / 230.0 - 1.0).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn a_bolted_fault_reaches_the_instantaneous_input_within_a_cycle() {
        let rate = 3200.0;
        let mut m = meter(rate, 50.0);
        let k = feed(&mut m, rate, 50.0, 230.0, 10.0, 0, 0.31);
        let mut out = Measurements::default();
        let mut pdu = PduMetering {
            main: m.clone(),
            backup: m.clone(),
            bus: m,
        };
        pdu.measure(&mut out);
        assert!((out.main.i_fast - 10.0).abs() < 0.2);
        // The voltage collapses and 2 kA flows: one cycle later the half-cycle value shows it,
        // though no zero crossing times the cycle any more.
        feed(&mut pdu.main, rate, 50.0, 0.0, 2000.0, k, 0.02);
        pdu.measure(&mut out);
        assert!(out.main.i_fast > 1900.0, "{}", out.main.i_fast);
        // And it is taken: once the fault is cleared the half cycles since report, not the peak.
        feed(&mut pdu.main, rate, 50.0, 230.0, 0.0, k + 64, 0.06);
        pdu.measure(&mut out);
        assert!(out.main.i_fast < 1.0, "{}", out.main.i_fast);
    }

    #[test]
    fn a_dead_channel_reads_zero_volts_and_zero_hertz() {
        let rate = 1800.0;
        let mut m = meter(rate, 50.0);
        let k = feed(&mut m, rate, 50.0, 230.0, 5.0, 0, 0.2);
        assert!(m.cycle[0].freq > 49.9);
        feed(&mut m, rate, 50.0, 0.0, 0.0, k, 0.05);
        assert_eq!(m.cycle[0].freq, 0.0);
        assert!(m.cycle[0].vrms < 1e-9);
        let before = m.energy[0].import_j;
        assert!(before > 0.0, "energy registered while live");
    }
}
