//! What a run records, as plain data: the wide time series (`Series`) under the column names of
//! `schema`, its events as rows, and what the run directory says besides them (`Meta`, with the
//! `Tariff`), fault records of the sampled channels around each trip (`fault`, written as COMTRADE
//! by `comtrade`). `run_dir` writes and reads the files of a run directory that need no report
//! engine: `meta.json`, `events.jsonl` and `series.csv`. The `reports` crate turns the same data
//! into Parquet tables, summaries and charts; a build without it (a Pi's) still records a run.

pub mod comtrade;
mod event_row;
pub mod fault;
mod meta;
pub mod run_dir;
pub mod schema;
mod series;
pub mod tariff;
pub mod words;

pub use event_row::EventRow;
pub use fault::FaultRecord;
pub use meta::{Expectation, Kind, LoadInfo, Meta};
pub use run_dir::Error;
pub use series::Series;
pub use tariff::Tariff;
