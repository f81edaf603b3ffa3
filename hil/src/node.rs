//! The measurement node: an ATmega328P per group of circuits, on I2C at an address set by DIP
//! switches (0x08-0x77), with its own ADC sampling and metering. This module is its register
//! map (the firmware's contract) and the driver.
//!
//! Every read is `[register]` written, then the register's bytes and one SMBus PEC byte read
//! (CRC-8 over both addresses, the register and the data); every write is `[register, data...,
//! PEC]`. A frame whose PEC does not check is refused, never used. The node's TWI acknowledges
//! each byte as it arrives, before it can check a PEC: a write with a bad PEC is acknowledged
//! and ignored, so the driver reads every write back and reports one that did not take.
//!
//! | register | bytes | access | contents |
//! | --- | --- | --- | --- |
//! | 0x00 `IDENTITY` | 4 | R | `'G'`, `'T'`, device kind (1 = measurement node), channels (1-8) |
//! | 0x04 `FIRMWARE` | 2 | R | major, minor |
//! | 0x06 `STATUS` | 2 | R | flags (see `Status`; reading clears the latched ones), then the cycle counter (u8, wraps): a reader that sees it unchanged knows it has no new data |
//! | 0x08 `SAMPLE_RATE` | 2 | R/W | samples per second per channel, little-endian |
//! | 0x10 + 16·ch `VALUES` | 16 | R | channel ch over the last 10 cycles (12 at 60 Hz), refreshed at every cycle: V rms (u32, mV), I rms (u32, mA), P (i32, 0.1 W), PF (i16, 1/10000), frequency (u16, mHz) |
//! | 0x90 + 8·ch `CALIBRATION` | 8 | R/W | channel ch's current sensor: gain (i32, parts per million of nominal), offset (i32, ADC counts); stored in EEPROM |
//! | 0xD0 `VOLTAGE_CALIBRATION` | 8 | R/W | the node's one voltage sensor, as above |
//! | 0xD8 `FAST` | 2 + 2·channels | R | for protection: the last cycle's V rms (u16, 10 mV), then each channel's largest half-cycle I rms since FAST was last read (u16, 10 mA; reading restarts it) |
//! | 0xF0 `ENERGY` | 4·channels | R | each channel's net active energy since start-up (i32, mWh, wraps: a reader takes differences) |
//!
//! A write's data to a register that is read-only or absent is NAKed, as is the PEC byte of a
//! value out of range (a sample rate outside 100-10,000); a write with a bad PEC changes nothing.
//! Multi-byte fields are little-endian (the AVR's order).

use embedded_hal::i2c::I2c;

use crate::pec;

pub const IDENTITY: u8 = 0x00;
pub const FIRMWARE: u8 = 0x04;
pub const STATUS: u8 = 0x06;
pub const SAMPLE_RATE: u8 = 0x08;
pub const VALUES: u8 = 0x10;
pub const CALIBRATION: u8 = 0x90;
pub const VOLTAGE_CALIBRATION: u8 = 0xD0;
pub const FAST: u8 = 0xD8;
pub const ENERGY: u8 = 0xF0;
/// The highest channel count a node reports.
pub const MAX_CHANNELS: u8 = 8;
/// Addresses a node may take (the 7-bit range less the reserved ones).
pub const ADDRESSES: std::ops::RangeInclusive<u8> = 0x08..=0x77;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub kind: u8,
    pub channels: u8,
    pub firmware: (u8, u8),
}

/// The node's status flags and its cycle counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub flags: u8,
    /// Cycles metered, modulo 256.
    pub sequence: u8,
}

impl Status {
    /// A cycle was metered since the status was last read (latched).
    pub const DATA_READY: u8 = 1 << 0;
    /// The ADC cannot keep up with the sample rate on all channels; the node samples slower.
    pub const ADC_OVERRUN: u8 = 1 << 1;
    /// The stored calibration failed its own checksum; the node uses defaults.
    pub const CALIBRATION_INVALID: u8 = 1 << 2;
    /// The node restarted from its watchdog since it was last read (latched).
    pub const WATCHDOG_RESET: u8 = 1 << 3;

