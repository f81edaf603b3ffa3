//! The `gridtwin` command line: one module per command under `cli/`, each returning a
//! `cli::Outcome` that is turned into the exit code here, and only here.

mod cli;
mod memory;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{Failure, Verdict};

#[derive(Parser)]
#[command(
    name = "gridtwin",
    version,
    about = "Digital twin and controller for PDUs and LV feeders"
)]
struct Cli {
    /// How log lines are written to stderr: `text` for people, `json` (one object a line)
    /// for a log collector. Levels come from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: gridtwin::logging::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario in simulated time and check its expectations
    /// (exit 0: all hold, 1: one fails, 2: bad input).
    Run(cli::run::Args),
    /// Rebuild the report of a run directory from its recording.
    Report(cli::report::Args),
    /// Put two runs side by side (typically two runs of one scenario with different settings):
    /// every summary figure of A and B with the change, the settings that differ, and the
    /// charts overlaid. Prints the tables; writes compare.html and compare.md.
    #[cfg(feature = "report")]
    Compare(cli::compare::Args),
    /// Run the controller live against the twin (real time, or --speed times faster) and serve
    /// the control center: the JSON API under /api (see /api/openapi.json), live values as
    /// server-sent events, /metrics for Prometheus. Storage in SQLite under --data. Stops
    /// on ctrl-c after storing the last batch.
    Serve(Box<cli::serve::Args>),
    /// The fleet's headquarters: take many sites' telemetry, events and status from an MQTT
    /// broker (each message acknowledged once stored, in a session the broker keeps), store
    /// them in PostgreSQL, and serve each site's history at /api/sites/SITE/history. The API
    /// wants `Authorization: Bearer $GRIDTWIN_HQ_TOKEN` when that is set (it must be, to listen
    /// beyond loopback).
    #[cfg(feature = "hq")]
    Hq(cli::hq::Args),
    /// A live site's alert notifications: `alerts test` sends one to each target, as the
    /// control center's Test button does.
    Alerts(cli::alerts::Args),
    /// Manage the control center's users (works offline, on the data directory).
    User(cli::user::Args),
    /// A live site's store at a glance: its last reading, each channel's latest value, the
    /// energy counters, the alarms nobody acknowledged and the last events in words (reads
    /// only; beside a running serve or after it).
    Status(cli::status::Args),
    /// A live site's stored readings over a range (every row at its own resolution: time,
    /// channel, resolution, mean, min, max) as CSV, JSON with the range's events, or an Excel
    /// workbook with a readings and an events sheet.
    Export(cli::export::Args),
    /// A live site's last N days from its store: per day the energy supplied, the peak power
    /// and when, the bus voltage's range, outages, trips and alarms; each load's energy.
    Stats(cli::stats::Args),
    /// Draw the scenario's grid live in a window (a PDU or a feeder; the demo PDU when no FILE
    /// is given), driven by the same controller loop as every other run. Click a load to switch
    /// it, a home to move its phase; buttons inject faults. Needs a build with `--features viz`
    /// (`cargo xtask viz NAME`).
    Viz(cli::viz::Args),
    /// Validate a scenario without running it (exit 0: valid, 2: not).
    Check(cli::check::Args),
    /// The hardware bench: its selftest and calibration (see docs/hardware.md).
    Hil(cli::hil::Args),
    /// The site's field links: home nodes and meters over Modbus RTU or TCP.
    Field(cli::field::Args),
    /// Measure a captured waveform: CSV with columns `v` (V) and `i` (A), one row per sample.
    /// Prints one record per IEC 61000-4-30 window (10 cycles at 50 Hz, 12 at 60 Hz) and the
    /// whole-file result: vrms, irms, p, q1, s, pf, dpf, crest_v, crest_i, thd_v, thd_i, freq.
    Measure(cli::measure::Args),
    /// Convert an OpenDSS feeder (the subset the IEEE test feeders use) to a feeder RON file
    /// (exit 2 with file:line and the command on anything unsupported).
    ImportDss(cli::import_dss::Args),
    /// Solve a feeder's three-phase unbalanced power flow and print every bus's per-phase
    /// voltage (V, pu, angle).
    Powerflow(cli::powerflow::Args),
    /// Plan phase moves from meter readings: INSTANCE.json holds
    /// `{"homes": [{"id", "phase": "A"|"B"|"C", "kw", "movable"}], "max_moves": N|null}`.
    /// Minimises the transformer's unbalance max|P_phase - mean|/mean, fewer moves breaking ties.
    BalancePlan(cli::balance_plan::Args),
    /// Plan which single-phase laterals of a feeder to move to another phase of their tap so
    /// that its head carries its phases evenly, and check the plan by solving the re-phased
    /// feeder with its regulators and capacitor controls acting.
    Rephase(cli::rephase::Args),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    // A window allocates and frees large buffers every frame; glibc's moving mmap threshold
    // serves it better than the bound a long run needs.
    if !matches!(args.command, Command::Viz(_)) {
        memory::bound();
    }
    gridtwin::logging::init(args.log_format);
    let outcome = match args.command {
        Command::Run(a) => cli::run::run(a),
        Command::Report(a) => cli::report::run(a),
        #[cfg(feature = "report")]
        Command::Compare(a) => cli::compare::run(a),
        Command::Serve(a) => cli::serve::run(*a),
        #[cfg(feature = "hq")]
        Command::Hq(a) => cli::hq::run(a),
        Command::User(a) => cli::user::run(a),
        Command::Alerts(a) => cli::alerts::run(a),
        Command::Status(a) => cli::status::run(a),
        Command::Stats(a) => cli::stats::run(a),
        Command::Export(a) => cli::export::run(a),
        Command::Viz(a) => cli::viz::run(a),
        Command::Check(a) => cli::check::run(a),
        Command::Hil(a) => cli::hil::run(a),
        Command::Field(a) => cli::field::run(a),
        Command::Measure(a) => cli::measure::run(a),
        Command::ImportDss(a) => cli::import_dss::run(a),
        Command::Powerflow(a) => cli::powerflow::run(a),
        Command::BalancePlan(a) => cli::balance_plan::run(a),
        Command::Rephase(a) => cli::rephase::run(a),
    };
    match outcome {
        Ok(Verdict::Passed) => ExitCode::SUCCESS,
        Ok(Verdict::Failed) => ExitCode::from(1),
        Err(Failure::Failed(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(Failure::BadInput(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
