//! Home nodes over LoRaWAN, through ChirpStack v4's MQTT integration: the compact binary
//! payloads (a report up on fPort 1, a command down on fPort 2), the uplink event's JSON as
//! ChirpStack publishes it on `application/APP_ID/device/DEV_EUI/event/up`, the downlink as it
//! takes it on `application/APP_ID/device/DEV_EUI/command/down`, and each device's frame
//! counter: duplicates and late uplinks dropped, a counter reset (the node rejoined) accepted.
//! Sans-IO: the MQTT client is the caller's.
//!
//! The report is 20 bytes, within the 51 that EU868's slowest data rate carries:
//!
//! | Bytes | Field | |
//! | --- | --- | --- |
//! | 0 | version | 1 |
//! | 1-2 | seq | u16, the node's window counter |
//! | 3 | state | bits 0-1 phase (0 none, 1-3 A-C), 2-3 selector (0 idle, 1 switching, 2 locked out), 4-6 status (selector fault, sensor fault, master silent) |
//! | 4-5 | last command | u16 id |
//! | 6 | result | 0-5 as the register map's |
//! | 7-8 | V | u16, 0.1 V |
//! | 9-10 | I | u16, 0.01 A |
//! | 11-12 | P | i16, W |
//! | 13-14 | Q | i16, var |
//! | 15-18 | import | u32, Wh |
//! | 19 | age | u8, 0.1 s (saturates at 25.5 s) |
//!
//! All big-endian. A command is 4 bytes: version 1, the u16 id, the target phase 1-3.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use grid_types::Phase;
use serde::{Deserialize, Serialize};

use crate::home_node::{CommandResult, NodeReport, SelectorState};

pub const VERSION: u8 = 1;
pub const REPORT_PORT: u8 = 1;
pub const COMMAND_PORT: u8 = 2;
pub const REPORT_LEN: usize = 20;

/// A payload that is not one: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload byte {byte}: {why}")]
pub struct PayloadError {
    pub byte: usize,
    pub why: String,
}

fn bad(byte: usize, why: impl Into<String>) -> PayloadError {
    PayloadError {
        byte,
        why: why.into(),
    }
}

/// A node's report as the payload carries it (coarser than the register map: LoRa airtime).
pub fn encode_report(r: &NodeReport) -> [u8; REPORT_LEN] {
    let mut b = [0u8; REPORT_LEN];
    b[0] = VERSION;
    b[1..3].copy_from_slice(&r.seq.to_be_bytes());
    let phase = r.phase.map_or(0, |p| p as u8 + 1);
    let status = (r.status & 0b111) as u8;
    b[3] = phase | ((r.selector as u8) << 2) | (status << 4);
    b[4..6].copy_from_slice(&r.last_command.to_be_bytes());
    b[6] = r.result as u8;
    let u16_of = |x: f64| x.round().clamp(0.0, 65535.0) as u16;
    let i16_of = |x: f64| x.round().clamp(-32768.0, 32767.0) as i16;
    b[7..9].copy_from_slice(&u16_of(r.v * 10.0).to_be_bytes());
    b[9..11].copy_from_slice(&u16_of(r.i * 100.0).to_be_bytes());
    b[11..13].copy_from_slice(&i16_of(r.p).to_be_bytes());
    b[13..15].copy_from_slice(&i16_of(r.q).to_be_bytes());
    let wh = (r.import_kwh * 1e3).round().clamp(0.0, f64::from(u32::MAX)) as u32;
    b[15..19].copy_from_slice(&wh.to_be_bytes());
    b[19] = (r.age_s * 10.0).round().clamp(0.0, 255.0) as u8;
    b
}

/// What a report payload says: the report's fields it carries (the rest zero), its age.
pub fn decode_report(b: &[u8]) -> Result<NodeReport, PayloadError> {
    if b.len() != REPORT_LEN {
        return Err(bad(
            0,
            format!("{} bytes; a report has {REPORT_LEN}", b.len()),
        ));
    }
    if b[0] != VERSION {
        return Err(bad(
            0,
            format!("version {}; this master reads {VERSION}", b[0]),
        ));
    }
    let be16 = |k: usize| u16::from_be_bytes([b[k], b[k + 1]]);
    let phase = match b[3] & 0b11 {
        0 => None,
        n => Some(Phase::ALL[usize::from(n - 1)]),
    };
    let code = u16::from((b[3] >> 2) & 0b11);
    let selector = SelectorState::from_code(code)
        .ok_or_else(|| bad(3, format!("selector state {code}: 0-2")))?;
    if b[3] & 0x80 != 0 {
        return Err(bad(3, "bit 7 is reserved"));
    }
    let result = CommandResult::from_code(u16::from(b[6]))
        .ok_or_else(|| bad(6, format!("command result {}: 0-5", b[6])))?;
    let (v, i) = (f64::from(be16(7)) / 10.0, f64::from(be16(9)) / 100.0);
    let p = f64::from(be16(11) as i16);
    let q = f64::from(be16(13) as i16);
    let s = (p * p + q * q).sqrt();
    Ok(NodeReport {
        seq: be16(1),
        age_s: f64::from(b[19]) / 10.0,
        uptime_s: 0,
        phase,
        selector,
        status: u16::from(b[3] >> 4),
        last_command: be16(4),
        result,
        since_switch_s: 0,
        switches: 0,
        v,
        i,
        p,
        q,
        pf: if s > 0.0 { p / s } else { 1.0 },
        hz: 0.0,
        import_kwh: f64::from(u32::from_be_bytes([b[15], b[16], b[17], b[18]])) / 1e3,
        export_kwh: 0.0,
    })
}

