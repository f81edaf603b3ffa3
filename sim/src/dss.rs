//! Import of the OpenDSS subset the IEEE test feeders use, into a `feeder::Feeder`.
//!
//! Commands are read in order into objects, each a list of property assignments that remember
//! where they were written; each class then interprets its list in order (OpenDSS properties
//! are contextual: `wdg=2` changes what `kv=` means). Anything outside the subset fails with
//! file:line, the command and what was not understood.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::feeder::line_constants::{self, Conductor, EarthModel};
use crate::feeder::network::sequence_to_phase;
use crate::feeder::{
    Capacitor, Conn, Feeder, Impedance, Line, LineCode, Load, LoadModel, LoadShape, Regulator,
    Source, Transformer, Winding, model::BusCoord,
};
use num_complex::Complex64 as C64;

/// Where an import failed and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DssError {
    pub file: PathBuf,
    pub line: usize,
    pub command: String,
    pub message: String,
}

impl fmt::Display for DssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.command,
            self.message
        )
    }
}

impl std::error::Error for DssError {}

#[derive(Debug, Clone)]
struct Loc {
    file: PathBuf,
    line: usize,
    command: String,
}

impl Loc {
    fn err(&self, message: impl Into<String>) -> DssError {
        DssError {
            file: self.file.clone(),
            line: self.line,
            command: self.command.clone(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Bracket(String),
    Eq,
}

#[derive(Debug, Clone)]
struct Val {
    text: String,
    bracketed: bool,
}

#[derive(Debug, Clone)]
struct Prop {
    key: String,
    val: Val,
    loc: Loc,
}

#[derive(Debug, Clone)]
struct Object {
    class: String,
    name: String,
    props: Vec<Prop>,
    /// Directory of the file that defined it (for `mult=(file=…)`).
    dir: PathBuf,
    loc: Loc,
}

#[derive(Default)]
struct State {
    circuit: Option<String>,
    objects: Vec<Object>,
    index: HashMap<(String, String), usize>,
    last: Option<usize>,
    frequency: f64,
    earth: EarthModel,
    voltage_bases: Vec<f64>,
    coords: Vec<BusCoord>,
    depth: usize,
}

/// Commands that report or act on a solution; they do not define the feeder.
const OUTPUT_COMMANDS: &[&str] = &[
    "solve",
    "show",
    "plot",
    "export",
    "closedi",
    "sample",
    "visualize",
    "summary",
    "get",
    "help",
];
/// `Set` options that only change reports and solution control, not the feeder.
const IGNORED_OPTIONS: &[&str] = &[
    "mode",
    "number",
    "stepsize",
    "h",
    "hour",
    "sec",
    "year",
    "time",
    "maxiterations",
    "maxiter",
    "tolerance",
    "overloadreport",
    "voltexcept",
    "demand",
    "diverbose",
    "casename",
    "datapath",
    "controlmode",
    "maxcontroliter",
    "loadmult",
    "algorithm",
    "editor",
    "markercode",
    "nodewidth",
    "showexport",
    "normvminpu",
    "normvmaxpu",
    "emergvminpu",
    "emergvmaxpu",
    "loadshapeclass",
    "defaultdaily",
    "defaultyearly",
    "totaltime",
    "log",
];

/// Read MASTER (and what it redirects to) into a feeder.
pub fn import(master: &Path) -> Result<Feeder, DssError> {
    let mut st = State {
        frequency: 60.0,
        ..State::default()
    };
    st.run_file(
        master,
        &Loc {
            file: master.to_path_buf(),
            line: 0,
            command: "compile".into(),
        },
    )?;
    st.build(master)
}

/// A count (phases, conductors, windings, points): a whole number, not so large that memory
/// sized by it could not be had.
fn count(v: &Val, loc: &Loc, key: &str) -> Result<usize, DssError> {
    /// A year of one-minute points, and then some; far more than any phase or wire count.
    const MAX: f64 = 1e7;
    let k = num(v, loc)?;
    if !(k.fract() == 0.0 && (0.0..=MAX).contains(&k)) {
        return Err(loc.err(format!(
            "{key}={}: expected a whole number from 0 to {MAX}",
            v.text
        )));
    }
    Ok(k as usize)
}

/// A phase count: a count of at least one, since an element of no phases has no conductors to
/// connect or to read a voltage across.
fn phase_count(v: &Val, loc: &Loc) -> Result<usize, DssError> {
    match count(v, loc, "phases")? {
        0 => Err(loc.err("phases=0: an element has at least one phase")),
        n => Ok(n),
    }
}

fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '!' || (c == '/' && cs.get(i + 1) == Some(&'/')) {
            break;
        } else if c == '=' {
            out.push(Tok::Eq);
            i += 1;
        } else if let Some(close) = match c {
            '(' => Some(')'),
            '[' => Some(']'),
            '{' => Some('}'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        } {
            let mut depth = 1;
            let mut j = i + 1;
            while j < cs.len() {
                if cs[j] == close && close != c {
                    depth -= 1;
                } else if cs[j] == c && close != c {
                    depth += 1;
                } else if cs[j] == close {
                    depth -= 1;
                }
                if depth == 0 {
                    break;
                }
                j += 1;
            }
            if j >= cs.len() {
                return Err(format!("`{c}` is not closed"));
            }
            out.push(Tok::Bracket(cs[i + 1..j].iter().collect()));
            i = j + 1;
        } else {
            let mut j = i;
            while j < cs.len()
                && !cs[j].is_whitespace()
                && !matches!(cs[j], ',' | '=' | '(' | '[' | '{' | '"' | '\'')
            {
                j += 1;
            }
            out.push(Tok::Word(cs[i..j].iter().collect()));
            i = j;
        }
    }
    Ok(out)
}

/// Pair tokens into (key, value); a value without `key=` gets an empty key.
fn pairs(toks: &[Tok]) -> Result<Vec<(String, Val)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let val = |t: &Tok| match t {
        Tok::Word(w) => Ok(Val {
            text: w.clone(),
            bracketed: false,
        }),
        Tok::Bracket(b) => Ok(Val {
            text: b.clone(),
            bracketed: true,
        }),
        Tok::Eq => Err("`=` without a value".to_string()),
    };
    while i < toks.len() {
        if toks.get(i + 1) == Some(&Tok::Eq) {
            let Tok::Word(k) = &toks[i] else {
                return Err("a property name must be a word".into());
            };
            let v = toks
                .get(i + 2)
                .ok_or_else(|| format!("`{k}=` has no value"))?;
            out.push((k.to_ascii_lowercase(), val(v)?));
            i += 3;
        } else {
            out.push((String::new(), val(&toks[i])?));
            i += 1;
        }
    }
    Ok(out)
}

impl State {
    fn run_file(&mut self, path: &Path, from: &Loc) -> Result<(), DssError> {
        self.depth += 1;
        if self.depth > 16 {
            return Err(from.err("redirects nest more than 16 deep"));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| from.err(format!("cannot read {}: {e}", path.display())))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut in_block = false;
        for (n, raw) in text.lines().enumerate() {
            let mut line = raw.trim();
            if in_block {
                match line.find("*/") {
                    Some(k) => {
                        in_block = false;
                        line = line[k + 2..].trim();
                    }
                    None => continue,
                }
            }
            if line.starts_with("/*") {
                in_block = !line.contains("*/");
                continue;
            }
            let toks = tokenize(line).map_err(|m| {
                Loc {
                    file: path.into(),
                    line: n + 1,
                    command: String::new(),
                }
                .err(m)
            })?;
            let Some(first) = toks.first() else { continue };
            let (verb, rest) = match first {
                Tok::Word(w) if w.starts_with('~') && w.len() > 1 => {
                    let mut t = toks.clone();
                    t[0] = Tok::Word(w[1..].to_string());
                    ("~".to_string(), t)
                }
                Tok::Word(w) => (w.to_ascii_lowercase(), toks[1..].to_vec()),
                _ => continue,
            };
            let loc = Loc {
                file: path.to_path_buf(),
                line: n + 1,
                command: verb.clone(),
            };
            self.command(&verb, &rest, &loc, &dir)?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn command(&mut self, verb: &str, toks: &[Tok], loc: &Loc, dir: &Path) -> Result<(), DssError> {
        let props = || pairs(toks).map_err(|m| loc.err(m));
        match verb {
            "clear" | "clearall" => {
                let keep = self.depth;
                *self = State {
                    frequency: self.frequency,
                    depth: keep,
                    ..State::default()
                };
            }
            "set" => {
                for (k, v) in props()? {
                    match k.as_str() {
                        "defaultbasefrequency" | "defaultbasefreq" => {
                            self.frequency = num(&v, loc)?
                        }
                        "earthmodel" => match v.text.to_ascii_lowercase().as_str() {
                            "carson" => self.earth = EarthModel::Carson,
                            "deri" => self.earth = EarthModel::Deri,
                            other => {
                                return Err(loc.err(format!(
                                    "earth model `{other}` is not supported; use carson or deri"
                                )));
                            }
                        },
                        "voltagebases" => self.voltage_bases = nums(&v, loc)?,
                        k if IGNORED_OPTIONS.contains(&k) => {}
                        k => return Err(loc.err(format!("option `{k}` is not supported"))),
                    }
                }
            }
            "new" | "edit" => {
                let mut ps = props()?;
                if ps.is_empty() {
                    return Err(loc.err("no object named"));
                }
                let spec = ps.remove(0);
                if !(spec.0.is_empty() || spec.0 == "object") {
                    return Err(loc.err("the object (Class.Name) must come first"));
                }
                let (class, name) = spec
                    .1
                    .text
                    .split_once('.')
                    .map(|(c, n)| (c.to_ascii_lowercase(), n.to_ascii_lowercase()))
                    .ok_or_else(|| loc.err(format!("`{}` is not Class.Name", spec.1.text)))?;
                let class = if class == "circuit" {
                    self.circuit = Some(name.clone());
                    // A circuit brings its source, `Vsource.source`.
                    self.object("vsource", "source", loc, dir, verb == "new")?
                } else {
                    if verb == "edit" && !self.index.contains_key(&(class.clone(), name.clone())) {
                        return Err(loc.err(format!("no {class}.{name} to edit")));
                    }
                    self.object(&class, &name, loc, dir, verb == "new")?
                };
                self.add(class, ps, loc);
            }
            "~" | "more" => {
                let last = self.last.ok_or_else(|| loc.err("nothing to continue"))?;
                let ps = props()?;
                self.add(last, ps, loc);
            }
            "redirect" | "compile" => {
                let (_, v) = props()?
                    .into_iter()
                    .next()
                    .ok_or_else(|| loc.err("no file named"))?;
                self.run_file(&dir.join(&v.text), loc)?;
            }
            "batchedit" => {
                let mut ps = props()?;
                if ps.is_empty() {
                    return Err(loc.err("no objects named"));
                }
                let spec = ps.remove(0).1.text;
                let (class, pattern) = spec
                    .split_once('.')
                    .ok_or_else(|| loc.err(format!("`{spec}` is not Class.pattern")))?;
                let class = class.to_ascii_lowercase();
                let re = regex_lite::Regex::new(&format!("^(?i:{pattern})$"))
                    .map_err(|e| loc.err(format!("bad pattern `{pattern}`: {e}")))?;
                let hits: Vec<usize> = (0..self.objects.len())
                    .filter(|&i| {
                        self.objects[i].class == class && re.is_match(&self.objects[i].name)
                    })
                    .collect();
                for i in hits {
                    self.add(i, ps.clone(), loc);
                }
                self.last = None;
            }
            "buscoords" | "buscoordinates" => {
                let (_, v) = props()?
                    .into_iter()
                    .next()
                    .ok_or_else(|| loc.err("no file named"))?;
                let path = dir.join(&v.text);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| loc.err(format!("cannot read {}: {e}", path.display())))?;
                for (n, l) in text.lines().enumerate() {
                    let f: Vec<&str> = l
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if f.is_empty() {
                        continue;
                    }
                    let bad = || {
                        Loc {
                            file: path.clone(),
                            line: n + 1,
                            command: "buscoords".into(),
                        }
                        .err(format!("expected `bus x y`, found `{l}`"))
                    };
                    if f.len() < 3 {
                        return Err(bad());
                    }
                    let x = f[1].parse().map_err(|_| bad())?;
                    let y = f[2].parse().map_err(|_| bad())?;
                    self.coords.push(BusCoord {
                        bus: f[0].to_ascii_lowercase(),
                        x,
                        y,
                    });
                }
            }
            "calcvoltagebases" | "calcv" => {
                if self.voltage_bases.is_empty() {
                    return Err(loc.err("no voltage bases set"));
                }
            }
            v if OUTPUT_COMMANDS.contains(&v) => {}
            v => return Err(loc.err(format!("command `{v}` is not supported"))),
        }
        Ok(())
    }

    fn object(
        &mut self,
        class: &str,
        name: &str,
        loc: &Loc,
        dir: &Path,
        new: bool,
    ) -> Result<usize, DssError> {
        const CLASSES: &[&str] = &[
            "vsource",
            "linecode",
            "line",
            "transformer",
            "regcontrol",
            "load",
            "capacitor",
            "loadshape",
            "wiredata",
            // Meters and monitors only observe the circuit: accepted and left out.
            "linegeometry",
            "energymeter",
            "monitor",
        ];
        if !CLASSES.contains(&class) {
            return Err(loc.err(format!("class `{class}` is not supported")));
        }
        let key = (class.to_string(), name.to_string());
        let i = match self.index.get(&key) {
            Some(&i) if !new || class == "vsource" => i,
            _ => {
                self.objects.push(Object {
                    class: class.into(),
                    name: name.into(),
                    props: vec![],
                    dir: dir.to_path_buf(),
                    loc: loc.clone(),
                });
                self.index.insert(key, self.objects.len() - 1);
                self.objects.len() - 1
            }
        };
        self.last = Some(i);
        Ok(i)
    }

    fn add(&mut self, i: usize, ps: Vec<(String, Val)>, loc: &Loc) {
        self.last = Some(i);
        let o = &mut self.objects[i];
        o.props.extend(ps.into_iter().map(|(key, val)| Prop {
            key,
            val,
            loc: loc.clone(),
        }));
    }

    fn of_class(&self, class: &str) -> impl Iterator<Item = &Object> + '_ {
        let class = class.to_string();
        self.objects.iter().filter(move |o| o.class == class)
    }

