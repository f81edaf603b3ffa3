//! The emulated bus and its virtual devices, driven by independent drivers: eldruin's `ads1x1x`
//! (through `hil::ads1115`) for the ADS1115, and `hil::node` for the measurement node. Expected
//! values come from the datasheet's formulas and closed forms, not from the emulation.

use std::f64::consts::{PI, SQRT_2};

use ads1x1x::TargetAddr;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{Error, ErrorKind, I2c, NoAcknowledgeSource};
use hil::Contact;
use hil::ads1115::{Adc, Calibration as AdcCal, Input, Range, Rate};
use hil::emulated::ads1115::VirtualAds1115;
use hil::emulated::gpio::{Pin, RelayBoard, Watchdog};
use hil::emulated::node::{NodeSpec, Signal, VirtualNode};
use hil::emulated::{EmulatedBus, Fault};
use hil::node::{self, Calibration, Node, NodeError, Status};

const ADS: u8 = 0x48;

fn bus_with_adc(inputs: impl FnMut(usize, f64) -> f64 + Send + 'static) -> EmulatedBus {
    let bus = EmulatedBus::new(400_000);
    bus.attach(ADS, VirtualAds1115::new(3.3, Box::new(inputs)));
    bus
}

fn lsb(range: Range) -> f64 {
    range.volts() / 32768.0
}

#[test]
fn single_shot_reads_match_the_datasheet_code_for_every_range() {
    // AIN0 1.2345 V, AIN1 0.2 V, AIN3 3.0 V.
    let bus = bus_with_adc(|pin, _| [1.2345, 0.2, 0.0, 3.0][pin]);
    let mut delay = bus.clone();
    let mut adc = Adc::new(bus.clone(), TargetAddr::Gnd, Rate::Sps860).unwrap();
    for range in [Range::V6_144, Range::V4_096, Range::V2_048] {
        let v = adc.read_volts(Input::A0, range, &mut delay).unwrap();
        let code = (1.2345 / lsb(range)).round();
        assert_eq!(v, code * lsb(range), "{range:?}");
    }
    let d = adc
        .read_volts(Input::A0A1, Range::V2_048, &mut delay)
        .unwrap();
    assert!(
        (d - 1.0345).abs() <= lsb(Range::V2_048) / 2.0 + 1e-12,
        "{d}"
    );
    // Past the range the code saturates at 0x7FFF; a negative difference reads negative.
    let sat = adc
        .read_volts(Input::A3, Range::V1_024, &mut delay)
        .unwrap();
    assert_eq!(sat, 32767.0 * lsb(Range::V1_024));
    let neg = adc
        .read_volts(Input::A1A3, Range::V4_096, &mut delay)
        .unwrap();
    assert!((neg + 2.8).abs() <= lsb(Range::V4_096), "{neg}");
}

#[test]
fn a_conversion_takes_its_data_rate_period() {
    let bus = bus_with_adc(|_, _| 0.5);
    let mut delay = bus.clone();
    let mut adc = Adc::new(bus.clone(), TargetAddr::Gnd, Rate::Sps8).unwrap();
    // The driver writes the config with OS set when it sets the rate, which starts a
    // conversion on the real part too: the first read waits for that one and then its own.
    adc.read_volts(Input::A0, Range::V2_048, &mut delay)
        .unwrap();
    let t0 = bus.now();
    adc.read_volts(Input::A0, Range::V2_048, &mut delay)
        .unwrap();
    let took = (bus.now() - t0) as f64 / 1e9;
    // 1/8 s plus the 25 us wake-up, found by polling at a quarter period.
    assert!((0.125..0.125 + 0.032 + 0.001).contains(&took), "{took} s");
}

