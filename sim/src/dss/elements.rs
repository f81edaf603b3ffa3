//! Transformers, loads, capacitors, reactors and load shapes.

use crate::feeder::{Capacitor, Conn, Load, LoadModel, LoadShape, Reactor, Transformer, Winding};

use super::values::{boolean, conn, count, each, num, nums, parse_num, phase_count, reactive};
use super::{DssError, Loc, Object, ReadFile};

/// A transformer and its tap step.
pub(super) fn transformer(o: &Object) -> Result<(Transformer, f64), DssError> {
    let mut phases = 3usize;
    let mut n = 2usize;
    let windings = |n: usize| -> Vec<Winding> {
        (0..n)
            .map(|_| Winding {
                bus: String::new(),
                conn: Conn::Wye,
                kv: 12.47,
                kva: 1000.0,
                r_pct: 0.2,
                tap: 1.0,
            })
            .collect()
    };
    let mut w = windings(n);
    let mut active = 0usize;
    let (mut xhl, mut xht, mut xlt) = (7.0, 35.0, 30.0);
    let (mut imag, mut nll, mut ppm) = (0.0, 0.0, 1.0);
    let (mut maxtap, mut mintap, mut numtaps) = (1.1, 0.9, 32.0);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "phases" => phases = phase_count(v, &p.loc)?,
            // As in OpenDSS, setting the count starts the windings afresh.
            "windings" => {
                n = count(v, &p.loc, "windings")?;
                if !(2..=3).contains(&n) {
                    return Err(p
                        .loc
                        .err(format!("{n} windings: two or three windings are supported")));
                }
                let buses: Vec<String> = w.iter().map(|x| x.bus.clone()).collect();
                w = windings(n);
                for (x, b) in w.iter_mut().zip(buses) {
                    x.bus = b;
                }
                active = 0;
            }
            "wdg" => {
                let k = num(v, &p.loc)?;
                if !(k.fract() == 0.0 && k >= 1.0 && k <= n as f64) {
                    return Err(p
                        .loc
                        .err(format!("wdg={k}: a winding's number, 1 to windings={n}")));
                }
                active = k as usize - 1;
            }
            "bus" => w[active].bus = v.text.clone(),
            "conn" => w[active].conn = conn(&v.text, &p.loc)?,
            "kv" => w[active].kv = num(v, &p.loc)?,
            "kva" => w[active].kva = num(v, &p.loc)?,
            "tap" => w[active].tap = num(v, &p.loc)?,
            "%r" | "r" => w[active].r_pct = num(v, &p.loc)?,
            "buses" => each(v, n, &p.loc, |k, s| {
                w[k].bus = s.to_string();
                Ok(())
            })?,
            "conns" => each(v, n, &p.loc, |k, s| {
                w[k].conn = conn(s, &p.loc)?;
                Ok(())
            })?,
            "kvs" => each(v, n, &p.loc, |k, s| {
                w[k].kv = parse_num(s, &p.loc)?;
                Ok(())
            })?,
            "kvas" => each(v, n, &p.loc, |k, s| {
                w[k].kva = parse_num(s, &p.loc)?;
                Ok(())
            })?,
            "taps" => each(v, n, &p.loc, |k, s| {
                w[k].tap = parse_num(s, &p.loc)?;
                Ok(())
            })?,
            "%rs" => each(v, n, &p.loc, |k, s| {
                w[k].r_pct = parse_num(s, &p.loc)?;
                Ok(())
            })?,
            "xhl" | "x12" => xhl = num(v, &p.loc)?,
            "xht" | "x13" => xht = num(v, &p.loc)?,
            "xlt" | "x23" => xlt = num(v, &p.loc)?,
            "xscarray" => {
                let x = nums(v, &p.loc)?;
                for (k, target) in [&mut xhl, &mut xht, &mut xlt].into_iter().enumerate() {
                    if let Some(&value) = x.get(k) {
                        *target = value;
                    }
                }
            }
            "%loadloss" => {
                let r = num(v, &p.loc)? / 2.0;
                w.iter_mut().take(2).for_each(|x| x.r_pct = r);
            }
            "%imag" => imag = num(v, &p.loc)?,
            "%noloadloss" => nll = num(v, &p.loc)?,
            "ppm_antifloat" | "ppm" => ppm = num(v, &p.loc)?,
            "maxtap" => maxtap = num(v, &p.loc)?,
            "mintap" => mintap = num(v, &p.loc)?,
            "numtaps" => numtaps = num(v, &p.loc)?,
            "sub" | "subname" | "bank" | "normhkva" | "emerghkva" | "thermal" | "n" | "m"
            | "flrise" | "hsrise" | "xrconst" => {}
            "leadlag" => {
                if !matches!(v.text.to_ascii_lowercase().as_str(), "ansi" | "lag") {
                    return Err(p.loc.err("only leadlag=ansi (lag) is supported"));
                }
            }
            k => {
                return Err(p
                    .loc
                    .err(format!("transformer property `{k}` is not supported")));
            }
        }
    }
    if let Some(k) = w.iter().position(|x| x.bus.is_empty()) {
        return Err(o.loc.err(format!(
            "transformer {}: winding {} has no bus",
            o.name,
            k + 1
        )));
    }
    let t = Transformer {
        name: o.name.clone(),
        phases,
        windings: w,
        xhl_pct: xhl,
        xht_pct: xht,
        xlt_pct: xlt,
        imag_pct: imag,
        noload_loss_pct: nll,
        ppm_antifloat: ppm,
    };
    Ok((t, (maxtap - mintap) / numtaps))
}

