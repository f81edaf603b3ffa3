//! Emulated slaves, register-exact: a home node after `home_node`'s map, and the PZEM-004T and
//! Eastron meters after their documents. Each answers a request at a time `now` (s) it is
//! given; what it measures is set by its owner (a twin, a test).

use grid_types::Phase;

use crate::home_node::{self as map, CommandResult, Identity, NodeReport, SelectorState};
use crate::meter::{MeterKind, MeterReading, PZEM_RESET_ENERGY, eastron};
use crate::rtu::{Exception, Pdu, Reply, check_count};
use crate::words::{hi_lo, lo_hi};

/// A device on the emulated line.
pub trait Slave: Send {
    fn handle(&mut self, now: f64, pdu: &Pdu) -> Result<Reply, Exception>;

    /// Whether it is alive to answer at all.
    fn answers(&self) -> bool {
        true
    }
}

/// The PZEM-004T v3 works from 80 V on its voltage terminals (its datasheet's working and
/// measuring range, 80-260 V AC): its measuring side is powered from them, so without them
/// it does not answer (esphome/feature-requests#1694: "When the PZEM-004T V3 loses AC power
/// it stops responding").
pub const PZEM_MIN_V: f64 = 80.0;

/// The PZEM-004T v3 refreshes its registers once a second: a load switched on shows 1.2 to
/// 1.33 s after its relay closed when read every 60 ms (MycilaPZEM004Tv3's measurements).
pub const PZEM_UPDATE_S: f64 = 1.0;

/// `count` registers from `start` of a block at `base` holding `regs`, or IllegalDataAddress.
fn window(base: u16, regs: &[u16], start: u16, count: u16) -> Result<Reply, Exception> {
    check_count(count)?;
    let from = usize::from(
        start
            .checked_sub(base)
            .ok_or(Exception::IllegalDataAddress)?,
    );
    let to = from + usize::from(count);
    regs.get(from..to)
        .map(|r| Reply::Registers(r.to_vec()))
        .ok_or(Exception::IllegalDataAddress)
}

/// A home node: its meter's values (`set_measurement`), a phase selector that takes
/// `switch_s` to move and can be made to fail, and the master timeout.
pub struct HomeNode {
    pub identity: Identity,
    report: NodeReport,
    /// When the current window was taken (s), so that its age can be reported.
    measured_at: f64,
    /// The move under way: to which phase, done when.
    moving: Option<(Phase, f64)>,
    last_switch: f64,
    pub switch_s: f64,
    /// The next move fails (the selector's contactor does not confirm).
    pub fail_next_move: bool,
    /// When the node took its last new command (its clock, s).
    pub commanded_at: Option<f64>,
    master_timeout_s: u16,
    last_heard: f64,
    address: u16,
}

impl HomeNode {
    pub fn new(serial: u32, address: u8, phase: Phase) -> HomeNode {
        HomeNode {
            identity: Identity {
                firmware: (1, 0),
                serial,
                selector: true,
            },
            report: NodeReport {
                seq: 0,
                age_s: 0.0,
                uptime_s: 0,
                phase: Some(phase),
                selector: SelectorState::Idle,
                status: 0,
                last_command: 0,
                result: CommandResult::None,
                since_switch_s: u16::MAX,
                switches: 0,
                v: 0.0,
                i: 0.0,
                p: 0.0,
                q: 0.0,
                pf: 1.0,
                hz: 0.0,
                import_kwh: 0.0,
                export_kwh: 0.0,
            },
            measured_at: 0.0,
            moving: None,
            last_switch: f64::NEG_INFINITY,
            switch_s: 0.1,
            fail_next_move: false,
            commanded_at: None,
            master_timeout_s: 600,
            last_heard: 0.0,
            address: u16::from(address),
        }
    }

    /// The home is wired to `phase` (where the emulation's owner has it), the selector idle.
    pub fn wired_to(&mut self, phase: Phase) {
        self.report.phase = Some(phase);
    }

