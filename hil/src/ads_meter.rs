//! The ADS1115 metered live (the monitoring seed's reference wiring: a ZMPT101B on one input,
//! current sensors on the others): the part converting continuously at 860 samples/s with its
//! multiplexer stepped through the inputs, and the circuits' V, I, P, PF, f and energy from the
//! samples.
//!
//! A frame is a voltage conversion and then one per current. Each current is taken `c + 1`
//! conversions after its frame's voltage, up to 3.5 ms (63° at 50 Hz) later, so a power factor
//! from the products of the frame's samples is badly wrong. `Metering` fits each channel's
//! fundamental (a cos ωt + b sin ωt, least squares, Hann-weighted over the window) at its
//! samples' own instants, so the skew between channels is nothing and conversions left unread
//! cost samples rather than accuracy; P is the product of the fitted phasors, an RMS the fitted
//! fundamental's with what lies beyond it (harmonics). The part's delta-sigma filter averages
//! each conversion over its period, which shortens the fundamental by sinc(f T); it is divided
//! out.
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

// The ADS1115's registers (SBAS444 section 8.6).
const CONVERSION: u8 = 0x00;
const CONFIG: u8 = 0x01;
const LO_THRESH: u8 = 0x02;
const HI_THRESH: u8 = 0x03;
/// Continuous conversion (MODE 0) with the comparator asserting after one conversion
/// (COMP_QUE 00): with the thresholds' MSBs 1 and 0, ALERT/RDY pulses at the end of each
/// conversion (SBAS444 8.3.8).
const CONVERSION_READY: u16 = 0b00;

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

/// The pin a single-ended input reads (A0-A3 as 0-3), or None for a differential one: the
/// single-ended mux settings are 4-7.
pub fn pin(input: Input) -> Option<usize> {
    usize::from(mux_bits(input) >> 12).checked_sub(4)
}

/// Why a stream stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamError<E> {
    /// The bus failed (NAK, arbitration, a stuck line): the HAL's error.
    Bus(E),
    /// The config register read back other than written: frames are garbled on the way. The
    /// part has no frame check, so this is how a bad cable shows; its samples are dropped.
    Garbled { wrote: u16, read: u16 },
    /// ALERT/RDY has not pulsed for `s` seconds of conversions: its wire or its pull-up. The
    /// stream cannot tell which conversion is which without it; its samples are dropped.
    NoReadyPulses { s: f64 },
}

impl<E: core::fmt::Debug> core::fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StreamError::Bus(e) => write!(f, "{e:?}"),
            StreamError::Garbled { wrote, read } => write!(
                f,
                "config read back {read:#06x}, written {wrote:#06x}: frames garbled on the bus"
            ),
            StreamError::NoReadyPulses { s } => write!(
                f,
                "no ALERT/RDY pulse for {:.0} ms of conversions: check its wire and pull-up",
                s * 1e3
            ),
        }
    }
}

/// Conversions between read-backs of the config register (some 19 ms at 860/s).
const VERIFY_EVERY: i64 = 16;

/// Conversion-ready pulses fitted for the part's time (about 0.6 s at 860/s).
const PACE_PULSES: usize = 512;
/// Conversions' time without a ready pulse before the stream gives up on the part's time: the
/// nominal rate would be half a conversion out within it for a part 1 % off.
const READY_SILENCE_S: f64 = 0.05;

/// A part's ALERT/RDY pin, in conversion-ready mode and wired to a GPIO input: the times (on
/// the stream's clock, s) of the pulses that ended conversions since the last call. On a Pi,
/// the kernel's timestamps of the falling edges.
pub trait ReadyPin: Send {
    fn pulses(&mut self, out: &mut Vec<f64>);
}

/// A sensor on one of the part's inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensor {
    pub input: Input,
    pub cal: Calibration,
}

