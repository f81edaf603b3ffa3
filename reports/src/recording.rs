//! A run's data as three polars tables and its meta, and their files in a run directory:
//! `site` (one row per recorded instant: sources, bus, switch states, feeder totals), `loads`
//! (one row per load per recorded instant) and `events` (one row per event, its own fields kept
//! as a JSON object in `detail`). Parquet is the stored form; CSV and JSON lines are exports.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

pub use crate::writer::{EVENTS, LOADS, SITE};
use crate::writer::{events_frame, split, write_parquet};
use serde_json::Value;

use record::run_dir::{self, Error};
use record::schema::{HEAD, HEADS_SHOWN, heads_shown, member_quantity};
use record::{EventRow, Meta, Series};

/// A run's recording: its meta, its tables scanned lazily (from Parquet, or held in memory when
/// made from a series), its events. Queries on the tables run on polars' streaming engine
/// (`collect`), so that a run of any length is summarized in bounded memory.
#[derive(Debug, Clone)]
pub struct Recording {
    pub meta: Meta,
    pub site: Table,
    pub loads: Table,
    pub events: Vec<EventRow>,
}

/// One table of a recording: its rows as a lazy frame, and its schema known up front.
#[derive(Clone)]
pub struct Table {
    frame: LazyFrame,
    schema: SchemaRef,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("schema", &self.schema)
            .finish()
    }
}

/// A table's file as polars reads it in bounded memory: as a `file://` URL, read a row group
/// at a time into buffers. A plain path is mapped whole, and every page a query touches stays
/// resident until it ends (a year's loads table is 1.3 GB). A path that a URL would change (a
/// `%` in it) is read mapped.
fn source(path: &Path) -> PolarsResult<PlRefPath> {
    let absolute = std::path::absolute(path)?;
    match absolute.to_str() {
        Some(p) if !p.contains('%') => Ok(PlRefPath::new(format!("file://{p}"))),
        _ => PlRefPath::try_from_path(path),
    }
}

impl Table {
    fn scan(path: &Path) -> Result<Self, Error> {
        let at = |e: PolarsError| Error::at(path, e);
        let mut frame =
            LazyFrame::scan_parquet(source(path).map_err(at)?, ScanArgsParquet::default())
                .map_err(at)?;
        let schema = frame.collect_schema().map_err(at)?;
        Ok(Table { frame, schema })
    }

    fn held(df: DataFrame) -> Self {
        Table {
            schema: df.schema().clone(),
            frame: df.lazy(),
        }
    }

    /// The rows, to query.
    pub fn lazy(&self) -> LazyFrame {
        self.frame.clone()
    }

    pub fn has(&self, column: &str) -> bool {
        self.schema.contains(column)
    }

    pub fn names(&self) -> Vec<String> {
        self.schema.iter_names().map(|n| n.to_string()).collect()
    }

    pub fn height(&self) -> PolarsResult<usize> {
        let df = collect(self.lazy().select([len().alias("n")]))?;
        Ok(df.column("n")?.u32()?.get(0).unwrap_or(0) as usize)
    }

    /// The whole table in memory (for tests and small tables).
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        collect(self.lazy())
    }
}

/// A query run on polars' streaming engine: scans, filters and group-bys hold a morsel of rows
/// at a time, not the table.
pub fn collect(lf: LazyFrame) -> PolarsResult<DataFrame> {
    // One query gives one frame: only `collect_all` gives several.
    Ok(lf.collect_with_engine(Engine::Streaming)?.unwrap_single())
}

impl Recording {
    /// A recording held in memory, from a wide series (see `split`).
    pub fn new(meta: Meta, series: &Series, events: Vec<EventRow>) -> Result<Self, String> {
        let (site, loads) = split(&meta, series)?;
        Ok(Recording {
            meta,
            site: Table::held(site),
            loads: Table::held(loads),
            events,
        })
    }

