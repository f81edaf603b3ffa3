//! A virtual ADS1115 after TI's datasheet (SBAS444): the address pointer and the four 16-bit
//! registers (big-endian on the wire), single-shot and continuous conversion, the input
//! multiplexer, the PGA's six ranges, the eight data rates with their conversion time, and the
//! comparator on the ALERT/RDY pin (traditional and window, queue, latch, polarity, and the
//! conversion-ready mode).
//!
//! A conversion averages its input over the conversion period, as the delta-sigma modulator and
//! its digital filter do, so a 50 Hz signal sampled at 860 SPS is attenuated slightly, as on the
//! real part.

use super::{Device, Nak, Nanos};

pub const CONVERSION: u8 = 0x00;
pub const CONFIG: u8 = 0x01;
pub const LO_THRESH: u8 = 0x02;
pub const HI_THRESH: u8 = 0x03;
/// Power-on value of the config register.
pub const CONFIG_DEFAULT: u16 = 0x8583;

const OS: u16 = 1 << 15;
const MODE_SINGLE: u16 = 1 << 8;
const COMP_MODE_WINDOW: u16 = 1 << 4;
const COMP_POL_HIGH: u16 = 1 << 3;
const COMP_LAT: u16 = 1 << 2;
const COMP_QUE: u16 = 0b11;

/// Samples per second by the config's DR bits.
pub const DATA_RATES: [u32; 8] = [8, 16, 32, 64, 128, 250, 475, 860];
/// Full-scale range, V, by the config's PGA bits.
pub const FULL_SCALE: [f64; 8] = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256];
/// Wake-up from power-down before a single-shot conversion starts.
const WAKE_NS: Nanos = 25_000;
/// Conversions the comparator need not see when it is disabled: only the last one matters.
const NO_COMPARATOR_SKIP: u64 = 2;

/// The four analog inputs, V, at a time in seconds (the bus clock).
pub type Inputs = Box<dyn FnMut(usize, f64) -> f64 + Send>;

#[derive(Debug, Clone, Copy)]
struct Conversion {
    start: Nanos,
    end: Nanos,
    config: u16,
}

pub struct VirtualAds1115 {
    inputs: Inputs,
    /// Supply voltage: inputs are clamped to GND - 0.3 V and VDD + 0.3 V by the ESD diodes.
    vdd: f64,
    pointer: u8,
    config: u16,
    lo: u16,
    hi: u16,
    conversion: i16,
    running: Option<Conversion>,
    /// Consecutive conversions beyond the thresholds (the comparator queue).
    beyond: u8,
    /// The comparator's output, before the polarity is applied.
    alert: bool,
    /// End of the last conversion (the conversion-ready pulse).
    ready_at: Option<Nanos>,
    /// The internal oscillator's error (+0.05: conversions 5 % short); the datasheet allows
    /// ±10 % over temperature.
    clock_error: f64,
    /// The conversion-ready pulses not yet taken (`take_pulses`), as a GPIO's edge events.
    pulses: Vec<Nanos>,
}

/// Pulses kept for a reader that does not come (a GPIO's event queue is bounded too).
const PULSES_KEPT: usize = 4096;

impl VirtualAds1115 {
    pub fn new(vdd: f64, inputs: Inputs) -> Self {
        VirtualAds1115 {
            inputs,
            vdd,
            pointer: 0,
            config: CONFIG_DEFAULT,
            lo: 0x8000,
            hi: 0x7fff,
            conversion: 0,
            running: None,
            beyond: 0,
            alert: false,
            ready_at: None,
            clock_error: 0.0,
            pulses: Vec::new(),
        }
    }

    /// The part with its oscillator off by `error` (+0.05: 5 % fast).
    pub fn with_clock_error(mut self, error: f64) -> Self {
        self.clock_error = error;
        self
    }

    fn period(&self, config: u16) -> Nanos {
        let nominal = 1e9 / f64::from(DATA_RATES[usize::from((config >> 5) & 7)]);
        (nominal / (1.0 + self.clock_error)).round() as Nanos
    }