/// One ADS1115 streaming: its inputs (the voltage first), the mux writes it has made and when
/// (a conversion measures the input selected when it started), and the metering.
///
/// Conversions are timed by the part's own oscillator (±10 % by the datasheet), not by the
/// Pi's clock: the stream fits their start and period to the ALERT/RDY pulses that end them.
/// Timed from the nominal rate instead, a part 0.1 % off would be a conversion out within a
/// second, and every current labelled as the next input.
pub struct Stream {
    pub address: u8,
    range: Range,
    rate: Rate,
    sensors: Vec<Sensor>,
    /// The conversions' period, s: nominal, or fitted to the ready pulses.
    period: f64,
    ready: Box<dyn ReadyPin>,
    /// This run's pulses: (conversion, its end on the clock), the last `PACE_PULSES`.
    ends: VecDeque<(i64, f64)>,
    pulses: Vec<f64>,
    /// When this run's conversion 0 started (clock s); None before the part is (re)started.
    t0: Option<f64>,
    /// When this run's continuous mode was written (clock s).
    started: f64,
    /// The first run's start (sample times count from it).
    origin: Option<f64>,
    /// Conversions read since the stream was made.
    read: u64,
    /// (time, input index) of each mux write still needed to label a conversion.
    writes: VecDeque<(f64, u8)>,
    next: i64,
    pub metering: Metering,
}

impl Stream {
    /// `sensors[0]` is the voltage; all at one PGA `range`; `ready` the part's ALERT/RDY.
    pub fn new(
        address: u8,
        range: Range,
        rate: Rate,
        sensors: Vec<Sensor>,
        ready: Box<dyn ReadyPin>,
        hz: f64,
    ) -> Stream {
        let inputs = sensors.len() as u8;
        Stream {
            address,
            range,
            rate,
            sensors,
            period: 1.0 / f64::from(rate.sps()),
            ready,
            ends: VecDeque::new(),
            pulses: Vec::new(),
            t0: None,
            started: 0.0,
            origin: None,
            read: 0,
            writes: VecDeque::new(),
            next: 0,
            metering: Metering::new(rate, inputs, hz),
        }
    }

    fn period(&self) -> f64 {
        self.period
    }

    /// The conversions' period as last fitted to the ready pulses (or nominal), s.
    pub fn conversion_period(&self) -> f64 {
        self.period
    }

    fn config(&self, input: u8) -> u16 {
        let dr = (self.rate as u16) << 5;
        mux_bits(self.sensors[usize::from(input)].input)
            | pga_bits(self.range)
            | dr
            | CONVERSION_READY
    }

    /// Take the ready pulses since the last call and fit this run's start and period to them
    /// (least squares over the last `PACE_PULSES`). Each pulse's conversion is counted from the
    /// one before it, so that a batch of pulses taken late is numbered right however far the
    /// part's clock is from the nominal.
    fn follow_pulses(&mut self) {
        self.pulses.clear();
        self.ready.pulses(&mut self.pulses);
        let Some(t0) = self.t0 else {
            return;
        };
        let nominal = 1.0 / f64::from(self.rate.sps());
        for &e in &self.pulses {
            let k = match self.ends.back() {
                Some(&(k, last)) => k + ((e - last) / self.period).round() as i64,
                // A pulse before conversion 0 can have ended is the last run's.
                None if e < self.started + 0.5 * nominal => continue,
                None => ((e - t0) / self.period).round() as i64 - 1,
            };
            if k < 0 || self.ends.back().is_some_and(|b| b.0 >= k) {
                continue;
            }
            if self.ends.len() == PACE_PULSES {
                self.ends.pop_front();
            }
            self.ends.push_back((k, e));
        }
        // e = t0 + (k + 1) period, by least squares about the means.
        let n = self.ends.len() as f64;
        if n == 0.0 {
            return;
        }
        let (kx, ex) = self.ends.iter().fold((0.0, 0.0), |(a, b), &(k, e)| {
            (a + (k + 1) as f64 / n, b + e / n)
        });
        let (sxy, sxx) = self.ends.iter().fold((0.0, 0.0), |(a, b), &(k, e)| {
            let x = (k + 1) as f64 - kx;
            (a + x * (e - ex), b + x * x)
        });
        if sxx > 0.0 {
            let p = sxy / sxx;
            // A line's noise must not set a period the part cannot have.
            if (p / nominal - 1.0).abs() < 0.15 {
                self.period = p;
            }
        }
        self.t0 = Some(ex - kx * self.period);
    }

