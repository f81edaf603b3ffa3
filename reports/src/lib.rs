//! A run's report: its recording (`record`'s plain data) kept as polars tables in Parquet, the
//! summary tables, the charts, the HTML and Markdown report, and two runs compared. This crate
//! knows nothing of the controller, and only binaries built with the `report` feature link it.

pub mod charts;
pub mod compare;
mod draw;
mod quantile;
pub mod recording;
pub mod report;
pub mod summary;
pub mod synthetic;
pub mod tables;
pub mod writer;

pub use compare::Comparison;
pub use recording::Recording;
pub use report::{Options, Report};
pub use summary::Summary;
pub use writer::TableWriter;
