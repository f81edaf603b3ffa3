//! The event log (with acknowledgements) and the audit log of control actions.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError};

/// A logged event: when, how severe, about what, which kind, and its own fields.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    /// Unix ms.
    pub t: i64,
    pub severity: String,
    pub subject: String,
    pub kind: String,
    pub detail: serde_json::Value,
    /// The event in words (`record::words`), made as it is read: not stored.
    pub text: String,
    pub acked_by: Option<String>,
    pub acked_at: Option<i64>,
}

impl StoredEvent {
    /// The event's words from its subject, kind and fields.
    pub fn words(subject: &str, kind: &str, detail: &serde_json::Value) -> String {
        let none = serde_json::Map::new();
        record::words::sentence(subject, kind, detail.as_object().unwrap_or(&none))
    }
}

/// Which events to list; every field narrows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Unix ms, inclusive.
    pub from: Option<i64>,
    /// Unix ms, exclusive.
    pub to: Option<i64>,
    /// This severity and worse (info < warning < alarm < critical).
    pub severity: Option<String>,
    /// The event's kind (`trip`, `transfer`, ...).
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// Only alarms nobody acknowledged.
    #[serde(default)]
    pub unacked: bool,
    /// At most this many, newest first (default 200, at most 10000).
    pub limit: Option<u32>,
}

pub const SEVERITIES: [&str; 4] = ["info", "warning", "alarm", "critical"];

/// A severity's place in `SEVERITIES` (an unknown one counts as `info`).
pub fn severity_rank(s: &str) -> usize {
    SEVERITIES.iter().position(|x| *x == s).unwrap_or(0)
}

/// A control action and who took it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub t: i64,
    pub user: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

impl Store {
    /// Events matching `f`, newest first.
    pub fn events(&self, f: &EventFilter) -> Result<Vec<StoredEvent>> {
        let rank = match &f.severity {
            None => 0,
            Some(s) => SEVERITIES.iter().position(|x| x == s).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown severity {s:?}; expected one of {}",
                    SEVERITIES.join(", ")
                ))
            })?,
        };
        let mut q = self.conn.prepare_cached(
            "SELECT id, t, severity, subject, kind, detail, acked_by, acked_at FROM event
             WHERE t >= ?1 AND t < ?2
               AND (CASE severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 WHEN 'alarm' THEN 2
                    ELSE 3 END) >= ?3
               AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR subject = ?5)
               AND (?6 = 0 OR acked_at IS NULL)
             ORDER BY id DESC LIMIT ?7",
        )?;
        let rows = q.query_map(
            params![
                f.from.unwrap_or(i64::MIN),
                f.to.unwrap_or(i64::MAX),
                rank as i64,
                f.kind,
                f.subject,
                f.unacked,
                f.limit.unwrap_or(200).min(10_000),
            ],
            stored_event,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every event over [from, to) unix ms, oldest first, however many (for reports).
    pub fn events_between(&self, from: i64, to: i64) -> Result<Vec<StoredEvent>> {
        let mut q = self.conn.prepare_cached(
            "SELECT id, t, severity, subject, kind, detail, acked_by, acked_at FROM event
             WHERE t >= ?1 AND t < ?2 ORDER BY id",
        )?;
        let rows = q.query_map(params![from, to], stored_event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Acknowledge an event; false when there is no such event or it was acknowledged.
    pub fn ack(&self, id: i64, user: &str, now_ms: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE event SET acked_by = ?2, acked_at = ?3 WHERE id = ?1 AND acked_at IS NULL",
            params![id, user, now_ms],
        )?;
        Ok(n == 1)
    }

    /// Whether the event was acknowledged (false when there is no such event).
    pub fn acked(&self, id: i64) -> Result<bool> {
        let mut q = self
            .conn
            .prepare_cached("SELECT acked_at IS NOT NULL FROM event WHERE id = ?1")?;
        let mut rows = q.query(params![id])?;
        Ok(match rows.next()? {
            Some(r) => r.get(0)?,
            None => false,
        })
    }

    pub fn audit(
        &self,
        now_ms: i64,
        user: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO audit(t, user, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_ms, user, action, target, detail],
        )?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let mut q = self.conn.prepare_cached(
            "SELECT id, t, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = q.query_map([limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                t: r.get(1)?,
                user: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// An event row as selected by `events` and `events_between`.
fn stored_event(r: &rusqlite::Row) -> rusqlite::Result<StoredEvent> {
    let detail: String = r.get(5)?;
    let detail = serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null);
    let (subject, kind): (String, String) = (r.get(3)?, r.get(4)?);
    Ok(StoredEvent {
        id: r.get(0)?,
        t: r.get(1)?,
        severity: r.get(2)?,
        text: StoredEvent::words(&subject, &kind, &detail),
        subject,
        kind,
        detail,
        acked_by: r.get(6)?,
        acked_at: r.get(7)?,
    })
}
