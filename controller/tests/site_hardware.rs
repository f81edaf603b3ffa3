//! The controller on a bench with no twin, as `gridtwin serve --hil` runs it on a Pi:
//! `backend::hardware::Hardware` over the demo bench's emulation at no load (mains on the main
//! node and the bus, nothing drawing), the bus clock stepped with the loop.

use std::path::Path;

use control_core::Event;
use controller::backend::hardware::{Hardware, Io};
use controller::run::PduLoop;
use hil::bench::{self, Bench};
use hil::emulated::{EmulatedBus, Fault, Nanos};

/// The relay board's outputs in `bench.ron`'s order.
const OUTPUTS: [&str; 9] = [
    "main", "backup", "start", "server", "network", "fridge", "lights", "pump", "office",
];

fn names_closed(contacts: &[bool]) -> Vec<&'static str> {
    OUTPUTS
        .iter()
        .zip(contacts)
        .filter(|(_, c)| **c)
        .map(|(n, _)| *n)
        .collect()
}

fn has(events: &[Event], name: &str, subject: &str, from: f64, to: f64) -> bool {
    events
        .iter()
        .any(|e| e.kind.name() == name && e.subject == subject && (from..=to).contains(&e.t))
}

#[test]
fn the_controller_runs_the_bench_and_a_lost_node_drops_only_its_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let l = controller::scenario::load(&root.join("scenarios/outage_generator_start.ron")).unwrap();
    let b = Bench::parse(bench::DEMO).unwrap();
    let e = hil::emulated::bench::emulate(&b);
    let (bus, mut board) = (e.bus.clone(), e.board);
    let clock: EmulatedBus = bus.clone();
    let io = Io {
        i2c: bus.clone(),
        delay: bus.clone(),
        outputs: e.outputs,
        heartbeat: e.heartbeat,
        clock: Box::new(move || clock.now() as f64 / 1e9),
        // The demo bench's loads are on nodes: no meters.
        ready: Vec::new(),
    };
    let names: Vec<String> = l
        .pdu()
        .unwrap()
        .loads
        .iter()
        .map(|x| x.name.clone())
        .collect();
    let mut hw = Hardware::new(&b, &names, l.scenario.step(), io).unwrap();
    // The nodes' calibration is the bench file's and each gives values before the first step.
    assert_eq!(hw.start(&b, 2.0), Vec::<String>::new());
    let t0 = bus.now();
    let mut lp = PduLoop::on_site(&l, Box::new(hw), l.scenario.start.0, None).unwrap();
    let mut events = Vec::new();
    let mut contacts = Vec::new();
    let run_until = |lp: &mut PduLoop, t: f64, events: &mut Vec<Event>| {
        while lp.now().as_secs_f64() < t - 1e-9 {
            // Real time passes between steps on the Pi: the bus idles until the step is due.
            bus.idle_until(t0 + lp.now().as_micros() as Nanos * 1000);
            events.extend_from_slice(lp.step());
        }
    };

    run_until(&mut lp, 5.0, &mut events);
    assert!(lp.pdu().is_none(), "no twin");
    assert!(events.is_empty(), "{events:?}");
    let r = lp.readings();
    assert!((r.main.v - 230.0).abs() < 2.3, "{}", r.main.v);
    assert!((r.main.hz - 50.0).abs() < 0.05, "{}", r.main.hz);
    assert!(r.backup.v < 5.0, "the generator is stopped: {}", r.backup.v);
    assert!((r.bus_v - 230.0).abs() < 2.3, "{}", r.bus_v);
    assert!(r.loads.iter().all(|x| x.p.abs() < 5.0), "{:?}", r.loads);
    // Energy is counted from the meters: nothing drawn, nothing counted.
    assert!(
        lp.energy_j().iter().all(|j| j.abs() < 25.0),
        "{:?}",
        lp.energy_j()
    );
    board.closed(bus.now(), &mut contacts);
    assert_eq!(
        names_closed(&contacts),
        [
            "main", "server", "network", "fridge", "lights", "pump", "office"
        ]
    );

    // The node metering the pump and the office (0x23) drops off the bus.
    bus.inject(Fault::Vanish { address: 0x23 });
    run_until(&mut lp, 7.0, &mut events);
    assert!(
        has(&events, "node_lost", "node 0x23", 5.0, 5.1),
        "{events:?}"
    );
    for load in ["pump", "office"] {
        // Stale after three 0.2 s windows without fresh values.
        assert!(has(&events, "alarm", load, 5.5, 5.9), "{load}: {events:?}");
    }
    assert_eq!(
        events.iter().filter(|e| e.kind.name() == "alarm").count(),
        2
    );
    board.closed(bus.now(), &mut contacts);
    // Neither is critical: off on loss of measurement. The rest carry on.
    assert_eq!(
        names_closed(&contacts),
        ["main", "server", "network", "fridge", "lights"]
    );

    bus.clear_faults();
    run_until(&mut lp, 12.0, &mut events);
    assert!(
        has(&events, "node_back", "node 0x23", 7.0, 8.2),
        "{events:?}"
    );
    for load in ["pump", "office"] {
        assert!(
            has(&events, "alarm_cleared", load, 7.0, 8.2),
            "{load}: {events:?}"
        );
    }
    board.closed(bus.now(), &mut contacts);
    assert_eq!(
        names_closed(&contacts),
        [
            "main", "server", "network", "fridge", "lights", "pump", "office"
        ]
    );

    // A stopped controller leaves every coil at rest: the contacts fall to their wiring.
    drop(lp);
    board.closed(bus.now(), &mut contacts);
    assert_eq!(
        names_closed(&contacts),
        ["main", "server", "network", "fridge"]
    );
}