    /// A new measurement window ending at `now`: its values (SI), energy counted on.
    pub fn set_measurement(&mut self, now: f64, v: f64, i: f64, p: f64, q: f64, hz: f64) {
        let dt = (now - self.measured_at).max(0.0);
        let r = &mut self.report;
        if p >= 0.0 {
            r.import_kwh += p * dt / 3.6e6;
        } else {
            r.export_kwh -= p * dt / 3.6e6;
        }
        let s = (p * p + q * q).sqrt();
        r.seq = r.seq.wrapping_add(1);
        (r.v, r.i, r.p, r.q, r.hz) = (v, i, p, q, hz);
        r.pf = if s > 0.0 { p / s } else { 1.0 };
        self.measured_at = now;
    }

    /// Finish a move whose time has come.
    fn settle(&mut self, now: f64) {
        if let Some((to, at)) = self.moving
            && now >= at
        {
            self.moving = None;
            let r = &mut self.report;
            if self.fail_next_move {
                self.fail_next_move = false;
                r.selector = SelectorState::LockedOut;
                r.status |= map::ST_SELECTOR_FAULT;
                r.result = CommandResult::Failed;
                // The old contactor reclosed: the home is back where it was.
            } else {
                r.phase = Some(to);
                r.selector = SelectorState::Idle;
                r.result = CommandResult::Done;
                r.switches += 1;
                self.last_switch = now;
            }
        }
    }

    /// The report as the node would send it at `now`.
    pub fn report(&mut self, now: f64) -> NodeReport {
        self.settle(now);
        let mut r = self.report;
        if self.moving.is_some() {
            r.phase = None;
        }
        r.age_s = now - self.measured_at;
        r.uptime_s = now.max(0.0) as u32;
        r.since_switch_s = (now - self.last_switch).clamp(0.0, 65535.0) as u16;
        r
    }

    fn report_at(&mut self, now: f64) -> [u16; map::REPORT_LEN as usize] {
        map::encode_report(&self.report(now))
    }

    fn command(&mut self, now: f64, values: &[u16]) -> Result<(), Exception> {
        let (id, to) = map::decode_command(values).map_err(|_| Exception::IllegalDataValue)?;
        self.settle(now);
        let r = &mut self.report;
        if id == r.last_command && r.result != CommandResult::None {
            // A repeat (the master missed the answer): taken once already.
            return Ok(());
        }
        r.last_command = id;
        self.commanded_at = Some(now);
        let busy = self.moving.is_some() || r.selector == SelectorState::LockedOut;
        r.result = if !self.identity.selector || busy {
            CommandResult::Refused
        } else if r.phase == Some(to) {
            CommandResult::AlreadyThere
        } else {
            r.selector = SelectorState::Switching;
            self.moving = Some((to, now + self.switch_s));
            CommandResult::Switching
        };
        Ok(())
    }

    fn holding(&self) -> [u16; map::HOLDING_LEN as usize] {
        let target = self.moving.map_or(0, |(p, _)| p as u16 + 1);
        [
            self.report.last_command,
            target,
            self.master_timeout_s,
            self.address,
        ]
    }
}

impl Slave for HomeNode {
    fn handle(&mut self, now: f64, pdu: &Pdu) -> Result<Reply, Exception> {
        // A silence longer than the timeout is latched for the master to see in the next
        // report; any request restarts the timer.
        let timeout = f64::from(self.master_timeout_s);
        if self.master_timeout_s > 0 && now - self.last_heard > timeout {
            self.report.status |= map::ST_MASTER_SILENT;
        }
        self.last_heard = now;
        match pdu {
            Pdu::ReadInput { start, count } if *start < map::REG_REPORT => window(
                map::REG_IDENTITY,
                &map::encode_identity(&self.identity),
                *start,
                *count,
            ),
            Pdu::ReadInput { start, count } => {
                let regs = self.report_at(now);
                let reply = window(map::REG_REPORT, &regs, *start, *count);
                if reply.is_ok() {
                    // Reported once.
                    self.report.status &= !map::ST_MASTER_SILENT;
                }
                reply
            }
            Pdu::ReadHolding { start, count } => {
                window(map::REG_COMMAND, &self.holding(), *start, *count)
            }
            Pdu::WriteMultiple { start, values } if *start == map::REG_COMMAND => {
                if values.len() != 2 {
                    return Err(Exception::IllegalDataValue);
                }
                self.command(now, values)?;
                Ok(Reply::WroteMultiple {
                    start: *start,
                    count: 2,
                })
            }
            Pdu::WriteSingle { address, value } => {
                match *address {
                    map::REG_MASTER_TIMEOUT => self.master_timeout_s = *value,
                    map::REG_ADDRESS if (1..=247).contains(value) => self.address = *value,
                    map::REG_ADDRESS => return Err(Exception::IllegalDataValue),
                    // The command takes both its registers at once.
                    _ => return Err(Exception::IllegalDataAddress),
                }
                Ok(Reply::WroteSingle {
                    address: *address,
                    value: *value,
                })
            }
            Pdu::WriteMultiple { .. } => Err(Exception::IllegalDataAddress),
            Pdu::Other { .. } => Err(Exception::IllegalFunction),
        }
    }
}

