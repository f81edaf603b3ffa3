//! `gridtwin balance-plan INSTANCE.json`: phase moves for users with meter readings.
//!
//! INSTANCE is `{"homes": [{"id", "phase": "A"|"B"|"C", "kw", "movable"}], "max_moves": N|null}`
//! (`movable` defaults to true, `max_moves` to null: unlimited).

use std::path::{Path, PathBuf};

use grid_types::Phase;
use serde::{Deserialize, Serialize};

use control_core::balance::{self, Home, Plan};

use super::{Outcome, printed};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    homes: Vec<HomeIn>,
    #[serde(default)]
    max_moves: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeIn {
    id: String,
    phase: Phase,
    kw: f64,
    #[serde(default = "yes")]
    movable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize)]
struct MoveOut<'a> {
    id: &'a str,
    from: Phase,
    to: Phase,
    kw: f64,
}

#[derive(Serialize)]
struct Totals {
    a_kw: f64,
    b_kw: f64,
    c_kw: f64,
    /// max over phases of |P - mean| / mean.
    unbalance: f64,
}

#[derive(Serialize)]
struct Output<'a> {
    homes: usize,
    movable: usize,
    max_moves: Option<usize>,
    moves: Vec<MoveOut<'a>>,
    before: Totals,
    after: Totals,
    /// No plan within the budget has a lower unbalance.
    lower_bound: f64,
    /// Proven: nothing better, and nothing as good with fewer moves.
    optimal: bool,
}

#[derive(clap::Args)]
pub struct Args {
    instance: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Outcome {
    let text = super::read(&a.instance)?;
    printed(plan(&a.instance, &text, a.json))
}

/// Plan and render; errors name the file and (for JSON) line:column.
fn plan(path: &Path, text: &str, json: bool) -> Result<String, String> {
    let inst: Instance = serde_json::from_str(text).map_err(|e| {
        // serde_json appends the position in words; it goes in front instead.
        let msg = e.to_string();
        let tail = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&tail).unwrap_or(&msg);
        format!("{}:{}:{}: {msg}", path.display(), e.line(), e.column())
    })?;
    let homes: Vec<Home> = inst
        .homes
        .into_iter()
        .map(|h| Home {
            id: h.id,
            phase: h.phase,
            kw: h.kw,
            movable: h.movable,
        })
        .collect();
    let plan =
        balance::plan(&homes, inst.max_moves).map_err(|e| format!("{}: {e}", path.display()))?;
    let out = Output {
        homes: homes.len(),
        movable: homes.iter().filter(|h| h.movable).count(),
        max_moves: inst.max_moves,
        moves: plan
            .moves
            .iter()
            .map(|m| MoveOut {
                id: &homes[m.home].id,
                from: m.from,
                to: m.to,
                kw: homes[m.home].kw,
            })
            .collect(),
        before: totals(plan.before_kw, plan.unbalance_before),
        after: totals(plan.after_kw, plan.unbalance_after),
        lower_bound: plan.lower_bound,
        optimal: plan.optimal,
    };
    if json {
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())
    } else {
        Ok(render(&out, &plan))
    }
}

fn totals(kw: [f64; 3], unbalance: f64) -> Totals {
    Totals {
        a_kw: kw[0],
        b_kw: kw[1],
        c_kw: kw[2],
        unbalance,
    }
}

fn render(o: &Output, plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let budget = o
        .max_moves
        .map_or("unlimited".to_string(), |m| m.to_string());
    let _ = writeln!(
        s,
        "{} homes, {} movable, moves allowed: {budget}",
        o.homes, o.movable
    );
    let _ = writeln!(s, "\nmoves ({}):", o.moves.len());
    if o.moves.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let w = o.moves.iter().map(|m| m.id.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(s, "  {:<w$}  from  to        kW", "home");
        for m in &o.moves {
            let _ = writeln!(
                s,
                "  {:<w$}  {:<4}  {:<4} {:>8.3}",
                m.id, m.from, m.to, m.kw
            );
        }
    }
    let _ = writeln!(
        s,
        "\n{:<8} {:>10} {:>10} {:>10} {:>11}",
        "", "A kW", "B kW", "C kW", "unbalance"
    );
    for (name, t) in [("before", &o.before), ("after", &o.after)] {
        let _ = writeln!(
            s,
            "{name:<8} {:>10.3} {:>10.3} {:>10.3} {:>10.3}%",
            t.a_kw,
            t.b_kw,
            t.c_kw,
            t.unbalance * 100.0
        );
    }
    let _ = if plan.optimal {
        writeln!(
            s,
            "\noptimal: no plan within the budget does better or as well with fewer moves"
        )
    } else {
        writeln!(
            s,
            "\nbest found ({} search nodes); no plan can go below {:.3}%",
            plan.nodes,
            o.lower_bound * 100.0
        )
    };
    s
}
