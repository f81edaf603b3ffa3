//! The field file (RON): how a real site is wired. Its transports (a serial port with its baud
//! rate and framing, or a Modbus TCP gateway), each home's node and each meter on one of them,
//! and the master's polling. Checked as a scenario is: a syntax error at `file:line:column`, a
//! wrong value at the line and column of the name it concerns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::meter::MeterKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// By name.
    pub transports: BTreeMap<String, Transport>,
    #[serde(default)]
    pub homes: Vec<HomeCfg>,
    #[serde(default)]
    pub meters: Vec<MeterCfg>,
    #[serde(default)]
    pub poll: PollCfg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Transport {
    /// RS-485 through a UART and a transceiver, or a USB adapter: `/dev/ttyAMA0`, `/dev/ttyUSB0`.
    Rtu {
        port: String,
        baud: u32,
        #[serde(default)]
        parity: Parity,
        #[serde(default = "d_stop_bits")]
        stop_bits: u8,
    },
    /// A Modbus TCP gateway to an RS-485 line, `HOST:PORT`; `baud` is its line's rate (the
    /// time a reply takes behind it).
    Tcp { address: String, baud: u32 },
    /// LoRaWAN: ChirpStack v4's MQTT integration on the broker at `host:port`, the nodes in
    /// its application `application` (its id), each home by its DevEUI. With `tls` the broker
    /// is checked against `ca` (a PEM file; else the system's CAs); with `user`, the password
    /// is the first line of `password_file` (kept out of the field file, readable by the site
    /// alone).
    ChirpStack {
        host: String,
        port: u16,
        application: String,
        #[serde(default)]
        tls: bool,
        #[serde(default)]
        ca: Option<String>,
        #[serde(default)]
        user: Option<String>,
        #[serde(default)]
        password_file: Option<String>,
    },
}

fn d_stop_bits() -> u8 {
    1
}

/// Modbus over Serial Line says even parity by default; no parity takes two stop bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Parity {
    #[default]
    Even,
    Odd,
    None,
}

impl Transport {
    /// Bits a character takes on an RS-485 line.
    pub fn bits_per_char(&self) -> u32 {
        match self {
            Transport::Rtu {
                parity, stop_bits, ..
            } => 9 + u32::from(*parity != Parity::None) + u32::from(*stop_bits),
            _ => 11,
        }
    }

    /// The RS-485 line's baud rate; None for LoRaWAN.
    pub fn baud(&self) -> Option<u32> {
        match self {
            Transport::Rtu { baud, .. } | Transport::Tcp { baud, .. } => Some(*baud),
            Transport::ChirpStack { .. } => None,
        }
    }

