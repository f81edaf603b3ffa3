//! The Raspberry Pi's buses through rppal: I2C on `/dev/i2c-N` and GPIO outputs, which
//! implement the embedded-hal 1.0 traits the drivers here are generic over. On anything but a
//! Pi, `Pi::open` says so instead of failing later.

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
        Ok(Pi {
            i2c,
            outputs,
            heartbeat: output(b.relays.heartbeat_pin, false)?,
            delay: Delay::new(),
        })
    }
}
