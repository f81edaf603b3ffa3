//! A field file's devices emulated, for `--emulated` and the tests: each serial transport a
//! line behind a socat pseudo-terminal pair, each TCP gateway a listener on localhost, every
//! home node and meter the file lists a register-exact slave on it; each ChirpStack transport a
//! network server publishing its homes' uplinks in ChirpStack v4's JSON to a Mosquitto of its
//! own, and taking their downlinks. The returned field file is the same with
//! its ports and addresses pointed at the emulation.

use std::collections::BTreeMap;
use std::path::Path;

use grid_types::Phase;
use tokio_serial::SerialPortBuilderExt;

use crate::clock::Clock;
use crate::config::{Field, Transport};
use crate::home_node as map;
use crate::line::{Device, Fault, Line, PtyPair};
use crate::lora;
use crate::meter::{MeterKind, MeterReading, PhaseReading};
use crate::rtu::Pdu;
use crate::slave::{HomeNode, Meter};

pub struct EmulatedField {
    pub field: Field,
    /// Each transport's line, by name: to feed the devices and inject faults.
    pub lines: BTreeMap<String, Line>,
    /// Each home's line and its address on it (on LoRa, its index + 1).
    pub homes: Vec<(String, u16)>,
    _pairs: Vec<PtyPair>,
    _brokers: Vec<Broker>,
}

/// Debian's Mosquitto on a free loopback port, for an emulated ChirpStack; stopped on drop.
struct Broker(std::process::Child);

impl Broker {
    fn start(dir: &Path) -> Result<(Broker, u16), String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let conf = dir.join("mosquitto.conf");
        // As root, mosquitto would drop to its own user; stay who we are.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
            ),
        )
        .map_err(|e| format!("{}: {e}", conf.display()))?;
        let exe = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = std::process::Command::new(exe)
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("mosquitto (Debian's carries the emulated ChirpStack's MQTT): {e}")
            })?;
        let broker = Broker(child);
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok((broker, port));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err("mosquitto did not start within 5 s".into())
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Emulate `f` (inside a tokio runtime: the lines are served by tasks); pseudo-terminals are
/// made in `dir`. Each home starts on phases A, B, C in turn at 230 V, drawing 0.4 to 3.1 kW
/// by its place; each meter reads 230 V and 2 kW a phase. LoRa homes report each `UPLINK_S`.
pub async fn emulate(f: &Field, dir: &Path) -> Result<EmulatedField, String> {
    emulate_on(f, dir, Clock::wall(), UPLINK_S).await
}

/// The same on `clock`, LoRa homes reporting each `uplink_every` s, in turn across it.
pub async fn emulate_on(
    f: &Field,
    dir: &Path,
    clock: Clock,
    uplink_every: f64,
) -> Result<EmulatedField, String> {
    let mut field = f.clone();
    let mut lines = BTreeMap::new();
    let mut pairs = Vec::new();
    let mut brokers = Vec::new();
    for (name, t) in field.transports.iter_mut() {
        let line = Line::on(t.baud().unwrap_or(9600), t.bits_per_char(), clock.clone());
        match t {
            Transport::ChirpStack {
                host,
                port,
                application,
                tls,
                ca,
                user,
                password_file,
            } => {
                // The emulation's own broker is plain and open.
                (*tls, *ca, *user, *password_file) = (false, None, None, None);
                // Homes on LoRa are kept on the line by their index + 1 (no Modbus address).
                let euis: Vec<(u16, String)> = f
                    .homes
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| &h.transport == name)
                    .map(|(k, h)| (k as u16 + 1, h.dev_eui.to_ascii_lowercase()))
                    .collect();
                let d = dir.join(name);
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                let (broker, p) = Broker::start(&d)?;
                brokers.push(broker);
                (*host, *port) = ("127.0.0.1".into(), p);
                let ns = NetworkServer::connect(host, *port, application, euis, line.clone());
                tokio::spawn(ns.run(uplink_every));
            }
            Transport::Rtu { port, baud, .. } => {
                let d = dir.join(name);
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                let pair = PtyPair::open(&d)?;
                let far = tokio_serial::new(pair.slaves.to_string_lossy(), *baud)
                    .open_native_async()
                    .map_err(|e| format!("{}: {e}", pair.slaves.display()))?;
                tokio::spawn(line.clone().serve_rtu(far));
                line.set_served();
                *port = pair.master.to_string_lossy().into();
                pairs.push(pair);
            }
            Transport::Tcp { address, .. } => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("a gateway's listener: {e}"))?;
                *address = l.local_addr().map_err(|e| e.to_string())?.to_string();
                tokio::spawn(line.clone().serve_tcp(l));
                line.set_served();
            }
        }
        lines.insert(name.clone(), line);
    }
    let mut homes = Vec::new();
    for (k, h) in f.homes.iter().enumerate() {
        let address = if f.transports[&h.transport].is_lora() {
            k as u16 + 1
        } else {
            u16::from(h.address)
        };
        homes.push((h.transport.clone(), address));
        // Homes draw 0.4 to 3.1 kW by their place: the phases start unbalanced.
        let p = 400.0 + 900.0 * (k % 4) as f64;
        let mut node = HomeNode::new(10_000 + k as u32, h.address, Phase::ALL[k % 3]);
        node.set_measurement(0.0, 230.0, p / 230.0, p, 0.0, 50.0);
        lines[&h.transport].attach(address, Device::Node(node));
    }
    for m in &f.meters {
        let mut meter = Meter::new(m.kind, m.address);
        let phases = if m.kind == MeterKind::Sdm630 { 3 } else { 1 };
        meter.set_reading(
            0.0,
            MeterReading {
                phases: vec![
                    PhaseReading {
                        v: 230.0,
                        i: 2000.0 / 230.0,
                        p: 2000.0,
                        q: Some(0.0),
                        pf: 1.0
                    };
                    phases
                ],
                hz: 50.0,
                neutral_a: Some(0.0),
                ..Default::default()
            },
        );
        lines[&m.transport].attach(m.address.into(), Device::Meter(meter));
    }
    Ok(EmulatedField {
        field,
        lines,
        homes,
        _pairs: pairs,
        _brokers: brokers,
    })
}