#[test]
fn continuous_sampling_of_a_50_hz_sine_shows_the_conversion_averaging() {
    // 1 V peak on a 1.5 V bias, read differentially against the bias on AIN3.
    let bus = bus_with_adc(|pin, t| match pin {
        0 => 1.5 + (2.0 * PI * 50.0 * t).sin(),
        3 => 1.5,
        _ => 0.0,
    });
    let mut delay = bus.clone();
    let mut adc = Adc::new(bus.clone(), TargetAddr::Gnd, Rate::Sps860).unwrap();
    let mut samples = vec![0.0; 860];
    adc.sample(Input::A0A3, Range::V2_048, &mut samples, &mut delay)
        .unwrap();
    let rms = (samples.iter().map(|x| x * x).sum::<f64>() / samples.len() as f64).sqrt();
    // Averaging over T = 1/860 s multiplies the amplitude by sinc(pi f T).
    let x = PI * 50.0 / 860.0;
    let expected = x.sin() / x / SQRT_2;
    assert!((rms / expected - 1.0).abs() < 0.003, "{rms} vs {expected}");
    // And the part is back in single-shot mode: a read still works.
    let dc = adc
        .read_volts(Input::A3, Range::V2_048, &mut delay)
        .unwrap();
    assert!((dc - 1.5).abs() < 1e-3);
}

#[test]
fn the_registers_read_back_as_the_datasheet_says() {
    let mut bus = bus_with_adc(|_, _| 0.0);
    let mut b = [0; 2];
    bus.write_read(ADS, &[1], &mut b).unwrap();
    assert_eq!(u16::from_be_bytes(b), 0x8583, "config at power-on");
    bus.write_read(ADS, &[2], &mut b).unwrap();
    assert_eq!(u16::from_be_bytes(b), 0x8000, "Lo_thresh");
    bus.write_read(ADS, &[3], &mut b).unwrap();
    assert_eq!(u16::from_be_bytes(b), 0x7fff, "Hi_thresh");
    // Start a single-shot conversion: OS reads 0 while it runs, 1 when done.
    bus.write(ADS, &[1, 0xc3, 0x83]).unwrap();
    bus.write_read(ADS, &[1], &mut b).unwrap();
    assert_eq!(b[0] & 0x80, 0);
    bus.delay_ms(10);
    bus.write_read(ADS, &[1], &mut b).unwrap();
    assert_eq!(u16::from_be_bytes(b), 0xc383);
}

#[test]
fn the_comparator_and_the_conversion_ready_pin() {
    let level = std::sync::Arc::new(std::sync::Mutex::new(0.5));
    let l = level.clone();
    let mut bus = bus_with_adc(move |_, _| *l.lock().unwrap());
    let pin = |bus: &EmulatedBus| {
        let now = bus.now();
        bus.with_device(ADS, |d: &mut VirtualAds1115| d.alert_pin(now))
            .unwrap()
    };
    // Traditional comparator, active low, queue of two, thresholds 0.8 V / 1.0 V at ±2.048 V,
    // continuous at 860 SPS.
    let code = |v: f64| ((v / lsb(Range::V2_048)).round() as i16 as u16).to_be_bytes();
    let (lo, hi) = (code(0.8), code(1.0));
    bus.write(ADS, &[2, lo[0], lo[1]]).unwrap();
    bus.write(ADS, &[3, hi[0], hi[1]]).unwrap();
    bus.write(ADS, &[1, 0x44, 0xe1]).unwrap();
    bus.delay_ms(10);
    assert!(pin(&bus), "released below the threshold");
    *level.lock().unwrap() = 1.2;
    bus.delay_us(1500); // one conversion beyond: the queue wants two
    assert!(pin(&bus));
    bus.delay_ms(5);
    assert!(!pin(&bus), "asserted (low) after two conversions beyond");
    *level.lock().unwrap() = 0.9;
    bus.delay_ms(5);
    assert!(
        !pin(&bus),
        "hysteresis: still asserted between the thresholds"
    );
    *level.lock().unwrap() = 0.5;
    bus.delay_ms(5);
    assert!(pin(&bus), "released below Lo_thresh");
    // Conversion-ready mode: Hi MSB 1, Lo MSB 0; single-shot, active low.
    bus.write(ADS, &[2, 0x00, 0x00]).unwrap();
    bus.write(ADS, &[3, 0x80, 0x00]).unwrap();
    bus.write(ADS, &[1, 0xc5, 0xe0]).unwrap();
    assert!(pin(&bus), "released while converting");
    bus.delay_ms(3);
    assert!(!pin(&bus), "asserted when the conversion is ready");
}

