//! `cargo xtask bench`: the report of a 24-hour run with 64 loads recorded every second
//! (5.5 M load rows), as `gridtwin report RUN_DIR` builds it: the recording read from Parquet,
//! the summary tables and charts computed, the HTML, Markdown and SVG files written.
//! Goal: under 5 s in release.

use std::time::Instant;

use reports::{Options, Recording, Report, synthetic};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs this too (without --bench): then only a short smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let (loads, seconds) = if full { (64, 86_400.0) } else { (4, 3_600.0) };
    let dir = std::env::temp_dir().join(format!("gridtwin-bench-report-{}", std::process::id()));
    let t0 = Instant::now();
    let (meta, series, events) = synthetic::pdu(loads, seconds, 1.0);
    let rec = Recording::new(meta, &series, events).expect("a recording");
    drop(series);
    let rows = rec.loads.height().expect("counted");
    rec.write(&dir).expect("written");
    println!(
        "recording: {rows} load rows, {} site rows; built and written as Parquet in {:.2} s",
        rec.site.height().expect("counted"),
        t0.elapsed().as_secs_f64()
    );
    drop(rec);

    let runs = if full { 3 } else { 1 };
    let (mut read, mut summary, mut write, mut total) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t = Instant::now();
        let rec = Recording::read(&dir).expect("read back");
        let t_read = t.elapsed().as_secs_f64();
        let report = Report::of(&rec).expect("a report");
        let t_summary = t.elapsed().as_secs_f64();
        report
            .write(&rec, &dir, Options::default())
            .expect("report written");
        let t_all = t.elapsed().as_secs_f64();
        read.push(t_read);
        summary.push(t_summary - t_read);
        write.push(t_all - t_summary);
        total.push(t_all);
    }
    println!(
        "report of {rows} rows, median of {runs}: {:.2} s (read Parquet {:.2} s, tables and chart data {:.2} s, draw and write {:.2} s); goal < 5 s",
        median(total),
        median(read),
        median(summary),
        median(write)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
