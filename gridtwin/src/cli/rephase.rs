//! `gridtwin rephase FEEDER.ron`: which single-phase laterals to move to another phase of their
//! tap so that the feeder's head carries its phases evenly, planned by the balancer's planner
//! and checked by solving the re-phased feeder.
//!
//! The plan sees each lateral as the power into it at its tap and the rest of each phase at the
//! head (three-phase loads, losses, laterals that cannot move) as fixed; the check solves the
//! re-phased feeder with its regulators and capacitor controls acting, as a utility would see it
//! after the crews moved the taps.

use std::path::PathBuf;

use grid_types::Phase;
use serde::Serialize;
use sim::feeder::{Feeder, Head, Lateral, PowerFlow, rephase};

use control_core::balance::{self, Home};
use control_core::current_deviation;

use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    /// Feeder RON file (from `import-dss`).
    feeder: PathBuf,
    /// The time point to balance: loads scaled by their load shapes at this minute (OpenDSS's
    /// count); loads at their rating when absent.
    #[arg(long)]
    minute: Option<f64>,
    /// At most this many laterals moved (unlimited when absent).
    #[arg(long)]
    max_moves: Option<usize>,
    /// Convergence tolerance of the power flows, pu.
    #[arg(long, default_value_t = 1e-6)]
    tolerance: f64,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct MoveOut {
    line: String,
    bus: String,
    from: Phase,
    to: Phase,
    kw: f64,
    amps: f64,
    loads: usize,
}

/// The head as one power flow has it.
#[derive(Serialize)]
struct HeadOut {
    kw: [f64; 3],
    amps: [f64; 3],
    /// max over phases of |P − mean| / mean, and the same of the currents.
    unbalance: f64,
    current_unbalance: f64,
    source_kw: f64,
    lowest_pu: f64,
    taps: Vec<i32>,
}

#[derive(Serialize)]
struct Output {
    feeder: String,
    minute: Option<f64>,
    head: String,
    laterals: usize,
    movable: usize,
    max_moves: Option<usize>,
    moves: Vec<MoveOut>,
    /// The plan's own currents at the head (A per phase) and their unbalance.
    planned_amps: [f64; 3],
    planned_current_unbalance: f64,
    optimal: bool,
    lower_bound: f64,
    /// The round whose plan is shown, and the gain it planned with.
    round: usize,
    gain: f64,
    /// The power flow before and after the moves.
    before: HeadOut,
    after: HeadOut,
}

pub fn run(a: Args) -> Outcome {
    super::powerflow::check_tolerance(a.tolerance)?;
    let f = super::powerflow::read_feeder(&a.feeder).map_err(Failure::BadInput)?;
    let out = study(&f, &a).map_err(Failure::Failed)?;
    super::print(&if a.json {
        serde_json::to_string_pretty(&out).map_err(|e| Failure::Failed(e.to_string()))?
    } else {
        render(&out)
    });
    Ok(Verdict::Passed)
}

fn solved(f: &Feeder, a: &Args) -> Result<(PowerFlow, Head), String> {
    let mut pf = PowerFlow::new(f).map_err(|e| e.to_string())?;
    pf.tolerance = a.tolerance;
    if let Some(m) = a.minute {
        pf.set_minute(m);
    }
    pf.solve().map_err(|e| e.to_string())?;
    let head = pf
        .head()
        .ok_or("the feeder has no three-phase bus below its source to balance at")?;
    Ok((pf, head))
}

/// A lateral the plan may move: one that can, with a load on it (an empty one, line
/// charging alone, is no move worth a crew).
fn worth_moving(l: &Lateral) -> bool {
    l.movable && l.loads > 0
}

fn phase(node: usize) -> Phase {
    Phase::ALL[node - 1]
}

/// Plans made with the gain last measured, each checked by a power flow.
const ROUNDS: usize = 4;

