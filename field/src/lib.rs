//! Field links: the home nodes and the meters a site reads over Modbus (RS-485, or TCP through
//! a gateway). The register maps are pure (`home_node`, `meter`); `rtu` is the serial line's
//! framing as a slave sees it, `slave` the emulated devices behind it.

pub mod config;
pub mod emulated;
pub mod home_node;
pub mod line;
pub mod master;
pub mod meter;
pub mod poll;
pub mod rtu;
pub mod selftest;
pub mod site;
pub mod slave;
pub mod words;
