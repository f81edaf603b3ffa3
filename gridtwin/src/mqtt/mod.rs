//! MQTT: the topic layout (`topics`), the retained state (`state`), Home Assistant's
//! discovery (`discovery`), command payloads (`command`) and the fleet's telemetry messages
//! (`telemetry`), all sans-IO; the broker's address
//! (`broker`) and its TLS (`tls`); the client that publishes and subscribes sits at the edge (`client`).

pub mod broker;
pub mod client;
pub mod command;
pub mod discovery;
pub mod state;
pub mod telemetry;
/// TLS for `mqtts://`, shared with the field's ChirpStack client.
pub use field::tls;
pub mod topics;