fn study(f: &Feeder, a: &Args) -> Result<Output, String> {
    let (pf, head) = solved(f, a)?;
    let laterals = pf.laterals();
    // A lateral moved off a phase takes more than its own current with it on a long feeder:
    // the phase's voltage rises, so its constant-power loads draw less, and its regulators
    // move. The plan scales each lateral's current by a gain, measured by solving the last
    // plan (the head's change against the planned change), and is made again from the start.
    let mut gain = 1.0;
    let mut best: Option<Round> = None;
    for round in 1..=ROUNDS {
        let r = plan_round(f, a, &head, &laterals, round, gain)?;
        let change = |x: [f64; 3]| -> f64 { (0..3).map(|p| (x[p] - head.amps[p]).abs()).sum() };
        let (planned, solved) = (change(r.plan.after_kw), change(r.head.amps));
        let close = (current_deviation(&r.head.amps) - r.plan.unbalance_after).abs() < 0.002;
        let better = best
            .as_ref()
            .is_none_or(|b| current_deviation(&r.head.amps) < current_deviation(&b.head.amps));
        let last = r.plan.moves.is_empty() || close || planned == 0.0;
        if planned > 0.0 {
            gain *= solved / planned;
        }
        if better {
            best = Some(r);
        }
        if last {
            break;
        }
    }
    let best = best.expect("at least one round");
    let moves = best
        .plan
        .moves
        .iter()
        .map(|m| {
            let l: &Lateral = &laterals[m.home];
            MoveOut {
                line: l.line.clone(),
                bus: l.bus.clone(),
                from: m.from,
                to: m.to,
                kw: l.s.re / 1e3,
                amps: l.amps,
                loads: l.loads,
            }
        })
        .collect();
    Ok(Output {
        feeder: f.name.clone(),
        minute: a.minute,
        head: head.bus.clone(),
        laterals: laterals.len(),
        movable: laterals.iter().filter(|l| worth_moving(l)).count(),
        max_moves: a.max_moves,
        moves,
        planned_amps: best.plan.after_kw,
        planned_current_unbalance: best.plan.unbalance_after,
        optimal: best.plan.optimal,
        lower_bound: best.plan.lower_bound,
        round: best.round,
        gain: best.gain_used,
        before: head_out(&pf, &head),
        after: head_out(&best.pf, &best.head),
    })
}

/// One plan and its check.
struct Round {
    round: usize,
    gain_used: f64,
    plan: balance::Plan,
    pf: PowerFlow,
    head: Head,
}

/// Plan with each lateral's current scaled by `gain`, then solve the re-phased feeder.
fn plan_round(
    f: &Feeder,
    a: &Args,
    head: &Head,
    laterals: &[Lateral],
    round: usize,
    gain: f64,
) -> Result<Round, String> {
    // The planner's weights are currents: they add up at the head as the phases' powers do
    // not (on coupled lines each phase's power there also carries a share of the others'
    // losses, which moves with the currents).
    let mut homes: Vec<Home> = laterals
        .iter()
        .map(|l| Home {
            id: l.line.clone(),
            phase: phase(l.phase),
            kw: gain * l.amps,
            movable: worth_moving(l),
        })
        .collect();
    for p in Phase::ALL {
        let on: f64 = homes[..laterals.len()]
            .iter()
            .filter(|h| h.phase == p)
            .map(|h| h.kw)
            .sum();
        homes.push(Home {
            id: format!("rest of phase {p}"),
            phase: p,
            kw: head.amps[p.node() - 1] - on,
            movable: false,
        });
    }
    let plan = balance::plan(&homes, a.max_moves).map_err(|e| e.to_string())?;
    let mut moved = f.clone();
    for m in &plan.moves {
        let l = &laterals[m.home];
        rephase(&mut moved, &l.line, &l.bus, m.to.node())?;
    }
    let (pf, head) = solved(&moved, a)?;
    Ok(Round {
        round,
        gain_used: gain,
        plan,
        pf,
        head,
    })
}

