//! The meters people own, read from their documented registers:
//! - PZEM-004T v3 (single-phase, 9600 8N1): input registers 0x0000-0x0009, fixed point, 32-bit
//!   values low word first; its energy is reset by function 0x42.
//! - Eastron SDM120 (single-phase) and SDM630 (three-phase), 2400-38400 baud: input registers
//!   holding IEEE 754 singles, high word first, a parameter every two registers.

use serde::{Deserialize, Serialize};

use crate::words::{f32_hi_lo, u32_lo_hi};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MeterKind {
    Pzem004t,
    Sdm120,
    Sdm630,
}

/// One block of input registers (function 04) a reading takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start: u16,
    pub count: u16,
}

/// The PZEM-004T's energy reset: function 0x42 with no data; the meter echoes it.
pub const PZEM_RESET_ENERGY: u8 = 0x42;

// Eastron's input registers (parameter n at register 2(n-1)).
pub mod eastron {
    pub const V1: u16 = 0x0000;
    pub const I1: u16 = 0x0006;
    pub const P1: u16 = 0x000C;
    pub const S1: u16 = 0x0012;
    pub const Q1: u16 = 0x0018;
    pub const PF1: u16 = 0x001E;
    pub const P_TOTAL: u16 = 0x0034;
    pub const HZ: u16 = 0x0046;
    pub const IMPORT_KWH: u16 = 0x0048;
    pub const EXPORT_KWH: u16 = 0x004A;
    /// SDM630: the neutral current.
    pub const I_N: u16 = 0x00E0;
}

/// One phase (or the only one) as a meter reads it, SI units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PhaseReading {
    pub v: f64,
    pub i: f64,
    pub p: f64,
    /// Reactive power; the PZEM-004T does not measure it.
    pub q: Option<f64>,
    pub pf: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeterReading {
    pub phases: Vec<PhaseReading>,
    pub hz: f64,
    pub import_kwh: f64,
    /// Exported energy; the PZEM-004T counts only one way.
    pub export_kwh: Option<f64>,
    pub neutral_a: Option<f64>,
    /// The PZEM-004T's power alarm.
    pub alarm: Option<bool>,
}

/// What a meter's registers hold that no meter would send: which register and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} register {register:#06x}: {why}")]
pub struct MeterError {
    pub kind: MeterKind,
    pub register: u16,
    pub why: String,
}

