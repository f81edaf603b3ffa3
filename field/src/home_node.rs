//! The home node's Modbus register map, version 1: what a node at a home's service entrance
//! (its meter and its phase selector) answers on RS-485. `docs/field-node.md` is this file in
//! prose; the two change together.
//!
//! Input registers (function 04) hold what the node measured and its state; holding registers
//! (03 to read, 06 and 16 to write) the selector command and the node's settings. 32-bit values
//! take two registers, the high word first; signed ones are two's complement.

use grid_types::Phase;

/// Input register 0x0000 of every node: "GT".
pub const IDENT: u16 = 0x4754;
/// The map this file describes.
pub const MAP_VERSION: u16 = 1;

/// Identity block (input registers): ident, map version, firmware, serial (2), capabilities.
pub const REG_IDENTITY: u16 = 0x0000;
pub const IDENTITY_LEN: u16 = 6;
/// Report block (input registers), read in one request so that its values are one window's.
pub const REG_REPORT: u16 = 0x0010;
pub const REPORT_LEN: u16 = 28;
/// Holding registers: the command (its id and the target phase, written together by
/// function 16), the master timeout (s) and the node's own address.
pub const REG_COMMAND: u16 = 0x0100;
pub const REG_MASTER_TIMEOUT: u16 = 0x0102;
pub const REG_ADDRESS: u16 = 0x0103;
pub const HOLDING_LEN: u16 = 4;

/// Capability bit: a phase selector is fitted (a node without one only reports).
pub const CAP_SELECTOR: u16 = 1 << 0;

/// Status bits (report register 0x0016).
pub const ST_SELECTOR_FAULT: u16 = 1 << 0;
pub const ST_SENSOR_FAULT: u16 = 1 << 1;
pub const ST_MASTER_SILENT: u16 = 1 << 2;

/// What a node says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub firmware: (u8, u8),
    pub serial: u32,
    pub selector: bool,
}

/// The phase selector's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorState {
    Idle,
    /// Between opening one contactor and closing the next (some 100 ms, the home dark).
    Switching,
    /// A move did not confirm: the selector refuses commands until serviced.
    LockedOut,
}

impl SelectorState {
    /// The state a code stands for (the register map's, and the LoRa payload's).
    pub fn from_code(n: u16) -> Option<SelectorState> {
        [
            SelectorState::Idle,
            SelectorState::Switching,
            SelectorState::LockedOut,
        ]
        .get(usize::from(n))
        .copied()
    }
}

/// What became of the last command the node took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandResult {
    /// None since power-up.
    None,
    Switching,
    Done,
    /// The home was already on that phase: nothing moved.
    AlreadyThere,
    /// Locked out, or no selector: nothing moved.
    Refused,
    /// The selector did not confirm the new phase; the node is locked out.
    Failed,
}

impl CommandResult {
    /// The result a code stands for (the register map's, and the LoRa payload's).
    pub fn from_code(n: u16) -> Option<CommandResult> {
        [
            CommandResult::None,
            CommandResult::Switching,
            CommandResult::Done,
            CommandResult::AlreadyThere,
            CommandResult::Refused,
            CommandResult::Failed,
        ]
        .get(usize::from(n))
        .copied()
    }
}

/// The report block, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeReport {
    /// Counts the node's measurement windows (wraps): the same value twice is the same window.
    pub seq: u16,
    /// How old the window was when read, s.
    pub age_s: f64,
    pub uptime_s: u32,
    /// The phase the home is on; None while switching or not known.
    pub phase: Option<Phase>,
    pub selector: SelectorState,
    pub status: u16,
    /// The id of the last command taken, and what became of it.
    pub last_command: u16,
    pub result: CommandResult,
    /// Since the selector last moved, s (saturates at 65,535).
    pub since_switch_s: u16,
    pub switches: u32,
    pub v: f64,
    pub i: f64,
    pub p: f64,
    pub q: f64,
    pub pf: f64,
    pub hz: f64,
    pub import_kwh: f64,
    pub export_kwh: f64,
}

/// Registers that do not read as this map says: which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("register {register:#06x}: {why}")]
pub struct MapError {
    pub register: u16,
    pub why: String,
}

fn err(register: u16, why: impl Into<String>) -> MapError {
    MapError {
        register,
        why: why.into(),
    }
}

fn need(regs: &[u16], start: u16, len: u16) -> Result<(), MapError> {
    if regs.len() == usize::from(len) {
        Ok(())
    } else {
        Err(err(
            start,
            format!("{} registers where the block has {len}", regs.len()),
        ))
    }
}

use crate::words::{hi_lo, u32_hi_lo};

