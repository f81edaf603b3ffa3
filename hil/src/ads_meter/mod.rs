//! The ADS1115 metered live (the monitoring seed's reference wiring: a ZMPT101B on one input,
//! current sensors on the others): the part converting continuously at 860 samples/s with its
//! multiplexer stepped through the inputs (`Stream`, here), and the circuits' V, I, P, PF, f and
//! energy from the samples (`metering`).
//!
//! The stream shares the I2C bus with the measurement nodes, so it writes the registers it
//! needs itself (SBAS444's config, conversion and threshold registers) rather than through
//! `ads1x1x`, which owns its bus.

mod metering;

use std::collections::VecDeque;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::ads1115::{Calibration, Input, Range, Rate};

pub use metering::{Metered, Metering, WINDOW_S};

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
