//! OpenDSS's static control loop: after each solution every regulator and capacitor control
//! looks at it; those out of band arm an action, and the armed ones of the shortest delay act
//! before the next solution.

use num_complex::Complex64 as C64;

use super::PowerFlow;
use crate::feeder::FeederError;
use crate::feeder::model::{CapControlKind, Conn, Feeder, PtPhase, VoltageOverride};
use crate::feeder::network::{self, GROUND, Network, Shunt};
use crate::feeder::transformer;

/// What a control wants done after a solution, after its delay.
enum Action {
    /// Move a regulator toward its set point by `pending` taps' worth.
    Tap { regulator: usize, pending: i32 },
    /// Switch a capacitor control's bank on or off.
    Switch { control: usize, close: bool },
}

/// Each capacitor control's bank and the element of the line it reads.
pub(super) fn resolve_cap_controls(
    f: &Feeder,
    net: &Network,
) -> Result<Vec<(usize, Option<usize>)>, FeederError> {
    f.cap_controls
        .iter()
        .map(|c| {
            let cap = f
                .capacitors
                .iter()
                .position(|x| x.name.eq_ignore_ascii_case(&c.capacitor))
                .ok_or_else(|| {
                    FeederError::Model(format!(
                        "capcontrol {}: no capacitor `{}`",
                        c.name, c.capacitor
                    ))
                })?;
            if !f.lines.iter().any(|l| l.name.eq_ignore_ascii_case(&c.line)) {
                return Err(FeederError::Model(format!(
                    "capcontrol {}: no line `{}`",
                    c.name, c.line
                )));
            }
            let element = net
                .elements
                .iter()
                .position(|e| e.name.eq_ignore_ascii_case(&format!("line {}", c.line)));
            Ok((cap, element))
        })
        .collect()
}

impl PowerFlow {
    /// The voltage a regulator's control sees: its winding voltage through the PT, less the
    /// line-drop compensator's drop at the winding current through the CT.
    pub fn regulator_voltage(&self, r: usize) -> f64 {
        let reg = &self.feeder.regulators[r];
        let e =
            &self.net.elements[self.net.transformer_element[&reg.transformer.to_ascii_lowercase()]];
        let t = &self.feeder.transformers[self.reg_transformer[r]];
        let volt = |g: usize| {
            if g == GROUND {
                C64::new(0.0, 0.0)
            } else {
                self.v[g]
            }
        };
        // The PT reads one phase of the regulated winding as the winding spans it (phase to
        // neutral on a wye three-phase unit, as OpenDSS's RegControl reads it).
        let winding = |ph: usize| {
            let (from, to) = transformer::winding_ends(t, reg.winding - 1, ph);
            (from, volt(e.conductors[from]) - volt(e.conductors[to]))
        };
        let phases = 0..t.phases;
        let by_magnitude = |a: &(usize, C64), b: &(usize, C64)| a.1.norm().total_cmp(&b.1.norm());
        let (from, vw) = match reg.pt_phase {
            PtPhase::First => winding(0),
            PtPhase::Phase(n) => winding(n.clamp(1, t.phases) - 1),
            PtPhase::Max => phases
                .map(winding)
                .max_by(by_magnitude)
                .unwrap_or(winding(0)),
            PtPhase::Min => phases
                .map(winding)
                .min_by(by_magnitude)
                .unwrap_or(winding(0)),
        };
        // The CT reads that phase's terminal current into the winding.
        let mut i = C64::new(0.0, 0.0);
        for (k, &g) in e.conductors.iter().enumerate() {
            i += e.y[(from, k)] * volt(g);
        }
        // Current out of the winding toward the load is −i.
        let vc = vw / reg.pt_ratio - C64::new(reg.r, reg.x) * (-i / reg.ct_primary);
        vc.norm()
    }

