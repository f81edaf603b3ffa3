//! Lines: line codes (matrices or sequence values), geometries and wires through Carson or
//! Deri, lengths in their units, switches.

use std::collections::HashMap;

use crate::feeder::line_constants::{self, Conductor, EarthModel};
use crate::feeder::network::sequence_to_phase;
use crate::feeder::{Line, LineCode};
use num_complex::Complex64 as C64;

use super::script::State;
use super::values::{boolean, count, matrix, num, phase_count, unit_km};
use super::{DssError, Object, Prop, Val};

impl State {
    pub(super) fn line(
        &self,
        o: &Object,
        code_units: &HashMap<String, Option<f64>>,
        geometries: &HashMap<&str, &Object>,
        wires: &HashMap<&str, &Object>,
        codes: &mut Vec<LineCode>,
    ) -> Result<Option<Line>, DssError> {
        let (mut bus1, mut bus2) = (None, None);
        let mut code = None::<String>;
        let mut geometry = None::<String>;
        let mut length = 1.0;
        let mut units = None::<f64>;
        let mut inline: Vec<Prop> = Vec::new();
        let mut switch = false;
        let mut enabled = true;
        let mut phases = None::<usize>;
        for p in &o.props {
            let v = &p.val;
            match p.key.as_str() {
                "bus1" => bus1 = Some(v.text.clone()),
                "bus2" => bus2 = Some(v.text.clone()),
                "linecode" => code = Some(v.text.to_ascii_lowercase()),
                "geometry" => geometry = Some(v.text.to_ascii_lowercase()),
                "length" | "len" => length = num(v, &p.loc)?,
                "units" => units = unit_km(&v.text, &p.loc)?,
                "phases" => phases = Some(phase_count(v, &p.loc)?),
                "switch" => {
                    switch = boolean(v, &p.loc)?;
                    if switch {
                        // OpenDSS: a switch is a 1 mΩ-per-unit line 0.001 long, unless overridden.
                        for (k, x) in [
                            ("r1", "1"),
                            ("x1", "1"),
                            ("r0", "1"),
                            ("x0", "1"),
                            ("c1", "1.1"),
                            ("c0", "1"),
                        ] {
                            inline.push(Prop {
                                key: k.into(),
                                val: Val {
                                    text: x.into(),
                                    bracketed: false,
                                },
                                loc: p.loc.clone(),
                            });
                        }
                        length = 0.001;
                        units = None;
                    }
                }
                "enabled" => enabled = boolean(v, &p.loc)?,
                "r1" | "x1" | "r0" | "x0" | "c1" | "c0" | "rmatrix" | "xmatrix" | "cmatrix" => {
                    inline.push(p.clone())
                }
                "normamps" | "emergamps" | "faultrate" | "pctperm" | "repair" | "basefreq"
                | "rho" => {
                    if p.key == "rho" && num(v, &p.loc)? != 100.0 {
                        return Err(p.loc.err("only rho=100 is supported"));
                    }
                }
                k => return Err(p.loc.err(format!("line property `{k}` is not supported"))),
            }
        }
        let what = |m: String| o.loc.err(format!("line {}: {m}", o.name));
        let bus1 = bus1.ok_or_else(|| what("no bus1".into()))?;
        let bus2 = bus2.ok_or_else(|| what("no bus2".into()))?;
        let (code_name, code_unit) = if let Some(g) = geometry {
            let name = format!("geometry.{g}");
            // One code per geometry, made when a line first uses it.
            if !codes.iter().any(|c| c.name == name) {
                let go = geometries
                    .get(g.as_str())
                    .ok_or_else(|| what(format!("no line geometry `{g}`")))?;
                codes.push(geometry_code(go, wires, &name, self.frequency, self.earth)?);
            }
            (name, Some(1.0))
        } else if !inline.is_empty() {
            let name = format!("line.{}", o.name);
            let mut fake = o.clone();
            fake.props = inline;
            if let Some(n) = phases {
                fake.props.insert(
                    0,
                    Prop {
                        key: "nphases".into(),
                        val: Val {
                            text: n.to_string(),
                            bracketed: false,
                        },
                        loc: o.loc.clone(),
                    },
                );
            }
            let (c, _) = linecode(&fake, &name, self.frequency)?;
            codes.push(c);
            (name, None)
        } else {
            let c = code.ok_or_else(|| what("no linecode, geometry or impedance".into()))?;
            let u = *code_units
                .get(&c)
                .ok_or_else(|| what(format!("no line code `{c}`")))?;
            (c, u)
        };
        // Lengths convert only when both the line and its code carry units.
        let length_km = match (units, code_unit) {
            (Some(l), Some(_)) => length * l,
            (None, Some(c)) => length * c,
            _ => length,
        };
        if !enabled {
            return Ok(None);
        }
        Ok(Some(Line {
            name: o.name.clone(),
            bus1,
            bus2,
            code: code_name,
            length_km,
            switch,
            closed: true,
        }))
    }
}

