//! `gridtwin run [FILE]`: a scenario played in simulated time at full speed, its summary
//! printed, its run directory written, its expectations checked.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use controller::run::{self, summary};
use controller::scenario::BackendKind;
use indicatif::{ProgressBar, ProgressStyle};

use super::{Failure, Outcome, Verdict, report};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (RON); the built-in demo scenario when absent.
    file: Option<PathBuf>,
    /// The run directory (default runs/NAME): the recording (meta.json, site, loads and
    /// events as Parquet), events.jsonl, summary.txt, and the report (report.html,
    /// summary.md, charts/*.svg).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// What a PDU runs against: `sim` (the twin's readings or waveforms), `emulated-hil`
    /// (virtual measurement nodes on an emulated I2C bus fed by the twin, relays through
    /// the relay board and its watchdog), `emulated-hil-ads1115` (the loads metered by
    /// streamed ADS1115s instead) or `emulated-meters` (every circuit metered by a PZEM-004T
    /// on an emulated RS-485 line); a feeder, `emulated-field` (its home nodes emulated on
    /// their link). Default: the scenario's `backend`.
    #[arg(long)]
    backend: Option<BackendKind>,
    #[command(flatten)]
    report: report::Flags,
}

pub fn run(a: Args) -> Outcome {
    let mut l = super::load_or_demo(a.file.as_deref())?;
    if let Some(b) = a.backend {
        l.set_backend(b).map_err(Failure::BadInput)?;
    }
    let mut recorder = report::recorder(a.report)?;
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(1000)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {percent}% {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (name, start) = (l.scenario.name.clone(), l.scenario.start.0);
    // The simulated wall clock: where a year's run is, in the terms of its outages and tariffs.
    let at = |t: f64| {
        let now = start + chrono::TimeDelta::milliseconds((t * 1e3) as i64);
        format!("{name} {}", now.format("%Y-%m-%d %H:%M"))
    };
    bar.set_message(at(0.0));
    let dir = a
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&l.scenario.name));
    // Ctrl-c ends the run at the step it is in; what ran is written whole.
    static STOP: AtomicBool = AtomicBool::new(false);
    if let Err(e) = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed)) {
        tracing::warn!("ctrl-c will not stop the run cleanly: {e}");
    }
    let mut tapes = run::Tapes::to(&dir, &mut recorder).stopping_on(&STOP);
    let r = run::recorded(&l, &mut tapes, |p| {
        bar.set_position((p.done * 1000.0) as u64);
        bar.set_message(at(p.t));
    });
    bar.finish_and_clear();
    print!("{}", summary::render(&r));
    r.write(&l, &dir, tapes).map_err(|e| {
        Failure::BadInput(format!("cannot write the run to {}: {e}", dir.display()))
    })?;
    println!("run written to {}", dir.display());
    if let Some(note) = report::note(&dir) {
        println!("{note}");
    }
    if r.baseline.is_some() {
        let off = dir.join(run::output::BASELINE_DIR);
        println!(
            "the day with the balancer off: {} (gridtwin compare {} {})",
            off.display(),
            off.display(),
            dir.display()
        );
    }
    if r.passed() {
        return Ok(Verdict::Passed);
    }
    for o in r.outcomes.iter().filter(|o| !o.pass) {
        eprintln!("expectation failed: {}: {}", o.label, o.detail);
    }
    Ok(Verdict::Failed)
}
