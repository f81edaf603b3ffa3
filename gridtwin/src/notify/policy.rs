//! Who is told what, and when, sans-IO: the site's clock (unix ms) is passed in and whether an
//! event was acknowledged is asked of the caller.
//!
//! - A raised or cleared alert whose action is `Notify` goes to its rule's group (else the
//!   default group); other events of the routed severity and worse to the events' group. A
//!   batch's events for one group make one message.
//! - A raised alert with an escalation still raised and unacknowledged when its time comes is
//!   sent to the second group, once; that group then hears the alert clear.
//! - In quiet hours only urgent messages (an alarm or critical event, an escalation) go out; the
//!   rest are held and sent together when the hours end.
//! - Beyond the rate limit a group's messages are held and sent together once the window
//!   admits one more.

use std::collections::{BTreeMap, VecDeque};

use chrono::NaiveTime;
use control_core::AlertRule;
use serde::{Deserialize, Serialize};

use super::{Message, Notifications, Why};
use crate::store::StoredEvent;
use crate::store::log::severity_rank;

/// A raised alert waiting for its escalation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pending {
    raised: StoredEvent,
    rule: String,
    due: i64,
    after_s: f64,
    to: String,
}

/// The escalations in hand: due ones and those sent whose alerts have not cleared. Kept in the
/// store so that a restart neither forgets an escalation nor sends one twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Escalations {
    pending: Vec<Pending>,
    escalated: BTreeMap<String, String>,
}

pub struct Policy {
    cfg: Notifications,
    utc_offset_s: i32,
    pending: Vec<Pending>,
    /// Rules escalated and not yet cleared, with the group told.
    escalated: BTreeMap<String, String>,
    /// Events held per group, oldest first.
    held: BTreeMap<String, Vec<StoredEvent>>,
    /// When each group's recent messages went, for the rate limit.
    sent: BTreeMap<String, VecDeque<i64>>,
}

