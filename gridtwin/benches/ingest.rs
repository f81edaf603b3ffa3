//! `cargo xtask bench`: storage ingest with durable batches (WAL, synchronous=FULL: each
//! committed batch survives power loss). Goal: 500,000 readings/s.
//! Two shapes: the live loop's (one batch a second of 100 loads × 8 channels plus the site)
//! and a backlog (10 s of 1,000 channels per batch, as after a speed-up).

use std::time::Instant;

use gridtwin::store::{Batch, Reading, Store};

fn run(label: &str, channels: usize, seconds_per_batch: i64, batches: i64) {
    let dir = std::env::temp_dir().join(format!(
        "gridtwin-bench-ingest-{}-{label}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut db = Store::open(&dir).expect("store");
    let names: Vec<(String, &str)> = (0..channels).map(|c| (format!("ch/{c}"), "W")).collect();
    let ids = db.channels(&names).expect("channels");
    let t0 = 1_795_219_200_000i64;
    let mut readings = 0usize;
    let start = Instant::now();
    for b in 0..batches {
        let batch = Batch {
            readings: (0..seconds_per_batch)
                .flat_map(|s| {
                    let t = t0 + (b * seconds_per_batch + s) * 1000;
                    ids.iter().map(move |&channel| Reading {
                        channel,
                        t,
                        v: (channel as f64).sin() * 230.0,
                    })
                })
                .collect(),
            counters: vec![("load/x".into(), b as f64)],
            ..Batch::default()
        };
        readings += batch.readings.len();
        db.write(&batch, 0).expect("write");
        db.file_complete_minutes(&batch).expect("filed");
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "{label}: {readings} readings in {batches} durable batches of {} in {s:.2} s: {:.0} readings/s, {:.2} ms per batch",
        readings as i64 / batches,
        readings as f64 / s,
        s * 1e3 / batches as f64
    );
    assert_eq!(db.batches().unwrap(), batches);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo test --all-targets` runs this too (without --bench): then only a short smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let k = if full { 1 } else { 20 };
    run("live loop, 1 s batches", 100 * 8 + 16, 1, 600 / k);
    run("backlog, 10 s batches", 1000, 10, 100 / k);
}