    pub fn has(self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn decode(b: [u8; 2]) -> Status {
        Status {
            flags: b[0],
            sequence: b[1],
        }
    }

    pub fn encode(self) -> [u8; 2] {
        [self.flags, self.sequence]
    }
}

/// The FAST register: what protection acts on between windows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Fast {
    /// The last whole cycle's V rms.
    pub v_cycle: f64,
    /// Each channel's largest half-cycle I rms since the last read.
    pub i_half_max: [f64; MAX_CHANNELS as usize],
}

impl Fast {
    pub fn size(channels: u8) -> usize {
        2 + 2 * usize::from(channels)
    }

    pub fn decode(b: &[u8]) -> Fast {
        let u16_at = |i: usize| f64::from(u16::from_le_bytes([b[i], b[i + 1]])) / 100.0;
        let mut f = Fast {
            v_cycle: u16_at(0),
            ..Fast::default()
        };
        for (ch, x) in f.i_half_max.iter_mut().enumerate() {
            if 2 + 2 * ch + 1 < b.len() {
                *x = u16_at(2 + 2 * ch);
            }
        }
        f
    }

    /// As the firmware writes it for `channels` channels (saturating).
    pub fn encode(&self, channels: u8) -> Vec<u8> {
        let sat =
            |x: f64| ((x * 100.0).round().clamp(0.0, f64::from(u16::MAX)) as u16).to_le_bytes();
        let mut b = sat(self.v_cycle).to_vec();
        for x in &self.i_half_max[..usize::from(channels)] {
            b.extend_from_slice(&sat(*x));
        }
        b
    }
}

/// A sensor's calibration as the node applies it: value = (counts - bias - offset) · scale ·
/// (1 + gain_ppm / 10^6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Calibration {
    pub gain_ppm: i32,
    pub offset: i32,
}

impl Calibration {
    pub fn decode(b: [u8; 8]) -> Calibration {
        Calibration {
            gain_ppm: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            offset: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn encode(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&self.gain_ppm.to_le_bytes());
        b[4..].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    pub fn factor(self) -> f64 {
        1.0 + f64::from(self.gain_ppm) / 1e6
    }
}

/// One channel's metered values, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values {
    pub v_rms: f64,
    pub i_rms: f64,
    pub p: f64,
    pub pf: f64,
    pub hz: f64,
}

impl Values {
    /// A window's values, its power factor P / (V I) (zero with nothing flowing).
    pub fn new(v_rms: f64, i_rms: f64, p: f64, hz: f64) -> Values {
        let s = v_rms * i_rms;
        Values {
            v_rms,
            i_rms,
            p,
            pf: if s > 1e-9 {
                (p / s).clamp(-1.0, 1.0)
            } else {
                0.0
            },
            hz,
        }
    }

    /// The register's 16 bytes.
    pub fn decode(b: &[u8; 16]) -> Values {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Values {
            v_rms: f64::from(u32_at(0)) / 1e3,
            i_rms: f64::from(u32_at(4)) / 1e3,
            p: f64::from(u32_at(8) as i32) / 10.0,
            pf: f64::from(i16::from_le_bytes([b[12], b[13]])) / 1e4,
            hz: f64::from(u16::from_le_bytes([b[14], b[15]])) / 1e3,
        }
    }

