//! `gridtwin stats --data DIR --days N`: a live site's last N days from its store, for a
//! terminal: per local day the energy supplied, the peak power and when, the bus voltage's
//! range, and the outages, trips and alarms; then each load's (or home's) energy over the days.
//! Energy is each counter's rise within the day, so gaps in the readings lose none of it.

use std::path::PathBuf;

use chrono::{Days, Local, NaiveDate, TimeZone};

use super::{Outcome, open_store, printed};
use gridtwin::store::{EventFilter, Point, Result, Store, now_ms};

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

/// Local midnight of `d`, unix ms.
fn midnight(d: NaiveDate) -> i64 {
    let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    Local
        .from_local_datetime(&t)
        .earliest()
        .map_or_else(|| t.and_utc().timestamp_millis(), |t| t.timestamp_millis())
}

/// A channel over [from, to) in `points` buckets; none when the site has no such channel.
fn over(db: &Store, channel: &str, from: i64, to: i64, points: u32) -> Result<Vec<Point>> {
    match db.history(channel, from, to, points) {
        Err(gridtwin::store::StoreError::Invalid(_)) => Ok(Vec::new()),
        r => r,
    }
}

/// A counter's rise over [from, to), J.
fn rise(db: &Store, channel: &str, from: i64, to: i64) -> Result<f64> {
    Ok(over(db, channel, from, to, 1)?
        .first()
        .map_or(0.0, |p| (p.max - p.min).max(0.0)))
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

/// The last `days` local days up to `now` (unix ms).
pub fn render(db: &Store, now: i64, days: u32) -> Result<String> {
    let channels: Vec<String> = db.channel_list()?.into_iter().map(|c| c.0).collect();
    let energy = |parts: usize| -> Vec<&String> {
        channels
            .iter()
            .filter(|c| c.ends_with("/energy") && c.split('/').count() == parts)
            .collect()
    };
    // What the sources supplied (`main/energy`, `source/energy`), and each member's use.
    let (supplied, members) = (energy(2), energy(3));
    let power = ["site/p", "source/p"]
        .into_iter()
        .find(|c| channels.iter().any(|x| x == c));
    let today = Local
        .timestamp_millis_opt(now)
        .single()
        .map_or_else(|| Local::now().date_naive(), |t| t.date_naive());
    let first = today - Days::new(u64::from(days - 1));
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
    let mut used = vec![0.0; members.len()];
    for d in first.iter_days().take(days as usize) {
        let (from, to) = (midnight(d), midnight(d + Days::new(1)));
        let mut kwh = 0.0;
        for c in &supplied {
            kwh += rise(db, c, from, to)? / 3.6e6;
        }
        for (u, c) in used.iter_mut().zip(&members) {
            *u += rise(db, c, from, to)? / 3.6e6;
        }
        // The peak of the minute means, and its minute.
        let peak = match power {
            Some(p) => over(db, p, from, to, 1440)?
                .into_iter()
                .max_by(|a, b| a.mean.total_cmp(&b.mean)),
            None => None,
        };
        let (peak_kw, at) = peak.map_or(("-".into(), "-".into()), |p| {
            let at = Local
                .timestamp_millis_opt(p.t)
                .single()
                .map_or("-".into(), |t| t.format("%H:%M").to_string());
            (format!("{:.3}", p.mean / 1e3), at)
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
    if !members.is_empty() {
        out += &format!("\nenergy used over the {days} days:\n");
        for (c, kwh) in members.iter().zip(&used) {
            out += &format!("  {c:<32} {kwh:>12.3} kWh\n");
        }
    }
    Ok(out)
}
