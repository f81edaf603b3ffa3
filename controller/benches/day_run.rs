//! `cargo xtask bench`: a 24-hour PDU scenario with 16 loads at 20 ms steps (4.32 M controller
//! steps), run start to finish as `gridtwin run` runs it. Goal: 50,000x real time on one core.
//! Then the peak resident memory of a day's and a week's run, each in a process of its own so
//! that one's peak is not the other's.

use std::path::Path;
use std::time::Instant;

use controller::run;
use controller::scenario;

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
    // `cargo test --all-targets` runs this too (without --bench): then only a short smoke run.
    if !args.iter().any(|a| a == "--bench") {
        let l = scenario::parse(Path::new("bench_day.ron"), &day_scenario(7200.0)).expect("valid");
        let r = run::run(&l, |_| {});
        assert!(r.passed(), "{}", run::summary::render(&r));
        return;
    }
    if let Some(days) = args
        .iter()
        .position(|a| a == "--days")
        .and_then(|i| args.get(i + 1)?.parse::<u32>().ok())
    {
        return measured(days);
    }
    let text = day_scenario(86400.0);
    let l = scenario::parse(Path::new("bench_day.ron"), &text).expect("valid bench scenario");
    let runs = 3;
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t0 = Instant::now();
        let r = run::run(&l, |_| {});
        let secs = t0.elapsed().as_secs_f64();
        assert!(r.passed(), "{}", run::summary::render(&r));
        best = best.min(secs);
        println!(
            "day run: {} steps, {} events, {} rows in {secs:.3} s",
            r.steps,
            r.events.len(),
            r.series.len()
        );
    }
    println!(
        "best of {runs}: {best:.3} s for 86400 simulated s = {:.0}x real time ({:.0} ns per step)",
        86400.0 / best,
        best * 1e9 / 4_320_000.0
    );
    for days in [1, 7] {
        let child = std::process::Command::new(std::env::current_exe().expect("this bench"))
            .args(["--bench", "--days", &days.to_string()])
            .output()
            .expect("the bench runs itself");
        assert!(
            child.status.success(),
            "{}",
            String::from_utf8_lossy(&child.stderr)
        );
        print!("{}", String::from_utf8_lossy(&child.stdout));
    }
}

/// One run of `days` days in this process: its time, and the process's peak resident memory.
fn measured(days: u32) {
    let duration = f64::from(days) * 86400.0;
    let l = scenario::parse(Path::new("bench_day.ron"), &day_scenario(duration)).expect("valid");
    let t0 = Instant::now();
    let r = run::run(&l, |_| {});
    let secs = t0.elapsed().as_secs_f64();
    assert!(r.passed(), "{}", run::summary::render(&r));
    println!(
        "{days} day(s) alone: {secs:.2} s ({:.0}x real time), {} rows, peak resident memory {:.0} MB",
        duration / secs,
        r.series.len(),
        peak_resident_mb()
    );
}

/// The process's peak resident set (`VmHWM` in /proc/self/status), MB.
fn peak_resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux's /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