/// A meter: a PZEM-004T v3, an SDM120 or an SDM630, reading what it is given. A PZEM shows
/// what it was given last at each whole `PZEM_UPDATE_S`, and is silent below `PZEM_MIN_V`.
pub struct Meter {
    pub kind: MeterKind,
    reading: MeterReading,
    /// What its registers hold (a PZEM's last update; an Eastron's `reading`).
    shown: MeterReading,
    /// A PZEM's next update, s.
    next_update: f64,
    /// Energy counted since the last reading was set, kWh.
    counted_at: f64,
    /// PZEM: the power alarm threshold (W, holding register 0x0001) and the address (0x0002).
    alarm_w: u16,
    address: u16,
}

impl Meter {
    pub fn new(kind: MeterKind, address: u8) -> Meter {
        let phases = if kind == MeterKind::Sdm630 { 3 } else { 1 };
        Meter {
            kind,
            reading: MeterReading {
                phases: vec![Default::default(); phases],
                ..Default::default()
            },
            shown: MeterReading::default(),
            next_update: f64::NEG_INFINITY,
            counted_at: 0.0,
            alarm_w: 23_000,
            address: u16::from(address),
        }
    }

    /// What it measures from `now` on; energy integrates the power since the last call.
    pub fn set_reading(&mut self, now: f64, mut r: MeterReading) {
        let dt = (now - self.counted_at).max(0.0);
        let p: f64 = self.reading.phases.iter().map(|x| x.p).sum();
        self.counted_at = now;
        let (mut import, mut export) = (
            self.reading.import_kwh,
            self.reading.export_kwh.unwrap_or(0.0),
        );
        if p >= 0.0 {
            import += p * dt / 3.6e6;
        } else {
            export -= p * dt / 3.6e6;
        }
        r.import_kwh = import;
        r.export_kwh = Some(export);
        self.reading = r;
        self.update(now);
    }

    /// The registers take the newest reading: an Eastron's at once, a PZEM's once a second.
    fn update(&mut self, now: f64) {
        if self.kind != MeterKind::Pzem004t {
            self.shown.clone_from(&self.reading);
        } else if now >= self.next_update {
            self.shown.clone_from(&self.reading);
            self.next_update = ((now / PZEM_UPDATE_S).floor() + 1.0) * PZEM_UPDATE_S;
        }
    }

    fn pzem_registers(&self) -> [u16; 10] {
        let r = &self.shown;
        let ph = r.phases.first().copied().unwrap_or_default();
        let scaled = |x: f64, k: f64| (x * k).round().clamp(0.0, f64::from(u32::MAX)) as u32;
        let [i0, i1] = lo_hi(scaled(ph.i, 1000.0));
        // The PZEM measures power one way: its magnitude.
        let p = ph.p.abs();
        let [p0, p1] = lo_hi(scaled(p, 10.0));
        let [e0, e1] = lo_hi(scaled(r.import_kwh + r.export_kwh.unwrap_or(0.0), 1000.0));
        [
            (ph.v * 10.0).round().clamp(0.0, 65535.0) as u16,
            i0,
            i1,
            p0,
            p1,
            e0,
            e1,
            (r.hz * 10.0).round() as u16,
            (ph.pf.abs() * 100.0).round().min(100.0) as u16,
            if p > f64::from(self.alarm_w) {
                0xFFFF
            } else {
                0
            },
        ]
    }