/// How a load's kW and kvar were last given: OpenDSS keeps the form of the last of them
/// assigned and derives the rest from it when the edit ends.
#[derive(Clone, Copy, PartialEq)]
enum LoadSpec {
    KwPf,
    KwKvar,
    KvaPf,
    /// kW already derived (from `xfkva` × `allocationfactor`, or from `kwh`), kvar from pf.
    Derived,
}

/// Which global multipliers a load follows (OpenDSS's `status`).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum LoadStatus {
    /// Load multiplier and load shapes.
    Variable,
    /// Neither.
    Fixed,
    /// Load shapes only.
    Exempt,
}

/// A load, or `None` when it is disabled (`enabled=no`: OpenDSS leaves it out).
pub(super) fn load(o: &Object) -> Result<Option<(Load, LoadStatus)>, DssError> {
    let mut l = Load {
        name: o.name.clone(),
        bus: String::new(),
        phases: 3,
        conn: Conn::Wye,
        kv: 12.47,
        kw: 10.0,
        kvar: 0.0,
        model: LoadModel::ConstantPower,
        vminpu: 0.95,
        vmaxpu: 1.05,
        shape: None,
    };
    let mut spec = LoadSpec::KwPf;
    let (mut pf, mut kvar, mut kva) = (0.88, 5.0, 11.3636);
    let (mut xfkva, mut allocation) = (0.0, 0.5);
    let (mut kwh, mut kwh_days, mut cfactor) = (0.0, 30.0, 4.0);
    let (mut cvr_watts, mut cvr_vars) = (1.0, 2.0);
    let mut model = 1;
    let mut zipv = None::<Vec<f64>>;
    let (mut yearly, mut daily) = (None, None);
    let mut status = LoadStatus::Variable;
    let mut enabled = true;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => l.bus = v.text.clone(),
            "status" => {
                status = match v.text.to_ascii_lowercase().chars().next() {
                    Some('f') => LoadStatus::Fixed,
                    Some('e') => LoadStatus::Exempt,
                    _ => LoadStatus::Variable,
                }
            }
            "phases" => l.phases = phase_count(v, &p.loc)?,
            "conn" => l.conn = conn(&v.text, &p.loc)?,
            "kv" => l.kv = num(v, &p.loc)?,
            "kw" => (l.kw, spec) = (num(v, &p.loc)?, LoadSpec::KwPf),
            "pf" => pf = num(v, &p.loc)?,
            "kvar" => (kvar, spec) = (num(v, &p.loc)?, LoadSpec::KwKvar),
            "kva" => (kva, spec) = (num(v, &p.loc)?, LoadSpec::KvaPf),
            // OpenDSS derives kW the moment either is set, with the pf of that moment.
            "xfkva" | "allocationfactor" => {
                if p.key == "xfkva" {
                    xfkva = num(v, &p.loc)?;
                } else {
                    allocation = num(v, &p.loc)?;
                }
                if xfkva > 0.0 {
                    l.kw = xfkva * allocation * pf.abs();
                }
                spec = LoadSpec::Derived;
            }
            "kwh" | "kwhdays" | "cfactor" => {
                let x = num(v, &p.loc)?;
                match p.key.as_str() {
                    "kwh" => kwh = x,
                    "kwhdays" => kwh_days = x,
                    _ => cfactor = x,
                }
                if kwh_days <= 0.0 {
                    return Err(p.loc.err("kwhdays must be positive"));
                }
                l.kw = kwh / (kwh_days * 24.0) * cfactor;
                spec = LoadSpec::Derived;
            }
            "cvrwatts" => cvr_watts = num(v, &p.loc)?,
            "cvrvars" => cvr_vars = num(v, &p.loc)?,
            "model" => model = num(v, &p.loc)? as i32,
            "vminpu" => l.vminpu = num(v, &p.loc)?,
            "vmaxpu" => l.vmaxpu = num(v, &p.loc)?,
            "yearly" => yearly = Some(v.text.to_ascii_lowercase()),
            "daily" => daily = Some(v.text.to_ascii_lowercase()),
            "zipv" => zipv = Some(nums(v, &p.loc)?),
            "enabled" => enabled = boolean(v, &p.loc)?,
            "duty" | "class" | "growth" | "spectrum" | "basefreq" | "vlowpu" | "numcust"
            | "%seriesrl" | "normamps" | "emergamps" | "%mean" | "%stddev" | "relweight"
            | "puxharm" | "xrharm" | "vminnorm" | "vminemerg" => {
                if p.key == "vlowpu" && num(v, &p.loc)? != 0.5 {
                    return Err(p.loc.err("only vlowpu=0.5 is supported"));
                }
            }
            k => return Err(p.loc.err(format!("load property `{k}` is not supported"))),
        }
    }
    if l.bus.is_empty() {
        return Err(o.loc.err(format!("load {}: no bus1", o.name)));
    }
    let kvar_of = |kw: f64| reactive(kw, pf);
    match spec {
        LoadSpec::KwPf | LoadSpec::Derived => l.kvar = kvar_of(l.kw),
        LoadSpec::KwKvar => l.kvar = kvar,
        LoadSpec::KvaPf => {
            l.kw = kva * pf.abs();
            l.kvar = kvar_of(l.kw);
        }
    }
    l.model = match model {
        1 => LoadModel::ConstantPower,
        2 => LoadModel::ConstantImpedance,
        3 => LoadModel::Motor,
        4 => LoadModel::Exponential {
            watts: cvr_watts,
            vars: cvr_vars,
        },
        5 => LoadModel::ConstantCurrent,
        6 => LoadModel::FixedQ,
        7 => LoadModel::FixedQImpedance,
        8 => {
            let z =
                zipv.ok_or_else(|| o.loc.err(format!("load {}: model=8 needs zipv", o.name)))?;
            if z.len() != 7 {
                return Err(o.loc.err(format!(
                    "load {}: zipv needs 7 values, has {}",
                    o.name,
                    z.len()
                )));
            }
            LoadModel::Zip {
                p: [z[0], z[1], z[2]],
                q: [z[3], z[4], z[5]],
                cutoff_pu: z[6],
            }
        }
        m => {
            return Err(o.loc.err(format!(
                "load {}: model={m} is not one of OpenDSS's (1 to 8)",
                o.name
            )));
        }
    };
    // A fixed load follows no shape.
    l.shape = shape(yearly, daily).filter(|_| status != LoadStatus::Fixed);
    Ok(enabled.then_some((l, status)))
}