    /// One control iteration of OpenDSS's static mode: every control samples the solution;
    /// the armed actions of the shortest delay are carried out. Returns the taps moved and
    /// the banks switched.
    pub(super) fn control(&mut self) -> Result<(usize, usize), FeederError> {
        let mut armed: Vec<(f64, Action)> = Vec::new();
        for r in 0..self.feeder.regulators.len() {
            if let Some(pending) = self.regulator_pending(r) {
                let a = Action::Tap {
                    regulator: r,
                    pending,
                };
                armed.push((self.feeder.regulators[r].delay_s, a));
            }
        }
        for k in 0..self.feeder.cap_controls.len() {
            if let Some(close) = self.cap_control_pending(k) {
                let c = &self.feeder.cap_controls[k];
                let delay = if close { c.on_delay_s } else { c.off_delay_s };
                armed.push((delay, Action::Switch { control: k, close }));
            }
        }
        let first = armed.iter().map(|a| a.0).fold(f64::INFINITY, f64::min);
        let (mut moves, mut switchings) = (Vec::new(), 0);
        for (delay, action) in armed {
            if delay > first {
                continue;
            }
            match action {
                Action::Tap { regulator, pending } => {
                    moves.extend(self.step_tap(regulator, pending).map(|t| (regulator, t)));
                }
                Action::Switch { control, close } => {
                    let cap = self.cap_controlled[control].0;
                    self.switch_capacitor(cap, close);
                    switchings += 1;
                }
            }
        }
        if !moves.is_empty() {
            self.apply_taps(&moves)?;
        }
        Ok((moves.len(), switchings))
    }

    /// A regulator out of band: the taps that would bring it to its set point, if it can
    /// move that way.
    fn regulator_pending(&self, r: usize) -> Option<i32> {
        let reg = &self.feeder.regulators[r];
        if !reg.enabled || reg.max_tap_change <= 0 {
            return None;
        }
        let err = reg.vreg - self.regulator_voltage(r);
        if err.abs() <= reg.band / 2.0 {
            return None;
        }
        // A tap is `tap_step` of the winding's rating, seen through the PT.
        let t = &self.feeder.transformers[self.reg_transformer[r]];
        let step_v = reg.tap_step * transformer::winding_volts(t, reg.winding - 1) / reg.pt_ratio;
        let pending = (err / step_v).round().clamp(-1e6, 1e6) as i32;
        let room = if pending > 0 {
            self.taps[r] < reg.max_taps
        } else {
            self.taps[r] > -reg.max_taps
        };
        (pending != 0 && room).then_some(pending)
    }

    /// The tap 70 % of the way (at least one tap, at most the limit per change), if it moves.
    fn step_tap(&self, r: usize, pending: i32) -> Option<i32> {
        let reg = &self.feeder.regulators[r];
        let steps = ((pending.abs() as f64 * 0.7) as i32).clamp(1, reg.max_tap_change);
        let m = reg.max_taps.max(0);
        let target = (self.taps[r].saturating_add(steps * pending.signum())).clamp(-m, m);
        (target != self.taps[r]).then_some(target)
    }

    /// A capacitor control's wish: `Some(true)` to switch its bank on, `Some(false)` off.
    fn cap_control_pending(&self, k: usize) -> Option<bool> {
        let c = &self.feeder.cap_controls[k];
        let (cap, element) = self.cap_controlled[k];
        if !c.enabled {
            return None;
        }
        let closed = self.feeder.capacitors[cap].closed;
        let (v, i) = self.line_terminal(element?, c.terminal);
        if v.is_empty() {
            return None;
        }
        let phase = |p: usize| p.clamp(1, v.len()) - 1;
        let volts = || {
            let p = phase(c.pt_phase);
            let vp = if self.feeder.capacitors[cap].conn == Conn::Delta {
                v[p] - v[(p + 1) % v.len()]
            } else {
                v[p]
            };
            vp.norm() / c.pt_ratio
        };
        if let (Some(VoltageOverride { vmin, vmax }), false) =
            (c.voltage_override, c.kind == CapControlKind::Voltage)
        {
            let vt = volts();
            if !closed && vt < vmin {
                return Some(true);
            }
            if closed && vt > vmax {
                return Some(false);
            }
        }
        // Kvar and current switch on above `on`, voltage below it; time by the hour.
        let (x, on_above) = match c.kind {
            CapControlKind::Kvar => {
                let q: f64 = v.iter().zip(&i).map(|(v, i)| (v * i.conj()).im).sum();
                (q / 1000.0, true)
            }
            CapControlKind::Current => (i[phase(c.ct_phase)].norm() / c.ct_ratio, true),
            CapControlKind::Voltage => (volts(), false),
            CapControlKind::Time => {
                return time_pending(time_of_day(self.minute), c.on, c.off, closed);
            }
        };
        let (turn_on, turn_off) = if on_above {
            (x > c.on, x < c.off)
        } else {
            (x < c.on, x > c.off)
        };
        match closed {
            false if turn_on => Some(true),
            true if turn_off => Some(false),
            _ => None,
        }
    }

