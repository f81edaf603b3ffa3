//! A run's tables written as the run records: rows buffered a few thousand at a time, split
//! into the site and loads tables, and appended to their Parquet files a large row group at a
//! time, so that memory holds a bounded window whatever the run's length.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use polars::prelude::*;

use record::run_dir::{self, Error};
use record::schema;
use record::{EventRow, Kind, Meta, Series};
use serde_json::Value;

/// Fewest rows of the wide series buffered before they are split into the two tables. A site
/// of many loads buffers as many rows as make one row group of the loads table, which is then
/// written as split, without first being stacked onto the rest of its group and copied whole.
const BUFFERED: usize = 4096;

/// Rows of a row group of the site table, and of the loads table (a row per load and
/// instant). Until a Parquet file closes its writer keeps a few kB of metadata for every
/// column chunk written, so row groups of a few thousand rows made a year of 20 ms steps hold
/// 700 MB of it; at these sizes a year keeps about 30,000 chunks, and a column of a row group
/// is 0.5 MB (site) or 2 MB (loads) before compression.
const SITE_GROUP: usize = 65_536;
const LOADS_GROUP: usize = 262_144;

/// At most this many cells (rows × channels) in a buffer of the wide series (32 MB), and in a
/// site row group waiting to be written (64 MB): a feeder of a thousand homes (the 8500-node's
/// 4,720 site and 5,885 home channels) then holds what a PDU of a few hundred channels does, in
/// fewer rows.
const BUFFER_CELLS: usize = 1 << 22;
const SITE_CELLS: usize = 1 << 23;

pub const SITE: &str = "site.parquet";
pub const LOADS: &str = "loads.parquet";
pub const EVENTS: &str = "events.parquet";

type Batched = polars::io::parquet::write::BatchedWriter<BufWriter<File>>;

/// The site and loads tables of one run directory, written as the rows come. The rows are
/// split and encoded on a thread of the writer's own while the run fills its next buffer, so
/// that a run's step waits on Parquet only when the writer falls a whole buffer behind.
pub struct TableWriter {
    dir: PathBuf,
    buffer: Series,
    /// Rows buffered before they are handed to the writing thread.
    rows: usize,
    /// The other buffer, until the writing thread holds it.
    spare: Option<Series>,
    writing: Option<Writing>,
}

/// The writing thread: full buffers in, emptied buffers back.
struct Writing {
    full: SyncSender<Series>,
    emptied: Receiver<Series>,
    thread: JoinHandle<(Tables, Result<(), Error>)>,
}

/// What the writing thread owns: the site that splits the rows and the files written.
struct Tables {
    dir: PathBuf,
    /// The site as the run started.
    site: Meta,
    written: Option<(Table, Table)>,
}

impl Tables {
    /// `buffer`'s rows added to each table; with `all`, every row written.
    fn flush(&mut self, buffer: &Series, all: bool) -> Result<(), Error> {
        let dir = &self.dir;
        let (site, loads) = split(&self.site, buffer).map_err(|e| Error::at(dir, e))?;
        let (site_t, loads_t) = match &mut self.written {
            Some(w) => w,
            None => self.written.insert((
                Table::open(dir, SITE, site_group(site.width()), site.schema())?,
                Table::open(dir, LOADS, LOADS_GROUP, loads.schema())?,
            )),
        };
        site_t.add(dir, site, all)?;
        loads_t.add(dir, loads, all)
    }

    /// Buffers written as they come, each handed back emptied, until the run's end closes
    /// `full`; the tables then go back to `finish`.
    fn serve(
        mut self,
        full: Receiver<Series>,
        emptied: SyncSender<Series>,
    ) -> (Self, Result<(), Error>) {
        for mut buffer in full {
            if let Err(e) = self.flush(&buffer, false) {
                return (self, Err(e));
            }
            buffer.clear();
            // The run has ended when no one takes the buffer back.
            let _ = emptied.send(buffer);
        }
        (self, Ok(()))
    }
}

