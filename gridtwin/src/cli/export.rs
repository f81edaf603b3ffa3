//! `gridtwin export --data DIR`: a live site's stored readings over a range as CSV, JSON (with
//! the range's events) or an Excel workbook, as the API's `/api/export` gives them.

use std::io::Write;
use std::path::PathBuf;

use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};

use super::{Failure, Outcome, Verdict, open_store};
use gridtwin::export::{Format, export};
use gridtwin::store::now_ms;

#[derive(clap::Args)]
pub struct Args {
    /// The data directory, as `serve --data` was given.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// The start: a local date (`2026-12-01`), date and time (`2026-12-01T06:00`) or unix ms.
    /// Default: a day before `--to`.
    #[arg(long)]
    from: Option<String>,
    /// The end (excluded), in the same forms. Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Comma-separated channel names (`gridtwin status` lists them). Default: every channel.
    #[arg(long, value_delimiter = ',')]
    channels: Vec<String>,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Where to write it (an xlsx needs one). Default: standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// A time as the flags take it, unix ms.
fn instant(flag: &str, s: &str) -> Result<i64, Failure> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN))
        })
        .map_err(|_| {
            Failure::BadInput(format!(
                "--{flag} {s:?}: expected a date (2026-12-01), a date and time \
                 (2026-12-01T06:00) or unix ms"
            ))
        })?;
    Local
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| Failure::BadInput(format!("--{flag} {s:?}: no such local time")))
}

pub fn run(a: Args) -> Outcome {
    let to = a.to.as_deref().map_or(Ok(now_ms()), |s| instant("to", s))?;
    let from = a
        .from
        .as_deref()
        .map_or(Ok(to - 86_400_000), |s| instant("from", s))?;
    if from >= to {
        return Err(Failure::BadInput(format!(
            "--from must come before --to ({from} ≥ {to} unix ms)"
        )));
    }
    if a.format == Format::Xlsx && a.out.is_none() {
        return Err(Failure::BadInput(
            "an xlsx export is a file: give --out FILE.xlsx".into(),
        ));
    }
    let db = open_store(&a.data)?;
    let channels = if a.channels.is_empty() {
        let all = db
            .channel_list()
            .map_err(|e| Failure::Failed(e.to_string()))?;
        all.into_iter().map(|c| c.0).collect()
    } else {
        a.channels
    };
    let bytes = export(&db, &channels, from, to, a.format).map_err(|e| match e {
        gridtwin::store::StoreError::Invalid(m) => Failure::BadInput(m),
        e => Failure::Failed(e.to_string()),
    })?;
    match &a.out {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?,
        None => {
            // A closed pipe (`| head`) is not an error of ours.
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
    }
    Ok(Verdict::Passed)
}