    /// Writes `meta.json` and the three Parquet tables into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        run_dir::write_meta(dir, &self.meta)?;
        let at = |name: &str| {
            let path = dir.join(name);
            move |e: PolarsError| Error::at(&path, e)
        };
        write_parquet(&dir.join(SITE), &self.site.frame().map_err(at(SITE))?)?;
        write_parquet(&dir.join(LOADS), &self.loads.frame().map_err(at(LOADS))?)?;
        write_parquet(&dir.join(EVENTS), &events_frame(&self.events))
    }

    /// Reads what `write` (or a `TableWriter`) wrote, its tables scanned lazily. A run directory
    /// of plain files (`meta.json`, `series.csv`, `events.jsonl`) that a build without the
    /// report engine wrote is first turned into those tables, in the same directory, a row group
    /// at a time.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        if !dir.join(SITE).exists() && dir.join(run_dir::SERIES_CSV).exists() {
            crate::writer::convert(dir)?;
        }
        let meta = run_dir::read_meta(dir)?;
        let events_path = dir.join(EVENTS);
        let events = read_parquet(&events_path)?;
        let events = events_from_frame(&events).map_err(|e| Error::at(&events_path, e))?;
        Ok(Recording {
            meta,
            site: Table::scan(&dir.join(SITE))?,
            loads: Table::scan(&dir.join(LOADS))?,
            events,
        })
    }

    /// The transformer secondaries (`head/BUS/...`) a report details, in the feeder's order:
    /// every one, or on a feeder of more than `HEADS_SHOWN`, those of the highest peak phase
    /// current (one query over the site table), and how many there are in all.
    pub fn heads_shown(&self) -> PolarsResult<(Vec<String>, usize)> {
        let names = self.site.names();
        let heads: Vec<&str> = names
            .iter()
            .filter_map(|n| n.strip_prefix("head/")?.strip_suffix("/neutral"))
            .collect();
        let all = heads.len();
        if all <= HEADS_SHOWN {
            return Ok((heads.into_iter().map(String::from).collect(), all));
        }
        let phases: Vec<Vec<&str>> = heads
            .iter()
            .map(|h| {
                let current =
                    |n: &&String| member_quantity(HEAD, h, n).is_some_and(|q| q.starts_with("i_"));
                names.iter().filter(current).map(String::as_str).collect()
            })
            .collect();
        let maxima: Vec<Expr> = phases.iter().flatten().map(|n| col(*n).max()).collect();
        let df = collect(self.site.lazy().select(maxima))?;
        let peak = |n: &str| -> PolarsResult<f64> {
            let c = df.column(n)?.cast(&DataType::Float64)?;
            Ok(c.f64()?.get(0).unwrap_or(f64::NAN))
        };
        let peaks = phases
            .iter()
            .map(|cols| {
                let p = cols
                    .iter()
                    .map(|n| peak(n))
                    .collect::<PolarsResult<Vec<_>>>()?;
                Ok(p.into_iter().fold(f64::NAN, f64::max))
            })
            .collect::<PolarsResult<Vec<f64>>>()?;
        let shown = heads_shown(&peaks)
            .into_iter()
            .map(|k| heads[k].to_string());
        Ok((shown.collect(), all))
    }

    /// The events as a table.
    pub fn events_frame(&self) -> DataFrame {
        events_frame(&self.events)
    }

    /// `site.csv`, `loads.csv` and `events.csv` into `dir`, a slice of rows at a time.
    pub fn export_csv(&self, dir: &Path) -> Result<(), Error> {
        let events = Table::held(self.events_frame());
        for (name, table) in [
            ("site.csv", &self.site),
            ("loads.csv", &self.loads),
            ("events.csv", &events),
        ] {
            let path = dir.join(name);
            let file = File::create(&path).map_err(|e| Error::at(&path, e))?;
            let mut w = BufWriter::new(file);
            let mut header = true;
            table.slices(&path, |df| {
                CsvWriter::new(&mut w)
                    .include_header(std::mem::take(&mut header))
                    .finish(df)
                    .map_err(|e| Error::at(&path, e))
            })?;
            w.flush().map_err(|e| Error::at(&path, e))?;
        }
        Ok(())
    }

    /// `site.jsonl`, `loads.jsonl` (one object per row) and `events.jsonl` into `dir`.
    pub fn export_json(&self, dir: &Path) -> Result<(), Error> {
        write_jsonl(&dir.join("site.jsonl"), &self.site)?;
        write_jsonl(&dir.join("loads.jsonl"), &self.loads)?;
        let path = dir.join("events.jsonl");
        let mut w = BufWriter::new(File::create(&path).map_err(|e| Error::at(&path, e))?);
        for e in &self.events {
            writeln!(w, "{}", e.to_json()).map_err(|e| Error::at(&path, e))?;
        }
        w.flush().map_err(|e| Error::at(&path, e))
    }
}

/// Rows an export holds at once.
const SLICE: usize = 65_536;

impl Table {
    /// The rows in order, `SLICE` at a time.
    fn slices(
        &self,
        path: &Path,
        mut each: impl FnMut(&mut DataFrame) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let at = |e: PolarsError| Error::at(path, e);
        let n = self.height().map_err(at)?;
        let mut from = 0;
        while from < n || from == 0 {
            let mut df = collect(self.lazy().slice(from as i64, SLICE as IdxSize)).map_err(at)?;
            each(&mut df)?;
            from += SLICE;
        }
        Ok(())
    }
}

