//! An I2C bus in software for CI and the emulated-HIL backend: virtual devices at their
//! addresses, a bus clock that every transfer advances by its time on the wire, and the faults a
//! real bus shows (a NAK, a stuck line, a corrupted byte, a slow device, a device that vanishes).
//!
//! `EmulatedBus` is a handle: clones share one bus, so the drivers own theirs (as they would own
//! a shared Linux `/dev/i2c-1`) while the test or the backend keeps one to inject faults, feed the
//! analog inputs and read the clock. It implements embedded-hal's `I2c` and `DelayNs`; a delay
//! lets the bus clock run.

pub mod ads1115;
pub mod bench;
pub mod gpio;
pub mod node;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation, SevenBitAddress};

/// Bus time, nanoseconds since the bus was made.
pub type Nanos = u64;

/// A device's refusal of a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nak;

/// What sits at an address. The bus calls `write` and `read` per transfer of a transaction, in
/// order, at the bus time the transfer starts; `stop` when the transaction ends.
pub trait Device: std::any::Any + Send {
    /// Bytes written by the controller. Refusing a byte NAKs it (and ends the transaction).
    fn write(&mut self, now: Nanos, bytes: &[u8]) -> Result<(), Nak>;
    /// Bytes the device sends back.
    fn read(&mut self, now: Nanos, buf: &mut [u8]);
    /// The STOP condition.
    fn stop(&mut self, _now: Nanos) {}
}

/// A fault on the bus, injected by a test or a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The device at `address` NAKs its data bytes for the next `count` transactions (a busy
    /// device, or one rebooting).
    Nak { address: u8, count: u32 },
    /// SDA held low by a confused device: every transaction fails with a bus error until
    /// `until` (or until `EmulatedBus::recover` clocks it free).
    Stuck { until: Option<Nanos> },
    /// The next `count` reads from `address` have byte `index` flipped by `xor` (noise on a
    /// long cable).
    Corrupt {
        address: u8,
        index: usize,
        xor: u8,
        count: u32,
    },
    /// The device at `address` stretches the clock by `per_byte` for each byte it handles;
    /// past the controller's timeout the transfer fails.
    Slow { address: u8, per_byte: Nanos },
    /// The device at `address` stops answering (unplugged, or its supply failed).
    Vanish { address: u8 },
}

/// The bus's error, as embedded-hal classifies it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BusError(pub ErrorKind);

/// `Other` is only ever the clock-stretching timeout here, which the kind cannot say.
impl std::fmt::Debug for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ErrorKind::Other => f.write_str("timed out: the device stretched the clock too long"),
            k => write!(f, "{k:?}"),
        }
    }
}

impl i2c::Error for BusError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Counts of what happened on the bus, for tests and the CPU-share benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub transactions: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Bus time spent transferring, ns.
    pub busy: Nanos,
}

struct Bus {
    now: Nanos,
    /// Nanoseconds per SCL cycle.
    cycle: Nanos,
    /// The controller gives up on a transfer held this long by clock stretching.
    timeout: Nanos,
    devices: BTreeMap<u8, Box<dyn Device>>,
    faults: Vec<Fault>,
    traffic: Traffic,
}

#[derive(Clone)]
pub struct EmulatedBus(Arc<Mutex<Bus>>);

impl Default for EmulatedBus {
    fn default() -> Self {
        Self::new(400_000)
    }
}

impl EmulatedBus {
    /// A bus clocked at `hz` (100 kHz standard mode, 400 kHz fast mode), with the Linux
    /// BCM2835 driver's 35 ms clock-stretch timeout.
    pub fn new(hz: u32) -> Self {
        EmulatedBus(Arc::new(Mutex::new(Bus {
            now: 0,
            cycle: 1_000_000_000 / u64::from(hz.max(1)),
            timeout: 35_000_000,
            devices: BTreeMap::new(),
            faults: Vec::new(),
            traffic: Traffic::default(),
        })))
    }

    fn bus(&self) -> MutexGuard<'_, Bus> {
        // A panic elsewhere while holding the lock leaves the bus as consistent as a real one.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put `device` at `address` (replacing what was there).
    pub fn attach(&self, address: u8, device: impl Device + 'static) {
        self.bus().devices.insert(address, Box::new(device));
    }

    pub fn inject(&self, fault: Fault) {
        self.bus().faults.push(fault);
    }

    /// Remove every fault: the cable fixed, the device back.
    pub fn clear_faults(&self) {
        self.bus().faults.clear();
    }

    /// Remove the faults `f` picks.
    pub fn remove_faults(&self, f: impl Fn(&Fault) -> bool) {
        self.bus().faults.retain(|x| !f(x));
    }

    /// Nine clock pulses and a STOP, as a controller does to free a stuck SDA line.
    pub fn recover(&self) {
        let mut b = self.bus();
        b.faults.retain(|f| !matches!(f, Fault::Stuck { .. }));
        b.now += 10 * b.cycle;
    }

    pub fn now(&self) -> Nanos {
        self.bus().now
    }