fn sine(rms: f64, hz: f64, deg: f64, t: f64) -> f64 {
    rms * SQRT_2 * (2.0 * PI * hz * t - deg.to_radians()).sin()
}

/// A four-channel node at 0x21: 230 V at `hz`; channel c draws (c + 1) * 2 A lagging 30°.
fn bus_with_node(hz: f64) -> EmulatedBus {
    let bus = EmulatedBus::new(400_000);
    let inputs = move |s: Signal, t: f64| match s {
        Signal::Voltage => sine(230.0, hz, 0.0, t),
        Signal::Current(c) => sine(2.0 * f64::from(c + 1), hz, 30.0, t),
    };
    bus.attach(
        0x21,
        VirtualNode::new(0x21, NodeSpec::default(), Box::new(inputs)),
    );
    bus
}

#[test]
fn a_node_meters_its_channels_as_the_closed_form_says() {
    let mut bus = bus_with_node(50.0);
    let (node, id) = Node::identify(&mut bus, 0x21).unwrap();
    assert_eq!((id.channels, id.firmware), (4, (1, 2)));
    bus.delay_ms(1000);
    let s = node.status(&mut bus).unwrap();
    assert!(s.has(Status::DATA_READY));
    // A fresh window every cycle: 49 or 50 in a second, depending on where the first
    // crossing fell.
    assert!((49..=50).contains(&s.sequence), "{s:?}");
    for ch in 0..4 {
        let v = node.values(&mut bus, ch).unwrap();
        let i = 2.0 * f64::from(ch + 1);
        // 10-bit quantization at 0.78 V and 0.088 A per count.
        assert!((v.v_rms / 230.0 - 1.0).abs() < 2e-3, "{v:?}");
        assert!((v.i_rms / i - 1.0).abs() < 1e-2, "{v:?}");
        let p = 230.0 * i * 30f64.to_radians().cos();
        assert!((v.p / p - 1.0).abs() < 1e-2, "{v:?} vs {p}");
        assert!((v.pf - 0.866).abs() < 5e-3, "{v:?}");
        assert!((v.hz - 50.0).abs() < 2e-3, "{v:?}");
    }
    assert!(
        !node.status(&mut bus).unwrap().has(Status::DATA_READY),
        "cleared by the read"
    );
}

#[test]
fn a_node_follows_an_off_nominal_frequency() {
    let mut bus = bus_with_node(49.5);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    bus.delay_ms(700);
    let v = node.values(&mut bus, 0).unwrap();
    assert!((v.hz - 49.5).abs() < 2e-3, "{v:?}");
    // The window spans whole cycles, so the RMS has no beat at the off-nominal frequency.
    assert!((v.v_rms / 230.0 - 1.0).abs() < 2e-3, "{v:?}");
}

#[test]
fn calibration_is_written_with_its_pec_and_acts_on_the_values() {
    let mut bus = bus_with_node(50.0);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    bus.delay_ms(500);
    let before = node.values(&mut bus, 1).unwrap().i_rms;
    let cal = Calibration {
        gain_ppm: 20_000,
        offset: 0,
    };
    node.set_calibration(&mut bus, 1, cal).unwrap();
    assert_eq!(node.calibration(&mut bus, 1).unwrap(), cal);
    bus.delay_ms(500);
    let after = node.values(&mut bus, 1).unwrap().i_rms;
    assert!((after / before - 1.02).abs() < 1e-3, "{before} -> {after}");
    // A write with a bad PEC is acknowledged (the TWI cannot know it is the last byte) and
    // changes nothing; the driver's read-back says so.
    let mut frame = vec![node::CALIBRATION + 8];
    frame.extend_from_slice(&Calibration::default().encode());
    frame.push(hil::pec::of_write(0x21, node::CALIBRATION + 8, &frame[1..]) ^ 1);
    bus.write(0x21, &frame).unwrap();
    assert_eq!(node.calibration(&mut bus, 1).unwrap(), cal);
    // A sample rate the firmware cannot take is NAKed at its PEC byte.
    assert!(node.set_sample_rate(&mut bus, 50).is_err());
    assert_eq!(node.sample_rate(&mut bus).unwrap(), 1800);
}

