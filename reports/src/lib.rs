//! Recorded run data. This crate knows nothing of the controller: it stores named numeric columns
//! sampled over time and writes them out; the report tables and charts grow here.

pub mod series;

pub use series::Series;
