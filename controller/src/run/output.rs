//! A run directory: the run handed to the reports crate as its recording (meta, site, loads and
//! events tables in Parquet), the report built from it, and the text summary and JSON event log.

use std::io::Write;
use std::path::Path;

use reports::{EventRow, Expectation, Kind, LoadInfo, Meta, Options, Recording, Report};

use super::{Run, SiteRun, summary};
use crate::core::settings::LoadSettings;
use crate::scenario::{Loaded, Site};

/// Where a balancing run's day with the balancer off is written, inside its directory.
pub const BASELINE_DIR: &str = "balancer-off";

/// The run as the reports crate records it; `balancer` says whether the balancing the scenario
/// sets up ran (not in its baseline).
pub fn recording(l: &Loaded, r: &Run, balancer: bool) -> Result<Recording, String> {
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
    let meta = Meta {
        name: r.name.clone(),
        description: s.description.clone(),
        kind,
        start: s.start.0,
        duration_s: r.duration,
        step_s: s.step(),
        record_every_s: s.record_every(),
        loads,
        codes,
        expectations: r
            .outcomes
            .iter()
            .map(|o| Expectation {
                label: o.label.clone(),
                pass: o.pass,
                detail: o.detail.clone(),
            })
            .collect(),
        tariff: s.tariff.clone(),
        settings,
    };
    let events = r
        .events
        .iter()
        .map(|e| EventRow::from_json(serde_json::to_value(e).map_err(|e| e.to_string())?))
        .collect::<Result<Vec<_>, _>>()?;
    // A feeder that never solved recorded nothing per home.
    if matches!(r.site, SiteRun::Feeder(_)) && r.series.is_empty() {
        return Recording::new(
            Meta {
                loads: Vec::new(),
                ..meta
            },
            &r.series,
            events,
        );
    }
    Recording::new(meta, &r.series, events)
}

impl Run {
    /// Writes the run directory: `summary.txt`, `events.jsonl`, the recording and the report;
    /// a balancing run's baseline (the balancer off) likewise into `balancer-off/`.
    pub fn write(&self, l: &Loaded, dir: &Path, opts: Options) -> Result<Report, String> {
        if let Some(b) = &self.baseline {
            b.write_one(l, &dir.join(BASELINE_DIR), opts, false)?;
        }
        self.write_one(l, dir, opts, true)
    }

    fn write_one(
        &self,
        l: &Loaded,
        dir: &Path,
        opts: Options,
        balancer: bool,
    ) -> Result<Report, String> {
        let at = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        std::fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
        let path = dir.join("events.jsonl");
        let file = std::fs::File::create(&path).map_err(|e| at(&path, e))?;
        let mut ev = std::io::BufWriter::new(file);
        for e in &self.events {
            serde_json::to_writer(&mut ev, e).map_err(|e| e.to_string())?;
            ev.write_all(b"\n").map_err(|e| at(&path, e))?;
        }
        ev.flush().map_err(|e| at(&path, e))?;
        let path = dir.join("summary.txt");
        std::fs::write(&path, summary::render(self)).map_err(|e| at(&path, e))?;
        let rec = recording(l, self, balancer)?;
        rec.write(dir).map_err(|e| e.to_string())?;
        let report = Report::of(&rec)?;
        report.write(&rec, dir, opts).map_err(|e| e.to_string())?;
        Ok(report)
    }
}