#[test]
fn too_many_channels_at_too_high_a_rate_overrun_the_avr_adc() {
    let bus = EmulatedBus::new(400_000);
    let spec = NodeSpec {
        channels: 8,
        sample_rate: 1800,
        ..NodeSpec::default()
    };
    bus.attach(0x30, VirtualNode::new(0x30, spec, Box::new(|_, _| 0.0)));
    let mut b = bus.clone();
    let (node, _) = Node::identify(&mut b, 0x30).unwrap();
    // Nine inputs at 1800/s is 16,200 conversions/s: more than the ADC's 15,384.
    assert!(node.status(&mut b).unwrap().has(Status::ADC_OVERRUN));
    node.set_sample_rate(&mut b, 1600).unwrap();
    assert!(!node.status(&mut b).unwrap().has(Status::ADC_OVERRUN));
}

#[test]
fn a_scan_finds_the_nodes_and_reports_the_adc_as_a_stranger() {
    let bus = bus_with_node(50.0);
    bus.attach(
        0x5a,
        VirtualNode::new(0x5a, NodeSpec::default(), Box::new(|_, _| 0.0)),
    );
    bus.attach(ADS, VirtualAds1115::new(3.3, Box::new(|_, _| 0.0)));
    let found = node::scan(&mut bus.clone());
    let addresses: Vec<u8> = found.iter().map(|(a, _)| *a).collect();
    assert_eq!(addresses, vec![0x21, ADS, 0x5a]);
    // The ADC answers with its conversion register, which fails the node's PEC: reported, not
    // taken for a node and not silently skipped.
    assert!(
        matches!(
            found[1].1,
            Err(NodeError::Pec { .. } | NodeError::NotANode { .. })
        ),
        "{:?}",
        found[1].1
    );
    assert!(found[0].1.is_ok() && found[2].1.is_ok());
}

#[test]
fn a_nak_fails_the_transaction_then_the_device_answers_again() {
    let mut bus = bus_with_node(50.0);
    bus.inject(Fault::Nak {
        address: 0x21,
        count: 2,
    });
    for _ in 0..2 {
        let e = Node::identify(&mut bus, 0x21).unwrap_err();
        assert!(
            matches!(&e, NodeError::Bus(b) if b.kind() == ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
            "{e:?}"
        );
    }
    assert!(Node::identify(&mut bus, 0x21).is_ok());
}

#[test]
fn a_stuck_bus_fails_every_device_until_recovered() {
    let mut bus = bus_with_node(50.0);
    bus.attach(ADS, VirtualAds1115::new(3.3, Box::new(|_, _| 1.0)));
    bus.inject(Fault::Stuck { until: None });
    let e = Node::identify(&mut bus, 0x21).unwrap_err();
    assert!(
        matches!(&e, NodeError::Bus(b) if b.kind() == ErrorKind::Bus),
        "{e:?}"
    );
    let mut b = [0; 2];
    assert_eq!(
        bus.write_read(ADS, &[1], &mut b).unwrap_err().kind(),
        ErrorKind::Bus
    );
    bus.recover();
    assert!(Node::identify(&mut bus, 0x21).is_ok());
    // A line held for a while frees itself.
    let until = bus.now() + 1_000_000;
    bus.inject(Fault::Stuck { until: Some(until) });
    assert!(Node::identify(&mut bus, 0x21).is_err());
    bus.delay_ms(2);
    assert!(Node::identify(&mut bus, 0x21).is_ok());
}

#[test]
fn a_corrupted_byte_is_caught_by_the_pec() {
    let mut bus = bus_with_node(50.0);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    bus.delay_ms(300);
    bus.inject(Fault::Corrupt {
        address: 0x21,
        index: 5,
        xor: 0x04,
        count: 1,
    });
    let e = node.values(&mut bus, 0).unwrap_err();
    assert!(matches!(e, NodeError::Pec { register: 0x10, .. }), "{e:?}");
    assert!(node.values(&mut bus, 0).is_ok(), "the next frame is clean");
}

#[test]
fn a_slow_device_costs_bus_time_and_past_the_timeout_fails() {
    let mut bus = bus_with_node(50.0);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    let t0 = bus.now();
    node.values(&mut bus, 0).unwrap();
    let fast = bus.now() - t0;
    // The register, 16 bytes and the PEC, and the address twice: 20 bytes of 9 clocks at
    // 400 kHz, about 0.45 ms.
    assert!((450_000..600_000).contains(&fast), "{fast} ns");
    bus.inject(Fault::Slow {
        address: 0x21,
        per_byte: 100_000,
    });
    let t0 = bus.now();
    node.values(&mut bus, 0).unwrap();
    let slow = bus.now() - t0;
    // The device stretches each of its 18 data bytes.
    assert_eq!(slow, fast + 18 * 100_000);
    bus.clear_faults();
    bus.inject(Fault::Slow {
        address: 0x21,
        per_byte: 50_000_000,
    });
    let e = node.values(&mut bus, 0).unwrap_err();
    assert!(
        matches!(&e, NodeError::Bus(b) if b.kind() == ErrorKind::Other),
        "{e:?}"
    );
}

#[test]
fn a_vanished_node_naks_its_address_and_is_gone_from_the_scan() {
    let mut bus = bus_with_node(50.0);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    bus.inject(Fault::Vanish { address: 0x21 });
    let e = node.status(&mut bus).unwrap_err();
    assert!(
        matches!(&e, NodeError::Bus(b) if b.kind() == ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)),
        "{e:?}"
    );
    assert!(node::scan(&mut bus).is_empty());
    bus.clear_faults();
    assert_eq!(node::scan(&mut bus).len(), 1);
}