    /// Eastron's parameters 1..=0x80 (registers 0x0000-0x00FF) as floats, 0 where the meter
    /// has nothing.
    fn eastron_registers(&self) -> Vec<u16> {
        let r = &self.shown;
        let mut regs = vec![0u16; 0x100];
        let mut put = |reg: u16, x: f64| {
            let [hi, lo] = hi_lo((x as f32).to_bits());
            regs[usize::from(reg)] = hi;
            regs[usize::from(reg) + 1] = lo;
        };
        for (k, ph) in r.phases.iter().enumerate() {
            let at = |base: u16| base + 2 * k as u16;
            let q = ph.q.unwrap_or(0.0);
            put(at(eastron::V1), ph.v);
            put(at(eastron::I1), ph.i);
            put(at(eastron::P1), ph.p);
            put(at(eastron::S1), (ph.p * ph.p + q * q).sqrt());
            put(at(eastron::Q1), q);
            put(at(eastron::PF1), ph.pf);
        }
        put(eastron::P_TOTAL, r.phases.iter().map(|p| p.p).sum());
        put(eastron::HZ, r.hz);
        put(eastron::IMPORT_KWH, r.import_kwh);
        put(eastron::EXPORT_KWH, r.export_kwh.unwrap_or(0.0));
        if self.kind == MeterKind::Sdm630 {
            put(eastron::I_N, r.neutral_a.unwrap_or(0.0));
        }
        regs
    }
}

impl Slave for Meter {
    fn answers(&self) -> bool {
        self.kind != MeterKind::Pzem004t
            || self
                .reading
                .phases
                .first()
                .is_some_and(|p| p.v >= PZEM_MIN_V)
    }

