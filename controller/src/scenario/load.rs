//! Reading and validating a scenario. Every error names the file, the line and column, and what
//! was expected; nothing here panics on input.

use sim::feeder::street::{self, StreetSpec};
use std::path::{Path, PathBuf};

use ron::extensions::Extensions;
use sim::PduSpec;
use sim::feeder::Feeder;

use super::format::{Action, BackendKind, Grid, Scenario};
use control_core::Positive;

/// A scenario ready to run: the file's contents with the grid resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub site: Site,
    pub path: PathBuf,
    /// How a PDU run measures and switches: the file's `backend` until the runner changes it
    /// (`set_backend`).
    pub backend: BackendKind,
}

/// The grid a scenario runs on.
#[derive(Debug, Clone)]
pub enum Site {
    Pdu(PduSpec),
    Feeder(Box<Feeder>),
}

impl Loaded {
    /// Run on `backend` instead of the file's. Bus faults in the timeline need the emulated
    /// bus.
    pub fn set_backend(&mut self, backend: BackendKind) -> Result<(), String> {
        fn has_bus_fault(a: &Action) -> bool {
            match a {
                Action::BusFault { .. } | Action::ControllerHang { .. } => true,
                Action::Repeat { action, .. } => has_bus_fault(action),
                _ => false,
            }
        }
        if !backend.is_emulated_hil()
            && self
                .scenario
                .timeline
                .iter()
                .any(|e| has_bus_fault(&e.action))
        {
            return Err(format!(
                "{}: the timeline has bus faults or a controller hang, which need --backend emulated-hil",
                self.path.display()
            ));
        }
        fn has_field_fault(a: &Action) -> bool {
            match a {
                Action::FieldFault { .. } => true,
                Action::Repeat { action, .. } => has_field_fault(action),
                _ => false,
            }
        }
        let timeline = &self.scenario.timeline;
        if backend != BackendKind::EmulatedField
            && timeline.iter().any(|e| has_field_fault(&e.action))
        {
            return Err(format!(
                "{}: the timeline has field faults, which need --backend emulated-field",
                self.path.display()
            ));
        }
        if backend == BackendKind::EmulatedField {
            if matches!(self.site, Site::Pdu(_)) {
                return Err(format!(
                    "{}: the emulated-field backend runs a feeder's home nodes; this grid is a PDU",
                    self.path.display()
                ));
            }
            crate::field::emulated_link(self.scenario.balancing.as_ref())
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        if backend.is_emulated_hil() && !matches!(self.site, Site::Pdu(_)) {
            return Err(format!(
                "{}: the emulated-hil backend runs PDUs; this grid is a feeder",
                self.path.display()
            ));
        }
        if backend == BackendKind::EmulatedMeters && !matches!(self.site, Site::Pdu(_)) {
            return Err(format!(
                "{}: the emulated-meters backend meters a PDU's circuits; this grid is a feeder",
                self.path.display()
            ));
        }
        self.backend = backend;
        Ok(())
    }

    pub fn pdu(&self) -> Option<&PduSpec> {
        match &self.site {
            Site::Pdu(p) => Some(p),
            Site::Feeder(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

fn ron_options() -> ron::Options {
    ron::Options::default()
        .with_default_extension(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// RON text read from `path` as a `T`, with the scenario format's extensions; a syntax or
/// type error carries the file's line and column.
pub fn parse_ron<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ScenarioError> {
    ron_options().from_str(text).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: e.span.start.line,
        col: e.span.start.col,
        message: e.code.to_string(),
    })
}

/// Read and validate a scenario file.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        message: format!("cannot read the scenario: {e}"),
    })?;
    parse(path, &text)
}

/// Validate scenario text; `path` names it in errors and anchors relative file references.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let scenario: Scenario = parse_ron(path, text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let v = Validator {
        file: &file,
        text,
        base,
        backend: scenario.backend,
        alert_subjects: scenario
            .alerts
            .iter()
            .map(|r| r.scope.subject().to_string())
            .collect(),
    };
    let mut scenario = scenario;
    let site = match &scenario.grid {
        Grid::Pdu(p) => Site::Pdu(p.clone()),
        Grid::PduFile(rel) => Site::Pdu(v.grid_file(rel)?),
        Grid::Feeder(f) => Site::Feeder(f.clone()),
        Grid::FeederFile(rel) => Site::Feeder(Box::new(v.feeder_file(rel)?)),
        &Grid::Street {
            setting,
            homes,
            seed,
        } => {
            let spec = StreetSpec {
                setting,
                homes,
                seed,
            };
            Site::Feeder(Box::new(
                street::generate(spec).map_err(|e| v.at("grid", Some("Street"), e))?,
            ))
        }
    };
    if let Some(t) = &scenario.tariff {
        t.validate().map_err(|e| v.at("tariff", None, e))?;
    }
    let site = match site {
        Site::Pdu(mut pdu) => {
            let one = |x: f64| Positive::new(x).expect("valid literal");
            scenario.step.get_or_insert(one(0.02));
            scenario.record_every.get_or_insert(one(1.0));
            if scenario.balancing.is_some() {
                return Err(v.at(
                    "balancing",
                    None,
                    "phase balancing moves a feeder's homes; this grid is a PDU".into(),
                ));
            }
            v.check_grid(&mut pdu)?;
            v.check_run(&scenario)?;
            v.check_pdu(&scenario, &pdu)?;
            Site::Pdu(pdu)
        }
        Site::Feeder(f) => {
            let step = *scenario
                .step
                .get_or_insert(Positive::new(60.0).expect("valid literal"));
            scenario.record_every.get_or_insert(step);
            v.check_run(&scenario)?;
            v.check_feeder(&scenario, &f)?;
            Site::Feeder(f)
        }
    };
    Ok(Loaded {
        backend: scenario.backend,
        scenario,
        site,
        path: path.to_path_buf(),
    })
}

