//! `gridtwin report RUN_DIR`: a run directory's report written again from its recording;
//! `gridtwin report --data DIR --period day|week|month [--at DATE]`: a live site's report of a
//! period from its store (`gridtwin::site_report`); and the recorder `gridtwin run` writes a run
//! directory with. With the `report` feature that is
//! the report engine (polars tables in Parquet, the summary, the charts, `report.html`);
//! without it (a Pi's build) the plain files `meta.json` and `series.csv`, which
//! `gridtwin report` on another build turns into the same report.

use std::path::{Path, PathBuf};

use controller::run::output::Recorder;

use super::{Failure, Outcome};

/// What the report adds besides its HTML, Markdown and SVG charts.
#[derive(clap::Args, Clone, Copy, Default)]
pub struct Flags {
    /// Also draw the charts as PNG.
    #[arg(long)]
    png: bool,
    /// Also export the tables as CSV (site.csv, loads.csv, events.csv).
    #[arg(long)]
    csv: bool,
    /// Also export the tables as JSON lines (site.jsonl, loads.jsonl, events.jsonl).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct Args {
    /// A run directory (`gridtwin run`'s).
    #[arg(required_unless_present = "data", conflicts_with = "data")]
    dir: Option<PathBuf>,
    /// A live site's data directory, as `serve --data` was given: report a period of its store.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: the period.
    #[arg(long, requires = "data", default_value = "day", value_parser = period)]
    period: gridtwin::site_report::Period,
    /// With --data: a day of the period (YYYY-MM-DD, the site's local calendar); the current
    /// period, so far, when not given.
    #[arg(long, requires = "data")]
    at: Option<chrono::NaiveDate>,
    /// With --data: where to write it; `DATA/reports/LABEL` when not given.
    #[arg(long, requires = "data")]
    out: Option<PathBuf>,
    #[command(flatten)]
    flags: Flags,
}

fn period(s: &str) -> Result<gridtwin::site_report::Period, String> {
    gridtwin::site_report::Period::parse(s)
}

#[cfg(feature = "report")]
mod engine {
    use std::path::Path;

    use std::path::PathBuf;

    use controller::run::output::{BASELINE_DIR, Recorder, Sink};
    use record::{EventRow, Meta, run_dir};
    use reports::{Options, Recording, Report, TableWriter};

    use super::Flags;

    impl Flags {
        pub fn options(self) -> Options {
            Options {
                png: self.png,
                csv: self.csv,
                json: self.json,
            }
        }
    }

    /// The recording as Parquet tables written as the run goes, and the report beside them
    /// at its end, from the tables read back.
    pub struct ReportFiles(pub Options);

    impl Recorder for ReportFiles {
        fn open(
            &mut self,
            dir: &Path,
            site: &Meta,
            names: &[String],
        ) -> Result<Box<dyn Sink>, String> {
            Ok(Box::new(Tables {
                dir: dir.to_path_buf(),
                w: TableWriter::create(dir, site, names).map_err(|e| e.to_string())?,
                opts: self.0,
            }))
        }
    }

    struct Tables {
        dir: PathBuf,
        w: TableWriter,
        opts: Options,
    }

    impl Sink for Tables {
        fn push(&mut self, t: f64, values: &[f64]) -> Result<(), String> {
            self.w.push(t, values).map_err(|e| e.to_string())
        }

        fn close(self: Box<Self>, meta: Meta, events: Vec<EventRow>) -> Result<(), String> {
            self.w.finish(&meta, &events).map_err(|e| e.to_string())?;
            let rec = Recording::read(&self.dir).map_err(|e| e.to_string())?;
            let report = Report::of(&rec)?;
            report
                .write(&rec, &self.dir, self.opts)
                .map_err(|e| e.to_string())
        }
    }

    /// The recording read back and the report written again (and its balancer-off
    /// baseline's, when it has one).
    pub fn rebuild(dir: &Path, opts: Options) -> Result<String, String> {
        let baseline = dir.join(BASELINE_DIR);
        if baseline.join(run_dir::META).exists() {
            rebuild(&baseline, opts)?;
        }
        let rec = Recording::read(dir).map_err(|e| e.to_string())?;
        let report = Report::of(&rec)?;
        report.write(&rec, dir, opts).map_err(|e| e.to_string())?;
        Ok(format!(
            "{}report written to {}",
            report.markdown(&rec),
            dir.join("report.html").display()
        ))
    }
}

/// This build has no report engine: the flags that ask for one are bad input.
#[cfg(not(feature = "report"))]
const NO_ENGINE: &str =
    "this build has no report engine: build with --features report (the default)";

/// How `gridtwin run` keeps a run's recording.
#[cfg(feature = "report")]
pub fn recorder(flags: Flags) -> Result<impl Recorder, Failure> {
    Ok(engine::ReportFiles(flags.options()))
}

#[cfg(not(feature = "report"))]
pub fn recorder(flags: Flags) -> Result<impl Recorder, Failure> {
    if flags.png || flags.csv || flags.json {
        return Err(Failure::BadInput(format!(
            "--png, --csv, --json: {NO_ENGINE}"
        )));
    }
    Ok(controller::run::output::PlainFiles)
}

/// What `gridtwin run` says after writing a run directory without a report.
pub fn note(dir: &Path) -> Option<String> {
    (!cfg!(feature = "report")).then(|| {
        format!(
            "no report in this build (no `report` feature): `gridtwin report {}` on a build with it writes one",
            dir.display()
        )
    })
}

#[cfg(feature = "report")]
pub fn run(a: Args) -> Outcome {
    match (&a.data, &a.dir) {
        (Some(data), _) => live(data, &a),
        (None, Some(dir)) => super::printed(engine::rebuild(dir, a.flags.options())),
        (None, None) => Err(Failure::BadInput(
            "give a run directory or --data DIR".into(),
        )),
    }
}

/// A period of a live site's store, as of now on the wall clock.
#[cfg(feature = "report")]
fn live(data: &Path, a: &Args) -> Outcome {
    use gridtwin::site_report::{self, SITE, SiteRecord, Span};
    let db = super::open_store(data)?;
    let site: SiteRecord = db
        .state(SITE)
        .map_err(|e| Failure::Failed(e.to_string()))?
        .ok_or_else(|| {
            Failure::BadInput(format!(
                "{}: no site description in this store: start `gridtwin serve --data {0}` on it once",
                data.display()
            ))
        })?;
    let cal = site.calendar();
    // A site run faster than real time has readings ahead of the wall clock.
    let last = db
        .last_reading()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let now = gridtwin::store::now_ms().max(last.map_or(i64::MIN, |t| t + 1));
    let span = Span::of(cal, a.period, a.at.unwrap_or_else(|| cal.local(now).date()));
    let dir = a
        .out
        .clone()
        .unwrap_or_else(|| site_report::folder(data, &span));
    let tariff = db
        .setting::<gridtwin::live::ServiceSettings>(gridtwin::live::SETTINGS)
        .map_err(|e| Failure::Failed(e.to_string()))?
        .and_then(|s| s.tariff);
    let opts = a.flags.options();
    let (_, summary) = site_report::write(&db, &span, now, tariff, &dir, opts)
        .map_err(Failure::BadInput)?
        .ok_or_else(|| Failure::BadInput(site_report::empty(&span)))?;
    super::printed(Ok(format!(
        "{summary}report written to {}",
        dir.join("report.html").display()
    )))
}

#[cfg(not(feature = "report"))]
pub fn run(_: Args) -> Outcome {
    Err(Failure::BadInput(NO_ENGINE.into()))
}
