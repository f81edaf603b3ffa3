//! Homes on LoRaWAN end to end through a real Mosquitto (Debian's, started by the emulation;
//! cargo xtask ci installs it): an emulated ChirpStack v4 publishes
//! the nodes' uplinks in its JSON and takes their downlinks; the site hears the reports, sends
//! a command that moves a home, and loses and regains a node that falls silent.

use std::time::Duration;

use field::config::{Field, HomeCfg, PollCfg, Transport};
use field::emulated::emulate;
use field::line::Fault;
use field::site::{Site, SiteEvent};
use grid_types::Phase;

/// Three farms; the emulation puts its own Mosquitto behind the ChirpStack transport.
fn village() -> Field {
    Field {
        transports: [(
            "lora".to_string(),
            Transport::ChirpStack {
                host: "chirpstack.example".into(),
                port: 1883,
                application: "17c82e96-be03-4f38-aef3-f83d48582d97".into(),
                tls: false,
                ca: None,
                user: None,
                password_file: None,
            },
        )]
        .into(),
        homes: (0..3)
            .map(|k| HomeCfg {
                name: format!("farm{k}"),
                transport: "lora".into(),
                address: 0,
                dev_eui: format!("0004a30b001c05{k:02x}"),
            })
            .collect(),
        meters: Vec::new(),
        poll: PollCfg {
            stale_s: 1.5,
            lost_after: 2,
            ..PollCfg::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homes_are_heard_commanded_lost_and_back_through_chirpstack() {
    let dir = tempfile::tempdir().unwrap();
    let f = village();
    field::config::parse(
        std::path::Path::new("village.ron"),
        &ron::to_string(&f).unwrap(),
    )
    .expect("the field file checks");
    let e = emulate(&f, dir.path()).await.unwrap();
    let site = Site::start(&e.field).await.unwrap();
    let until = |secs: f64| site.now() + secs;
    let deadline = until(5.0);
    while site.homes().iter().any(|h| !h.is_some_and(|h| h.fresh)) {
        assert!(site.now() < deadline, "{:?}", site.homes());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h = site.homes()[1].unwrap().report;
    assert_eq!((h.phase, h.v), (Some(Phase::B), 230.0));

    // A confirmed downlink moves farm0 from A to C; its next uplink says so.
    site.command(0, 42, Phase::C);
    let deadline = until(4.0);
    loop {
        let r = site.homes()[0].unwrap().report;
        if r.phase == Some(Phase::C) && r.last_command == 42 {
            break;
        }
        assert!(site.now() < deadline, "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // farm2 falls silent: lost after 3 s without an uplink, back when heard again.
    e.lines["lora"].inject(Fault::Silent { address: 3 });
    let mut seen = Vec::new();
    let deadline = until(6.0);
    while !seen
        .iter()
        .any(|e| matches!(e, SiteEvent::Lost { device, .. } if device == "farm2"))
    {
        assert!(site.now() < deadline, "{seen:?}");
        seen.extend(site.drain_events().into_iter().map(|x| x.1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!site.homes()[2].unwrap().fresh);
    e.lines["lora"].clear_faults(Some(3));
    let deadline = until(4.0);
    while !seen
        .iter()
        .any(|e| matches!(e, SiteEvent::Back { device } if device == "farm2"))
    {
        assert!(site.now() < deadline, "{seen:?}");
        seen.extend(site.drain_events().into_iter().map(|x| x.1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(site.homes()[2].unwrap().fresh);
}