    /// As the firmware writes them (rounded to the register's resolution, saturating).
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let sat = |x: f64, lo: f64, hi: f64| x.round().clamp(lo, hi);
        b[0..4]
            .copy_from_slice(&(sat(self.v_rms * 1e3, 0.0, u32::MAX as f64) as u32).to_le_bytes());
        b[4..8]
            .copy_from_slice(&(sat(self.i_rms * 1e3, 0.0, u32::MAX as f64) as u32).to_le_bytes());
        b[8..12].copy_from_slice(
            &(sat(self.p * 10.0, i32::MIN as f64, i32::MAX as f64) as i32).to_le_bytes(),
        );
        b[12..14].copy_from_slice(&(sat(self.pf * 1e4, -10_000.0, 10_000.0) as i16).to_le_bytes());
        b[14..16].copy_from_slice(&(sat(self.hz * 1e3, 0.0, u16::MAX as f64) as u16).to_le_bytes());
        b
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeError<E> {
    /// The bus failed (NAK, arbitration, a stuck line): the HAL's error.
    Bus(E),
    /// A frame's PEC did not check: the data is not used.
    Pec {
        register: u8,
        expected: u8,
        found: u8,
    },
    /// Something answered that is not a measurement node.
    NotANode { found: [u8; 4] },
    /// A channel the node does not have.
    NoChannel { channel: u8, channels: u8 },
    /// A write was acknowledged but the register did not take it (its PEC failed on the way).
    NotApplied { register: u8 },
}

impl<E: embedded_hal::i2c::Error> core::fmt::Display for NodeError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            // The HAL's own error says more than the catch-all kind (rppal: the OS error).
            NodeError::Bus(e) => match e.kind() {
                embedded_hal::i2c::ErrorKind::Other => write!(f, "bus: {e:?}"),
                k => write!(f, "bus: {k}"),
            },
            NodeError::Pec {
                register,
                expected,
                found,
            } => write!(
                f,
                "register {register:#04x}: PEC {found:#04x}, expected {expected:#04x}"
            ),
            NodeError::NotANode { found } => {
                write!(f, "not a measurement node (identity {found:02x?})")
            }
            NodeError::NoChannel { channel, channels } => {
                write!(f, "channel {channel}: the node has {channels}")
            }
            NodeError::NotApplied { register } => {
                write!(
                    f,
                    "register {register:#04x}: the write did not take (read back differs)"
                )
            }
        }
    }
}

/// A node at one address on a bus the caller owns (several nodes share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub address: u8,
    pub channels: u8,
}

/// Read `N` bytes of `register` and check their PEC.
pub fn read<I: I2c, const N: usize>(
    i2c: &mut I,
    address: u8,
    register: u8,
) -> Result<[u8; N], NodeError<I::Error>> {
    let mut out = [0u8; N];
    read_into(i2c, address, register, &mut out)?;
    Ok(out)
}

/// Read `out.len()` bytes of `register` (at most 32) and check their PEC.
pub fn read_into<I: I2c>(
    i2c: &mut I,
    address: u8,
    register: u8,
    out: &mut [u8],
) -> Result<(), NodeError<I::Error>> {
    let n = out.len();
    let mut frame = [0u8; 33];
    let frame = &mut frame[..=n];
    i2c.write_read(address, &[register], frame)
        .map_err(NodeError::Bus)?;
    let expected = pec::of_read(address, register, &frame[..n]);
    if frame[n] != expected {
        return Err(NodeError::Pec {
            register,
            expected,
            found: frame[n],
        });
    }
    out.copy_from_slice(&frame[..n]);
    Ok(())
}

/// Write `data` (at most 32 bytes) to `register` with its PEC, and read it back.
pub fn write<I: I2c>(
    i2c: &mut I,
    address: u8,
    register: u8,
    data: &[u8],
) -> Result<(), NodeError<I::Error>> {
    let mut frame = Vec::with_capacity(data.len() + 2);
    frame.push(register);
    frame.extend_from_slice(data);
    frame.push(pec::of_write(address, register, data));
    i2c.write(address, &frame).map_err(NodeError::Bus)?;
    let mut back = [0u8; 32];
    let back = &mut back[..data.len()];
    read_into(i2c, address, register, back)?;
    if back != data {
        return Err(NodeError::NotApplied { register });
    }
    Ok(())
}

impl Node {
    /// Identify the device at `address`: a measurement node, or an error saying what answered.
    pub fn identify<I: I2c>(
        i2c: &mut I,
        address: u8,
    ) -> Result<(Node, Identity), NodeError<I::Error>> {
        let id: [u8; 4] = read(i2c, address, IDENTITY)?;
        if &id[..2] != b"GT" || id[2] != 1 || id[3] == 0 || id[3] > MAX_CHANNELS {
            return Err(NodeError::NotANode { found: id });
        }
        let fw: [u8; 2] = read(i2c, address, FIRMWARE)?;
        let node = Node {
            address,
            channels: id[3],
        };
        Ok((
            node,
            Identity {
                kind: id[2],
                channels: id[3],
                firmware: (fw[0], fw[1]),
            },
        ))
    }

    pub fn status<I: I2c>(&self, i2c: &mut I) -> Result<Status, NodeError<I::Error>> {
        Ok(Status::decode(read(i2c, self.address, STATUS)?))
    }

