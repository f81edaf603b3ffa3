//! `cargo xtask bench`: the IEEE European LV feeder (906 buses, 55 homes) through all 1440
//! minutes of its load shapes in sequence, each step warm-started from the last.
//! Goal: 20x OpenDSS per step at equal tolerance, with every bus within 1e-4 pu of OpenDSS
//! (checked at minute 566). OpenDSS's own figures: `feeder_day_opendss.py` beside this file,
//! run back to back with it (about 0.41-0.44 ms a step at 1e-4 on the machine of issue 29).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use sim::feeder::PowerFlow;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let feeder =
        sim::dss::import(&root.join("../feeders/LVTestCase/Master.dss")).expect("LV feeder");
    let reference: HashMap<(String, usize), f64> =
        std::fs::read_to_string(root.join("tests/reference/lv_minute566_as_shipped.csv"))
            .expect("reference")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("bus,"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    (f[0].to_string(), f[1].parse().unwrap()),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
    let days = if std::env::args().any(|a| a == "--bench") {
        5
    } else {
        1
    };
    for tol in [1e-4, 1e-5, 1e-6] {
        let mut best = f64::INFINITY;
        let (mut iterations, mut worst) = (0, 0.0f64);
        for _ in 0..days {
            let mut pf = PowerFlow::new(&feeder).expect("compiles");
            pf.tolerance = tol;
            let t0 = Instant::now();
            let mut it = 0;
            for m in 1..=1440 {
                pf.set_minute(m as f64);
                it += pf.solve().expect("converges").iterations;
                if m == 566 {
                    worst = pf
                        .voltages()
                        .filter_map(|v| {
                            reference
                                .get(&(v.bus.clone(), v.node))
                                .map(|r| (v.pu - r).abs())
                        })
                        .fold(worst, f64::max);
                }
            }
            best = best.min(t0.elapsed().as_secs_f64());
            iterations = it;
        }
        println!(
            "feeder day (LV, 1440 steps) tolerance {tol:.0e}: {:.4} ms per step, {:.2} iterations per step, \
             worst node vs OpenDSS at minute 566: {worst:.1e} pu",
            best * 1000.0 / 1440.0,
            iterations as f64 / 1440.0
        );
    }
}