    fn select<I: I2c>(
        &mut self,
        i2c: &mut I,
        input: u8,
        now: f64,
    ) -> Result<(), StreamError<I::Error>> {
        let cfg = self.config(input);
        let [hi, lo] = cfg.to_be_bytes();
        i2c.write(self.address, &[CONFIG, hi, lo])
            .map_err(StreamError::Bus)?;
        self.writes.push_back((now, input));
        Ok(())
    }

    /// The config register as written, or `Garbled` (OS reads as the part's state).
    fn verify<I: I2c>(&mut self, i2c: &mut I, input: u8) -> Result<(), StreamError<I::Error>> {
        const OS: u16 = 1 << 15;
        let mut b = [0u8; 2];
        i2c.write_read(self.address, &[CONFIG], &mut b)
            .map_err(StreamError::Bus)?;
        let (wrote, read) = (self.config(input), u16::from_be_bytes(b));
        if read & !OS != wrote & !OS {
            self.metering.clear();
            return Err(StreamError::Garbled { wrote, read });
        }
        Ok(())
    }

    /// The input conversion `k` measured: the last selected before it started.
    fn input_of(&mut self, k: i64, t0: f64) -> u8 {
        let start = t0 + k as f64 * self.period();
        // A write at the very moment of the start (the first run's second write) is for the next.
        while self.writes.len() > 1 && self.writes[1].0 < start {
            self.writes.pop_front();
        }
        self.writes.front().map_or(0, |w| w.1)
    }

    /// Read the conversion that has completed, if it has not been read, and keep the
    /// multiplexer a conversion ahead; returns when to call again (clock s). A conversion not
    /// read before the next completes is lost; the metering works from those it has.
    pub fn service<I: I2c>(
        &mut self,
        i2c: &mut I,
        clock: &dyn Fn() -> f64,
    ) -> Result<f64, StreamError<I::Error>> {
        let n = self.sensors.len() as i64;
        self.follow_pulses();
        let t0 = match self.t0 {
            Some(t) => t,
            None => {
                // ALERT/RDY pulses at each conversion's end with the thresholds' MSBs so; the
                // pulses of the last run are dropped.
                i2c.write(self.address, &[LO_THRESH, 0x00, 0x00])
                    .map_err(StreamError::Bus)?;
                i2c.write(self.address, &[HI_THRESH, 0x80, 0x00])
                    .map_err(StreamError::Bus)?;
                self.pulses.clear();
                self.ready.pulses(&mut self.pulses);
                // A continuous conversion restarts only from single-shot: the part is put there
                // (it powers down after the conversion under way), then back.
                let single = self.config(0) | (1 << 8);
                i2c.write(self.address, &[CONFIG, (single >> 8) as u8, single as u8])
                    .map_err(StreamError::Bus)?;
                // Conversion 0 (the voltage) starts as the write arrives, a little before it
                // ends: the part's conversions end up to a transaction before this clock says.
                // Conversion 1's input is written at once, during it.
                self.writes.clear();
                self.ends.clear();
                self.select(i2c, 0, clock())?;
                let now = clock();
                self.t0 = Some(now);
                self.started = now;
                self.origin.get_or_insert(now);
                self.next = 0;
                self.select(i2c, 1, clock())?;
                now
            }
        };
        let last_pulse = self.ends.back().map_or(self.started, |e| e.1);
        if clock() - last_pulse > READY_SILENCE_S {
            self.metering.clear();
            return Err(StreamError::NoReadyPulses {
                s: clock() - last_pulse,
            });
        }
        let period = self.period();
        let at = (clock() - t0) / period;
        // The part's conversions end up to a transaction before this clock says: too near the
        // next end, the register might already hold the next conversion. Wait for it.
        if at.fract() > 0.85 {
            return Ok(t0 + (at.floor() + 1.25) * period);
        }
        // Late in a conversion, the mux write after the read (two transactions, some 0.2 ms at
        // 400 kHz) might land in the next one: it is left out, and the next conversion
        // measures the input the last write chose (the log says which).
        let late = at.fract() > 0.5;
        let done = at.floor() as i64 - 1;
        if done >= self.next {
            let mut code = [0u8; 2];
            i2c.write_read(self.address, &[CONVERSION], &mut code)
                .map_err(StreamError::Bus)?;
            let volts = f64::from(i16::from_be_bytes(code)) * self.range.volts() / 32768.0;
            let input = self.input_of(done, t0);
            let value = self.sensors[usize::from(input)].cal.apply(volts);
            let t = t0 + (done as f64 + 0.5) * period - self.origin.unwrap_or(t0);
            self.metering.push(t, input, value);
            self.read += 1;
            self.next = done + 1;
            // We are within conversion done + 1: a write now sets done + 2's input.
            if !late {
                let want = ((done + 2) % n) as u8;
                self.select(i2c, want, clock())?;
                if done % VERIFY_EVERY == 0 {
                    self.verify(i2c, want)?;
                }
            }
        }
        // A quarter period past the next completion.
        Ok(t0 + (self.next as f64 + 1.25) * period)
    }

