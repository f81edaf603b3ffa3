//! The store against numbers that follow from what was written: downsampling keeps every
//! reading's weight, counters never go down, the event filter ranks severities.

mod common;

use gridtwin::store::{Batch, EventFilter, Reading, Retention, Store, StoredEvent};

const HOUR: i64 = 3_600_000;
/// 2026-11-21T00:00:00Z, on an hour.
const T0: i64 = 1_795_219_200_000;

fn readings(ch: i64, from_s: i64, to_s: i64) -> Batch {
    Batch {
        // The reading at second k is k: every aggregate has a closed form.
        readings: (from_s..to_s)
            .map(|k| Reading {
                channel: ch,
                t: T0 + k * 1000,
                v: k as f64,
            })
            .collect(),
        ..Batch::default()
    }
}

fn rows(db: &Store, ch: &str) -> Vec<(gridtwin::store::Resolution, i64, f64, f64, f64)> {
    let mut out = Vec::new();
    db.export(&[ch.to_string()], i64::MIN, i64::MAX, |t, _, r, p| {
        out.push((r, t, p.mean, p.min, p.max))
    })
    .unwrap();
    out
}

#[test]
fn downsampling_merges_whole_minutes_and_hours_and_keeps_every_reading_weight() {
    use gridtwin::store::Resolution::*;
    let dir = common::scratch("downsample");
    let mut db = Store::open(&dir).unwrap();
    let ch = db.channels(&[("x".into(), "W")]).unwrap()[0];
    db.write(&readings(ch, 0, 3 * 3600), 0).unwrap();
    let retention = Retention {
        raw_s: 1800,
        minute_s: 3600,
    };
    let now = T0 + 3 * HOUR;
    // Seconds before 2:30 become minutes; minutes before 2:00 become hours.
    let (s, m) = db.downsample(now, retention).unwrap();
    assert_eq!((s, m), (9000, 120));
    let r = rows(&db, "x");
    let count = |res| r.iter().filter(|x| x.0 == res).count();
    assert_eq!((count(Hour), count(Minute), count(Second)), (2, 30, 1800));
    // Hour 0 holds seconds 0..3600: mean 1799.5, min 0, max 3599.
    assert_eq!(r[0], (Hour, T0, 1799.5, 0.0, 3599.0));
    assert_eq!(r[1], (Hour, T0 + HOUR, 5399.5, 3600.0, 7199.0));
    // Minute 120 holds seconds 7200..7260.
    assert_eq!(r[2], (Minute, T0 + 2 * HOUR, 7229.5, 7200.0, 7259.0));
    assert_eq!(r[32], (Second, T0 + 9000 * 1000, 9000.0, 9000.0, 9000.0));
    // Again: nothing more is due, nothing changes.
    assert_eq!(db.downsample(now, retention).unwrap(), (0, 0));
    assert_eq!(rows(&db, "x"), r);
    // History across all three resolutions weighs each by its readings: the third hour
    // (30 minutes and 1800 seconds) averages 8999.5 exactly like the raw seconds.
    let h = db.history("x", T0, T0 + 3 * HOUR, 3).unwrap();
    let means: Vec<f64> = h.iter().map(|p| p.mean).collect();
    assert_eq!(means, [1799.5, 5399.5, 8999.5]);
    assert_eq!((h[2].min, h[2].max), (7200.0, 10799.0));
    // A late reading for a minute already merged is merged into it, weighted.
    db.write(
        &Batch {
            readings: vec![Reading {
                channel: ch,
                t: T0 + 2 * HOUR + 500,
                v: 7229.5 + 61.0 * 100.0,
            }],
            ..Batch::default()
        },
        0,
    )
    .unwrap();
    db.downsample(now, retention).unwrap();
    let m = rows(&db, "x")[2];
    assert_eq!(m.1, T0 + 2 * HOUR);
    assert!((m.2 - (7229.5 + 100.0)).abs() < 1e-9, "{m:?}");
    assert_eq!(m.4, 7229.5 + 6100.0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_stored_energy_counter_never_goes_down_and_state_survives_reopening() {
    let dir = common::scratch("counters");
    {
        let mut db = Store::open(&dir).unwrap();
        for j in [100.0, 250.0, 50.0, 249.0] {
            let b = Batch {
                counters: vec![("load/a".into(), j)],
                state: vec![("relays".into(), serde_json::json!([true, false]))],
                ..Batch::default()
            };
            db.write(&b, 0).unwrap();
        }
        assert_eq!(db.counters().unwrap()["load/a"], 250.0);
        assert_eq!(db.batches().unwrap(), 4);
    }
    let db = Store::open(&dir).unwrap();
    assert_eq!(db.counters().unwrap()["load/a"], 250.0);
    assert_eq!(
        db.state::<Vec<bool>>("relays").unwrap(),
        Some(vec![true, false])
    );
    assert_eq!(db.integrity_check().unwrap(), "ok");
    assert_eq!(db.journal_mode().unwrap(), "wal");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_event_filter_ranks_severities_and_acknowledgement_sticks() {
    let dir = common::scratch("events");
    let mut db = Store::open(&dir).unwrap();
    let ev = |t: i64, severity: &str, kind: &str| StoredEvent {
        id: 0,
        t,
        severity: severity.into(),
        subject: "fridge".into(),
        kind: kind.into(),
        detail: serde_json::json!({"n": t}),
        text: StoredEvent::words("fridge", kind, &serde_json::json!({"n": t})),
        acked_by: None,
        acked_at: None,
    };
    let b = Batch {
        events: vec![
            ev(1, "info", "relay"),
            ev(2, "warning", "shed"),
            ev(3, "alarm", "trip"),
            ev(4, "critical", "lockout"),
        ],
        ..Batch::default()
    };
    db.write(&b, 0).unwrap();
    let kinds = |f: &EventFilter| -> Vec<String> {
        db.events(f).unwrap().into_iter().map(|e| e.kind).collect()
    };
    let sev = |s: &str| EventFilter {
        severity: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(kinds(&sev("alarm")), ["lockout", "trip"]);
    assert_eq!(kinds(&sev("info")).len(), 4);
    let window = EventFilter {
        from: Some(2),
        to: Some(4),
        ..Default::default()
    };
    assert_eq!(kinds(&window), ["trip", "shed"]);
    let trip = db.events(&sev("alarm")).unwrap()[1].id;
    assert!(db.ack(trip, "operator", 10).unwrap());
    assert!(!db.ack(trip, "someone", 11).unwrap(), "acknowledged once");
    let open = EventFilter {
        unacked: true,
        severity: Some("alarm".into()),
        ..Default::default()
    };
    assert_eq!(kinds(&open), ["lockout"]);
    let e = &db.events(&sev("alarm")).unwrap()[1];
    assert_eq!(
        (e.acked_by.as_deref(), e.acked_at),
        (Some("operator"), Some(10))
    );
    assert_eq!(e.detail["n"], 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn staged_and_filed_readings_read_back_the_same() {
    let dir = common::scratch("frames");
    let mut db = Store::open(&dir).unwrap();
    assert_eq!(db.last_reading().unwrap(), None);
    let ids = db
        .channels(&[("a".into(), "W"), ("b".into(), "V")])
        .unwrap();
    // 150 s, one batch a second as the live loop writes them, NaN now and then on b.
    for k in 0..150 {
        let b = Batch {
            readings: vec![
                Reading {
                    channel: ids[0],
                    t: T0 + k * 1000,
                    v: k as f64,
                },
                Reading {
                    channel: ids[1],
                    t: T0 + k * 1000,
                    v: if k % 7 == 0 { f64::NAN } else { 2.0 * k as f64 },
                },
            ],
            ..Batch::default()
        };
        db.write(&b, 0).unwrap();
        db.file_complete_minutes(&b).unwrap();
    }
    assert_eq!(
        db.last_reading().unwrap(),
        Some(T0 + 149_000),
        "frames and filed rows"
    );
    let read = |db: &Store| {
        let a = rows(db, "a");
        let b = rows(db, "b");
        let h = db.history("b", T0, T0 + 150_000, 5).unwrap();
        (a, b, h)
    };
    let staged = read(&db);
    // Two whole minutes are filed already; the last 30 s are still frames.
    assert_eq!(staged.0.len(), 150);
    assert!(
        staged
            .0
            .iter()
            .enumerate()
            .all(|(k, r)| r.1 == T0 + k as i64 * 1000 && r.2 == k as f64)
    );
    assert!(staged.1[7].2.is_nan() && staged.1[8].2 == 16.0);
    // History buckets of 30 s: b's mean over 120..150 s skipping the NaNs at 126, 133, 140, 147.
    let finite: Vec<f64> = (120..150)
        .filter(|k| k % 7 != 0)
        .map(|k| 2.0 * k as f64)
        .collect();
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    assert!((staged.2[4].mean - mean).abs() < 1e-9, "{:?}", staged.2[4]);
    assert_eq!(db.file_frames(i64::MAX).unwrap(), 60);
    assert_eq!(db.last_reading().unwrap(), Some(T0 + 149_000), "all filed");
    let filed = read(&db);
    assert_eq!(
        format!("{staged:?}"),
        format!("{filed:?}"),
        "NaN-aware equality"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_ledger_adds_up_per_interval_and_a_version_1_store_gains_one() {
    use gridtwin::store::Interval;
    let dir = common::scratch("ledger");
    let rise = |register: &str, t: i64, joules: f64| Interval {
        register: register.into(),
        t,
        joules,
    };
    {
        let mut db = Store::open(&dir).unwrap();
        let q = 900_000;
        for (t, j) in [(T0, 10.0), (T0, 5.0), (T0 + q, 7.0)] {
            let b = Batch {
                energy: vec![rise("main", t, j), rise("load/a", t, 1.0)],
                ..Batch::default()
            };
            db.write(&b, T0).unwrap();
        }
        let got = db.energy(T0, T0 + 2 * q).unwrap();
        assert_eq!(
            got,
            [
                rise("load/a", T0, 2.0),
                rise("main", T0, 15.0),
                rise("load/a", T0 + q, 1.0),
                rise("main", T0 + q, 7.0)
            ]
        );
        assert_eq!(db.energy(T0 + q, T0 + 2 * q).unwrap().len(), 2);
        assert_eq!(db.energy_totals().unwrap()["main"], 22.0);
    }
    // A store of the version before the ledger and fault records opens, keeps its counters and
    // gains both.
    {
        let c = rusqlite::Connection::open(dir.join(gridtwin::store::DB_FILE)).unwrap();
        c.execute_batch("DROP TABLE energy; DROP TABLE fault; PRAGMA user_version = 1;")
            .unwrap();
    }
    let mut db = Store::open(&dir).unwrap();
    assert!(db.energy(i64::MIN, i64::MAX).unwrap().is_empty());
    assert!(db.faults(i64::MIN, i64::MAX, 10).unwrap().is_empty());
    let b = Batch {
        counters: vec![("main".into(), 30.0)],
        energy: vec![rise("main", T0, 3.0)],
        ..Batch::default()
    };
    db.write(&b, T0).unwrap();
    assert_eq!(db.energy_totals().unwrap()["main"], 3.0);
    assert_eq!(db.counters().unwrap()["main"], 30.0);
    std::fs::remove_dir_all(&dir).unwrap();
}
