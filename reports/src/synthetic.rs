//! A PDU run made up with answers known in closed form, for the tests and the benchmark:
//! load k draws 0.5 + 0.1·k kW at unity power factor whenever it is on; load 0 is shed over the
//! second quarter of the run; the site is on the backup over the fifth eighth (a declared main
//! outage); the energy registers integrate exactly.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use record::EventRow;
use record::Series;
use record::schema;
use record::{Kind, LoadInfo, Meta};

/// Load k's power while on, kW.
pub fn load_kw(k: usize) -> f64 {
    0.5 + 0.1 * k as f64
}

/// The window on the backup: [duration/2, duration·5/8).
pub fn backup_window(duration: f64) -> (f64, f64) {
    (duration / 2.0, duration * 5.0 / 8.0)
}

/// The window in which load 0 is shed: [duration/4, duration/2).
pub fn shed_window(duration: f64) -> (f64, f64) {
    (duration / 4.0, duration / 2.0)
}

const STATUS: [&str; 6] = ["off", "on", "waiting", "shed", "tripped", "locked_out"];

fn event(t: f64, severity: &str, subject: &str, event: &str, detail: Value) -> EventRow {
    let Value::Object(detail) = detail else {
        unreachable!("details are objects")
    };
    EventRow {
        t,
        severity: severity.into(),
        subject: subject.into(),
        event: event.into(),
        detail,
    }
}

/// `loads` loads over `duration` s recorded every `every` s, starting Monday 2026-01-05 00:00.
pub fn pdu(loads: usize, duration: f64, every: f64) -> (Meta, Series, Vec<EventRow>) {
    let load_names: Vec<String> = (0..loads).map(|k| format!("load{k:02}")).collect();
    let names = schema::pdu_channels(&load_names)
        .into_iter()
        .map(|c| c.name);
    let mut series = Series::new(names);
    let (b0, b1) = backup_window(duration);
    let (s0, s1) = shed_window(duration);
    let mut e_load = vec![0.0; loads];
    let (mut e_main, mut e_backup) = (0.0, 0.0);
    let rows = (duration / every).round() as usize;
    let mut row = Vec::new();
    for r in 0..=rows {
        let t = (r as f64 * every).min(duration);
        let on_backup = (b0..b1).contains(&t);
        let shed = (s0..s1).contains(&t);
        let kw: Vec<f64> = (0..loads)
            .map(|k| if k == 0 && shed { 0.0 } else { load_kw(k) })
            .collect();
        let total: f64 = kw.iter().sum();
        let (main_kw, backup_kw) = if on_backup {
            (0.0, total)
        } else {
            (total, 0.0)
        };
        row.clear();
        let v_main = if on_backup { 0.0 } else { 230.0 };
        let j = |kwh: f64| kwh * schema::J_PER_KWH;
        let closed = |x: bool| f64::from(u8::from(x));
        row.extend([v_main, 50.0, main_kw * 1e3 / 230.0, main_kw * 1e3, 0.0]);
        row.extend([j(e_main), closed(!on_backup)]);
        row.extend([230.0, 50.0, backup_kw * 1e3 / 230.0, backup_kw * 1e3, 0.0]);
        row.extend([j(e_backup), closed(on_backup)]);
        row.extend([
            230.0,
            50.0,
            total * 1e3,
            closed(on_backup),
            if on_backup { 2.0 } else { 1.0 },
            if on_backup { 5.0 } else { 0.0 },
            // Linear loads: no distortion.
            0.0,
            0.0,
        ]);
        for k in 0..loads {
            let status = if kw[k] > 0.0 { 1.0 } else { 3.0 };
            row.extend([
                230.0,
                kw[k] * 1e3 / 230.0,
                kw[k] * 1e3,
                0.0,
                if kw[k] > 0.0 { 1.0 } else { f64::NAN },
                if kw[k] > 0.0 { 0.0 } else { f64::NAN },
                f64::from(u8::from(kw[k] > 0.0)),
                status,
                e_load[k] * schema::J_PER_KWH,
            ]);
        }
        series.push(t, &row);
        let dt = (duration - t).min(every).max(0.0) / 3600.0;
        for k in 0..loads {
            e_load[k] += kw[k] * dt;
        }
        if on_backup {
            e_backup += total * dt;
        } else {
            e_main += total * dt;
        }
    }
    let mut codes = schema::pdu_codes(&STATUS, &[]);
    // The ATS column stays a number here: the reports do not read it.
    codes.remove("site/ats");
    let meta = Meta {
        name: "synthetic".into(),
        description: "A made-up PDU run with known totals.".into(),
        kind: Kind::Pdu,
        start: NaiveDate::from_ymd_opt(2026, 1, 5)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a date"),
        duration_s: duration,
        step_s: 0.02,
        record_every_s: every,
        loads: load_names
            .iter()
            .enumerate()
            .map(|(k, n)| LoadInfo {
                name: n.clone(),
                priority: Some(k as u8),
            })
            .collect(),
        codes,
        expectations: Vec::new(),
        tariff: None,
        settings: Value::Object(Map::new()),
    };
    let events = vec![
        event(
            s0,
            "warning",
            "load00",
            "shed",
            serde_json::json!({"reason": "capacity", "watts": 500.0}),
        ),
        event(
            b0,
            "alarm",
            "main",
            "outage",
            serde_json::json!({"brownout": false}),
        ),
        event(b0 + 10.0, "info", "ats", "transfer", serde_json::json!({})),
        event(
            s1,
            "info",
            "load00",
            "load_restored",
            serde_json::json!({"watts": 500.0}),
        ),
        event(
            b1,
            "info",
            "main",
            "restore",
            serde_json::json!({"outage_s": b1 - b0}),
        ),
        event(
            b1 + 1.0,
            "warning",
            "load01",
            "trip",
            serde_json::json!({"element": "instantaneous", "value": 40.0}),
        ),
    ];
    (meta, series, events)
}