fn read_parquet(path: &Path) -> Result<DataFrame, Error> {
    let file = File::open(path).map_err(|e| Error::at(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::at(path, e))
}

fn events_from_frame(df: &DataFrame) -> PolarsResult<Vec<EventRow>> {
    let t = df.column("t")?.f64()?;
    let text = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect())
    };
    let (severity, subject, event, detail) = (
        text("severity")?,
        text("subject")?,
        text("event")?,
        text("detail")?,
    );
    let mut out = Vec::with_capacity(df.height());
    for (i, t) in t.iter().enumerate() {
        let detail = match serde_json::from_str(&detail[i]) {
            Ok(Value::Object(m)) => m,
            _ => polars_bail!(ComputeError: "event {i}: detail is not a JSON object"),
        };
        out.push(EventRow {
            t: t.unwrap_or(f64::NAN),
            severity: severity[i].clone(),
            subject: subject[i].clone(),
            event: event[i].clone(),
            detail,
        });
    }
    Ok(out)
}

/// One JSON object per row; numbers and texts as they are, missing values as null.
fn write_jsonl(path: &Path, table: &Table) -> Result<(), Error> {
    let mut w = BufWriter::new(File::create(path).map_err(|e| Error::at(path, e))?);
    let names: Vec<String> = table
        .names()
        .iter()
        .map(|n| serde_json::to_string(n.as_str()).expect("a string"))
        .collect();
    table.slices(path, |df| {
        let cols = df.columns();
        for row in 0..df.height() {
            let mut line = String::from("{");
            for (k, c) in cols.iter().enumerate() {
                if k > 0 {
                    line.push(',');
                }
                line.push_str(&names[k]);
                line.push(':');
                let v = match c.get(row).map_err(|e| Error::at(path, e))? {
                    AnyValue::Float64(x) if x.is_finite() => Value::from(x),
                    AnyValue::String(s) => Value::from(s),
                    AnyValue::StringOwned(s) => Value::from(s.as_str()),
                    _ => Value::Null,
                };
                line.push_str(&v.to_string());
            }
            line.push('}');
            writeln!(w, "{line}").map_err(|e| Error::at(path, e))?;
        }
        Ok(())
    })?;
    w.flush().map_err(|e| Error::at(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;
    use record::{Kind, LoadInfo};

    #[test]
    fn a_load_named_like_the_prefix_of_another_keeps_its_own_columns() {
        let (mut meta, _, _) = synthetic::pdu(1, 1.0, 1.0);
        meta.codes.clear();
        meta.loads = ["pump", "pump/2"]
            .map(|n| LoadInfo {
                name: n.into(),
                priority: None,
            })
            .to_vec();
        let mut s = Series::new(["bus/v", "load/pump/p", "load/pump/2/p"]);
        s.push(0.0, &[230.0, 1.0, 2.0]);
        let rec = Recording::new(meta, &s, Vec::new()).unwrap();
        assert_eq!(rec.site.names(), ["t", "bus/v"]);
        assert_eq!(rec.loads.names(), ["t", "load", "p"]);
        let p: Vec<_> = rec
            .loads
            .frame()
            .unwrap()
            .column("p")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(p, [Some(1.0), Some(2.0)]);
    }

    /// Twelve secondaries, head k peaking at (k * 7) % 12 A on one of its two phases: the eight
    /// of the highest peaks, in the feeder's order; a never-energized one (NaN) is not shown.
    #[test]
    fn a_feeder_of_many_heads_details_the_most_loaded_in_its_order() {
        let (mut meta, _, _) = synthetic::pdu(1, 1.0, 1.0);
        meta.kind = Kind::Feeder;
        meta.codes.clear();
        meta.loads.clear();
        let mut names = vec!["feeder/vuf".to_string()];
        for k in 0..12 {
            for q in ["i_A", "i_B", "neutral", "unbalance"] {
                names.push(format!("head/x{k}/{q}"));
            }
        }
        let mut s = Series::new(names.iter().map(String::as_str));
        for t in 0..3 {
            let mut row = vec![0.0];
            for k in 0..12 {
                let peak = if k == 11 {
                    f64::NAN
                } else {
                    ((k * 7) % 12) as f64
                };
                let (a, b) = if t == 1 { (0.0, peak) } else { (0.0, 0.0) };
                row.extend([a, b, 0.0, 0.0]);
            }
            s.push(t as f64, &row);
        }
        let rec = Recording::new(meta, &s, Vec::new()).unwrap();
        let (shown, all) = rec.heads_shown().unwrap();
        // Peaks 0, 7, 2, 9, 4, 11, 6, 1, 8, 3, 10, NaN: the eight highest are 11 to 6, 4 and 3.
        assert_eq!(all, 12);
        assert_eq!(shown, ["x1", "x3", "x4", "x5", "x6", "x8", "x9", "x10"]);
    }
}
