//! `cargo xtask bench`: samples per second per core for the full metric set on one (v, i) pair,
//! streaming through the same `Analyzer` the controller and `gridtwin measure` use.
//! Goal: 100 M samples/s/core.

use std::f64::consts::TAU;
use std::time::Instant;

use control_core::measurement::Analyzer;

fn main() {
    let rate = 3200.0;
    let f = 49.7; // non-coherent on purpose
    // One second of a distorted pair, replayed: the analyser cannot tell.
    let n = rate as usize;
    let (v, i): (Vec<f64>, Vec<f64>) = (0..n)
        .map(|k| {
            let w = TAU * f * k as f64 / rate;
            (
                325.0 * (w.sin() + 0.05 * (3.0 * w).sin()),
                14.0 * ((w - 0.5).sin() + 0.2 * (3.0 * (w - 0.5)).sin()),
            )
        })
        .unzip();
    let seconds = if std::env::args().any(|a| a == "--bench") {
        20_000
    } else {
        20
    };
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..3 {
        let mut an = Analyzer::new(rate, 50.0);
        let t0 = Instant::now();
        let mut windows = 0u64;
        for _ in 0..seconds {
            for (&x, &y) in v.iter().zip(&i) {
                if let Some(w) = an.push(x, y) {
                    windows += 1;
                    checksum += w.p;
                }
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        assert!(
            windows as f64 >= f * seconds as f64 / 10.0 * 0.9,
            "{windows} windows"
        );
        best = best.min(secs);
    }
    let samples = (n * seconds) as f64;
    println!(
        "measure: {samples:.0} samples in {best:.3} s = {:.1} M samples/s/core (checksum {checksum:.0})",
        samples / best / 1e6
    );
}
