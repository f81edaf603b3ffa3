//! `gridtwin powerflow FEEDER.ron`: one time point of a feeder solved and every bus's per-phase
//! voltage printed, or a whole day of load shapes solved in sequence and timed per step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sim::feeder::{Feeder, PowerFlow};

use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    /// Feeder RON file (from `import-dss`).
    feeder: PathBuf,
    /// Scale loads by their load shapes at this minute (OpenDSS's count: minute M is the
    /// shape's M-th point); loads at their rating when absent.
    #[arg(long, conflicts_with = "day")]
    minute: Option<f64>,
    /// Solve every minute of the load shapes in sequence and print the time per step.
    #[arg(long)]
    day: bool,
    /// Convergence tolerance: the largest voltage change between sweeps, pu.
    #[arg(long, default_value_t = 1e-6)]
    tolerance: f64,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Outcome {
    check_tolerance(a.tolerance)?;
    let f = read_feeder(&a.feeder).map_err(Failure::BadInput)?;
    let out = if a.day {
        day(&f, a.tolerance, a.json)
    } else {
        snapshot(&f, a.minute, a.tolerance, a.json)
    };
    super::print(&out.map_err(Failure::Failed)?);
    Ok(Verdict::Passed)
}

/// A power flow's `--tolerance`: a positive number of pu.
pub fn check_tolerance(t: f64) -> Result<(), Failure> {
    if t.is_finite() && t > 0.0 {
        return Ok(());
    }
    Err(Failure::BadInput(format!(
        "--tolerance must be a positive number of pu, found {t}"
    )))
}

/// A feeder RON file; errors carry file:line:column.
pub fn read_feeder(path: &Path) -> Result<Feeder, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    controller::scenario::load::parse_ron(path, &text).map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct NodeOut {
    bus: String,
    node: usize,
    kv_base: f64,
    volts: f64,
    pu: f64,
    angle_deg: f64,
}

#[derive(Serialize)]
struct CapacitorOut {
    name: String,
    closed: bool,
}

#[derive(Serialize)]
struct SnapshotOut {
    feeder: String,
    minute: Option<f64>,
    iterations: usize,
    tap_changes: usize,
    taps: Vec<i32>,
    /// Each capacitor bank: in service (its controls may have switched it).
    capacitors: Vec<CapacitorOut>,
    source_kw: f64,
    source_kvar: f64,
    nodes: Vec<NodeOut>,
}

fn solver(f: &Feeder, tolerance: f64) -> Result<PowerFlow, String> {
    let mut pf = PowerFlow::new(f).map_err(|e| e.to_string())?;
    pf.tolerance = tolerance;
    Ok(pf)
}

