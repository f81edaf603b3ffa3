//! The emulated field: register-exact slaves on a serial line (the far end of a pseudo-terminal
//! pair, as a USB adapter's would be) or behind a Modbus TCP gateway, with the faults a real
//! line shows. Replies take the time the bytes would on the wire at the line's baud rate, so a
//! poll cycle lasts as long as on RS-485.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::rtu::{self, Framed, Pdu, Reply};
use crate::slave::{HomeNode, Meter, Slave};

/// A device on the line.
pub enum Device {
    Node(HomeNode),
    Meter(Meter),
}

impl Slave for Device {
    fn handle(&mut self, now: f64, pdu: &Pdu) -> Result<Reply, rtu::Exception> {
        match self {
            Device::Node(n) => n.handle(now, pdu),
            Device::Meter(m) => m.handle(now, pdu),
        }
    }

    fn answers(&self) -> bool {
        match self {
            Device::Node(n) => n.answers(),
            Device::Meter(m) => m.answers(),
        }
    }
}

/// A fault on the line, as a test or a scenario injects it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The device does not answer (unplugged, its supply failed, its transceiver dead).
    Silent { address: u16 },
    /// The device's next `count` replies have a byte flipped (noise): their CRC fails.
    Corrupt { address: u16, count: u32 },
    /// LoRa: the gateway is down; no uplink reaches the network server, no downlink leaves.
    GatewayDown,
    /// LoRa: the device's uplinks each reach the application twice (two gateways heard them
    /// and deduplication missed, or a retransmission).
    Duplicate { address: u16 },
}

/// What the line saw, for tests and figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    pub requests: u64,
    pub replies: u64,
    /// Frames the slaves dropped: bad CRC, malformed.
    pub garbled: u64,
    /// LoRa: uplink messages published (duplicates too), downlinks taken off the broker
    /// (those a down gateway could not send too).
    pub uplinks: u64,
    pub downlinks: u64,
}

struct State {
    /// By address: a Modbus slave's (1-247), or an emulated LoRa node's index.
    devices: BTreeMap<u16, Device>,
    faults: Vec<Fault>,
    stats: LineStats,
    /// LoRa: when the next uplink is due (infinity when there is none), and the uplinks asked
    /// for out of turn: (address, when).
    next_uplink: f64,
    soon: Vec<(u16, f64)>,
    /// Served: a Modbus line at once, LoRa once the network server takes downlinks.
    served: bool,
    /// LoRa: each device's packet error rate on the air (none when absent).
    loss: BTreeMap<u16, f64>,
}

/// The devices on one line (or behind one gateway). Clones share it.
#[derive(Clone)]
pub struct Line {
    state: Arc<Mutex<State>>,
    /// LoRa: an uplink was asked for out of turn.
    woken: Arc<tokio::sync::Notify>,
    clock: Clock,
    /// Bits a character takes on the wire (start, 8 data, parity, stop).
    bits_per_char: u32,
    baud: u32,
    /// A slave's time from the request's end to its reply's start.
    turnaround: Duration,
}

impl Line {
    pub fn new(baud: u32, bits_per_char: u32) -> Line {
        Line::on(baud, bits_per_char, Clock::wall())
    }

