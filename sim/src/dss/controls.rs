//! Controls: regulators on their transformers' taps, and capacitor controls on their banks.

use std::collections::HashMap;

use crate::feeder::{CapControl, CapControlKind, PtPhase, Regulator, Transformer, VoltageOverride};

use super::values::{boolean, count, num};
use super::{DssError, Object};

pub(super) fn regulator(
    o: &Object,
    steps: &HashMap<String, f64>,
    transformers: &mut [Transformer],
) -> Result<Regulator, DssError> {
    let mut r = Regulator {
        name: o.name.clone(),
        transformer: String::new(),
        winding: 1,
        vreg: 120.0,
        band: 3.0,
        pt_ratio: 60.0,
        ct_primary: 300.0,
        r: 0.0,
        x: 0.0,
        tap_step: 0.00625,
        max_taps: 16,
        enabled: true,
        delay_s: 15.0,
        max_tap_change: 16,
        pt_phase: PtPhase::First,
    };
    let mut tapnum = None;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "transformer" => r.transformer = v.text.to_ascii_lowercase(),
            "winding" => r.winding = count(v, &p.loc, "winding")?,
            "vreg" => r.vreg = num(v, &p.loc)?,
            "band" => r.band = num(v, &p.loc)?,
            "ptratio" => r.pt_ratio = num(v, &p.loc)?,
            "ctprim" => r.ct_primary = num(v, &p.loc)?,
            "r" => r.r = num(v, &p.loc)?,
            "x" => r.x = num(v, &p.loc)?,
            "enabled" => r.enabled = boolean(v, &p.loc)?,
            "tapnum" => tapnum = Some(num(v, &p.loc)? as i32),
            "delay" => r.delay_s = num(v, &p.loc)?,
            "maxtapchange" => r.max_tap_change = num(v, &p.loc)? as i32,
            "ptphase" => {
                r.pt_phase = match v.text.to_ascii_lowercase().as_str() {
                    "max" => PtPhase::Max,
                    "min" => PtPhase::Min,
                    _ => PtPhase::Phase(count(v, &p.loc, "ptphase")?),
                }
            }
            "vlimit" => {
                if num(v, &p.loc)? > 0.0 {
                    return Err(p.loc.err("a regulator's vlimit is not supported"));
                }
            }
            "inversetime" => {
                if boolean(v, &p.loc)? {
                    return Err(p.loc.err("inverse-time regulators are not supported"));
                }
            }
            "tapdelay" | "debugtrace" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("regcontrol property `{k}` is not supported")));
            }
        }
    }
    let t = transformers
        .iter_mut()
        .find(|t| t.name == r.transformer)
        .ok_or_else(|| {
            o.loc.err(format!(
                "regcontrol {}: no transformer `{}`",
                o.name, r.transformer
            ))
        })?;
    if r.winding == 0 || r.winding > t.windings.len() {
        return Err(o.loc.err(format!(
            "regcontrol {}: winding {} out of range",
            o.name, r.winding
        )));
    }
    r.tap_step = steps[&t.name];
    r.max_taps = (0.1 / r.tap_step).round() as i32;
    if let Some(n) = tapnum {
        t.windings[r.winding - 1].tap = 1.0 + n as f64 * r.tap_step;
    }
    Ok(r)
}

/// A capacitor control: what it reads and its settings, with OpenDSS's defaults.
pub(super) fn cap_control(o: &Object) -> Result<CapControl, DssError> {
    let mut c = CapControl {
        name: o.name.clone(),
        capacitor: String::new(),
        line: String::new(),
        terminal: 1,
        kind: CapControlKind::Current,
        on: 300.0,
        off: 200.0,
        pt_ratio: 60.0,
        ct_ratio: 60.0,
        pt_phase: 1,
        ct_phase: 1,
        on_delay_s: 15.0,
        off_delay_s: 15.0,
        voltage_override: None,
        enabled: true,
    };
    let (mut vmin, mut vmax, mut overridden) = (115.0, 126.0, false);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "element" => {
                let t = v.text.to_ascii_lowercase();
                c.line = t
                    .strip_prefix("line.")
                    .ok_or_else(|| {
                        p.loc.err(format!(
                            "element={t}: only a line is read by a capacitor control"
                        ))
                    })?
                    .to_string();
            }
            "terminal" => c.terminal = count(v, &p.loc, "terminal")?,
            "capacitor" => c.capacitor = v.text.to_ascii_lowercase(),
            "type" => {
                c.kind = match v.text.to_ascii_lowercase().chars().next() {
                    Some('k') => CapControlKind::Kvar,
                    Some('c') => CapControlKind::Current,
                    Some('v') => CapControlKind::Voltage,
                    Some('t') => CapControlKind::Time,
                    _ => {
                        return Err(p.loc.err(format!(
                            "type={}: kvar, current, voltage and time controls are supported",
                            v.text
                        )));
                    }
                }
            }
            "ptratio" => c.pt_ratio = num(v, &p.loc)?,
            "ctratio" => c.ct_ratio = num(v, &p.loc)?,
            "onsetting" => c.on = num(v, &p.loc)?,
            "offsetting" => c.off = num(v, &p.loc)?,
            "delay" => c.on_delay_s = num(v, &p.loc)?,
            "delayoff" => c.off_delay_s = num(v, &p.loc)?,
            "voltoverride" => overridden = boolean(v, &p.loc)?,
            "vmin" => vmin = num(v, &p.loc)?,
            "vmax" => vmax = num(v, &p.loc)?,
            "ptphase" => c.pt_phase = count(v, &p.loc, "ptphase")?,
            "ctphase" => c.ct_phase = count(v, &p.loc, "ctphase")?,
            "enabled" => c.enabled = boolean(v, &p.loc)?,
            "deadtime" | "eventlog" | "pctminkvar" | "basefreq" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("capcontrol property `{k}` is not supported")));
            }
        }
    }
    if c.line.is_empty() || c.capacitor.is_empty() {
        return Err(o.loc.err(format!(
            "capcontrol {}: needs element=line.NAME and capacitor=NAME",
            o.name
        )));
    }
    if !(1..=2).contains(&c.terminal) {
        return Err(o.loc.err(format!(
            "capcontrol {}: a line has terminals 1 and 2",
            o.name
        )));
    }
    c.voltage_override = overridden.then_some(VoltageOverride { vmin, vmax });
    Ok(c)
}
