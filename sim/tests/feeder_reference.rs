//! The feeder twin against published IEEE test-feeder results and against OpenDSS itself
//! (`reference/*.csv`, written by `reference/opendss_reference.py`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sim::dss;
use sim::feeder::{Feeder, PowerFlow};

fn feeders() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../feeders")
}

fn import(rel: &str) -> Feeder {
    let p = feeders().join(rel);
    dss::import(&p).unwrap_or_else(|e| panic!("import {}: {e}", p.display()))
}

/// OpenDSS's node voltages: (bus, node) → (pu, angle).
fn reference(name: &str) -> HashMap<(String, usize), (f64, f64)> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.csv"));
    let text = std::fs::read_to_string(&p).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("bus,"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                (f[0].to_string(), f[1].parse().unwrap()),
                (f[2].parse().unwrap(), f[3].parse().unwrap()),
            )
        })
        .collect()
}

/// Every node OpenDSS reports is within `tol` pu of ours; returns the worst difference.
fn compare_all(pf: &PowerFlow, name: &str, tol: f64) -> f64 {
    let r = reference(name);
    let mut worst: f64 = 0.0;
    let mut n = 0;
    for v in pf.voltages() {
        let Some(&(pu, _)) = r.get(&(v.bus.clone(), v.node)) else {
            continue;
        };
        n += 1;
        worst = worst.max((v.pu - pu).abs());
        assert!(
            (v.pu - pu).abs() <= tol,
            "{name}: {}.{} = {:.6} pu, OpenDSS {pu:.6}",
            v.bus,
            v.node,
            v.pu
        );
    }
    assert_eq!(n, r.len(), "{name}: every OpenDSS node has a voltage here");
    worst
}