    pub fn set_sample_rate<I: I2c>(
        &self,
        i2c: &mut I,
        sps: u16,
    ) -> Result<(), NodeError<I::Error>> {
        write(i2c, self.address, SAMPLE_RATE, &sps.to_le_bytes())
    }

    pub fn sample_rate<I: I2c>(&self, i2c: &mut I) -> Result<u16, NodeError<I::Error>> {
        Ok(u16::from_le_bytes(read(i2c, self.address, SAMPLE_RATE)?))
    }

    fn channel<E>(&self, ch: u8) -> Result<(), NodeError<E>> {
        if ch >= self.channels {
            return Err(NodeError::NoChannel {
                channel: ch,
                channels: self.channels,
            });
        }
        Ok(())
    }

    /// Channel `ch`'s current-sensor calibration.
    pub fn calibration<I: I2c>(
        &self,
        i2c: &mut I,
        ch: u8,
    ) -> Result<Calibration, NodeError<I::Error>> {
        self.channel(ch)?;
        Ok(Calibration::decode(read(
            i2c,
            self.address,
            CALIBRATION + 8 * ch,
        )?))
    }

    pub fn set_calibration<I: I2c>(
        &self,
        i2c: &mut I,
        ch: u8,
        cal: Calibration,
    ) -> Result<(), NodeError<I::Error>> {
        self.channel(ch)?;
        write(i2c, self.address, CALIBRATION + 8 * ch, &cal.encode())
    }

    pub fn voltage_calibration<I: I2c>(
        &self,
        i2c: &mut I,
    ) -> Result<Calibration, NodeError<I::Error>> {
        Ok(Calibration::decode(read(
            i2c,
            self.address,
            VOLTAGE_CALIBRATION,
        )?))
    }

    pub fn set_voltage_calibration<I: I2c>(
        &self,
        i2c: &mut I,
        cal: Calibration,
    ) -> Result<(), NodeError<I::Error>> {
        write(i2c, self.address, VOLTAGE_CALIBRATION, &cal.encode())
    }

    /// The last cycle's voltage and each channel's half-cycle current peak since the last read.
    pub fn fast<I: I2c>(&self, i2c: &mut I) -> Result<Fast, NodeError<I::Error>> {
        let mut b = [0u8; 2 + 2 * MAX_CHANNELS as usize];
        let b = &mut b[..Fast::size(self.channels)];
        read_into(i2c, self.address, FAST, b)?;
        Ok(Fast::decode(b))
    }