fn i32_at(r: &[u16], k: usize) -> i32 {
    u32_hi_lo(&r[k..k + 2]) as i32
}

fn u32_at(r: &[u16], k: usize) -> u32 {
    u32_hi_lo(&r[k..k + 2])
}

pub fn decode_identity(r: &[u16]) -> Result<Identity, MapError> {
    need(r, REG_IDENTITY, IDENTITY_LEN)?;
    if r[0] != IDENT {
        return Err(err(
            REG_IDENTITY,
            format!("ident {:#06x}, not a home node's {IDENT:#06x}", r[0]),
        ));
    }
    if r[1] != MAP_VERSION {
        return Err(err(
            REG_IDENTITY + 1,
            format!(
                "register map version {}; this master reads {MAP_VERSION}",
                r[1]
            ),
        ));
    }
    Ok(Identity {
        firmware: ((r[2] >> 8) as u8, r[2] as u8),
        serial: u32_at(r, 3),
        selector: r[5] & CAP_SELECTOR != 0,
    })
}

pub fn encode_identity(id: &Identity) -> [u16; IDENTITY_LEN as usize] {
    let [s0, s1] = hi_lo(id.serial);
    let fw = (u16::from(id.firmware.0) << 8) | u16::from(id.firmware.1);
    let caps = if id.selector { CAP_SELECTOR } else { 0 };
    [IDENT, MAP_VERSION, fw, s0, s1, caps]
}

fn phase_code(p: Option<Phase>) -> u16 {
    p.map_or(0, |p| p as u16 + 1)
}

pub fn decode_report(r: &[u16]) -> Result<NodeReport, MapError> {
    need(r, REG_REPORT, REPORT_LEN)?;
    let at = |k: u16| REG_REPORT + k;
    let phase = match r[4] {
        0 => None,
        n @ 1..=3 => Some(Phase::ALL[usize::from(n - 1)]),
        n => return Err(err(at(4), format!("phase {n}: 0 (none) or 1-3 (A-C)"))),
    };
    let selector = SelectorState::from_code(r[5])
        .ok_or_else(|| err(at(5), format!("selector state {}: 0-2", r[5])))?;
    let result = CommandResult::from_code(r[8])
        .ok_or_else(|| err(at(8), format!("command result {}: 0-5", r[8])))?;
    let pf = f64::from(i32_at(r, 20)) / 1e4;
    if pf.abs() > 1.0 {
        return Err(err(at(20), format!("power factor {pf}: -1 to 1")));
    }
    Ok(NodeReport {
        seq: r[0],
        age_s: f64::from(r[1]) / 1e3,
        uptime_s: u32_at(r, 2),
        phase,
        selector,
        status: r[6],
        last_command: r[7],
        result,
        since_switch_s: r[9],
        switches: u32_at(r, 10),
        v: f64::from(u32_at(r, 12)) / 1e3,
        i: f64::from(u32_at(r, 14)) / 1e3,
        p: f64::from(i32_at(r, 16)) / 10.0,
        q: f64::from(i32_at(r, 18)) / 10.0,
        pf,
        hz: f64::from(u32_at(r, 22)) / 1e3,
        import_kwh: f64::from(u32_at(r, 24)) / 1e3,
        export_kwh: f64::from(u32_at(r, 26)) / 1e3,
    })
}

/// The report block a node sends for `n` (values rounded to the map's resolution, clamped to
/// its ranges).
pub fn encode_report(n: &NodeReport) -> [u16; REPORT_LEN as usize] {
    let u = |x: f64, scale: f64| (x / scale).round().clamp(0.0, f64::from(u32::MAX)) as u32;
    let i = |x: f64, scale: f64| {
        (x / scale)
            .round()
            .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32 as u32
    };
    let mut r = [0u16; REPORT_LEN as usize];
    r[0] = n.seq;
    r[1] = (n.age_s * 1e3).round().clamp(0.0, 65535.0) as u16;
    r[2..4].copy_from_slice(&hi_lo(n.uptime_s));
    r[4] = phase_code(n.phase);
    r[5] = n.selector as u16;
    r[6] = n.status;
    r[7] = n.last_command;
    r[8] = n.result as u16;
    r[9] = n.since_switch_s;
    r[10..12].copy_from_slice(&hi_lo(n.switches));
    r[12..14].copy_from_slice(&hi_lo(u(n.v, 1e-3)));
    r[14..16].copy_from_slice(&hi_lo(u(n.i, 1e-3)));
    r[16..18].copy_from_slice(&hi_lo(i(n.p, 0.1)));
    r[18..20].copy_from_slice(&hi_lo(i(n.q, 0.1)));
    r[20..22].copy_from_slice(&hi_lo(i(n.pf.clamp(-1.0, 1.0), 1e-4)));
    r[22..24].copy_from_slice(&hi_lo(u(n.hz, 1e-3)));
    r[24..26].copy_from_slice(&hi_lo(u(n.import_kwh, 1e-3)));
    r[26..28].copy_from_slice(&hi_lo(u(n.export_kwh, 1e-3)));
    r
}