#[test]
fn a_node_watchdog_reset_is_reported_once_and_keeps_the_calibration() {
    let mut bus = bus_with_node(50.0);
    let (node, _) = Node::identify(&mut bus, 0x21).unwrap();
    let cal = Calibration {
        gain_ppm: -5000,
        offset: 2,
    };
    node.set_calibration(&mut bus, 0, cal).unwrap();
    let now = bus.now();
    bus.with_device(0x21, |n: &mut VirtualNode| n.reset(now));
    assert!(node.status(&mut bus).unwrap().has(Status::WATCHDOG_RESET));
    assert!(!node.status(&mut bus).unwrap().has(Status::WATCHDOG_RESET));
    assert_eq!(node.calibration(&mut bus, 0).unwrap(), cal);
}

#[test]
fn relays_fall_to_their_wired_safe_state_when_the_heartbeat_stops() {
    use embedded_hal::digital::OutputPin;
    let (fridge, heater, beat) = (Pin::default(), Pin::default(), Pin::default());
    let mut board = RelayBoard::new(
        vec![
            (fridge.clone(), Contact::NormallyClosed),
            (heater.clone(), Contact::NormallyOpen),
        ],
        true,
        Watchdog::new(beat.clone(), 50_000_000),
    );
    let (mut f, mut h, mut b) = (fridge, heater, beat);
    let mut closed = Vec::new();
    // Before any heartbeat the coils have no power: the wiring decides.
    board.closed(0, &mut closed);
    assert_eq!(closed, [true, false]);
    // Active-low board: driving the heater's pin low energizes it (closes the NO contact);
    // the fridge's coil stays off (high) so its NC contact stays made.
    f.set_high().unwrap();
    h.set_low().unwrap();
    let mut t = 0;
    for k in 0..10 {
        t += 10_000_000;
        if k % 2 == 0 {
            b.set_high().unwrap();
        } else {
            b.set_low().unwrap();
        }
        board.closed(t, &mut closed);
        assert_eq!(closed, [true, true], "at {t} ns");
    }
    // The controller hangs: no more edges. Within the 50 ms timeout nothing changes, then
    // coil power drops.
    board.closed(t + 40_000_000, &mut closed);
    assert_eq!(closed, [true, true]);
    board.closed(t + 60_000_000, &mut closed);
    assert_eq!(closed, [true, false], "heater safe off, fridge safe on");
}

