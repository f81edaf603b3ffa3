//! The objects interpreted into a feeder: the circuit and its source, then every class in turn.

use std::collections::HashMap;
use std::path::Path;

use crate::feeder::{Feeder, Impedance, Line, LoadModel, LoadShape, Source};

use super::controls::{cap_control, regulator};
use super::elements::{LoadStatus, capacitor, load, loadshape, reactor, transformer};
use super::generation::{generator, pv_system};
use super::lines::linecode;
use super::script::State;
use super::values::num;
use super::{DssError, Loc, Object, ReadFile};

impl State {
    pub(super) fn build(&self, master: &Path, read: ReadFile<'_>) -> Result<Feeder, DssError> {
        let top = Loc {
            file: master.to_path_buf(),
            line: 1,
            command: "compile".into(),
        };
        let name = self
            .circuit
            .clone()
            .ok_or_else(|| top.err("no `New Circuit`"))?;
        let f = self.frequency;
        let source = self.source(
            self.objects
                .get(self.index[&("vsource".to_string(), "source".to_string())])
                .expect("circuit"),
        )?;
        let mut line_codes = Vec::new();
        let mut code_units = HashMap::new();
        for o in self.of_class("linecode") {
            let (code, unit) = linecode(o, &o.name, f)?;
            code_units.insert(o.name.clone(), unit);
            line_codes.push(code);
        }
        let wires: HashMap<&str, &Object> = self
            .of_class("wiredata")
            .map(|o| (o.name.as_str(), o))
            .collect();
        let geometries: HashMap<&str, &Object> = self
            .of_class("linegeometry")
            .map(|o| (o.name.as_str(), o))
            .collect();
        let mut lines = Vec::new();
        for o in self.of_class("line") {
            let l = self.line(o, &code_units, &geometries, &wires, &mut line_codes)?;
            lines.extend(l);
        }
        for o in self.of_class("swtcontrol") {
            self.switch_control(o, &mut lines)?;
        }
        let mut transformers = Vec::new();
        let mut tap_ranges = HashMap::new();
        let codes: HashMap<&str, &Object> = self
            .of_class("xfmrcode")
            .map(|o| (o.name.as_str(), o))
            .collect();
        for o in self.of_class("transformer") {
            let (t, step) = transformer(&with_xfmrcode(o, &codes)?)?;
            tap_ranges.insert(t.name.clone(), step);
            transformers.push(t);
        }
        let mut regulators = self
            .of_class("regcontrol")
            .map(|o| regulator(o, &tap_ranges, &mut transformers))
            .collect::<Result<Vec<_>, _>>()?;
        if self.controls_off {
            regulators.iter_mut().for_each(|r| r.enabled = false);
        }
        let mut loads = Vec::new();
        for o in self.of_class("load") {
            let Some((mut l, status)) = load(o)? else {
                continue;
            };
            // OpenDSS multiplies the power the load draws, not the rated kvar a fixed-Q
            // model holds.
            if let Some(m) = self.load_mult
                && status == LoadStatus::Variable
            {
                l.kw *= m;
                if !matches!(l.model, LoadModel::FixedQ | LoadModel::FixedQImpedance) {
                    l.kvar *= m;
                }
            }
            loads.push((o, l));
        }
        let mut load_shapes = self
            .of_class("loadshape")
            .map(|o| loadshape(o, read))
            .collect::<Result<Vec<_>, _>>()?;
        if loads
            .iter()
            .any(|(_, l)| l.shape.as_deref() == Some("default"))
            && !load_shapes.iter().any(|s| s.name == "default")
        {
            load_shapes.push(default_load_shape());
        }
        for (o, l) in &loads {
            if let Some(s) = &l.shape
                && !load_shapes.iter().any(|x| &x.name == s)
            {
                return Err(o.loc.err(format!(
                    "load {} uses load shape `{s}`, which is not defined",
                    l.name
                )));
            }
        }
        let loads = loads.into_iter().map(|(_, l)| l).collect();
        let capacitors = self
            .of_class("capacitor")
            .map(capacitor)
            .collect::<Result<Vec<_>, _>>()?;
        let mut generators = Vec::new();
        for o in self.of_class("generator").chain(self.of_class("pvsystem")) {
            let g = if o.class == "generator" {
                generator(o)?
            } else {
                pv_system(o)?
            };
            if let Some(g) = g {
                if let Some(s) = &g.shape
                    && !load_shapes.iter().any(|x| &x.name == s)
                {
                    return Err(o.loc.err(format!(
                        "{} {} uses load shape `{s}`, which is not defined",
                        o.class, g.name
                    )));
                }
                generators.push(g);
            }
        }
        let cap_controls = self
            .of_class("capcontrol")
            .map(cap_control)
            .collect::<Result<Vec<_>, _>>()?;
        let reactors = self
            .of_class("reactor")
            .map(|o| reactor(o, f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Feeder {
            name,
            frequency_hz: f,
            source,
            voltage_bases_kv: self.voltage_bases.clone(),
            line_codes,
            lines,
            transformers,
            regulators,
            loads,
            capacitors,
            generators,
            cap_controls,
            reactors,
            load_shapes,
            coordinates: self.coords.clone(),
        })
    }

    /// A switch control leaves its line in the switch's normal position (or, without one, in
    /// the state or action it was given). A disabled line stays out.
    fn switch_control(&self, o: &Object, lines: &mut [Line]) -> Result<(), DssError> {
        let (mut line, mut normal, mut present) = (None, None, None);
        for p in &o.props {
            let v = &p.val;
            let position = || match v.text.to_ascii_lowercase().chars().next() {
                Some('o') | Some('t') => Ok(false),
                Some('c') => Ok(true),
                _ => Err(p.loc.err(format!("`{}`: open or closed", v.text))),
            };
            match p.key.as_str() {
                "switchedobj" => {
                    let t = v.text.to_ascii_lowercase();
                    let name = t.strip_prefix("line.").ok_or_else(|| {
                        p.loc
                            .err(format!("switchedobj={t}: only a line is switched"))
                    })?;
                    line = Some((name.to_string(), p.loc.clone()));
                }
                "normal" => normal = Some(position()?),
                "state" | "action" => present = Some(position()?),
                "switchedterm" | "lock" | "delay" | "reset" | "enabled" | "basefreq" => {}
                k => {
                    return Err(p
                        .loc
                        .err(format!("swtcontrol property `{k}` is not supported")));
                }
            }
        }
        let Some((name, loc)) = line else {
            return Err(o.loc.err(format!("swtcontrol {}: no switchedobj", o.name)));
        };
        if !self.index.contains_key(&("line".to_string(), name.clone())) {
            return Err(loc.err(format!("switchedobj=line.{name}: no such line")));
        }
        if let (Some(l), Some(closed)) = (
            lines
                .iter_mut()
                .find(|l| l.name.eq_ignore_ascii_case(&name)),
            normal.or(present),
        ) {
            l.closed = closed;
        }
        Ok(())
    }

    pub(super) fn source(&self, o: &Object) -> Result<Source, DssError> {
        let (mut bus, mut kv, mut pu, mut angle) = ("sourcebus".to_string(), 115.0, 1.0, 0.0);
        let (mut mva3, mut mva1, mut x1r1, mut x0r0) = (2000.0, 2100.0, 4.0, 3.0);
        let (mut isc3, mut isc1) = (None, None);
        let mut z = [None::<f64>; 4];
        #[derive(PartialEq)]
        enum By {
            Mva,
            Isc,
            Z,
        }
        let mut by = By::Mva;
        for p in &o.props {
            let v = &p.val;
            match p.key.as_str() {
                "bus1" => bus = v.text.to_ascii_lowercase(),
                "basekv" => kv = num(v, &p.loc)?,
                "pu" => pu = num(v, &p.loc)?,
                "angle" => angle = num(v, &p.loc)?,
                "phases" if num(v, &p.loc)? == 3.0 => {}
                "frequency" | "basefreq" | "enabled" => {}
                "mvasc3" => (mva3, by) = (num(v, &p.loc)?, By::Mva),
                "mvasc1" => (mva1, by) = (num(v, &p.loc)?, By::Mva),
                "x1r1" => x1r1 = num(v, &p.loc)?,
                "x0r0" => x0r0 = num(v, &p.loc)?,
                "isc3" => (isc3, by) = (Some(num(v, &p.loc)?), By::Isc),
                "isc1" => (isc1, by) = (Some(num(v, &p.loc)?), By::Isc),
                "r1" | "x1" | "r0" | "x0" => {
                    let k = ["r1", "x1", "r0", "x0"]
                        .iter()
                        .position(|x| *x == p.key)
                        .expect("listed");
                    z[k] = Some(num(v, &p.loc)?);
                    by = By::Z;
                }
                k => return Err(p.loc.err(format!("source property `{k}` is not supported"))),
            }
        }
        let vln = kv * 1000.0 / 3f64.sqrt();
        let (z1, z0) = if by == By::Z {
            let g = |k: usize| z[k].unwrap_or(0.0);
            (
                Impedance { r: g(0), x: g(1) },
                Impedance { r: g(2), x: g(3) },
            )
        } else {
            let to_i = |mva: f64| mva * 1e6 / (3f64.sqrt() * kv * 1000.0);
            let (i3, i1) = if by == By::Isc {
                (isc3.unwrap_or(10041.0), isc1.unwrap_or(10500.0))
            } else {
                (to_i(mva3), to_i(mva1))
            };
            let r1 = vln / i3 / (1.0 + x1r1 * x1r1).sqrt();
            let x1 = r1 * x1r1;
            let a = 1.0 + x0r0 * x0r0;
            let b = 4.0 * (r1 + x1 * x0r0);
            let c = 4.0 * (r1 * r1 + x1 * x1) - (3.0 * vln / i1).powi(2);
            let r0 = (-b + (b * b - 4.0 * a * c).max(0.0).sqrt()) / (2.0 * a);
            if r0.is_nan() || r0 < 0.0 {
                return Err(o.loc.err(
                    "single-phase short-circuit level is larger than the three-phase one allows",
                ));
            }
            (
                Impedance { r: r1, x: x1 },
                Impedance {
                    r: r0,
                    x: r0 * x0r0,
                },
            )
        };
        Ok(Source {
            bus,
            kv,
            pu,
            angle_deg: angle,
            z1,
            z0,
        })
    }
}

/// The load shape OpenDSS defines itself as `default`: a day in hourly multipliers.
fn default_load_shape() -> LoadShape {
    LoadShape {
        name: "default".into(),
        interval_min: 60.0,
        mult: vec![
            0.677, 0.6256, 0.6087, 0.5833, 0.58028, 0.6025, 0.657, 0.7477, 0.832, 0.88, 0.94,
            0.989, 0.985, 0.98, 0.9898, 0.999, 1.0, 0.958, 0.936, 0.913, 0.876, 0.876, 0.828,
            0.756,
        ],
        use_actual: false,
    }
}

/// A transformer with each `xfmrcode=NAME` replaced, at its place, by the code's properties
/// (its windings, ratings, impedances and taps, as OpenDSS fetches a code; a code has no
/// buses), so that what follows overrides them.
fn with_xfmrcode(o: &Object, codes: &HashMap<&str, &Object>) -> Result<Object, DssError> {
    if !o.props.iter().any(|p| p.key == "xfmrcode") {
        return Ok(o.clone());
    }
    let mut out = Object {
        props: Vec::with_capacity(o.props.len()),
        ..o.clone()
    };
    for p in &o.props {
        if p.key != "xfmrcode" {
            out.props.push(p.clone());
            continue;
        }
        let name = p.val.text.to_ascii_lowercase();
        let code = codes
            .get(name.as_str())
            .ok_or_else(|| p.loc.err(format!("xfmrcode={name}: no xfmrcode.{name}")))?;
        out.props.extend(code.props.iter().cloned());
    }
    Ok(out)
}
