//! A virtual measurement node: the firmware of `crate::node`'s register map on an emulated
//! ATmega328P. It samples its voltage sensor and each channel's current sensor through the
//! AVR's 10-bit ADC (biased to mid-scale, quantized, clipped), applies its calibration, and
//! meters cycles between rising zero crossings of the voltage. Its values are the last ten
//! cycles (twelve at 60 Hz), the IEC 61000-4-30 window, refreshed at every cycle so that a
//! step change shows within a cycle or two rather than up to two whole windows late; a dead
//! voltage closes a cycle after 1.5 nominal periods.
//!
//! Frames carry the SMBus PEC both ways: reads end with one; a write with a bad one is
//! acknowledged (as the firmware's TWI must: it acknowledges bytes as they come) and ignored.
//! It is the same firmware as `firmware/` (C), which `simavr-node` runs: change both together.

use super::{Device, Nak, Nanos};
use crate::node::{
    CALIBRATION, Calibration, ENERGY, FAST, FIRMWARE, Fast, IDENTITY, MAX_CHANNELS, SAMPLE_RATE,
    STATUS, Status, VALUES, VOLTAGE_CALIBRATION, Values,
};
use crate::pec;

/// The firmware's conversions per second, shared by every input: the ADC at F_CPU/64 takes 13
/// of its clocks a conversion, which with the start-up sync and the interrupt's margin is 1040
/// CPU cycles (`SLOT_MIN_CYCLES` in `firmware/src/config.h`). A higher rate cannot be kept.
pub const ADC_CONVERSIONS_PER_S: u32 = 15_384;
const ADC_BIAS: f64 = 512.0;

/// A sensor input of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Voltage,
    Current(u8),
}

/// The node's analog world: each signal's instantaneous value in SI units at a time in seconds.
pub type Inputs = Box<dyn FnMut(Signal, f64) -> f64 + Send>;

/// What the board is built with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpec {
    pub channels: u8,
    pub firmware: (u8, u8),
    pub nominal_hz: f64,
    /// Peak value at ADC full scale: the sensors' ranges (ZMPT101B module and burden, SCT-013).
    pub v_peak: f64,
    pub i_peak: f64,
    pub sample_rate: u16,
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            channels: 4,
            firmware: (1, 2),
            nominal_hz: 50.0,
            v_peak: 400.0,
            i_peak: 45.0,
            sample_rate: 1800,
        }
    }
}

/// Sums over samples: one cycle's, or a window's.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    n: u32,
    v2: f64,
    i2: [f64; MAX_CHANNELS as usize],
    p: [f64; MAX_CHANNELS as usize],
}

pub struct VirtualNode {
    address: u8,
    spec: NodeSpec,
    inputs: Inputs,
    pointer: u8,
    sample_rate: u16,
    calibration: [Calibration; MAX_CHANNELS as usize],
    voltage_calibration: Calibration,
    flags: u8,
    sequence: u8,
    values: [Values; MAX_CHANNELS as usize],
    /// The next sample's time.
    next_sample: Nanos,
    /// The last voltage sample and its time (for zero crossings).
    last_v: Option<(f64, f64)>,
    /// The cycle under way: its sums, its start, and whether a crossing started it.
    acc: Window,
    cycle_start: f64,
    synced: bool,
    /// The last cycles: sums, duration, and whether they ran crossing to crossing.
    ring: std::collections::VecDeque<(Window, f64, bool)>,
    /// The half-cycle under way (fixed half-periods of the nominal frequency, so a fault that
    /// collapses the voltage still shows): samples and current sums.
    half: Window,
    fast: Fast,
    /// Each channel's net active energy since start-up, J.
    energy: [f64; MAX_CHANNELS as usize],
}

impl VirtualNode {
    pub fn new(address: u8, spec: NodeSpec, inputs: Inputs) -> Self {
        let spec = NodeSpec {
            channels: spec.channels.clamp(1, MAX_CHANNELS),
            ..spec
        };
        VirtualNode {
            address,
            inputs,
            pointer: 0,
            sample_rate: spec.sample_rate,
            calibration: [Calibration::default(); MAX_CHANNELS as usize],
            voltage_calibration: Calibration::default(),
            flags: 0,
            sequence: 0,
            values: [Values {
                v_rms: 0.0,
                i_rms: 0.0,
                p: 0.0,
                pf: 0.0,
                hz: 0.0,
            }; MAX_CHANNELS as usize],
            next_sample: 0,
            last_v: None,
            acc: Window::default(),
            cycle_start: 0.0,
            synced: false,
            ring: Default::default(),
            half: Window::default(),
            fast: Fast::default(),
            energy: [0.0; MAX_CHANNELS as usize],
            spec,
        }
    }

