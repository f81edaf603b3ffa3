//! The firmware (firmware/, C) in simavr, read through the Pi's driver on the emulated bus:
//! its values against the twin's loads in closed form and against the Rust `VirtualNode`, and
//! its frames refused as the driver's contract says.

use std::f64::consts::{PI, SQRT_2};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource};
use hil::emulated::node::{NodeSpec, Signal, VirtualNode};
use hil::emulated::{EmulatedBus, Fault};
use hil::node::{self, Calibration, Node, NodeError, Status, Values};
use sim::Harmonics;
use simavr_node::{F_CPU, FrontEnd, SimavrNode};

const FIRMWARE: u8 = 0x21;
const RUST: u8 = 0x22;

/// A load as the twin draws it: its fundamental current (rms, lagging by `deg`) and its
/// harmonics (the twin's spectra, each relative to the fundamental).
#[derive(Clone)]
struct Load {
    i1: f64,
    deg: f64,
    harmonics: Harmonics,
}

impl Load {
    fn current(&self, hz: f64, t: f64) -> f64 {
        let w = 2.0 * PI * hz * t;
        let phi = self.deg.to_radians();
        let mut i = (w - phi).sin();
        for &(h, rel, deg) in self.harmonics.spectrum() {
            i += rel * (f64::from(h) * (w - phi) + deg.to_radians()).sin();
        }
        self.i1 * SQRT_2 * i
    }

    fn i_rms(&self) -> f64 {
        let h2: f64 = self.harmonics.spectrum().iter().map(|h| h.1 * h.1).sum();
        self.i1 * (1.0 + h2).sqrt()
    }

    /// With a sinusoidal voltage only the fundamental carries power.
    fn p(&self, v: f64) -> f64 {
        v * self.i1 * self.deg.to_radians().cos()
    }
}

const V: f64 = 230.0;
/// The firmware's start-up before its TWI answers (the driver retries a node that NAKs).
const BOOT_MS: u32 = 20;

/// Resistive (a heater), inductive (a motor at PF 0.8 with its 5th and 7th), switched-mode
/// (a PC supply, THD about 110 %) and capacitive (leading 25°).
fn loads() -> Vec<Load> {
    vec![
        Load {
            i1: 8.0,
            deg: 0.0,
            harmonics: Harmonics::Linear,
        },
        Load {
            i1: 6.0,
            deg: 36.87,
            harmonics: Harmonics::Motor,
        },
        Load {
            i1: 2.0,
            deg: 0.0,
            harmonics: Harmonics::SwitchedMode,
        },
        Load {
            i1: 3.0,
            deg: -25.0,
            harmonics: Harmonics::Linear,
        },
    ]
}

fn inputs(hz: f64, loads: Vec<Load>) -> impl FnMut(Signal, f64) -> f64 + Send + 'static {
    move |s, t| match s {
        Signal::Voltage => V * SQRT_2 * (2.0 * PI * hz * t).sin(),
        Signal::Current(c) => loads.get(usize::from(c)).map_or(0.0, |l| l.current(hz, t)),
    }
}

/// The firmware at 0x21 and the Rust node at 0x22, fed the same waveforms.
fn bus(hz: f64, loads: Vec<Load>) -> EmulatedBus {
    let bus = EmulatedBus::new(400_000);
    let firmware = SimavrNode::new(
        FIRMWARE,
        FrontEnd::default(),
        Box::new(inputs(hz, loads.clone())),
    )
    .unwrap();
    bus.attach(FIRMWARE, firmware);
    let spec = NodeSpec {
        nominal_hz: if hz > 55.0 { 60.0 } else { 50.0 },
        ..NodeSpec::default()
    };
    bus.attach(
        RUST,
        VirtualNode::new(RUST, spec, Box::new(inputs(hz, loads))),
    );
    bus
}

/// The firmware and the Rust node at 50 Hz on the loads, the firmware booted and identified.
fn booted() -> (EmulatedBus, Node) {
    let mut b = bus(50.0, loads());
    b.delay_ms(BOOT_MS);
    let (fw, _) = Node::identify(&mut b, FIRMWARE).unwrap();
    (b, fw)
}

/// The firmware's sampling-interrupt statistics so far.
fn isr(b: &EmulatedBus) -> simavr_node::IsrStats {
    b.with_device(FIRMWARE, |d: &mut SimavrNode| d.isr())
        .unwrap()
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1.0),
        "{what}: {got} against {want}"
    );
}

