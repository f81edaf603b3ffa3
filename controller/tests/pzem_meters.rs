//! A PDU metered by emulated PZEM-004T meters (`backend: EmulatedMeters`: the real master over
//! a socat pseudo-terminal pair, each meter register-exact, refreshed once a second and silent
//! without its supply) makes the twin's decisions: the same events in the same order, each as
//! long after the one before as on the twin, give or take the meter's update interval and the
//! master's poll of it.

use std::path::Path;

use controller::backend::emulated_meters::pzem_field;
use controller::run;
use controller::scenario::{self, BackendKind};
use field::slave::PZEM_UPDATE_S;

fn scenario_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

#[test]
fn an_outage_on_pzem_meters_gives_the_twins_events_within_a_meter_update() {
    let mut l = scenario::load(&scenario_file("pzem_metered_outage.ron")).unwrap();
    assert_eq!(l.backend, BackendKind::EmulatedMeters);
    let metered = run::run(&l, |_| {});
    assert!(metered.passed(), "{}", run::summary::render(&metered));
    let poll = pzem_field(&sim::Pdu::new(l.pdu().unwrap())).poll;
    l.set_backend(BackendKind::Sim).unwrap();
    let twin = run::run(&l, |_| {});
    let key = |e: &control_core::Event| format!("{} {}", e.kind.name(), e.subject);
    let all =
        |r: &run::Run| -> Vec<(f64, String)> { r.events.iter().map(|e| (e.t, key(e))).collect() };
    // The meters' own events (lost while their circuit was dead, back) and the supply's
    // power quality are the site's log; the decisions are the controller's.
    let records = ["voltage_dip ", "voltage_swell ", "interruption "];
    let decisions = |r: &run::Run| -> Vec<(f64, String)> {
        all(r)
            .into_iter()
            .filter(|e| !e.1.contains(" pzem-") && !records.iter().any(|k| e.1.starts_with(k)))
            .collect()
    };
    let (a, b) = (decisions(&twin), decisions(&metered));
    let show = |v: &[(f64, String)]| {
        v.iter()
            .map(|(t, k)| format!("  {t:.3} {k}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // A value shows at the meter's next update and is read at the master's next poll: within
    // a cycle, or a second for a meter that was silent (it is re-probed once a second).
    let slack = PZEM_UPDATE_S + poll.cycle_s.max(poll.reprobe_max_s);
    // Each event's delay after the one before (the first's after the start): a decision comes
    // that much after its cause.
    let gaps = |v: &[(f64, String)]| -> Vec<f64> {
        let mut before = 0.0;
        v.iter()
            .map(|(t, _)| {
                let g = t - before;
                before = *t;
                g
            })
            .collect()
    };
    let same = a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| x.1 == y.1)
        && gaps(&a)
            .iter()
            .zip(gaps(&b))
            .all(|(x, y)| (y - x).abs() <= slack + 1e-9);
    assert!(
        same,
        "events differ beyond {slack} s\ntwin:\n{}\nmeters:\n{}",
        show(&a),
        show(&b)
    );
    assert!(
        a.iter().any(|e| e.1.starts_with("transfer")),
        "{}",
        show(&a)
    );
    // The main's meter was silent in the outage, as a PZEM without its supply is.
    assert!(
        all(&metered).iter().any(|e| e.1 == "node_lost pzem-main"),
        "{}",
        show(&all(&metered))
    );
}
