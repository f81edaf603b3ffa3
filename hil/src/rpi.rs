//! The Raspberry Pi's buses through rppal: I2C on `/dev/i2c-N`, GPIO outputs, which
//! implement the embedded-hal 1.0 traits the drivers here are generic over, and the meters'
//! ALERT/RDY inputs with the kernel's edge timestamps. On anything but a Pi, `Pi::open` says so
//! instead of failing later.

use std::sync::{Arc, Mutex};

use rppal::gpio::{Event, InputPin, Trigger};

use crate::ads_meter::ReadyPin;
use crate::bench::Bench;

pub type I2c = rppal::i2c::I2c;
pub type OutputPin = rppal::gpio::OutputPin;
pub type Delay = rppal::hal::Delay;

/// The bench's buses, opened.
pub struct Pi {
    pub i2c: I2c,
    pub outputs: Vec<OutputPin>,
    pub heartbeat: OutputPin,
    pub delay: Delay,
    /// Each meter's ALERT/RDY, in the bench's order.
    pub ready: Vec<ReadyInput>,
}

/// Seconds on CLOCK_MONOTONIC: the clock the kernel stamps GPIO edge events with.
pub fn monotonic() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Edges kept for a reader that does not come (some 5 s of conversions).
const EDGES_KEPT: usize = 4096;

/// An ADS1115's ALERT/RDY on a GPIO input: its falling edges, timestamped by the kernel as
/// they happen (so a busy Pi reads them late, never wrong), on `monotonic`'s clock.
pub struct ReadyInput {
    _pin: InputPin,
    edges: Arc<Mutex<Vec<f64>>>,
}

impl ReadyInput {
    fn open(gpio: &rppal::gpio::Gpio, pin: u8) -> Result<ReadyInput, String> {
        // Open drain: the Pi's pull-up holds it high between the 8 us pulses.
        let mut input = gpio
            .get(pin)
            .map_err(|e| format!("GPIO {pin}: {e}"))?
            .into_input_pullup();
        let edges = Arc::new(Mutex::new(Vec::new()));
        let sink = edges.clone();
        input
            .set_async_interrupt(Trigger::FallingEdge, None, move |e: Event| {
                let mut edges = sink.lock().unwrap_or_else(|p| p.into_inner());
                if edges.len() < EDGES_KEPT {
                    edges.push(e.timestamp.as_secs_f64());
                }
            })
            .map_err(|e| format!("GPIO {pin} interrupt: {e}"))?;
        Ok(ReadyInput { _pin: input, edges })
    }
}

impl ReadyPin for ReadyInput {
    fn pulses(&mut self, out: &mut Vec<f64>) {
        out.append(&mut self.edges.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

impl Pi {
    /// Open the bench's I2C bus and claim its output pins, each at its relay's rest level (the
    /// coil not energized) before it becomes an output, so that nothing clicks on start.
    pub fn open(b: &Bench) -> Result<Pi, String> {
        let i2c = I2c::with_bus(b.i2c.bus).map_err(|e| format!("I2C bus {}: {e}", b.i2c.bus))?;
        let gpio = rppal::gpio::Gpio::new().map_err(|e| format!("GPIO: {e}"))?;
        let output = |pin: u8, high: bool| -> Result<OutputPin, String> {
            let p = gpio.get(pin).map_err(|e| format!("GPIO {pin}: {e}"))?;
            Ok(if high {
                p.into_output_high()
            } else {
                p.into_output_low()
            })
        };
        let rest_high = b.relays.active_low;
        let outputs = b
            .relays
            .outputs
            .iter()
            .map(|o| output(o.pin, rest_high))
            .collect::<Result<Vec<_>, _>>()?;
        let ready = b
            .meters
            .iter()
            .map(|m| ReadyInput::open(&gpio, m.ready_pin))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pi {
            i2c,
            outputs,
            heartbeat: output(b.relays.heartbeat_pin, false)?,
            delay: Delay::new(),
            ready,
        })
    }
}
