//! A North American home panel (120/240 V split phase) against OpenDSS: the same panel
//! (`reference/split_phase_panel.dss`), solved by OpenDSS to 1e-10 and written to
//! `reference/split_phase_panel.csv` by `reference/opendss_reference.py`.

use grid_types::SourceId;
use num_complex::Complex64;
use sim::pdu::Service;
use sim::{Actuation, Leg, LoadModel, LoadSpec, Pdu, PduSpec, SourceKind, SourceSpec};

/// OpenDSS's figure `quantity` of `case`.
fn reference(case: &str, quantity: &str) -> Complex64 {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/split_phase_panel.csv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let row = text
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == case && r[1] == quantity)
        .unwrap_or_else(|| panic!("no {case} {quantity} in {path}"));
    Complex64::new(row[2].parse().unwrap(), row[3].parse().unwrap())
}

fn load(name: &str, leg: Leg, model: LoadModel) -> LoadSpec {
    LoadSpec {
        name: name.into(),
        model,
        harmonics: Default::default(),
        leg,
    }
}

/// The panel of the .dss file: 120 V legs behind 0.04 + j0.03 ohm, the neutral 0.06 + j0.02.
fn panel() -> Pdu {
    let source = SourceSpec {
        kind: SourceKind::Utility,
        r_ohm: 0.04,
        x_ohm: 0.03,
    };
    let power = |watts, pf| LoadModel::ConstantPower { watts, pf };
    let impedance = |watts, pf| LoadModel::ConstantImpedance { watts, pf };
    Pdu::new(&PduSpec {
        nominal_v: 120.0,
        nominal_hz: 60.0,
        main: source.clone(),
        backup: source,
        loads: vec![
            load("kitchen", Leg::L1, power(1800.0, 0.95)),
            load("lights", Leg::L2, impedance(300.0, 1.0)),
            load("dryer", Leg::L1L2, impedance(5000.0, 1.0)),
            load("ac", Leg::L1L2, power(3500.0, 0.9)),
        ],
        seed: 0,
        service: Service::SplitPhase {
            neutral_r_ohm: 0.06,
            neutral_x_ohm: 0.02,
        },
    })
}

/// The panel on its main with `relays` closed, settled.
fn solved(relays: [bool; 4], neutral_open: bool) -> Pdu {
    let mut pdu = panel();
    pdu.set_neutral_open(SourceId::Main, neutral_open);
    let act = Actuation {
        main_closed: true,
        relays: relays.to_vec(),
        ..Default::default()
    };
    pdu.step(0.02, &act);
    pdu.step(0.02, &act);
    pdu
}

/// Every node voltage within 1e-6 pu of OpenDSS's, every current within 1 mA and every load's
/// power within 10 mW; the legs' meters and the source's reading from the same figures.
fn matches_opendss(case: &str, pdu: &Pdu) {
    let nodes = pdu.panel_nodes();
    for (k, name) in ["v_l1", "v_l2", "v_n"].iter().enumerate() {
        let want = reference(case, name);
        assert!(
            (nodes[k] - want).norm() < 1e-6 * 120.0,
            "{case} {name}: {} against OpenDSS {want}",
            nodes[k]
        );
    }
    let t = pdu.truth();
    let legs = t.legs.expect("a split-phase panel meters its legs");
    let i_l1 = reference(case, "i_l1");
    let i_l2 = reference(case, "i_l2");
    let i_n = reference(case, "i_n");
    for (got, want, what) in [
        (legs.i[0], i_l1.norm(), "L1 current"),
        (legs.i[1], i_l2.norm(), "L2 current"),
        (legs.neutral_i, i_n.norm(), "neutral current"),
    ] {
        assert!(
            (got - want).abs() < 1e-3,
            "{case} {what}: {got} against {want}"
        );
    }
    for (k, name) in ["kitchen", "lights", "dryer", "ac"].iter().enumerate() {
        let want = reference(case, &format!("s_{name}"));
        let got = Complex64::new(t.loads[k].p, t.loads[k].q);
        assert!(
            (got - want).norm() < 1e-2,
            "{case} {name}: {got} against {want}"
        );
    }
    // Two-element metering: the legs' powers against the neutral bar sum to what the loads
    // draw, and the source reports their sum and the larger leg's current.
    let drawn: f64 = t.loads.iter().map(|l| l.p).sum();
    assert!((legs.p[0] + legs.p[1] - drawn).abs() < 1e-6 * drawn);
    assert!((t.main.p - drawn).abs() < 1e-6 * drawn);
    assert_eq!(t.main.i, legs.i[0].max(legs.i[1]));
}

#[test]
fn a_panel_with_120_v_and_240_v_circuits_matches_opendss() {
    let pdu = solved([true; 4], false);
    matches_opendss("all", &pdu);
    // The unbalanced 120 V circuits return their difference on the neutral: the kitchen's
    // current less the lights' (L2's current is the opposite phase).
    let i = |k| pdu.load_current(k);
    let legs = pdu.truth().legs.unwrap();
    assert!((legs.neutral_i - (i(0) + i(1)).norm()).abs() < 1e-9);
    assert!(legs.neutral_i > 10.0);
}

#[test]
fn a_240_v_load_draws_from_both_legs_and_none_from_the_neutral() {
    let pdu = solved([false, false, true, true], false);
    matches_opendss("240_only", &pdu);
    let legs = pdu.truth().legs.unwrap();
    assert!(legs.neutral_i < 1e-9, "neutral {} A", legs.neutral_i);
    assert!((legs.i[0] - legs.i[1]).abs() < 1e-9);
}

#[test]
fn an_open_neutral_shifts_the_120_v_circuits_as_opendss_does() {
    let pdu = solved([true; 4], true);
    matches_opendss("open_neutral", &pdu);
    // The lightly loaded leg rises toward 240 V, the heavily loaded one sags: the reason a
    // split-phase source is sensed per leg.
    let legs = pdu.truth().legs.unwrap();
    assert!(
        legs.v[1] > 1.5 * 120.0 && legs.v[0] < 0.5 * 120.0,
        "{:?}",
        legs.v
    );
    // L1 at 32 V is 88 V from nominal, L2 at 205 V 85 V: the source reads as L1.
    assert_eq!(
        pdu.truth().main.v,
        legs.v[0],
        "the leg farthest from nominal"
    );
}