    /// The falling edges of ALERT/RDY in continuous conversion-ready mode since the last call
    /// (bus ns), as a GPIO interrupt timestamps them.
    pub fn take_pulses(&mut self, now: Nanos) -> Vec<Nanos> {
        self.advance(now);
        std::mem::take(&mut self.pulses)
    }

    fn full_scale(config: u16) -> f64 {
        FULL_SCALE[usize::from((config >> 9) & 7)]
    }

    /// The input voltage the multiplexer selects, V.
    fn differential(&mut self, config: u16, t: f64) -> f64 {
        let (vdd, inputs) = (self.vdd, &mut self.inputs);
        let mut pin = |p: usize| inputs(p, t).clamp(-0.3, vdd + 0.3);
        match (config >> 12) & 7 {
            0 => pin(0) - pin(1),
            1 => pin(0) - pin(3),
            2 => pin(1) - pin(3),
            3 => pin(2) - pin(3),
            m => pin(usize::from(m - 4)),
        }
    }

    /// The code a conversion over `c` produces: its input averaged over the period.
    fn convert(&mut self, c: Conversion) -> i16 {
        const POINTS: u32 = 16;
        let span = (c.end - c.start) as f64 / 1e9;
        let t0 = c.start as f64 / 1e9;
        let mean = (0..POINTS)
            .map(|k| {
                self.differential(
                    c.config,
                    t0 + span * (f64::from(k) + 0.5) / f64::from(POINTS),
                )
            })
            .sum::<f64>()
            / f64::from(POINTS);
        let lsb = Self::full_scale(c.config) / 32768.0;
        (mean / lsb).round().clamp(-32768.0, 32767.0) as i16
    }

    fn comparator(&mut self, code: i16) {
        let cfg = self.config;
        if cfg & COMP_QUE == COMP_QUE || self.ready_mode() {
            return;
        }
        let (lo, hi) = (self.lo as i16, self.hi as i16);
        let window = cfg & COMP_MODE_WINDOW != 0;
        let beyond = code > hi || (window && code < lo);
        let needed = 1u8 << (cfg & COMP_QUE);
        self.beyond = if beyond {
            self.beyond.saturating_add(1)
        } else {
            0
        };
        if self.beyond >= needed {
            self.alert = true;
        } else if cfg & COMP_LAT == 0 {
            // Non-latching: the traditional comparator releases below the low threshold (its
            // hysteresis); the window one as soon as the code is back inside.
            let release = if window { !beyond } else { code < lo };
            if release {
                self.alert = false;
            }
        }
    }

    /// Hi_thresh MSB set and Lo_thresh MSB clear: ALERT/RDY signals conversion ready.
    fn ready_mode(&self) -> bool {
        self.hi & 0x8000 != 0 && self.lo & 0x8000 == 0 && self.config & COMP_QUE != COMP_QUE
    }

    /// Complete every conversion due by `now`; in continuous mode start the next one.
    fn advance(&mut self, now: Nanos) {
        while let Some(c) = self.running
            && c.end <= now
        {
            let continuous = self.config & MODE_SINGLE == 0;
            let next = Conversion {
                start: c.end,
                end: c.end + self.period(self.config),
                config: self.config,
            };
            // With the comparator off, conversions nobody can see are skipped.
            let behind = now.saturating_sub(c.end) / self.period(self.config).max(1);
            let comparing = self.config & COMP_QUE != COMP_QUE;
            if continuous && !comparing && behind >= NO_COMPARATOR_SKIP {
                let skip = behind - 1;
                let p = self.period(self.config);
                self.running = Some(Conversion {
                    start: c.end + skip * p,
                    end: c.end + (skip + 1) * p,
                    config: self.config,
                });
                continue;
            }
            self.conversion = self.convert(c);
            self.comparator(self.conversion);
            self.ready_at = Some(c.end);
            if continuous && self.ready_mode() {
                if self.pulses.len() == PULSES_KEPT {
                    self.pulses.remove(0);
                }
                self.pulses.push(c.end);
            }
            self.running = continuous.then_some(next);
        }
    }

