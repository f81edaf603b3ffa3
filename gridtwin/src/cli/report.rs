//! `gridtwin report RUN_DIR`: a run directory's report written again from its recording, and
//! the recorder `gridtwin run` writes a run directory with. With the `report` feature that is
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
    dir: PathBuf,
    #[command(flatten)]
    flags: Flags,
}

#[cfg(feature = "report")]
mod engine {
    use std::path::Path;

    use controller::run::output::{BASELINE_DIR, Recorder};
    use record::{EventRow, Meta, Series, run_dir};
    use reports::{Options, Recording, Report};

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

    /// The recording as Parquet tables, and the report beside them.
    pub struct ReportFiles(pub Options);

    impl Recorder for ReportFiles {
        fn record(
            &mut self,
            dir: &Path,
            meta: Meta,
            series: &Series,
            events: Vec<EventRow>,
        ) -> Result<(), String> {
            let rec = Recording::new(meta, series, events)?;
            rec.write(dir).map_err(|e| e.to_string())?;
            let report = Report::of(&rec)?;
            report.write(&rec, dir, self.0).map_err(|e| e.to_string())
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
    super::printed(engine::rebuild(&a.dir, a.flags.options()))
}

#[cfg(not(feature = "report"))]
pub fn run(_: Args) -> Outcome {
    Err(Failure::BadInput(NO_ENGINE.into()))
}