#[test]
fn the_firmware_meters_the_twins_loads_within_one_percent_at_50_and_60_hz() {
    for hz in [49.5, 50.0, 50.5, 60.0] {
        let mut b = bus(hz, loads());
        b.delay_ms(BOOT_MS);
        let (fw, id) = Node::identify(&mut b, FIRMWARE).unwrap();
        assert_eq!((id.channels, id.firmware), (4, (2, 0)));
        let (rust, _) = Node::identify(&mut b, RUST).unwrap();
        b.delay_ms(600);
        for (ch, load) in loads().iter().enumerate() {
            let ch = ch as u8;
            let f = fw.values(&mut b, ch).unwrap();
            let r = rust.values(&mut b, ch).unwrap();
            let at = format!("{hz} Hz channel {ch}");
            close(&format!("{at} V"), f.v_rms, V, 0.01);
            close(&format!("{at} I"), f.i_rms, load.i_rms(), 0.01);
            close(&format!("{at} P"), f.p, load.p(V), 0.01);
            assert!((f.hz - hz).abs() < 0.05, "{at}: {} Hz", f.hz);
            // And as the Rust node, which emulates this firmware, says.
            close(&format!("{at} V (Rust)"), f.v_rms, r.v_rms, 0.01);
            close(&format!("{at} I (Rust)"), f.i_rms, r.i_rms, 0.01);
            close(&format!("{at} P (Rust)"), f.p, r.p, 0.01);
            assert!((f.hz - r.hz).abs() < 0.05, "{at}: {f:?} against {r:?}");
        }
        // The half-cycle maxima of a steady load are its rms.
        let fast = fw.fast(&mut b).unwrap();
        close(&format!("{hz} Hz FAST V"), fast.v_cycle, V, 0.01);
        close(&format!("{hz} Hz FAST I"), fast.i_half_max[0], 8.0, 0.02);
    }
}

#[test]
fn energy_registers_integrate_the_power() {
    let (mut b, fw) = booted();
    b.delay_ms(200);
    let e0 = fw.energy(&mut b).unwrap();
    b.delay_ms(2000);
    let e1 = fw.energy(&mut b).unwrap();
    for (ch, load) in loads().iter().enumerate() {
        // 2 s (and a few bus transactions) of P, in mWh.
        let want = load.p(V) * 2.0 / 3.6;
        let got = f64::from(e1[ch].wrapping_sub(e0[ch]));
        close(&format!("channel {ch} mWh"), got, want, 0.02);
    }
}

#[test]
fn the_sampling_interrupt_fits_its_slot_and_the_highest_rate_still_meters() {
    let (mut b, fw) = booted();
    b.delay_ms(500);
    fw.status(&mut b).unwrap(); // the simulation runs as far as the bus's clock
    let at_1800 = isr(&b);
    // Five inputs at 1800/s: a compare match every 1777 cycles at 16 MHz.
    let slot = F_CPU / (1800 * 5);
    println!(
        "sampling ISR at 1800/s: {:.0} cycles a sample on average, {} at most, of {slot}",
        at_1800.cycles as f64 / at_1800.count as f64,
        at_1800.max
    );
    assert!(at_1800.max < slot, "{at_1800:?}: a sample would be late");
    // The fastest the ADC can go over five inputs: 15,384 conversions/s.
    fw.set_sample_rate(&mut b, 3076).unwrap();
    b.delay_ms(20);
    assert!(!fw.status(&mut b).unwrap().has(Status::ADC_OVERRUN));
    b.delay_ms(500);
    let v = fw.values(&mut b, 1).unwrap();
    close("V at 3076/s", v.v_rms, V, 0.01);
    close("P at 3076/s", v.p, loads()[1].p(V), 0.01);
    let before = isr(&b);
    b.delay_ms(200);
    fw.status(&mut b).unwrap(); // the simulation runs as far as the bus's clock
    let after = isr(&b);
    println!(
        "sampling ISR at 3076/s: {:.0} cycles a sample on average, {} at most, of {}",
        (after.cycles - before.cycles) as f64 / (after.count - before.count) as f64,
        after.max,
        F_CPU / (3076 * 5)
    );
    assert!(after.max < 1040, "{after:?}");
    // Beyond it the node samples as fast as it can and says so.
    fw.set_sample_rate(&mut b, 4000).unwrap();
    b.delay_ms(20);
    assert!(fw.status(&mut b).unwrap().has(Status::ADC_OVERRUN));
}