pub(super) struct Validator<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) base: &'a Path,
    pub(super) backend: BackendKind,
    /// What the alert rules' events are about ("site", a group's name), besides the grid's
    /// own names.
    pub(super) alert_subjects: Vec<String>,
}

impl Validator<'_> {
    pub(super) fn alert_subject(&self, s: &str) -> bool {
        self.alert_subjects.iter().any(|a| a == s)
    }
}

impl Validator<'_> {
    /// An error at the first `"needle"` after the `section:` key (or at the key itself).
    pub(super) fn at(&self, section: &str, needle: Option<&str>, message: String) -> ScenarioError {
        let (line, col) = locate(self.text, section, needle);
        ScenarioError {
            file: self.file.to_string(),
            line,
            col,
            message,
        }
    }

    /// A grid in a RON file named relative to the scenario; a file that cannot be read is
    /// reported where the scenario names it.
    pub(super) fn grid_file<T: serde::de::DeserializeOwned>(
        &self,
        rel: &str,
    ) -> Result<T, ScenarioError> {
        let path = self.base.join(rel);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.at(
                "grid",
                Some(rel),
                format!("cannot read grid file {}: {e}", path.display()),
            )
        })?;
        parse_ron(&path, &text)
    }

    /// The scenario's alert rules against the site's channels.
    pub(super) fn check_alerts(
        &self,
        s: &Scenario,
        channels: Vec<record::schema::Channel>,
    ) -> Result<(), ScenarioError> {
        let names: Vec<String> = channels.into_iter().map(|c| c.name).collect();
        match crate::alerts::alerts(&s.alerts, &names, s.start.0) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.at("alerts", Some(&s.alerts[e.index].name), e.message)),
        }
    }

    pub(super) fn check_run(&self, s: &Scenario) -> Result<(), ScenarioError> {
        if s.step() > s.duration.get() {
            return Err(self.at("step", None, "step must not exceed duration".into()));
        }
        if s.record_every() < s.step() {
            return Err(self.at(
                "record_every",
                None,
                "record_every must be at least one step".into(),
            ));
        }
        // A year at 20 ms is 1.6e9 steps, which the streamed recording runs in a day's memory;
        // ten times that is a typo, not a run.
        if s.duration.get() / s.step() > 1e10 {
            return Err(self.at("duration", None, "more than 1e10 steps".into()));
        }
        Ok(())
    }
}

/// Line and column (1-based) of the first `"needle"` after the `section` key, or of the key.
pub(super) fn locate(text: &str, section: &str, needle: Option<&str>) -> (usize, usize) {
    let key = find_key(text, section).unwrap_or(0);
    let pos = needle
        .and_then(|n| {
            let quoted = format!("\"{n}\"");
            text[key..]
                .find(&quoted)
                .map(|p| key + p)
                .or_else(|| text[key..].find(n).map(|p| key + p))
        })
        .unwrap_or(key);
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1) + 1;
    (line, col)
}

/// Byte offset of `key` used as a field name (followed by `:`), or as a bare word.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = text[from..].find(key) {
        let at = from + p;
        let rest = text[at + key.len()..].trim_start();
        let word_start =
            at == 0 || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if word_start && (rest.starts_with(':') || rest.starts_with('(')) {
            return Some(at);
        }
        from = at + key.len();
    }
    text.find(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_the_name_inside_its_section() {
        let text = "(\n  grid: (\"pump\"),\n  timeline: [\n    (do: On(\"pump\")),\n  ],\n)";
        assert_eq!(locate(text, "timeline", Some("pump")), (4, 13));
        assert_eq!(locate(text, "grid", Some("pump")), (2, 10));
        assert_eq!(locate(text, "timeline", None), (3, 3));
    }
}
