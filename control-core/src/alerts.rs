//! Alert rules: a threshold on a measured or derived quantity, held for a time before the alert
//! is raised, and past a hysteresis band for a time before it clears (the assertion delay,
//! deassertion hysteresis and deassertion delay of a Raritan PX's thresholds). Rules are
//! evaluated on each recorded row of the site's channels; which channels a rule reads is
//! resolved by the caller as an `Input`, so the core knows no channel names.

use std::collections::VecDeque;

use chrono::NaiveDateTime;
use grid_types::SourceId;
use serde::{Deserialize, Serialize};

use super::events::{AlertAction, AlertLevel as Level, Event, EventKind};
use super::settings::{Positive, Secs};
use super::time::Instant;

/// One rule, as scenarios and the control center write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique on the site; events carry it.
    pub name: String,
    pub quantity: Quantity,
    #[serde(default)]
    pub scope: Scope,
    /// Whether the alert is for values above or below the thresholds.
    pub when: Crossing,
    /// Thresholds in the quantity's unit (see `Quantity`); at least one.
    #[serde(default)]
    pub warning: Option<f64>,
    #[serde(default)]
    pub critical: Option<f64>,
    /// How long a threshold must stay crossed before its level is raised (assertion delay).
    #[serde(default)]
    pub after: Secs,
    /// How far back past a threshold the value must come for its level to clear (deassertion
    /// hysteresis), in the quantity's unit.
    #[serde(default)]
    pub hysteresis: f64,
    /// How long the value must stay back past the hysteresis before the level clears
    /// (deassertion delay).
    #[serde(default)]
    pub clear_after: Secs,
    #[serde(default)]
    pub action: AlertAction,
    /// The notification group told when the action is `Notify` (the live site's default group
    /// when none). Who is told never changes when or whether the alert is raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    /// Who is told when the raised alert stays unacknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Escalation>,
    /// The loads a `Shed` action holds off (none: the loads of the scope).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shed: Vec<String>,
}

/// A second group told once when a raised alert is left unacknowledged for `after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub after: Secs,
    pub to: String,
}

/// What a rule watches, in the unit thresholds are written in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Quantity {
    /// Volts (a feeder's homes and site: pu; the site's lowest voltage for `Below`, its
    /// highest for `Above`).
    V,
    /// Amperes (a transformer's secondary: its largest phase current).
    I,
    /// Watts.
    P,
    /// var.
    Q,
    /// VA, from P and Q.
    S,
    /// Power factor P / S, from P and Q (absent while nothing is drawn).
    Pf,
    Hz,
    /// Current THD, % of the fundamental.
    Thd,
    /// Voltage THD of the bus, %.
    ThdV,
    /// A feeder's worst voltage unbalance factor, %.
    VoltageUnbalance,
    /// A transformer secondary's current unbalance, %.
    CurrentUnbalance,
    /// A transformer secondary's neutral (residual) current, A.
    Neutral,
    /// Mean power over the last `window` seconds, W (absent until a window has passed).
    Demand {
        window: Positive,
    },
    /// Energy since local midnight, kWh.
    EnergyPerDay,
}

/// What a rule watches the quantity of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The whole site: a PDU's bus and feeding source, a feeder's source.
    #[default]
    Site,
    Source(SourceId),
    Load(String),
    /// Loads taken together: their powers, currents and energies summed.
    Group {
        name: String,
        loads: Vec<String>,
    },
    /// A feeder's home.
    Home(String),
    /// A feeder's transformer secondary, by bus.
    Head(String),
}