    /// The node's watchdog fired: it restarts with its stored calibration, loses its window and
    /// says so in its status.
    pub fn reset(&mut self, now: Nanos) {
        let (address, spec) = (self.address, self.spec);
        let inputs = std::mem::replace(&mut self.inputs, Box::new(|_, _| 0.0));
        let (cal, vcal) = (self.calibration, self.voltage_calibration);
        *self = VirtualNode::new(address, spec, inputs);
        self.calibration = cal;
        self.voltage_calibration = vcal;
        self.flags = Status::WATCHDOG_RESET;
        self.next_sample = now;
        self.cycle_start = now as f64 / 1e9;
    }

    /// The rate each input is actually sampled at: the requested one, or what the ADC can do.
    fn effective_rate(&self) -> u32 {
        let inputs = u32::from(self.spec.channels) + 1;
        u32::from(self.sample_rate).min(ADC_CONVERSIONS_PER_S / inputs)
    }

    /// One sensor through the 10-bit ADC and back to SI units with the calibration.
    fn adc(x: f64, peak: f64, cal: Calibration) -> f64 {
        let per_count = peak / ADC_BIAS;
        let counts = (ADC_BIAS + x / per_count).round().clamp(0.0, 1023.0);
        (counts - ADC_BIAS - f64::from(cal.offset)) * per_count * cal.factor()
    }

    /// Sample and meter everything up to `now`.
    pub fn advance(&mut self, now: Nanos) {
        let rate = self.effective_rate();
        if rate < u32::from(self.sample_rate) {
            self.flags |= Status::ADC_OVERRUN;
        }
        let step = 1_000_000_000 / u64::from(rate.max(1));
        let channels = usize::from(self.spec.channels);
        let max_cycle = 1.5 / self.spec.nominal_hz;
        let half_n = (f64::from(rate) / (2.0 * self.spec.nominal_hz))
            .round()
            .max(1.0) as u32;
        while self.next_sample <= now {
            let t = self.next_sample as f64 / 1e9;
            self.next_sample += step;
            let v = Self::adc(
                (self.inputs)(Signal::Voltage, t),
                self.spec.v_peak,
                self.voltage_calibration,
            );
            // A rising zero crossing, interpolated between the samples, closes a cycle.
            if let Some((v0, t0)) = self.last_v
                && v0 < 0.0
                && v >= 0.0
            {
                let tc = t0 + (t - t0) * (-v0) / (v - v0);
                self.close_cycle(tc, true);
            } else if t - self.cycle_start >= max_cycle {
                self.close_cycle(t, false);
            }
            self.last_v = Some((v, t));
            self.acc.n += 1;
            self.acc.v2 += v * v;
            for ch in 0..channels {
                let i = Self::adc(
                    (self.inputs)(Signal::Current(ch as u8), t),
                    self.spec.i_peak,
                    self.calibration[ch],
                );
                self.acc.i2[ch] += i * i;
                self.acc.p[ch] += v * i;
                self.energy[ch] += v * i / f64::from(rate);
                self.half.i2[ch] += i * i;
            }
            self.half.n += 1;
            if self.half.n >= half_n {
                let n = f64::from(self.half.n);
                for ch in 0..channels {
                    let rms = (self.half.i2[ch] / n).sqrt();
                    self.fast.i_half_max[ch] = self.fast.i_half_max[ch].max(rms);
                }
                self.half = Window::default();
            }
        }
    }

    /// End the cycle under way at `t` (at a rising crossing when `crossing`), publish the
    /// window of the last cycles, and start the next cycle.
    fn close_cycle(&mut self, t: f64, crossing: bool) {
        // The stretch before the first crossing is not a cycle; it only syncs.
        if self.synced || !crossing {
            let cycles = (self.spec.nominal_hz / 5.0).round().max(1.0) as usize;
            let done = (
                std::mem::take(&mut self.acc),
                t - self.cycle_start,
                self.synced && crossing,
            );
            self.fast.v_cycle = (done.0.v2 / f64::from(done.0.n.max(1))).sqrt();
            self.ring.push_back(done);
            while self.ring.len() > cycles {
                self.ring.pop_front();
            }
            self.publish();
        }
        self.acc = Window::default();
        self.cycle_start = t;
        self.synced = crossing;
    }

