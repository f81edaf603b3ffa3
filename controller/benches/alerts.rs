//! `cargo xtask bench`: the cost of alert rules on a 16-load PDU's stored readings, one row a
//! second: every load with rules on its power, power factor, current THD, 15-minute demand and
//! energy per day, and the site's voltage, frequency, power factor, THD and demand. Reported
//! per row, per rule and per channel of the row for one simulated second.

use std::time::Instant as Wall;

use control_core::{AlertAction, AlertRule, Crossing, Positive, Quantity, Scope, Secs};
use record::schema;

fn rule(name: String, quantity: Quantity, scope: Scope, when: Crossing, warning: f64) -> AlertRule {
    AlertRule {
        name,
        quantity,
        scope,
        when,
        warning: Some(warning),
        critical: None,
        after: Secs::lit(5.0),
        hysteresis: 0.0,
        clear_after: Secs::lit(10.0),
        action: AlertAction::Notify,
        notify: None,
        escalate: None,
        shed: Vec::new(),
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let loads: Vec<String> = (0..16).map(|k| format!("load{k:02}")).collect();
    let channels: Vec<String> = schema::pdu_channels(&loads)
        .into_iter()
        .map(|c| c.name)
        .collect();
    let demand = Quantity::Demand {
        window: Positive::new(900.0).unwrap(),
    };
    let mut rules = Vec::new();
    for l in &loads {
        let s = || Scope::Load(l.clone());
        rules.push(rule(
            format!("{l}_p"),
            Quantity::P,
            s(),
            Crossing::Above,
            1500.0,
        ));
        rules.push(rule(
            format!("{l}_pf"),
            Quantity::Pf,
            s(),
            Crossing::Below,
            0.85,
        ));
        rules.push(rule(
            format!("{l}_thd"),
            Quantity::Thd,
            s(),
            Crossing::Above,
            30.0,
        ));
        rules.push(rule(
            format!("{l}_dem"),
            demand,
            s(),
            Crossing::Above,
            1200.0,
        ));
        let day = Quantity::EnergyPerDay;
        rules.push(rule(format!("{l}_day"), day, s(), Crossing::Above, 20.0));
    }
    for (n, q, when, x) in [
        ("v", Quantity::V, Crossing::Below, 207.0),
        ("hz", Quantity::Hz, Crossing::Below, 49.5),
        ("pf", Quantity::Pf, Crossing::Below, 0.9),
        ("thd", Quantity::Thd, Crossing::Above, 20.0),
        ("dem", demand, Crossing::Above, 15_000.0),
    ] {
        rules.push(rule(format!("site_{n}"), q, Scope::Site, when, x));
    }
    let epoch = control_core::WallTime::parse("2026-01-05T00:00").unwrap().0;
    let mut alerts = controller::alerts::alerts(&rules, &channels, epoch).unwrap();
    let seconds: u64 = if quick { 3_600 } else { 86_400 };
    // Values that move through every threshold now and then.
    let mut row = vec![0.0; channels.len()];
    let mut raised = 0;
    let t0 = Wall::now();
    for s in 0..seconds {
        for (i, x) in row.iter_mut().enumerate() {
            let phase = (s as f64 / 300.0 + i as f64).sin();
            *x = match channels[i].rsplit('/').next() {
                Some("pf") => 0.9 + 0.1 * phase,
                Some("thd") => 25.0 + 10.0 * phase,
                Some("energy") => s as f64 * 500.0,
                Some("v") => 225.0 + 20.0 * phase,
                Some("hz") => 50.0 + 0.6 * phase,
                _ => 1000.0 + 800.0 * phase,
            };
        }
        alerts.handle_row(control_core::Instant::from_micros(s * 1_000_000), &row);
        raised += alerts.drain_events().len();
    }
    let per_row = t0.elapsed().as_secs_f64() / seconds as f64;
    println!(
        "alerts: {} rules on {} channels, {} rows of 1 s: {:.2} µs a row, {:.1} ns a rule, \
         {:.1} ns a channel per second ({raised} events)",
        rules.len(),
        channels.len(),
        seconds,
        per_row * 1e6,
        per_row * 1e9 / rules.len() as f64,
        per_row * 1e9 / channels.len() as f64,
    );
}
