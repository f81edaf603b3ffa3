//! What a run directory says about its run besides the tables: the scenario, its loads, the
//! meaning of coded columns, the expectations' results and the tariff. Written as `meta.json`.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::tariff::Tariff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A power distribution unit: sources, a transfer switch, loads on relays.
    Pdu,
    /// A three-phase feeder with single-phase homes.
    Feeder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: Kind,
    /// Local wall-clock time at t = 0.
    pub start: NaiveDateTime,
    pub duration_s: f64,
    pub step_s: f64,
    pub record_every_s: f64,
    pub loads: Vec<LoadInfo>,
    /// Coded columns: quantity name → the label of each code (a column `x` or `load.x`).
    #[serde(default)]
    pub codes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub expectations: Vec<Expectation>,
    #[serde(default)]
    pub tariff: Option<Tariff>,
    /// The controller's settings as the run used them, for comparisons.
    #[serde(default)]
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadInfo {
    pub name: String,
    /// Shedding priority (1 = shed last), where the controller has one.
    #[serde(default)]
    pub priority: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub label: String,
    pub pass: bool,
    pub detail: String,
}

impl Meta {
    /// Seconds since Monday 00:00 of the start's week, at t = 0.
    pub fn start_of_week_s(&self) -> f64 {
        let s = &self.start;
        f64::from(s.weekday().num_days_from_monday() * 86_400 + s.num_seconds_from_midnight())
            + f64::from(s.nanosecond()) / 1e9
    }
}
