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
}

/// A fault on the line, as a test or a scenario injects it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The device does not answer (unplugged, its supply failed, its transceiver dead).
    Silent { address: u16 },
    /// The device's next `count` replies have a byte flipped (noise): their CRC fails.
    Corrupt { address: u16, count: u32 },
}

/// What the line saw, for tests and figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    pub requests: u64,
    pub replies: u64,
    /// Frames the slaves dropped: bad CRC, malformed.
    pub garbled: u64,
}

struct State {
    /// By address: a Modbus slave's (1-247), or an emulated LoRa node's index.
    devices: BTreeMap<u16, Device>,
    faults: Vec<Fault>,
    stats: LineStats,
}

/// The devices on one line (or behind one gateway). Clones share it.
#[derive(Clone)]
pub struct Line {
    state: Arc<Mutex<State>>,
    start: tokio::time::Instant,
    /// Bits a character takes on the wire (start, 8 data, parity, stop).
    bits_per_char: u32,
    baud: u32,
    /// A slave's time from the request's end to its reply's start.
    turnaround: Duration,
}

impl Line {
    pub fn new(baud: u32, bits_per_char: u32) -> Line {
        Line {
            state: Arc::new(Mutex::new(State {
                devices: BTreeMap::new(),
                faults: Vec::new(),
                stats: LineStats::default(),
            })),
            start: tokio::time::Instant::now(),
            bits_per_char,
            baud,
            turnaround: Duration::from_millis(2),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds since the line was made: the devices' clock.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
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

    pub fn clear_faults(&self, address: u16) {
        self.lock().faults.retain(|f| match f {
            Fault::Silent { address: a } | Fault::Corrupt { address: a, .. } => *a != address,
        });
    }

    pub fn stats(&self) -> LineStats {
        self.lock().stats
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
            for d in s.devices.values_mut() {
                let _ = d.handle(now, pdu);
            }
            return None;
        }
        let address = u16::from(slave);
        if s.faults.contains(&Fault::Silent { address }) {
            return None;
        }
        let reply = s.devices.get_mut(&address)?.handle(now, pdu);
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
                            tokio::time::sleep(wire + self.turnaround).await;
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
                tokio::time::sleep(self.wire(len + 3 + reply.len()) + self.turnaround).await;
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
