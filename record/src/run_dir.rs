//! The files of a run directory that need no report engine: `meta.json` (what the run was),
//! `events.jsonl` (one event a line, as the controller logs it) and `series.csv` (the wide series:
//! `t` then every recorded column, one row per recorded instant, numbers written so that they
//! read back exactly). The `reports` crate reads a directory of these as it reads its own Parquet
//! tables, so a run recorded where there is no report engine is reported elsewhere.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{EventRow, Meta, Series};

pub const META: &str = "meta.json";
pub const EVENTS_JSONL: &str = "events.jsonl";
pub const SERIES_CSV: &str = "series.csv";

/// A failure with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{}: {what}", path.display())]
pub struct Error {
    pub path: PathBuf,
    pub what: String,
}

impl Error {
    pub fn at(path: &Path, what: impl ToString) -> Self {
        Error {
            path: path.to_path_buf(),
            what: what.to_string(),
        }
    }
}

/// Writes `meta.json` into `dir`, creating it.
pub fn write_meta(dir: &Path, meta: &Meta) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::at(dir, e))?;
    let path = dir.join(META);
    let json = serde_json::to_string_pretty(meta).map_err(|e| Error::at(&path, e))?;
    std::fs::write(&path, json).map_err(|e| Error::at(&path, e))
}

pub fn read_meta(dir: &Path) -> Result<Meta, Error> {
    let path = dir.join(META);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::at(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::at(&path, e))
}

/// One JSON value a line.
pub fn write_jsonl<'a, T: Serialize + 'a>(
    path: &Path,
    items: impl IntoIterator<Item = &'a T>,
) -> Result<(), Error> {
    let file = File::create(path).map_err(|e| Error::at(path, e))?;
    let mut w = BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut w, item).map_err(|e| Error::at(path, e))?;
        w.write_all(b"\n").map_err(|e| Error::at(path, e))?;
    }
    w.flush().map_err(|e| Error::at(path, e))
}