/// Solve one time point (loads at their rating when `minute` is `None`).
fn snapshot(f: &Feeder, minute: Option<f64>, tolerance: f64, json: bool) -> Result<String, String> {
    let mut pf = solver(f, tolerance)?;
    if let Some(m) = minute {
        pf.set_minute(m);
    }
    let solved = pf.solve().map_err(|e| e.to_string())?;
    let s = pf.source_power();
    let nodes: Vec<NodeOut> = pf
        .voltages()
        .map(|v| NodeOut {
            kv_base: pf.kv_base(&v.bus).unwrap_or(0.0),
            bus: v.bus,
            node: v.node,
            volts: v.volts.norm(),
            pu: v.pu,
            angle_deg: v.volts.arg().to_degrees(),
        })
        .collect();
    let out = SnapshotOut {
        feeder: f.name.clone(),
        minute,
        iterations: solved.iterations,
        tap_changes: solved.tap_changes,
        taps: pf.taps().to_vec(),
        capacitors: pf
            .feeder()
            .capacitors
            .iter()
            .map(|c| CapacitorOut {
                name: c.name.clone(),
                closed: c.closed,
            })
            .collect(),
        source_kw: s.re / 1000.0,
        source_kvar: s.im / 1000.0,
        nodes,
    };
    if json {
        return serde_json::to_string_pretty(&out).map_err(|e| e.to_string());
    }
    let mut t = format!(
        "{}{}: {} iterations, source delivers {:.3} kW {:+.3} kvar\n",
        out.feeder,
        minute
            .map(|m| format!(" at minute {m}"))
            .unwrap_or_default(),
        out.iterations,
        out.source_kw,
        out.source_kvar
    );
    if !out.taps.is_empty() {
        t += &format!(
            "regulator taps: {:?} ({} changes)\n",
            out.taps, out.tap_changes
        );
    }
    if !out.capacitors.is_empty() {
        let off: Vec<&str> = out
            .capacitors
            .iter()
            .filter(|c| !c.closed)
            .map(|c| c.name.as_str())
            .collect();
        t += &format!(
            "capacitors: {} in service{}\n",
            out.capacitors.len() - off.len(),
            if off.is_empty() {
                String::new()
            } else {
                format!(", out: {}", off.join(", "))
            }
        );
    }
    t += &format!(
        "{:<16} {:>4} {:>9} {:>11} {:>8} {:>9}\n",
        "bus", "node", "kV base", "V", "pu", "angle"
    );
    for n in &out.nodes {
        t += &format!(
            "{:<16} {:>4} {:>9.3} {:>11.2} {:>8.5} {:>9.3}\n",
            n.bus, n.node, n.kv_base, n.volts, n.pu, n.angle_deg
        );
    }
    Ok(t)
}

#[derive(Serialize)]
struct DayOut {
    feeder: String,
    steps: usize,
    tolerance: f64,
    total_s: f64,
    mean_ms_per_step: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_iterations: f64,
    min_pu: f64,
    max_pu: f64,
    energy_kwh: f64,
}

/// Solve every minute of the load shapes in sequence, each warm-started from the last.
fn day(f: &Feeder, tolerance: f64, json: bool) -> Result<String, String> {
    let minutes = f.shape_minutes();
    if minutes == 0 {
        return Err(format!("{}: no load shapes, so no day to solve", f.name));
    }
    let mut pf = solver(f, tolerance)?;
    let mut times = Vec::with_capacity(minutes);
    let (mut iterations, mut energy) = (0usize, 0.0);
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    let start = Instant::now();
    for m in 1..=minutes {
        let t0 = Instant::now();
        pf.set_minute(m as f64);
        let s = pf.solve().map_err(|e| format!("minute {m}: {e}"))?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        iterations += s.iterations;
        energy += pf.source_power().re / 1000.0 / 60.0;
        for v in pf.voltages().filter(|v| v.pu > 0.0) {
            lo = lo.min(v.pu);
            hi = hi.max(v.pu);
        }
    }
    let total = start.elapsed().as_secs_f64();
    let solve_ms: f64 = times.iter().sum();
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let out = DayOut {
        feeder: f.name.clone(),
        steps: minutes,
        tolerance,
        total_s: total,
        mean_ms_per_step: solve_ms / minutes as f64,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: q(1.0),
        mean_iterations: iterations as f64 / minutes as f64,
        min_pu: lo,
        max_pu: hi,
        energy_kwh: energy,
    };
    if json {
        return serde_json::to_string_pretty(&out).map_err(|e| e.to_string());
    }
    Ok(format!(
        "{}: {} steps in {:.3} s; per step mean {:.4} ms, p50 {:.4}, p99 {:.4}, max {:.4} ms; {:.2} iterations per step\n\
         voltages over the day {:.4}..{:.4} pu; source energy {:.2} kWh\n",
        out.feeder,
        out.steps,
        out.total_s,
        out.mean_ms_per_step,
        out.p50_ms,
        out.p99_ms,
        out.max_ms,
        out.mean_iterations,
        out.min_pu,
        out.max_pu,
        out.energy_kwh
    ))
}
