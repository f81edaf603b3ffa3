//! Settings changed while running (the control center's editors): checked like a scenario's,
//! in force from the next step, the load's state kept.

use std::path::Path;

use control_core::ConfigError;
use control_core::LoadSettings;
use control_core::{EventKind, LoadStatus};
use controller::run::PduLoop;

fn demo() -> controller::scenario::Loaded {
    controller::scenario::parse(Path::new("demo.ron"), controller::DEMO_SCENARIO).unwrap()
}

/// Step until `t` s; the events on the way, with their times.
fn run_to(twin: &mut PduLoop, t: f64) -> Vec<control_core::Event> {
    let mut out = Vec::new();
    while twin.now().as_secs_f64() < t {
        out.extend_from_slice(twin.step());
    }
    out
}

fn fridge(twin: &PduLoop) -> LoadStatus {
    let i = twin.controller().load_index("fridge").unwrap();
    twin.controller().load_status(i)
}

fn settings(json: &str) -> LoadSettings {
    serde_json::from_str(json).unwrap()
}

#[test]
fn a_new_power_limit_trips_a_running_load_after_its_delay() {
    let l = demo();
    let mut twin = PduLoop::new(&l, None, None).unwrap();
    run_to(&mut twin, 10.0);
    assert_eq!(fridge(&twin), LoadStatus::On);
    // The fridge draws 400 W; a 100 W limit with a 2 s delay.
    let cfg = settings(r#"{"priority": 10, "limit_w": 100.0, "limit_delay": 2.0}"#);
    twin.configure_load("fridge", cfg.clone()).unwrap();
    assert_eq!(twin.controller().settings().loads["fridge"], cfg);
    let events = run_to(&mut twin, 15.0);
    let trip = events
        .iter()
        .find(|e| e.subject == "fridge" && matches!(e.kind, EventKind::Trip { .. }))
        .expect("the limit trips the fridge");
    assert!(
        (trip.t - 12.0).abs() < 0.05,
        "after the 2 s delay: {}",
        trip.t
    );
    assert!(
        events.iter().any(|e| e.subject == "fridge"
            && e.kind
                == EventKind::Operator {
                    action: "settings".into()
                }),
        "the change is logged"
    );
    assert!(matches!(
        fridge(&twin),
        LoadStatus::Tripped | LoadStatus::LockedOut
    ));
}

#[test]
fn a_new_schedule_acts_from_its_next_edge() {
    let l = demo();
    let mut twin = PduLoop::new(&l, None, None).unwrap();
    run_to(&mut twin, 10.0);
    // The demo starts at 08:00:00; switch the fridge off at 08:00:50 until 08:01:30.
    let cfg = settings(
        r#"{"priority": 10, "schedules": [{"Daily": {"on": "08:01:30", "off": "08:00:50"}}]}"#,
    );
    twin.configure_load("fridge", cfg).unwrap();
    run_to(&mut twin, 49.0);
    assert_eq!(
        fridge(&twin),
        LoadStatus::On,
        "no edge yet: the state is kept"
    );
    let events = run_to(&mut twin, 51.0);
    assert!(
        events
            .iter()
            .any(|e| e.subject == "fridge" && e.kind == EventKind::Schedule { on: false })
    );
    assert_eq!(fridge(&twin), LoadStatus::Off);
}

#[test]
fn bad_settings_are_refused_and_change_nothing() {
    let l = demo();
    let mut twin = PduLoop::new(&l, None, None).unwrap();
    let before = twin.controller().settings().clone();
    let e = twin
        .configure_load("fridge", settings(r#"{"requires": ["kettle"]}"#))
        .unwrap_err();
    assert_eq!(
        e,
        ConfigError::UnknownRequired {
            load: "fridge".into(),
            required: "kettle".into()
        }
    );
    let e = twin
        .configure_load(
            "fridge",
            settings(r#"{"schedules": [{"Weekly": {"days": [], "on": "08:00", "off": "09:00"}}]}"#),
        )
        .unwrap_err();
    assert!(matches!(e, ConfigError::Schedule { index: 1, .. }), "{e}");
    // pump requires nothing in the demo; making each require the other is a cycle.
    twin.configure_load("pump", settings(r#"{"requires": ["fridge"]}"#))
        .unwrap();
    let e = twin
        .configure_load("fridge", settings(r#"{"requires": ["pump"]}"#))
        .unwrap_err();
    assert!(matches!(e, ConfigError::RequiresCycle(_)), "{e}");
    let e = twin
        .configure_load("kettle", LoadSettings::default())
        .unwrap_err();
    assert_eq!(e, ConfigError::UnknownLoad("kettle".into()));
    assert_eq!(
        twin.controller().settings().loads.get("fridge"),
        before.loads.get("fridge")
    );
}