pub(super) fn capacitor(o: &Object) -> Result<Capacitor, DssError> {
    let mut c = Capacitor {
        name: o.name.clone(),
        bus: String::new(),
        phases: 3,
        conn: Conn::Wye,
        kv: 12.47,
        kvar: 1200.0,
        closed: true,
    };
    let mut on = true;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => c.bus = v.text.clone(),
            "bus2" => {
                if v.text.split('.').skip(1).any(|n| n != "0") {
                    return Err(p.loc.err("capacitors between two buses are not supported"));
                }
            }
            "phases" => c.phases = phase_count(v, &p.loc)?,
            "kvar" => c.kvar = nums(v, &p.loc)?.iter().sum(),
            "kv" => c.kv = num(v, &p.loc)?,
            "conn" => c.conn = conn(&v.text, &p.loc)?,
            "enabled" => on = boolean(v, &p.loc)?,
            "states" => c.closed = nums(v, &p.loc)?.iter().any(|&s| s != 0.0),
            // A series reactor or resistor in the bank: only its absence is modelled.
            "r" | "xl" if nums(v, &p.loc)?.iter().all(|&x| x == 0.0) => {}
            "normamps" | "emergamps" | "basefreq" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("capacitor property `{k}` is not supported")));
            }
        }
    }
    if !on {
        c.kvar = 0.0;
    }
    if c.bus.is_empty() {
        return Err(o.loc.err(format!("capacitor {}: no bus1", o.name)));
    }
    Ok(c)
}