/// `events.jsonl` read back as rows; a bad line is named by its number.
pub fn read_events(dir: &Path) -> Result<Vec<EventRow>, Error> {
    let path = dir.join(EVENTS_JSONL);
    let file = File::open(&path).map_err(|e| Error::at(&path, e))?;
    let mut rows = Vec::new();
    for (k, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::at(&path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| Error::at(&path, format!("line {}: {what}", k + 1));
        let v = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        rows.push(EventRow::from_json(v).map_err(at)?);
    }
    Ok(rows)
}

/// `series.csv` written a row at a time, as a run records: what a run leaves on disk is what it
/// has recorded so far, and it holds no row in memory.
pub struct SeriesWriter {
    path: PathBuf,
    w: csv::Writer<BufWriter<File>>,
    cells: Vec<String>,
}

impl SeriesWriter {
    /// `series.csv` in `dir`, its header `names` (`t` first).
    pub fn create(dir: &Path, names: &[String]) -> Result<Self, Error> {
        let path = dir.join(SERIES_CSV);
        let file = File::create(&path).map_err(|e| Error::at(&path, e))?;
        let mut w = csv::Writer::from_writer(BufWriter::new(file));
        w.write_record(names).map_err(|e| Error::at(&path, e))?;
        Ok(SeriesWriter {
            path,
            w,
            cells: Vec::with_capacity(names.len()),
        })
    }

    /// One row: its time and the value columns' values.
    pub fn push(&mut self, t: f64, values: &[f64]) -> Result<(), Error> {
        self.cells.clear();
        // Rust writes the shortest text that parses back to the same f64 (NaN and inf too).
        self.cells
            .extend(std::iter::once(&t).chain(values).map(f64::to_string));
        self.w
            .write_record(&self.cells)
            .map_err(|e| Error::at(&self.path, e))
    }

    pub fn finish(mut self) -> Result<(), Error> {
        self.w.flush().map_err(|e| Error::at(&self.path, e))
    }
}

/// `series.csv` read back whole; see `SeriesReader`.
pub fn read_series(dir: &Path) -> Result<Series, Error> {
    let mut r = SeriesReader::open(dir)?;
    let mut series = Series::new(r.names()[1..].iter().cloned());
    while let Some(row) = r.next_row()? {
        series.push(row[0], &row[1..]);
    }
    Ok(series)
}

/// `series.csv` read a row at a time; a short row or a cell that is not a number is named by its
/// line and column.
pub struct SeriesReader {
    path: PathBuf,
    names: Vec<String>,
    records: csv::StringRecordsIntoIter<BufReader<File>>,
    values: Vec<f64>,
}

impl SeriesReader {
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(SERIES_CSV);
        let file = File::open(&path).map_err(|e| Error::at(&path, e))?;
        let mut r = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::new(file));
        let names: Vec<String> = r
            .headers()
            .map_err(|e| Error::at(&path, e))?
            .iter()
            .map(str::to_string)
            .collect();
        if names.first().map(String::as_str) != Some("t") {
            return Err(Error::at(&path, "line 1: the first column must be \"t\""));
        }
        Ok(SeriesReader {
            path,
            values: vec![0.0; names.len()],
            names,
            records: r.into_records(),
        })
    }

    /// The header: `t`, then the value columns.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The next row (`t` first), or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<&[f64]>, Error> {
        let Some(record) = self.records.next() else {
            return Ok(None);
        };
        let path = &self.path;
        let record = record.map_err(|e| Error::at(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != self.names.len() {
            return Err(Error::at(
                path,
                format!(
                    "line {line}: {} cells, the header has {}",
                    record.len(),
                    self.names.len()
                ),
            ));
        }
        for (k, cell) in record.iter().enumerate() {
            self.values[k] = cell.trim().parse().map_err(|_| {
                Error::at(
                    path,
                    format!(
                        "line {line}, column {:?}: {cell:?} is not a number",
                        self.names[k]
                    ),
                )
            })?;
        }
        Ok(Some(&self.values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every f64, NaN and the infinities included, reads back as it was written.
        #[test]
        fn a_series_reads_back_bit_for_bit(rows in proptest::collection::vec(
            (any::<f64>(), any::<f64>(), any::<f64>()), 0..40)) {
            let dir = tempfile::tempdir().unwrap();
            let mut s = Series::new(["load/a/p", "bus/v"]);
            for (t, a, b) in &rows {
                s.push(*t, &[*a, *b]);
            }
            let mut w = SeriesWriter::create(dir.path(), s.names()).unwrap();
            for i in 0..s.len() {
                let row: Vec<f64> = s.names()[1..].iter().map(|n| s.column(n).unwrap()[i]).collect();
                w.push(s.column("t").unwrap()[i], &row).unwrap();
            }
            w.finish().unwrap();
            let back = read_series(dir.path()).unwrap();
            prop_assert_eq!(back.names(), s.names());
            for n in s.names() {
                let (x, y) = (s.column(n).unwrap(), back.column(n).unwrap());
                prop_assert_eq!(x.len(), y.len());
                for (x, y) in x.iter().zip(y) {
                    prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                }
            }
        }
    }

    #[test]
    fn a_bad_cell_is_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SERIES_CSV), "t,bus_v\n0,230\n1,volts\n").unwrap();
        let e = read_series(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("line 3, column \"bus_v\": \"volts\" is not a number"),
            "{e}"
        );
        std::fs::write(dir.path().join(SERIES_CSV), "t,bus_v\n0\n").unwrap();
        let e = read_series(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("line 2: 1 cells, the header has 2"), "{e}");
    }

    #[test]
    fn a_bad_event_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"t":1.5,"severity":"info","subject":"site","event":"started"}"#;
        std::fs::write(
            dir.path().join(EVENTS_JSONL),
            format!("{good}\n{{\"t\":2}}\n"),
        )
        .unwrap();
        let e = read_events(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: an event needs a string \"severity\""),
            "{e}"
        );
    }
}