impl Scope {
    /// The subject of the rule's events.
    pub fn subject(&self) -> &str {
        match self {
            Scope::Site => "site",
            Scope::Source(SourceId::Main) => "main",
            Scope::Source(SourceId::Backup) => "backup",
            Scope::Load(n) | Scope::Home(n) | Scope::Head(n) | Scope::Group { name: n, .. } => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Crossing {
    Above,
    Below,
}

impl AlertRule {
    /// The loads this rule's `Shed` action holds off: its `shed` list, else its scope's loads.
    pub fn shed_targets(&self) -> Vec<String> {
        if self.action != AlertAction::Shed {
            return Vec::new();
        }
        if !self.shed.is_empty() {
            return self.shed.clone();
        }
        match &self.scope {
            Scope::Load(n) => vec![n.clone()],
            Scope::Group { loads, .. } => loads.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether the two raise and clear alike (they may tell different people).
    pub fn same_condition(&self, other: &AlertRule) -> bool {
        let bare = |r: &AlertRule| AlertRule {
            notify: None,
            escalate: None,
            ..r.clone()
        };
        bare(self) == bare(other)
    }

    /// What is wrong with the rule on its own, if anything (its channels are the caller's).
    pub fn problem(&self) -> Option<String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Some("an alert rule needs a name".into());
        }
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        let blank = |g: &str| g.trim().is_empty();
        if self.notify.as_deref().is_some_and(blank)
            || self.escalate.as_ref().is_some_and(|e| blank(&e.to))
        {
            return Some(format!("alert {name:?}: a notification group needs a name"));
        }
        if self.escalate.as_ref().is_some_and(|e| e.after.get() <= 0.0) {
            return Some(format!(
                "alert {name:?}: escalate.after must be longer than 0 s"
            ));
        }
        if self.warning.is_none() && self.critical.is_none() {
            return Some(format!(
                "alert {name:?}: give a warning or a critical threshold"
            ));
        }
        if self.action == AlertAction::Shed && self.shed_targets().is_empty() {
            return Some(format!(
                "alert {name:?}: a Shed action names its loads in `shed` (or has a load or a \
                 group of loads as its scope)"
            ));
        }
        if self.action != AlertAction::Shed && !self.shed.is_empty() {
            return Some(format!(
                "alert {name:?}: `shed` is for a Shed action, not {:?}",
                self.action
            ));
        }
        if !finite(self.warning) || !finite(self.critical) {
            return Some(format!("alert {name:?}: thresholds must be finite numbers"));
        }
        if let (Some(w), Some(c)) = (self.warning, self.critical) {
            let ordered = match self.when {
                Crossing::Above => w < c,
                Crossing::Below => w > c,
            };
            if !ordered {
                return Some(format!(
                    "alert {name:?}: the warning threshold ({w}) must come before the critical \
                     one ({c}) for values {}",
                    match self.when {
                        Crossing::Above => "rising",
                        Crossing::Below => "falling",
                    }
                ));
            }
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 0.0) {
            return Some(format!(
                "alert {name:?}: hysteresis must be >= 0, found {}",
                self.hysteresis
            ));
        }
        if let Scope::Group { loads, .. } = &self.scope
            && loads.is_empty()
        {
            return Some(format!("alert {name:?}: a group needs at least one load"));
        }
        None
    }

    fn threshold(&self, level: Level) -> Option<f64> {
        match level {
            Level::Normal => None,
            Level::Warning => self.warning,
            Level::Critical => self.critical,
        }
    }
}

/// Where a rule's value comes from in a row: its channels combined, then scaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub combine: Combine,
    /// The channels combined (for `Apparent` and `Pf`, the real powers).
    pub channels: Vec<usize>,
    /// For `Apparent` and `Pf`: the reactive powers.
    pub reactive: Vec<usize>,
    /// Multiplies the combined value (J to kWh, say).
    pub scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    Sum,
    Max,
    Min,
    /// hypot(sum of `channels`, sum of `reactive`).
    Apparent,
    /// sum of `channels` over the apparent power; absent when that is zero.
    Pf,
}

impl Input {
    /// One channel as it is.
    pub fn channel(i: usize) -> Self {
        Input {
            combine: Combine::Sum,
            channels: vec![i],
            reactive: Vec::new(),
            scale: 1.0,
        }
    }

    fn value(&self, row: &[f64]) -> f64 {
        let at = |i: &usize| row.get(*i).copied().unwrap_or(f64::NAN);
        let sum = |c: &[usize]| c.iter().map(at).sum::<f64>();
        let x = match self.combine {
            Combine::Sum => sum(&self.channels),
            Combine::Max => self.channels.iter().map(at).fold(f64::NAN, f64::max),
            Combine::Min => self.channels.iter().map(at).fold(f64::NAN, f64::min),
            Combine::Apparent => sum(&self.channels).hypot(sum(&self.reactive)),
            Combine::Pf => {
                let (p, q) = (sum(&self.channels), sum(&self.reactive));
                let s = p.hypot(q);
                if s > 1e-9 { p.abs() / s } else { f64::NAN }
            }
        };
        x * self.scale
    }
}

/// An alert that is raised now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveAlert {
    pub rule: String,
    pub subject: String,
    pub level: Level,
    /// Seconds since the controller started, when it was raised.
    pub since: f64,
    pub value: f64,
}

/// One rule's state.
#[derive(Debug, Clone)]
struct Watch {
    rule: AlertRule,
    input: Input,
    level: Level,
    raised_at: Option<Instant>,
    /// The level the value points to and since when, while that differs from `level`.
    pending: Option<(Level, Instant)>,
    /// `Demand`: the samples within the window and their sum.
    window: VecDeque<(Instant, f64)>,
    window_sum: f64,
    /// `EnergyPerDay`: the local day and the counter at its first row.
    day: Option<(chrono::NaiveDate, f64)>,
    last: f64,
}

/// The site's alert rules and their states.
#[derive(Debug, Clone)]
pub struct Alerts {
    epoch: NaiveDateTime,
    watches: Vec<Watch>,
    events: Vec<Event>,
}

impl Alerts {
    /// `rules` with their inputs; `epoch` is the local wall-clock time at `Instant::ZERO` (for
    /// days).
    pub fn new(epoch: NaiveDateTime, rules: Vec<(AlertRule, Input)>) -> Self {
        Alerts {
            epoch,
            watches: rules.into_iter().map(Watch::new).collect(),
            events: Vec::new(),
        }
    }

