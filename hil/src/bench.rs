//! The bench as built: which node meters what, the ADCs and their inputs, the relay outputs and
//! their wiring, and the calibration found for each sensor. A RON file (`BENCH.ron`) that
//! `gridtwin hil selftest` checks against the hardware and `gridtwin hil calibrate` updates; and
//! an emulation of it (`emulate`) for trying both without a Pi.

use serde::{Deserialize, Serialize};

use crate::ads1115::{self, Input, Range, Rate};
use crate::node::Calibration;
use crate::poll::PollSettings;
use crate::relays::Contact;

/// A bench for the demo PDU (two sources, two nodes of loads), as `hil selftest --emulated`
/// uses when no file is given.
pub const DEMO: &str = include_str!("../bench.ron");
/// The demo PDU's loads metered by two ADS1115s instead of nodes.
pub const DEMO_ADS1115: &str = include_str!("../bench_ads1115.ron");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bench {
    #[serde(default = "d_nominal_v")]
    pub nominal_v: f64,
    #[serde(default = "d_nominal_hz")]
    pub nominal_hz: f64,
    #[serde(default)]
    pub i2c: I2cBus,
    #[serde(default)]
    pub poll: PollSettings,
    pub nodes: Vec<NodeCfg>,
    #[serde(default)]
    pub adcs: Vec<AdcCfg>,
    /// ADS1115s metering circuits live: a voltage and up to three currents each, streamed at
    /// 860 conversions/s (`crate::ads_meter`).
    #[serde(default)]
    pub meters: Vec<MeterCfg>,
    pub relays: Relays,
}

fn d_nominal_v() -> f64 {
    230.0
}
fn d_nominal_hz() -> f64 {
    50.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct I2cBus {
    /// `/dev/i2c-N` (1 on every Pi since the B+).
    pub bus: u8,
    pub hz: u32,
}

impl Default for I2cBus {
    fn default() -> Self {
        I2cBus {
            bus: 1,
            hz: 400_000,
        }
    }
}

/// What a sensor is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Circuit {
    Main,
    Backup,
    Bus,
    Load(String),
}