/// A reference table of steps (`reference/NAME.csv`): its header, and each row's numbers.
fn steps(name: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.csv"));
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

/// Each capacitor bank in (1) or out (0), in the feeder's order.
fn banks(pf: &PowerFlow) -> Vec<f64> {
    let caps = &pf.feeder().capacitors;
    caps.iter()
        .map(|c| if c.closed { 1.0 } else { 0.0 })
        .collect()
}

fn angle(v: num_complex::Complex64) -> f64 {
    v.arg().to_degrees()
}

#[test]
fn ieee_4_node_yy_unbalanced_matches_the_published_voltages() {
    let f = import("4Bus-YY-UnBal/4Bus-YY-UnBal.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.solve().unwrap();
    let v = pf.bus_voltages("n4").unwrap();
    // Kersting's published node-4 voltages (IEEE 4-node test feeder, Y-Y step-down, unbalanced).
    for ((_, got), (mag, ang)) in v
        .iter()
        .zip([(2175.0, -4.1), (1930.0, -126.8), (1833.0, 102.8)])
    {
        assert!(
            (got.norm() - mag).abs() / mag < 0.001,
            "|V| = {:.1}, published {mag}",
            got.norm()
        );
        assert!(
            (angle(*got) - ang).abs() < 0.1,
            "angle {:.2}, published {ang}",
            angle(*got)
        );
    }
    compare_all(&pf, "4bus_yy_unbal", 2e-4);
}

#[test]
fn ieee_13_node_with_fixed_taps_matches_the_published_voltages() {
    let f = import("13Bus/IEEE13Nodeckt.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    for (reg, tap) in [("reg1", 10), ("reg2", 8), ("reg3", 11)] {
        pf.set_tap(reg, tap).unwrap();
    }
    pf.solve().unwrap();
    let published = [
        ("632", [1.0210, 1.0420, 1.0174]),
        ("671", [0.9900, 1.0529, 0.9778]),
        ("675", [0.9835, 1.0553, 0.9758]),
    ];
    for (bus, want) in published {
        let got = pf.bus_pu(bus).unwrap();
        for ((node, g), w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 0.002,
                "bus {bus}.{node}: {g:.4} pu, published {w}"
            );
        }
    }
    compare_all(&pf, "13bus_taps_10_8_11", 1e-4);
}

fn lv_at_566(constant_power: bool) -> PowerFlow {
    let mut f = import("LVTestCase/Master.dss");
    if constant_power {
        for l in &mut f.loads {
            (l.vminpu, l.vmaxpu) = (0.5, 1.5);
        }
    }
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.set_minute(566.0);
    pf.solve().unwrap();
    pf
}

#[test]
fn european_lv_feeder_at_minute_566_matches_opendss() {
    let pf = lv_at_566(true);
    let got = pf.bus_pu("899").unwrap();
    for ((node, g), w) in got.iter().zip([1.0435, 0.9925, 1.0555]) {
        assert!(
            (g - w).abs() < 1e-4,
            "bus 899.{node}: {g:.5} pu, OpenDSS {w}"
        );
    }
    let worst = compare_all(&pf, "lv_minute566_constant_power", 1e-4);
    assert!(
        (pf.source_power().re / 1000.0 - 59.41).abs() < 0.01,
        "feeder draws {:.3} kW",
        pf.source_power().re / 1000.0
    );
    eprintln!("worst difference from OpenDSS over all nodes: {worst:.2e} pu");
}

#[test]
fn european_lv_feeder_as_shipped_turns_high_voltage_loads_into_impedances() {
    let pf = lv_at_566(false);
    compare_all(&pf, "lv_minute566_as_shipped", 1e-4);
    assert!(
        (pf.source_power().re / 1000.0 - 60.92).abs() < 0.01,
        "feeder draws {:.3} kW",
        pf.source_power().re / 1000.0
    );
}

#[test]
fn ieee_13_node_regulators_settle_on_the_taps_opendss_chooses() {
    let f = import("13Bus/IEEE13Nodeckt.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    let solved = pf.solve().unwrap();
    assert_eq!(
        pf.taps(),
        [9, 6, 9],
        "after {} tap changes",
        solved.tap_changes
    );
    compare_all(&pf, "13bus_regulated", 1e-4);
}

/// The IEEE 123-node feeder as OpenDSS ships it: its seven regulators (a three-phase gang at
/// the substation whose PT reads phase A to neutral, single-phase units and banks built with
/// `like=`) settle on OpenDSS's taps, and every node is within 1e-4 pu of OpenDSS's.
#[test]
fn ieee_123_node_matches_opendss_with_its_regulators_in_control() {
    let f = import("123Bus/IEEE123Master.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    let solved = pf.solve().unwrap();
    assert_eq!(
        pf.taps(),
        [6, 0, 2, 0, 10, 4, 6],
        "after {} tap changes",
        solved.tap_changes
    );
    compare_all(&pf, "123bus_regulated", 1e-4);
    let kw = pf.source_power().re / 1000.0;
    assert!((kw - 3615.2419).abs() < 0.5, "feeder draws {kw:.3} kW");
}

/// The IEEE 34-node feeder as OpenDSS ships it (Mod 1: each distributed load split between
/// its section's two ends; Mod 2: at a bus added mid-section): two banks of three single-phase
/// regulators with line-drop compensation, and loads of models 1, 2, 4 (CVR) and 5 that keep
/// their laws down to 0.85 pu.
#[test]
fn ieee_34_node_matches_opendss_with_its_regulators_in_control() {
    for (master, case, taps, kw) in [
        (
            "34Bus/ieee34Mod1.dss",
            "34bus_mod1_regulated",
            [14, 4, 5, 13, 13, 13],
            2047.0393,
        ),
        (
            "34Bus/ieee34Mod2.dss",
            "34bus_mod2_regulated",
            [13, 5, 5, 12, 12, 12],
            2047.0259,
        ),
    ] {
        let f = import(master);
        let mut pf = PowerFlow::new(&f).unwrap();
        let solved = pf.solve().unwrap();
        assert_eq!(
            pf.taps(),
            taps,
            "{case}: after {} tap changes",
            solved.tap_changes
        );
        compare_all(&pf, case, 1e-4);
        let got = pf.source_power().re / 1000.0;
        assert!((got - kw).abs() < 0.5, "{case}: feeder draws {got:.3} kW");
    }
}

/// The IEEE 37-node feeder as OpenDSS ships it: a 4.8 kV delta feeder whose two single-phase
/// regulators, across A-B and C-B, form an open delta; its delta loads are of models 1, 2 and 4.
#[test]
fn ieee_37_node_matches_opendss_with_its_open_delta_regulators_in_control() {
    let f = import("37Bus/ieee37.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    let solved = pf.solve().unwrap();
    assert_eq!(
        pf.taps(),
        [16, 14],
        "after {} tap changes",
        solved.tap_changes
    );
    compare_all(&pf, "37bus_regulated", 1e-4);
    let kw = pf.source_power().re / 1000.0;
    assert!((kw - 2588.4533).abs() < 0.5, "feeder draws {kw:.3} kW");
}

/// The IEEE 8500-node feeder as its run script solves it: a substation reactor, twelve
/// single-phase regulators and capacitor banks under kvar control with voltage override, and
/// 1177 homes behind center-tapped transformers on triplex (the transformers from XfmrCodes).
/// The taps and bank states are OpenDSS's, and every one of its 8531 nodes (primary and
/// 120 V secondaries) is within 1e-4 pu of OpenDSS's.
#[test]
fn ieee_8500_node_matches_opendss_on_its_primary_and_secondaries() {
    let f = import("8500-Node/Master.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    let solved = pf.solve().unwrap();
    assert_eq!(
        pf.taps(),
        [2, 2, 1, 10, 6, 2, 16, 10, 1, 12, 12, 5],
        "after {} tap changes",
        solved.tap_changes
    );
    assert!(pf.feeder().capacitors.iter().all(|c| c.closed));
    let worst = compare_all(&pf, "8500node_regulated", 1e-4);
    eprintln!(
        "8500-node: worst node {worst:.2e} pu, {} iterations",
        solved.iterations
    );
    let kw = pf.source_power().re / 1000.0;
    assert!((kw - 11983.4290).abs() < 0.05, "feeder draws {kw:.3} kW");
}

/// Each of the 8500-node's 1,177 split-phase homes draws from the primary phase its
/// center-tapped transformer is wired to (the feeder names each home by it: `138236B0` hangs on
/// phase B), and the European LV feeder's homes, behind the one three-phase transformer, from
/// none.
#[test]
fn a_split_phase_home_draws_from_its_service_transformer_s_primary_phase() {
    let f = import("8500-Node/Master.dss");
    let pf = PowerFlow::new(&f).unwrap();
    let phases = pf.service_phases();
    for (l, phase) in f.loads.iter().zip(&phases) {
        let letter = l.name.chars().rev().nth(1).unwrap().to_ascii_lowercase();
        let named = "abc".find(letter).map(|k| k + 1);
        assert_eq!(*phase, named, "{}", l.name);
    }
    let lv = PowerFlow::new(&import("LVTestCase/Master.dss")).unwrap();
    assert!(lv.service_phases().iter().all(Option::is_none));
}

/// Capacitor controls of each kind as OpenDSS's static solution runs them
/// (`reference/cap_controls.dss`): a kvar control closes its open bank, a voltage control
/// opens its closed one, a current control keeps its bank in, and a voltage override opens a
/// bank its kvar setting would keep, after the regulator (of shorter delay) has moved. The
/// states, the tap and every node are OpenDSS's.
#[test]
fn capacitor_controls_switch_their_banks_as_opendss_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let f = dss::import(&dir.join("cap_controls.dss")).unwrap();
    let before: Vec<bool> = f.capacitors.iter().map(|c| c.closed).collect();
    assert_eq!(before, [false, true, true, true]);
    let mut pf = PowerFlow::new(&f).unwrap();
    let solved = pf.solve().unwrap();
    let after: Vec<(&str, bool)> = pf
        .feeder()
        .capacitors
        .iter()
        .map(|c| (c.name.as_str(), c.closed))
        .collect();
    assert_eq!(
        after,
        [
            ("kvarbank", true),
            ("vbank", false),
            ("ibank", true),
            ("obank", false)
        ]
    );
    assert_eq!((pf.taps(), solved.switchings), (&[-3][..], 3));
    compare_all(&pf, "cap_controls", 1e-4);
}

/// Time-of-day capacitor controls through two days at 30-minute steps
/// (`reference/cap_time.dss`): a bank in from 08:00 to 18:00 and one from 20:00 to 06:30
/// across midnight switch at OpenDSS's steps, and the voltage they raise is OpenDSS's.
#[test]
fn time_capacitor_controls_switch_at_the_hours_opendss_switches() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let f = dss::import(&dir.join("cap_time.dss")).unwrap();
    let (_, rows) = steps("cap_time");
    let mut pf = PowerFlow::new(&f).unwrap();
    let mut switchings = 0;
    for v in rows {
        pf.set_minute(30.0 * v[0]);
        switchings += pf.solve().unwrap().switchings;
        let states = banks(&pf);
        assert_eq!(states[..], v[1..3], "step {}", v[0]);
        let b1 = pf.bus_pu("b").unwrap()[0].1;
        assert!(
            (b1 - v[3]).abs() < 1e-6,
            "step {}: b.1 {b1:.7} pu, OpenDSS {:.7}",
            v[0],
            v[3]
        );
    }
    // The day bank out at 00:30, then in at 08:00 and out at 18:00 each day; the night bank
    // in at 20:00 each day and out at 06:30 between them.
    assert_eq!(switchings, 8);
}

/// Generators and a PV system at their scheduled output (`reference/generators.dss`): each
/// delivers what OpenDSS's does, the one pushed past vmaxpu as OpenDSS's admittance, the PV
/// inverter cutting its active power to its kVA, and every node is OpenDSS's.
#[test]
fn generators_and_pv_deliver_what_opendss_delivers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let f = dss::import(&dir.join("generators.dss")).unwrap();
    let pv = f.generators.iter().find(|g| g.name == "pv").unwrap();
    assert!((pv.kw - 313.8156).abs() < 1e-3 && (pv.kvar - 154.9831).abs() < 1e-3);
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.solve().unwrap();
    compare_all(&pf, "generators", 1e-4);
    let kw = pf.source_power().re / 1000.0;
    assert!(
        (kw - -416.9473).abs() < 0.05,
        "the feeder exports {kw:.3} kW"
    );
}

/// A split-phase service (`reference/split_phase.dss`): a center-tapped transformer of three
/// windings and a triplex drop match OpenDSS at every node. A 240 V load across both legs draws
/// equal and opposite currents from them and nothing from the neutral; unbalanced 120 V loads
/// return their difference on it, as much as OpenDSS finds at the center tap.
#[test]
fn a_split_phase_service_matches_opendss_and_balances_its_neutral() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let f = dss::import(&dir.join("split_phase.dss")).unwrap();
    let neutral = |pf: &PowerFlow, bus: &str| {
        let legs = pf.bus_inflow(bus).unwrap();
        assert_eq!(legs.len(), 2, "{bus}: two legs");
        (legs[0].1 + legs[1].1, legs[0].1)
    };
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.solve().unwrap();
    compare_all(&pf, "split_phase", 1e-4);
    let (n, _) = neutral(&pf, "s");
    assert!(
        (n.norm() - 17.186755).abs() < 0.01,
        "neutral {:.4} A",
        n.norm()
    );

    let mut only_240 = f.clone();
    only_240.loads.retain(|l| l.name == "both");
    let mut pf = PowerFlow::new(&only_240).unwrap();
    pf.solve().unwrap();
    compare_all(&pf, "split_phase_240", 1e-4);
    let (n, leg) = neutral(&pf, "h");
    // 5 kW at pf 0.98 across about 243 V.
    assert!(
        (leg.norm() - 5000.0 / 0.98 / 243.0).abs() < 0.3,
        "the 240 V load draws {:.2} A",
        leg.norm()
    );
    assert!(n.norm() < 1e-9 * leg.norm(), "neutral {:.3e} A", n.norm());
}

/// Each OpenDSS load model (1 to 8, CVR exponents, a delta and a leading single-phase load)
/// draws what OpenDSS's does in its band, in the interpolated region below vminpu, as the
/// rated impedance below 0.5 pu and as an impedance above vmaxpu (`reference/load_models.dss`).
#[test]
fn every_load_model_draws_what_opendss_draws_in_and_out_of_its_band() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    let f = dss::import(&dir.join("load_models.dss")).unwrap();
    let text = std::fs::read_to_string(dir.join("load_models.csv")).unwrap();
    let mut compared = 0;
    for pu in [1.0, 0.8, 0.45, 1.1] {
        let mut pf = PowerFlow::new(&f).unwrap();
        pf.set_source_pu(pu);
        pf.solve().unwrap();
        for row in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let c: Vec<&str> = row.split(',').collect();
            if c[0].parse::<f64>().unwrap() != pu {
                continue;
            }
            let k = f.loads.iter().position(|l| l.name == c[1]).unwrap();
            let s = pf.load_state(k).s / 1000.0;
            let (kw, kvar): (f64, f64) = (c[2].parse().unwrap(), c[3].parse().unwrap());
            let off = (s.re - kw).abs().max((s.im - kvar).abs());
            assert!(
                off < 1e-4 * kw.hypot(kvar),
                "{} at source {pu} pu: {:.4} kW {:.4} kvar, OpenDSS {kw} {kvar}",
                c[1],
                s.re,
                s.im
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 40);
}

#[test]
fn a_phase_selector_move_is_the_same_as_wiring_the_home_to_that_phase() {
    let mut f = import("LVTestCase/Master.dss");
    let home = f
        .loads
        .iter()
        .position(|l| l.bus == "34.1")
        .expect("LOAD1 on 34.1");
    let mut moved = PowerFlow::new(&f).unwrap();
    moved.set_minute(566.0);
    moved.solve().unwrap();
    let before = moved.bus_pu("34").unwrap();
    moved.set_load_node(home, 2).unwrap();
    moved.solve().unwrap();
    let after = moved.bus_pu("34").unwrap();
    // The home's load leaves phase A for phase B: A rises, B falls.
    assert!(
        after[0].1 > before[0].1 && after[1].1 < before[1].1,
        "{before:?} → {after:?}"
    );
    assert!(
        moved.set_load_node(home, 5).is_err(),
        "bus 34 has no node 5"
    );

    f.loads[home].bus = "34.2".into();
    let mut wired = PowerFlow::new(&f).unwrap();
    wired.set_minute(566.0);
    wired.solve().unwrap();
    for (a, b) in moved.voltages().zip(wired.voltages()) {
        assert!(
            (a.volts - b.volts).norm() < 1e-3,
            "{}.{}: {} vs {}",
            a.bus,
            a.node,
            a.volts,
            b.volts
        );
    }
}

#[test]
fn ieee_4_node_open_wye_open_delta_floats_on_line_capacitance_as_opendss_solves_it() {
    // Two single-phase units, wye primaries and an open delta secondary with ppm_antifloat=0:
    // only the 2500 ft line's capacitance holds the delta side to ground.
    let f = import("4Bus-OYOD-UnBal/4bus-OYOD-UnBal.dss");
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.solve().unwrap();
    let worst = compare_all(&pf, "4bus_oyod_unbal", 1e-4);
    assert!(worst < 1e-4, "worst {worst}");
    let r = reference("4bus_oyod_unbal");
    for v in pf.voltages() {
        let (_, deg) = r[&(v.bus.clone(), v.node)];
        let d = (angle(v.volts) - deg + 540.0).rem_euclid(360.0) - 180.0;
        assert!(
            d.abs() < 0.01,
            "{}.{}: {:.4} deg, OpenDSS {deg}",
            v.bus,
            v.node,
            angle(v.volts)
        );
    }
    // OpenDSS: 4020.89 kW in.
    assert!((pf.source_power().re / 1e3 - 4020.89).abs() < 0.5);
}

/// Found by fuzzing (`cargo xtask fuzz opendss`): a regulator on a transformer of no phases
/// read its winding's voltage past the transformer's conductors. Phases of none, and a
/// transformer named twice (which one would a regulator move?), are refused by name.
#[test]
fn a_transformer_of_no_phases_or_named_twice_is_refused_by_name() {
    let f = import("13Bus/IEEE13Nodeckt.dss");
    // The feeder with regulator reg1's transformer edited; the power flow's refusal.
    let refused = |edit: &dyn Fn(&mut Feeder, usize)| {
        let mut g = f.clone();
        let name = &g.regulators[0].transformer;
        let t = g
            .transformers
            .iter()
            .position(|t| t.name.eq_ignore_ascii_case(name))
            .unwrap();
        edit(&mut g, t);
        PowerFlow::new(&g).err().expect("refused").to_string()
    };

    let err = refused(&|g, t| g.transformers[t].phases = 0);
    assert!(err.contains("transformer reg1: no phases"), "{err}");

    let err = refused(&|g, t| {
        let mut again = g.transformers[t].clone();
        again.name = again.name.to_ascii_uppercase();
        g.transformers.push(again);
    });
    assert!(err.contains("transformer REG1: named twice"), "{err}");
}

#[test]
fn a_floating_delta_with_nothing_to_ground_is_refused_by_name() {
    let mut f = import("4Bus-OYOD-UnBal/4bus-OYOD-UnBal.dss");
    for c in &mut f.line_codes {
        c.c_nf_per_km.iter_mut().flatten().for_each(|x| *x = 0.0);
    }
    let err = PowerFlow::new(&f)
        .err()
        .expect("no reference to ground")
        .to_string();
    assert!(err.contains("sd_unbal_oy_od_3"), "{err}");
    assert!(err.contains("nothing below it holds it to ground"), "{err}");
}

#[test]
fn ieee_4_node_open_wye_open_delta_balanced_under_deri_matches_opendss_line_to_line() {
    // Lines from geometry under OpenDSS's default Deri earth model; the delta side held by
    // the transformers' ppm anti-float reactance, a 1 kvar capacitor and the line capacitance.
    // Its zero sequence rests on those tiny admittances, so the line-to-line voltages (which
    // do not) are compared tightly. OpenDSS put buses n3 and n4 on a 12.47 kV base.
    let f = import("4Bus-OYOD-Bal/4Bus-OYOD-Bal.DSS");
    let mut pf = PowerFlow::new(&f).unwrap();
    pf.solve().unwrap();
    let r = reference("4bus_oyod_bal");
    let base = 12470.0 / 3f64.sqrt();
    for bus in ["n3", "n4"] {
        let ours = pf.bus_abc(bus).unwrap();
        let theirs: Vec<num_complex::Complex64> = (1..=3)
            .map(|n| {
                let (pu, deg) = r[&(bus.to_string(), n)];
                num_complex::Complex64::from_polar(pu * base, deg.to_radians())
            })
            .collect();
        for k in 0..3 {
            let (a, b) = (
                (ours[k] - ours[(k + 1) % 3]).norm(),
                (theirs[k] - theirs[(k + 1) % 3]).norm(),
            );
            assert!(
                (a - b).abs() / b < 5e-4,
                "{bus} V{k}{}: {a:.1} V, OpenDSS {b:.1} V",
                (k + 1) % 3
            );
        }
        for k in 0..3 {
            let (a, b) = (ours[k].norm(), theirs[k].norm());
            assert!(
                (a - b).abs() / b < 2e-3,
                "{bus}.{}: {a:.1} V, OpenDSS {b:.1} V",
                k + 1
            );
        }
    }
    // OpenDSS: 3923.74 kW in.
    assert!((pf.source_power().re / 1e3 - 3923.74).abs() / 3923.74 < 5e-4);
}

/// The sweep passes over a bus with nothing on it between two lines (it sums the lines), and
/// fills in its voltage and current once solved. Such a bus must read exactly as it does with
/// an idle load on it, which makes the sweep visit it: here a three-phase cable given by its
/// sequence impedances, then a two-phase line given by its matrix on phases B and C, then a
/// single-phase line off phase C wired to its far bus's node 1; and a second cable with
/// unbalanced loads at its end.
#[test]
fn a_bus_the_sweep_passes_over_reads_as_the_same_bus_visited() {
    let chain = "clear
new circuit.chain basekv=0.416 pu=1.02 phases=3 bus1=src isc3=3000 isc1=2000
new linecode.seq nphases=3 r1=0.2 x1=0.08 r0=0.6 x0=0.3 c1=0 c0=0 units=km
new linecode.geo nphases=2 rmatrix=[0.3 |0.1 0.32] xmatrix=[0.5 |0.2 0.48] cmatrix=[0 |0 0] units=km
new linecode.one nphases=1 r1=0.5 x1=0.1 c1=0 c0=0 units=km
new line.a bus1=src bus2=m1 linecode=seq length=0.2 units=km
new line.b bus1=m1.2.3 bus2=m2.2.3 phases=2 linecode=geo length=0.1 units=km
new line.c bus1=m2.3 bus2=e.1 phases=1 linecode=one length=0.05 units=km
new load.e bus1=e.1 phases=1 kv=0.24 kw=6 pf=0.9
new line.d bus1=src bus2=n1 linecode=seq length=0.15 units=km
new line.f bus1=n1 bus2=n2 linecode=seq length=0.15 units=km
new load.n2a bus1=n2.1 phases=1 kv=0.24 kw=9 pf=0.95
new load.n2c bus1=n2.3 phases=1 kv=0.24 kw=3 pf=0.85
set voltagebases=[0.416]
calcvoltagebases
";
    let idle = "new load.i1 bus1=m1.1 phases=1 kv=0.24 kw=0
new load.i2 bus1=m2.2 phases=1 kv=0.24 kw=0
new load.i3 bus1=n1.2 phases=1 kv=0.24 kw=0
";
    let solve = |text: String| {
        let f = dss::import_with(Path::new("chain.dss"), &|_| Ok(text.clone())).unwrap();
        let mut pf = PowerFlow::new(&f).unwrap();
        pf.tolerance = 1e-13;
        pf.solve().unwrap();
        pf
    };
    let passed = solve(chain.to_string());
    let visited = solve(format!("{chain}{idle}"));
    for bus in ["m1", "m2", "e", "n1", "n2"] {
        let (vp, vv) = (
            passed.bus_voltages(bus).unwrap(),
            visited.bus_voltages(bus).unwrap(),
        );
        let (ip, iv) = (
            passed.bus_inflow(bus).unwrap(),
            visited.bus_inflow(bus).unwrap(),
        );
        assert_eq!(vp.len(), vv.len(), "{bus}'s nodes");
        for ((n, a), (_, b)) in vp.iter().zip(&vv) {
            assert!(
                (a - b).norm() < 1e-9,
                "{bus}.{n}: {a} V passed over, {b} V visited"
            );
        }
        for ((n, a), (_, b)) in ip.iter().zip(&iv) {
            assert!(
                (a - b).norm() < 1e-9,
                "{bus}.{n}: {a} A passed over, {b} A visited"
            );
        }
    }
    // Not trivially equal: the chains carry their loads' current, with a drop along them.
    let drop = passed.bus_voltages("m1").unwrap()[2].1 - passed.bus_voltages("m2").unwrap()[1].1;
    assert!(drop.norm() > 0.5, "{drop} V from m1 to m2 on phase C");
    assert!(passed.bus_inflow("m1").unwrap()[2].1.norm() > 20.0);
}

/// The IEEE 8500-node feeder through a day (`scenarios/data/ieee8500_day.dss`: every load on
/// OpenDSS's `default` day), 96 steps of 15 minutes, each solved from the step before with its
/// regulators and capacitor controls in control, as OpenDSS's yearly mode runs it. At every
/// step the taps and bank states are OpenDSS's, the feeder's input within 0.01 %, its lowest
/// and highest node within 1e-4 pu; at the evening peak every node is.
#[test]
fn ieee_8500_node_through_a_day_follows_opendss_step_by_step() {
    let p = feeders().join("../scenarios/data/ieee8500_day.dss");
    let f = dss::import(&p).unwrap_or_else(|e| panic!("import {}: {e}", p.display()));
    let (header, rows) = steps("8500node_day");
    let regs: Vec<&str> = f.regulators.iter().map(|r| r.name.as_str()).collect();
    let caps: Vec<&str> = f.capacitors.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        header[1..1 + regs.len()],
        regs[..],
        "regulators in OpenDSS's order"
    );
    assert_eq!(
        header[1 + regs.len()..1 + regs.len() + caps.len()],
        caps[..]
    );
    let mut pf = PowerFlow::new(&f).unwrap();
    let mut moves = 0;
    for (k, v) in rows.into_iter().enumerate() {
        let step = k + 1;
        pf.set_minute(15.0 * step as f64);
        let before = pf.taps().to_vec();
        pf.solve().unwrap_or_else(|e| panic!("step {step}: {e}"));
        moves += before.iter().zip(pf.taps()).filter(|(a, b)| a != b).count();
        let taps: Vec<f64> = pf.taps().iter().map(|&t| f64::from(t)).collect();
        assert_eq!(taps[..], v[1..1 + regs.len()], "step {step}: taps");
        let states = banks(&pf);
        let c0 = 1 + regs.len();
        assert_eq!(states[..], v[c0..c0 + caps.len()], "step {step}: banks");
        let [kw, lo, hi] = v[c0 + caps.len()..] else {
            panic!("step {step}: a row of {} fields", v.len())
        };
        let ours = pf.source_power().re / 1000.0;
        assert!(
            (ours - kw).abs() < 1e-4 * kw,
            "step {step}: {ours:.3} kW, OpenDSS {kw:.3}"
        );
        let (min, max) = pf
            .voltages()
            .filter(|n| n.pu > 0.0)
            .fold((f64::INFINITY, 0.0_f64), |(a, b), n| {
                (a.min(n.pu), b.max(n.pu))
            });
        assert!(
            (min - lo).abs() < 1e-4 && (max - hi).abs() < 1e-4,
            "step {step}: nodes {min:.6}..{max:.6} pu, OpenDSS {lo:.6}..{hi:.6}"
        );
        if step == 68 {
            compare_all(&pf, "8500node_day_peak", 1e-4);
        }
    }
    // The day moves them: the reference is not a flat feeder's.
    assert!(moves > 20, "{moves} tap moves in the day");
}

