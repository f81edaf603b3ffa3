//! SMBus Packet Error Code: CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0,
//! no reflection (the `crc` crate's CRC_8_SMBUS), over every byte on the bus in the
//! transaction, addresses included.

use crc::{CRC_8_SMBUS, Crc};

const SMBUS: Crc<u8> = Crc::<u8>::new(&CRC_8_SMBUS);

/// The PEC of `head` then `data`.
fn of(head: &[u8], data: &[u8]) -> u8 {
    let mut d = SMBUS.digest();
    d.update(head);
    d.update(data);
    d.finalize()
}

/// The PEC of a register read: address with write bit, the register, address with read bit,
/// then the data bytes.
pub fn of_read(address: u8, register: u8, data: &[u8]) -> u8 {
    of(&[address << 1, register, (address << 1) | 1], data)
}

/// The PEC of a register write: address with write bit, the register, the data bytes.
pub fn of_write(address: u8, register: u8, data: &[u8]) -> u8 {
    of(&[address << 1, register], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc8_check_value_of_the_standard_string() {
        // CRC-8/SMBUS check value (the CRC RevEng catalogue): "123456789" -> 0xF4.
        assert_eq!(of(b"1234", b"56789"), 0xF4);
    }

    #[test]
    fn a_message_followed_by_its_pec_checks_to_zero() {
        for msg in [&b""[..], b"\x00", b"\xff\x10\x20", b"gridtwin"] {
            let crc = of(msg, &[]);
            assert_eq!(of(msg, &[crc]), 0, "{msg:?}");
        }
    }

    #[test]
    fn every_single_bit_error_is_caught() {
        let data = [0x12, 0x34, 0x56, 0x78, 0x9a];
        let good = of_read(0x21, 0x10, &data);
        for byte in 0..data.len() {
            for bit in 0..8 {
                let mut bad = data;
                bad[byte] ^= 1 << bit;
                assert_ne!(of_read(0x21, 0x10, &bad), good, "byte {byte} bit {bit}");
            }
        }
        // The address is covered too: the same bytes from another node do not check.
        assert_ne!(of_read(0x22, 0x10, &data), good);
    }
}