    /// Voltages to ground and currents into a line at one of its ends, conductor by conductor.
    fn line_terminal(&self, element: usize, terminal: usize) -> (Vec<C64>, Vec<C64>) {
        let e = &self.net.elements[element];
        let volt = |g: usize| {
            if g == GROUND {
                C64::new(0.0, 0.0)
            } else {
                self.v[g]
            }
        };
        let all: Vec<C64> = e.conductors.iter().map(|&g| volt(g)).collect();
        let rows = if terminal == 1 {
            0..e.n1
        } else {
            e.n1..e.conductors.len()
        };
        let v = all[rows.clone()].to_vec();
        let i = rows
            .enumerate()
            .map(|(t, r)| {
                let series: C64 = (0..all.len()).map(|k| e.y[(r, k)] * all[k]).sum();
                // The line's charging at this end, which the sweep carries on the bus.
                let charging: C64 = e.shunt.as_ref().map_or(C64::new(0.0, 0.0), |sh| {
                    (0..v.len()).map(|k| sh[(t, k)] * v[k]).sum()
                });
                series + charging
            })
            .collect();
        (v, i)
    }

    /// Switch a capacitor bank on or off.
    fn switch_capacitor(&mut self, cap: usize, closed: bool) {
        let c = &mut self.feeder.capacitors[cap];
        c.closed = closed;
        for s in self
            .net
            .shunts
            .iter_mut()
            .filter(|s| s.of == Shunt::Capacitor(cap))
        {
            s.y = network::capacitor_y(c, s.vbase);
        }
    }
}

/// The hour of the day as OpenDSS's time control reads it at `minute` of the run: 0 to 24,
/// each midnight after the first read as 24:00 of the day ending.
fn time_of_day(minute: f64) -> f64 {
    let hours = minute / 60.0;
    let h = hours.floor();
    let sec_h = hours - h;
    let h = if h > 24.0 {
        h - ((h - 1.0) / 24.0).floor() * 24.0
    } else {
        h
    };
    let t = h + sec_h;
    if t - 24.0 > 1e-9 { t - 24.0 } else { t }
}

/// A time control's wish at hour `t` of the day, as OpenDSS's (DSS C-API's): an open bank
/// closes from `on` until `off`, a closed one opens outside that span; when the span crosses
/// midnight, an open bank closes only from `on` until midnight.
fn time_pending(t: f64, on: f64, off: f64, closed: bool) -> Option<bool> {
    let (close, open) = if off > on {
        (t >= on && t < off, t >= off || t < on)
    } else {
        (t >= on && t < 24.0, t >= off && t < on)
    };
    match closed {
        false if close => Some(true),
        true if open => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_of_day_wraps_as_opendss_normalizes_it() {
        for (minute, hour) in [
            (0.0, 0.0),
            (15.0, 0.25),
            (1440.0, 24.0),
            (1455.0, 0.25),
            (1500.0, 1.0),
            (2880.0, 24.0),
            (2895.0, 0.25),
        ] {
            assert!(
                (time_of_day(minute) - hour).abs() < 1e-12,
                "minute {minute}"
            );
        }
    }

    #[test]
    fn a_time_control_holds_its_bank_in_only_within_its_hours() {
        assert_eq!(time_pending(9.0, 8.0, 18.0, false), Some(true));
        assert_eq!(time_pending(18.0, 8.0, 18.0, true), Some(false));
        assert_eq!(time_pending(2.0, 8.0, 18.0, true), Some(false));
        assert_eq!(time_pending(2.0, 8.0, 18.0, false), None);
        assert_eq!(time_pending(9.0, 8.0, 18.0, true), None);
        // Across midnight: in from 20:00, out from 06:00; an open bank after midnight stays
        // open (OpenDSS closes it only from 20:00 until midnight).
        assert_eq!(time_pending(23.0, 20.0, 6.0, false), Some(true));
        assert_eq!(time_pending(3.0, 20.0, 6.0, false), None);
        assert_eq!(time_pending(7.0, 20.0, 6.0, true), Some(false));
        assert_eq!(time_pending(3.0, 20.0, 6.0, true), None);
    }
}
