//! Values spread over 16-bit registers. Modbus itself says nothing of 32-bit values: the home
//! node and Eastron's meters send the high word first, the PZEM-004T the low word first.

/// A u32 from two registers, the high word first.
pub fn u32_hi_lo(r: &[u16]) -> u32 {
    (u32::from(r[0]) << 16) | u32::from(r[1])
}

/// A u32 from two registers, the low word first (the PZEM-004T's order).
pub fn u32_lo_hi(r: &[u16]) -> u32 {
    (u32::from(r[1]) << 16) | u32::from(r[0])
}

/// An IEEE 754 single from two registers, the high word first (Eastron's order).
pub fn f32_hi_lo(r: &[u16]) -> f32 {
    f32::from_bits(u32_hi_lo(r))
}

/// Two registers holding `v`, the high word first.
pub fn hi_lo(v: u32) -> [u16; 2] {
    [(v >> 16) as u16, v as u16]
}

/// Two registers holding `v`, the low word first.
pub fn lo_hi(v: u32) -> [u16; 2] {
    [v as u16, (v >> 16) as u16]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_in_both_orders() {
        for v in [0, 1, 0xffff, 0x1_0000, 0xdead_beef, u32::MAX] {
            assert_eq!(u32_hi_lo(&hi_lo(v)), v);
            assert_eq!(u32_lo_hi(&lo_hi(v)), v);
        }
        // 230.0 V as Eastron sends it: 0x4366 0x0000.
        assert_eq!(f32_hi_lo(&[0x4366, 0x0000]), 230.0);
    }
}
