//! The measurement node's firmware (`firmware/`, C for the ATmega328P) run in simavr and put on
//! `hil`'s emulated I2C bus, so that the Pi's driver and poller read the real firmware: its
//! ADC inputs are the twin's waveforms through the node's sensors, its TWI the bus's
//! transactions byte by byte. The Rust `VirtualNode` stays the fast default; this is the check
//! that the firmware does what it emulates.

mod ffi;

use hil::emulated::node::{Inputs, Signal};
use hil::emulated::{Device, Nak, Nanos};

/// The firmware as built for 4 channels by `firmware/Makefile`.
pub const FIRMWARE_ELF: &str = env!("NODE_ELF");
/// The AVR's clock.
pub const F_CPU: u64 = 16_000_000;

/// The node's analog front end: each sensor's peak value at ADC full scale, biased to
/// mid-scale (512 counts of 1024 at a 5 V reference), as `firmware/src/config.h` assumes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrontEnd {
    pub v_peak: f64,
    pub i_peak: f64,
}

impl Default for FrontEnd {
    fn default() -> Self {
        FrontEnd {
            v_peak: 400.0,
            i_peak: 45.0,
        }
    }
}

impl FrontEnd {
    /// A sensor's output in SI units to the pin's millivolts: mid-scale bias, full scale at the
    /// peak, clipped at the rails. Half a count is added so that the ADC's truncation rounds.
    fn millivolts(x: f64, peak: f64) -> f64 {
        let counts = (512.0 + x * 512.0 / peak + 0.5).clamp(0.0, 1023.5);
        counts * 5000.0 / 1023.0
    }
}

/// Statistics of the sampling interrupt, from simavr's cycle counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsrStats {
    pub cycles: u64,
    pub count: u64,
    pub max: u64,
}

/// A node running the firmware in simavr, at an address set on its DIP switches.
pub struct SimavrNode {
    avr: ffi::Avr,
    address: u8,
}

impl SimavrNode {
    pub fn new(address: u8, front: FrontEnd, mut inputs: Inputs) -> Result<SimavrNode, String> {
        let pin: ffi::PinInput = Box::new(move |input, t| {
            if input == 0 {
                FrontEnd::millivolts(inputs(Signal::Voltage, t), front.v_peak)
            } else {
                let ch = u8::try_from(input - 1).unwrap_or(0);
                FrontEnd::millivolts(inputs(Signal::Current(ch), t), front.i_peak)
            }
        });
        let avr = ffi::Avr::new(std::path::Path::new(FIRMWARE_ELF), address, pin)?;
        Ok(SimavrNode { avr, address })
    }

    /// Run the firmware up to bus time `now` (it never runs backwards).
    pub fn advance(&mut self, now: Nanos) {
        let cycle = now * F_CPU / 1_000_000_000;
        if cycle > self.avr.cycle() {
            self.avr.run_until(cycle);
        }
    }

    /// The watchdog fired: the CPU restarts, keeping its EEPROM.
    pub fn reset(&mut self) {
        self.avr.watchdog_reset();
    }

    pub fn isr(&self) -> IsrStats {
        let (cycles, count, max) = self.avr.isr_stats();
        IsrStats { cycles, count, max }
    }
}

impl Device for SimavrNode {
    fn write(&mut self, now: Nanos, bytes: &[u8]) -> Result<(), Nak> {
        self.advance(now);
        // The bus has found the address present; a NAK of it is the firmware's (TWEA clear).
        if self.avr.start(self.address, false) != Some(true) {
            return Err(Nak);
        }
        for &b in bytes {
            if self.avr.write(b) != Some(true) {
                return Err(Nak);
            }
        }
        Ok(())
    }

    fn read(&mut self, now: Nanos, buf: &mut [u8]) {
        self.advance(now);
        buf.fill(0xff);
        if self.avr.start(self.address, true) != Some(true) {
            return;
        }
        let n = buf.len();
        for (i, b) in buf.iter_mut().enumerate() {
            match self.avr.read(i + 1 < n) {
                Some(x) => *b = x,
                None => return,
            }
        }
    }

    fn stop(&mut self, now: Nanos) {
        self.advance(now);
        self.avr.stop();
    }
}