pub(super) fn geometry_code(
    o: &Object,
    wires: &HashMap<&str, &Object>,
    name: &str,
    f: f64,
    earth: EarthModel,
) -> Result<LineCode, DssError> {
    let mut nconds = 0usize;
    let mut nphases = 0usize;
    let mut reduce = false;
    let mut conds: Vec<(Option<String>, f64, f64, Option<f64>)> = Vec::new();
    let mut active = 0usize;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "nconds" => {
                nconds = count(v, &p.loc, "nconds")?;
                conds.resize(nconds, (None, 0.0, 0.0, None));
            }
            "nphases" => nphases = count(v, &p.loc, "nphases")?,
            "reduce" => reduce = boolean(v, &p.loc)?,
            "cond" => {
                active = count(v, &p.loc, "cond")?;
                if active == 0 || active > nconds {
                    return Err(p.loc.err(format!("cond={active} but nconds={nconds}")));
                }
            }
            "wire" | "x" | "h" | "units" if active == 0 => {
                return Err(p.loc.err("set cond= first"));
            }
            "wire" => conds[active - 1].0 = Some(v.text.to_ascii_lowercase()),
            "x" => conds[active - 1].1 = num(v, &p.loc)?,
            "h" => conds[active - 1].2 = num(v, &p.loc)?,
            "units" => conds[active - 1].3 = unit_km(&v.text, &p.loc)?,
            "normamps" | "emergamps" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("line geometry property `{k}` is not supported")));
            }
        }
    }
    if nphases == 0 || nphases > nconds {
        return Err(o.loc.err(format!(
            "linegeometry {}: nphases must be 1..=nconds",
            o.name
        )));
    }
    if nconds > nphases && !reduce {
        return Err(o.loc.err(format!(
            "linegeometry {}: neutral conductors are only supported with reduce=yes",
            o.name
        )));
    }
    let mut cs = Vec::new();
    for (k, (wire, x, h, u)) in conds.iter().enumerate() {
        let wname = wire.as_deref().ok_or_else(|| {
            o.loc.err(format!(
                "linegeometry {}: cond {} has no wire",
                o.name,
                k + 1
            ))
        })?;
        let w = wires.get(wname).ok_or_else(|| {
            o.loc
                .err(format!("linegeometry {}: no wiredata `{wname}`", o.name))
        })?;
        let m = u.ok_or_else(|| {
            o.loc.err(format!(
                "linegeometry {}: cond {} has no units",
                o.name,
                k + 1
            ))
        })? * 1000.0;
        let (r, rdc, gmr, radius) = wire_data(w)?;
        cs.push(Conductor {
            x_m: x * m,
            h_m: h * m,
            r_ohm_per_m: r,
            rdc_ohm_per_m: rdc,
            gmr_m: gmr,
            radius_m: radius,
        });
    }
    let (z, c) = line_constants::line_matrices(&cs, nphases, f, 100.0, earth);
    Ok(LineCode {
        name: name.into(),
        phases: nphases,
        r_ohm_per_km: (0..nphases)
            .map(|i| (0..nphases).map(|j| z[(i, j)].re).collect())
            .collect(),
        x_ohm_per_km: (0..nphases)
            .map(|i| (0..nphases).map(|j| z[(i, j)].im).collect())
            .collect(),
        c_nf_per_km: (0..nphases)
            .map(|i| (0..nphases).map(|j| c[(i, j)]).collect())
            .collect(),
    })
}

/// (AC and DC resistance Ω/m, GMR m, radius m) of a wire; either resistance defaults to the
/// other's through OpenDSS's factor 1.02.
pub(super) fn wire_data(o: &Object) -> Result<(f64, f64, f64, f64), DssError> {
    let (mut rac, mut rdc, mut gmr, mut radius) = (None, None, None, None);
    let (mut runits, mut gmrunits, mut radunits) = (None, None, None);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "rac" => rac = Some(num(v, &p.loc)?),
            "rdc" => rdc = Some(num(v, &p.loc)?),
            "gmrac" | "gmr" => gmr = Some(num(v, &p.loc)?),
            "radius" => radius = Some(num(v, &p.loc)?),
            "diam" => radius = Some(num(v, &p.loc)? / 2.0),
            "runits" => runits = unit_km(&v.text, &p.loc)?,
            "gmrunits" => gmrunits = unit_km(&v.text, &p.loc)?,
            "radunits" => radunits = unit_km(&v.text, &p.loc)?,
            "normamps" | "emergamps" | "capradius" => {}
            k => {
                return Err(p
                    .loc
                    .err(format!("wiredata property `{k}` is not supported")));
            }
        }
    }
    let need = |x: Option<f64>, what: &str| {
        x.ok_or_else(|| o.loc.err(format!("wiredata {}: no {what}", o.name)))
    };
    let per_m = need(runits, "runits")? * 1000.0;
    let r = need(rac.or(rdc.map(|r| r * 1.02)), "rac")? / per_m;
    let rdc = rdc.map_or(r / 1.02, |x| x / per_m);
    let radius = need(radius, "diam or radius")? * need(radunits, "radunits")? * 1000.0;
    let gmr = match gmr {
        Some(g) => g * need(gmrunits, "gmrunits")? * 1000.0,
        None => 0.7788 * radius,
    };
    Ok((r, rdc, gmr, radius))
}

