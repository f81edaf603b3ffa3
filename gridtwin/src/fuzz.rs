//! The fuzz targets' entry points, shared by cargo-fuzz (`fuzz/`, `cargo xtask fuzz NAME`) and
//! by `cargo test`, which replays every committed corpus (`tests/fuzz_corpus.rs`). Each takes
//! any bytes, feeds one parser of outside input and checks what must hold of its answer; a
//! panic is the finding.

use std::path::Path;

/// Every target, by name: the directory of its corpus under `fuzz/corpus/`.
pub const TARGETS: [&str; 11] = [
    "scenario_ron",
    "opendss",
    "measure_csv",
    "bench_ron",
    "mqtt_command",
    "telemetry",
    "api_bodies",
    "node_frames",
    "modbus_frames",
    "field_ron",
    "lora_uplinks",
];

/// Run target `name` on `data`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "scenario_ron" => scenario_ron(data),
        "opendss" => opendss(data),
        "measure_csv" => measure_csv(data),
        "bench_ron" => bench_ron(data),
        "mqtt_command" => mqtt_command(data),
        "telemetry" => telemetry(data),
        "api_bodies" => api_bodies(data),
        "node_frames" => node_frames(data),
        "modbus_frames" => modbus_frames(data),
        "field_ron" => field_ron(data),
        "lora_uplinks" => lora_uplinks(data),
        _ => return false,
    }
    true
}

/// A scenario file: read and validated, or refused with a line and column inside the text.
pub fn scenario_ron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative paths in it (series, feeders) resolve under a folder that does not exist.
    let path = Path::new("/nonexistent/fuzz/scenario.ron");
    if let Err(e) = controller::scenario::parse(path, text) {
        let lines = text.lines().count() + 1;
        assert!(e.line <= lines.max(1), "line {} of {lines}: {e}", e.line);
        assert!(!e.message.is_empty());
    }
}

/// An OpenDSS master file: imported and solved once, or refused with the file, line and command.
pub fn opendss(data: &[u8]) {
    let master = Path::new("/fuzz/master.dss");
    // The input is the master; any other file it names does not exist.
    let read = |p: &Path| {
        if p == master {
            String::from_utf8(data.to_vec())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        } else {
            Err(std::io::ErrorKind::NotFound.into())
        }
    };
    match sim::dss::import_with(master, &read) {
        Err(e) => assert!(!e.message.is_empty(), "{e}"),
        // `import-dss` solves once before it keeps a feeder; so does this, on what was read.
        Ok(f) => {
            if let Ok(mut pf) = sim::feeder::PowerFlow::new(&f) {
                let _ = pf.solve();
            }
        }
    }
}

/// A measurement CSV (`gridtwin measure`): read and measured, or refused with a line.
pub fn measure_csv(data: &[u8]) {
    if let Ok((v, i)) = controller::capture::parse(data) {
        let _ = controller::capture::measure(&v, &i, 1800.0, 50.0);
    }
}

/// A bench file (the Pi's buses): read, or refused with a message.
pub fn bench_ron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = hil::bench::Bench::parse(text) {
        assert!(!e.is_empty());
    }
}

/// An MQTT command payload.
pub fn mqtt_command(data: &[u8]) {
    if let Err(e) = crate::mqtt::command::parse(data) {
        assert!(!e.is_empty());
    }
}

/// A telemetry message as hq takes it: read, checked, and the same when sent again.
pub fn telemetry(data: &[u8]) {
    use crate::mqtt::telemetry::parse;
    if let Ok(t) = parse(data) {
        let again = parse(&t.encode()).expect("what was read can be sent");
        assert_eq!(again.channels, t.channels);
        assert_eq!(again.frames.len(), t.frames.len());
        assert_eq!(again.readings(), t.readings());
    }
}

