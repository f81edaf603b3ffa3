//! A feeder's head and its single-phase laterals on the IEEE 123-node and 8500-node feeders.
//! (Re-phasing a lateral against OpenDSS: `feeder_reference.rs`.)

use std::path::Path;

use sim::feeder::{Feeder, PowerFlow, rephase};

fn import(rel: &str) -> Feeder {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../feeders")
        .join(rel);
    sim::dss::import(&p).unwrap_or_else(|e| panic!("import {}: {e}", p.display()))
}

/// The head is where the feeder first branches below its substation transformer and
/// regulators: what enters it is what the source delivers less those losses (under 1 %). The
/// laterals are the single-phase lines off three-phase buses: the 123-node's 24 (its file's
/// `Phases=1` lines whose bus1 has three phases) and the 8500-node's 219, holding 968 of its
/// 1,177 homes; every one can move (nothing but lines and regulators above them).
#[test]
fn the_head_and_the_laterals_of_two_ieee_feeders() {
    for (master, head_bus, count, loads) in [
        ("123Bus/IEEE123Master.dss", "149", 24, 45),
        ("8500-Node/Master.dss", "hvmv_sub_48332", 219, 968),
    ] {
        let f = import(master);
        let mut pf = PowerFlow::new(&f).unwrap();
        pf.solve().unwrap();
        let head = pf.head().unwrap();
        assert_eq!(head.bus, head_bus);
        let into: f64 = head.s.iter().map(|s| s.re).sum();
        let source = pf.source_power().re;
        assert!(
            into < source && into > 0.99 * source,
            "{master}: {into} of {source}"
        );
        let laterals = pf.laterals();
        assert_eq!(laterals.len(), count, "{master}");
        assert!(laterals.iter().all(|l| l.movable), "{master}");
        assert_eq!(laterals.iter().map(|l| l.loads).sum::<usize>(), loads);
        // Each draws power, and together less than the head takes on their phases.
        for p in 1..=3 {
            let on = laterals.iter().filter(|l| l.phase == p);
            let kw: f64 = on.map(|l| l.s.re).sum();
            assert!(kw > 0.0 && kw < head.s[p - 1].re, "{master}: phase {p}");
        }
        for l in &laterals {
            let line = f
                .lines
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(&l.line));
            let line = line.unwrap_or_else(|| panic!("{master}: no line {}", l.line));
            let code = f
                .line_codes
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&line.code));
            assert_eq!(code.unwrap().phases, 1, "{master}: {}", l.line);
        }
    }
}

#[test]
fn a_lateral_is_re_phased_only_on_its_tap_and_to_a_phase() {
    let mut f = import("123Bus/IEEE123Master.dss");
    let err = |f: &mut Feeder, line, bus, phase| rephase(f, line, bus, phase).unwrap_err();
    assert_eq!(
        err(&mut f, "l107", "108", 4),
        "line l107: phase 4 is not 1, 2 or 3"
    );
    assert_eq!(err(&mut f, "l999", "108", 2), "no line l999");
    assert_eq!(
        err(&mut f, "l107", "57", 2),
        "line l107 does not end on bus 57"
    );
    // A three-phase line's terminal is no one-phase tap.
    let three = f
        .lines
        .iter()
        .find(|l| l.bus1.ends_with(".1.2.3"))
        .unwrap()
        .clone();
    let (bus, _) = sim::feeder::model::split_terminal(&three.bus1).unwrap();
    let msg = err(&mut f, &three.name, &bus, 2);
    assert!(msg.contains("is not a one-phase tap"), "{msg}");
    rephase(&mut f, "L107", "108", 3).unwrap();
    let l = f
        .lines
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case("l107"))
        .unwrap();
    assert_eq!((l.bus1.as_str(), l.bus2.as_str()), ("108.3", "109.1"));
}