pub fn encode_command(id: u16, to: Phase) -> [u8; 4] {
    let [hi, lo] = id.to_be_bytes();
    [VERSION, hi, lo, to as u8 + 1]
}

pub fn decode_command(b: &[u8]) -> Result<(u16, Phase), PayloadError> {
    match b {
        [VERSION, hi, lo, p @ 1..=3] => Ok((
            u16::from_be_bytes([*hi, *lo]),
            Phase::ALL[usize::from(*p - 1)],
        )),
        [VERSION, _, _, p] => Err(bad(3, format!("target phase {p}: 1-3"))),
        [v, ..] if *v != VERSION => Err(bad(0, format!("version {v}"))),
        _ => Err(bad(0, format!("{} bytes; a command has 4", b.len()))),
    }
}

/// ChirpStack v4's uplink event, the fields used (its JSON is camelCase; the rest ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uplink {
    #[serde(default)]
    pub deduplication_id: String,
    pub device_info: DeviceInfo,
    pub f_cnt: u32,
    #[serde(default)]
    pub f_port: u8,
    /// The FRMPayload, base64.
    #[serde(default)]
    pub data: String,
    #[serde(default)]
    pub rx_info: Vec<RxInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    #[serde(default)]
    pub application_id: String,
    pub dev_eui: String,
    #[serde(default)]
    pub device_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RxInfo {
    #[serde(default)]
    pub gateway_id: String,
    #[serde(default)]
    pub rssi: i32,
    #[serde(default)]
    pub snr: f64,
}

/// ChirpStack v4's downlink command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Downlink {
    pub dev_eui: String,
    pub confirmed: bool,
    pub f_port: u8,
    pub data: String,
}

/// A selector command as ChirpStack queues it: confirmed, so that the network server retries
/// it until the node's MAC acknowledges (the report then says whether it moved).
pub fn downlink(dev_eui: &str, id: u16, to: Phase) -> Downlink {
    Downlink {
        dev_eui: dev_eui.to_string(),
        confirmed: true,
        f_port: COMMAND_PORT,
        data: STANDARD.encode(encode_command(id, to)),
    }
}

pub fn up_topic(application: &str, dev_eui: &str) -> String {
    format!("application/{application}/device/{dev_eui}/event/up")
}

pub fn down_topic(application: &str, dev_eui: &str) -> String {
    format!("application/{application}/device/{dev_eui}/command/down")
}

/// An uplink that carries nothing new, or cannot be read: why it was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    #[error("not ChirpStack's uplink event: {0}")]
    Json(String),
    #[error("data is not base64: {0}")]
    Base64(String),
    #[error("fPort {0} carries no report")]
    Port(u8),
    #[error("frame counter {f_cnt} seen already (a duplicate)")]
    Duplicate { f_cnt: u32 },
    #[error("frame counter {f_cnt} older than {last} (late)")]
    Late { f_cnt: u32, last: u32 },
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

/// A counter this far below the last one is the node's new session, not a late frame: a node
/// rejoins with its counters at zero, and late frames are never this old.
const RESET_BELOW: u32 = 16;

/// One device's uplinks: the last frame counter taken.
#[derive(Debug, Clone, Default)]
pub struct Uplinks {
    last: Option<u32>,
    /// Uplinks taken after a counter reset, for the event log.
    pub resets: u32,
}

/// A report taken from an uplink, with its radio.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub report: NodeReport,
    pub f_cnt: u32,
    /// The best gateway's RSSI (dBm) and SNR (dB).
    pub rssi: i32,
    pub snr: f64,
    /// The counter went back to the start: the node rejoined (restarted).
    pub reset: bool,
}