    /// The ALERT/RDY pin's level at `now` (open drain: true is released, pulled high).
    pub fn alert_pin(&mut self, now: Nanos) -> bool {
        self.advance(now);
        let asserted = if self.ready_mode() {
            match self.ready_at {
                // Single-shot: asserted from the end of the conversion until the next starts.
                Some(_) if self.config & MODE_SINGLE != 0 => self.running.is_none(),
                // Continuous: an 8 us pulse at the end of each conversion.
                Some(t) => now < t + 8_000,
                None => false,
            }
        } else {
            self.alert
        };
        let active_high = self.config & COMP_POL_HIGH != 0;
        asserted == active_high
    }

    fn register(&self, pointer: u8) -> u16 {
        match pointer {
            CONVERSION => self.conversion as u16,
            CONFIG => {
                // OS reads 1 when no conversion is under way.
                let busy = self.running.is_some();
                (self.config & !OS) | if busy { 0 } else { OS }
            }
            LO_THRESH => self.lo,
            _ => self.hi,
        }
    }

    fn write_config(&mut self, now: Nanos, value: u16) {
        let was_continuous = self.config & MODE_SINGLE == 0;
        self.config = value & !OS;
        let continuous = value & MODE_SINGLE == 0;
        if continuous {
            // A conversion under way completes with the old settings; the next uses the new.
            if self.running.is_none() || !was_continuous {
                self.running = Some(Conversion {
                    start: now,
                    end: now + self.period(self.config),
                    config: self.config,
                });
            }
        } else if was_continuous {
            // Back to single-shot: the device powers down after the current conversion.
        } else if value & OS != 0 && self.running.is_none() {
            let start = now + WAKE_NS;
            self.running = Some(Conversion {
                start,
                end: start + self.period(self.config),
                config: self.config,
            });
        }
    }
}

/// A part's ALERT/RDY wired to a GPIO input: its pulses on a clock that is the bus's less
/// `offset_s` (the clock the stream is given).
pub struct ReadyLine {
    pub bus: super::EmulatedBus,
    pub address: u8,
    pub offset_s: f64,
}

impl crate::ads_meter::ReadyPin for ReadyLine {
    fn pulses(&mut self, out: &mut Vec<f64>) {
        let now = self.bus.now();
        let pulses = self
            .bus
            .with_device(self.address, |d: &mut VirtualAds1115| d.take_pulses(now))
            .unwrap_or_default();
        out.extend(pulses.iter().map(|&t| t as f64 / 1e9 - self.offset_s));
    }
}

impl Device for VirtualAds1115 {
    fn write(&mut self, now: Nanos, bytes: &[u8]) -> Result<(), Nak> {
        self.advance(now);
        let Some((&pointer, data)) = bytes.split_first() else {
            return Ok(());
        };
        // Bits 7:2 of the pointer must be zero; the part ignores the rest of a bad write.
        self.pointer = pointer & 0b11;
        if data.len() >= 2 {
            let value = u16::from_be_bytes([data[0], data[1]]);
            match self.pointer {
                CONFIG => self.write_config(now, value),
                LO_THRESH => self.lo = value,
                HI_THRESH => self.hi = value,
                // The conversion register is read-only.
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&mut self, now: Nanos, buf: &mut [u8]) {
        self.advance(now);
        if self.pointer == CONVERSION && self.config & COMP_LAT != 0 {
            // Reading the conversion register clears a latched alert once it is no longer due.
            if self.beyond == 0 {
                self.alert = false;
            }
        }
        let value = self.register(self.pointer).to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = value[i % 2];
        }
    }

    fn stop(&mut self, now: Nanos) {
        self.advance(now);
    }
}