/// The numbers a reference table's header gives after `key` (`taps 5 0 2`, `feeder input kW
/// 3603.0150`).
fn header_numbers(name: &str, key: &str) -> Vec<f64> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.csv"));
    let text = std::fs::read_to_string(&p).unwrap();
    let first = text.lines().next().unwrap();
    let part = first
        .split("; ")
        .find_map(|p| p.strip_prefix(key))
        .unwrap_or_else(|| panic!("{name}: no `{key}` in its header"));
    part.split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect()
}

/// The largest single-phase lateral of the 123-node and of the 8500-node re-phased (its tap
/// moved to the next phase of its three-phase bus, as `gridtwin rephase` would): the laterals
/// list finds it on its new phase, and the regulators, the capacitor controls and every node
/// settle as OpenDSS's with the same edit (`123bus_rephased`, `8500node_rephased`).
#[test]
fn a_lateral_re_phased_settles_as_opendss_does_with_the_same_edit() {
    for (master, line, bus, from, to, case, kw_tol) in [
        (
            "123Bus/IEEE123Master.dss",
            "l107",
            "108",
            1,
            2,
            "123bus_rephased",
            0.5,
        ),
        (
            "8500-Node/Master.dss",
            "ln6351523-3",
            "m1108315",
            3,
            1,
            "8500node_rephased",
            0.05,
        ),
    ] {
        let mut f = import(master);
        let find = |pf: &PowerFlow| {
            let l = pf.laterals().into_iter().find(|l| l.line == line);
            l.unwrap_or_else(|| panic!("{case}: no lateral {line}"))
        };
        let mut pf = PowerFlow::new(&f).unwrap();
        pf.solve().unwrap();
        let before = find(&pf);
        assert_eq!((before.bus.as_str(), before.phase), (bus, from), "{case}");
        // The largest of those that can move.
        let largest = pf.laterals().into_iter().filter(|l| l.movable);
        let largest = largest.max_by(|a, b| a.s.re.total_cmp(&b.s.re)).unwrap();
        assert_eq!(largest.line, line, "{case}");

        sim::feeder::rephase(&mut f, line, bus, to).unwrap();
        let mut pf = PowerFlow::new(&f).unwrap();
        let solved = pf.solve().unwrap();
        let after = find(&pf);
        assert_eq!((after.bus.as_str(), after.phase), (bus, to), "{case}");
        assert_eq!(after.loads, before.loads, "{case}");
        let taps: Vec<i32> = header_numbers(case, "taps ")
            .iter()
            .map(|&t| t as i32)
            .collect();
        assert_eq!(
            pf.taps(),
            taps,
            "{case}: after {} tap changes",
            solved.tap_changes
        );
        assert_eq!(banks(&pf), header_numbers(case, "capacitors "), "{case}");
        compare_all(&pf, case, 1e-4);
        let kw = pf.source_power().re / 1000.0;
        let want = header_numbers(case, "feeder input kW ")[0];
        assert!(
            (kw - want).abs() < kw_tol,
            "{case}: feeder draws {kw:.3} kW, OpenDSS {want}"
        );
    }
}
