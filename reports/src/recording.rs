//! A run's data as three polars tables and its meta, and their files in a run directory:
//! `site` (one row per recorded instant: sources, bus, switch states, feeder totals), `loads`
//! (one row per load per recorded instant) and `events` (one row per event, its own fields kept
//! as a JSON object in `detail`). Parquet is the stored form; CSV and JSON lines are exports.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use record::run_dir::{self, Error};
use record::schema;
use record::{EventRow, Kind, Meta, Series};

pub const SITE: &str = "site.parquet";
pub const LOADS: &str = "loads.parquet";
pub const EVENTS: &str = "events.parquet";

#[derive(Debug, Clone)]
pub struct Recording {
    pub meta: Meta,
    pub site: DataFrame,
    pub loads: DataFrame,
    pub events: Vec<EventRow>,
}

impl Recording {
    /// Splits a wide series (`t`, site channels, then each member's channels for every load in
    /// `meta.loads`: `load/NAME/quantity` of a PDU, `home/NAME/quantity` of a feeder) into the
    /// site and loads tables; coded columns become their labels.
    pub fn new(meta: Meta, series: &Series, events: Vec<EventRow>) -> Result<Self, String> {
        let names = series.names();
        let scope = match meta.kind {
            Kind::Pdu => schema::LOAD,
            Kind::Feeder => schema::HOME,
        };
        // The load whose channel this is.
        let owner =
            |col: &str| schema::owner(scope, meta.loads.iter().map(|l| l.name.as_str()), col);
        let mut site = Vec::new();
        let mut quantities: Vec<String> = Vec::new();
        for name in names {
            match owner(name) {
                None => site.push(column(
                    &meta,
                    name,
                    name,
                    series.column(name).unwrap_or(&[]),
                )),
                Some(i) => {
                    if i == 0
                        && let Some(q) = schema::member_quantity(scope, &meta.loads[0].name, name)
                    {
                        quantities.push(q.to_string());
                    }
                }
            }
        }
        let site = DataFrame::new(series.len(), site).map_err(|e| e.to_string())?;

        let n = series.len() * meta.loads.len();
        let t = series.column("t").unwrap_or(&[]);
        let mut cols = vec![
            Column::new("t".into(), t.repeat(meta.loads.len())),
            Column::new(
                "load".into(),
                meta.loads
                    .iter()
                    .flat_map(|l| std::iter::repeat_n(l.name.as_str(), t.len()))
                    .collect::<Vec<_>>(),
            ),
        ];
        for q in &quantities {
            let mut values = Vec::with_capacity(n);
            for l in &meta.loads {
                let name = schema::member(scope, &l.name, q);
                let c = series
                    .column(&name)
                    .ok_or_else(|| format!("load {:?} has no column {name:?}", l.name))?;
                values.extend_from_slice(c);
            }
            cols.push(column(&meta, q, q, &values));
        }
        let loads = DataFrame::new(n, cols).map_err(|e| e.to_string())?;
        Ok(Recording {
            meta,
            site,
            loads,
            events,
        })
    }

    /// Writes `meta.json` and the three Parquet tables into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        run_dir::write_meta(dir, &self.meta)?;
        write_parquet(&dir.join(SITE), &self.site)?;
        write_parquet(&dir.join(LOADS), &self.loads)?;
        write_parquet(&dir.join(EVENTS), &self.events_frame())
    }

    /// Reads what `write` wrote, or a run directory of plain files (`meta.json`, `series.csv`,
    /// `events.jsonl`) that a build without the report engine wrote.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let meta = run_dir::read_meta(dir)?;
        if !dir.join(SITE).exists() && dir.join(run_dir::SERIES_CSV).exists() {
            let series = run_dir::read_series(dir)?;
            let events = run_dir::read_events(dir)?;
            let csv = dir.join(run_dir::SERIES_CSV);
            return Recording::new(meta, &series, events).map_err(|e| Error::at(&csv, e));
        }
        let events_path = dir.join(EVENTS);
        let events = read_parquet(&events_path)?;
        let events = events_from_frame(&events).map_err(|e| Error::at(&events_path, e))?;
        Ok(Recording {
            meta,
            site: read_parquet(&dir.join(SITE))?,
            loads: read_parquet(&dir.join(LOADS))?,
            events,
        })
    }

    /// The events as a table: t, severity, subject, event and the other fields as JSON text.
    pub fn events_frame(&self) -> DataFrame {
        let e = &self.events;
        let text = |f: fn(&EventRow) -> &str| e.iter().map(f).collect::<Vec<_>>();
        let detail: Vec<String> = e
            .iter()
            .map(|r| Value::Object(r.detail.clone()).to_string())
            .collect();
        DataFrame::new(
            e.len(),
            vec![
                Column::new("t".into(), e.iter().map(|r| r.t).collect::<Vec<_>>()),
                Column::new("severity".into(), text(|r| &r.severity)),
                Column::new("subject".into(), text(|r| &r.subject)),
                Column::new("event".into(), text(|r| &r.event)),
                Column::new("detail".into(), detail),
            ],
        )
        .expect("columns of one length")
    }

    /// `site.csv`, `loads.csv` and `events.csv` into `dir`.
    pub fn export_csv(&self, dir: &Path) -> Result<(), Error> {
        for (name, df) in [
            ("site.csv", self.site.clone()),
            ("loads.csv", self.loads.clone()),
            ("events.csv", self.events_frame()),
        ] {
            let path = dir.join(name);
            let file = File::create(&path).map_err(|e| Error::at(&path, e))?;
            CsvWriter::new(BufWriter::new(file))
                .finish(&mut df.clone())
                .map_err(|e| Error::at(&path, e))?;
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

/// A table's column names.
pub(crate) fn column_names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A numeric column, or its labels where `quantity` is coded.
fn column(meta: &Meta, name: &str, quantity: &str, values: &[f64]) -> Column {
    match meta.codes.get(quantity) {
        None => Column::new(name.into(), values),
        Some(labels) => {
            let text: Vec<&str> = values
                .iter()
                .map(|&c| {
                    labels
                        .get(c as usize)
                        .filter(|_| c >= 0.0 && c.fract() == 0.0)
                        .map_or("?", String::as_str)
                })
                .collect();
            Column::new(name.into(), text)
        }
    }
}

fn write_parquet(path: &Path, df: &DataFrame) -> Result<(), Error> {
    let file = File::create(path).map_err(|e| Error::at(path, e))?;
    ParquetWriter::new(BufWriter::new(file))
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df.clone())
        .map(drop)
        .map_err(|e| Error::at(path, e))
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
fn write_jsonl(path: &Path, df: &DataFrame) -> Result<(), Error> {
    let mut w = BufWriter::new(File::create(path).map_err(|e| Error::at(path, e))?);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| serde_json::to_string(n.as_str()).expect("a string"))
        .collect();
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
    w.flush().map_err(|e| Error::at(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;
    use record::LoadInfo;

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
        assert_eq!(rec.site.get_column_names(), ["t", "bus/v"]);
        assert_eq!(rec.loads.get_column_names(), ["t", "load", "p"]);
        let p: Vec<_> = rec
            .loads
            .column("p")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(p, [Some(1.0), Some(2.0)]);
    }
}
