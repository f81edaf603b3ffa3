//! Safety properties over random timelines of faults and operator commands.

use std::collections::BTreeSet;
use std::path::Path;

use control_core::EventKind;
use controller::run::{StepView, Tapes, run_observed};
use controller::scenario;
use proptest::prelude::*;

const LOADS: [&str; 6] = ["server", "fridge", "office", "heater", "oven", "ev"];
const SHED_DELAY: f64 = 2.0;
const STEP: f64 = 0.02;

fn action() -> impl Strategy<Value = String> {
    let source = prop_oneof![Just("Main"), Just("Backup")];
    let load = prop::sample::select(&LOADS[..]);
    let sheddable = prop::sample::select(&LOADS[1..]);
    prop_oneof![
        (source.clone(), 0.5f64..400.0)
            .prop_map(|(s, d)| format!("Outage(source: {s}, duration: {d:.2})")),
        (source.clone(), 0.3f64..0.95, 0.1f64..20.0)
            .prop_map(|(s, p, d)| format!("Sag(source: {s}, pu: {p:.3}, duration: {d:.2})")),
        (source.clone(), 1.05f64..1.5, 0.05f64..5.0)
            .prop_map(|(s, p, d)| format!("Swell(source: {s}, pu: {p:.3}, duration: {d:.2})")),
        (source, 45.0f64..55.0, 0.1f64..10.0).prop_map(|(s, h, d)| format!(
            "FrequencyExcursion(source: {s}, hz: {h:.2}, duration: {d:.2})"
        )),
        (load.clone(), 0.0f64..2.0, 0.05f64..60.0).prop_map(|(l, o, d)| format!(
            "ShortCircuit(load: \"{l}\", ohms: {o:.3}, duration: {d:.2})"
        )),
        (sheddable, 0.0f64..3.0)
            .prop_map(|(l, f)| format!("LoadStep(load: \"{l}\", factor: {f:.2})")),
        (load.clone()).prop_map(|l| format!("Operator(On(\"{l}\"))")),
        (load.clone()).prop_map(|l| format!("Operator(Off(\"{l}\"))")),
        (load).prop_map(|l| format!("Operator(Reset(\"{l}\"))")),
    ]
}

fn timeline() -> impl Strategy<Value = Vec<(f64, String)>> {
    prop::collection::vec((0.0f64..600.0, action()), 0..25)
}

fn scenario_text(entries: &[(f64, String)]) -> String {
    let timeline: String = entries
        .iter()
        .map(|(t, a)| format!("        (at: {t:.2}, do: {a}),\n"))
        .collect();
    format!(
        r#"Scenario(
    name: "property",
    duration: 700.0,
    step: {STEP},
    grid: Pdu(
        main: (kind: Utility),
        backup: (kind: Generator(rating_kw: 6.0, start_delay: 3.0, ramp: 1.0), r_ohm: 0.3, x_ohm: 0.2),
        loads: [
            (name: "server", model: ConstantPower(watts: 700.0, pf: 0.95)),
            (name: "fridge", model: Compressor(watts: 400.0, pf: 0.8, on: 120.0, off: 200.0)),
            (name: "office", model: ConstantPower(watts: 900.0, pf: 0.9)),
            (name: "heater", model: ConstantImpedance(watts: 2000.0, pf: 1.0)),
            (name: "oven", model: ConstantImpedance(watts: 2500.0, pf: 1.0)),
            (name: "ev", model: ConstantPower(watts: 3500.0, pf: 0.99)),
        ],
    ),
    controller: (
        ats: (retransfer_delay: 60.0, cooldown: 30.0),
        shedding: (main_capacity_kw: 12.0, backup_capacity_kw: 5.0, shed_delay: {SHED_DELAY}, restore_delay: 10.0),
        loads: {{
            "server": (priority: 0, critical: true, overcurrent: (instantaneous: (pickup: 30.0, delay: 0.0))),
            "fridge": (priority: 10, overcurrent: (instantaneous: (pickup: 40.0, delay: 0.0))),
            "office": (priority: 100, overcurrent: (instantaneous: (pickup: 30.0, delay: 0.0))),
            "heater": (priority: 150, overcurrent: (instantaneous: (pickup: 30.0, delay: 0.0))),
            "oven": (priority: 200, overcurrent: (instantaneous: (pickup: 30.0, delay: 0.0))),
            "ev": (priority: 250, overcurrent: (instantaneous: (pickup: 30.0, delay: 0.0))),
        }},
    ),
    timeline: [
{timeline}    ],
)
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn safety_holds_on_random_timelines(entries in timeline()) {
        let text = scenario_text(&entries);
        let l = scenario::parse(Path::new("property.ron"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let capacity = [12_000.0, 5_000.0];
        let mut locked: BTreeSet<String> = BTreeSet::new();
        let mut over_for = 0.0f64;
        let mut worst_over = 0.0f64;
        let mut violation: Option<String> = None;
        run_observed(&l, &mut Tapes::none(), |_| {}, |v: &StepView| {
            if violation.is_some() {
                return;
            }
            // 1. Both sources are never closed together.
            if v.pdu.main_closed() && v.pdu.backup_closed() {
                violation = Some(format!("both sources closed at {:.2} s", v.t));
            }
            // 2. A locked-out load's relay never closes until an operator resets it.
            for e in v.events {
                match &e.kind {
                    EventKind::Lockout { .. } => { locked.insert(e.subject.clone()); }
                    EventKind::Operator { action } if action == "reset" => { locked.remove(&e.subject); }
                    _ => {}
                }
            }
            for (i, closed) in v.controller.commands().relays.iter().enumerate() {
                if *closed && locked.contains(LOADS[i]) {
                    violation = Some(format!("{} closed while locked out at {:.2} s", LOADS[i], v.t));
                }
            }
            // 3. The feeding source is never over capacity longer than the shedding delay plus a step.
            let t = v.pdu.truth();
            let (p, cap) = if v.pdu.main_closed() { (t.main.p, capacity[0]) } else { (t.backup.p, capacity[1]) };
            if p > cap { over_for += STEP } else { over_for = 0.0 }
            worst_over = worst_over.max(over_for);
            if over_for > SHED_DELAY + STEP + 1e-9 {
                violation = Some(format!("over capacity ({p:.0} W > {cap:.0} W) for {over_for:.2} s at {:.2} s", v.t));
            }
        });
        prop_assert!(violation.is_none(), "{}\n{}", violation.unwrap_or_default(), text);
    }
}