    /// Let the bus idle until `t` (no effect if it is already later).
    pub fn idle_until(&self, t: Nanos) {
        let mut b = self.bus();
        b.now = b.now.max(t);
    }

    pub fn traffic(&self) -> Traffic {
        self.bus().traffic
    }

    /// Run `f` on the device at `address` (to feed it, or to look inside in a test).
    pub fn with_device<D: Device + 'static, R>(
        &self,
        address: u8,
        f: impl FnOnce(&mut D) -> R,
    ) -> Option<R> {
        let mut b = self.bus();
        let d: &mut dyn std::any::Any = b.devices.get_mut(&address)?.as_mut();
        d.downcast_mut::<D>().map(f)
    }
}

impl Bus {
    fn stuck(&mut self) -> bool {
        let now = self.now;
        self.faults
            .retain(|f| !matches!(f, Fault::Stuck { until: Some(u) } if *u <= now));
        self.faults.iter().any(|f| matches!(f, Fault::Stuck { .. }))
    }

    fn vanished(&self, address: u8) -> bool {
        self.faults
            .iter()
            .any(|f| matches!(f, Fault::Vanish { address: a } if *a == address))
    }

    /// Consumes one count of a NAK fault for `address`; true if this transaction is NAKed.
    fn take_nak(&mut self, address: u8) -> bool {
        let Some(i) = self
            .faults
            .iter()
            .position(|f| matches!(f, Fault::Nak { address: a, .. } if *a == address))
        else {
            return false;
        };
        if let Fault::Nak { count, .. } = &mut self.faults[i] {
            *count -= 1;
            if *count == 0 {
                self.faults.remove(i);
            }
        }
        true
    }

    fn take_corruption(&mut self, address: u8) -> Option<(usize, u8)> {
        let i = self
            .faults
            .iter()
            .position(|f| matches!(f, Fault::Corrupt { address: a, .. } if *a == address))?;
        let Fault::Corrupt {
            index, xor, count, ..
        } = &mut self.faults[i]
        else {
            return None;
        };
        let found = (*index, *xor);
        *count -= 1;
        if *count == 0 {
            self.faults.remove(i);
        }
        Some(found)
    }

    fn stretch(&self, address: u8) -> Nanos {
        self.faults
            .iter()
            .filter_map(|f| match f {
                Fault::Slow {
                    address: a,
                    per_byte,
                } if *a == address => Some(*per_byte),
                _ => None,
            })
            .sum()
    }

    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), BusError> {
        self.traffic.transactions += 1;
        let start = self.now;
        let result = self.transfer(address, operations);
        // START and STOP each take about a cycle.
        self.now += 2 * self.cycle;
        let present = !self.vanished(address);
        if let Some(d) = self.devices.get_mut(&address)
            && present
        {
            d.stop(self.now);
        }
        self.traffic.busy += self.now - start;
        if result.is_err() {
            self.traffic.errors += 1;
        }
        result
    }

    fn transfer(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), BusError> {
        if self.stuck() {
            self.now += self.cycle;
            return Err(BusError(ErrorKind::Bus));
        }
        let nak_address = BusError(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        if self.vanished(address) || !self.devices.contains_key(&address) {
            self.now += 9 * self.cycle;
            return Err(nak_address);
        }
        let stretch = self.stretch(address);
        if stretch > self.timeout {
            self.now += self.timeout;
            return Err(BusError(ErrorKind::Other));
        }
        let nak_data = self.take_nak(address);
        let mut corruption = self.take_corruption(address);
        let cycle = self.cycle;
        let wire = |bytes: usize, stretch: Nanos| bytes as Nanos * (9 * cycle + stretch);
        let device = self.devices.get_mut(&address).expect("checked above");
        for op in operations.iter_mut() {
            // The address byte, sent again at each repeated START.
            self.now += wire(1, 0);
            let now = self.now;
            match op {
                Operation::Write(bytes) => {
                    self.traffic.bytes += bytes.len() as u64;
                    if nak_data && !bytes.is_empty() {
                        self.now += wire(1, stretch);
                        return Err(BusError(ErrorKind::NoAcknowledge(
                            NoAcknowledgeSource::Data,
                        )));
                    }
                    let refused = device.write(now, bytes).is_err();
                    self.now += wire(bytes.len(), stretch);
                    if refused {
                        return Err(BusError(ErrorKind::NoAcknowledge(
                            NoAcknowledgeSource::Data,
                        )));
                    }
                }
                Operation::Read(buf) => {
                    self.traffic.bytes += buf.len() as u64;
                    device.read(now, buf);
                    if let Some((i, xor)) = corruption.take_if(|(i, _)| *i < buf.len()) {
                        buf[i] ^= xor;
                    }
                    self.now += wire(buf.len(), stretch);
                }
            }
        }
        Ok(())
    }
}

impl i2c::ErrorType for EmulatedBus {
    type Error = BusError;
}

impl i2c::I2c<SevenBitAddress> for EmulatedBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.bus().transaction(address, operations)
    }
}

impl DelayNs for EmulatedBus {
    fn delay_ns(&mut self, ns: u32) {
        self.bus().now += u64::from(ns);
    }
}