    /// A line whose devices keep `clock`'s time (on virtual time, replies take none).
    pub fn on(baud: u32, bits_per_char: u32, clock: Clock) -> Line {
        Line {
            state: Arc::new(Mutex::new(State {
                devices: BTreeMap::new(),
                faults: Vec::new(),
                stats: LineStats::default(),
                next_uplink: f64::INFINITY,
                soon: Vec::new(),
                served: false,
                loss: BTreeMap::new(),
            })),
            woken: Arc::new(tokio::sync::Notify::new()),
            clock,
            bits_per_char,
            baud,
            turnaround: Duration::from_millis(2),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The devices' clock, s.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn attach(&self, address: u16, d: Device) {
        self.lock().devices.insert(address, d);
    }

    /// Run `f` on the device at `address`.
    pub fn with<R>(&self, address: u16, f: impl FnOnce(&mut Device) -> R) -> Option<R> {
        self.lock().devices.get_mut(&address).map(f)
    }

    pub fn inject(&self, f: Fault) {
        self.lock().faults.push(f);
    }

    pub fn has_fault(&self, f: Fault) -> bool {
        self.lock().faults.contains(&f)
    }

    /// Clear the faults of the device at `address` (None: the line's own).
    pub fn clear_faults(&self, address: Option<u16>) {
        self.lock().faults.retain(|f| match f {
            Fault::Silent { address: a }
            | Fault::Corrupt { address: a, .. }
            | Fault::Duplicate { address: a } => Some(*a) != address,
            Fault::GatewayDown => address.is_some(),
        });
    }

    pub fn stats(&self) -> LineStats {
        self.lock().stats
    }

    pub(crate) fn count_uplink(&self) {
        self.lock().stats.uplinks += 1;
    }

    pub(crate) fn count_downlink(&self) {
        self.lock().stats.downlinks += 1;
    }

    pub(crate) fn set_next_uplink(&self, t: f64) {
        self.lock().next_uplink = t;
    }

    /// LoRa: the node at `address` sends an uplink at `at`, out of turn.
    pub(crate) fn uplink_soon(&self, address: u16, at: f64) {
        let mut s = self.lock();
        s.soon.push((address, at));
        s.next_uplink = s.next_uplink.min(at);
        drop(s);
        self.woken.notify_one();
    }

    /// LoRa: the earliest uplink asked for out of turn.
    pub(crate) fn soon_due(&self) -> f64 {
        self.lock()
            .soon
            .iter()
            .map(|x| x.1)
            .fold(f64::INFINITY, f64::min)
    }

    /// LoRa: the addresses whose out-of-turn uplinks are due by `now`, taken.
    pub(crate) fn take_soon(&self, now: f64) -> Vec<u16> {
        let mut s = self.lock();
        let (due, later) = std::mem::take(&mut s.soon)
            .into_iter()
            .partition::<Vec<_>, _>(|x| x.1 <= now);
        s.soon = later;
        due.into_iter().map(|x| x.0).collect()
    }

    /// LoRa: wait until an uplink is asked for out of turn.
    pub(crate) async fn woken(&self) {
        self.woken.notified().await;
    }

    pub(crate) fn set_served(&self) {
        self.lock().served = true;
    }

    /// LoRa: the device's uplinks are lost on the air with probability `per`.
    pub fn set_loss(&self, address: u16, per: f64) {
        self.lock().loss.insert(address, per);
    }

    /// LoRa: whether the device's uplink with frame counter `f_cnt` is lost on the air; the
    /// same every run (a hash of the two, not a clock).
    pub(crate) fn lost_on_air(&self, address: u16, f_cnt: u32) -> bool {
        let per = self.lock().loss.get(&address).copied().unwrap_or(0.0);
        // SplitMix64's finaliser over (address, counter): uniform in [0, 1).
        let mut z =
            (u64::from(address) << 32 | u64::from(f_cnt)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < per
    }

    /// The line takes requests (LoRa: the network server takes downlinks).
    pub fn ready(&self) -> bool {
        self.lock().served
    }

    /// LoRa: the uplinks due by `t` have been published.
    pub fn uplinks_done(&self, t: f64) -> bool {
        self.lock().next_uplink > t
    }

    /// The time `bytes` characters take on the wire.
    fn wire(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * f64::from(self.bits_per_char) / f64::from(self.baud))
    }

    /// The reply frame to a request, or None when nobody answers.
    fn answer(&self, slave: u8, pdu: &Pdu) -> Option<Vec<u8>> {
        let now = self.now();
        let mut s = self.lock();
        s.stats.requests += 1;
        if slave == rtu::BROADCAST {
            for d in s.devices.values_mut().filter(|d| d.answers()) {
                let _ = d.handle(now, pdu);
            }
            return None;
        }
        let address = u16::from(slave);
        if s.faults.contains(&Fault::Silent { address }) {
            return None;
        }
        let device = s.devices.get_mut(&address)?;
        if !device.answers() {
            return None;
        }
        let reply = device.handle(now, pdu);
        let mut frame = rtu::reply(slave, pdu.function(), &reply);
        for f in s.faults.iter_mut() {
            if let Fault::Corrupt { address: a, count } = f
                && *a == address
                && *count > 0
            {
                *count -= 1;
                let k = frame.len() / 2;
                frame[k] ^= 0x10;
            }
        }
        s.faults
            .retain(|f| !matches!(f, Fault::Corrupt { count: 0, .. }));
        s.stats.replies += 1;
        Some(frame)
    }

    /// Serve RTU frames on `port` (a serial device's far end) until it closes.
    pub async fn serve_rtu<P: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut port: P,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            let n = port.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match rtu::frame(&buf) {
                    Framed::Partial => break,
                    Framed::Garbage { len, .. } => {
                        self.lock().stats.garbled += 1;
                        buf.drain(..len);
                    }
                    Framed::Request { slave, pdu, len } => {
                        buf.drain(..len);
                        if let Some(reply) = self.answer(slave, &pdu) {
                            // The request reached the slave as it ended; the reply takes its own
                            // time on the wire before the master has it.
                            let wire = self.wire(len + reply.len());
                            self.clock.spend(wire + self.turnaround).await;
                            port.write_all(&reply).await?;
                        }
                    }
                }
            }
        }
    }

    /// Serve Modbus TCP (a gateway: MBAP header, the unit id the RTU address) on `listener`.
    pub async fn serve_tcp(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let line = self.clone();
            tokio::spawn(async move {
                let _ = line.serve_tcp_client(stream).await;
            });
        }
    }

    async fn serve_tcp_client(self, mut s: tokio::net::TcpStream) -> std::io::Result<()> {
        loop {
            let mut head = [0u8; 7];
            s.read_exact(&mut head).await?;
            let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
            if !(2..=254).contains(&len) || head[2..4] != [0, 0] {
                self.lock().stats.garbled += 1;
                return Ok(());
            }
            let mut pdu = vec![0u8; len - 1];
            s.read_exact(&mut pdu).await?;
            let unit = head[6];
            // The same framing as on the line: the unit and the PDU, with a CRC to pass.
            let mut adu = vec![unit];
            adu.extend_from_slice(&pdu);
            let Framed::Request { slave, pdu, .. } = rtu::frame(&rtu::with_crc(adu)) else {
                self.lock().stats.garbled += 1;
                continue;
            };
            // The gateway's own RS-485 leg at the line's rate.
            if let Some(reply) = self.answer(slave, &pdu) {
                let wire = self.wire(len + 3 + reply.len());
                self.clock.spend(wire + self.turnaround).await;
                let body = &reply[1..reply.len() - 2];
                let mut out = head[..4].to_vec();
                out.extend_from_slice(&((body.len() + 1) as u16).to_be_bytes());
                out.push(unit);
                out.extend_from_slice(body);
                s.write_all(&out).await?;
            }
        }
    }
}

/// A pseudo-terminal pair made by socat: the master opens one end as it would a USB RS-485
/// adapter, the emulated line serves the other. socat is stopped on drop.
pub struct PtyPair {
    pub master: PathBuf,
    pub slaves: PathBuf,
    child: std::process::Child,
}

impl PtyPair {
    pub fn open(dir: &Path) -> Result<PtyPair, String> {
        let (master, slaves) = (dir.join("master"), dir.join("slaves"));
        let end = |p: &Path| format!("pty,raw,echo=0,link={}", p.display());
        let child = std::process::Command::new("socat")
            .args([end(&master), end(&slaves)])
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("socat (Debian's socat makes the pseudo-terminal pair): {e}"))?;
        let pair = PtyPair {
            master,
            slaves,
            child,
        };
        for _ in 0..200 {
            if pair.master.exists() && pair.slaves.exists() {
                return Ok(pair);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err("socat made no pseudo-terminal pair within 2 s".into())
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