/// The two registers a command writes at `REG_COMMAND` (function 16, both at once): its id and
/// the target phase. A node takes an id once: the same command repeated (the master did not
/// hear the answer) moves nothing twice.
pub fn command(id: u16, to: Phase) -> [u16; 2] {
    [id, phase_code(Some(to))]
}

/// The command in two written registers, or why the node refuses it (as exception 03).
pub fn decode_command(r: &[u16]) -> Result<(u16, Phase), MapError> {
    need(r, REG_COMMAND, 2)?;
    match r[1] {
        n @ 1..=3 => Ok((r[0], Phase::ALL[usize::from(n - 1)])),
        n => Err(err(REG_COMMAND + 1, format!("target phase {n}: 1-3 (A-C)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn report() -> NodeReport {
        NodeReport {
            seq: 7,
            age_s: 0.25,
            uptime_s: 86_400,
            phase: Some(Phase::B),
            selector: SelectorState::Idle,
            status: ST_MASTER_SILENT,
            last_command: 41,
            result: CommandResult::Done,
            since_switch_s: 3600,
            switches: 12,
            v: 231.456,
            i: 12.345,
            p: -2_500.3,
            q: 410.7,
            pf: -0.9868,
            hz: 49.987,
            import_kwh: 1234.567,
            export_kwh: 89.012,
        }
    }

    #[test]
    fn the_report_block_is_the_documented_one() {
        let r = encode_report(&report());
        // docs/field-node.md's example frame, register by register.
        assert_eq!(
            r,
            [
                7, 250, 0x0001, 0x5180, 2, 0, 4, 41, 2, 3600, 0, 12, 0x0003, 0x8820, 0x0000,
                0x3039, 0xffff, 0x9e55, 0x0000, 0x100b, 0xffff, 0xd974, 0x0000, 0xc343, 0x0012,
                0xd687, 0x0001, 0x5bb4
            ]
        );
        let back = decode_report(&r).unwrap();
        assert_eq!(back, report());
    }

    #[test]
    fn registers_out_of_the_map_are_refused_with_where_and_why() {
        let mut r = encode_report(&report());
        r[4] = 4;
        let e = decode_report(&r).unwrap_err();
        assert_eq!(
            e.to_string(),
            "register 0x0014: phase 4: 0 (none) or 1-3 (A-C)"
        );
        let e = decode_identity(&[0x1234, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("not a home node"), "{e}");
        let e = decode_report(&r[..10]).unwrap_err();
        assert!(e.to_string().contains("10 registers"), "{e}");
        assert!(decode_command(&[5, 0]).is_err());
        assert_eq!(decode_command(&command(5, Phase::C)), Ok((5, Phase::C)));
    }

    proptest! {
        #[test]
        fn any_report_survives_the_wire_to_the_map_resolution(
            seq: u16, age in 0.0..65.0f64, phase in 0usize..4, v in 0.0..500.0f64,
            i in 0.0..200.0f64, p in -50e3..50e3f64, pf in -1.0..1.0f64, hz in 40.0..70.0f64,
            kwh in 0.0..4e6f64,
        ) {
            let n = NodeReport {
                seq, age_s: age, phase: phase.checked_sub(1).map(|k| Phase::ALL[k]), v, i, p,
                q: p / 3.0, pf, hz, import_kwh: kwh, export_kwh: kwh / 2.0, ..report()
            };
            let back = decode_report(&encode_report(&n)).unwrap();
            prop_assert_eq!(back.seq, seq);
            prop_assert_eq!(back.phase, n.phase);
            prop_assert!((back.v - v).abs() <= 5e-4);
            prop_assert!((back.i - i).abs() <= 5e-4);
            prop_assert!((back.p - p).abs() <= 0.05 + 1e-9);
            prop_assert!((back.pf - pf).abs() <= 5e-5 + 1e-12);
            prop_assert!((back.hz - hz).abs() <= 5e-4);
            prop_assert!((back.import_kwh - kwh).abs() <= 5e-4 + 1e-9);
        }

        #[test]
        fn any_registers_decode_or_are_refused(r in proptest::collection::vec(any::<u16>(), 0..40)) {
            let _ = decode_report(&r);
            let _ = decode_identity(&r);
            let _ = decode_command(&r);
        }
    }
}
