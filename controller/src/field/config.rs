//! The field's configuration, as a scenario's `balancing` section gives it: the home nodes'
//! reports, their link, their selectors and the balancer's settings.

use control_core::Secs;
use control_core::balance::BalancerSettings;
use serde::{Deserialize, Serialize};
use sim::home::SelectorSpec;

/// Every single-phase home has a node that measures it and switches its phase; the nodes report
/// over a field link to the balancer at the transformer, which sends its moves back the same way.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Balancing {
    pub link: FieldLink,
    /// How often each node reports, s; each node starts at its own seeded offset.
    #[serde(default = "report_every")]
    pub report_every: Secs,
    /// A report's application payload, bytes: node, time, phase, kW, A, V.
    #[serde(default = "report_bytes")]
    pub report_bytes: usize,
    /// A command's or an acknowledgement's payload, bytes.
    #[serde(default = "command_bytes")]
    pub command_bytes: usize,
    /// A node acknowledges a command after a random delay of up to this, s.
    #[serde(default = "ack_jitter")]
    pub ack_jitter: Secs,
    /// Seeds the offsets, the link's losses and its jitter.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub selector: SelectorSpec,
    #[serde(default)]
    pub settings: BalancerSettings,
}

fn report_every() -> Secs {
    Secs::lit(60.0)
}

fn report_bytes() -> usize {
    14
}

fn ack_jitter() -> Secs {
    Secs::lit(10.0)
}

fn command_bytes() -> usize {
    6
}

/// The field link between the home nodes and the transformer controller.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum FieldLink {
    /// Every home on one RS-485 bus the controller polls (Modbus RTU, 8E1).
    Rs485 { baud: u32 },
    /// LoRa to a gateway at the transformer (EU868). Each node's packet error rate grows with
    /// its distance from the transformer, from `per_near` to `per_far` at the farthest home
    /// (all `per_far` when the feeder has no bus coordinates).
    Lora { sf: u8, per_near: f64, per_far: f64 },
    /// Wi-Fi or cellular: median one-way latency, log-normal jitter, loss.
    Ip {
        latency_s: f64,
        jitter: f64,
        loss: f64,
    },
    /// A campus: the homes, in feeder order, split into `concentrators` groups, each on its own
    /// RS-485 bus to a concentrator that batches over LoRa to the transformer.
    Campus {
        concentrators: usize,
        baud: u32,
        sf: u8,
        per: f64,
        batch: Secs,
        max_payload: usize,
    },
}

/// What goes wrong on the emulated field (`backend: EmulatedField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FieldFault {
    /// The home's node stops answering (RS-485) or sending (LoRa).
    Silent,
    /// The node's next `count` replies fail their CRC (noise on the bus; RS-485).
    Crc { count: u32 },
    /// The LoRa gateway is down: no uplink is heard, no downlink sent.
    GatewayDown,
    /// Each of the node's uplinks reaches the application twice (LoRa).
    Duplicate,
    /// The node's selector fails its next move and locks out (its contactor does not confirm).
    SelectorFails,
}

/// The emulated field carries a balancing section's RS-485 or LoRa link.
pub fn emulated_link(b: Option<&Balancing>) -> Result<(), String> {
    match b.map(|b| &b.link) {
        Some(FieldLink::Rs485 { .. } | FieldLink::Lora { .. }) => Ok(()),
        Some(_) => Err("the emulated field carries an RS-485 or a LoRa link, not this one".into()),
        None => Err("the emulated field is the home nodes': add a balancing section".into()),
    }
}
