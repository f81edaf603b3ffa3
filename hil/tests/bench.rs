//! The bench file, and the selftest and calibration run against its emulation.

use hil::bench::{self, Bench};
use hil::emulated::Fault;
use hil::emulated::bench::Emulated;
use hil::selftest::Check;

fn run(b: &Bench, e: &mut Emulated, yes: bool) -> Vec<Check> {
    e.selftest(b, &mut |_| yes)
}

#[test]
fn the_demo_bench_passes_its_selftest_in_emulation() {
    let b = Bench::parse(bench::DEMO).unwrap();
    let mut e = hil::emulated::bench::emulate(&b);
    let checks = run(&b, &mut e, true);
    let failed: Vec<_> = checks.iter().filter(|c| !c.pass).collect();
    assert!(failed.is_empty(), "{}", hil::selftest::table(&checks));
    // Every listed device, every channel and the bus voltage, the ADC input, every relay.
    let n_channels: usize = b.nodes.iter().map(|n| n.channels.len() + 1).sum();
    let relays = b.relays.outputs.len();
    assert_eq!(checks.len(), b.nodes.len() + n_channels + 1 + relays);
    // A normally closed contact opens when its coil is energized, and closes again.
    let main = checks
        .iter()
        .find(|c| c.item.contains("MainContactor"))
        .unwrap();
    assert_eq!(main.detail, "contact made → open → made");
    let lights = checks
        .iter()
        .find(|c| c.item.starts_with("relay") && c.item.contains("lights"))
        .unwrap();
    assert!(lights.item.contains("NormallyOpen"));
    assert_eq!(lights.detail, "contact open → made → open");
}

#[test]
fn relays_are_skipped_when_the_user_says_no() {
    let b = Bench::parse(bench::DEMO).unwrap();
    let mut e = hil::emulated::bench::emulate(&b);
    let checks = run(&b, &mut e, false);
    assert!(
        checks
            .iter()
            .filter(|c| c.item.starts_with("relay"))
            .all(|c| c.detail == "skipped")
    );
}

#[test]
fn a_missing_node_fails_and_its_channels_are_not_read() {
    let b = Bench::parse(bench::DEMO).unwrap();
    let mut e = hil::emulated::bench::emulate(&b);
    e.bus.inject(Fault::Vanish { address: 0x23 });
    let checks = run(&b, &mut e, true);
    let node = checks.iter().find(|c| c.item == "node 0x23").unwrap();
    assert!(!node.pass);
    assert_eq!(node.detail, "does not answer");
    assert!(!checks.iter().any(|c| c.item.starts_with("pump current")));
}

#[test]
fn calibration_brings_a_channel_to_the_reference_and_into_the_file() {
    let mut b = Bench::parse(bench::DEMO).unwrap();
    let mut e = hil::emulated::bench::emulate(&b);
    // The reference meter says 232.0 V where the node reads the emulation's 230 V.
    let (before, _) = e.calibrate(&mut b, "bus.v", 232.0, 5).unwrap();
    assert!((before - 230.0).abs() < 0.5, "{before}");
    let gain = b.nodes[2].voltage_cal.gain_ppm;
    let expected = (232.0 / before - 1.0) * 1e6;
    assert!(
        (f64::from(gain) - expected).abs() < 2.0,
        "{gain} vs {expected}"
    );
    // The node measures with it at once.
    let (after, _) = e.calibrate(&mut b, "bus.v", 232.0, 5).unwrap();
    assert!((after - 232.0).abs() < 0.3, "{after}");
    // And it round-trips through the file.
    let again = Bench::parse(&b.to_ron()).unwrap();
    assert_eq!(again, b);
    // A channel that reads nothing cannot be calibrated.
    let err = e.calibrate(&mut b, "pump", 3.0, 2).unwrap_err();
    assert!(err.contains("reads zero"), "{err}");
    assert!(e.calibrate(&mut b, "nothing", 1.0, 1).is_err());
}

#[test]
fn a_bad_bench_says_where_and_what() {
    let e = Bench::parse("Bench(nodes: [], relays: (heartbeat_pin: 12, outputs: [], bogus: 1))")
        .unwrap_err();
    assert!(e.starts_with("1:") && e.contains("bogus"), "{e}");
    let e = Bench::parse(
        "Bench(nodes: [(address: 0x80, voltage: Bus, channels: [Bus])], relays: (heartbeat_pin: 12, outputs: []))",
    )
    .unwrap_err();
    assert!(e.contains("0x80") && e.contains("0x08-0x77"), "{e}");
    let e = Bench::parse(
        "Bench(nodes: [], relays: (heartbeat_pin: 12, outputs: [(pin: 12, drives: MainContactor, contact: NormallyClosed)]))",
    )
    .unwrap_err();
    assert!(e.contains("pin 12"), "{e}");
}
