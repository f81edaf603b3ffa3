//! A run directory. The controller writes what it alone knows, `summary.txt` and `events.jsonl`,
//! and hands the run as recorded data (meta, series, events as rows) to a `Recorder` at the
//! binary's edge: `PlainFiles` keeps them as `meta.json` and `series.csv`; the binary's report
//! engine (feature `report`) keeps them as Parquet tables with the report.

use std::path::Path;

use control_core::{Event, LoadSettings};
use record::{EventRow, Expectation, Kind, LoadInfo, Meta, Series, run_dir};

use super::{Run, SiteRun, summary};
use crate::scenario::{Loaded, Site};

/// Where a balancing run's day with the balancer off is written, inside its directory.
pub const BASELINE_DIR: &str = "balancer-off";

/// Where a waveform run's fault records are written as COMTRADE, inside its directory.
pub const FAULTS_DIR: &str = "faults";

/// The file stem of a run's `k`th fault record (from 1): `fault-01-heater`.
pub fn fault_stem(k: usize, rec: &record::FaultRecord) -> String {
    let subject = rec.trips.first().map_or("trip", |t| t.0.as_str());
    let safe: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("fault-{k:02}-{safe}")
}

/// Keeps one run's recording in a directory (the run's own, or its baseline's).
pub trait Recorder {
    fn record(
        &mut self,
        dir: &Path,
        meta: Meta,
        series: &Series,
        events: Vec<EventRow>,
    ) -> Result<(), String>;
}

/// The recording as plain files, `meta.json` and `series.csv`, which `gridtwin report` turns
/// into a report wherever the report engine is built.
pub struct PlainFiles;

impl Recorder for PlainFiles {
    fn record(
        &mut self,
        dir: &Path,
        meta: Meta,
        series: &Series,
        _events: Vec<EventRow>,
    ) -> Result<(), String> {
        run_dir::write_meta(dir, &meta).map_err(|e| e.to_string())?;
        run_dir::write_series(dir, series).map_err(|e| e.to_string())
    }
}

/// What the run directory says about the run besides its tables; `balancer` says whether the
/// balancing the scenario sets up ran (not in its baseline).
pub fn meta(l: &Loaded, r: &Run, balancer: bool) -> Result<Meta, String> {
    let mut m = site_meta(l, balancer)?;
    // A feeder that never solved recorded nothing per home.
    if m.kind == Kind::Feeder && r.series.is_empty() {
        m.loads.clear();
    }
    m.name = r.name.clone();
    m.duration_s = r.duration;
    m.expectations = r
        .outcomes
        .iter()
        .map(|o| Expectation {
            label: o.label.clone(),
            pass: o.pass,
            detail: o.detail.clone(),
        })
        .collect();
    Ok(m)
}

/// What a recording of the scenario's site says besides its tables, whatever span it covers:
/// its kind, members, codes, tariff and settings (a live site's reports start from this, with
/// no duration and no expectations).
pub fn site_meta(l: &Loaded, balancer: bool) -> Result<Meta, String> {
    let s = &l.scenario;
    let (kind, loads, codes, settings) = match &l.site {
        Site::Pdu(p) => {
            let loads = p
                .loads
                .iter()
                .map(|x| LoadInfo {
                    name: x.name.clone(),
                    priority: Some(
                        s.controller
                            .loads
                            .get(&x.name)
                            .map_or(LoadSettings::default().priority, |c| c.priority),
                    ),
                })
                .collect();
            let settings = serde_json::to_value(&s.controller).map_err(|e| e.to_string())?;
            (Kind::Pdu, loads, super::codes(), settings)
        }
        Site::Feeder(f) => {
            let loads = f
                .loads
                .iter()
                .map(|x| LoadInfo {
                    name: x.name.clone(),
                    priority: None,
                })
                .collect();
            let balancing = s.balancing.as_ref().filter(|_| balancer);
            let settings = serde_json::to_value(balancing).map_err(|e| e.to_string())?;
            (Kind::Feeder, loads, super::feeder::codes(), settings)
        }
    };
    Ok(Meta {
        name: s.name.clone(),
        description: s.description.clone(),
        kind,
        start: s.start.0,
        duration_s: 0.0,
        step_s: s.step(),
        record_every_s: s.record_every(),
        loads,
        codes,
        expectations: Vec::new(),
        tariff: s.tariff.clone(),
        settings,
    })
}

/// An event as a row of the recording: its typed fields as they are, the kind's own fields
/// (the values behind it) as the row's detail.
pub fn event_row(e: &Event) -> EventRow {
    let detail = match serde_json::to_value(&e.kind) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("event");
            m
        }
        _ => serde_json::Map::new(),
    };
    EventRow {
        t: e.t,
        severity: e.severity.name().to_string(),
        subject: e.subject.clone(),
        event: e.kind.name().to_string(),
        detail,
    }
}

impl Run {
    /// The run's events as rows of the recording.
    pub fn event_rows(&self) -> Vec<EventRow> {
        self.events.iter().map(event_row).collect()
    }

    /// Writes the run directory: `summary.txt`, `events.jsonl` and the recording through
    /// `recorder`; a balancing run's baseline (the balancer off) likewise into `balancer-off/`.
    pub fn write(&self, l: &Loaded, dir: &Path, recorder: &mut dyn Recorder) -> Result<(), String> {
        if let Some(b) = &self.baseline {
            b.write_one(l, &dir.join(BASELINE_DIR), recorder, false)?;
        }
        self.write_one(l, dir, recorder, true)
    }

    fn write_one(
        &self,
        l: &Loaded,
        dir: &Path,
        recorder: &mut dyn Recorder,
        balancer: bool,
    ) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        run_dir::write_jsonl(&dir.join(run_dir::EVENTS_JSONL), &self.events)
            .map_err(|e| e.to_string())?;
        let path = dir.join("summary.txt");
        std::fs::write(&path, summary::render(self))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if let SiteRun::Pdu(p) = &self.site
            && !p.faults.is_empty()
        {
            let faults = dir.join(FAULTS_DIR);
            std::fs::create_dir_all(&faults).map_err(|e| format!("{}: {e}", faults.display()))?;
            for (k, rec) in p.faults.iter().enumerate() {
                let f = record::comtrade::write(rec, &l.scenario.name, l.scenario.start.0);
                let stem = faults.join(fault_stem(k + 1, rec));
                for (ext, bytes) in [("cfg", f.cfg.as_bytes()), ("dat", &f.dat[..])] {
                    let path = stem.with_extension(ext);
                    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
        recorder.record(
            dir,
            meta(l, self, balancer)?,
            &self.series,
            self.event_rows(),
        )
    }
}

#[cfg(test)]
mod tests {
    /// Every kind the controller logs has its own words, not the plain fallback.
    #[test]
    fn every_event_kind_is_said_in_words() {
        let none = serde_json::Map::new();
        for name in control_core::EVENT_NAMES {
            let plain = format!("s: {}", name.replace('_', " "));
            assert_ne!(record::words::sentence("s", name, &none), plain, "{name}");
        }
    }
}