#[test]
fn adc_calibration_turns_sensor_volts_into_amps() {
    // An ACS712-05B on a 5 V supply: 2.5 V at zero, 185 mV/A; 3.5 A reads 3.1475 V.
    let bus = bus_with_adc(|_, _| 2.5 + 3.5 * 0.185);
    let mut delay = bus.clone();
    let mut adc = Adc::new(bus.clone(), TargetAddr::Gnd, Rate::Sps475).unwrap();
    let cal = AdcCal {
        gain: 1.0 / 0.185,
        offset: 2.5,
    };
    // The input is clamped at VDD + 0.3 V = 3.6 V, so the 4.096 V range sees it whole.
    let a = adc
        .read(Input::A0, Range::V4_096, &cal, &mut delay)
        .unwrap();
    assert!((a - 3.5).abs() < 2.0 * lsb(Range::V4_096) / 0.185, "{a}");
}

mod polling {
    use super::*;
    use hil::poll::{PollEvent, PollSettings, Poller};

    fn poller(bus: &mut EmulatedBus) -> Poller {
        let (node, _) = Node::identify(bus, 0x21).unwrap();
        Poller::new([node], PollSettings::default())
    }

    fn seconds(bus: &EmulatedBus) -> f64 {
        bus.now() as f64 / 1e9
    }

    /// Poll every 50 ms for `ms`, collecting events.
    fn run(p: &mut Poller, bus: &mut EmulatedBus, ms: u32, events: &mut Vec<PollEvent>) {
        let mut delay = bus.clone();
        let clock = bus.clone();
        for _ in 0..ms / 50 {
            bus.delay_ms(50);
            p.poll(
                &mut bus.clone(),
                &mut delay,
                &|| seconds(&clock),
                0.05,
                events,
            );
        }
    }

