//! The field links: duty cycles never exceeded, collisions, polling arithmetic, IP statistics.

use proptest::prelude::*;
use sim::link::ip::{IpLink, IpSpec};
use sim::link::lora::{DutyCycle, LoraLink, LoraSpec, Radio};
use sim::link::rs485::{Rs485Link, Rs485Spec};
use sim::link::{Arrival, Dir, Link};

/// For each frame, the airtime of all frames ending within the window that ends with it (a
/// frame that ends as the window opens, to rounding, is outside it).
fn worst_window(frames: &[(f64, f64)], window: f64) -> f64 {
    frames
        .iter()
        .map(|&(s, a)| {
            let e = s + a;
            frames
                .iter()
                .filter(|&&(s2, a2)| s2 + a2 > e - window + 1e-9 && s2 + a2 <= e)
                .map(|&(_, a2)| a2)
                .sum::<f64>()
        })
        .fold(0.0, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever is asked of it, a transmitter's airtime in any hour stays within 1 %, and no
    /// frame starts before it was offered or while the last is on the air.
    #[test]
    fn duty_cycle_is_never_exceeded(
        asks in prop::collection::vec((0.0f64..600.0, 0.01f64..3.0), 1..120),
    ) {
        let mut d = DutyCycle::new(0.01, 3600.0);
        let (mut t, mut busy, mut frames) = (0.0, 0.0f64, Vec::new());
        for (gap, airtime) in asks {
            t += gap;
            if let Some(s) = d.earliest(t.max(busy), airtime) {
                prop_assert!(s >= t && s >= busy);
                d.record(s, airtime);
                busy = s + airtime;
                frames.push((s, airtime));
            }
        }
        prop_assert!(worst_window(&frames, 3600.0) <= 36.0 + 1e-9);
    }

    /// The same through the whole LoRa link: one SF12 node offering as fast as it likes.
    #[test]
    fn a_lora_node_keeps_its_duty_cycle(gaps in prop::collection::vec(0.0f64..120.0, 1..200)) {
        let mut spec = LoraSpec::eu868(12, vec![0.0]);
        spec.max_wait_s = 1e9;
        let airtime = spec.uplink.airtime(20 + spec.overhead_bytes);
        let mut link = LoraLink::new(spec, 1);
        let mut t = 0.0;
        for g in &gaps {
            t += g;
            link.offer(t, Dir::Up, 0, 20, ());
        }
        let got: Vec<Arrival<()>> = link.poll(f64::INFINITY);
        prop_assert_eq!(got.len(), gaps.len(), "nothing lost at PER 0 with one node");
        let frames: Vec<(f64, f64)> = got.iter().map(|a| (a.at - airtime, airtime)).collect();
        prop_assert!(worst_window(&frames, 3600.0) <= 36.0 + 1e-9);
    }
}

#[test]
fn sf12_node_waits_hours_not_seconds() {
    // 1 % of an hour is 36 s; a 33-byte SF12 frame is about 1.5 s, so 24 fit in an hour and the
    // 25th waits until the first leaves the window.
    let spec = LoraSpec::eu868(12, vec![0.0]);
    let air = spec.uplink.airtime(20 + 13);
    let per_hour = (36.0 / air).floor() as usize;
    let mut spec = spec;
    spec.max_wait_s = 1e9;
    let mut link = LoraLink::new(spec, 1);
    for k in 0..=per_hour {
        link.offer(k as f64, Dir::Up, 0, 20, k);
    }
    let got = link.poll(f64::INFINITY);
    assert_eq!(got.len(), per_hour + 1);
    assert!(
        got[per_hour - 1].at < 60.0,
        "the first {per_hour} go out at once"
    );
    let last = got[per_hour].at;
    assert!(last > 3600.0 && last < 3600.0 + 2.0 * air, "{last}");
}

#[test]
fn overlapping_uplinks_on_one_channel_collide_and_the_gateway_is_deaf_while_talking() {
    let mut spec = LoraSpec::eu868(7, vec![0.0; 3]);
    spec.channels_mhz = vec![868.1];
    let mut link = LoraLink::new(spec.clone(), 3);
    link.offer(0.0, Dir::Up, 0, 10, 0);
    link.offer(0.01, Dir::Up, 1, 10, 1);
    link.offer(1.0, Dir::Up, 2, 10, 2);
    let got = link.poll(10.0);
    assert_eq!(got.iter().map(|a| a.msg).collect::<Vec<_>>(), vec![2]);
    assert_eq!(link.stats().collided, 2);

    // A downlink from the gateway (SF12, over a second) drowns an uplink sent meanwhile.
    let mut link = LoraLink::new(spec, 3);
    link.offer(0.0, Dir::Down, 0, 5, 0);
    link.offer(0.2, Dir::Up, 1, 10, 1);
    let got = link.poll(10.0);
    assert_eq!(got.iter().map(|a| a.msg).collect::<Vec<_>>(), vec![0]);
    assert_eq!(got[0].dir, Dir::Down);
}

#[test]
fn lora_loss_follows_each_nodes_error_rate() {
    let spec = LoraSpec::eu868(7, vec![0.0, 0.2, 1.0]);
    let mut link = LoraLink::new(spec, 11);
    // One frame per node every 10 minutes for 10 days: well within the duty cycle, and spread
    // across the minute so that they never overlap.
    for k in 0..1440 {
        for node in 0..3 {
            link.offer(
                k as f64 * 600.0 + node as f64 * 5.0,
                Dir::Up,
                node,
                10,
                node,
            );
        }
    }
    let got = link.poll(f64::INFINITY);
    let count = |n| got.iter().filter(|a| a.node == n).count() as f64;
    assert_eq!(count(0), 1440.0);
    assert!((count(1) / 1440.0 - 0.8).abs() < 0.04, "{}", count(1));
    assert_eq!(count(2), 0.0);
    assert_eq!(link.stats().collided, 0);
}

#[test]
fn rs485_polls_in_turn_and_commands_go_first() {
    let mut spec = Rs485Spec::modbus(9600, 10);
    spec.frame_error_rate = 0.0;
    // 8E1: 11 bits per character at 9600 baud, 1.1458 ms per byte.
    let byte = 11.0 / 9600.0;
    assert!((spec.frame_s(1) - byte).abs() < 1e-15);
    let mut link = Rs485Link::new(spec.clone(), 1);
    for node in 0..10 {
        link.offer(0.0, Dir::Up, node, 12, node);
    }
    let got = link.poll(1.0);
    assert_eq!(
        got.iter().map(|a| a.node).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    // Each report lands after its request and reply; the next poll starts a turnaround later.
    let t = spec.transaction_s(12 + 5);
    for (k, a) in got.iter().enumerate() {
        let want = (k as f64 + 1.0) * t - spec.turnaround_s;
        assert!((a.at - want).abs() < 1e-9, "node {k}: {} vs {want}", a.at);
    }
    assert!((link.poll_cycle_s(12) - 10.0 * t).abs() < 1e-12);

    // A command offered mid-cycle goes out at the next transaction boundary, before any poll.
    let now = 1.0 + 0.5 * t;
    link.offer(now, Dir::Down, 7, 4, 99);
    let got = link.poll(now + 0.2);
    assert_eq!(got[0].msg, 99);
    assert_eq!(got[0].dir, Dir::Down);
    assert!(got[0].at - now < t + spec.frame_s(9) + spec.turnaround_s);
}

#[test]
fn rs485_keeps_only_the_newest_unread_report() {
    let mut spec = Rs485Spec::modbus(9600, 200);
    spec.frame_error_rate = 0.0;
    let mut link = Rs485Link::new(spec, 1);
    // Node 199 is read last in the first cycle: two reports before then, only the second read.
    link.offer(0.0, Dir::Up, 199, 12, 1);
    link.offer(0.5, Dir::Up, 199, 12, 2);
    let got = link.poll(10.0);
    assert_eq!(got.iter().map(|a| a.msg).collect::<Vec<_>>(), vec![2]);
    assert_eq!(link.stats().dropped, 1);
}

#[test]
fn ip_latency_and_loss_have_their_configured_statistics() {
    let spec = IpSpec {
        latency_s: 0.05,
        jitter: 0.5,
        loss: 0.02,
    };
    let mut link = IpLink::new(spec, 5);
    let n = 20_000;
    for k in 0..n {
        link.offer(k as f64, Dir::Up, 0, 30, k as f64);
    }
    let got = link.poll(f64::INFINITY);
    let lost = 1.0 - got.len() as f64 / n as f64;
    assert!((lost - 0.02).abs() < 0.004, "{lost}");
    let mut lat: Vec<f64> = got.iter().map(|a| a.at - a.msg).collect();
    lat.sort_by(f64::total_cmp);
    let median = lat[lat.len() / 2];
    assert!((median - 0.05).abs() < 0.003, "median {median}");
    assert!(
        got.windows(2).all(|w| w[0].at <= w[1].at),
        "in arrival order"
    );
}

#[test]
fn radio_settings_are_checked() {
    let mut r = Radio::lorawan(13);
    assert!(r.check().unwrap_err().contains("spreading factor 13"));
    r.sf = 9;
    r.bw_hz = 200e3;
    assert!(r.check().unwrap_err().contains("200000 Hz"));
    let mut s = LoraSpec::eu868(7, vec![0.1]);
    s.channels_mhz = vec![915.0];
    assert!(s.check().unwrap_err().contains("915"));
}

#[test]
fn a_campus_concentrator_batches_a_feeders_reports_into_few_frames() {
    use sim::link::relay::{RelayLink, RelaySpec};
    let mut bus = Rs485Spec::modbus(19200, 0);
    bus.frame_error_rate = 0.0;
    let spec = RelaySpec {
        // Two feeders of ten homes each, interleaved node numbers.
        feeder_of: (0..20).map(|i| i % 2).collect(),
        bus,
        lora: LoraSpec::eu868(7, vec![0.0, 0.0]),
        batch_s: 60.0,
        max_payload: 100,
    };
    spec.check().unwrap();
    let air_full = spec.lora.uplink.airtime(96 + 13);
    let mut link = RelayLink::new(spec.clone(), 9);
    for node in 0..20 {
        link.offer(1.0, Dir::Up, node, 12, node);
    }
    assert!(link.poll(59.0).is_empty(), "held until the batch");
    // Feeder 0's concentrator sends at 60 s, feeder 1's in its slot at 90 s.
    let got = link.poll(100.0);
    assert_eq!(got.len(), 20);
    let mut nodes: Vec<usize> = got.iter().map(|a| a.msg).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, (0..20).collect::<Vec<_>>());
    assert!(got.iter().all(|a| a.node == a.msg && a.dir == Dir::Up));
    // 10 reports of 12 bytes per feeder in frames of at most 100: 8 + 2 per feeder, 4 frames,
    // each feeder's two back to back.
    assert_eq!(link.radio_stats().offered, 4);
    assert_eq!(link.stats().collided, 0);
    for a in &got {
        let slot = 60.0 + 30.0 * (a.node % 2) as f64;
        assert!(
            a.at >= slot && a.at <= slot + 2.0 * air_full + 1e-9,
            "{} {}",
            a.node,
            a.at
        );
    }

    // A command: LoRa downlink (SF12 RX2) to the concentrator, then the bus.
    link.offer(100.0, Dir::Down, 7, 4, 77);
    let down = spec.lora.downlink.airtime(4 + 13);
    let got = link.poll(110.0);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].node, got[0].msg, got[0].dir), (7, 77, Dir::Down));
    assert!(
        got[0].at > 100.0 + down && got[0].at < 100.0 + down + 0.1,
        "{}",
        got[0].at
    );
}
