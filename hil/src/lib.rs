//! Hardware-in-the-loop. Drivers here are generic over embedded-hal 1.0 traits so the same code
//! drives a Raspberry Pi's GPIO and I2C, the emulated bus in CI, or a mock in unit tests.

pub mod ads1115;
pub mod ads_meter;
pub mod bench;
pub mod emulated;
pub mod node;
pub mod pec;
pub mod phase_selector;
pub mod poll;
pub mod relays;
#[cfg(feature = "rpi")]
pub mod rpi;
pub mod selftest;

pub use relays::{Contact, Polarity, RelayBank};