    /// Each channel's net active energy register, mWh (wrapping: take differences).
    pub fn energy<I: I2c>(&self, i2c: &mut I) -> Result<Vec<i32>, NodeError<I::Error>> {
        let mut b = [0u8; 4 * MAX_CHANNELS as usize];
        let b = &mut b[..4 * usize::from(self.channels)];
        read_into(i2c, self.address, ENERGY, b)?;
        Ok(b.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Channel `ch`'s values over the last window.
    pub fn values<I: I2c>(&self, i2c: &mut I, ch: u8) -> Result<Values, NodeError<I::Error>> {
        self.channel(ch)?;
        let b: [u8; 16] = read(i2c, self.address, VALUES + 16 * ch)?;
        Ok(Values::decode(&b))
    }
}

/// What answered at an address: a node, or why it is not one.
pub type Identified<E> = Result<(Node, Identity), NodeError<E>>;

/// Every measurement node on the bus, in address order. Addresses that do not answer (NAK)
/// are empty; one that answers but is not a node, or whose frames do not check, is reported
/// with its error so a bench test can show it.
pub fn scan<I: I2c>(i2c: &mut I) -> Vec<(u8, Identified<I::Error>)> {
    use embedded_hal::i2c::{Error, ErrorKind, NoAcknowledgeSource};
    ADDRESSES
        .filter_map(|a| match Node::identify(i2c, a) {
            Err(NodeError::Bus(e))
                if matches!(
                    e.kind(),
                    ErrorKind::NoAcknowledge(
                        NoAcknowledgeSource::Address | NoAcknowledgeSource::Unknown
                    )
                ) =>
            {
                None
            }
            r => Some((a, r)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::ErrorKind;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    /// The transaction of a good read: the register written, the data and its PEC returned.
    fn reads(address: u8, register: u8, data: &[u8]) -> Transaction {
        let mut frame = data.to_vec();
        frame.push(pec::of_read(address, register, data));
        Transaction::write_read(address, vec![register], frame)
    }

    #[test]
    fn identify_reads_identity_and_firmware_with_checked_frames() {
        let mut bus = Mock::new(&[
            reads(0x21, IDENTITY, b"GT\x01\x04"),
            reads(0x21, FIRMWARE, &[1, 7]),
        ]);
        let (node, id) = Node::identify(&mut bus, 0x21).unwrap();
        assert_eq!(
            node,
            Node {
                address: 0x21,
                channels: 4
            }
        );
        assert_eq!(id.firmware, (1, 7));
        bus.done();
    }

    #[test]
    fn a_corrupted_byte_is_refused_by_its_pec() {
        let mut frame = b"GT\x01\x04".to_vec();
        let good = pec::of_read(0x21, IDENTITY, &frame);
        frame[3] ^= 0x10;
        frame.push(good);
        let mut bus = Mock::new(&[Transaction::write_read(0x21, vec![IDENTITY], frame)]);
        let e = Node::identify(&mut bus, 0x21).unwrap_err();
        assert!(
            matches!(e, NodeError::Pec { register: IDENTITY, found, .. } if found == good),
            "{e:?}"
        );
        bus.done();
    }

    #[test]
    fn values_decode_to_si_units_and_round_trip_at_register_resolution() {
        let v = Values {
            v_rms: 230.123,
            i_rms: 4.567,
            p: -1234.5,
            pf: -0.9876,
            hz: 49.987,
        };
        let node = Node {
            address: 0x30,
            channels: 2,
        };
        let mut bus = Mock::new(&[reads(0x30, VALUES + 16, &v.encode())]);
        let back = node.values(&mut bus, 1).unwrap();
        assert_eq!(back, v);
        assert!(matches!(
            node.values(&mut bus, 2),
            Err(NodeError::NoChannel {
                channel: 2,
                channels: 2
            })
        ));
        bus.done();
    }

    #[test]
    fn writes_carry_their_pec_and_the_sample_rate_reads_back() {
        let node = Node {
            address: 0x42,
            channels: 1,
        };
        let data = 3200u16.to_le_bytes();
        let frame = vec![
            SAMPLE_RATE,
            data[0],
            data[1],
            pec::of_write(0x42, SAMPLE_RATE, &data),
        ];
        let mut bus = Mock::new(&[
            Transaction::write(0x42, frame.clone()),
            reads(0x42, SAMPLE_RATE, &data),
            reads(0x42, SAMPLE_RATE, &data),
            // A write whose PEC failed on the way: acknowledged, and the old value reads back.
            Transaction::write(0x42, frame),
            reads(0x42, SAMPLE_RATE, &1800u16.to_le_bytes()),
        ]);
        node.set_sample_rate(&mut bus, 3200).unwrap();
        assert_eq!(node.sample_rate(&mut bus).unwrap(), 3200);
        assert_eq!(
            node.set_sample_rate(&mut bus, 3200),
            Err(NodeError::NotApplied {
                register: SAMPLE_RATE
            })
        );
        bus.done();
    }

    #[test]
    fn a_scan_finds_nodes_skips_silence_and_reports_strangers() {
        let nak = ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address);
        let mut expect = Vec::new();
        for a in ADDRESSES {
            match a {
                0x10 => {
                    expect.push(reads(a, IDENTITY, b"GT\x01\x02"));
                    expect.push(reads(a, FIRMWARE, &[2, 0]));
                }
                // An EEPROM, say: answers, but not with our identity.
                0x50 => expect.push(reads(a, IDENTITY, &[0xff; 4])),
                _ => expect
                    .push(Transaction::write_read(a, vec![IDENTITY], vec![0; 5]).with_error(nak)),
            }
        }
        let mut bus = Mock::new(&expect);
        let found = scan(&mut bus);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, 0x10);
        assert_eq!(found[0].1.as_ref().unwrap().0.channels, 2);
        assert_eq!(found[1].0, 0x50);
        assert!(matches!(found[1].1, Err(NodeError::NotANode { .. })));
        bus.done();
    }
}