impl EmulatedField {
    /// Run `f` on home `k`'s node.
    pub fn node<R>(&self, k: usize, f: impl FnOnce(&mut HomeNode) -> R) -> Option<R> {
        let (line, address) = self.homes.get(k)?;
        self.lines[line].with(*address, |d| match d {
            Device::Node(n) => Some(f(n)),
            Device::Meter(_) => None,
        })?
    }

    /// Run `f` on meter `k` (in the field file's order).
    pub fn meter<R>(&self, k: usize, f: impl FnOnce(&mut Meter) -> R) -> Option<R> {
        let m = self.field.meters.get(k)?;
        self.lines[&m.transport].with(m.address.into(), |d| match d {
            Device::Meter(x) => Some(f(x)),
            Device::Node(_) => None,
        })?
    }

    /// Home `k`'s line and address.
    pub fn line_of(&self, k: usize) -> (&Line, u16) {
        let (line, address) = &self.homes[k];
        (&self.lines[line], *address)
    }
}

/// How often each emulated LoRa node reports by default, s.
pub const UPLINK_S: f64 = 1.0;

/// ChirpStack as its application sees it: uplinks of the homes on a line, published each
/// `UPLINK_S` with their frame counters; downlinks to them taken off the broker. A home the
/// line says is silent sends nothing.
struct NetworkServer {
    client: rumqttc::AsyncClient,
    events: rumqttc::EventLoop,
    application: String,
    euis: Vec<(u16, String)>,
    line: Line,
}

impl NetworkServer {
    fn connect(
        host: &str,
        port: u16,
        application: &str,
        euis: Vec<(u16, String)>,
        line: Line,
    ) -> Self {
        let id = format!("chirpstack-emulated-{}", std::process::id());
        let opts = rumqttc::MqttOptions::new(id, host, port);
        let (client, events) = rumqttc::AsyncClient::new(opts, 1024);
        NetworkServer {
            client,
            events,
            application: application.to_string(),
            euis,
            line,
        }
    }

