//! A live site's reports: a day, a week (from Monday) or a month of its store turned into the
//! recording a batch run makes (`gather`: minute rows, the events, the site's meta), which the
//! report engine writes as it writes a run's. Written on demand (`gridtwin report --data`) and
//! by the service after each period ends (`due`), into `DATA/reports/LABEL/`, each beside an
//! `about.json` that the page lists.

mod gather;

use std::path::{Path, PathBuf};

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

pub use gather::{Gathered, gather};

use crate::energy::Calendar;

/// The store's state key of the site's description (`SiteRecord`), kept at each start.
pub const SITE: &str = "site";
/// The reports' folder inside the data directory.
pub const DIR: &str = "reports";
/// Beside each report: what it covers (`About`).
pub const ABOUT: &str = "about.json";

/// What a report of the live site needs to know that its readings do not say: the site's meta
/// as the running scenario gives it, and its calendar.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteRecord {
    pub meta: record::Meta,
    /// Local time minus UTC, s.
    pub utc_offset_s: i32,
}

impl SiteRecord {
    pub fn calendar(&self) -> Calendar {
        Calendar {
            utc_offset_s: self.utc_offset_s,
        }
    }
}

/// A report's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Result<Period, String> {
        Period::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown period {s:?}: expected day, week or month"))
    }

    /// The local days of the period holding `d`: its first, and the day after its last.
    pub fn days(self, d: NaiveDate) -> (NaiveDate, NaiveDate) {
        let first = match self {
            Period::Day => d,
            Period::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Period::Month => d.with_day(1).unwrap_or(d),
        };
        let end = match self {
            Period::Day => first.checked_add_days(Days::new(1)),
            Period::Week => first.checked_add_days(Days::new(7)),
            Period::Month => first.checked_add_months(Months::new(1)),
        };
        (first, end.unwrap_or(first))
    }

    /// The name of the period starting on `first`: `day-2026-12-05`, `week-2026-W49` (ISO
    /// weeks), `month-2026-11`.
    pub fn label(self, first: NaiveDate) -> String {
        match self {
            Period::Day => format!("day-{}", first.format("%Y-%m-%d")),
            Period::Week => {
                let w = first.iso_week();
                format!("week-{}-W{:02}", w.year(), w.week())
            }
            Period::Month => format!("month-{}", first.format("%Y-%m")),
        }
    }
}

/// One period of the site's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub period: Period,
    pub label: String,
    /// Its first local day.
    pub first: NaiveDate,
    /// Unix ms: local midnight of its first day and of the day after its last.
    pub from: i64,
    pub to: i64,
}

impl Span {
    /// The period holding local day `d`.
    pub fn of(cal: Calendar, period: Period, d: NaiveDate) -> Span {
        let (first, end) = period.days(d);
        Span {
            period,
            label: period.label(first),
            first,
            from: cal.midnight(first),
            to: cal.midnight(end),
        }
    }

    /// The last period that had ended by `now` (unix ms).
    pub fn last_ended(cal: Calendar, period: Period, now: i64) -> Span {
        let current = Span::of(cal, period, cal.local(now).date());
        let before = current.first.pred_opt().unwrap_or(current.first);
        Span::of(cal, period, before)
    }
}

/// What `about.json` says of a written report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct About {
    #[serde(flatten)]
    pub span: Span,
    /// Unix ms: the end of what it covers (the span's end, or the last minute read before it).
    pub until: i64,
    /// Unix ms, the site's clock when it was written.
    pub written: i64,
}

/// The reports written in `dir` (the data directory's `reports/`), newest period first; a
/// folder without a readable `about.json` is not one.
pub fn list(dir: &Path) -> Vec<About> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<About> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join(ABOUT)).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by_key(|a| std::cmp::Reverse((a.span.from, a.span.period)));
    out
}

/// The reports the schedule owes at `now`: for each period asked for, the last one that has
/// ended, unless `written` (by label) holds it. Older periods are never made up for.
pub fn due(cal: Calendar, periods: &[Period], now: i64, written: &[String]) -> Vec<Span> {
    periods
        .iter()
        .map(|&p| Span::last_ended(cal, p, now))
        .filter(|s| !written.contains(&s.label))
        .collect()
}

/// Why a span has no report.
pub fn empty(span: &Span) -> String {
    format!("{}: the site has no readings in it", span.label)
}

/// Where the report of `span` goes in the data directory `data`.
pub fn folder(data: &Path, span: &Span) -> PathBuf {
    data.join(DIR).join(&span.label)
}

/// The report of `span` written into `dir` from the store as it is at `until` (the site's clock),
/// costed at `tariff` (none: the scenario's), with its `about.json`; what that says, and the
/// summary in Markdown. None, and nothing written, when the site has no readings in the span.
#[cfg(feature = "report")]
pub fn write(
    db: &crate::store::Store,
    span: &Span,
    until: i64,
    tariff: Option<record::Tariff>,
    dir: &Path,
    opts: reports::Options,
) -> Result<Option<(About, String)>, String> {
    let Some(g) = gather(db, span, until, tariff)? else {
        return Ok(None);
    };
    let rec = reports::Recording::new(g.meta, &g.series, g.events)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    rec.write(dir).map_err(|e| e.to_string())?;
    let report = reports::Report::of(&rec)?;
    report.write(&rec, dir, opts).map_err(|e| e.to_string())?;
    let about = About {
        span: span.clone(),
        until: g.until,
        written: until,
    };
    let path = dir.join(ABOUT);
    let json = serde_json::to_vec_pretty(&about).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some((about, report.markdown(&rec))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: Calendar = Calendar { utc_offset_s: 0 };

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_are_local_days_iso_weeks_and_months() {
        assert_eq!(
            Period::Week.days(d("2026-12-06")),
            (d("2026-11-30"), d("2026-12-07"))
        );
        assert_eq!(
            Period::Month.days(d("2026-12-31")),
            (d("2026-12-01"), d("2027-01-01"))
        );
        assert_eq!(Period::Week.label(d("2026-12-28")), "week-2026-W53");
        assert_eq!(Period::Week.label(d("2024-12-30")), "week-2025-W01");
        // UTC+2: the local day starts at 22:00 UTC the day before.
        let s = Span::of(
            Calendar { utc_offset_s: 7200 },
            Period::Day,
            d("2026-12-05"),
        );
        assert_eq!(s.label, "day-2026-12-05");
        assert_eq!(s.to - s.from, 86_400_000);
        assert_eq!(s.from, UTC.midnight(d("2026-12-05")) - 7_200_000);
    }

    #[test]
    fn the_schedule_owes_the_last_ended_period_once() {
        // Sunday 2026-12-06 00:30 UTC: Saturday, the week before last Monday, November.
        let now = UTC.midnight(d("2026-12-06")) + 1_800_000;
        let owed = due(UTC, &Period::ALL, now, &[]);
        let labels: Vec<&str> = owed.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["day-2026-12-05", "week-2026-W48", "month-2026-11"]);
        let written: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        assert!(due(UTC, &Period::ALL, now, &written).is_empty());
        assert!(due(UTC, &[], now, &[]).is_empty());
    }

    #[test]
    fn unknown_periods_are_refused_by_name() {
        assert_eq!(Period::parse("week"), Ok(Period::Week));
        let e = Period::parse("year").unwrap_err();
        assert!(
            e.contains("\"year\"") && e.contains("day, week or month"),
            "{e}"
        );
    }
}
