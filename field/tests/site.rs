//! The live field on an emulated RS-485 line behind a socat pseudo-terminal pair: every home
//! polled each cycle, a node that stops answering lost and then back, a window that did not
//! move never taken as fresh, a command written and its move read back.

use std::time::Duration;

use field::config::{Field, HomeCfg, Measures, MeterCfg, Parity, PollCfg, Transport};
use field::emulated::emulate;
use field::line::{Device, Fault};
use field::meter::MeterKind;
use field::site::{Site, SiteEvent};
use grid_types::Phase;

const HOMES: u8 = 20;

fn street() -> Field {
    Field {
        transports: [(
            "street".to_string(),
            Transport::Rtu {
                port: "unused".into(),
                baud: 19200,
                parity: Parity::Even,
                stop_bits: 1,
            },
        )]
        .into(),
        homes: (1..=HOMES)
            .map(|a| HomeCfg {
                name: format!("h{a}"),
                transport: "street".into(),
                address: a,
                dev_eui: String::new(),
            })
            .collect(),
        meters: vec![MeterCfg {
            name: "transformer".into(),
            kind: MeterKind::Sdm630,
            transport: "street".into(),
            address: 100,
            measures: Measures::Transformer,
        }],
        poll: PollCfg {
            timeout_ms: 50,
            retries: 0,
            lost_after: 2,
            reprobe_max_s: 2.0,
            cycle_s: 1.0,
            stale_s: 3.0,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_field_polls_loses_recovers_and_moves_a_home() {
    let dir = tempfile::tempdir().unwrap();
    let e = emulate(&street(), dir.path()).await.unwrap();
    let line = e.lines["street"].clone();
    let site = Site::start(&e.field).await.unwrap();
    // Every node measures a new window each 0.5 s, but h7, whose meter has stuck.
    let feeder = line.clone();
    let feed = tokio::spawn(async move {
        loop {
            let now = feeder.now();
            for a in (1..=HOMES).filter(|&a| a != 7) {
                feeder.with(a.into(), |d| {
                    if let Device::Node(n) = d {
                        n.set_measurement(now, 230.0 + f64::from(a), 4.0, 900.0, 100.0, 50.0);
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let homes = site.homes();
    for (k, h) in homes.iter().enumerate() {
        let h = h.expect("every home read within two cycles");
        // (h7 still holds the emulation's first window, at 230 V.)
        let v = if k == 6 { 230.0 } else { 231.0 + k as f64 };
        assert_eq!(h.report.v, v, "h{}", k + 1);
        // h7's window never moves: read again, it is not fresh.
        assert_eq!(h.fresh, k != 6, "h{}: {h:?}", k + 1);
    }
    assert!(site.meters()[0].as_ref().is_some_and(|m| m.fresh));
    // A full cycle: 21 reads at 19200 baud take their wire time and turnarounds.
    let (requests, busy) = site.traffic();
    assert!(requests >= 40, "{requests} requests");
    let per = busy / requests as f64;
    assert!(per > 0.03 && per < 0.2, "{per} s a request");

    // h3 stops answering: lost after two failed polls (two cycles), back when it answers again
    // (probed 1 s, then 2 s after).
    line.inject(Fault::Silent { address: 3 });
    let t0 = site.now();
    let lost = wait_for(
        &site,
        6.0,
        |e| matches!(e, SiteEvent::Lost { device, .. } if device == "h3"),
    )
    .await;
    assert!(
        lost - t0 > 1.0 && lost - t0 < 2.5,
        "lost {} s after it went quiet",
        lost - t0
    );
    assert!(!site.homes()[2].unwrap().fresh);
    line.clear_faults(Some(3));
    let t1 = site.now();
    let back = wait_for(
        &site,
        6.0,
        |e| matches!(e, SiteEvent::Back { device } if device == "h3"),
    )
    .await;
    assert!(
        back - t1 < 4.0,
        "back {} s after it answered again",
        back - t1
    );
    assert!(site.homes()[2].unwrap().fresh);

    // A command to h1 (on A): written before the next poll, the move read back.
    site.command(0, 1, Phase::C);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let h1 = site.homes()[0].unwrap().report;
    assert_eq!(
        (h1.phase, h1.last_command, h1.switches),
        (Some(Phase::C), 1, 1)
    );
    feed.abort();
}

/// The time of the first event `f` picks within `seconds`.
async fn wait_for(site: &Site, seconds: f64, f: impl Fn(&SiteEvent) -> bool) -> f64 {
    let until = site.now() + seconds;
    let mut seen = Vec::new();
    while site.now() < until {
        for (t, e) in site.drain_events() {
            if f(&e) {
                return t;
            }
            seen.push(e);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {seconds} s; saw {seen:?}");
}

/// On virtual time the same site reads each device exactly on its cycle, loses a silent node at
/// the very poll the schedule says, and confirms a command one second after writing it; the
/// clock moves only when set, so a day is as quick as its traffic.
#[tokio::test(flavor = "current_thread")]
async fn on_virtual_time_the_site_keeps_the_schedule_to_the_second() {
    use field::clock::VirtualTime;
    let dir = tempfile::tempdir().unwrap();
    let (time, clock) = VirtualTime::new();
    let f = street();
    let e = field::emulated::emulate_on(&f, dir.path(), clock.clone(), 1.0)
        .await
        .unwrap();
    let line = e.lines["street"].clone();
    let site = Site::start_on(&e.field, clock).await.unwrap();
    let step = |t: f64| {
        time.set(t);
        site.settle(t, |_| true)
    };
    for s in 0..=10 {
        step(f64::from(s)).await;
    }
    // Polled at 0, 1, ... 10 s: eleven times each, every one answered (the SDM630 in two
    // requests).
    let per_cycle = u64::from(HOMES) + 2;
    assert_eq!(line.stats().replies, 11 * per_cycle);
    assert!(site.homes().iter().all(Option::is_some));
    // h3 goes silent at 10.5 s: its polls at 11 and 12 s fail (no retries), and it is lost at
    // the second, as `lost_after: 2` says.
    line.inject(Fault::Silent { address: 3 });
    for s in 11..=12 {
        step(f64::from(s)).await;
    }
    let ev = site.drain_events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].0, 12.0);
    assert!(matches!(&ev[0].1, SiteEvent::Lost { device, .. } if device == "h3"));
    // A command to h4 at 12 s is written at once and read back at 13 s, its node's word with it.
    site.command(3, 77, Phase::C);
    step(12.0).await;
    assert_eq!(
        line.with(4, |d| match d {
            Device::Node(n) => n.report(12.5).phase,
            Device::Meter(_) => None,
        }),
        Some(Some(Phase::C))
    );
    assert_eq!(site.homes()[3].unwrap().report.last_command, 0);
    step(13.0).await;
    let h = site.homes()[3].unwrap();
    assert_eq!(h.report.last_command, 77);
    assert_eq!(h.report.phase, Some(Phase::C));
}

/// A line of meters only (a PDU's PZEMs) is polled cycle after cycle, though no command can
/// come for it; a PZEM whose voltage input dies stops answering, and the site says so at the
/// poll that fails, then hears it again once its supply is back.
#[tokio::test(flavor = "current_thread")]
async fn a_line_of_meters_only_keeps_polling_and_a_pzem_without_supply_is_silent() {
    use field::clock::VirtualTime;
    use field::meter::{MeterReading, PhaseReading};
    let dir = tempfile::tempdir().unwrap();
    let (time, clock) = VirtualTime::new();
    let mut f = street();
    f.homes.clear();
    f.meters = (1..=3)
        .map(|a| MeterCfg {
            name: format!("pzem{a}"),
            kind: MeterKind::Pzem004t,
            transport: "street".into(),
            address: a,
            measures: Measures::Circuit(format!("c{a}")),
        })
        .collect();
    let e = field::emulated::emulate_on(&f, dir.path(), clock.clone(), 1.0)
        .await
        .unwrap();
    let line = e.lines["street"].clone();
    let site = Site::start_on(&e.field, clock).await.unwrap();
    let step = |t: f64| {
        time.set(t);
        site.settle(t, |_| true)
    };
    for s in 0..=5 {
        step(f64::from(s)).await;
    }
    assert_eq!(line.stats().replies, 6 * 3);
    // pzem2's circuit dies at 5.5 s: its poll at 6 s goes unanswered.
    let volts = |v: f64| MeterReading {
        phases: vec![PhaseReading {
            v,
            ..Default::default()
        }],
        hz: 50.0,
        ..Default::default()
    };
    e.meter(1, |m| m.set_reading(5.5, volts(0.0)));
    step(6.0).await;
    let m = site.meters();
    assert!(!m[1].as_ref().unwrap().answering);
    assert!(m[0].as_ref().unwrap().answering && m[2].as_ref().unwrap().answering);
    e.meter(1, |m| m.set_reading(6.5, volts(231.0)));
    step(7.0).await;
    let back = site.meters()[1].clone().unwrap();
    assert!(back.answering && back.fresh);
    assert_eq!(back.reading.phases[0].v, 231.0);
    assert_eq!(line.stats().replies, 8 * 3 - 1);
}
