//! A span of the store as a run's recording: one row per minute the site has readings in, each
//! holding the minute's means, and a closing row at the span's end, as a batch run's last row.
//!
//! The energy registers are read as the ledger reads them: a row at minute k holds each
//! register's last reading at or before that instant, so the rise between two rows is the
//! energy of the minute between them and the report's 15-minute demand is the ledger's. A coded
//! state (a relay, a status) holds the state the minute spent most of its time in, as far as
//! its minimum, maximum and mean tell. Minutes without readings (the service was down) have
//! no row; a channel with no reading in a minute that has a row keeps its last value.

use std::collections::{BTreeMap, BTreeSet};

use record::schema::{self, unit};
use record::{EventRow, Kind, Meta, Series};

use super::{SITE, SiteRecord, Span};
use crate::store::{Point, Store};

const MINUTE: i64 = 60_000;
/// How far before a span's first row a register's last reading is looked for.
const LOOK_BACK: i64 = 3_600_000;

/// A span of the site as the report engine takes a run.
pub struct Gathered {
    pub meta: Meta,
    pub series: Series,
    pub events: Vec<EventRow>,
    /// Unix ms: where the rows end (the span's end, or the last whole minute before `until`).
    pub until: i64,
}

/// The span's recording from the store, cut at the last whole minute before `until` (the
/// site's clock) when the span runs past it, costed at `tariff` (none: the scenario's); none
/// when the site has no readings in it.
pub fn gather(
    db: &Store,
    span: &Span,
    until: i64,
    tariff: Option<record::Tariff>,
) -> Result<Option<Gathered>, String> {
    let site: SiteRecord = db
        .state(SITE)
        .map_err(|e| e.to_string())?
        .ok_or("this store has no site description: start `gridtwin serve` on it once")?;
    let tariff = tariff.or(site.meta.tariff.clone());
    let end = span
        .to
        .min(span.from + (until - span.from).div_euclid(MINUTE) * MINUTE);
    if end <= span.from {
        return Err(format!(
            "{}: no whole minute of it has passed on the site's clock",
            span.label
        ));
    }
    let minutes = ((end - span.from) / MINUTE) as usize;
    let err = |e: crate::store::StoreError| e.to_string();

    let scope = match site.meta.kind {
        Kind::Pdu => schema::LOAD,
        Kind::Feeder => schema::HOME,
    };
    let members = || site.meta.loads.iter().map(|l| l.name.as_str());
    let member_of = |c: &str| schema::owner(scope, members(), c);
    // A stored channel of a member the site no longer has is left out.
    let stale = |c: &str| c.starts_with(&format!("{scope}/")) && member_of(c).is_none();

    let mut readings: Vec<(String, BTreeMap<usize, f64>)> = Vec::new();
    let mut registers: Vec<(String, Vec<f64>)> = Vec::new();
    let mut rows = BTreeSet::new();
    for (name, u) in db.channel_list().map_err(err)? {
        if stale(&name) {
            continue;
        }
        if u == unit::J {
            if let Some(at) = register(db, &name, span.from, minutes)? {
                registers.push((name, at));
            }
            continue;
        }
        let quantity = member_of(&name)
            .and_then(|i| schema::member_quantity(scope, &site.meta.loads[i].name, &name))
            .unwrap_or(&name);
        let coded = site.meta.codes.contains_key(quantity);
        let points = db
            .history(&name, span.from, end, minutes as u32)
            .map_err(err)?;
        let by_minute: BTreeMap<usize, f64> = points
            .iter()
            .map(|p| {
                let v = if coded { dominant(p) } else { p.mean };
                (((p.t - span.from) / MINUTE) as usize, v)
            })
            .collect();
        if !by_minute.is_empty() {
            rows.extend(by_minute.keys().copied());
            readings.push((name, by_minute));
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    // The closing row, at the span's end.
    rows.insert(minutes);

    let mut meta = site.meta.clone();
    let kept: BTreeSet<usize> = readings
        .iter()
        .map(|r| &r.0)
        .chain(registers.iter().map(|r| &r.0))
        .filter_map(|c| member_of(c))
        .collect();
    meta.loads = (0..meta.loads.len())
        .filter(|i| kept.contains(i))
        .map(|i| site.meta.loads[i].clone())
        .collect();
    meta.name = format!("{}: {}", site.meta.name, span.label);
    meta.start = site.calendar().local(span.from);
    meta.duration_s = (end - span.from) as f64 / 1000.0;
    meta.record_every_s = (MINUTE / 1000) as f64;
    meta.tariff = tariff;
    meta.expectations.clear();

    // Member channels of dropped loads stay out; a member's channel missing altogether is NaN.
    let mut names: Vec<String> = readings.iter().map(|r| r.0.clone()).collect();
    names.extend(registers.iter().map(|r| r.0.clone()));
    let quantities: BTreeSet<&str> = names
        .iter()
        .filter_map(|c| {
            let owner = &site.meta.loads[member_of(c)?].name;
            schema::member_quantity(scope, owner, c)
        })
        .collect();
    let missing: Vec<String> = meta
        .loads
        .iter()
        .flat_map(|l| quantities.iter().map(|q| schema::member(scope, &l.name, q)))
        .filter(|c| !names.contains(c))
        .collect();
    let mut series = Series::new(names.iter().chain(&missing));
    let mut last: Vec<Option<f64>> = readings
        .iter()
        .map(|(_, m)| m.values().next().copied())
        .collect();
    for &k in &rows {
        let mut row = Vec::with_capacity(names.len() + missing.len());
        for ((_, m), l) in readings.iter().zip(&mut last) {
            if let Some(&v) = m.get(&k) {
                *l = Some(v);
            }
            row.push(l.unwrap_or(f64::NAN));
        }
        row.extend(registers.iter().map(|(_, at)| at[k]));
        row.extend(missing.iter().map(|_| f64::NAN));
        series.push((k as i64 * MINUTE / 1000) as f64, &row);
    }

    let events = db
        .events_between(span.from, end)
        .map_err(err)?
        .into_iter()
        .map(|e| EventRow {
            t: (e.t - span.from) as f64 / 1000.0,
            severity: e.severity,
            subject: e.subject,
            event: e.kind,
            detail: match e.detail {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            },
        })
        .collect();
    Ok(Some(Gathered {
        meta,
        series,
        events,
        until: end,
    }))
}

/// A register's value at each minute boundary of the span (`minutes + 1` of them): its last
/// reading at or before it. Before its first reading in the span (and none in the hour
/// before), its first; none when it has no reading at all.
fn register(db: &Store, name: &str, from: i64, minutes: usize) -> Result<Option<Vec<f64>>, String> {
    let err = |e: crate::store::StoreError| e.to_string();
    // Readings in (from + k min, from + (k + 1) min]: integer ms, so [+1, +1).
    let to = from + minutes as i64 * MINUTE;
    let ends = db
        .history(name, from + 1, to + 1, minutes as u32)
        .map_err(err)?;
    let before = db
        .history(name, from - LOOK_BACK + 1, from + 1, 1)
        .map_err(err)?;
    let Some(first) = before.first().or(ends.first()) else {
        return Ok(None);
    };
    let mut now = if before.is_empty() {
        first.min
    } else {
        first.max
    };
    let mut at = Vec::with_capacity(minutes + 1);
    at.push(now);
    let mut ends = ends.iter().peekable();
    for k in 1..=minutes {
        while let Some(p) = ends.next_if(|p| (((p.t - from - 1) / MINUTE) as usize) < k) {
            now = now.max(p.max);
        }
        at.push(now);
    }
    Ok(Some(at))
}

/// The state a minute spent most of its time in, of the two it touched (its least and
/// greatest codes), by its mean; its one state when it stayed in one.
fn dominant(p: &Point) -> f64 {
    if p.mean - p.min <= p.max - p.mean {
        p.min
    } else {
        p.max
    }
}