impl MeterKind {
    /// The blocks a reading takes, each one request. Eastron meters answer up to 40
    /// parameters (80 registers) a request.
    pub fn blocks(self) -> &'static [Block] {
        match self {
            MeterKind::Pzem004t => &[Block {
                start: 0x0000,
                count: 10,
            }],
            MeterKind::Sdm120 => &[Block {
                start: 0x0000,
                count: 0x50,
            }],
            MeterKind::Sdm630 => &[
                Block {
                    start: 0x0000,
                    count: 0x50,
                },
                Block {
                    start: eastron::I_N,
                    count: 2,
                },
            ],
        }
    }

    /// The reading from `blocks`, one slice per `self.blocks()`.
    pub fn decode(self, blocks: &[&[u16]]) -> Result<MeterReading, MeterError> {
        let want = self.blocks();
        let err = |register: u16, why: String| MeterError {
            kind: self,
            register,
            why,
        };
        if blocks.len() != want.len() {
            return Err(err(
                0,
                format!("{} blocks where a reading has {}", blocks.len(), want.len()),
            ));
        }
        for (b, w) in blocks.iter().zip(want) {
            if b.len() != usize::from(w.count) {
                return Err(err(
                    w.start,
                    format!("{} registers where the block has {}", b.len(), w.count),
                ));
            }
        }
        match self {
            MeterKind::Pzem004t => {
                let r = blocks[0];
                let pf = f64::from(r[8]) / 100.0;
                if pf > 1.0 {
                    return Err(err(0x0008, format!("power factor {pf}: 0 to 1")));
                }
                let alarm = match r[9] {
                    0x0000 => false,
                    0xFFFF => true,
                    n => return Err(err(0x0009, format!("alarm status {n:#06x}: 0 or 0xFFFF"))),
                };
                Ok(MeterReading {
                    phases: vec![PhaseReading {
                        v: f64::from(r[0]) / 10.0,
                        i: f64::from(u32_lo_hi(&r[1..3])) / 1000.0,
                        p: f64::from(u32_lo_hi(&r[3..5])) / 10.0,
                        q: None,
                        pf,
                    }],
                    hz: f64::from(r[7]) / 10.0,
                    import_kwh: f64::from(u32_lo_hi(&r[5..7])) / 1000.0,
                    export_kwh: None,
                    neutral_a: None,
                    alarm: Some(alarm),
                })
            }
            MeterKind::Sdm120 | MeterKind::Sdm630 => {
                let r = blocks[0];
                let float = |reg: u16| -> Result<f64, MeterError> {
                    let k = usize::from(reg);
                    let x = f64::from(f32_hi_lo(&r[k..k + 2]));
                    if x.is_finite() {
                        Ok(x)
                    } else {
                        Err(err(reg, format!("{x} is not a number a meter sends")))
                    }
                };
                let n = if self == MeterKind::Sdm630 { 3 } else { 1 };
                let phases = (0..n)
                    .map(|k| {
                        let at = |base: u16| base + 2 * k;
                        Ok(PhaseReading {
                            v: float(at(eastron::V1))?,
                            i: float(at(eastron::I1))?,
                            p: float(at(eastron::P1))?,
                            q: Some(float(at(eastron::Q1))?),
                            pf: float(at(eastron::PF1))?,
                        })
                    })
                    .collect::<Result<Vec<_>, MeterError>>()?;
                let neutral_a = match blocks.get(1) {
                    Some(b) => Some(f64::from(f32_hi_lo(b))).filter(|x| x.is_finite()),
                    None => None,
                };
                Ok(MeterReading {
                    phases,
                    hz: float(eastron::HZ)?,
                    import_kwh: float(eastron::IMPORT_KWH)?,
                    export_kwh: Some(float(eastron::EXPORT_KWH)?),
                    neutral_a,
                    alarm: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pzem_datasheets_example_reply_reads_as_it_says() {
        // The PZEM-004T V3.0 manual's example reply to "read input registers 0-9": 220.0 V,
        // 1.000 A, 220.0 W, 0 Wh, 50.0 Hz, PF 1.00, no alarm.
        let r = [
            0x0898, 0x03E8, 0x0000, 0x0898, 0x0000, 0x0000, 0x0000, 0x01F4, 0x0064, 0x0000,
        ];
        let m = MeterKind::Pzem004t.decode(&[&r]).unwrap();
        assert_eq!(
            m.phases,
            [PhaseReading {
                v: 220.0,
                i: 1.0,
                p: 220.0,
                q: None,
                pf: 1.0
            }]
        );
        assert_eq!((m.hz, m.import_kwh, m.alarm), (50.0, 0.0, Some(false)));
        // 32-bit values low word first: 0x0001_0000 mA is 65.536 A.
        let mut big = r;
        big[1] = 0x0000;
        big[2] = 0x0001;
        let m = MeterKind::Pzem004t.decode(&[&big]).unwrap();
        assert_eq!(m.phases[0].i, 65.536);
    }

    #[test]
    fn eastron_floats_are_read_high_word_first_at_their_parameter_numbers() {
        let mut r = vec![0u16; 0x50];
        let mut put = |reg: u16, x: f32| {
            let b = x.to_bits();
            r[usize::from(reg)] = (b >> 16) as u16;
            r[usize::from(reg) + 1] = b as u16;
        };
        // Parameter 1 (30001) the voltage, 4 (30007) the current, 36 (30071) the frequency.
        put(0x0000, 230.5);
        put(0x0006, 4.25);
        put(0x000C, -950.0);
        put(0x0018, 120.0);
        put(0x001E, -0.99);
        put(0x0046, 50.02);
        put(0x0048, 1234.5);
        put(0x004A, 67.25);
        let m = MeterKind::Sdm120.decode(&[&r]).unwrap();
        let p = m.phases[0];
        assert_eq!((p.v, p.i, p.p, p.q), (230.5, 4.25, -950.0, Some(120.0)));
        assert_eq!(p.pf, f64::from(-0.99f32));
        assert_eq!(
            (m.hz, m.import_kwh, m.export_kwh),
            (f64::from(50.02f32), 1234.5, Some(67.25))
        );
        r[0x46] = 0x7fc0; // a NaN
        let e = MeterKind::Sdm120.decode(&[&r]).unwrap_err();
        assert!(e.to_string().contains("register 0x0046"), "{e}");
        assert!(MeterKind::Sdm630.decode(&[&r]).is_err());
    }
}
