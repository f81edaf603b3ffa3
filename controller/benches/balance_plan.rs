//! `cargo xtask bench`: the balancing planner on 200 homes (goal: a plan in under 5 ms), with
//! its unbalance against the lower bound, on seeded streets with and without a move budget.

use std::time::Instant;

use control_core::balance::{Home, plan};
use grid_types::Phase;
use sim::rng::SplitMix64;

/// A street of `n` homes: evening loads of 0.2 to about 9 kW (log-normal), 45/32/23 % of the
/// homes on A/B/C as streets grow, one in ten fixed (three-phase services, opted out).
fn street(n: usize, seed: u64) -> Vec<Home> {
    let mut r = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let u = r.uniform();
            let phase = if u < 0.45 {
                Phase::A
            } else if u < 0.77 {
                Phase::B
            } else {
                Phase::C
            };
            Home {
                id: format!("home{i:03}"),
                phase,
                kw: (0.2 + (0.3 + 0.8 * r.normal()).exp()).min(12.0),
                movable: r.uniform() > 0.1,
            }
        })
        .collect()
}

fn main() {
    let reps = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        5
    };
    println!("planner: 200 homes, best and median of {reps} runs per street; goal < 5 ms");
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>7} {:>10} {:>10} {:>11} {:>8}",
        "seed",
        "budget",
        "best ms",
        "median ms",
        "moves",
        "before %",
        "after %",
        "bound %",
        "optimal"
    );
    for seed in 1..=5u64 {
        let homes = street(200, seed);
        for budget in [None, Some(10), Some(3)] {
            let mut times = Vec::with_capacity(reps);
            let mut last = None;
            for _ in 0..reps {
                let t0 = Instant::now();
                let p = plan(&homes, budget).expect("valid street");
                times.push(t0.elapsed().as_secs_f64() * 1e3);
                last = Some(p);
            }
            times.sort_by(f64::total_cmp);
            let p = last.expect("at least one run");
            println!(
                "{seed:>6} {:>8} {:>9.3} {:>9.3} {:>7} {:>10.3} {:>10.5} {:>11.5} {:>8}",
                budget.map_or("none".into(), |b| b.to_string()),
                times[0],
                times[times.len() / 2],
                p.moves.len(),
                p.unbalance_before * 100.0,
                p.unbalance_after * 100.0,
                p.lower_bound * 100.0,
                p.optimal
            );
        }
    }
}