    /// The next service starts the part afresh (after a bus failure its state is unknown).
    fn restart(&mut self) {
        self.t0 = None;
    }

    /// The part's ready pulses time this run (one has come since it started).
    pub fn paced(&self) -> bool {
        !self.ends.is_empty()
    }

    /// Conversions read since the stream was made.
    pub fn conversions_read(&self) -> u64 {
        self.read
    }

    /// When the last conversion read was taken, clock s.
    pub fn last_at(&self) -> Option<f64> {
        Some(self.origin? + self.metering.last_time()? + 0.5 * self.period())
    }
}

/// The bus with the streams on it: every transaction it carries for others (the nodes'
/// poll) first reads the streams that are due, so that a poll in each control step does not
/// cut the same stretch of every cycle out of the samples (a step is a whole number of cycles).
/// A stream whose transaction fails is left out until the next `Interleaved` (and restarted
/// then); its error is kept with its index.
pub struct Interleaved<'a, I: I2c> {
    i2c: &'a mut I,
    streams: &'a mut [Stream],
    clock: &'a dyn Fn() -> f64,
    due: Vec<f64>,
    pub failed: Vec<(usize, StreamError<I::Error>)>,
}

impl<'a, I: I2c> Interleaved<'a, I> {
    pub fn new(i2c: &'a mut I, streams: &'a mut [Stream], clock: &'a dyn Fn() -> f64) -> Self {
        let due = vec![f64::NEG_INFINITY; streams.len()];
        Interleaved {
            i2c,
            streams,
            clock,
            due,
            failed: Vec::new(),
        }
    }

    /// Read every stream that is due; returns when the next one is.
    fn service(&mut self) -> f64 {
        let now = (self.clock)();
        for (k, s) in self.streams.iter_mut().enumerate() {
            if self.due[k] <= now {
                match s.service(self.i2c, self.clock) {
                    Ok(t) => self.due[k] = t,
                    Err(e) => {
                        s.restart();
                        self.due[k] = f64::INFINITY;
                        self.failed.push((k, e));
                    }
                }
            }
        }
        self.due.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Stream until `until` (clock s): each read when its conversion is ready.
    pub fn run<D: DelayNs>(&mut self, delay: &mut D, until: f64) {
        loop {
            let next = self.service();
            if next >= until {
                return;
            }
            let wait = next - (self.clock)();
            if wait > 0.0 {
                delay.delay_us((wait * 1e6).ceil() as u32);
            }
        }
    }
}

impl<I: I2c> embedded_hal::i2c::ErrorType for Interleaved<'_, I> {
    type Error = I::Error;
}

impl<I: I2c> I2c for Interleaved<'_, I> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.service();
        self.i2c.transaction(address, operations)
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