    fn publish(&mut self) {
        let mut w = Window::default();
        let (mut synced_n, mut synced_s) = (0u32, 0.0);
        for (c, dur, synced) in &self.ring {
            w.n += c.n;
            w.v2 += c.v2;
            for ch in 0..usize::from(MAX_CHANNELS) {
                w.i2[ch] += c.i2[ch];
                w.p[ch] += c.p[ch];
            }
            if *synced {
                synced_n += 1;
                synced_s += dur;
            }
        }
        // A voltage that stopped crossing has no frequency, whatever the older cycles had.
        let last_synced = self.ring.back().is_some_and(|c| c.2);
        let hz = if last_synced && synced_s > 0.0 {
            f64::from(synced_n) / synced_s
        } else {
            0.0
        };
        let n = f64::from(w.n.max(1));
        let v_rms = (w.v2 / n).sqrt();
        for ch in 0..usize::from(self.spec.channels) {
            let i_rms = (w.i2[ch] / n).sqrt();
            self.values[ch] = Values::new(v_rms, i_rms, w.p[ch] / n, hz);
        }
        self.flags |= Status::DATA_READY;
        self.sequence = self.sequence.wrapping_add(1);
    }

    /// The bytes of the register at `pointer`, or None where there is none.
    fn register(&mut self, pointer: u8) -> Option<Vec<u8>> {
        let channels = self.spec.channels;
        let ch = |base: u8, size: u8| {
            let off = pointer.checked_sub(base)?;
            (off.is_multiple_of(size) && off / size < channels).then_some(usize::from(off / size))
        };
        Some(match pointer {
            IDENTITY => vec![b'G', b'T', 1, self.spec.channels],
            FIRMWARE => vec![self.spec.firmware.0, self.spec.firmware.1],
            STATUS => {
                let s = Status {
                    flags: self.flags,
                    sequence: self.sequence,
                };
                self.flags &= !(Status::DATA_READY | Status::WATCHDOG_RESET);
                s.encode().to_vec()
            }
            SAMPLE_RATE => self.sample_rate.to_le_bytes().to_vec(),
            VOLTAGE_CALIBRATION => self.voltage_calibration.encode().to_vec(),
            FAST => {
                let b = self.fast.encode(channels);
                self.fast.i_half_max = Default::default();
                b
            }
            ENERGY => self.energy[..usize::from(channels)]
                .iter()
                // mWh in an i32 that wraps, as the firmware's register does.
                .flat_map(|j| ((j / 3.6).round() as i64 as i32).to_le_bytes())
                .collect(),
            p if p >= CALIBRATION => self.calibration[ch(CALIBRATION, 8)?].encode().to_vec(),
            p if p >= VALUES => self.values[ch(VALUES, 16)?].encode().to_vec(),
            _ => return None,
        })
    }

    fn write_register(&mut self, register: u8, data: &[u8]) -> Result<(), Nak> {
        let cal = || -> Result<Calibration, Nak> {
            Ok(Calibration::decode(data.try_into().map_err(|_| Nak)?))
        };
        match register {
            SAMPLE_RATE => {
                let sps = u16::from_le_bytes(data.try_into().map_err(|_| Nak)?);
                if !(100..=10_000).contains(&sps) {
                    return Err(Nak);
                }
                self.sample_rate = sps;
                self.flags &= !Status::ADC_OVERRUN;
            }
            VOLTAGE_CALIBRATION => self.voltage_calibration = cal()?,
            r if (CALIBRATION..VOLTAGE_CALIBRATION).contains(&r) => {
                let off = r - CALIBRATION;
                if !off.is_multiple_of(8) || off / 8 >= self.spec.channels {
                    return Err(Nak);
                }
                self.calibration[usize::from(off / 8)] = cal()?;
                self.flags &= !Status::CALIBRATION_INVALID;
            }
            _ => return Err(Nak),
        }
        Ok(())
    }
}

impl Device for VirtualNode {
    fn write(&mut self, now: Nanos, bytes: &[u8]) -> Result<(), Nak> {
        self.advance(now);
        match bytes {
            [] => Ok(()),
            [register] => {
                self.pointer = *register;
                Ok(())
            }
            [register, data @ .., pec] => {
                if pec::of_write(self.address, *register, data) != *pec {
                    return Ok(());
                }
                self.write_register(*register, data)
            }
        }
    }

    fn read(&mut self, now: Nanos, buf: &mut [u8]) {
        self.advance(now);
        // An absent register reads as a released bus, with a PEC that will not check.
        let data = self.register(self.pointer).unwrap_or_default();
        let n = data.len().min(buf.len());
        buf.fill(0xff);
        buf[..n].copy_from_slice(&data[..n]);
        if buf.len() > data.len() {
            buf[data.len()] = if data.is_empty() {
                0
            } else {
                pec::of_read(self.address, self.pointer, &data)
            };
        }
    }
}
