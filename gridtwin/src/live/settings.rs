//! The service's own settings (the admin's settings page, `/api/settings`), stored under
//! `service`: retention, notifications, the tariff and the reports' schedule; stores written
//! before notifications keep their one webhook as a group.

use crate::energy;
use crate::notify::Notifications;
use crate::site_report::Period;
use crate::store::Retention;

/// The store's settings key of the service's settings.
pub const KEY: &str = "service";

/// The service's own settings (the admin's settings page), stored under `service`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Written")]
pub struct ServiceSettings {
    pub retention: Retention,
    pub notifications: Notifications,
    /// The energy tariff; none: the scenario's.
    pub tariff: Option<record::Tariff>,
    /// The periods whose report is written when each ends (all three unless set).
    pub reports: Vec<Period>,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            retention: Retention::default(),
            notifications: Notifications::default(),
            tariff: None,
            reports: Period::ALL.to_vec(),
        }
    }
}

/// The settings as stored or sent, which may still hold the one webhook of stores written
/// before notifications: it becomes the group `webhook`, told of the events it was told of
/// and of alerts.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    retention: Retention,
    #[serde(default)]
    notifications: Notifications,
    #[serde(default)]
    webhook: Option<LegacyWebhook>,
    #[serde(default)]
    tariff: Option<record::Tariff>,
    #[serde(default = "all_periods")]
    reports: Vec<Period>,
}

fn all_periods() -> Vec<Period> {
    Period::ALL.to_vec()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyWebhook {
    url: String,
    min_severity: String,
}

impl From<Written> for ServiceSettings {
    fn from(w: Written) -> Self {
        let mut n = w.notifications;
        if let Some(old) = w.webhook {
            n.groups.push(crate::notify::Group {
                name: "webhook".into(),
                email: Vec::new(),
                webhooks: vec![crate::notify::Webhook {
                    url: old.url,
                    template: None,
                    content_type: None,
                    headers: Default::default(),
                    ca: None,
                }],
            });
            n.default_group.get_or_insert_with(|| "webhook".into());
            n.events.get_or_insert(crate::notify::EventRoute {
                min_severity: old.min_severity,
                group: "webhook".into(),
            });
        }
        ServiceSettings {
            retention: w.retention,
            notifications: n,
            tariff: w.tariff,
            reports: w.reports,
        }
    }
}

impl ServiceSettings {
    /// Why these cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let r = self.retention;
        if r.raw_s < 60 {
            return Some("retention.raw_s must be at least 60 s".into());
        }
        if r.minute_s < r.raw_s {
            return Some("retention.minute_s must be at least retention.raw_s".into());
        }
        if let Some(t) = &self.tariff {
            let p = t
                .validate()
                .err()
                .or_else(|| energy::quarter_hour_problem(t));
            if let Some(p) = p {
                return Some(format!("tariff: {p}"));
            }
        }
        self.notifications.problem()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_webhook_of_old_becomes_a_group_told_what_it_was_told() {
        let old = r#"{"retention": {"raw_s": 3600, "minute_s": 86400},
                      "webhook": {"url": "http://relay.lan/hook", "min_severity": "alarm"}}"#;
        let s = serde_json::from_str::<ServiceSettings>(old).unwrap();
        let n = &s.notifications;
        assert_eq!(n.problem(), None);
        assert_eq!(n.groups[0].webhooks[0].url, "http://relay.lan/hook");
        assert_eq!(n.default_group.as_deref(), Some("webhook"));
        let events = n.events.as_ref().unwrap();
        assert_eq!(
            (events.min_severity.as_str(), events.group.as_str()),
            ("alarm", "webhook")
        );
        // Written back, only the new form remains.
        let written = serde_json::to_value(&s).unwrap();
        assert!(written.get("webhook").is_none(), "{written}");
    }
}