    /// Downlinks on this task; uplinks on their own, so that a full request queue (thousands of
    /// homes at once) never keeps the event loop, which drains it, from being polled.
    async fn run(mut self, every: f64) {
        tokio::spawn(uplinks(
            self.client.clone(),
            self.application.clone(),
            self.euis.clone(),
            self.line.clone(),
            every,
        ));
        loop {
            match self.events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    let topic = format!("application/{}/device/+/command/down", self.application);
                    let _ = self.client.try_subscribe(topic, rumqttc::QoS::AtLeastOnce);
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => self.line.set_served(),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    self.downlink(&p.payload)
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }

    fn downlink(&self, payload: &[u8]) {
        self.take_downlink(payload);
        self.line.count_downlink();
    }

    fn take_downlink(&self, payload: &[u8]) {
        use base64::Engine;
        if self.line.has_fault(Fault::GatewayDown) {
            return;
        }
        let Ok(d) = serde_json::from_slice::<lora::Downlink>(payload) else {
            return;
        };
        let Some((address, _)) = self
            .euis
            .iter()
            .find(|(_, e)| e.eq_ignore_ascii_case(&d.dev_eui))
        else {
            return;
        };
        let Ok(data) = base64::engine::general_purpose::STANDARD.decode(d.data.as_bytes()) else {
            return;
        };
        let Ok((id, to)) = lora::decode_command(&data) else {
            return;
        };
        let now = self.line.now();
        let pdu = Pdu::WriteMultiple {
            start: map::REG_COMMAND,
            values: map::command(id, to).to_vec(),
        };
        self.line.with(*address, |dev| {
            use crate::slave::Slave;
            let _ = dev.handle(now, &pdu);
        });
        // The node answers a command with its report (class A: its next uplink is its word).
        self.line
            .uplink_soon(*address, now + crate::site::CONFIRM_S);
    }
}

/// Each home's report once each `every` s, the homes in turn across it, with its frame
/// counter (which counts on while the gateway is down: the node sent, nobody heard).
async fn uplinks(
    client: rumqttc::AsyncClient,
    application: String,
    euis: Vec<(u16, String)>,
    line: Line,
    every: f64,
) {
    let mut clock = line.clock().clone();
    let n = euis.len().max(1) as f64;
    let t0 = clock.now();
    let mut next: Vec<f64> = (0..euis.len())
        .map(|k| t0 + every * (k + 1) as f64 / n)
        .collect();
    let mut f_cnt = vec![0u32; euis.len()];
    loop {
        let due = next.iter().copied().fold(line.soon_due(), f64::min);
        line.set_next_uplink(due);
        tokio::select! {
            _ = clock.until(due) => {}
            _ = line.woken() => continue,
        }
        let now = clock.now();
        let soon = line.take_soon(now);
        for (k, (address, eui)) in euis.iter().enumerate() {
            let address = *address;
            let asked = soon.contains(&address);
            if next[k] > now && !asked {
                continue;
            }
            if next[k] <= now {
                next[k] += every;
            }
            if line.has_fault(Fault::Silent { address }) {
                continue;
            }
            let Some(Some(report)) = line.with(address, |d| match d {
                Device::Node(n) => Some(n.report(now)),
                Device::Meter(_) => None,
            }) else {
                continue;
            };
            f_cnt[k] += 1;
            if line.has_fault(Fault::GatewayDown) || line.lost_on_air(address, f_cnt[k]) {
                continue;
            }
            let data = lora::encode_report(&report);
            let body = chirpstack_uplink(&application, eui, f_cnt[k] - 1, &data);
            let copies = if line.has_fault(Fault::Duplicate { address }) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let topic = lora::up_topic(&application, eui);
                let sent = client
                    .publish(topic, rumqttc::QoS::AtLeastOnce, false, body.clone())
                    .await;
                if sent.is_err() {
                    return;
                }
                line.count_uplink();
            }
        }
    }
}

/// An uplink event as ChirpStack v4's MQTT integration publishes it (JSON marshaler).
pub fn chirpstack_uplink(application: &str, dev_eui: &str, f_cnt: u32, data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let v = serde_json::json!({
        "deduplicationId": format!("00000000-0000-4000-8000-{:012x}", f_cnt),
        "time": "2026-12-05T00:00:00Z",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "ChirpStack",
            "applicationId": application,
            "applicationName": "gridtwin",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "home node",
            "deviceName": dev_eui,
            "devEui": dev_eui,
            "tags": {}
        },
        "devAddr": "00f48a86",
        "adr": true,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": lora::REPORT_PORT,
        "confirmed": false,
        "data": base64::engine::general_purpose::STANDARD.encode(data),
        "rxInfo": [{
            "gatewayId": "0016c001f153a14c",
            "uplinkId": 4217106255u32,
            "rssi": -97,
            "snr": 4.5,
            "channel": 2,
            "context": "EFwMtA==",
            "crcStatus": "CRC_OK"
        }],
        "txInfo": {
            "frequency": 868300000,
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}
        }
    });
    serde_json::to_vec(&v).unwrap_or_default()
}
