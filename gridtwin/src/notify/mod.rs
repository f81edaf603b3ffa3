//! Telling people: the site's notification settings (groups of e-mail addresses and webhooks,
//! the mail server, quiet hours, a rate limit), who is told what and when (`policy`, sans-IO),
//! and the delivery over SMTP and HTTP(S) (`send`).

pub mod policy;
pub mod send;

use std::collections::BTreeMap;
use std::path::PathBuf;

use control_core::AlertRule;
use serde::{Deserialize, Serialize};

use crate::store::StoredEvent;
use crate::store::log::{SEVERITIES, severity_rank};

/// Who is told of what, and how; the admin's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// The mail server, for groups with e-mail addresses.
    #[serde(default)]
    pub smtp: Option<Smtp>,
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Told of alert rules that name no group.
    #[serde(default)]
    pub default_group: Option<String>,
    /// Events other than alerts (trips, outages, faults) of a severity and worse, to a group.
    #[serde(default)]
    pub events: Option<EventRoute>,
    /// When only what is urgent goes out; the rest waits for the end, in one message.
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// At most so many messages to one group in a window; the rest waits, in one message.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// An SMTP submission server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    /// 587 for STARTTLS, 465 for TLS, 25 for a relay on the local network.
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    /// The sender, `Name <address>` or `address`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Never shown back by the API.
    #[serde(default)]
    pub password: Option<String>,
    /// Trust only this CA's PEM certificate (else the system's).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which must succeed.
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the local network.
    None,
}

/// People told together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

/// An HTTP or HTTPS endpoint: a chat service, an SMS gateway, Home Assistant, ntfy...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://host[:port]/path`.
    pub url: String,
    /// A MiniJinja template of the body (`text`, `subject`, `site`, `group`, `escalation`,
    /// `events` with each event's fields); without one the body is the events as JSON.
    #[serde(default)]
    pub template: Option<String>,
    /// The body's type (default `application/json`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Extra headers (an `Authorization`, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Trust only this CA's PEM certificate (else the system's).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRoute {
    pub min_severity: String,
    pub group: String,
}

/// Local times, `HH:MM`; the hours may span midnight (22:00 to 07:00).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub from: chrono::NaiveTime,
    pub to: chrono::NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub messages: u32,
    pub per_s: u32,
}

impl Notifications {
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Why the settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        for (i, g) in self.groups.iter().enumerate() {
            if g.name.trim().is_empty() {
                return Some(format!("notification group {} needs a name", i + 1));
            }
            if self.groups[..i].iter().any(|h| h.name == g.name) {
                return Some(format!("notification group {:?} is defined twice", g.name));
            }
            if !g.email.is_empty() && self.smtp.is_none() {
                return Some(format!(
                    "group {:?} has e-mail addresses: give the mail server (smtp)",
                    g.name
                ));
            }
            for a in &g.email {
                if let Err(e) = a.parse::<lettre::Address>() {
                    return Some(format!("group {:?}: the address {a:?}: {e}", g.name));
                }
            }
            for w in &g.webhooks {
                if let Some(p) = send::webhook_problem(w) {
                    return Some(format!("group {:?}: {p}", g.name));
                }
            }
        }
        let known = |what: &str, name: &str| {
            (self.group(name).is_none()).then(|| format!("{what} {name:?} is not a group"))
        };
        if let Some(p) = self
            .default_group
            .as_deref()
            .and_then(|g| known("default_group", g))
        {
            return Some(p);
        }
        if let Some(r) = &self.events {
            if !SEVERITIES.contains(&r.min_severity.as_str()) {
                return Some(format!(
                    "events.min_severity {:?} is not one of {}",
                    r.min_severity,
                    SEVERITIES.join(", ")
                ));
            }
            if let Some(p) = known("events.group", &r.group) {
                return Some(p);
            }
        }
        if let Some(q) = self.quiet_hours
            && q.from == q.to
        {
            return Some("quiet_hours: from and to are the same time".into());
        }
        if let Some(r) = self.rate_limit
            && (r.messages == 0 || r.per_s == 0)
        {
            return Some("rate_limit: messages and per_s must be at least 1".into());
        }
        self.smtp.as_ref().and_then(send::smtp_problem)
    }

    /// Why these rules name groups that do not exist, if they do.
    pub fn unknown_groups(&self, rules: &[AlertRule]) -> Option<String> {
        rules.iter().find_map(|r| {
            let named = r.notify.iter().chain(r.escalate.iter().map(|e| &e.to));
            named
                .into_iter()
                .find(|g| self.group(g).is_none())
                .map(|g| format!("alert {:?}: {g:?} is not a notification group", r.name))
        })
    }

    /// The settings to show: the password left out (kept when a saved copy omits it).
    pub fn redacted(&self) -> Notifications {
        let mut n = self.clone();
        if let Some(s) = &mut n.smtp {
            s.password = None;
        }
        n
    }

    /// `self` as saved from a redacted copy: the stored password kept for the same account.
    pub fn keeping_password(mut self, stored: &Notifications) -> Notifications {
        if let (Some(new), Some(old)) = (&mut self.smtp, &stored.smtp)
            && new.password.is_none()
            && new.username == old.username
            && new.host == old.host
        {
            new.password = old.password.clone();
        }
        self
    }
}

/// One message to one group: events, said in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub group: String,
    pub why: Why,
    pub events: Vec<StoredEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// As they happened.
    Events,
    /// A raised alert nobody acknowledged within `after_s`.
    Escalation { after_s: f64 },
    /// Held by quiet hours or the rate limit, sent together.
    Held,
    /// A test from an admin.
    Test,
}

impl Message {
    /// The subject line: the gravest event, and how many more.
    pub fn subject(&self, site: &str) -> String {
        let head = self
            .events
            .iter()
            .max_by_key(|e| severity_rank(&e.severity))
            .map_or("(no events)".to_string(), |e| {
                format!("{}: {}", e.severity, e.text)
            });
        let more = match self.events.len() {
            0 | 1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        let tag = match self.why {
            Why::Escalation { .. } => "ESCALATED ",
            Why::Held => "held ",
            Why::Test => "TEST ",
            Why::Events => "",
        };
        format!("[gridtwin {site}] {tag}{head}{more}")
    }

    /// The plain-text body: why, then each event with its local time.
    pub fn text(&self, utc_offset_s: i32) -> String {
        let mut out = match self.why {
            Why::Events => String::new(),
            Why::Escalation { after_s } => format!(
                "Not acknowledged after {}: escalated to {}.\n\n",
                record::words::duration(Some(after_s)),
                self.group
            ),
            Why::Held => "Held by quiet hours or the rate limit:\n\n".into(),
            Why::Test => format!(
                "A test of the notifications to {}: nothing has happened.\n\n",
                self.group
            ),
        };
        for e in &self.events {
            let local =
                chrono::DateTime::from_timestamp_millis(e.t + i64::from(utc_offset_s) * 1000)
                    .map_or_else(String::new, |d| {
                        d.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
                    });
            out.push_str(&format!("{local}  {:<8}  {}\n", e.severity, e.text));
        }
        out
    }
}