/// A line code and the km in one of its length units (`None`: no units given).
pub(super) fn linecode(
    o: &Object,
    name: &str,
    f: f64,
) -> Result<(LineCode, Option<f64>), DssError> {
    let mut n = 3usize;
    let (mut r1, mut x1, mut r0, mut x0, mut c1, mut c0) =
        (0.058, 0.1206, 0.1784, 0.4047, 3.4, 1.6);
    let mut units = None;
    let (mut rm, mut xm, mut cm) = (None, None, None);
    let mut by_matrix = false;
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "nphases" | "phases" => n = phase_count(v, &p.loc)?,
            "r1" => (r1, by_matrix) = (num(v, &p.loc)?, false),
            "x1" => (x1, by_matrix) = (num(v, &p.loc)?, false),
            "r0" => (r0, by_matrix) = (num(v, &p.loc)?, false),
            "x0" => (x0, by_matrix) = (num(v, &p.loc)?, false),
            "c1" => (c1, by_matrix) = (num(v, &p.loc)?, false),
            "c0" => (c0, by_matrix) = (num(v, &p.loc)?, false),
            "units" => units = unit_km(&v.text, &p.loc)?,
            "rmatrix" => (rm, by_matrix) = (Some(matrix(v, &p.loc)?), true),
            "xmatrix" => (xm, by_matrix) = (Some(matrix(v, &p.loc)?), true),
            "cmatrix" => (cm, by_matrix) = (Some(matrix(v, &p.loc)?), true),
            "basefreq" => {
                if num(v, &p.loc)? != f {
                    return Err(p
                        .loc
                        .err("a line code at another base frequency is not supported"));
                }
            }
            "normamps" | "emergamps" | "faultrate" | "pctperm" | "repair" | "kron" | "rg"
            | "xg" | "rho" | "neutral" => {
                if matches!(p.key.as_str(), "kron" | "neutral") {
                    return Err(p.loc.err(format!("`{}` is not supported", p.key)));
                }
            }
            k => {
                return Err(p
                    .loc
                    .err(format!("line code property `{k}` is not supported")));
            }
        }
    }
    let per_km = 1.0 / units.unwrap_or(1.0);
    let sq = |m: &Vec<Vec<f64>>, what: &str| -> Result<Vec<Vec<f64>>, DssError> {
        if m.len() != n {
            return Err(o.loc.err(format!(
                "{name}: {what} is {}×{} but nphases={n}",
                m.len(),
                m.len()
            )));
        }
        Ok(m.iter()
            .map(|r| r.iter().map(|x| x * per_km).collect())
            .collect())
    };
    let code = if by_matrix || rm.is_some() {
        let zero = vec![vec![0.0; n]; n];
        LineCode {
            name: name.into(),
            phases: n,
            r_ohm_per_km: sq(rm.as_ref().unwrap_or(&zero), "rmatrix")?,
            x_ohm_per_km: sq(xm.as_ref().unwrap_or(&zero), "xmatrix")?,
            c_nf_per_km: match &cm {
                Some(c) => sq(c, "cmatrix")?,
                None => vec![],
            },
        }
    } else {
        let z = sequence_to_phase(C64::new(r1, x1), C64::new(r0, x0), n);
        let c = sequence_to_phase(C64::new(c1, 0.0), C64::new(c0, 0.0), n);
        let pick = |g: &dyn Fn(C64) -> f64, m: &nalgebra::DMatrix<C64>| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| (0..n).map(|j| g(m[(i, j)]) * per_km).collect())
                .collect()
        };
        let cc = pick(&|x| x.re, &c);
        LineCode {
            name: name.into(),
            phases: n,
            r_ohm_per_km: pick(&|x| x.re, &z),
            x_ohm_per_km: pick(&|x| x.im, &z),
            c_nf_per_km: if cc.iter().flatten().all(|&x| x == 0.0) {
                vec![]
            } else {
                cc
            },
        }
    };
    Ok((code, units))
}
