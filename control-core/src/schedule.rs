//! Load schedules. A schedule switches at its edges (on at `on`, off at `off`) and leaves the load
//! alone in between, so an operator's manual command holds until the next edge, as a time switch
//! does. A window whose `off` is not after its `on` crosses midnight.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time of day written "HH:MM" or "HH:MM:SS".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub NaiveTime);

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M"))
            .map(TimeOfDay)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "expected a time of day \"HH:MM\" or \"HH:MM:SS\", found {s:?}"
                ))
            })
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%H:%M:%S"))
    }
}

/// A local wall-clock date and time written "YYYY-MM-DDTHH:MM[:SS]".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WallTime(pub NaiveDateTime);

impl WallTime {
    pub fn parse(s: &str) -> Option<Self> {
        [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(WallTime)
    }
}

impl<'de> Deserialize<'de> for WallTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        WallTime::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a local date and time \"YYYY-MM-DDTHH:MM[:SS]\", found {s:?}"
            ))
        })
    }
}

impl Serialize for WallTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S"))
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// Days of the week as written in scenario files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Day> for Weekday {
    fn from(d: Day) -> Weekday {
        match d {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    Daily {
        on: TimeOfDay,
        off: TimeOfDay,
    },
    /// A window that starts on each of `days`.
    Weekly {
        days: Vec<Day>,
        on: TimeOfDay,
        off: TimeOfDay,
    },
    Once {
        on: WallTime,
        off: WallTime,
    },
}

/// A switching edge: when, and whether it turns the load on.
pub type Edge = (NaiveDateTime, bool);

impl Schedule {
    /// Why this schedule can never switch anything, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match self {
            Schedule::Daily { on, off } | Schedule::Weekly { on, off, .. } if on == off => {
                Some("the window is empty: `on` and `off` are the same time".into())
            }
            Schedule::Weekly { days, .. } if days.is_empty() => {
                Some("a weekly schedule needs at least one day".into())
            }
            Schedule::Once { on, off } if off <= on => {
                Some(format!("`off` ({off}) must come after `on` ({on})"))
            }
            _ => None,
        }
    }

    fn edges_on_date(&self, d: NaiveDate, out: &mut Vec<Edge>) {
        match self {
            Schedule::Daily { on, off } => {
                out.push((d.and_time(on.0), true));
                out.push((d.and_time(off.0), false));
            }
            Schedule::Weekly { days, on, off } => {
                if days.iter().any(|&x| Weekday::from(x) == d.weekday()) {
                    out.push((d.and_time(on.0), true));
                    let off_day = if off.0 <= on.0 {
                        d.checked_add_days(Days::new(1)).unwrap_or(d)
                    } else {
                        d
                    };
                    out.push((off_day.and_time(off.0), false));
                }
            }
            Schedule::Once { .. } => {}
        }
    }

    /// Every edge in the half-open interval (from, to], in time order.
    pub fn edges(&self, from: NaiveDateTime, to: NaiveDateTime) -> Vec<Edge> {
        let mut all = Vec::new();
        if let Schedule::Once { on, off } = self {
            all.push((on.0, true));
            all.push((off.0, false));
        } else {
            // A window started the day before may end today.
            let mut d = from.date().pred_opt().unwrap_or(from.date());
            while d <= to.date() {
                self.edges_on_date(d, &mut all);
                match d.succ_opt() {
                    Some(n) => d = n,
                    None => break,
                }
            }
        }
        all.retain(|(t, _)| *t > from && *t <= to);
        all.sort();
        all
    }

    /// The next edge strictly after `t`, looking at most eight days ahead.
    pub fn next_edge(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let horizon = t.checked_add_days(Days::new(8))?;
        self.edges(t, horizon).first().map(|e| e.0)
    }

    /// Whether `t` falls inside one of this schedule's windows.
    pub fn active_at(&self, t: NaiveDateTime) -> bool {
        let Some(back) = t.checked_sub_days(Days::new(8)) else {
            return false;
        };
        self.edges(back, t).last().is_some_and(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        WallTime::parse(s).unwrap().0
    }
    fn tod(s: &str) -> TimeOfDay {
        TimeOfDay(NaiveTime::parse_from_str(s, "%H:%M").unwrap())
    }

    #[test]
    fn daily_window_across_midnight() {
        let s = Schedule::Daily {
            on: tod("22:00"),
            off: tod("06:00"),
        };
        assert!(s.active_at(at("2026-01-05T23:00")));
        assert!(s.active_at(at("2026-01-06T05:59")));
        assert!(!s.active_at(at("2026-01-06T06:00")));
        assert!(!s.active_at(at("2026-01-06T12:00")));
        let e = s.edges(at("2026-01-05T21:00"), at("2026-01-06T07:00"));
        assert_eq!(
            e,
            vec![
                (at("2026-01-05T22:00"), true),
                (at("2026-01-06T06:00"), false)
            ]
        );
        assert_eq!(
            s.next_edge(at("2026-01-06T06:00")),
            Some(at("2026-01-06T22:00"))
        );
    }

    #[test]
    fn weekly_window_ends_the_next_morning() {
        // Friday night only (2026-01-09 is a Friday).
        let s = Schedule::Weekly {
            days: vec![Day::Fri],
            on: tod("20:00"),
            off: tod("02:00"),
        };
        assert!(s.active_at(at("2026-01-10T01:00")), "Saturday 01:00");
        assert!(!s.active_at(at("2026-01-11T01:00")), "Sunday 01:00");
        assert!(!s.active_at(at("2026-01-08T21:00")), "Thursday 21:00");
        assert_eq!(
            s.next_edge(at("2026-01-10T03:00")),
            Some(at("2026-01-16T20:00"))
        );
    }

    #[test]
    fn once_fires_once() {
        let s = Schedule::Once {
            on: WallTime(at("2026-01-05T10:00")),
            off: WallTime(at("2026-01-05T11:00")),
        };
        assert!(s.active_at(at("2026-01-05T10:30")));
        assert!(!s.active_at(at("2026-01-05T11:30")));
        assert_eq!(s.next_edge(at("2026-01-05T11:00")), None);
        assert!(s.problem().is_none());
        let bad = Schedule::Once {
            on: WallTime(at("2026-01-05T11:00")),
            off: WallTime(at("2026-01-05T10:00")),
        };
        assert!(bad.problem().is_some());
    }
}