    fn build(&self, master: &Path) -> Result<Feeder, DssError> {
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
        let mut transformers = Vec::new();
        let mut tap_ranges = HashMap::new();
        for o in self.of_class("transformer") {
            let (t, step) = transformer(o)?;
            tap_ranges.insert(t.name.clone(), step);
            transformers.push(t);
        }
        let regulators = self
            .of_class("regcontrol")
            .map(|o| regulator(o, &tap_ranges, &mut transformers))
            .collect::<Result<Vec<_>, _>>()?;
        let loads = self
            .of_class("load")
            .map(load)
            .collect::<Result<Vec<_>, _>>()?;
        let load_shapes = self
            .of_class("loadshape")
            .map(loadshape)
            .collect::<Result<Vec<_>, _>>()?;
        for (o, l) in self.of_class("load").zip(&loads) {
            if let Some(s) = &l.shape
                && !load_shapes.iter().any(|x| &x.name == s)
            {
                return Err(o.loc.err(format!(
                    "load {} uses load shape `{s}`, which is not defined",
                    l.name
                )));
            }
        }
        let capacitors = self
            .of_class("capacitor")
            .map(capacitor)
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
            load_shapes,
            coordinates: self.coords.clone(),
        })
    }

    fn source(&self, o: &Object) -> Result<Source, DssError> {
        const ORDER: &[&str] = &[
            "bus1",
            "basekv",
            "pu",
            "angle",
            "frequency",
            "phases",
            "mvasc3",
            "mvasc1",
            "x1r1",
            "x0r0",
            "isc3",
            "isc1",
            "r1",
            "x1",
            "r0",
            "x0",
        ];
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
        let mut last = None::<usize>;
        for p in &o.props {
            let key = if p.key.is_empty() {
                let k = last.map_or(0, |k| k + 1);
                *ORDER
                    .get(k)
                    .ok_or_else(|| p.loc.err("too many positional values for the circuit"))?
            } else {
                p.key.as_str()
            };
            last = ORDER.iter().position(|k| *k == key);
            let v = &p.val;
            match key {
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
                        .position(|x| *x == key)
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

    fn line(
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
                | "rho" | "like" => {
                    if p.key == "like" {
                        return Err(p.loc.err("`like` is not supported"));
                    }
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

fn geometry_code(
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
fn wire_data(o: &Object) -> Result<(f64, f64, f64, f64), DssError> {
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
fn linecode(o: &Object, name: &str, f: f64) -> Result<(LineCode, Option<f64>), DssError> {
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

/// A transformer and its tap step.
fn transformer(o: &Object) -> Result<(Transformer, f64), DssError> {
    let mut phases = 3usize;
    let mut n = 2usize;
    let mut w: Vec<Winding> = (0..2)
        .map(|_| Winding {
            bus: String::new(),
            conn: Conn::Wye,
            kv: 12.47,
            kva: 1000.0,
            r_pct: 0.2,
            tap: 1.0,
        })
        .collect();
    let mut active = 0usize;
    let (mut xhl, mut imag, mut nll, mut ppm) = (7.0, 0.0, 0.0, 1.0);
    let (mut maxtap, mut mintap, mut numtaps) = (1.1, 0.9, 32.0);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "phases" => phases = phase_count(v, &p.loc)?,
            "windings" => {
                n = count(v, &p.loc, "windings")?;
                if n != 2 {
                    return Err(p.loc.err(format!(
                        "{n} windings: only two-winding transformers are supported"
                    )));
                }
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
            "%loadloss" => {
                let r = num(v, &p.loc)? / 2.0;
                w.iter_mut().for_each(|x| x.r_pct = r);
            }
            "%imag" => imag = num(v, &p.loc)?,
            "%noloadloss" => nll = num(v, &p.loc)?,
            "ppm_antifloat" | "ppm" => ppm = num(v, &p.loc)?,
            "maxtap" => maxtap = num(v, &p.loc)?,
            "mintap" => mintap = num(v, &p.loc)?,
            "numtaps" => numtaps = num(v, &p.loc)?,
            "sub" | "bank" | "normhkva" | "emerghkva" | "thermal" | "n" | "m" | "flrise"
            | "hsrise" | "xrconst" => {}
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
        imag_pct: imag,
        noload_loss_pct: nll,
        ppm_antifloat: ppm,
    };
    Ok((t, (maxtap - mintap) / numtaps))
}

fn regulator(
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
            "delay" | "tapdelay" | "maxtapchange" | "debugtrace" | "inversetime" | "ptphase"
            | "vlimit" => {}
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

fn load(o: &Object) -> Result<Load, DssError> {
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
    let mut pf = 0.88;
    let mut kvar = None::<f64>;
    let mut model = 1;
    let mut zipv = None::<Vec<f64>>;
    let (mut yearly, mut daily) = (None, None);
    for p in &o.props {
        let v = &p.val;
        match p.key.as_str() {
            "bus1" => l.bus = v.text.clone(),
            "phases" => l.phases = phase_count(v, &p.loc)?,
            "conn" => l.conn = conn(&v.text, &p.loc)?,
            "kv" => l.kv = num(v, &p.loc)?,
            "kw" => l.kw = num(v, &p.loc)?,
            "pf" => (pf, kvar) = (num(v, &p.loc)?, None),
            "kvar" => kvar = Some(num(v, &p.loc)?),
            "model" => model = num(v, &p.loc)? as i32,
            "vminpu" => l.vminpu = num(v, &p.loc)?,
            "vmaxpu" => l.vmaxpu = num(v, &p.loc)?,
            "yearly" => yearly = Some(v.text.to_ascii_lowercase()),
            "daily" => daily = Some(v.text.to_ascii_lowercase()),
            "zipv" => zipv = Some(nums(v, &p.loc)?),
            "duty" | "status" | "class" | "growth" | "spectrum" | "xfkva" | "allocationfactor"
            | "basefreq" | "enabled" | "vlowpu" | "numcust" | "%seriesrl" | "normamps"
            | "emergamps" => {
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
    l.kvar = kvar.unwrap_or_else(|| {
        let pf = pf.clamp(-1.0, 1.0);
        if pf == 0.0 {
            0.0
        } else {
            l.kw * (1.0 / (pf * pf) - 1.0).sqrt() * pf.signum()
        }
    });
    l.model = match model {
        1 => LoadModel::ConstantPower,
        2 => LoadModel::ConstantImpedance,
        3 => LoadModel::Zip {
            p: [0.0, 0.0, 1.0],
            q: [1.0, 0.0, 0.0],
            cutoff_pu: 0.0,
        },
        5 => LoadModel::ConstantCurrent,
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
                "load {}: model={m} is not supported (1, 2, 3, 5, 8 are)",
                o.name
            )));
        }
    };
    l.shape = yearly.or(daily);
    Ok(l)
}

fn capacitor(o: &Object) -> Result<Capacitor, DssError> {
    let mut c = Capacitor {
        name: o.name.clone(),
        bus: String::new(),
        phases: 3,
        conn: Conn::Wye,
        kv: 12.47,
        kvar: 1200.0,
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
            "states" => on = nums(v, &p.loc)?.iter().any(|&s| s != 0.0),
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

fn loadshape(o: &Object) -> Result<LoadShape, DssError> {
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
                        let text = std::fs::read_to_string(&path).map_err(|e| {
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

fn conn(s: &str, loc: &Loc) -> Result<Conn, DssError> {
    match s.to_ascii_lowercase().as_str() {
        "wye" | "y" | "ln" => Ok(Conn::Wye),
        "delta" | "d" | "ll" => Ok(Conn::Delta),
        o => Err(loc.err(format!("connection `{o}` is neither wye nor delta"))),
    }
}

fn each(
    v: &Val,
    n: usize,
    loc: &Loc,
    mut f: impl FnMut(usize, &str) -> Result<(), DssError>,
) -> Result<(), DssError> {
    let items: Vec<&str> = v
        .text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > n {
        return Err(loc.err(format!("{} values for {n} windings", items.len())));
    }
    for (k, s) in items.iter().enumerate() {
        f(k, s)?;
    }
    Ok(())
}

fn boolean(v: &Val, loc: &Loc) -> Result<bool, DssError> {
    match v.text.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "t" => Ok(true),
        "n" | "no" | "false" | "f" => Ok(false),
        o => Err(loc.err(format!("`{o}` is not yes or no"))),
    }
}

/// km in one `units`, or `None` for `none`.
fn unit_km(s: &str, loc: &Loc) -> Result<Option<f64>, DssError> {
    Ok(Some(match s.to_ascii_lowercase().as_str() {
        "none" => return Ok(None),
        "mi" => 1.609_344,
        "kft" => 0.3048,
        "km" => 1.0,
        "m" => 1e-3,
        "ft" => 0.3048e-3,
        "in" => 0.0254e-3,
        "cm" => 1e-5,
        "mm" => 1e-6,
        o => return Err(loc.err(format!("unknown length unit `{o}`"))),
    }))
}

fn parse_num(s: &str, loc: &Loc) -> Result<f64, DssError> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| loc.err(format!("`{s}` is not a number")))
}

/// A number, or an RPN expression in brackets: `(8 1000 /)`.
fn num(v: &Val, loc: &Loc) -> Result<f64, DssError> {
    if !v.bracketed {
        return parse_num(&v.text, loc);
    }
    let mut stack: Vec<f64> = Vec::new();
    for t in v.text.split_whitespace() {
        let bin = |st: &mut Vec<f64>, f: fn(f64, f64) -> f64| -> Result<(), DssError> {
            let (b, a) = (st.pop(), st.pop());
            match (a, b) {
                (Some(a), Some(b)) => {
                    st.push(f(a, b));
                    Ok(())
                }
                _ => Err(loc.err(format!("RPN `{}`: `{t}` needs two values", v.text))),
            }
        };
        match t {
            "+" => bin(&mut stack, |a, b| a + b)?,
            "-" => bin(&mut stack, |a, b| a - b)?,
            "*" => bin(&mut stack, |a, b| a * b)?,
            "/" => bin(&mut stack, |a, b| a / b)?,
            "^" => bin(&mut stack, f64::powf)?,
            "sqrt" => {
                let a = stack
                    .pop()
                    .ok_or_else(|| loc.err("RPN sqrt needs a value"))?;
                stack.push(a.sqrt());
            }
            "pi" => stack.push(PI),
            _ => stack.push(parse_num(t, loc)?),
        }
    }
    match stack[..] {
        [x] => Ok(x),
        _ => Err(loc.err(format!("`({})` is not one number", v.text))),
    }
}

fn nums(v: &Val, loc: &Loc) -> Result<Vec<f64>, DssError> {
    v.text
        .split(|c: char| c == ',' || c == '|' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| parse_num(s, loc))
        .collect()
}

/// A symmetric matrix written as its lower triangle (rows split by `|`) or in full.
fn matrix(v: &Val, loc: &Loc) -> Result<Vec<Vec<f64>>, DssError> {
    let x = nums(v, loc)?;
    let n_full = (x.len() as f64).sqrt().round() as usize;
    let n_tri = (((8 * x.len() + 1) as f64).sqrt().round() as usize).saturating_sub(1) / 2;
    if n_tri * (n_tri + 1) / 2 == x.len() && v.text.contains('|')
        || (n_full * n_full != x.len() && n_tri * (n_tri + 1) / 2 == x.len())
    {
        let n = n_tri;
        let at = |i: usize, j: usize| {
            let (a, b) = if i >= j { (i, j) } else { (j, i) };
            x[a * (a + 1) / 2 + b]
        };
        Ok((0..n).map(|i| (0..n).map(|j| at(i, j)).collect()).collect())
    } else if n_full * n_full == x.len() {
        Ok((0..n_full)
            .map(|i| x[i * n_full..(i + 1) * n_full].to_vec())
            .collect())
    } else {
        Err(loc.err(format!(
            "{} values make neither a full nor a triangular matrix",
            x.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Import a master file of `body` after a circuit at line 2; it must be refused.
    fn refused(body: &str) -> DssError {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.dss");
        std::fs::write(
            &master,
            format!("clear\nnew circuit.c basekv=12.47 phases=3\n{body}"),
        )
        .unwrap();
        import(&master).expect_err(body)
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): `nconds=4e126` sized a vector by it.
    #[test]
    fn a_count_too_large_or_not_whole_is_an_error_not_an_allocation() {
        for (prop, says) in [
            ("nconds=4e126", "nconds=4e126: expected a whole number"),
            ("nconds=2.5", "nconds=2.5: expected a whole number"),
            ("nphases=-3", "nphases=-3: expected a whole number"),
        ] {
            let e = refused(&format!(
                "new linegeometry.g {prop} reduce=yes\n\
                 new line.l bus1=sourcebus bus2=n2 geometry=g length=1 units=km\n"
            ));
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains(says), "{prop}: {e}");
        }
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): `wdg=0` subtracted one from zero.
    #[test]
    fn a_winding_number_out_of_range_is_an_error_not_a_panic() {
        for (wdg, says) in [
            ("0", "wdg=0"),
            ("-1", "wdg=-1"),
            ("3", "wdg=3"),
            ("1.5", "wdg=1.5"),
        ] {
            let e = refused(&format!(
                "new transformer.t phases=3 windings=2\n\
                 ~ wdg={wdg} bus=n2 conn=delta kv=12.47 kva=6000\n"
            ));
            assert_eq!(e.line, 4, "{e}");
            assert!(e.message.contains(says), "{wdg}: {e}");
        }
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): a regulator on a `phases=0` transformer
    /// read past its conductors. No element may have no phases.
    #[test]
    fn an_element_of_no_phases_is_refused_where_it_says_so() {
        for element in [
            "new transformer.t phases=0 buses=[sourcebus.1 n2.1] kvs=[2.4 2.4]",
            "new line.l phases=0 bus1=sourcebus bus2=n2 r1=0.1 x1=0.1",
            "new linecode.c nphases=0 r1=0.1 x1=0.1",
            "new load.d phases=0 bus1=sourcebus kv=12.47 kw=10",
            "new capacitor.c phases=0 bus1=sourcebus kv=12.47 kvar=100",
        ] {
            let e = refused(&format!("{element}\n"));
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains("phases=0"), "{element}: {e}");
        }
    }

    #[test]
    fn tokens_pair_keys_values_and_brackets() {
        let t = tokenize("~ rmatrix = (0.3465 | 0.1560 0.3375) units=mi ! comment").unwrap();
        let p = pairs(&t[1..]).unwrap();
        assert_eq!(p[0].0, "rmatrix");
        assert!(p[0].1.bracketed);
        assert_eq!(p[1].0, "units");
        assert_eq!(p[1].1.text, "mi");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn rpn_and_matrices() {
        let loc = Loc {
            file: "x".into(),
            line: 1,
            command: "new".into(),
        };
        assert_eq!(
            num(
                &Val {
                    text: "8 1000 /".into(),
                    bracketed: true
                },
                &loc
            )
            .unwrap(),
            0.008
        );
        let m = matrix(
            &Val {
                text: "1 | 2 3".into(),
                bracketed: true,
            },
            &loc,
        )
        .unwrap();
        assert_eq!(m, vec![vec![1.0, 2.0], vec![2.0, 3.0]]);
        let m = matrix(
            &Val {
                text: "1 2 2 3".into(),
                bracketed: true,
            },
            &loc,
        )
        .unwrap();
        assert_eq!(m, vec![vec![1.0, 2.0], vec![2.0, 3.0]]);
        assert!(
            num(
                &Val {
                    text: "8 /".into(),
                    bracketed: true
                },
                &loc
            )
            .is_err()
        );
    }
}