impl TableWriter {
    /// The tables of a site `site` describes, its channels `names` (`t` first), in `dir`.
    pub fn create(dir: &Path, site: &Meta, names: &[String]) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::at(dir, e))?;
        if names.first().map(String::as_str) != Some("t") {
            return Err(Error::at(dir, "the first channel must be \"t\""));
        }
        let tables = Tables {
            dir: dir.to_path_buf(),
            site: site.clone(),
            written: None,
        };
        let (full, full_rx) = sync_channel(1);
        let (emptied_tx, emptied) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("table-writer".into())
            .spawn(move || tables.serve(full_rx, emptied_tx))
            .map_err(|e| Error::at(dir, e))?;
        let buffer = Series::new(names[1..].iter().cloned());
        Ok(TableWriter {
            dir: dir.to_path_buf(),
            spare: Some(buffer.clone()),
            buffer,
            rows: BUFFERED
                .max(LOADS_GROUP.div_ceil(site.loads.len().max(1)))
                .min(BUFFER_CELLS / names.len())
                .max(1),
            writing: Some(Writing {
                full,
                emptied,
                thread,
            }),
        })
    }

    pub fn push(&mut self, t: f64, values: &[f64]) -> Result<(), Error> {
        if values.len() + 1 != self.buffer.names().len() {
            return Err(Error::at(
                &self.dir,
                format!(
                    "a row of {} values for {} channels",
                    values.len(),
                    self.buffer.names().len() - 1
                ),
            ));
        }
        self.buffer.push(t, values);
        if self.buffer.len() >= self.rows {
            self.hand_over()?;
        }
        Ok(())
    }

    /// The full buffer handed to the writing thread, and the other one filled next; it is
    /// waited for while the thread still writes it.
    fn hand_over(&mut self) -> Result<(), Error> {
        let Some(w) = &self.writing else {
            return Err(self.stopped());
        };
        let next = match self.spare.take() {
            Some(s) => Some(s),
            None => w.emptied.recv().ok(),
        };
        let Some(next) = next else {
            return Err(self.stopped());
        };
        let full = std::mem::replace(&mut self.buffer, next);
        if w.full.send(full).is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }

    /// Why the writing thread stopped before the run's end: its error.
    fn stopped(&mut self) -> Error {
        match self.writing.take().map(|w| w.thread.join()) {
            Some(Ok((_, Err(e)))) => e,
            _ => Error::at(&self.dir, "the table writer stopped"),
        }
    }

    /// The tables closed, with `meta.json` (the run's, as it ended) and the events beside them.
    pub fn finish(mut self, meta: &Meta, events: &[EventRow]) -> Result<(), Error> {
        let Some(Writing { full, thread, .. }) = self.writing.take() else {
            return Err(self.stopped());
        };
        drop(full);
        let Ok((mut tables, written)) = thread.join() else {
            return Err(Error::at(&self.dir, "the table writer panicked"));
        };
        written?;
        if tables.written.is_none() && self.buffer.is_empty() {
            // Nothing recorded: empty tables of the site as it ended (a feeder that never
            // solved has no homes).
            tables.site = meta.clone();
        }
        tables.flush(&self.buffer, true)?;
        for t in tables
            .written
            .iter()
            .flat_map(|(site, loads)| [site, loads])
        {
            t.w.finish()
                .map_err(|e| Error::at(&part(&self.dir, t.name), e))?;
        }
        write_parquet(&part(&self.dir, EVENTS), &events_frame(events))?;
        run_dir::write_meta(&self.dir, meta)?;
        // The site table last: a directory with one has all of them.
        for name in [LOADS, EVENTS, SITE] {
            let (from, to) = (part(&self.dir, name), self.dir.join(name));
            std::fs::rename(&from, &to).map_err(|e| Error::at(&from, e))?;
        }
        Ok(())
    }
}

/// Rows of a site row group of `width` columns.
fn site_group(width: usize) -> usize {
    SITE_GROUP.min(SITE_CELLS / width.max(1)).max(1)
}

/// One table's file and the rows of its next row group.
struct Table {
    name: &'static str,
    w: Batched,
    group: usize,
    pending: Option<DataFrame>,
}