    /// New rules at `now` (edited at run time): a rule unchanged keeps its state; a raised
    /// alert whose rule is changed or withdrawn is cleared, and a changed rule starts again.
    pub fn handle_rules(&mut self, now: Instant, rules: Vec<(AlertRule, Input)>) {
        let mut old = std::mem::take(&mut self.watches);
        for (rule, input) in rules {
            match old
                .iter()
                .position(|w| w.rule.same_condition(&rule) && w.input == input)
            {
                Some(i) => {
                    let mut kept = old.swap_remove(i);
                    kept.rule = rule;
                    self.watches.push(kept);
                }
                None => self.watches.push(Watch::new((rule, input))),
            }
        }
        self.events
            .extend(old.iter().filter_map(|w| w.withdrawn(now)));
    }

    /// The rules, in their order.
    pub fn rules(&self) -> impl Iterator<Item = &AlertRule> {
        self.watches.iter().map(|w| &w.rule)
    }

    /// The alerts raised now.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.watches
            .iter()
            .filter_map(|w| {
                Some(ActiveAlert {
                    rule: w.rule.name.clone(),
                    subject: w.rule.scope.subject().to_string(),
                    level: w.level,
                    since: w.raised_at?.as_secs_f64(),
                    value: w.last,
                })
            })
            .collect()
    }

    /// A recorded row of the site's channels at `now`.
    pub fn handle_row(&mut self, now: Instant, row: &[f64]) {
        let local = now.wall(self.epoch);
        for w in &mut self.watches {
            let raw = w.input.value(row);
            let x = match w.rule.quantity {
                Quantity::Demand { window } => w.demand(now, raw, window),
                Quantity::EnergyPerDay => w.day_rise(local.date(), raw),
                _ => raw,
            };
            w.last = x;
            if let Some(e) = w.assess(now, x) {
                self.events.push(e);
            }
        }
    }

    /// The events since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

impl Watch {
    fn new((rule, input): (AlertRule, Input)) -> Self {
        Watch {
            rule,
            input,
            level: Level::Normal,
            raised_at: None,
            pending: None,
            window: VecDeque::new(),
            window_sum: 0.0,
            day: None,
            last: f64::NAN,
        }
    }

    /// The mean of the samples within `window` s before `now`, once a whole window is held.
    fn demand(&mut self, now: Instant, x: f64, window: Positive) -> f64 {
        let w_us = (window.get() * 1e6).round() as u64;
        if x.is_finite() {
            self.window.push_back((now, x));
            self.window_sum += x;
        }
        let mut full = false;
        while let Some(&(t, old)) = self.window.front() {
            if now.as_micros().saturating_sub(t.as_micros()) < w_us {
                break;
            }
            full = true;
            self.window.pop_front();
            self.window_sum -= old;
        }
        if full && !self.window.is_empty() {
            self.window_sum / self.window.len() as f64
        } else {
            f64::NAN
        }
    }