impl Circuit {
    pub fn name(&self) -> String {
        match self {
            Circuit::Main => "main".into(),
            Circuit::Backup => "backup".into(),
            Circuit::Bus => "bus".into(),
            Circuit::Load(n) => n.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeCfg {
    pub address: u8,
    /// Where its voltage sensor is.
    pub voltage: Circuit,
    /// Its current channels, in order.
    pub channels: Vec<Circuit>,
    /// Peak values at the ADC's full scale (the sensors' ranges as fitted).
    #[serde(default = "d_v_peak")]
    pub v_peak_v: f64,
    #[serde(default = "d_i_peak")]
    pub i_peak_a: f64,
    #[serde(default)]
    pub voltage_cal: Calibration,
    /// Per channel; missing ones are the defaults.
    #[serde(default)]
    pub channel_cal: Vec<Calibration>,
}

fn d_v_peak() -> f64 {
    400.0
}
fn d_i_peak() -> f64 {
    45.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdcCfg {
    pub address: u8,
    #[serde(default = "d_rate")]
    pub rate: Rate,
    pub inputs: Vec<AdcInput>,
}

fn d_rate() -> Rate {
    Rate::Sps860
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdcInput {
    pub name: String,
    pub input: Input,
    pub range: Range,
    #[serde(default)]
    pub cal: ads1115::Calibration,
}

/// A meter's sensors ride on the ADS1115's mid-supply (3.3 V / 2) ...
pub const METER_BIAS_V: f64 = 1.65;
/// ... and swing this far about it at their full scale, staying within the 3.3 V rails.
pub const METER_SWING_V: f64 = 1.4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterCfg {
    pub address: u8,
    /// The PGA's range, one for all inputs (the multiplexer changes input at every conversion).
    #[serde(default = "d_meter_range")]
    pub range: Range,
    pub voltage: MeterInput,
    /// One to three.
    pub currents: Vec<MeterInput>,
    /// The BCM input its ALERT/RDY drives (open drain, pulled up): the part's conversions are
    /// timed by its own oscillator, and the stream follows them by these pulses.
    pub ready_pin: u8,
}

fn d_meter_range() -> Range {
    Range::V4_096
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterInput {
    pub input: Input,
    pub circuit: Circuit,
    /// Volts at the input to the sensor's quantity.
    pub cal: ads1115::Calibration,
}

impl MeterInput {
    /// The input's volts for the sensor's quantity (its calibration inverted).
    pub fn volts(&self, quantity: f64) -> f64 {
        quantity / self.cal.gain + self.cal.offset
    }
}

impl MeterCfg {
    /// Input `k`: 0 the voltage, 1.. the currents.
    pub fn input(&self, k: usize) -> &MeterInput {
        if k == 0 {
            &self.voltage
        } else {
            &self.currents[k - 1]
        }
    }

    pub fn input_mut(&mut self, k: usize) -> &mut MeterInput {
        if k == 0 {
            &mut self.voltage
        } else {
            &mut self.currents[k - 1]
        }
    }

    /// The stream that meters it, for a grid at `hz`, `ready` its ALERT/RDY input.
    pub fn stream(
        &self,
        hz: f64,
        ready: Box<dyn crate::ads_meter::ReadyPin>,
    ) -> crate::ads_meter::Stream {
        let sensor = |m: &MeterInput| crate::ads_meter::Sensor {
            input: m.input,
            cal: m.cal,
        };
        crate::ads_meter::Stream::new(
            self.address,
            self.range,
            Rate::Sps860,
            std::iter::once(&self.voltage)
                .chain(&self.currents)
                .map(sensor)
                .collect(),
            ready,
            hz,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relays {
    /// The board energizes a coil when its input is low.
    #[serde(default = "d_true")]
    pub active_low: bool,
    /// BCM number of the heartbeat output.
    pub heartbeat_pin: u8,
    /// Coil power drops this long after the last heartbeat edge.
    #[serde(default = "d_watchdog")]
    pub watchdog_ms: u32,
    pub outputs: Vec<Output>,
}

fn d_true() -> bool {
    true
}
fn d_watchdog() -> u32 {
    500
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// BCM number.
    pub pin: u8,
    pub drives: Drive,
    pub contact: Contact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Drive {
    MainContactor,
    BackupContactor,
    GeneratorStart,
    Load(String),
}

impl Bench {
    /// Parse a bench file; errors say where (line:column) and what.
    pub fn parse(text: &str) -> Result<Bench, String> {
        let b: Bench = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
            .map_err(|e| format!("{}:{}: {}", e.span.start.line, e.span.start.col, e.code))?;
        b.check()?;
        Ok(b)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for n in &self.nodes {
            if !crate::node::ADDRESSES.contains(&n.address) {
                return Err(format!("node {:#04x}: addresses are 0x08-0x77", n.address));
            }
            if n.channels.is_empty() || n.channels.len() > usize::from(crate::node::MAX_CHANNELS) {
                return Err(format!("node {:#04x}: 1 to 8 channels", n.address));
            }
            if !seen.insert(n.address) {
                return Err(format!("node {:#04x} is listed twice", n.address));
            }
        }
        for a in &self.adcs {
            if !(0x48..=0x4b).contains(&a.address) {
                return Err(format!(
                    "ADS1115 {:#04x}: addresses are 0x48-0x4B",
                    a.address
                ));
            }
            if !seen.insert(a.address) {
                return Err(format!("{:#04x} is used twice", a.address));
            }
        }
        for m in &self.meters {
            let at = format!("meter {:#04x}", m.address);
            if !(0x48..=0x4b).contains(&m.address) {
                return Err(format!("{at}: ADS1115 addresses are 0x48-0x4B"));
            }
            if !seen.insert(m.address) {
                return Err(format!("{:#04x} is used twice", m.address));
            }
            if m.currents.is_empty() || m.currents.len() > 3 {
                return Err(format!("{at}: one to three currents beside the voltage"));
            }
            let mut inputs = std::collections::BTreeSet::new();
            for i in std::iter::once(&m.voltage).chain(&m.currents) {
                if crate::ads_meter::pin(i.input).is_none() {
                    return Err(format!(
                        "{at}: input {:?}: a meter reads single-ended inputs (A0-A3), each sensor biased to mid-supply",
                        i.input
                    ));
                }
                if !inputs.insert(format!("{:?}", i.input)) {
                    return Err(format!("{at}: input {:?} is used twice", i.input));
                }
            }
        }
        let mut pins = std::collections::BTreeSet::from([self.relays.heartbeat_pin]);
        for o in &self.relays.outputs {
            if o.pin > 27 || !pins.insert(o.pin) {
                return Err(format!("relay pin {}: BCM 0-27, each once", o.pin));
            }
        }
        for m in &self.meters {
            if m.ready_pin > 27 || !pins.insert(m.ready_pin) {
                return Err(format!(
                    "meter {:#04x}: ready_pin {}: BCM 0-27, not a relay's or another meter's",
                    m.address, m.ready_pin
                ));
            }
        }
        Ok(())
    }

    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::default())
            .expect("a bench always serializes")
    }

    /// Where a named channel is: `NAME` a circuit's current, `NAME.v` the voltage of the node
    /// that meters it, or an ADC input's name.
    pub fn find(&self, channel: &str) -> Option<Located> {
        let (name, voltage) = match channel.strip_suffix(".v") {
            Some(n) => (n, true),
            None => (channel, false),
        };
        for (k, n) in self.nodes.iter().enumerate() {
            if voltage && n.voltage.name() == name {
                return Some(Located::NodeVoltage { node: k });
            }
            if let Some(ch) = n.channels.iter().position(|c| c.name() == name)
                && !voltage
            {
                return Some(Located::NodeCurrent {
                    node: k,
                    ch: ch as u8,
                });
            }
            if voltage && n.channels.iter().any(|c| c.name() == name) {
                return Some(Located::NodeVoltage { node: k });
            }
        }
        for (k, a) in self.adcs.iter().enumerate() {
            if let Some(i) = a.inputs.iter().position(|i| i.name == channel) {
                return Some(Located::Adc { adc: k, input: i });
            }
        }
        for (k, m) in self.meters.iter().enumerate() {
            let current = m.currents.iter().position(|c| c.circuit.name() == name);
            match current {
                Some(c) if !voltage => {
                    return Some(Located::Meter {
                        meter: k,
                        input: c + 1,
                    });
                }
                Some(_) => return Some(Located::Meter { meter: k, input: 0 }),
                None if voltage && m.voltage.circuit.name() == name => {
                    return Some(Located::Meter { meter: k, input: 0 });
                }
                None => {}
            }
        }
        None
    }
}

/// A channel found by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located {
    NodeVoltage {
        node: usize,
    },
    NodeCurrent {
        node: usize,
        ch: u8,
    },
    Adc {
        adc: usize,
        input: usize,
    },
    /// An ADS1115 meter's input: 0 its voltage, 1.. its currents.
    Meter {
        meter: usize,
        input: usize,
    },
}