fn head_out(pf: &PowerFlow, head: &Head) -> HeadOut {
    let kw = head.s.map(|s| s.re / 1e3);
    HeadOut {
        kw,
        amps: head.amps,
        unbalance: current_deviation(&kw),
        current_unbalance: current_deviation(&head.amps),
        source_kw: pf.source_power().re / 1e3,
        lowest_pu: pf
            .voltages()
            .map(|v| v.pu)
            .filter(|&pu| pu > 0.5)
            .fold(f64::INFINITY, f64::min),
        taps: pf.taps().to_vec(),
    }
}

fn render(o: &Output) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let budget = o
        .max_moves
        .map_or("unlimited".to_string(), |m| m.to_string());
    let _ = writeln!(
        s,
        "{}{}: head {}, {} single-phase laterals ({} movable), moves allowed: {budget}",
        o.feeder,
        o.minute
            .map(|m| format!(" at minute {m}"))
            .unwrap_or_default(),
        o.head,
        o.laterals,
        o.movable
    );
    let _ = writeln!(s, "\nmoves ({}):", o.moves.len());
    if o.moves.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let width = |f: fn(&MoveOut) -> usize, title: &str| {
            o.moves.iter().map(f).fold(title.len(), usize::max)
        };
        let (w, b) = (
            width(|m| m.line.len(), "line"),
            width(|m| m.bus.len(), "tap"),
        );
        let _ = writeln!(
            s,
            "  {:<w$}  {:<b$}  from  to      amps        kW  loads",
            "line", "tap"
        );
        for m in &o.moves {
            let _ = writeln!(
                s,
                "  {:<w$}  {:<b$}  {:<4}  {:<4} {:>6.1} {:>9.1} {:>6}",
                m.line, m.bus, m.from, m.to, m.amps, m.kw, m.loads
            );
        }
    }
    let _ = writeln!(
        s,
        "\nat the head {:>8} {:>8} {:>8} {:>10}   {:>8} {:>8} {:>8} {:>10}",
        "A amps", "B amps", "C amps", "unbalance", "A kW", "B kW", "C kW", "unbalance"
    );
    let pct = |u: f64| format!("{:.2}%", u * 100.0);
    for (name, h) in [("before", &o.before), ("after", &o.after)] {
        let _ = writeln!(
            s,
            "{name:<11} {:>8.1} {:>8.1} {:>8.1} {:>10}   {:>8.1} {:>8.1} {:>8.1} {:>10}",
            h.amps[0],
            h.amps[1],
            h.amps[2],
            pct(h.current_unbalance),
            h.kw[0],
            h.kw[1],
            h.kw[2],
            pct(h.unbalance)
        );
        if name == "before" {
            let p = o.planned_amps;
            let _ = writeln!(
                s,
                "{:<11} {:>8.1} {:>8.1} {:>8.1} {:>10}",
                "planned",
                p[0],
                p[1],
                p[2],
                pct(o.planned_current_unbalance)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nsource {:.1} kW before, {:.1} kW after; lowest node {:.4} pu before, {:.4} pu after",
        o.before.source_kw, o.after.source_kw, o.before.lowest_pu, o.after.lowest_pu
    );
    if !o.before.taps.is_empty() {
        let _ = writeln!(
            s,
            "regulator taps {:?} before, {:?} after",
            o.before.taps, o.after.taps
        );
    }
    let _ = writeln!(
        s,
        "planned with each lateral's current times {:.3}, the gain measured by solving (round {} of at most {ROUNDS})",
        o.gain, o.round
    );
    let _ = if o.optimal {
        writeln!(
            s,
            "the plan is optimal: no plan within the budget does better or as well with fewer moves"
        )
    } else {
        writeln!(
            s,
            "the plan is the best found; no plan can go below {:.3}%",
            o.lower_bound * 100.0
        )
    };
    s
}