/// The JSON bodies the control API and hq take, each as its handler reads it.
pub fn api_bodies(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::control::Switch>(data);
    if let Ok(s) = serde_json::from_slice::<crate::live::ServiceSettings>(data) {
        let _ = s.problem();
    }
    let _ = serde_json::from_slice::<control_core::LoadSettings>(data);
    let _ = serde_json::from_slice::<crate::store::EventFilter>(data);
    let _ = serde_json::from_slice::<crate::web::Range>(data);
    if let Ok(ask) = serde_json::from_slice::<crate::web::reports::Ask>(data) {
        // Any day chrono can hold, on calendars a day either side of UTC.
        for offset in [-86_399, 0, 86_399] {
            let cal = crate::energy::Calendar {
                utc_offset_s: offset,
            };
            let span = ask.span(cal, 0);
            assert!(span.from <= span.to, "{span:?}");
        }
    }
    if let Ok(rules) = serde_json::from_slice::<Vec<control_core::AlertRule>>(data) {
        alert_rules(&rules);
    }
    #[cfg(feature = "hq")]
    let _ = serde_json::from_slice::<crate::hq::pg::EventMsg>(data);
}

/// Alert rules as an admin sends them: checked against a PDU's channels and, when they fit,
/// evaluated on rows of extreme values.
fn alert_rules(rules: &[control_core::AlertRule]) {
    let loads = ["fridge".to_string(), "server".to_string()];
    let channels: Vec<String> = record::schema::pdu_channels(&loads)
        .into_iter()
        .map(|c| c.name)
        .collect();
    let epoch = control_core::WallTime::parse("2026-01-05T23:59:00")
        .expect("valid literal")
        .0;
    let Ok(mut alerts) = controller::alerts::alerts(rules, &channels, epoch) else {
        return;
    };
    for (k, x) in [0.0, f64::NAN, 1e300, -1e300, f64::INFINITY, 0.5]
        .into_iter()
        .enumerate()
    {
        let now = control_core::Instant::from_micros(k as u64 * 30_000_000);
        alerts.handle_row(now, &vec![x; channels.len()]);
    }
    let _ = alerts.drain_events();
}

/// What a measurement node answers on the bus, read as the hardware backend reads it: the
/// status, the fast register for 1 to 8 channels, a calibration and a channel's values, each
/// with its PEC. A frame whose PEC fails is an error, never a value; a value is finite.
pub fn node_frames(data: &[u8]) {
    use hil::node::{self, Calibration, Fast, Status, Values};
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let channels = first % node::MAX_CHANNELS + 1;
    let mut bus = FuzzBus { data: rest };
    let address = 0x20 + (first >> 4);
    if let Ok(b) = node::read::<_, 2>(&mut bus, address, node::STATUS) {
        let _ = Status::decode(b);
    }
    let mut fast = [0u8; 32];
    let n = Fast::size(channels);
    if node::read_into(&mut bus, address, node::FAST, &mut fast[..n]).is_ok() {
        let f = Fast::decode(&fast[..n]);
        assert!(f.v_cycle.is_finite() && f.i_half_max.iter().all(|x| x.is_finite()));
    }
    if let Ok(b) = node::read::<_, 8>(&mut bus, address, node::CALIBRATION) {
        let _ = Calibration::decode(b);
    }
    if let Ok(b) = node::read::<_, 16>(&mut bus, address, node::VALUES) {
        let v = Values::decode(&b);
        assert!(
            [v.v_rms, v.i_rms, v.p, v.pf, v.hz]
                .iter()
                .all(|x| x.is_finite())
        );
    }
}

/// A bus whose every read returns the next bytes of the input (zeros once it is spent).
struct FuzzBus<'a> {
    data: &'a [u8],
}

impl embedded_hal::i2c::ErrorType for FuzzBus<'_> {
    type Error = embedded_hal::i2c::ErrorKind;
}

