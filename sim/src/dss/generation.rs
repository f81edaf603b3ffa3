//! Generators and PV systems, at their scheduled output.

use crate::feeder::{Conn, Generator};

use super::elements::shape;
use super::values::{boolean, conn, num, phase_count, reactive};
use super::{DssError, Object};

/// A generator at its scheduled output: constant P and Q (OpenDSS's model 1) from kW and pf or
/// kvar, with its voltage band and its shape.
pub(super) fn generator(o: &Object) -> Result<Option<Generator>, DssError> {
    let mut g = unplaced(o, 1000.0);
    let (mut pf, mut kvar, mut enabled) = (0.88, None::<f64>, true);
    let (mut yearly, mut daily) = (None, None);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => g.bus = v.text.clone(),
            "phases" => g.phases = phase_count(v, &p.loc)?,
            "conn" => g.conn = conn(&v.text, &p.loc)?,
            "kv" => g.kv = num(v, &p.loc)?,
            "kw" => g.kw = num(v, &p.loc)?,
            "pf" => (pf, kvar) = (num(v, &p.loc)?, None),
            "kvar" => kvar = Some(num(v, &p.loc)?),
            "vminpu" => g.vminpu = num(v, &p.loc)?,
            "vmaxpu" => g.vmaxpu = num(v, &p.loc)?,
            "yearly" => yearly = Some(v.text.to_ascii_lowercase()),
            "daily" => daily = Some(v.text.to_ascii_lowercase()),
            "enabled" => enabled = boolean(v, &p.loc)?,
            "model" => {
                if num(v, &p.loc)? != 1.0 {
                    return Err(p
                        .loc
                        .err("only generator model 1 (constant kW and kvar) is supported"));
                }
            }
            "dispmode" => {
                if !v.text.eq_ignore_ascii_case("default") {
                    return Err(p.loc.err("only dispmode=default is supported"));
                }
            }
            "kva" | "mva" | "status" | "class" | "duty" | "dispvalue" | "xd" | "xdp" | "xdpp"
            | "h" | "d" | "forceon" | "basefreq" | "spectrum" | "balanced" | "xrdp" | "rneut"
            | "xneut" | "vpu" | "maxkvar" | "minkvar" | "pvfactor" | "debugtrace" | "kw_rated" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("generator property `{k}` is not supported")));
            }
        }
    }
    if g.bus.is_empty() {
        return Err(o.loc.err(format!("generator {}: no bus1", o.name)));
    }
    g.kvar = kvar.unwrap_or_else(|| reactive(g.kw, pf));
    g.shape = shape(yearly, daily);
    Ok(enabled.then_some(g))
}

/// A PV system at its irradiance: Pmpp × irradiance and the vars its pf or kvar ask at that
/// power, within its inverter's kVA; its daily or yearly shape scales the irradiance.
pub(super) fn pv_system(o: &Object) -> Result<Option<Generator>, DssError> {
    let mut g = unplaced(o, 0.0);
    let (mut pmpp, mut irradiance, mut kva, mut pct_pmpp) = (500.0, 1.0, 500.0, 100.0);
    let (mut pf, mut kvar, mut enabled) = (1.0, None::<f64>, true);
    let (mut watt_priority, mut pf_priority) = (false, false);
    let (mut yearly, mut daily) = (None, None);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => g.bus = v.text.clone(),
            "phases" => g.phases = phase_count(v, &p.loc)?,
            "conn" => g.conn = conn(&v.text, &p.loc)?,
            "kv" => g.kv = num(v, &p.loc)?,
            "wattpriority" => watt_priority = boolean(v, &p.loc)?,
            "pfpriority" => pf_priority = boolean(v, &p.loc)?,
            "pmpp" => pmpp = num(v, &p.loc)?,
            "irradiance" => irradiance = num(v, &p.loc)?,
            "kva" => kva = num(v, &p.loc)?,
            "%pmpp" => pct_pmpp = num(v, &p.loc)?,
            "pf" => (pf, kvar) = (num(v, &p.loc)?, None),
            "kvar" => kvar = Some(num(v, &p.loc)?),
            "vminpu" => g.vminpu = num(v, &p.loc)?,
            "vmaxpu" => g.vmaxpu = num(v, &p.loc)?,
            "yearly" => yearly = Some(v.text.to_ascii_lowercase()),
            "daily" => daily = Some(v.text.to_ascii_lowercase()),
            "enabled" => enabled = boolean(v, &p.loc)?,
            "p-tcurve" | "effcurve" | "tyearly" | "tdaily" | "tduty" => {
                if !v.text.is_empty() && !v.text.eq_ignore_ascii_case("none") {
                    return Err(p
                        .loc
                        .err("PV temperature and efficiency curves are not supported"));
                }
            }
            "temperature" | "%cutin" | "%cutout" | "duty" | "%r" | "%x" | "model" | "class"
            | "basefreq" | "spectrum" | "varfollowinverter" | "kvarmax" | "kvarmaxabs"
            | "debugtrace" | "balanced" | "limitcurrent" | "dutystart" | "%pminnovars"
            | "%pminkvarmax" | "usermodel" | "userdata" => {
                if p.key == "model" && num(v, &p.loc)? != 1.0 {
                    return Err(p.loc.err("only PV model 1 (constant P and Q) is supported"));
                }
            }
            k => {
                return Err(p
                    .loc
                    .err(format!("pvsystem property `{k}` is not supported")));
            }
        }
    }
    if g.bus.is_empty() {
        return Err(o.loc.err(format!("pvsystem {}: no bus1", o.name)));
    }
    // The panels' power, and the vars asked for at that power; the inverter's kVA then cuts
    // the active power (OpenDSS's default), the reactive (`wattpriority`) or both (`pfpriority`).
    let p = pmpp * irradiance * pct_pmpp / 100.0;
    let q = kvar.unwrap_or_else(|| reactive(p, pf));
    let room = |x: f64| (kva * kva - x * x).max(0.0).sqrt();
    (g.kw, g.kvar) = if pf_priority {
        let k = (kva / p.hypot(q)).min(1.0);
        (p * k, q * k)
    } else if watt_priority {
        let p = p.min(kva);
        (p, q.clamp(-room(p), room(p)))
    } else {
        let q = q.clamp(-kva, kva);
        (p.min(room(q)), q)
    };
    g.shape = shape(yearly, daily);
    Ok(enabled.then_some(g))
}

/// A generator of `kw` with OpenDSS's defaults, its bus yet to be read.
fn unplaced(o: &Object, kw: f64) -> Generator {
    Generator {
        name: o.name.clone(),
        bus: String::new(),
        phases: 3,
        conn: Conn::Wye,
        kv: 12.47,
        kw,
        kvar: 0.0,
        vminpu: 0.9,
        vmaxpu: 1.1,
        shape: None,
    }
}