    #[test]
    fn fresh_values_arrive_each_window() {
        let mut bus = bus_with_node(50.0);
        let mut p = poller(&mut bus);
        let mut events = Vec::new();
        run(&mut p, &mut bus, 1000, &mut events);
        let r = p.channel(0, 2, seconds(&bus)).unwrap();
        assert!(r.fresh);
        assert!((r.values.i_rms - 6.0).abs() < 0.06, "{r:?}");
        // The half-cycle peak of a steady sine is its RMS; the last cycle's voltage the
        // window's.
        assert!((r.i_fast - 6.0).abs() < 0.06, "{r:?}");
        assert!((r.v_cycle - 230.0).abs() < 1.0, "{r:?}");
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_short_burst_of_naks_is_absorbed_by_the_retries() {
        let mut bus = bus_with_node(50.0);
        let mut p = poller(&mut bus);
        let mut events = Vec::new();
        run(&mut p, &mut bus, 500, &mut events);
        bus.inject(Fault::Nak {
            address: 0x21,
            count: 3,
        });
        run(&mut p, &mut bus, 500, &mut events);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(p.retried, 3);
        assert!(p.channel(0, 0, seconds(&bus)).unwrap().fresh);
    }

    #[test]
    fn a_vanished_node_fails_goes_stale_and_recovers() {
        let mut bus = bus_with_node(50.0);
        let mut p = poller(&mut bus);
        let mut events = Vec::new();
        run(&mut p, &mut bus, 500, &mut events);
        bus.inject(Fault::Vanish { address: 0x21 });
        let lost_at = seconds(&bus);
        run(&mut p, &mut bus, 1000, &mut events);
        assert!(
            matches!(&events[..], [PollEvent::Failed { address: 0x21, error }] if error.contains("address")),
            "{events:?}"
        );
        // Stale after three windows (0.6 s) without a new one, never before.
        assert!(!p.channel(0, 0, seconds(&bus)).unwrap().fresh);
        assert!(p.channel(0, 0, lost_at + 0.5).unwrap().fresh);
        // A failing node is tried at growing intervals, at most a second apart.
        bus.clear_faults();
        run(&mut p, &mut bus, 1100, &mut events);
        assert_eq!(events.last(), Some(&PollEvent::Recovered { address: 0x21 }));
        assert!(p.channel(0, 0, seconds(&bus)).unwrap().fresh);
    }

    #[test]
    fn corrupted_frames_are_retried_and_never_used() {
        let mut bus = bus_with_node(50.0);
        let mut p = poller(&mut bus);
        let mut events = Vec::new();
        run(&mut p, &mut bus, 500, &mut events);
        // Every frame corrupted for a while: each poll spends its retries and fails.
        bus.inject(Fault::Corrupt {
            address: 0x21,
            index: 0,
            xor: 0x80,
            count: 40,
        });
        run(&mut p, &mut bus, 1000, &mut events);
        assert!(
            matches!(&events[..], [PollEvent::Failed { error, .. }, ..] if error.contains("PEC")),
            "{events:?}"
        );
        let v = p.channel(0, 1, seconds(&bus)).unwrap().values;
        assert!(
            (v.i_rms - 4.0).abs() < 0.05,
            "never a corrupted value: {v:?}"
        );
    }

    #[test]
    fn a_node_reset_is_reported() {
        let mut bus = bus_with_node(50.0);
        let mut p = poller(&mut bus);
        let mut events = Vec::new();
        run(&mut p, &mut bus, 300, &mut events);
        let now = bus.now();
        bus.with_device(0x21, |n: &mut VirtualNode| n.reset(now));
        run(&mut p, &mut bus, 300, &mut events);
        assert_eq!(events, [PollEvent::NodeReset { address: 0x21 }]);
    }
}

/// The seed's reference wiring on one ADS1115: a ZMPT101B on A3 (±1 V about 1.65 V at 325 V
/// peak) and SCT-013-030 clamps on A0-A2 (1 V rms at 30 A rms, biased to 1.65 V).
/// The part's oscillator is `clock_error` off the nominal rate.
fn ads_meter_bus(hz: f64, loads: [(f64, f64); 3], clock_error: f64) -> EmulatedBus {
    let bus = EmulatedBus::new(400_000);
    let inputs = move |pin: usize, t: f64| match pin {
        3 => 1.65 + sine(230.0, hz, 0.0, t) / (230.0 * SQRT_2),
        c => 1.65 + sine(loads[c].0, hz, loads[c].1, t) / 30.0,
    };
    bus.attach(
        ADS,
        VirtualAds1115::new(3.3, Box::new(inputs)).with_clock_error(clock_error),
    );
    bus
}

/// The stream of the part on `bus`, its ALERT/RDY wired to `ready`.
fn ads_stream(ready: Box<dyn hil::ads_meter::ReadyPin>) -> hil::ads_meter::Stream {
    use hil::ads_meter::{Sensor, Stream};
    let sensor = |input, gain| Sensor {
        input,
        cal: AdcCal { gain, offset: 1.65 },
    };
    Stream::new(
        ADS,
        // Single-ended inputs riding on 1.65 V swing to 2.65 V and more: the ±4.096 V range.
        Range::V4_096,
        Rate::Sps860,
        vec![
            sensor(Input::A3, 230.0 * SQRT_2),
            sensor(Input::A0, 30.0),
            sensor(Input::A1, 30.0),
            sensor(Input::A2, 30.0),
        ],
        ready,
        50.0,
    )
}

fn ready_line(bus: &EmulatedBus) -> Box<dyn hil::ads_meter::ReadyPin> {
    Box::new(hil::emulated::ads1115::ReadyLine {
        bus: bus.clone(),
        address: ADS,
        offset_s: 0.0,
    })
}

#[test]
fn the_ads1115_streamed_and_multiplexed_meters_v_i_p_and_f() {
    // A heater, a motor at PF 0.8 and a load at PF 0.5; parts whose oscillators run from 10 %
    // slow to 10 % fast, the datasheet's limits.
    let loads = [(10.0, 0.0), (6.0, 36.87), (8.0, 60.0)];
    for (hz, clock_error) in [
        (49.5, 0.0),
        (50.0, 0.1),
        (50.0, -0.1),
        (50.5, 0.035),
        (60.0, -0.05),
    ] {
        let bus = ads_meter_bus(hz, loads, clock_error);
        let stream = ads_stream(ready_line(&bus));
        let clock_bus = bus.clone();
        let clock = move || clock_bus.now() as f64 / 1e9;
        let (mut i2c, mut delay) = (bus.clone(), bus.clone());
        // Streamed in 20 ms steps, as the controller's loop does, for 1.5 s: the values of the
        // last window are read when a part 10 % off has gained or lost 130 conversions.
        let mut streams = [stream];
        for step in 1..=75 {
            let mut bus = hil::ads_meter::Interleaved::new(&mut i2c, &mut streams, &clock);
            bus.run(&mut delay, f64::from(step) * 0.02);
            assert!(bus.failed.is_empty());
        }
        let [mut stream] = streams;
        let period = stream.conversion_period() * 860.0 * (1.0 + clock_error);
        assert!((period - 1.0).abs() < 1e-4, "fitted period off by {period}");
        let metered = stream.metering.values().unwrap();
        for (c, (m, &(amps, deg))) in metered.iter().zip(&loads).enumerate() {
            let v = m.values;
            let p = 230.0 * amps * deg.to_radians().cos();
            let at = format!("{hz} Hz, clock {clock_error:+}, channel {c}: {v:?}");
            assert!((v.v_rms / 230.0 - 1.0).abs() < 0.01, "{at}");
            assert!((v.i_rms / amps - 1.0).abs() < 0.01, "{at}");
            assert!((v.p / p - 1.0).abs() < 0.01, "{at}");
            assert!((v.hz - hz).abs() < 0.05, "{at}");
        }
        // Nearly every conversion was read.
        let read = stream.conversions_read() as f64;
        assert!(
            read > 1.5 * 860.0 * (1.0 + clock_error) * 0.95,
            "{read} conversions"
        );
    }
}

#[test]
fn a_garbled_ads1115_is_caught_by_its_config_read_back_and_meters_again_once_clean() {
    use hil::ads_meter::{Interleaved, StreamError};
    let loads = [(10.0, 0.0), (6.0, 36.87), (8.0, 60.0)];
    let bus = ads_meter_bus(50.0, loads, 0.03);
    let mut streams = [ads_stream(ready_line(&bus))];
    let clock_bus = bus.clone();
    let clock = move || clock_bus.now() as f64 / 1e9;
    let (mut i2c, mut delay) = (bus.clone(), bus.clone());
    let mut step = |streams: &mut [hil::ads_meter::Stream], k: u32| {
        let mut b = Interleaved::new(&mut i2c, streams, &clock);
        b.run(&mut delay, f64::from(k) * 0.02);
        std::mem::take(&mut b.failed)
    };
    for k in 1..=15 {
        assert!(step(&mut streams, k).is_empty());
    }
    // Noise on the cable flips a bit of every frame the part sends; it has no frame check.
    bus.inject(Fault::Corrupt {
        address: ADS,
        index: 0,
        xor: 0x01,
        count: u32::MAX,
    });
    let failed = step(&mut streams, 16);
    assert!(
        matches!(failed.as_slice(), [(0, StreamError::Garbled { .. })]),
        "{failed:?}"
    );
    bus.clear_faults();
    for k in 17..=40 {
        assert!(step(&mut streams, k).is_empty());
    }
    let v = streams[0].metering.values().unwrap()[0].values;
    assert!((v.p / 2300.0 - 1.0).abs() < 0.01, "{v:?}");
}

/// A ready line whose wire is cut.
struct Cut;

impl hil::ads_meter::ReadyPin for Cut {
    fn pulses(&mut self, _: &mut Vec<f64>) {}
}

#[test]
fn an_ads1115_whose_ready_line_gives_no_pulses_is_refused_not_timed_by_guesswork() {
    use hil::ads_meter::{Interleaved, StreamError};
    let bus = ads_meter_bus(50.0, [(10.0, 0.0); 3], 0.03);
    let mut streams = [ads_stream(Box::new(Cut))];
    let clock_bus = bus.clone();
    let clock = move || clock_bus.now() as f64 / 1e9;
    let (mut i2c, mut delay) = (bus.clone(), bus.clone());
    let mut b = Interleaved::new(&mut i2c, &mut streams, &clock);
    b.run(&mut delay, 0.2);
    let failed = std::mem::take(&mut b.failed);
    assert!(
        matches!(failed.as_slice(), [(0, StreamError::NoReadyPulses { s })] if *s > 0.05 && *s < 0.06),
        "{failed:?}"
    );
    assert!(failed[0].1.to_string().contains("ALERT/RDY"));
    assert!(!streams[0].paced());
    assert_eq!(streams[0].metering.values(), None);
}
