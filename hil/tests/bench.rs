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

#[test]
fn the_ads1115_bench_passes_its_selftest_and_its_zero_is_checked() {
    let b = Bench::parse(bench::DEMO_ADS1115).unwrap();
    let mut e = hil::emulated::bench::emulate(&b);
    let checks = run(&b, &mut e, true);
    let failed: Vec<_> = checks.iter().filter(|c| !c.pass).collect();
    assert!(failed.is_empty(), "{}", hil::selftest::table(&checks));
    // Each meter's voltage and three currents.
    let meter_checks: Vec<_> = checks
        .iter()
        .filter(|c| c.item.contains("0x48 A") || c.item.contains("0x49 A"))
        .collect();
    assert_eq!(meter_checks.len(), 8, "{}", hil::selftest::table(&checks));
    let bus = meter_checks
        .iter()
        .find(|c| c.item.starts_with("bus voltage"))
        .unwrap();
    assert!(bus.detail.starts_with("230."), "{}", bus.detail);
    // A clamp whose bias drifted reads its zero away from the bench's: it fails.
    let mut drifted = b.clone();
    drifted.meters[0].currents[0].cal.offset = 1.75;
    let checks = run(&drifted, &mut e, true);
    let server = checks
        .iter()
        .find(|c| c.item.starts_with("server current"))
        .unwrap();
    assert!(!server.pass, "{}", server.detail);
}

#[test]
fn calibrating_a_meter_input_measures_its_zero_and_its_gain() {
    use std::f64::consts::{PI, SQRT_2};
    let mut b = Bench::parse(bench::DEMO_ADS1115).unwrap();
    // The clamp as built: biased to 1.71 V (not the bench's 1.65) and 28 A per volt (not 30),
    // carrying 5 A rms at 50 Hz.
    let meters = |m: &hil::bench::MeterCfg| -> hil::emulated::ads1115::Inputs {
        let live = m.address == 0x48;
        Box::new(move |pin: usize, t: f64| match pin {
            0 if live => 1.71 + 5.0 * SQRT_2 * (2.0 * PI * 50.0 * t).sin() / 28.0,
            3 => 1.65 + (2.0 * PI * 50.0 * t).sin(),
            _ => 1.65,
        })
    };
    let mut e =
        hil::emulated::bench::emulate_with(&b, &mut |_| Box::new(|_, _| 0.0), &mut |m| meters(m));
    let (before, detail) = e.calibrate(&mut b, "server", 5.0, 5).unwrap();
    // The bench's gain read 5 A as 5.36 A.
    assert!(
        (before / (5.0 * 30.0 / 28.0) - 1.0).abs() < 0.01,
        "{before}"
    );
    let cal = b.meters[0].currents[0].cal;
    assert!((cal.offset - 1.71).abs() < 1e-3, "{detail}");
    assert!((cal.gain / 28.0 - 1.0).abs() < 0.005, "{detail}");
    // The bench file keeps it.
    assert!(b.to_ron().contains("1.71"), "{}", b.to_ron());
}
