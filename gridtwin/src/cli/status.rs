//! `gridtwin status --data DIR`: a live site's store at a glance, for a terminal (over SSH on
//! the Pi, beside a running `serve` or after it): when it last stored a reading, each channel's
//! latest value, the energy counters, the alarms nobody acknowledged and the last events in
//! words. Reads only.

use std::path::PathBuf;

use chrono::{Local, TimeZone};

use super::{Outcome, open_store, printed};
use gridtwin::store::{EventFilter, Store, StoredEvent, now_ms};

#[derive(clap::Args)]
pub struct Args {
    /// The data directory, as `serve --data` was given.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// How many of the last events to show.
    #[arg(long, default_value_t = 10)]
    events: u32,
}

pub fn run(a: Args) -> Outcome {
    let db = open_store(&a.data)?;
    printed(render(&db, now_ms(), a.events).map_err(|e| e.to_string()))
}

/// Unix ms as local time, to the second.
fn local(ms: i64) -> String {
    Local.timestamp_millis_opt(ms).single().map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn event_line(e: &StoredEvent) -> String {
    format!("  {}  {:<8}  {}", local(e.t), e.severity, e.text)
}

/// The status as of `now` (unix ms), with the last `events` events.
pub fn render(db: &Store, now: i64, events: u32) -> gridtwin::store::Result<String> {
    let mut out = String::new();
    let Some(last) = db.last_reading()? else {
        return Ok("no readings stored yet\n".into());
    };
    out += &format!(
        "last reading: {} ({:.0} s ago)\n\nlatest values:\n",
        local(last),
        ((now - last) as f64 / 1e3).max(0.0)
    );
    for (name, unit) in db.channel_list()? {
        // The last stored second of the channel (its minute or hour once aged).
        let v = db
            .history(&name, last - 3_600_000, last + 1, 3600)?
            .last()
            .map(|p| p.mean);
        let v = v.map_or("no value".into(), |v| format!("{v:.3}"));
        out += &format!("  {name:<32} {v:>14} {unit}\n");
    }
    let counters = db.counters()?;
    if !counters.is_empty() {
        out += "\nenergy since the site first ran:\n";
        for (name, joules) in counters {
            out += &format!("  {name:<32} {:>14.3} kWh\n", joules / 3.6e6);
        }
    }
    let unacked = db.events(&EventFilter {
        severity: Some("alarm".into()),
        unacked: true,
        ..EventFilter::default()
    })?;
    out += &format!("\nalarms not acknowledged: {}\n", unacked.len());
    for e in &unacked {
        out += &event_line(e);
        out += "\n";
    }
    let last_events = db.events(&EventFilter {
        limit: Some(events),
        ..EventFilter::default()
    })?;
    out += &format!("\nlast {} events:\n", last_events.len());
    for e in last_events.iter().rev() {
        out += &event_line(e);
        out += "\n";
    }
    Ok(out)
}
