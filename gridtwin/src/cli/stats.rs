//! `gridtwin stats --data DIR --days N`: a live site's last N days from its store, for a
//! terminal: per local day the energy supplied, the highest 15-minute demand and when it began,
//! the bus voltage's range, and the outages, trips and alarms; then each load's (or home's)
//! energy over the days. Energy and demand are the ledger's (the Energy page's figures): each
//! register's rise by 15-minute interval, so gaps in the readings lose none of it. Days are the
//! site's local days, as its service last kept them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Outcome, open_store, printed};
use gridtwin::energy::{Calendar, INTERVAL_MS};
use gridtwin::site_report::{SITE, SiteRecord};
use gridtwin::store::{EventFilter, Point, Result, Store, now_ms};
use record::schema::J_PER_KWH;

#[derive(clap::Args)]
pub struct Args {
    /// The data directory, as `serve --data` was given.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// How many days, today included.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
}

pub fn run(a: Args) -> Outcome {
    let db = open_store(&a.data)?;
    printed(render(&db, now_ms(), a.days).map_err(|e| e.to_string()))
}

/// A channel over [from, to) in `points` buckets; none when the site has no such channel.
fn over(db: &Store, channel: &str, from: i64, to: i64, points: u32) -> Result<Vec<Point>> {
    match db.history(channel, from, to, points) {
        Err(gridtwin::store::StoreError::Invalid(_)) => Ok(Vec::new()),
        r => r,
    }
}

fn count(
    db: &Store,
    from: i64,
    to: i64,
    kind: Option<&str>,
    severity: Option<&str>,
) -> Result<usize> {
    Ok(db
        .events(&EventFilter {
            from: Some(from),
            to: Some(to),
            kind: kind.map(str::to_string),
            severity: severity.map(str::to_string),
            limit: Some(10_000),
            ..EventFilter::default()
        })?
        .len())
}

/// The site's calendar as its service kept it, else this machine's offset now.
fn calendar(db: &Store) -> Result<Calendar> {
    Ok(match db.state::<SiteRecord>(SITE)? {
        Some(s) => s.calendar(),
        None => Calendar {
            utc_offset_s: chrono::Local::now().offset().local_minus_utc(),
        },
    })
}

/// The last `days` local days up to `now` (unix ms).
pub fn render(db: &Store, now: i64, days: u32) -> Result<String> {
    let cal = calendar(db)?;
    let list = cal.days(now, days);
    let (Some(first), Some(last)) = (list.first(), list.last()) else {
        return Ok(String::new());
    };
    let intervals = db.energy(first.1, last.2)?;
    // Sources (`main`, `backup`, a feeder's `source`) and members (`load/NAME`, `home/NAME`).
    let supplied = |r: &str| !r.contains('/');
    let billed = ["main", "source"];
    let mut out = format!(
        "{:<10} {:>12} {:>10} {:>6} {:>8} {:>8} {:>8} {:>6} {:>7}\n",
        "day",
        "supplied kWh",
        "peak kW",
        "at",
        "bus V lo",
        "bus V hi",
        "outages",
        "trips",
        "alarms"
    );
    let counters = db.counters()?;
    let mut used: BTreeMap<&str, f64> = counters
        .keys()
        .filter(|r| !supplied(r))
        .map(|r| (r.as_str(), 0.0))
        .collect();
    for (d, from, to) in &list {
        let (from, to) = (*from, *to);
        let day = intervals.iter().filter(|i| i.t >= from && i.t < to);
        let mut kwh = 0.0;
        let mut peak: Option<(f64, i64)> = None;
        for i in day {
            if supplied(&i.register) {
                kwh += i.joules / J_PER_KWH;
            } else {
                *used.entry(&i.register).or_default() += i.joules / J_PER_KWH;
            }
            let kw = i.joules / J_PER_KWH * (3_600_000 / INTERVAL_MS) as f64;
            if billed.contains(&i.register.as_str()) && peak.is_none_or(|p| kw > p.0) {
                peak = Some((kw, i.t));
            }
        }
        let (peak_kw, at) = peak.map_or(("-".into(), "-".into()), |(kw, t)| {
            (format!("{kw:.3}"), cal.local(t).format("%H:%M").to_string())
        });
        let bus = over(db, "bus/v", from, to, 1)?;
        let (lo, hi) = bus.first().map_or(("-".into(), "-".into()), |p| {
            (format!("{:.1}", p.min), format!("{:.1}", p.max))
        });
        out += &format!(
            "{:<10} {:>12.3} {:>10} {:>6} {:>8} {:>8} {:>8} {:>6} {:>7}\n",
            d.format("%Y-%m-%d"),
            kwh,
            peak_kw,
            at,
            lo,
            hi,
            count(db, from, to, Some("outage"), None)?,
            count(db, from, to, Some("trip"), None)?,
            count(db, from, to, None, Some("alarm"))?,
        );
    }
    if !used.is_empty() {
        out += &format!("\nenergy used over the {days} days:\n");
        for (r, kwh) in used {
            out += &format!("  {r:<32} {kwh:>12.3} kWh\n");
        }
    }
    Ok(out)
}
