//! `cargo xtask bench`: a PDU with 16 loads at 20 ms steps, recorded every second, with an
//! outage, sags, a short circuit, schedules and compressors, run as a user runs it: `gridtwin
//! run` writing its recording as Parquet and its report. A day (4.32 M controller steps) best of
//! three, for its real-time factor (goal: 50,000x); then a day, a week and a year, each its own
//! process, for its time and its peak resident memory (the recording is streamed, so the three
//! should peak alike, under 250 MB). Then the European LV feeder (55 homes, 906 buses) through a
//! year at one-minute steps, its daily shapes repeated as OpenDSS's yearly mode repeats them
//! (goal: under 30 s), with its report.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};
fn day_scenario(duration: f64) -> String {
    let kinds = [
        "ConstantPower(watts: 600.0, pf: 0.95)",
        "ConstantImpedance(watts: 1500.0, pf: 1.0)",
        "Compressor(watts: 400.0, pf: 0.8, on: 600.0, off: 900.0)",
        "ConstantPower(watts: 250.0, pf: 0.9)",
    ];
    let mut loads = String::new();
    let mut settings = String::new();
    for i in 0..16 {
        loads += &format!("(name: \"load{i:02}\", model: {}),\n", kinds[i % 4]);
        settings += &format!(
            "\"load{i:02}\": (priority: {}, overcurrent: (instantaneous: (pickup: 40.0, delay: 0.0), inverse: (pickup: 12.0, curve: VeryInverse, tms: 0.3)), limit_w: 3000.0),\n",
            i * 10
        );
    }
    let (outage, sags, short) = (duration * 0.04, duration * 0.46, duration * 0.69);
    format!(
        r#"Scenario(
    name: "bench_day",
    duration: {duration},
    step: 0.02,
    record_every: 1.0,
    grid: Pdu(
        main: (kind: Utility),
        backup: (kind: Generator(rating_kw: 10.0)),
        loads: [{loads}],
    ),
    controller: (
        shedding: (backup_capacity_kw: 9.0),
        loads: {{ {settings} "load03": (schedules: [Daily(on: "22:00", off: "06:00")]) }},
    ),
    timeline: [
        (at: {outage}, do: Outage(source: Main, duration: 1800.0)),
        (at: {sags}, do: Repeat(every: 30.0, count: 6, action: Sag(source: Main, pu: 0.8, duration: 2.0))),
        (at: {short}, do: ShortCircuit(load: "load05", ohms: 0.05, duration: 30.0)),
    ],
    expect: [Count(event: "transfer", min: 1)],
)"#
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        return measure(Path::new(&args[i + 1]), Path::new(&args[i + 2]));
    }
    let dir = std::env::temp_dir().join(format!("gridtwin-bench-day-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    // `cargo test --all-targets` runs this too (without --bench): then only a short smoke run.
    if !args.iter().any(|a| a == "--bench") {
        let (secs, _) = gridtwin_run(&dir, &day_scenario(7200.0));
        assert!(dir.join("out/report.html").exists());
        println!("2 h with its report: {secs:.2} s");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let runs = 3;
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        best = best.min(gridtwin_run(&dir, &day_scenario(86400.0)).0);
    }
    println!(
        "day with its report, best of {runs}: {best:.2} s = {:.0}x real time ({:.0} ns per step)",
        86400.0 / best,
        best * 1e9 / 4_320_000.0
    );
    for (what, days) in [("day", 1.0), ("week", 7.0), ("year", 365.0)] {
        let duration = days * 86400.0;
        let (secs, peak) = gridtwin_run(&dir, &day_scenario(duration));
        let parquet: u64 = ["site.parquet", "loads.parquet"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.join("out").join(f)).ok())
            .map(|m| m.len())
            .sum();
        println!(
            "a {what}: {secs:.1} s ({:.0}x real time), peak resident memory {peak:.0} MB, Parquet {:.0} MB",
            duration / secs,
            parquet as f64 / 1e6
        );
    }
    let (secs, peak) = gridtwin_run(&dir, &lv_year());
    println!(
        "the LV feeder through a year at one-minute steps (525,600 power flows): {secs:.1} s \
         ({:.0} us a step), peak resident memory {peak:.0} MB",
        secs * 1e6 / 525_600.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scenarios/feeder_lv_day.ron` through 365 days: the same day repeated, so its expectations
/// (OpenDSS's figures for the day) still hold.
fn lv_year() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let day = std::fs::read_to_string(root.join("scenarios/feeder_lv_day.ron"))
        .expect("the LV day scenario");
    let master = root.join("feeders/LVTestCase/Master.dss");
    day.replace("duration: 86400.0", "duration: 31536000.0")
        .replace(
            "\"../feeders/LVTestCase/Master.dss\"",
            &format!("{:?}", master.display().to_string()),
        )
}

/// `gridtwin run` of the scenario `ron` into `dir/out`: its wall time and its peak resident
/// memory (MB), as the kernel counted it. Run from a process of its own (this bench again,
/// `--measure`), whose only child it is, so that no other run's peak is counted.
fn gridtwin_run(dir: &Path, ron: &str) -> (f64, f64) {
    let file = dir.join("bench.ron");
    std::fs::write(&file, ron).expect("the scenario written");
    let out = Command::new(std::env::current_exe().expect("this bench"))
        .args(["--bench", "--measure"])
        .arg(&file)
        .arg(dir.join("out"))
        .output()
        .expect("the bench runs itself");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut words = said.split_whitespace().map(|w| w.parse::<f64>());
    match (words.next(), words.next()) {
        (Some(Ok(secs)), Some(Ok(mb))) => (secs, mb),
        _ => panic!("the measuring process said {said:?}"),
    }
}

/// In the measuring process: one `gridtwin run`, then its time (s) and peak (MB) on stdout.
fn measure(file: &Path, out: &Path) {
    let _ = std::fs::remove_dir_all(out);
    let t0 = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_gridtwin"))
        .arg("run")
        .arg(file)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("gridtwin runs");
    let secs = t0.elapsed().as_secs_f64();
    assert!(status.success(), "gridtwin run: {status}");
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    // Linux counts ru_maxrss in kB.
    println!("{secs} {}", usage.max_rss() as f64 / 1024.0);
}