impl Uplinks {
    /// The report an uplink event's JSON carries, or why it is dropped.
    pub fn take(&mut self, json: &[u8]) -> Result<Heard, Dropped> {
        let up: Uplink = serde_json::from_slice(json).map_err(|e| Dropped::Json(e.to_string()))?;
        let reset = match self.last {
            Some(last) if up.f_cnt == last => return Err(Dropped::Duplicate { f_cnt: up.f_cnt }),
            Some(last) if up.f_cnt < last && up.f_cnt < RESET_BELOW && last >= RESET_BELOW => true,
            Some(last) if up.f_cnt < last => {
                return Err(Dropped::Late {
                    f_cnt: up.f_cnt,
                    last,
                });
            }
            _ => false,
        };
        if up.f_port != REPORT_PORT {
            return Err(Dropped::Port(up.f_port));
        }
        let data = STANDARD
            .decode(up.data.as_bytes())
            .map_err(|e| Dropped::Base64(e.to_string()))?;
        let report = decode_report(&data)?;
        self.last = Some(up.f_cnt);
        if reset {
            self.resets += 1;
        }
        let best = up.rx_info.iter().max_by(|a, b| a.snr.total_cmp(&b.snr));
        Ok(Heard {
            report,
            f_cnt: up.f_cnt,
            rssi: best.map_or(0, |r| r.rssi),
            snr: best.map_or(0.0, |r| r.snr),
            reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home_node::ST_SENSOR_FAULT;

    fn report() -> NodeReport {
        NodeReport {
            seq: 513,
            age_s: 1.2,
            uptime_s: 0,
            phase: Some(Phase::C),
            selector: SelectorState::Idle,
            status: ST_SENSOR_FAULT,
            last_command: 7,
            result: CommandResult::Done,
            since_switch_s: 0,
            switches: 0,
            v: 229.4,
            i: 13.05,
            p: 2890.0,
            q: -410.0,
            pf: 0.0,
            hz: 0.0,
            import_kwh: 4321.987,
            export_kwh: 0.0,
        }
    }

    #[test]
    fn a_report_is_the_documented_twenty_bytes_and_reads_back() {
        let b = encode_report(&report());
        assert_eq!(
            b,
            [
                1, 0x02, 0x01, 0x23, 0, 7, 2, 0x08, 0xF6, 0x05, 0x19, 0x0B, 0x4A, 0xFE, 0x66, 0x00,
                0x41, 0xF2, 0xC3, 12
            ]
        );
        let r = decode_report(&b).unwrap();
        assert_eq!(
            (r.seq, r.phase, r.status, r.last_command),
            (513, Some(Phase::C), ST_SENSOR_FAULT, 7)
        );
        assert_eq!(
            (r.v, r.i, r.p, r.q, r.import_kwh, r.age_s),
            (229.4, 13.05, 2890.0, -410.0, 4321.987, 1.2)
        );
        assert!((r.pf - 2890.0 / 2890f64.hypot(410.0)).abs() < 1e-12);
        assert_eq!(decode_report(&b[..19]).unwrap_err().byte, 0);
        let mut bad = b;
        bad[6] = 9;
        assert_eq!(
            decode_report(&bad).unwrap_err().to_string(),
            "payload byte 6: command result 9: 0-5"
        );
    }

    #[test]
    fn a_command_goes_down_confirmed_on_its_port() {
        let d = downlink("0004a30b001c0530", 300, Phase::B);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"devEui":"0004a30b001c0530","confirmed":true,"fPort":2,"data":"AQEsAg=="}"#
        );
        assert_eq!(
            decode_command(&STANDARD.decode(&d.data).unwrap()),
            Ok((300, Phase::B))
        );
        assert!(decode_command(&[1, 0, 1, 4]).is_err());
        assert!(decode_command(&[2, 0, 1, 1]).is_err());
        assert_eq!(
            down_topic("app", "0004a30b001c0530"),
            "application/app/device/0004a30b001c0530/command/down"
        );
    }

    fn event(f_cnt: u32, data: &[u8]) -> Vec<u8> {
        // As ChirpStack v4 publishes it (fields this code does not read included).
        format!(
            r#"{{"deduplicationId":"3ac7e3c4-4401-4b8d-9386-a5c902f9202d","time":"2026-12-05T08:00:00Z",
            "deviceInfo":{{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"ChirpStack",
            "applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"street",
            "deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"home node",
            "deviceName":"no7","devEui":"0004a30b001c0530","tags":{{}}}},
            "devAddr":"00f48a86","adr":true,"dr":5,"fCnt":{f_cnt},"fPort":1,"confirmed":false,
            "data":"{}","rxInfo":[{{"gatewayId":"0016c001f153a14c","uplinkId":4217106255,"rssi":-97,
            "snr":4.5,"channel":2,"crcStatus":"CRC_OK"}},{{"gatewayId":"0016c001f153a14d","rssi":-111,
            "snr":-3.0}}],"txInfo":{{"frequency":868300000}}}}"#,
            STANDARD.encode(data)
        )
        .into_bytes()
    }

    #[test]
    fn duplicates_and_late_uplinks_are_dropped_and_a_rejoin_taken() {
        let mut u = Uplinks::default();
        let data = encode_report(&report());
        let h = u.take(&event(100, &data)).unwrap();
        assert_eq!((h.f_cnt, h.rssi, h.snr, h.reset), (100, -97, 4.5, false));
        assert_eq!(
            u.take(&event(100, &data)),
            Err(Dropped::Duplicate { f_cnt: 100 })
        );
        assert_eq!(
            u.take(&event(99, &data)),
            Err(Dropped::Late {
                f_cnt: 99,
                last: 100
            })
        );
        assert!(u.take(&event(101, &data)).is_ok());
        // The node rejoined: its counter starts again.
        let h = u.take(&event(0, &data)).unwrap();
        assert!(h.reset && u.resets == 1);
        assert!(matches!(u.take(b"{not json"), Err(Dropped::Json(_))));
        assert!(matches!(
            u.take(&event(5, &[1, 2, 3])),
            Err(Dropped::Payload(_))
        ));
    }
}
