//! The site's alert rules, live: evaluated on each stored reading, replaced at run time by an
//! admin, kept in the store under `alerts` (the scenario's rules until an admin first saves).

use std::sync::{Arc, RwLock};

use chrono::NaiveDateTime;
use control_core::{ActiveAlert, AlertRule, Alerts, Event, Instant};
use controller::scenario::Loaded;

use crate::store::Store;

/// The store's key of the rules in force.
pub const KEY: &str = "alerts";

/// The rules in force, for the handlers to read.
pub type RuleTable = Arc<RwLock<Vec<AlertRule>>>;

/// The rules in the table now (a poisoned lock still holds whole rules).
pub fn current(t: &RuleTable) -> Vec<AlertRule> {
    let r = t.read();
    r.unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

pub struct LiveAlerts {
    engine: Alerts,
    channels: Vec<String>,
    pub rules: RuleTable,
}

impl LiveAlerts {
    /// The stored rules, else the scenario's, on a site with these channels; `epoch` is the
    /// local time at the loop's simulated zero.
    pub fn open(
        l: &Loaded,
        store: &Store,
        channels: Vec<String>,
        epoch: NaiveDateTime,
    ) -> Result<Self, String> {
        let stored: Option<Vec<AlertRule>> = store.setting(KEY).map_err(|e| e.to_string())?;
        let rules = stored.unwrap_or_else(|| l.scenario.alerts.clone());
        let engine = controller::alerts::alerts(&rules, &channels, epoch)
            .map_err(|e| format!("the stored alert rules do not fit this site: {e}"))?;
        Ok(LiveAlerts {
            engine,
            channels,
            rules: Arc::new(RwLock::new(rules)),
        })
    }

    /// A stored reading at `sim_s` simulated seconds; the alerts it raises or clears.
    pub fn reading(&mut self, sim_s: f64, values: &[f64]) -> Vec<Event> {
        self.engine.handle_row(at(sim_s), values);
        self.engine.drain_events()
    }

    /// New rules from an admin at `sim_s`, checked against the site's channels; the alerts
    /// their change clears.
    pub fn replace(&mut self, sim_s: f64, rules: Vec<AlertRule>) -> Result<Vec<Event>, String> {
        let resolved =
            controller::alerts::resolve(&rules, &self.channels).map_err(|e| e.to_string())?;
        self.engine.handle_rules(at(sim_s), resolved);
        if let Ok(mut r) = self.rules.write() {
            *r = rules;
        }
        Ok(self.engine.drain_events())
    }

    pub fn active(&self) -> Vec<ActiveAlert> {
        self.engine.active()
    }
}

fn at(sim_s: f64) -> Instant {
    Instant::from_micros((sim_s.max(0.0) * 1e6).round() as u64)
}
