//! A run directory. The controller writes what it alone knows, `summary.txt` and `events.jsonl`,
//! and streams the run's recorded rows, as it makes them, to a `Recorder`'s `Sink` at the
//! binary's edge (through `Tapes`), closing it with the meta and the events as rows at the
//! end: `PlainFiles` keeps them as `meta.json` and `series.csv`; the binary's report engine
//! (feature `report`) as Parquet tables, a row group at a time, with the report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use control_core::{Event, LoadSettings};
use record::{EventRow, Expectation, Kind, LoadInfo, Meta, run_dir};

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

/// Keeps a run's recording in a directory as the run makes it: rows streamed while it runs, so
/// that a run of any length holds none of them in memory.
pub trait Recorder {
    /// The recording of one run directory (the run's own, or its baseline's), of the site `site`
    /// describes (as before the run: no duration, no expectations), its channels `names` (`t`
    /// first) in the order rows give them.
    fn open(&mut self, dir: &Path, site: &Meta, names: &[String]) -> Result<Box<dyn Sink>, String>;
}

/// One recording being written.
pub trait Sink {
    /// One recorded row: its time and a value per channel.
    fn push(&mut self, t: f64, values: &[f64]) -> Result<(), String>;
    /// The run's end: what the run directory says about it, and its events.
    fn close(self: Box<Self>, meta: Meta, events: Vec<EventRow>) -> Result<(), String>;
}

/// The recording as plain files, `meta.json` and `series.csv`, which `gridtwin report` turns
/// into a report wherever the report engine is built.
pub struct PlainFiles;

impl Recorder for PlainFiles {
    fn open(&mut self, dir: &Path, _: &Meta, names: &[String]) -> Result<Box<dyn Sink>, String> {
        let w = run_dir::SeriesWriter::create(dir, names).map_err(|e| e.to_string())?;
        Ok(Box::new(PlainSink {
            dir: dir.to_path_buf(),
            w,
        }))
    }
}

struct PlainSink {
    dir: PathBuf,
    w: run_dir::SeriesWriter,
}

impl Sink for PlainSink {
    fn push(&mut self, t: f64, values: &[f64]) -> Result<(), String> {
        self.w.push(t, values).map_err(|e| e.to_string())
    }

    fn close(self: Box<Self>, meta: Meta, _: Vec<EventRow>) -> Result<(), String> {
        self.w.finish().map_err(|e| e.to_string())?;
        run_dir::write_meta(&self.dir, &meta).map_err(|e| e.to_string())
    }
}

/// Where a run's parts (a balancing run's baseline, then the run) send their rows as they are
/// recorded, and whether the run is to stop early (ctrl-c). A part that fails to record stops
/// the run; the failure is the recording's.
pub struct Tapes<'a> {
    to: Option<(&'a Path, &'a mut dyn Recorder)>,
    stop: Option<&'a AtomicBool>,
    /// The open parts, in the order they ran: (whether it is the baseline, its sink).
    parts: Vec<(bool, Box<dyn Sink>)>,
    rows: u64,
    failed: Option<String>,
}

impl<'a> Tapes<'a> {
    /// Rows kept nowhere: a run only checked.
    pub fn none() -> Self {
        Tapes {
            to: None,
            stop: None,
            parts: Vec::new(),
            rows: 0,
            failed: None,
        }
    }

    /// Rows kept by `recorder` in `dir` (a baseline's in `dir/balancer-off`).
    pub fn to(dir: &'a Path, recorder: &'a mut dyn Recorder) -> Self {
        Tapes {
            to: Some((dir, recorder)),
            ..Tapes::none()
        }
    }

    /// The run stops at the end of the step in which `stop` is set, as if it had been that
    /// long, its recording whole.
    pub fn stopping_on(mut self, stop: &'a AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Whether the run is to stop now: told to, or its recording failed.
    pub(crate) fn halted(&self) -> bool {
        self.failed.is_some() || self.stop.is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// The next part starts, recording `names` (`t` first).
    pub(crate) fn open(&mut self, l: &Loaded, baseline: bool, names: &[String]) {
        self.rows = 0;
        let Some((dir, recorder)) = &mut self.to else {
            return;
        };
        let dir = if baseline {
            dir.join(BASELINE_DIR)
        } else {
            dir.to_path_buf()
        };
        let opened = std::fs::create_dir_all(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))
            .and_then(|()| site_meta(l, !baseline))
            .and_then(|site| recorder.open(&dir, &site, names));
        match opened {
            Ok(sink) => self.parts.push((baseline, sink)),
            Err(e) => self.failed = Some(e),
        }
    }

    /// One row of the part running.
    pub(crate) fn push(&mut self, t: f64, values: &[f64]) {
        self.rows += 1;
        if self.failed.is_some() {
            return;
        }
        if let Some((_, sink)) = self.parts.last_mut()
            && let Err(e) = sink.push(t, values)
        {
            self.failed = Some(e);
        }
    }

    /// How many rows the part running has recorded.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Each part's recording closed with its run's meta and events.
    fn close(self, l: &Loaded, r: &Run) -> Result<(), String> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        for (baseline, sink) in self.parts {
            let part = match (&r.baseline, baseline) {
                (Some(b), true) => b,
                _ => r,
            };
            sink.close(meta(l, part, !baseline)?, part.event_rows())?;
        }
        Ok(())
    }
}

/// What the run directory says about the run besides its tables; `balancer` says whether the
/// balancing the scenario sets up ran (not in its baseline).
pub fn meta(l: &Loaded, r: &Run, balancer: bool) -> Result<Meta, String> {
    let mut m = site_meta(l, balancer)?;
    // A feeder that never solved recorded nothing per home.
    if m.kind == Kind::Feeder && r.rows == 0 {
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

    /// Writes what the run leaves besides its recording into `dir`: `summary.txt`,
    /// `events.jsonl` and the fault records (a balancing run's baseline's likewise into
    /// `balancer-off/`), then closes the recording `tapes` kept.
    pub fn write(&self, l: &Loaded, dir: &Path, tapes: Tapes) -> Result<(), String> {
        if let Some(b) = &self.baseline {
            b.write_one(l, &dir.join(BASELINE_DIR))?;
        }
        self.write_one(l, dir)?;
        tapes.close(l, self)
    }

    fn write_one(&self, l: &Loaded, dir: &Path) -> Result<(), String> {
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
        Ok(())
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