    /// The counter's rise since the first row of the local day.
    fn day_rise(&mut self, day: chrono::NaiveDate, counter: f64) -> f64 {
        if !counter.is_finite() {
            return f64::NAN;
        }
        match self.day {
            Some((d, start)) if d == day => counter - start,
            _ => {
                self.day = Some((day, counter));
                0.0
            }
        }
    }

    /// The level `x` points to from the present level: a level already raised holds until the
    /// value is back past its threshold by the hysteresis. An absent value (NaN) is normal.
    fn target(&self, x: f64) -> Level {
        if !x.is_finite() {
            return Level::Normal;
        }
        let r = &self.rule;
        let h = r.hysteresis;
        let crossed = |level: Level| {
            let Some(t) = r.threshold(level) else {
                return false;
            };
            let held = self.level >= level;
            match r.when {
                Crossing::Above => x >= t || (held && x > t - h),
                Crossing::Below => x <= t || (held && x < t + h),
            }
        };
        [Level::Critical, Level::Warning]
            .into_iter()
            .find(|&l| crossed(l))
            .unwrap_or(Level::Normal)
    }

    fn assess(&mut self, now: Instant, x: f64) -> Option<Event> {
        let target = self.target(x);
        if target == self.level {
            self.pending = None;
            return None;
        }
        let since = match self.pending {
            Some((l, t)) if l == target => t,
            _ => {
                self.pending = Some((target, now));
                now
            }
        };
        let wait = if target > self.level {
            self.rule.after
        } else {
            self.rule.clear_after
        };
        if now.as_secs_f64() - since.as_secs_f64() < wait.get() - 1e-9 {
            return None;
        }
        self.pending = None;
        self.level = target;
        let rule = self.rule.name.clone();
        let kind = match target {
            Level::Normal => EventKind::AlertCleared {
                rule,
                value: x,
                after_s: self
                    .raised_at
                    .take()
                    .map_or(0.0, |t| now.as_secs_f64() - t.as_secs_f64()),
                action: self.rule.action,
            },
            level => {
                self.raised_at.get_or_insert(now);
                EventKind::AlertRaised {
                    rule,
                    level,
                    value: x,
                    threshold: self.rule.threshold(level).unwrap_or(f64::NAN),
                    action: self.rule.action,
                }
            }
        };
        Some(Event::at(
            now.as_secs_f64(),
            self.rule.scope.subject(),
            kind,
        ))
    }