impl Table {
    fn open(dir: &Path, name: &'static str, group: usize, schema: &Schema) -> Result<Self, Error> {
        let path = part(dir, name);
        let w = parquet(&path)?
            .batched(schema)
            .map_err(|e| Error::at(&path, e))?;
        Ok(Table {
            name,
            w,
            group,
            pending: None,
        })
    }

    /// `rows` appended; a row group written once there are enough (or `all`).
    fn add(&mut self, dir: &Path, rows: DataFrame, all: bool) -> Result<(), Error> {
        let at = |e: PolarsError| Error::at(&part(dir, self.name), e);
        let pending = match &mut self.pending {
            Some(p) => {
                p.vstack_mut_owned(rows).map_err(at)?;
                p
            }
            None => self.pending.insert(rows),
        };
        if pending.height() == 0 {
            // Nothing to write: a table with no rows is its schema alone.
            self.pending = None;
        } else if pending.height() >= self.group || all {
            // One chunk: the writer makes a row group of each.
            pending.rechunk_mut();
            self.w.write_batch(pending).map_err(at)?;
            self.pending = None;
        }
        Ok(())
    }
}

/// A table's name while it is written: a run or a conversion killed half way leaves no file
/// that reads as a table.
fn part(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

/// A plain run directory (`series.csv`, `events.jsonl`, `meta.json`) given its Parquet tables
/// beside them, a row group at a time.
pub(crate) fn convert(dir: &Path) -> Result<(), Error> {
    let converted = tables_of(dir);
    if converted.is_err() {
        // Nothing half-written left behind.
        for name in [SITE, LOADS, EVENTS] {
            let _ = std::fs::remove_file(part(dir, name));
        }
    }
    converted
}

fn tables_of(dir: &Path) -> Result<(), Error> {
    let meta = run_dir::read_meta(dir)?;
    let events = run_dir::read_events(dir)?;
    let mut rows = run_dir::SeriesReader::open(dir)?;
    let mut w = TableWriter::create(dir, &meta, rows.names())?;
    let csv = dir.join(run_dir::SERIES_CSV);
    while let Some(row) = rows.next_row()? {
        w.push(row[0], &row[1..])
            .map_err(|e| Error::at(&csv, e.what))?;
    }
    w.finish(&meta, &events)
}

/// A wide series (`t`, site channels, then each member's channels for every load in
/// `meta.loads`: `load/NAME/quantity` of a PDU, `home/NAME/quantity` of a feeder) split into
/// the site and loads tables; coded columns become their labels.
pub(crate) fn split(meta: &Meta, series: &Series) -> Result<(DataFrame, DataFrame), String> {
    let names = series.names();
    let scope = match meta.kind {
        Kind::Pdu => schema::LOAD,
        Kind::Feeder => schema::HOME,
    };
    // The load whose channel this is.
    let owner = |col: &str| schema::owner(scope, meta.loads.iter().map(|l| l.name.as_str()), col);
    let mut site = Vec::new();
    let mut quantities: Vec<String> = Vec::new();
    for name in names {
        match owner(name) {
            None => site.push(column(
                meta,
                name,
                name,
                series.column(name).unwrap_or(&[]).to_vec(),
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
        cols.push(column(meta, q, q, values));
    }
    let loads = DataFrame::new(n, cols).map_err(|e| e.to_string())?;
    Ok((site, loads))
}

/// A numeric column, or its labels where `quantity` is coded.
fn column(meta: &Meta, name: &str, quantity: &str, values: Vec<f64>) -> Column {
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

/// A Parquet file as every table of a run directory is written.
fn parquet(path: &Path) -> Result<ParquetWriter<BufWriter<File>>, Error> {
    let file = File::create(path).map_err(|e| Error::at(path, e))?;
    Ok(ParquetWriter::new(BufWriter::new(file)).with_compression(ParquetCompression::Zstd(None)))
}

pub(crate) fn write_parquet(path: &Path, df: &DataFrame) -> Result<(), Error> {
    parquet(path)?
        .finish(&mut df.clone())
        .map(drop)
        .map_err(|e| Error::at(path, e))
}

/// The events as a table: t, severity, subject, event and the other fields as JSON text.
pub(crate) fn events_frame(e: &[EventRow]) -> DataFrame {
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
