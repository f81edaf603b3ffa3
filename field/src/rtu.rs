//! Modbus RTU as a slave sees the line: requests framed out of the bytes that arrive, checked
//! by their CRC-16/MODBUS, and replies built. Written here rather than taken from
//! tokio-modbus's server, which frames only the standard functions: the PZEM-004T's energy
//! reset is function 0x42, and the emulated slaves must also be able to garble, delay or
//! withhold a reply. The master side is tokio-modbus's.
//!
//! A frame is the slave address, the function code, its data and the CRC (low byte first).
//! On a real line frames are told apart by 3.5 characters of silence; here each standard
//! function's length is known from its header, and any other function's frame is what has
//! arrived (a pseudo-terminal delivers a frame in one piece).

use crc::{CRC_16_MODBUS, Crc};

const MODBUS: Crc<u16> = Crc::<u16>::new(&CRC_16_MODBUS);

pub fn crc16(bytes: &[u8]) -> u16 {
    MODBUS.checksum(bytes)
}

/// `bytes` with their CRC appended.
pub fn with_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// Addressed to every slave: written, never answered.
pub const BROADCAST: u8 = 0;

/// The request part of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    ReadHolding {
        start: u16,
        count: u16,
    },
    ReadInput {
        start: u16,
        count: u16,
    },
    WriteSingle {
        address: u16,
        value: u16,
    },
    WriteMultiple {
        start: u16,
        values: Vec<u16>,
    },
    /// A function this map does not frame by length: its code and data.
    Other {
        function: u8,
        data: Vec<u8>,
    },
}

impl Pdu {
    pub fn function(&self) -> u8 {
        match self {
            Pdu::ReadHolding { .. } => 0x03,
            Pdu::ReadInput { .. } => 0x04,
            Pdu::WriteSingle { .. } => 0x06,
            Pdu::WriteMultiple { .. } => 0x10,
            Pdu::Other { function, .. } => *function,
        }
    }
}

/// A slave's answer to a request it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Registers(Vec<u16>),
    WroteSingle {
        address: u16,
        value: u16,
    },
    WroteMultiple {
        start: u16,
        count: u16,
    },
    /// An `Other` function's reply data (after the function code).
    Other(Vec<u8>),
}

/// The exception codes a slave answers with (Modbus Application Protocol 1.1b3, 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    IllegalFunction = 1,
    IllegalDataAddress = 2,
    IllegalDataValue = 3,
    DeviceFailure = 4,
}

/// What the bytes at the front of a buffer are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// Not a whole frame yet.
    Partial,
    /// A request for `slave`, `len` bytes long.
    Request { slave: u8, pdu: Pdu, len: usize },
    /// `len` bytes that are no frame (a bad CRC, a malformed request): dropped, and why.
    Garbage { len: usize, why: String },
}

fn be(b: &[u8], k: usize) -> u16 {
    u16::from_be_bytes([b[k], b[k + 1]])
}

/// Frame the request at the front of `buf`.
pub fn frame(buf: &[u8]) -> Framed {
    if buf.len() < 2 {
        return Framed::Partial;
    }
    let len = match buf[1] {
        0x03 | 0x04 | 0x06 => 8,
        0x10 => match buf.get(6) {
            Some(&n) => 9 + usize::from(n),
            None => return Framed::Partial,
        },
        // Unknown length: what has arrived is the frame.
        _ => buf.len().min(256),
    };
    if len < 4 {
        return Framed::Partial;
    }
    if buf.len() < len {
        return Framed::Partial;
    }
    let (body, crc) = buf[..len].split_at(len - 2);
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
        // Resynchronise one byte on: the next frame may start inside this one.
        return Framed::Garbage {
            len: 1,
            why: format!(
                "CRC {:#06x}, computed {:#06x} over {} bytes",
                u16::from_le_bytes([crc[0], crc[1]]),
                crc16(body),
                body.len()
            ),
        };
    }
    let slave = body[0];
    let pdu = match body[1] {
        0x03 => Pdu::ReadHolding {
            start: be(body, 2),
            count: be(body, 4),
        },
        0x04 => Pdu::ReadInput {
            start: be(body, 2),
            count: be(body, 4),
        },
        0x06 => Pdu::WriteSingle {
            address: be(body, 2),
            value: be(body, 4),
        },
        0x10 => {
            let (start, count, n) = (be(body, 2), be(body, 4), usize::from(body[6]));
            if n != 2 * usize::from(count) {
                return Framed::Garbage {
                    len,
                    why: format!("write of {count} registers carries {n} bytes"),
                };
            }
            Pdu::WriteMultiple {
                start,
                values: body[7..7 + n].chunks(2).map(|c| be(c, 0)).collect(),
            }
        }
        function => Pdu::Other {
            function,
            data: body[2..].to_vec(),
        },
    };
    Framed::Request { slave, pdu, len }
}