impl Policy {
    pub fn new(cfg: Notifications, utc_offset_s: i32) -> Self {
        Policy {
            cfg,
            utc_offset_s,
            pending: Vec::new(),
            escalated: BTreeMap::new(),
            held: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }

    /// The escalations in hand, to keep.
    pub fn escalations(&self) -> Escalations {
        Escalations {
            pending: self.pending.clone(),
            escalated: self.escalated.clone(),
        }
    }

    /// Take up the escalations kept before a restart, with their original due times.
    pub fn resume(&mut self, e: Escalations) {
        self.pending = e.pending;
        self.escalated = e.escalated;
    }

    /// New settings; what is pending or held stays.
    pub fn handle_settings(&mut self, cfg: Notifications) {
        self.cfg = cfg;
    }

    pub fn settings(&self) -> &Notifications {
        &self.cfg
    }

    /// A committed batch's events (with their store ids) at `now`, under `rules`; the messages
    /// to send now.
    pub fn handle_events(
        &mut self,
        now: i64,
        events: &[StoredEvent],
        rules: &[AlertRule],
    ) -> Vec<Message> {
        let mut by_group: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
        for e in events {
            for g in self.route(e, rules) {
                by_group.entry(g).or_default().push(e.clone());
            }
        }
        let mut out = Vec::new();
        for (group, events) in by_group {
            self.emit(now, group, Why::Events, events, &mut out);
        }
        out
    }

    /// Escalations come due and held messages let go at `now`; `acked` says whether an event
    /// was acknowledged.
    pub fn poll(&mut self, now: i64, acked: impl Fn(i64) -> bool) -> Vec<Message> {
        let mut out = Vec::new();
        let (due, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.pending = waiting;
        for p in due {
            if acked(p.raised.id) {
                continue;
            }
            self.escalated.insert(p.rule.clone(), p.to.clone());
            let why = Why::Escalation { after_s: p.after_s };
            self.emit(now, p.to, why, vec![p.raised], &mut out);
        }
        let groups: Vec<String> = self.held.keys().cloned().collect();
        for g in groups {
            if !self.quiet(now) && self.admits(now, &g) {
                let events = self.held.remove(&g).unwrap_or_default();
                self.sent.entry(g.clone()).or_default().push_back(now);
                out.push(Message {
                    group: g,
                    why: Why::Held,
                    events,
                });
            }
        }
        out
    }

    /// The groups an event goes to; an alert's escalation registered or settled.
    fn route(&mut self, e: &StoredEvent, rules: &[AlertRule]) -> Vec<String> {
        let alert = matches!(e.kind.as_str(), "alert_raised" | "alert_cleared");
        if !alert {
            return match &self.cfg.events {
                Some(r) if severity_rank(&e.severity) >= severity_rank(&r.min_severity) => {
                    vec![r.group.clone()]
                }
                _ => Vec::new(),
            };
        }
        let field = |k: &str| e.detail.get(k).and_then(|v| v.as_str()).unwrap_or("");
        if field("action") == "Log" {
            return Vec::new();
        }
        let name = field("rule").to_string();
        let rule = rules.iter().find(|r| r.name == name);
        let mut to: Vec<String> = rule
            .and_then(|r| r.notify.clone())
            .or_else(|| self.cfg.default_group.clone())
            .into_iter()
            .collect();
        if e.kind == "alert_raised" {
            // A step between levels is raised again; the first unacknowledged one escalates.
            if let Some(x) = rule.and_then(|r| r.escalate.as_ref())
                && !self.escalated.contains_key(&name)
                && !self.pending.iter().any(|p| p.rule == name)
            {
                self.pending.push(Pending {
                    raised: e.clone(),
                    rule: name,
                    due: e.t + (x.after.get() * 1000.0).round() as i64,
                    after_s: x.after.get(),
                    to: x.to.clone(),
                });
            }
        } else {
            self.pending.retain(|p| p.rule != name);
            if let Some(g) = self.escalated.remove(&name)
                && !to.contains(&g)
            {
                to.push(g);
            }
        }
        to.retain(|g| self.cfg.group(g).is_some());
        to
    }

    /// Send now, or hold for later.
    fn emit(
        &mut self,
        now: i64,
        group: String,
        why: Why,
        events: Vec<StoredEvent>,
        out: &mut Vec<Message>,
    ) {
        let urgent = matches!(why, Why::Escalation { .. })
            || events
                .iter()
                .any(|e| matches!(e.severity.as_str(), "alarm" | "critical"));
        let quiet = self.quiet(now) && !urgent;
        if quiet || !self.admits(now, &group) {
            self.held.entry(group).or_default().extend(events);
            return;
        }
        self.sent.entry(group.clone()).or_default().push_back(now);
        out.push(Message { group, why, events });
    }

    /// Whether `group` may be sent one more message at `now`.
    fn admits(&mut self, now: i64, group: &str) -> bool {
        let Some(limit) = self.cfg.rate_limit else {
            return true;
        };
        let sent = self.sent.entry(group.to_string()).or_default();
        let window = i64::from(limit.per_s) * 1000;
        while sent.front().is_some_and(|&t| t <= now - window) {
            sent.pop_front();
        }
        sent.len() < limit.messages as usize
    }

    /// Whether `now` falls in the quiet hours, local time.
    fn quiet(&self, now: i64) -> bool {
        let Some(q) = self.cfg.quiet_hours else {
            return false;
        };
        let local = now + i64::from(self.utc_offset_s) * 1000;
        let ms = local.rem_euclid(86_400_000);
        let t = NaiveTime::from_num_seconds_from_midnight_opt((ms / 1000) as u32, 0)
            .unwrap_or_default();
        if q.from < q.to {
            q.from <= t && t < q.to
        } else {
            t >= q.from || t < q.to
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{EventRoute, Group, RateLimit};
    use control_core::{AlertAction, Crossing, Escalation, Quantity, Scope, Secs};

    const S: i64 = 1000;
    /// 2026-12-06 00:00 UTC.
    const DAY: i64 = 1_796_515_200_000;

    fn group(name: &str) -> Group {
        Group {
            name: name.into(),
            email: vec![format!("{name}@example.net")],
            webhooks: Vec::new(),
        }
    }

    fn cfg() -> Notifications {
        Notifications {
            groups: vec![group("ops"), group("managers")],
            default_group: Some("ops".into()),
            events: Some(EventRoute {
                min_severity: "alarm".into(),
                group: "ops".into(),
            }),
            ..Notifications::default()
        }
    }

    fn rule(name: &str, escalate_s: Option<f64>) -> AlertRule {
        AlertRule {
            name: name.into(),
            quantity: Quantity::Pf,
            scope: Scope::Site,
            when: Crossing::Below,
            warning: Some(0.9),
            critical: None,
            after: Secs::lit(0.0),
            hysteresis: 0.0,
            clear_after: Secs::lit(0.0),
            action: AlertAction::Notify,
            notify: None,
            escalate: escalate_s.map(|s| Escalation {
                after: Secs::lit(s),
                to: "managers".into(),
            }),
            shed: Vec::new(),
        }
    }

    fn event(id: i64, t: i64, kind: &str, severity: &str, rule: &str) -> StoredEvent {
        StoredEvent {
            id,
            t,
            severity: severity.into(),
            subject: "site".into(),
            kind: kind.into(),
            detail: serde_json::json!({ "rule": rule, "action": "Notify" }),
            text: format!("{kind} {rule}"),
            acked_by: None,
            acked_at: None,
        }
    }

    fn to(msgs: &[Message]) -> Vec<(String, Why, Vec<i64>)> {
        msgs.iter()
            .map(|m| {
                let ids = m.events.iter().map(|e| e.id).collect();
                (m.group.clone(), m.why, ids)
            })
            .collect()
    }

    /// Poll every second from `from` to `to` s, with these events acknowledged.
    fn run(p: &mut Policy, from: i64, to_s: i64, acked: &[i64]) -> Vec<Message> {
        (from..=to_s)
            .flat_map(|s| p.poll(DAY + s * S, |id| acked.contains(&id)))
            .collect()
    }

    #[test]
    fn an_unacknowledged_alert_reaches_the_second_group_exactly_once() {
        let rules = [rule("low_pf", Some(30.0))];
        let mut p = Policy::new(cfg(), 0);
        let raised = event(7, DAY, "alert_raised", "warning", "low_pf");
        let first = p.handle_events(DAY, std::slice::from_ref(&raised), &rules);
        assert_eq!(to(&first), [("ops".into(), Why::Events, vec![7])]);
        assert!(run(&mut p, 0, 29, &[]).is_empty());
        let up = run(&mut p, 30, 600, &[]);
        assert_eq!(
            to(&up),
            [(
                "managers".into(),
                Why::Escalation { after_s: 30.0 },
                vec![7]
            )]
        );
        // The same alert stepping to critical does not escalate again; its clearing is told
        // to both groups.
        let critical = event(8, DAY + 700 * S, "alert_raised", "critical", "low_pf");
        p.handle_events(DAY + 700 * S, &[critical], &rules);
        assert!(run(&mut p, 700, 1400, &[]).is_empty());
        let cleared = event(9, DAY + 1500 * S, "alert_cleared", "info", "low_pf");
        let told = p.handle_events(DAY + 1500 * S, &[cleared], &rules);
        let groups: Vec<_> = told.iter().map(|m| m.group.as_str()).collect();
        assert_eq!(groups, ["managers", "ops"]);
        // Raised anew, it may escalate anew.
        let again = event(10, DAY + 2000 * S, "alert_raised", "warning", "low_pf");
        p.handle_events(DAY + 2000 * S, &[again], &rules);
        assert_eq!(run(&mut p, 2000, 2100, &[]).len(), 1);
    }

    #[test]
    fn an_acknowledged_or_cleared_alert_does_not_escalate() {
        let rules = [rule("a", Some(30.0)), rule("b", Some(30.0))];
        let mut p = Policy::new(cfg(), 0);
        let a = event(1, DAY, "alert_raised", "warning", "a");
        let b = event(2, DAY, "alert_raised", "warning", "b");
        p.handle_events(DAY, &[a, b], &rules);
        let b_clears = event(3, DAY + 10 * S, "alert_cleared", "info", "b");
        p.handle_events(DAY + 10 * S, &[b_clears], &rules);
        assert!(run(&mut p, 0, 100, &[1]).is_empty());
    }

    /// A restart: the escalations kept (as the store keeps them, JSON) taken up by a new policy.
    fn restarted(p: &Policy) -> Policy {
        let kept = serde_json::to_string(&p.escalations()).unwrap();
        let mut again = Policy::new(cfg(), 0);
        again.resume(serde_json::from_str(&kept).unwrap());
        again
    }

    #[test]
    fn a_restart_keeps_the_escalation_s_time_and_never_sends_it_twice() {
        let rules = [rule("low_pf", Some(30.0))];
        let mut p = Policy::new(cfg(), 0);
        let raised = event(7, DAY, "alert_raised", "warning", "low_pf");
        p.handle_events(DAY, &[raised], &rules);
        assert!(run(&mut p, 0, 20, &[]).is_empty());
        // Down from 20 s to 25 s: the escalation is still due at 30 s, not 30 s after the
        // restart.
        let mut p = restarted(&p);
        assert!(run(&mut p, 25, 29, &[]).is_empty());
        assert_eq!(to(&run(&mut p, 30, 30, &[])).len(), 1);
        // Restarted again after it went: not again; the alert's clearing reaches both groups.
        let mut p = restarted(&p);
        assert!(run(&mut p, 31, 600, &[]).is_empty());
        let cleared = event(9, DAY + 700 * S, "alert_cleared", "info", "low_pf");
        let told = p.handle_events(DAY + 700 * S, &[cleared], &rules);
        let groups: Vec<_> = told.iter().map(|m| m.group.as_str()).collect();
        assert_eq!(groups, ["managers", "ops"]);
        assert_eq!(p.escalations(), Escalations::default());
    }

    #[test]
    fn rules_name_their_group_log_only_rules_and_minor_events_go_nowhere() {
        let mut r = rule("r", None);
        r.notify = Some("managers".into());
        let mut p = Policy::new(cfg(), 0);
        let mut quiet = event(2, DAY, "alert_raised", "warning", "logged");
        quiet.detail["action"] = "Log".into();
        let events = [
            event(1, DAY, "alert_raised", "warning", "r"),
            quiet,
            event(3, DAY, "transfer", "info", ""),
            event(4, DAY, "trip", "alarm", ""),
        ];
        let m = p.handle_events(DAY, &events, &[r]);
        assert_eq!(
            to(&m),
            [
                ("managers".into(), Why::Events, vec![1]),
                ("ops".into(), Why::Events, vec![4]),
            ]
        );
    }

    #[test]
    fn quiet_hours_hold_what_is_not_urgent_until_they_end() {
        let mut c = cfg();
        // 22:00 to 07:00 local, at UTC+1: 21:00 to 06:00 UTC.
        c.quiet_hours = serde_json::from_str(r#"{"from": "22:00", "to": "07:00"}"#).unwrap();
        assert_eq!(
            c.quiet_hours.unwrap().from,
            NaiveTime::from_hms_opt(22, 0, 0).unwrap()
        );
        let mut p = Policy::new(c, 3600);
        let rules = [rule("r", None)];
        let night = DAY + 23 * 3600 * S;
        let held = p.handle_events(
            night,
            &[event(1, night, "alert_raised", "warning", "r")],
            &rules,
        );
        assert!(held.is_empty());
        let urgent = p.handle_events(night, &[event(2, night, "trip", "alarm", "")], &rules);
        assert_eq!(to(&urgent), [("ops".into(), Why::Events, vec![2])]);
        // Still quiet at 05:59 UTC (06:59 local); let go at 06:00 UTC.
        assert!(p.poll(DAY + (30 * 3600 - 1) * S, |_| false).is_empty());
        let morning = p.poll(DAY + 30 * 3600 * S, |_| false);
        assert_eq!(to(&morning), [("ops".into(), Why::Held, vec![1])]);
    }

    #[test]
    fn the_rate_limit_holds_the_excess_and_sends_it_as_one() {
        let mut c = cfg();
        c.rate_limit = Some(RateLimit {
            messages: 2,
            per_s: 60,
        });
        let mut p = Policy::new(c, 0);
        let mut sent = Vec::new();
        for k in 0..5 {
            let t = DAY + k * S;
            sent.extend(p.handle_events(t, &[event(k, t, "trip", "alarm", "")], &[]));
            sent.extend(p.poll(t, |_| false));
        }
        assert_eq!(to(&sent).len(), 2);
        assert!(p.poll(DAY + 59 * S, |_| false).is_empty());
        let later = p.poll(DAY + 60 * S, |_| false);
        assert_eq!(to(&later), [("ops".into(), Why::Held, vec![2, 3, 4])]);
    }
}
