//! Field links: the home nodes and the meters a site reads over Modbus (RS-485, or TCP through
//! a gateway), and home nodes over LoRaWAN through ChirpStack. The register maps and payloads
//! are pure (`home_node`, `meter`, `lora`); `rtu` is the serial line's framing as a slave sees
//! it, `slave` the emulated devices behind it.

mod chirpstack;
pub mod clock;
pub mod config;
pub mod emulated;
pub mod home_node;
pub mod line;
pub mod lora;
pub mod master;
pub mod meter;
pub mod poll;
pub mod rtu;
pub mod selftest;
pub mod site;
pub mod slave;
mod state;
pub mod tls;
pub mod words;
