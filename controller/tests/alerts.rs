//! Alert rules in a scenario: checked against the site's channels where they are written, and
//! evaluated on the recorded rows (`scenarios/alert_power_factor_and_thd.ron` holds the timing
//! and the hysteresis).

use std::path::Path;

use control_core::{AlertLevel, EventKind};
use controller::scenario::parse;

const PDU: &str = r#"Scenario(
    name: "a",
    duration: 10.0,
    grid: Pdu(
        main: (kind: Utility),
        backup: (kind: Generator(rating_kw: 8.0)),
        loads: [(name: "heater", model: ConstantImpedance(watts: 2000.0, pf: 1.0))],
    ),
    alerts: [
        (name: "hot", quantity: P, scope: Load("heater"), when: Above, warning: Some(1500.0)),
        RULE
    ],
    expect: [Count(event: "alert_raised", subject: "heater", min: 1)],
)"#;

fn pdu_error(rule: &str) -> String {
    let text = PDU.replace("RULE", rule);
    parse(Path::new("a.ron"), &text).unwrap_err().to_string()
}

#[test]
fn a_rule_that_does_not_fit_the_site_is_refused_where_it_is_written() {
    let e = pdu_error(
        r#"(name: "cold", quantity: P, scope: Load("oven"), when: Below, warning: Some(1.0)),"#,
    );
    assert!(e.starts_with("a.ron:11:"), "{e}");
    assert!(e.contains("no load \"oven\""), "{e}");
    let e = pdu_error(r#"(name: "n", quantity: Neutral, when: Above, warning: Some(1.0)),"#);
    assert!(e.contains("Neutral is not measured for the site"), "{e}");
    let e = pdu_error(r#"(name: "hot", quantity: Q, when: Above, warning: Some(1.0)),"#);
    assert!(e.contains("defined twice"), "{e}");
    let e = pdu_error(
        r#"(name: "pf", quantity: Pf, when: Below, warning: Some(0.7), critical: Some(0.8)),"#,
    );
    assert!(e.contains("before the critical"), "{e}");
    // A misspelt field is a RON error at its place.
    let e = pdu_error(r#"(name: "x", quantity: P, when: Above, warnin: Some(1.0)),"#);
    assert!(e.starts_with("a.ron:11:"), "{e}");
}

#[test]
fn a_rule_runs_and_its_events_are_expected_like_any_other() {
    let text = PDU.replace("RULE", "");
    let l = parse(Path::new("a.ron"), &text).unwrap();
    let run = controller::run::run(&l, |_| {});
    assert!(run.passed(), "{:?}", run.outcomes);
    // On from the start at 2 kW (less its source's drop): raised at once, never cleared.
    let raised: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.kind.name() == "alert_raised")
        .collect();
    assert_eq!(raised.len(), 1);
    assert_eq!(
        raised[0].t, 0.0,
        "the first row: the relay closed in the first step"
    );
}

#[test]
fn a_feeder_rule_reads_its_transformer_and_homes() {
    let text = std::fs::read_to_string("../scenarios/feeder_lv_day.ron").unwrap();
    let with = |rule: &str| {
        let t = text.replacen("grid:", &format!("alerts: [{rule}],\n    grid:"), 1);
        parse(Path::new("../scenarios/feeder_lv_day.ron"), &t)
    };
    let neutral = r#"(name: "n", quantity: Neutral, scope: Head("LV_BUS"), when: Above, warning: Some(30.0))"#;
    let e = with(neutral).unwrap_err().to_string();
    assert!(e.contains("no transformer secondary \"LV_BUS\""), "{e}");
    let l = parse(Path::new("../scenarios/feeder_lv_day.ron"), &text).unwrap();
    let controller::scenario::Site::Feeder(f) = &l.site else {
        panic!("a feeder")
    };
    let pf = sim::feeder::PowerFlow::new(f).unwrap();
    let head = pf.head_buses()[0].clone();
    let ok = neutral.replace("LV_BUS", &head);
    assert!(with(&ok).is_ok(), "{:?}", with(&ok).err());
    let thd = r#"(name: "t", quantity: Thd, when: Above, warning: Some(5.0))"#;
    assert!(
        with(thd)
            .unwrap_err()
            .to_string()
            .contains("Thd is not measured")
    );
}

#[test]
fn each_level_of_the_power_factor_and_thd_rules_comes_at_its_time() {
    let l = controller::scenario::load(Path::new("../scenarios/alert_power_factor_and_thd.ron"))
        .unwrap();
    let run = controller::run::run(&l, |_| {});
    let seen: Vec<(f64, String, &str)> = run
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AlertRaised { rule, level, .. } => Some((
                e.t,
                rule.clone(),
                match level {
                    AlertLevel::Critical => "critical",
                    _ => "warning",
                },
            )),
            EventKind::AlertCleared { rule, .. } => Some((e.t, rule.clone(), "cleared")),
            _ => None,
        })
        .collect();
    let expected = [
        (35.0, "low_pf", "warning"),
        (93.0, "thd", "warning"),
        (100.0, "low_pf", "cleared"),
        (123.0, "thd", "critical"),
        (160.0, "thd", "warning"),
        (185.0, "low_pf", "warning"),
        (220.0, "thd", "cleared"),
        (243.0, "thd", "warning"),
        (250.0, "low_pf", "cleared"),
        (280.0, "thd", "cleared"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|&(t, r, l)| (t, r.to_string(), l))
        .collect();
    assert_eq!(seen, expected);
}
