//! Generators and PV systems, at their scheduled output.

use crate::feeder::{Conn, Generator};

use super::elements::shape;
use super::values::{boolean, conn, num, phase_count, reactive};
use super::{DssError, Object, Prop};

/// A generator at its scheduled output: constant P and Q (OpenDSS's model 1) from kW and pf or
/// kvar, with its voltage band and its shape.
pub(super) fn generator(o: &Object) -> Result<Option<Generator>, DssError> {
    let mut sh = Shared::new(o, 1000.0, 0.88);
    for p in &o.props {
        if sh.read(p)? {
            continue;
        }
        let v = &p.val;
        match p.key.as_str() {
            "kw" => sh.g.kw = num(v, &p.loc)?,
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
    let (kw, kvar) = (sh.g.kw, sh.kvar_at(sh.g.kw));
    sh.done(o, "generator", kw, kvar)
}

/// A PV system at its irradiance: Pmpp × irradiance and the vars its pf or kvar ask at that
/// power, within its inverter's kVA; its daily or yearly shape scales the irradiance.
pub(super) fn pv_system(o: &Object) -> Result<Option<Generator>, DssError> {
    let mut sh = Shared::new(o, 0.0, 1.0);
    let (mut pmpp, mut irradiance, mut kva, mut pct_pmpp) = (500.0, 1.0, 500.0, 100.0);
    let (mut watt_priority, mut pf_priority) = (false, false);
    for p in &o.props {
        if sh.read(p)? {
            continue;
        }
        let v = &p.val;
        match p.key.as_str() {
            "wattpriority" => watt_priority = boolean(v, &p.loc)?,
            "pfpriority" => pf_priority = boolean(v, &p.loc)?,
            "pmpp" => pmpp = num(v, &p.loc)?,
            "irradiance" => irradiance = num(v, &p.loc)?,
            "kva" => kva = num(v, &p.loc)?,
            "%pmpp" => pct_pmpp = num(v, &p.loc)?,
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
    // The panels' power, and the vars asked for at that power; the inverter's kVA then cuts
    // the active power (OpenDSS's default), the reactive (`wattpriority`) or both (`pfpriority`).
    let p = pmpp * irradiance * pct_pmpp / 100.0;
    let q = sh.kvar_at(p);
    let room = |x: f64| (kva * kva - x * x).max(0.0).sqrt();
    let (kw, kvar) = if pf_priority {
        let k = (kva / p.hypot(q)).min(1.0);
        (p * k, q * k)
    } else if watt_priority {
        let p = p.min(kva);
        (p, q.clamp(-room(p), room(p)))
    } else {
        let q = q.clamp(-kva, kva);
        (p.min(room(q)), q)
    };
    sh.done(o, "pvsystem", kw, kvar)
}

/// What generators and PV systems are given alike: where and how they connect, their voltage
/// band, their reactive power and their shape, with OpenDSS's defaults.
struct Shared {
    g: Generator,
    pf: f64,
    kvar: Option<f64>,
    enabled: bool,
    yearly: Option<String>,
    daily: Option<String>,
}

impl Shared {
    fn new(o: &Object, kw: f64, pf: f64) -> Self {
        Shared {
            g: Generator {
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
            },
            pf,
            kvar: None,
            enabled: true,
            yearly: None,
            daily: None,
        }
    }

    /// Takes `p` if it is one of the shared properties.
    fn read(&mut self, p: &Prop) -> Result<bool, DssError> {
        let (v, loc) = (&p.val, &p.loc);
        match p.key.as_str() {
            "bus1" => self.g.bus = v.text.clone(),
            "phases" => self.g.phases = phase_count(v, loc)?,
            "conn" => self.g.conn = conn(&v.text, loc)?,
            "kv" => self.g.kv = num(v, loc)?,
            "pf" => (self.pf, self.kvar) = (num(v, loc)?, None),
            "kvar" => self.kvar = Some(num(v, loc)?),
            "vminpu" => self.g.vminpu = num(v, loc)?,
            "vmaxpu" => self.g.vmaxpu = num(v, loc)?,
            "yearly" => self.yearly = Some(v.text.to_ascii_lowercase()),
            "daily" => self.daily = Some(v.text.to_ascii_lowercase()),
            "enabled" => self.enabled = boolean(v, loc)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The vars asked for at `kw`: its kvar, or its pf's.
    fn kvar_at(&self, kw: f64) -> f64 {
        self.kvar.unwrap_or_else(|| reactive(kw, self.pf))
    }

    /// The generator delivering `kw` and `kvar`, or `None` when disabled.
    fn done(
        self,
        o: &Object,
        class: &str,
        kw: f64,
        kvar: f64,
    ) -> Result<Option<Generator>, DssError> {
        if self.g.bus.is_empty() {
            return Err(o.loc.err(format!("{class} {}: no bus1", o.name)));
        }
        let shape = shape(self.yearly, self.daily);
        Ok(self.enabled.then_some(Generator {
            kw,
            kvar,
            shape,
            ..self.g
        }))
    }
}
