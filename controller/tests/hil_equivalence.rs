//! The same scenario on the simulated backend and on the emulated hardware path gives the same
//! events (each subject's events of each kind in order), each within one measurement window: the hardware path meters 200 ms windows on
//! virtual nodes and polls them over the emulated bus (or, with `EmulatedHilAds1115`, streams
//! the loads' currents through virtual ADS1115s and meters 200 ms of their samples at every
//! step), where the simulated backend reads the twin at once.

use std::path::Path;

use controller::run;
use controller::scenario;
use controller::scenario::BackendKind;

/// One window (200 ms at 50 Hz), the poll that reads it, and a control step.
const TOLERANCE_S: f64 = 0.2 + 0.02 + 0.02;

fn events(name: &str, backend: BackendKind) -> Vec<(f64, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.ron"));
    let mut l = scenario::load(&path).expect("the scenario loads");
    l.set_backend(backend).expect("a PDU scenario");
    let r = run::run(&l, |_| {});
    // The scenario's own timing bounds are written for the simulated backend's instant
    // readings; the hardware path is held to the events instead.
    if backend == BackendKind::Sim {
        for o in &r.outcomes {
            assert!(o.pass, "{name}: {} {}", o.label, o.detail);
        }
    }
    let mut v: Vec<(f64, String, String)> = r
        .events
        .iter()
        .map(|e| (e.t, e.kind.name().to_string(), e.subject.clone()))
        .collect();
    // Each subject's events of each kind in their order: events of different kinds a window
    // apart may swap (a power-quality event ends on a part-recovered window's RMS, a step
    // before the source is seen back).
    v.sort_by(|a, b| (&a.2, &a.1).cmp(&(&b.2, &b.1)));
    v
}

fn same_events(name: &str) {
    same_events_on(name, BackendKind::EmulatedHil);
    same_events_on(name, BackendKind::EmulatedHilAds1115);
}

fn same_events_on(name: &str, backend: BackendKind) {
    let sim = events(name, BackendKind::Sim);
    let hil = events(name, backend);
    let show = |v: &[(f64, String, String)]| {
        v.iter()
            .map(|(t, k, s)| format!("{t:.2} {k} {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        sim.len(),
        hil.len(),
        "{name}: sim\n{}\n{backend:?}\n{}",
        show(&sim),
        show(&hil)
    );
    for (a, b) in sim.iter().zip(&hil) {
        assert_eq!(
            (&a.1, &a.2),
            (&b.1, &b.2),
            "{name} on {backend:?}: {a:?} vs {b:?}"
        );
        assert!(
            (a.0 - b.0).abs() <= TOLERANCE_S,
            "{name}: {} {} at {:.3} s on sim, {:.3} s on {backend:?}",
            a.1,
            a.2,
            a.0,
            b.0
        );
    }
}

#[test]
fn an_outage_transfers_and_retransfers_alike() {
    same_events("outage_generator_start");
}

#[test]
fn a_surge_opens_the_main_alike() {
    same_events("surge_on_mains");
}

#[test]
fn a_short_circuit_trips_retries_and_locks_out_alike() {
    same_events("short_circuit_one_load");
}

#[test]
fn a_welded_relay_is_found_alike() {
    same_events("welded_relay_alarm");
}

#[test]
fn shedding_on_the_generator_goes_alike() {
    same_events("backup_overload_shedding");
}

/// What the controller is given on the hardware path (the nodes' 10-bit metering, polled over
/// the bus) agrees with the twin's truth at the same instant.
#[test]
fn the_nodes_readings_agree_with_the_twin() {
    readings_agree_with_the_twin(BackendKind::EmulatedHil);
}

/// And the ADS1115s' (16-bit, four samples a cycle per circuit, the skew corrected).
#[test]
fn the_ads1115_readings_agree_with_the_twin() {
    readings_agree_with_the_twin(BackendKind::EmulatedHilAds1115);
}

fn readings_agree_with_the_twin(backend: BackendKind) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/backup_overload_shedding.ron");
    let mut l = scenario::load(&path).unwrap();
    l.set_backend(backend).unwrap();
    let mut twin = run::PduLoop::new(&l, None, None).unwrap();
    // 20 s in: every load on, steady.
    for _ in 0..1000 {
        twin.step();
    }
    let (m, truth) = (twin.measured(), twin.pdu().expect("a twin").truth());
    for (k, (got, want)) in m.loads.iter().zip(&truth.loads).enumerate() {
        assert!(!got.lost);
        assert!(
            (got.p - want.p).abs() <= 0.01 * want.p,
            "load {k}: {} W vs {} W",
            got.p,
            want.p
        );
        assert!(
            (got.i - want.i).abs() <= 0.01 * want.i,
            "load {k}: {} A vs {} A",
            got.i,
            want.i
        );
    }
    assert!((m.main.v - truth.main.v).abs() <= 0.005 * truth.main.v);
    assert!((m.main.p - truth.main.p).abs() <= 0.01 * truth.main.p);
    assert!((m.main.hz - 50.0).abs() < 0.01, "{}", m.main.hz);
}

/// The bus-fault scenarios with their loads on ADS1115 meters, each fault at the meter of the
/// load it names: every expectation holds, the fault's subject being that meter (`meter 0x48`
/// where the file names the heater's node, `node 0x22`). The slow node does not carry over: it
/// stretches the clock on every byte, which an ADS1115 never does.
#[test]
fn the_bus_fault_scenarios_hold_with_the_loads_on_ads1115_meters() {
    use controller::scenario::format::Expect;
    for name in [
        "hil_bus_stuck",
        "hil_controller_hang",
        "hil_corrupt_cable",
        "hil_nak_node",
        "hil_node_vanishes",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(format!("{name}.ron"));
        let mut l = scenario::load(&path).expect("the scenario loads");
        l.set_backend(BackendKind::EmulatedHilAds1115)
            .expect("a PDU scenario");
        for e in &mut l.scenario.expect {
            if let Expect::Count { subject, .. }
            | Expect::Never { subject, .. }
            | Expect::Within { subject, .. } = e
                && subject.as_deref() == Some("node 0x22")
            {
                *subject = Some("meter 0x48".into());
            }
        }
        let r = run::run(&l, |_| {});
        assert!(r.outcomes.len() >= l.scenario.expect.len(), "{name}");
        for o in &r.outcomes {
            assert!(o.pass, "{name}: {} {}", o.label, o.detail);
        }
    }
}
