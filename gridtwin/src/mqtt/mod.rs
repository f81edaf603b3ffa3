//! MQTT: the topic layout (`topics`), the retained state (`state`) and Home Assistant's
//! discovery (`discovery`), all sans-IO; the client that publishes and subscribes sits at the edge.

pub mod broker;
pub mod client;
pub mod discovery;
pub mod state;
pub mod topics;