impl embedded_hal::i2c::I2c for FuzzBus<'_> {
    fn transaction(
        &mut self,
        _address: u8,
        operations: &mut [embedded_hal::i2c::Operation<'_>],
    ) -> Result<(), Self::Error> {
        for op in operations {
            if let embedded_hal::i2c::Operation::Read(buf) = op {
                let n = buf.len().min(self.data.len());
                buf[..n].copy_from_slice(&self.data[..n]);
                buf[n..].fill(0);
                self.data = &self.data[n..];
            }
        }
        Ok(())
    }
}

/// Bytes arriving on an RS-485 line: framed as the emulated slaves frame them, each request
/// answered by a home node and each meter, and the replies' registers read back through the
/// maps' decoders, as the master reads them. Garbage is dropped a byte at a time, never
/// panics, and every byte is consumed.
pub fn modbus_frames(data: &[u8]) {
    use field::home_node as map;
    use field::line::Device;
    use field::meter::MeterKind;
    use field::rtu::{self, Framed, Reply};
    use field::slave::{HomeNode, Meter, Slave};
    let mut devices = [
        Device::Node(HomeNode::new(1, 1, grid_types::Phase::A)),
        Device::Meter(Meter::new(MeterKind::Pzem004t, 2)),
        Device::Meter(Meter::new(MeterKind::Sdm630, 3)),
    ];
    let mut buf = data;
    let mut now = 0.0;
    while !buf.is_empty() {
        match rtu::frame(buf) {
            Framed::Partial => break,
            Framed::Garbage { len, .. } => {
                assert!(len >= 1 && len <= buf.len());
                buf = &buf[len..];
            }
            Framed::Request { slave, pdu, len } => {
                assert!(len >= 4 && len <= buf.len());
                buf = &buf[len..];
                now += 0.1;
                for d in devices.iter_mut() {
                    let r = d.handle(now, &pdu);
                    let frame = rtu::reply(slave, pdu.function(), &r);
                    assert_eq!(
                        rtu::crc16(&frame[..frame.len() - 2]).to_le_bytes(),
                        frame[frame.len() - 2..]
                    );
                    if let Ok(Reply::Registers(words)) = r {
                        let _ = map::decode_identity(&words);
                        let _ = map::decode_report(&words);
                        let _ = map::decode_command(&words);
                        for k in [MeterKind::Pzem004t, MeterKind::Sdm120, MeterKind::Sdm630] {
                            let _ = k.decode(&[&words]);
                            let _ = k.decode(&[&words, &words]);
                        }
                    }
                }
            }
        }
    }
}

/// A field file: read and checked, or refused at a line and column inside the text.
pub fn field_ron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = field::config::parse(Path::new("/fuzz/field.ron"), text) {
        let lines = text.lines().count() + 1;
        assert!(e.line <= lines.max(1), "line {} of {lines}: {e}", e.line);
        assert!(!e.message.is_empty());
    }
}

/// ChirpStack uplink events (one JSON document a line) into one device's counter, and the raw
/// bytes as a report and a command payload: each taken or dropped with a reason, never a panic.
pub fn lora_uplinks(data: &[u8]) {
    use field::lora;
    let _ = lora::decode_report(data);
    let _ = lora::decode_command(data);
    let mut u = lora::Uplinks::default();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(h) = u.take(line) {
            // What was taken encodes back to a payload that reads the same.
            let again = lora::decode_report(&lora::encode_report(&h.report)).unwrap();
            assert_eq!(again.seq, h.report.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_with_its_pec_reads_back() {
        // A node at 0x20 answering STATUS with flags 0 and sequence 7, and a right PEC.
        let pec = hil::pec::of_read(0x20, hil::node::STATUS, &[0, 7]);
        let mut bus = FuzzBus {
            data: &[0, 7, pec, 0, 7, pec ^ 1],
        };
        let b = hil::node::read::<_, 2>(&mut bus, 0x20, hil::node::STATUS).unwrap();
        assert_eq!(hil::node::Status::decode(b).sequence, 7);
        assert!(hil::node::read::<_, 2>(&mut bus, 0x20, hil::node::STATUS).is_err());
        assert!(!run("nothing", b""));
    }
}