/// The reply frame (CRC included) of `slave` to a request of `function`.
pub fn reply(slave: u8, function: u8, r: &Result<Reply, Exception>) -> Vec<u8> {
    let mut b = vec![slave];
    match r {
        Err(e) => b.extend_from_slice(&[function | 0x80, *e as u8]),
        Ok(Reply::Registers(words)) => {
            b.push(function);
            b.push((2 * words.len()) as u8);
            for w in words {
                b.extend_from_slice(&w.to_be_bytes());
            }
        }
        Ok(Reply::WroteSingle { address, value }) => {
            b.push(function);
            b.extend_from_slice(&address.to_be_bytes());
            b.extend_from_slice(&value.to_be_bytes());
        }
        Ok(Reply::WroteMultiple { start, count }) => {
            b.push(function);
            b.extend_from_slice(&start.to_be_bytes());
            b.extend_from_slice(&count.to_be_bytes());
        }
        Ok(Reply::Other(data)) => {
            b.push(function);
            b.extend_from_slice(data);
        }
    }
    with_crc(b)
}

/// A read's count must be 1-125 registers (the frame's 250 data bytes).
pub fn check_count(count: u16) -> Result<(), Exception> {
    if (1..=125).contains(&count) {
        Ok(())
    } else {
        Err(Exception::IllegalDataValue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_modbus_s() {
        // Modbus over Serial Line V1.02, 6.2.2: the example frame 02 07 has CRC 0x1241,
        // sent as 41 12.
        assert_eq!(crc16(&[0x02, 0x07]), 0x1241);
        assert_eq!(with_crc(vec![0x02, 0x07]), [0x02, 0x07, 0x41, 0x12]);
    }

    #[test]
    fn requests_are_framed_and_bad_ones_dropped_with_why() {
        // Read 10 input registers from 0 of slave 1 (the PZEM manual's request: 01 04 00 00
        // 00 0A 70 0D).
        let req = [0x01, 0x04, 0x00, 0x00, 0x00, 0x0A, 0x70, 0x0D];
        assert_eq!(
            frame(&req),
            Framed::Request {
                slave: 1,
                pdu: Pdu::ReadInput {
                    start: 0,
                    count: 10
                },
                len: 8
            }
        );
        assert_eq!(frame(&req[..5]), Framed::Partial);
        let mut bad = req;
        bad[3] ^= 1;
        assert!(matches!(frame(&bad), Framed::Garbage { len: 1, why } if why.contains("CRC")));
        // The PZEM's energy reset: 01 42 80 11.
        let reset = with_crc(vec![0x01, 0x42]);
        assert_eq!(reset, [0x01, 0x42, 0x80, 0x11]);
        assert!(matches!(
            frame(&reset),
            Framed::Request {
                slave: 1,
                pdu: Pdu::Other { function: 0x42, .. },
                len: 4
            }
        ));
        let w = with_crc(vec![0x05, 0x10, 0x01, 0x00, 0x00, 0x02, 0x04, 0, 7, 0, 2]);
        assert!(matches!(
            frame(&w),
            Framed::Request { slave: 5, pdu: Pdu::WriteMultiple { start: 0x100, ref values }, .. }
                if values == &[7, 2]
        ));
    }

    #[test]
    fn replies_are_built_as_the_protocol_says() {
        assert_eq!(
            reply(1, 0x04, &Ok(Reply::Registers(vec![0x0898]))),
            with_crc(vec![1, 4, 2, 0x08, 0x98])
        );
        assert_eq!(
            reply(1, 0x04, &Err(Exception::IllegalDataAddress)),
            with_crc(vec![1, 0x84, 2])
        );
    }
}
