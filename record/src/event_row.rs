//! One logged event as a row: its time, severity, subject and name, and its own fields.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub t: f64,
    pub severity: String,
    pub subject: String,
    pub event: String,
    pub detail: Map<String, Value>,
}

impl EventRow {
    /// From an event as the controller writes it: `{"t", "severity", "subject", "event", ...}`.
    pub fn from_json(v: Value) -> Result<Self, String> {
        let Value::Object(mut m) = v else {
            return Err("an event is a JSON object".into());
        };
        let mut text = |k: &str| match m.remove(k) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(format!("an event needs a string {k:?}")),
        };
        let (severity, subject, event) = (text("severity")?, text("subject")?, text("event")?);
        let t = m
            .remove("t")
            .and_then(|t| t.as_f64())
            .ok_or("an event needs a number \"t\"")?;
        Ok(EventRow {
            t,
            severity,
            subject,
            event,
            detail: m,
        })
    }

    /// A number among the event's own fields.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.detail.get(key)?.as_f64()
    }

    /// A text among the event's own fields.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.detail.get(key)?.as_str()
    }

    /// The event as the controller wrote it: `from_json` undone.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("t".into(), self.t.into());
        m.insert("severity".into(), self.severity.clone().into());
        m.insert("subject".into(), self.subject.clone().into());
        m.insert("event".into(), self.event.clone().into());
        m.extend(self.detail.clone());
        Value::Object(m)
    }
}