    fn handle(&mut self, now: f64, pdu: &Pdu) -> Result<Reply, Exception> {
        self.update(now);
        match (self.kind, pdu) {
            (MeterKind::Pzem004t, Pdu::ReadInput { start, count }) => {
                window(0, &self.pzem_registers(), *start, *count)
            }
            (MeterKind::Pzem004t, Pdu::ReadHolding { start, count }) => {
                window(1, &[self.alarm_w, self.address], *start, *count)
            }
            (MeterKind::Pzem004t, Pdu::WriteSingle { address, value }) => {
                match (*address, *value) {
                    (0x0001, v) => self.alarm_w = v,
                    (0x0002, v @ 1..=247) => self.address = v,
                    (0x0002, _) => return Err(Exception::IllegalDataValue),
                    _ => return Err(Exception::IllegalDataAddress),
                }
                Ok(Reply::WroteSingle {
                    address: *address,
                    value: *value,
                })
            }
            (
                MeterKind::Pzem004t,
                Pdu::Other {
                    function: PZEM_RESET_ENERGY,
                    data,
                },
            ) if data.is_empty() => {
                for r in [&mut self.reading, &mut self.shown] {
                    r.import_kwh = 0.0;
                    r.export_kwh = Some(0.0);
                }
                Ok(Reply::Other(Vec::new()))
            }
            (MeterKind::Sdm120 | MeterKind::Sdm630, Pdu::ReadInput { start, count }) => {
                // Eastron answers whole parameters only: two registers from an even one.
                if start % 2 != 0 || count % 2 != 0 {
                    return Err(Exception::IllegalDataAddress);
                }
                // 40 parameters a request at most.
                if *count > 80 {
                    return Err(Exception::IllegalDataValue);
                }
                window(0, &self.eastron_registers(), *start, *count)
            }
            _ => Err(Exception::IllegalFunction),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::PhaseReading;

    fn read(s: &mut dyn Slave, now: f64, start: u16, count: u16) -> Vec<u16> {
        match s.handle(now, &Pdu::ReadInput { start, count }) {
            Ok(Reply::Registers(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_node_moves_once_per_command_id_and_reports_the_move() {
        let mut n = HomeNode::new(1001, 5, Phase::A);
        n.set_measurement(1.0, 230.0, 10.0, 2300.0, 0.0, 50.0);
        let id = map::decode_identity(&read(&mut n, 1.0, 0, map::IDENTITY_LEN)).unwrap();
        assert_eq!(id.serial, 1001);
        let cmd = |n: &mut HomeNode, now, id| {
            n.handle(
                now,
                &Pdu::WriteMultiple {
                    start: map::REG_COMMAND,
                    values: map::command(id, Phase::C).to_vec(),
                },
            )
        };
        cmd(&mut n, 2.0, 7).unwrap();
        let r = map::decode_report(&read(&mut n, 2.05, map::REG_REPORT, map::REPORT_LEN)).unwrap();
        assert_eq!(
            (r.phase, r.selector, r.result),
            (None, SelectorState::Switching, CommandResult::Switching)
        );
        let r = map::decode_report(&read(&mut n, 2.2, map::REG_REPORT, map::REPORT_LEN)).unwrap();
        assert_eq!(
            (r.phase, r.result, r.switches, r.last_command),
            (Some(Phase::C), CommandResult::Done, 1, 7)
        );
        // The same id again (the answer was lost on the line): nothing moves.
        cmd(&mut n, 3.0, 7).unwrap();
        let r = map::decode_report(&read(&mut n, 3.5, map::REG_REPORT, map::REPORT_LEN)).unwrap();
        assert_eq!((r.switches, r.result), (1, CommandResult::Done));
        // A phase out of the map is refused as the protocol says.
        let bad = n.handle(
            4.0,
            &Pdu::WriteMultiple {
                start: map::REG_COMMAND,
                values: vec![8, 4],
            },
        );
        assert_eq!(bad, Err(Exception::IllegalDataValue));
        // A failed move locks the selector out, the home where it was.
        n.fail_next_move = true;
        let back = |n: &mut HomeNode, now, id| {
            n.handle(
                now,
                &Pdu::WriteMultiple {
                    start: map::REG_COMMAND,
                    values: map::command(id, Phase::A).to_vec(),
                },
            )
        };
        back(&mut n, 5.0, 9).unwrap();
        let r = map::decode_report(&read(&mut n, 6.0, map::REG_REPORT, map::REPORT_LEN)).unwrap();
        assert_eq!(
            (r.phase, r.selector, r.result),
            (
                Some(Phase::C),
                SelectorState::LockedOut,
                CommandResult::Failed
            )
        );
        assert_ne!(r.status & map::ST_SELECTOR_FAULT, 0);
        back(&mut n, 7.0, 10).unwrap();
        let r = map::decode_report(&read(&mut n, 8.0, map::REG_REPORT, map::REPORT_LEN)).unwrap();
        assert_eq!(r.result, CommandResult::Refused);
        // Ten minutes without the master: the next report says so, once.
        let silent = |n: &mut HomeNode, now| {
            let r = map::decode_report(&read(n, now, map::REG_REPORT, map::REPORT_LEN)).unwrap();
            r.status & map::ST_MASTER_SILENT != 0
        };
        assert!(!silent(&mut n, 100.0));
        assert!(silent(&mut n, 800.0));
        assert!(!silent(&mut n, 801.0));
        // Reads past the map are refused.
        assert_eq!(
            n.handle(
                8.0,
                &Pdu::ReadInput {
                    start: map::REG_REPORT,
                    count: map::REPORT_LEN + 1
                }
            ),
            Err(Exception::IllegalDataAddress)
        );
    }

    #[test]
    fn a_pzem_reads_back_through_the_decoder_and_resets_its_energy() {
        let mut m = Meter::new(MeterKind::Pzem004t, 1);
        let reading = |p: f64| MeterReading {
            phases: vec![PhaseReading {
                v: 229.7,
                i: 4.321,
                p,
                q: None,
                pf: 0.93,
            }],
            hz: 50.0,
            ..Default::default()
        };
        m.set_reading(0.0, reading(920.0));
        m.set_reading(3600.0, reading(920.0));
        let regs = read(&mut m, 3600.0, 0, 10);
        let got = MeterKind::Pzem004t.decode(&[&regs]).unwrap();
        assert_eq!(got.phases[0].v, 229.7);
        assert_eq!(got.phases[0].i, 4.321);
        assert_eq!(got.phases[0].p, 920.0);
        assert_eq!(got.import_kwh, 0.92);
        assert_eq!(
            m.handle(
                3600.0,
                &Pdu::Other {
                    function: 0x42,
                    data: vec![]
                }
            ),
            Ok(Reply::Other(vec![]))
        );
        let regs = read(&mut m, 3600.0, 0, 10);
        assert_eq!(
            MeterKind::Pzem004t.decode(&[&regs]).unwrap().import_kwh,
            0.0
        );
        assert_eq!(
            m.handle(0.0, &Pdu::ReadInput { start: 8, count: 3 }),
            Err(Exception::IllegalDataAddress)
        );
    }

    #[test]
    fn a_pzem_updates_once_a_second_and_is_silent_without_its_supply() {
        let mut m = Meter::new(MeterKind::Pzem004t, 1);
        let at = |v: f64, p: f64| MeterReading {
            phases: vec![PhaseReading {
                v,
                i: p / v.max(1.0),
                p,
                q: None,
                pf: 1.0,
            }],
            hz: 50.0,
            ..Default::default()
        };
        let power = |m: &mut Meter, now| {
            let regs = read(m, now, 0, 10);
            MeterKind::Pzem004t.decode(&[&regs]).unwrap().phases[0].p
        };
        m.set_reading(0.02, at(230.0, 100.0));
        // A load comes on at 0.5 s: the registers show it from the update at 1 s.
        m.set_reading(0.5, at(230.0, 900.0));
        assert_eq!(power(&mut m, 0.98), 100.0);
        assert_eq!(power(&mut m, 1.0), 900.0);
        m.set_reading(1.5, at(230.0, 300.0));
        assert_eq!(power(&mut m, 1.99), 900.0);
        assert!(m.answers());
        // Its supply is its voltage input: at 79 V it is dead, at 80 V alive.
        m.set_reading(2.1, at(79.0, 0.0));
        assert!(!m.answers());
        m.set_reading(2.2, at(PZEM_MIN_V, 0.0));
        assert!(m.answers());
        // An Eastron meter shows what it is given at once.
        let mut e = Meter::new(MeterKind::Sdm120, 1);
        e.set_reading(0.5, at(230.0, 900.0));
        let regs = read(&mut e, 0.5, 0, 0x50);
        assert_eq!(
            MeterKind::Sdm120.decode(&[&regs]).unwrap().phases[0].p,
            900.0
        );
    }

    #[test]
    fn an_sdm630_reads_back_per_phase_with_its_neutral() {
        let mut m = Meter::new(MeterKind::Sdm630, 1);
        let ph = |v: f64, i: f64| PhaseReading {
            v,
            i,
            p: v * i * 0.9,
            q: Some(v * i * 0.4359),
            pf: 0.9,
        };
        m.set_reading(
            0.0,
            MeterReading {
                phases: vec![ph(231.0, 10.0), ph(229.0, 20.0), ph(233.0, 5.0)],
                hz: 50.01,
                neutral_a: Some(13.2),
                ..Default::default()
            },
        );
        let blocks: Vec<Vec<u16>> = MeterKind::Sdm630
            .blocks()
            .iter()
            .map(|b| read(&mut m, 1.0, b.start, b.count))
            .collect();
        let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
        let got = MeterKind::Sdm630.decode(&refs).unwrap();
        assert_eq!(got.phases.len(), 3);
        assert_eq!(got.phases[1].i, 20.0);
        assert!((got.neutral_a.unwrap() - 13.2).abs() < 1e-5);
        assert_eq!(
            m.handle(0.0, &Pdu::ReadInput { start: 1, count: 2 }),
            Err(Exception::IllegalDataAddress)
        );
    }
}