    pub fn is_lora(&self) -> bool {
        matches!(self, Transport::ChirpStack { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeCfg {
    pub name: String,
    pub transport: String,
    /// Modbus address, 1-247 (a node on RS-485 or behind a gateway).
    #[serde(default)]
    pub address: u8,
    /// DevEUI, 16 hex digits (a node on LoRaWAN).
    #[serde(default)]
    pub dev_eui: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterCfg {
    pub name: String,
    pub kind: MeterKind,
    pub transport: String,
    pub address: u8,
    pub measures: Measures,
}

/// What a meter measures on the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Measures {
    /// A feeder's transformer secondary (three-phase).
    Transformer,
    /// A PDU's source or load, or a monitored circuit, by name.
    Circuit(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollCfg {
    /// A device's answer must start within this, ms.
    pub timeout_ms: u32,
    /// Tries again at once after a failure, this many times, before the poll fails.
    pub retries: u32,
    /// Consecutive failed polls before a device is lost.
    pub lost_after: u32,
    /// A lost device is probed again after 1 s, then twice as long each time, up to this, s.
    pub reprobe_max_s: f64,
    /// Each device is read once a cycle of this, s.
    pub cycle_s: f64,
    /// Values older than this are stale, s.
    pub stale_s: f64,
}

impl Default for PollCfg {
    fn default() -> Self {
        PollCfg {
            timeout_ms: 200,
            retries: 1,
            lost_after: 3,
            reprobe_max_s: 60.0,
            cycle_s: 1.0,
            stale_s: 10.0,
        }
    }
}

/// A field file that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct FieldError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The baud rates RS-485 devices offer.
const BAUDS: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];

pub fn load(path: &Path) -> Result<Field, FieldError> {
    let text = std::fs::read_to_string(path).map_err(|e| FieldError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        message: format!("cannot read the field file: {e}"),
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Field, FieldError> {
    let file = path.display().to_string();
    let f: Field = ron::Options::default()
        .from_str(text)
        .map_err(|e| FieldError {
            file: file.clone(),
            line: e.span.start.line,
            col: e.span.start.col,
            message: e.code.to_string(),
        })?;
    let at = |needle: &str, message: String| {
        let (line, col) = locate(text, needle);
        FieldError {
            file: file.clone(),
            line,
            col,
            message,
        }
    };
    for (name, t) in &f.transports {
        if let Some(baud) = t.baud()
            && !BAUDS.contains(&baud)
        {
            return Err(at(
                name,
                format!("transport {name:?}: baud {baud} is none of {BAUDS:?}"),
            ));
        }
        if let Transport::Rtu { stop_bits, .. } = t
            && !(1..=2).contains(stop_bits)
        {
            return Err(at(name, format!("transport {name:?}: 1 or 2 stop bits")));
        }
        if let Transport::ChirpStack {
            tls,
            ca,
            user,
            password_file,
            ..
        } = t
        {
            if ca.is_some() && !tls {
                return Err(at(
                    name,
                    format!("transport {name:?}: a ca needs tls: true"),
                ));
            }
            if user.is_some() != password_file.is_some() {
                return Err(at(
                    name,
                    format!("transport {name:?}: user and password_file go together"),
                ));
            }
        }
        if let Transport::Tcp { address, .. } = t
            && address.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(at(
                address,
                format!("transport {name:?}: {address:?} is no IP:PORT"),
            ));
        }
    }
    let mut names = BTreeSet::new();
    let mut taken = BTreeSet::new();
    let mut euis = BTreeSet::new();
    let devices = f
        .homes
        .iter()
        .map(|h| (&h.name, &h.transport, h.address, Some(&h.dev_eui)))
        .chain(
            f.meters
                .iter()
                .map(|m| (&m.name, &m.transport, m.address, None)),
        );
    for (name, transport, address, eui) in devices {
        if !names.insert(name) {
            return Err(at(name, format!("{name:?} is named twice")));
        }
        let Some(t) = f.transports.get(transport) else {
            return Err(at(
                name,
                format!("{name:?}: no transport named {transport:?}"),
            ));
        };
        if t.is_lora() {
            let Some(eui) = eui else {
                return Err(at(
                    name,
                    format!("{name:?}: meters are read over Modbus, not LoRaWAN"),
                ));
            };
            if eui.len() != 16 || !eui.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(at(
                    name,
                    format!("{name:?}: dev_eui {eui:?} is not 16 hex digits"),
                ));
            }
            if !euis.insert(eui.to_ascii_lowercase()) {
                return Err(at(name, format!("{name:?}: dev_eui {eui} is taken")));
            }
            continue;
        }
        if !(1..=247).contains(&address) {
            return Err(at(
                name,
                format!("{name:?}: address {address}: Modbus slaves are 1-247"),
            ));
        }
        if !taken.insert((transport, address)) {
            return Err(at(
                name,
                format!("{name:?}: address {address} on {transport:?} is taken"),
            ));
        }
    }
    let p = &f.poll;
    if p.timeout_ms == 0 || p.lost_after == 0 || p.cycle_s <= 0.0 || p.reprobe_max_s < 1.0 {
        return Err(at(
            "poll",
            "poll: timeout_ms, lost_after and cycle_s above 0, reprobe_max_s 1 s or more".into(),
        ));
    }
    Ok(f)
}

/// Line and column (1-based) of `"needle"` (or the bare word) in `text`.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    let pos = text
        .find(&format!("\"{needle}\""))
        .or_else(|| text.find(needle))
        .unwrap_or(0);
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREET: &str = r#"Field(
    transports: {
        "street": Rtu(port: "/dev/ttyUSB0", baud: 9600),
    },
    homes: [
        (name: "no1", transport: "street", address: 1),
        (name: "no2", transport: "street", address: 2),
    ],
    meters: [
        (name: "transformer", kind: Sdm630, transport: "street", address: 100, measures: Transformer),
    ],
)"#;

    #[test]
    fn a_street_parses_and_mistakes_are_placed() {
        let f = parse(Path::new("f.ron"), STREET).unwrap();
        assert_eq!(f.homes.len(), 2);
        assert_eq!(f.transports["street"].bits_per_char(), 11);
        let e = parse(
            Path::new("f.ron"),
            &STREET.replace("address: 2", "address: 1"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.ron:7:16: \"no2\": address 1 on \"street\" is taken"
        );
        let e = parse(Path::new("f.ron"), &STREET.replace("9600", "9601")).unwrap_err();
        assert!(e.message.contains("baud 9601"), "{e}");
        assert_eq!(e.line, 3);
        let e = parse(
            Path::new("f.ron"),
            &STREET.replace("kind: Sdm630", "kind: Sdm999"),
        )
        .unwrap_err();
        assert_eq!((e.line, e.file.as_str()), (10, "f.ron"), "{e}");
        let e = parse(
            Path::new("f.ron"),
            &STREET.replace(
                "transport: \"street\", address: 2",
                "transport: \"alley\", address: 2",
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("no transport named \"alley\""), "{e}");
        let lora = STREET.replace(
            "},\n    homes: [",
            "    \"air\": ChirpStack(host: \"127.0.0.1\", port: 1883, application: \"app\"),\n    },\n    homes: [\n        (name: \"farm\", transport: \"air\", dev_eui: \"0004a30b001c05zz\"),",
        );
        let e = parse(Path::new("f.ron"), &lora).unwrap_err();
        assert!(
            e.message.contains("not 16 hex digits") && e.line == 7,
            "{e}"
        );
        let ok = lora.replace("05zz", "0530");
        assert!(parse(Path::new("f.ron"), &ok).is_ok());
    }
}
