//! The script run in order: files and redirects, `Set` options, objects created, edited and
//! extended, bus coordinates; what defines no feeder skipped.

use std::collections::HashMap;
use std::path::Path;

use crate::feeder::line_constants::EarthModel;
use crate::feeder::model::BusCoord;

use super::lexer::{Tok, pairs, tokenize};
use super::values::{num, nums};
use super::{DssError, Loc, Object, Prop, ReadFile, Val};

#[derive(Default)]
pub(super) struct State {
    pub(super) circuit: Option<String>,
    pub(super) objects: Vec<Object>,
    pub(super) index: HashMap<(String, String), usize>,
    pub(super) last: Option<usize>,
    pub(super) frequency: f64,
    pub(super) earth: EarthModel,
    pub(super) voltage_bases: Vec<f64>,
    pub(super) coords: Vec<BusCoord>,
    pub(super) depth: usize,
    /// `Set loadmult`: scales every load whose status is variable (1 when unset).
    pub(super) load_mult: Option<f64>,
    /// `Set controlmode=off`: regulators hold their taps.
    pub(super) controls_off: bool,
}

/// The most property assignments one object may collect (through `like=` copies).
const MAX_PROPS: usize = 10_000;

/// Commands that report or act on a solution; they do not define the feeder.
pub(super) const OUTPUT_COMMANDS: &[&str] = &[
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
pub(super) const IGNORED_OPTIONS: &[&str] = &[
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
    "maxcontroliter",
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

impl State {
    pub(super) fn run_file(
        &mut self,
        path: &Path,
        from: &Loc,
        read: ReadFile<'_>,
    ) -> Result<(), DssError> {
        self.depth += 1;
        if self.depth > 16 {
            return Err(from.err("redirects nest more than 16 deep"));
        }
        let text =
            read(path).map_err(|e| from.err(format!("cannot read {}: {e}", path.display())))?;
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
            self.command(&verb, &rest, &loc, &dir, read)?;
        }
        self.depth -= 1;
        Ok(())
    }

    pub(super) fn command(
        &mut self,
        verb: &str,
        toks: &[Tok],
        loc: &Loc,
        dir: &Path,
        read: ReadFile<'_>,
    ) -> Result<(), DssError> {
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
                        "loadmult" => self.load_mult = Some(num(&v, loc)?),
                        "controlmode" => {
                            self.controls_off = match v.text.to_ascii_lowercase().as_str() {
                                "off" => true,
                                "static" | "event" | "time" | "multirate" => false,
                                other => {
                                    return Err(loc.err(format!(
                                        "control mode `{other}`: expected off, static, event, \
                                         time or multirate"
                                    )));
                                }
                            }
                        }
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
                self.add(class, ps, loc)?;
            }
            "~" | "more" => {
                let last = self.last.ok_or_else(|| loc.err("nothing to continue"))?;
                let ps = props()?;
                self.add(last, ps, loc)?;
            }
            "redirect" | "compile" => {
                let (_, v) = props()?
                    .into_iter()
                    .next()
                    .ok_or_else(|| loc.err("no file named"))?;
                self.run_file(&dir.join(&v.text), loc, read)?;
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
                    self.add(i, ps.clone(), loc)?;
                }
                self.last = None;
            }
            "buscoords" | "buscoordinates" => {
                let (_, v) = props()?
                    .into_iter()
                    .next()
                    .ok_or_else(|| loc.err("no file named"))?;
                let path = dir.join(&v.text);
                let text = read(&path)
                    .map_err(|e| loc.err(format!("cannot read {}: {e}", path.display())))?;
                for (n, l) in text.lines().enumerate() {
                    // OpenDSS's comments: `!` and `//` to the end of the line.
                    let data = l.split(['!']).next().unwrap_or("");
                    let data = data.split("//").next().unwrap_or("");
                    let f: Vec<&str> = data
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
            // `Class.Name.property=value`: one property of an object that exists.
            v if toks.first() == Some(&Tok::Eq) && v.matches('.').count() >= 2 => {
                let (object, property) = v.rsplit_once('.').unwrap_or_default();
                let (class, name) = object.split_once('.').unwrap_or_default();
                let i = *self
                    .index
                    .get(&(class.to_string(), name.to_string()))
                    .ok_or_else(|| loc.err(format!("no {class}.{name} to set")))?;
                let mut assignment = vec![Tok::Word(property.to_string())];
                assignment.extend_from_slice(toks);
                let ps = pairs(&assignment).map_err(|m| loc.err(m))?;
                self.add(i, ps, loc)?;
                // OpenDSS's `~` continues the object a `New` or `Edit` named, not this one.
                self.last = None;
            }
            v => return Err(loc.err(format!("command `{v}` is not supported"))),
        }
        Ok(())
    }

    pub(super) fn object(
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
            "reactor",
            "xfmrcode",
            "capcontrol",
            "generator",
            "pvsystem",
            "loadshape",
            "wiredata",
            "linegeometry",
            "swtcontrol",
            // Meters and monitors only observe the circuit, and fuses, reclosers and relays in
            // their normal (closed) state do not change it: accepted and left out.
            "energymeter",
            "monitor",
            "fuse",
            "recloser",
            "relay",
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

    /// Properties `ps` appended to object `i`. `like=NAME` copies, at its place, every
    /// property NAME (of the same class) has been given so far but its buses, as OpenDSS
    /// copies an object's values; what follows it overrides them.
    pub(super) fn add(
        &mut self,
        i: usize,
        ps: Vec<(String, Val)>,
        loc: &Loc,
    ) -> Result<(), DssError> {
        self.last = Some(i);
        let mut previous: Option<String> = None;
        for (key, val) in ps {
            let class = &self.objects[i].class;
            // Classes the importer only reads past (meters, monitors) keep unnamed values as
            // they are; the others name them by OpenDSS's order.
            let key = if key.is_empty() && super::positional::knows(class) {
                let named = super::positional::next_property(class, previous.as_deref())
                    .ok_or_else(|| {
                        loc.err(format!(
                            "`{}`: a value without a property name, and no {class} property \
                             comes after {}",
                            val.text,
                            previous.as_deref().unwrap_or("the start")
                        ))
                    })?;
                named.to_string()
            } else {
                key
            };
            previous = Some(key.clone());
            if key == "like" {
                let class = self.objects[i].class.clone();
                let name = val.text.to_ascii_lowercase();
                let &j = self
                    .index
                    .get(&(class.clone(), name.clone()))
                    .ok_or_else(|| loc.err(format!("like={name}: no {class}.{name} to copy")))?;
                // Objects copying each other in turn would double their lists each time.
                if self.objects[i].props.len() + self.objects[j].props.len() > MAX_PROPS {
                    return Err(loc.err(format!(
                        "like={name}: more than {MAX_PROPS} property assignments"
                    )));
                }
                // OpenDSS copies the values but not the connections: the copy keeps its buses.
                let copied: Vec<Prop> = self.objects[j]
                    .props
                    .iter()
                    .filter(|p| !matches!(p.key.as_str(), "bus" | "bus1" | "bus2" | "buses"))
                    .cloned()
                    .collect();
                self.objects[i].props.extend(copied);
                continue;
            }
            self.objects[i].props.push(Prop {
                key,
                val,
                loc: loc.clone(),
            });
        }
        Ok(())
    }

    pub(super) fn of_class(&self, class: &str) -> impl Iterator<Item = &Object> + '_ {
        let class = class.to_string();
        self.objects.iter().filter(move |o| o.class == class)
    }
}