    /// The clearing of a raised alert whose rule is withdrawn or changed, at `now`.
    fn withdrawn(&self, now: Instant) -> Option<Event> {
        let raised = self.raised_at?;
        let kind = EventKind::AlertCleared {
            rule: self.rule.name.clone(),
            value: self.last,
            after_s: now.as_secs_f64() - raised.as_secs_f64(),
            action: self.rule.action,
        };
        Some(Event::at(
            now.as_secs_f64(),
            self.rule.scope.subject(),
            kind,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(when: Crossing, warning: Option<f64>, critical: Option<f64>) -> AlertRule {
        AlertRule {
            name: "r".into(),
            quantity: Quantity::Pf,
            scope: Scope::Load("fridge".into()),
            when,
            warning,
            critical,
            after: Secs::lit(2.0),
            hysteresis: 0.05,
            clear_after: Secs::lit(3.0),
            action: AlertAction::Notify,
            notify: None,
            escalate: None,
            shed: Vec::new(),
        }
    }

    fn epoch() -> NaiveDateTime {
        crate::WallTime::parse("2026-01-05T23:59:50").unwrap().0
    }

    /// The events of feeding `xs` one a second from t = 0, as (t, name, level or value).
    fn feed(r: AlertRule, xs: &[f64]) -> Vec<(f64, &'static str, String)> {
        let mut a = Alerts::new(epoch(), vec![(r, Input::channel(0))]);
        let mut out = Vec::new();
        for (k, x) in xs.iter().enumerate() {
            a.handle_row(Instant::from_micros(k as u64 * 1_000_000), &[*x]);
            for e in a.drain_events() {
                let what = match &e.kind {
                    EventKind::AlertRaised { level, .. } => format!("{level:?}"),
                    EventKind::AlertCleared { after_s, .. } => format!("after {after_s}"),
                    _ => unreachable!(),
                };
                out.push((e.t, e.kind.name(), what));
            }
        }
        out
    }

    #[test]
    fn a_level_is_raised_only_after_its_delay_and_clears_past_the_hysteresis_after_its_own() {
        let r = rule(Crossing::Below, Some(0.8), None);
        // Low at 1 s, a dip too short at 1-2 s does not count; low from 4 s on for good...
        let xs = [
            0.9, 0.7, 0.9, 0.9, 0.7, 0.7, 0.7, 0.82, 0.84, 0.86, 0.86, 0.86, 0.9,
        ];
        // ...raised at 6 s (2 s after 4 s). 0.82 and 0.84 sit inside the hysteresis (below
        // 0.85): still low. Back above 0.85 at 9 s, cleared 3 s later at 12 s.
        assert_eq!(
            feed(r, &xs),
            vec![
                (6.0, "alert_raised", "Warning".into()),
                (12.0, "alert_cleared", "after 6".into()),
            ]
        );
    }

    #[test]
    fn a_value_back_inside_the_band_restarts_the_clearing_delay() {
        let r = rule(Crossing::Above, Some(10.0), None);
        let xs = [11.0, 11.0, 11.0, 9.0, 9.0, 9.96, 9.0, 9.0, 9.0, 9.0];
        // Raised at 2 s; below 9.95 at 3 s, but 9.96 at 5 s restarts: cleared 3 s after 6 s.
        assert_eq!(
            feed(r, &xs),
            vec![
                (2.0, "alert_raised", "Warning".into()),
                (9.0, "alert_cleared", "after 7".into()),
            ]
        );
    }

    #[test]
    fn critical_above_warning_and_back_down_through_it() {
        let mut r = rule(Crossing::Above, Some(10.0), Some(20.0));
        r.after = Secs::lit(0.0);
        r.clear_after = Secs::lit(0.0);
        let xs = [5.0, 12.0, 25.0, 19.99, 19.0, 9.99, 9.0];
        assert_eq!(
            feed(r, &xs),
            vec![
                (1.0, "alert_raised", "Warning".into()),
                (2.0, "alert_raised", "Critical".into()),
                // 19.99 is within the hysteresis of 20: still critical; 19 is not.
                (4.0, "alert_raised", "Warning".into()),
                (6.0, "alert_cleared", "after 5".into()),
            ]
        );
    }

    #[test]
    fn an_absent_value_is_not_in_alarm() {
        let mut r = rule(Crossing::Below, Some(0.8), None);
        r.after = Secs::lit(0.0);
        r.clear_after = Secs::lit(0.0);
        let xs = [0.5, f64::NAN];
        assert_eq!(
            feed(r, &xs),
            vec![
                (0.0, "alert_raised", "Warning".into()),
                (1.0, "alert_cleared", "after 1".into()),
            ]
        );
    }

    #[test]
    fn demand_is_the_mean_over_a_whole_window() {
        let mut r = rule(Crossing::Above, Some(1000.0), None);
        r.quantity = Quantity::Demand {
            window: Positive::new(4.0).unwrap(),
        };
        r.after = Secs::lit(0.0);
        r.hysteresis = 0.0;
        // 3 kW for one second among 0s: a mean of 750 W over 4 s, never 1 kW; two such
        // seconds make 1.5 kW, raised once the window holds them.
        let one = feed(r.clone(), &[0.0, 0.0, 3000.0, 0.0, 0.0, 0.0, 0.0]);
        assert!(one.is_empty(), "{one:?}");
        let two = feed(r, &[0.0, 0.0, 3000.0, 3000.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(two[0], (4.0, "alert_raised", "Warning".into()));
    }

    #[test]
    fn energy_per_day_starts_again_at_local_midnight() {
        let mut a = Alerts::new(
            epoch(),
            vec![(
                AlertRule {
                    quantity: Quantity::EnergyPerDay,
                    scope: Scope::Site,
                    ..rule(Crossing::Above, Some(5.0), None)
                },
                Input::channel(0),
            )],
        );
        // The epoch is 10 s before midnight: the counter's rise restarts at 10 s.
        for (t, counter) in [(0, 100.0), (9, 104.0), (10, 106.0), (12, 111.0)] {
            a.handle_row(Instant::from_micros(t * 1_000_000), &[counter]);
            let expected = match t {
                0 | 10 => 0.0,
                9 => 4.0,
                _ => 5.0,
            };
            assert_eq!(a.watches[0].last, expected, "at {t} s");
        }
    }

    #[test]
    fn an_edited_rule_starts_again_and_an_unchanged_one_keeps_its_state() {
        let mut r = rule(Crossing::Below, Some(0.8), None);
        r.after = Secs::lit(0.0);
        let other = AlertRule {
            name: "other".into(),
            ..r.clone()
        };
        let at = |s: u64| Instant::from_micros(s * 1_000_000);
        let both = |a: &AlertRule, b: &AlertRule| {
            vec![
                (a.clone(), Input::channel(0)),
                (b.clone(), Input::channel(0)),
            ]
        };
        let mut a = Alerts::new(epoch(), both(&r, &other));
        a.handle_row(at(0), &[0.5]);
        assert_eq!(a.drain_events().len(), 2);
        // The same rules again: nothing happens.
        a.handle_rules(at(1), both(&r, &other));
        a.handle_row(at(1), &[0.5]);
        assert!(a.drain_events().is_empty());
        // New recipients change nobody's state, but are the rule's from now on.
        let mut told = r.clone();
        told.notify = Some("night shift".into());
        told.escalate = Some(Escalation {
            after: Secs::lit(60.0),
            to: "managers".into(),
        });
        a.handle_rules(at(1), both(&told, &other));
        a.handle_row(at(1), &[0.5]);
        assert!(a.drain_events().is_empty());
        assert_eq!(a.rules().next(), Some(&told));
        // `r` changed: its alert is cleared and raised again under its new threshold.
        let mut changed = r.clone();
        changed.warning = Some(0.6);
        a.handle_rules(at(2), both(&changed, &other));
        let e = a.drain_events();
        assert_eq!(e.len(), 1);
        assert!(
            matches!(&e[0].kind, EventKind::AlertCleared { rule, after_s, .. }
            if rule == "r" && *after_s == 2.0)
        );
        a.handle_row(at(2), &[0.5]);
        let e = a.drain_events();
        assert!(
            matches!(&e[0].kind, EventKind::AlertRaised { threshold, .. } if *threshold == 0.6)
        );
        assert_eq!(a.active().len(), 2);
    }

    #[test]
    fn a_rule_says_what_is_wrong_with_it() {
        let bad = |r: AlertRule| r.problem().unwrap();
        assert!(bad(rule(Crossing::Below, None, None)).contains("a warning or a critical"));
        assert!(bad(rule(Crossing::Below, Some(0.7), Some(0.8))).contains("before the critical"));
        assert!(bad(rule(Crossing::Above, Some(0.8), Some(0.7))).contains("before the critical"));
        let mut r = rule(Crossing::Above, Some(1.0), None);
        r.hysteresis = -1.0;
        assert!(bad(r).contains("hysteresis"));
        assert_eq!(rule(Crossing::Below, Some(0.8), Some(0.7)).problem(), None);
    }

    #[test]
    fn combined_inputs() {
        let row = [300.0, 400.0, 100.0, 0.0];
        let input = |combine, channels: Vec<usize>, reactive: Vec<usize>| Input {
            combine,
            channels,
            reactive,
            scale: 1.0,
        };
        assert_eq!(
            input(Combine::Apparent, vec![0], vec![1]).value(&row),
            500.0
        );
        assert_eq!(input(Combine::Pf, vec![0], vec![1]).value(&row), 0.6);
        assert!(input(Combine::Pf, vec![3], vec![3]).value(&row).is_nan());
        assert_eq!(input(Combine::Sum, vec![0, 2], vec![]).value(&row), 400.0);
        assert_eq!(
            input(Combine::Max, vec![0, 1, 2], vec![]).value(&row),
            400.0
        );
        assert_eq!(
            input(Combine::Min, vec![0, 1, 2], vec![]).value(&row),
            100.0
        );
    }
}