#[test]
fn bad_frames_are_refused_and_a_reset_mid_read_is_caught() {
    let (mut b, fw) = booted();
    b.delay_ms(300);
    // A byte corrupted on the cable: the PEC refuses the frame.
    b.inject(Fault::Corrupt {
        address: FIRMWARE,
        index: 5,
        xor: 0x04,
        count: 1,
    });
    assert!(matches!(
        fw.values(&mut b, 0),
        Err(NodeError::Pec {
            register: node::VALUES,
            ..
        })
    ));
    assert!(fw.values(&mut b, 0).is_ok());
    // Data for a read-only register: NAKed.
    let e = b.write(FIRMWARE, &[node::STATUS, 1, 2, 3]).unwrap_err();
    assert_eq!(
        embedded_hal::i2c::Error::kind(&e),
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)
    );
    // A sample rate it cannot take: its PEC byte NAKed.
    assert!(matches!(
        fw.set_sample_rate(&mut b, 50),
        Err(NodeError::Bus(_))
    ));
    assert_eq!(fw.sample_rate(&mut b).unwrap(), 1800);
    // A write whose PEC was damaged: acknowledged, ignored.
    let cal = Calibration {
        gain_ppm: 20_000,
        offset: 0,
    };
    let mut frame = vec![node::CALIBRATION + 8];
    frame.extend_from_slice(&cal.encode());
    frame.push(hil::pec::of_write(FIRMWARE, node::CALIBRATION + 8, &cal.encode()) ^ 0x20);
    b.write(FIRMWARE, &frame).unwrap();
    assert_eq!(fw.calibration(&mut b, 1).unwrap(), Calibration::default());
    // A good one takes, reads back, and acts on the values.
    let before = fw.values(&mut b, 1).unwrap().i_rms;
    fw.set_calibration(&mut b, 1, cal).unwrap();
    b.delay_ms(400);
    close(
        "calibrated I",
        fw.values(&mut b, 1).unwrap().i_rms,
        before * 1.02,
        2e-3,
    );

    // The node resets between the register pointer and the data: the frame it sends is of
    // another register, and its PEC says so.
    b.write(FIRMWARE, &[node::VALUES]).unwrap();
    b.with_device(FIRMWARE, |d: &mut SimavrNode| d.reset());
    b.delay_ms(5);
    let mut frame = [0u8; 17];
    b.read(FIRMWARE, &mut frame).unwrap();
    let pec = hil::pec::of_read(FIRMWARE, node::VALUES, &frame[..16]);
    assert_ne!(
        pec, frame[16],
        "a frame of the wrong register passed its PEC"
    );
    let s = fw.status(&mut b);
    println!("{s:?}");
    let s = s.unwrap();
    assert!(s.has(Status::WATCHDOG_RESET), "{s:?}");
    // Its calibration came back from EEPROM.
    assert_eq!(fw.calibration(&mut b, 1).unwrap(), cal);
    assert!(!fw.status(&mut b).unwrap().has(Status::WATCHDOG_RESET));
}

#[test]
fn a_read_never_mixes_two_windows() {
    // A current growing 3 % a cycle: consecutive windows differ, so a frame holding one window's
    // current and the next one's power would not satisfy P = V I PF.
    let hz = 50.0;
    let inputs = move |s: Signal, t: f64| {
        let w = 2.0 * PI * hz * t;
        match s {
            Signal::Voltage => V * SQRT_2 * w.sin(),
            Signal::Current(_) => 0.5 * 1.03f64.powf(hz * t) * SQRT_2 * w.sin(),
        }
    };
    let bus = EmulatedBus::new(400_000);
    bus.attach(
        FIRMWARE,
        SimavrNode::new(FIRMWARE, FrontEnd::default(), Box::new(inputs)).unwrap(),
    );
    let mut b = bus.clone();
    b.delay_ms(BOOT_MS);
    let (fw, _) = Node::identify(&mut b, FIRMWARE).unwrap();
    b.delay_ms(250);
    let mut last: Option<Values> = None;
    let mut changes = 0;
    for _ in 0..1000 {
        let v = fw.values(&mut b, 0).unwrap();
        let pf = v.p / (v.v_rms * v.i_rms);
        assert!((pf - v.pf).abs() < 2e-3, "a mixed frame: {v:?} (P/VI {pf})");
        if last.is_some_and(|l| l.i_rms != v.i_rms) {
            changes += 1;
        }
        last = Some(v);
        b.delay_us(500);
    }
    // The reads spanned many windows, so many chances to tear.
    assert!(changes > 20, "{changes}");
}

#[test]
fn the_pis_poller_reads_the_firmware_and_marks_a_reset_node() {
    use hil::poll::{PollEvent, PollSettings, Poller};
    let (mut b, fw) = booted();
    let mut poller = Poller::new([fw], PollSettings::default());
    let clock_bus = b.clone();
    let clock = move || clock_bus.now() as f64 / 1e9;
    let mut delay = b.clone();
    let mut events = Vec::new();
    // The controller's 20 ms steps for a second.
    for _ in 0..50 {
        poller.poll(&mut b, &mut delay, &clock, 0.02, &mut events);
        b.delay_ms(20);
    }
    let r = poller.channel(0, 1, clock()).unwrap();
    assert!(r.fresh);
    close("polled P", r.values.p, loads()[1].p(V), 0.01);
    close("polled V of the last cycle", r.v_cycle, V, 0.01);
    close("polled half-cycle I", r.i_fast, loads()[1].i_rms(), 0.02);
    // The firmware restarts: the poller says so.
    b.with_device(FIRMWARE, |d: &mut SimavrNode| d.reset());
    for _ in 0..20 {
        poller.poll(&mut b, &mut delay, &clock, 0.02, &mut events);
        b.delay_ms(20);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PollEvent::NodeReset { address: FIRMWARE })),
        "{events:?}"
    );
}
