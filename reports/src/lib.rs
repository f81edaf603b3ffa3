//! Recorded run data and its reports. This crate knows nothing of the controller: a run hands it
//! a wide time series, its events and a description (`Meta`); it keeps them as polars tables in
//! Parquet, computes the summary tables, draws the charts and writes the HTML and Markdown
//! report, and compares two runs.

pub mod charts;
pub mod compare;
pub mod meta;
pub mod recording;
pub mod report;
pub mod schema;
pub mod series;
pub mod summary;
pub mod synthetic;
pub mod tables;
pub mod tariff;

pub use compare::Comparison;
pub use meta::{Expectation, Kind, LoadInfo, Meta};
pub use recording::{Error, EventRow, Recording};
pub use report::{Options, Report};
pub use series::Series;
pub use summary::Summary;
pub use tariff::Tariff;