pub(super) fn loadshape(o: &Object, read: ReadFile<'_>) -> Result<LoadShape, DssError> {
    let mut npts = None;
    let mut interval_min = 60.0;
    let mut mult = None::<Vec<f64>>;
    let mut use_actual = false;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "npts" => npts = Some(count(v, &p.loc, "npts")?),
            "interval" => interval_min = num(v, &p.loc)? * 60.0,
            "minterval" => interval_min = num(v, &p.loc)?,
            "sinterval" => interval_min = num(v, &p.loc)? / 60.0,
            "mult" | "pmult" => {
                let t = v.text.trim();
                mult = Some(
                    if let Some(file) = t.strip_prefix("file=").or_else(|| t.strip_prefix("File="))
                    {
                        let path = o.dir.join(file.trim());
                        let text = read(&path).map_err(|e| {
                            p.loc.err(format!("cannot read {}: {e}", path.display()))
                        })?;
                        text.lines()
                            .enumerate()
                            .filter(|(_, l)| !l.trim().is_empty())
                            .map(|(n, l)| {
                                let first = l.split(',').next().unwrap_or("").trim();
                                first.parse::<f64>().map_err(|_| {
                                    Loc {
                                        file: path.clone(),
                                        line: n + 1,
                                        command: "loadshape".into(),
                                    }
                                    .err(format!("`{first}` is not a number"))
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    } else if t.contains('=') {
                        return Err(p.loc.err(format!("`{t}`: only (file=…) is supported")));
                    } else {
                        nums(v, &p.loc)?
                    },
                );
            }
            "useactual" => use_actual = boolean(v, &p.loc)?,
            "mean" | "stddev" | "csvfile" | "action" | "qmult" | "hour" | "sngfile" | "dblfile"
            | "pqcsvfile" => {
                return Err(p
                    .loc
                    .err(format!("load shape property `{}` is not supported", p.key)));
            }
            k => {
                return Err(p
                    .loc
                    .err(format!("load shape property `{k}` is not supported")));
            }
        }
    }
    let mut mult = mult.ok_or_else(|| o.loc.err(format!("loadshape {}: no mult", o.name)))?;
    if let Some(n) = npts {
        if mult.len() < n {
            return Err(o.loc.err(format!(
                "loadshape {}: npts={n} but {} values",
                o.name,
                mult.len()
            )));
        }
        mult.truncate(n);
    }
    if interval_min.is_nan() || interval_min <= 0.0 {
        return Err(o.loc.err(format!(
            "loadshape {}: the interval must be positive",
            o.name
        )));
    }
    Ok(LoadShape {
        name: o.name.clone(),
        interval_min,
        mult,
        use_actual,
    })
}

/// A reactor: its impedance from R and X (or `Z`, or `LmH`), or X from its kvar at its kV,
/// whichever was given last.
pub(super) fn reactor(o: &Object, frequency: f64) -> Result<Reactor, DssError> {
    let mut r = Reactor {
        name: o.name.clone(),
        bus1: String::new(),
        bus2: None,
        phases: 3,
        r_ohm: 0.0,
        x_ohm: 0.0,
    };
    let (mut kvar, mut kv, mut x, mut by_rating) = (100.0, 12.47, None::<f64>, true);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => r.bus1 = v.text.clone(),
            "bus2" => r.bus2 = Some(v.text.clone()),
            "phases" => r.phases = phase_count(v, &p.loc)?,
            "kvar" => (kvar, by_rating) = (num(v, &p.loc)?, true),
            "kv" => (kv, by_rating) = (num(v, &p.loc)?, true),
            "r" => r.r_ohm = num(v, &p.loc)?,
            "x" => (x, by_rating) = (Some(num(v, &p.loc)?), false),
            "lmh" => {
                let l = num(v, &p.loc)? / 1000.0;
                (x, by_rating) = (Some(l * 2.0 * std::f64::consts::PI * frequency), false);
            }
            "z" => {
                let z = nums(v, &p.loc)?;
                let &[zr, zx] = &z[..] else {
                    return Err(p.loc.err("z=[R X]: two numbers"));
                };
                r.r_ohm = zr;
                (x, by_rating) = (Some(zx), false);
            }
            "conn" => {
                if conn(&v.text, &p.loc)? != Conn::Wye {
                    return Err(p.loc.err("a delta reactor is not supported"));
                }
            }
            "rp" | "parallel" => {
                let set = if p.key == "rp" {
                    num(v, &p.loc)? != 0.0
                } else {
                    boolean(v, &p.loc)?
                };
                if set {
                    return Err(p
                        .loc
                        .err("a reactor's parallel resistance is not supported"));
                }
            }
            "normamps" | "emergamps" | "faultrate" | "pctperm" | "repair" | "basefreq"
            | "enabled" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("reactor property `{k}` is not supported")));
            }
        }
    }
    if r.bus1.is_empty() {
        return Err(o.loc.err(format!("reactor {}: no bus1", o.name)));
    }
    r.x_ohm = match x {
        Some(x) if !by_rating => x,
        _ => {
            // kvar over all phases at kV line to line (line to neutral for a wye bank).
            let phase_kv = if r.phases > 1 { kv / 3f64.sqrt() } else { kv };
            phase_kv * phase_kv * 1000.0 / (kvar / r.phases as f64)
        }
    };
    Ok(r)
}

/// The shape an element follows: its yearly one, else its daily one; `none` is no shape.
pub(super) fn shape(yearly: Option<String>, daily: Option<String>) -> Option<String> {
    let given = |s: Option<String>| s.filter(|s| s != "none" && !s.is_empty());
    given(yearly).or(given(daily))
}
