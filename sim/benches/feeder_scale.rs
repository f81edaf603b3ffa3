//! `cargo xtask bench`: the IEEE 123-node and 8500-node feeders at scale. For each: the import,
//! the first solution with its regulators and capacitor controls acting (from no load), and
//! then warm-started steps alternating every load between 100 % and 98 % (the taps and banks
//! settled), at OpenDSS's default tolerance of 1e-4 and at 1e-6. Then the 8500-node's day
//! (`scenarios/data/ieee8500_day.dss`): 96 quarter-hours, each warm-started from the last with
//! its regulators and capacitor controls acting, as the scenario runs it.
//! OpenDSS's figures for the same steps come from `feeder_scale_opendss.py` beside this file.

use std::path::Path;
use std::time::Instant;

use sim::feeder::PowerFlow;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../feeders");
    let steps = if std::env::args().any(|a| a == "--bench") {
        200
    } else {
        10
    };
    for (name, master) in [
        ("123-node", "123Bus/IEEE123Master.dss"),
        ("8500-node", "8500-Node/Master.dss"),
    ] {
        let t0 = Instant::now();
        let feeder = sim::dss::import(&root.join(master)).expect("imports");
        let import = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let mut pf = PowerFlow::new(&feeder).expect("compiles");
        let compile = t0.elapsed().as_secs_f64();
        pf.tolerance = 1e-4;
        let t0 = Instant::now();
        let first = pf.solve().expect("converges");
        let cold = t0.elapsed().as_secs_f64();
        println!(
            "{name}: import {:.1} ms, compile {:.1} ms, first solution with controls {:.1} ms \
             ({} iterations, {} tap changes, {} switchings)",
            import * 1e3,
            compile * 1e3,
            cold * 1e3,
            first.iterations,
            first.tap_changes,
            first.switchings
        );
        for tol in [1e-4, 1e-6] {
            pf.tolerance = tol;
            let mut iterations = 0;
            let t0 = Instant::now();
            for k in 0..steps {
                let scale = if k % 2 == 0 { 0.98 } else { 1.0 };
                for l in 0..feeder.loads.len() {
                    pf.set_load_scale(l, scale);
                }
                iterations += pf.solve().expect("converges").iterations;
            }
            let per = t0.elapsed().as_secs_f64() / steps as f64;
            println!(
                "{name} step, tolerance {tol:.0e}: {:.3} ms, {:.2} iterations",
                per * 1e3,
                iterations as f64 / steps as f64
            );
        }
    }
    let day = sim::dss::import(&root.join("../scenarios/data/ieee8500_day.dss")).expect("imports");
    for tol in [1e-4, 1e-6] {
        let mut pf = PowerFlow::new(&day).expect("compiles");
        pf.tolerance = tol;
        let (mut iterations, mut moves) = (0, 0);
        let t0 = Instant::now();
        for k in 1..=96 {
            pf.set_minute(15.0 * k as f64);
            let s = pf.solve().expect("converges");
            iterations += s.iterations;
            moves += s.tap_changes + s.switchings;
        }
        let per = t0.elapsed().as_secs_f64() / 96.0;
        println!(
            "8500-node day step with controls, tolerance {tol:.0e}: {:.3} ms, {:.2} iterations \
             ({moves} tap changes and switchings)",
            per * 1e3,
            iterations as f64 / 96.0
        );
    }
}
