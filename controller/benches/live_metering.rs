//! `cargo xtask bench`: the CPU share of a live 100-circuit PDU sampled at 3200 samples/s per
//! channel. "metering" is the controller's part, what the Pi would run: every channel's samples
//! through `PduMetering` (per-cycle IEEE 1459 values, half-cycle currents, 10-cycle windows,
//! energy). "twin + metering + control" adds synthesizing the samples and stepping the
//! controller every 20 ms, i.e. a whole waveform-fidelity run.

use std::time::Instant;

use control_core::PduMetering;
use control_core::{Controller, Measurements, Settings};
use controller::backend::{Backend, SimBackend, nominal_calibration};
use sim::{
    Harmonics, LoadModel, LoadSpec, Pdu, PduSpec, SensorChain, SourceKind, SourceSpec, Synth,
    Transducer, WaveformSpec,
};

const CIRCUITS: usize = 100;
const RATE: f64 = 3200.0;

fn pdu_spec() -> PduSpec {
    let kinds = [Harmonics::SwitchedMode, Harmonics::Motor, Harmonics::Linear];
    PduSpec {
        nominal_v: 230.0,
        nominal_hz: 50.0,
        main: SourceSpec {
            kind: SourceKind::Utility,
            r_ohm: 0.02,
            x_ohm: 0.02,
        },
        backup: SourceSpec {
            kind: SourceKind::Utility,
            r_ohm: 0.02,
            x_ohm: 0.02,
        },
        loads: (0..CIRCUITS)
            .map(|k| LoadSpec {
                name: format!("c{k}"),
                model: LoadModel::ConstantPower {
                    watts: 100.0 + 10.0 * k as f64,
                    pf: 0.95,
                },
                harmonics: kinds[k % 3].clone(),
                leg: Default::default(),
            })
            .collect(),
        seed: 1,
        service: Default::default(),
    }
}

fn spec() -> WaveformSpec {
    WaveformSpec {
        sample_rate: RATE,
        drift_hz: 0.02,
        voltage_sensor: SensorChain {
            kind: Transducer::Zmpt101b { volts: 250.0 },
            ..Default::default()
        },
        load_current_sensor: SensorChain {
            kind: Transducer::Acs712 { amps: 20 },
            ..Default::default()
        },
        source_current_sensor: SensorChain {
            kind: Transducer::Sct013 { amps: 100.0 },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn main() {
    let seconds = if std::env::args().any(|a| a == "--bench") {
        60
    } else {
        1
    };
    let spec = spec();
    let pdu_spec = pdu_spec();
    let names: Vec<String> = pdu_spec.loads.iter().map(|l| l.name.clone()).collect();

    // One second of every channel's ADC codes, recorded from the twin and replayed.
    let mut pdu = Pdu::new(&pdu_spec);
    let act = sim::Actuation {
        main_closed: true,
        relays: vec![true; CIRCUITS],
        ..Default::default()
    };
    pdu.step(0.02, &act);
    let mut synth = Synth::new(&spec, &pdu, 1);
    synth.run(&pdu, 0.0, |_| {});
    let mut frames: Vec<[f64; 5]> = Vec::new();
    let mut loads: Vec<f64> = Vec::new();
    for _ in 0..50 {
        pdu.step(0.02, &act);
        synth.run(&pdu, 0.02, |f| {
            frames.push([f.main_v, f.main_i, f.backup_v, f.backup_i, f.bus_v]);
            loads.extend_from_slice(f.loads_i);
        });
    }
    let pcal = nominal_calibration(&spec);

    let mut best_meter = f64::INFINITY;
    let mut best_run = f64::INFINITY;
    let mut check = 0.0;
    for _ in 0..3 {
        let mut m = PduMetering::new(RATE, 230.0, 50.0, CIRCUITS, &pcal);
        let mut out = Measurements::default();
        let t0 = Instant::now();
        for _ in 0..seconds {
            for (k, f) in frames.iter().enumerate() {
                m.push(
                    [f[0], f[1]],
                    [f[2], f[3]],
                    f[4],
                    &loads[k * CIRCUITS..(k + 1) * CIRCUITS],
                );
                if k % 64 == 63 {
                    m.measure(&mut out);
                }
            }
        }
        best_meter = best_meter.min(t0.elapsed().as_secs_f64());
        check += out.loads.iter().map(|l| l.p).sum::<f64>();

        let mut ctl = Controller::new(
            230.0,
            50.0,
            &names,
            &Settings::default(),
            chrono::NaiveDateTime::default(),
            None,
        )
        .expect("valid settings");
        let mut b = SimBackend::sampled(Pdu::new(&pdu_spec), &spec, 230.0, 50.0, 1);
        let t0 = Instant::now();
        for k in 0..seconds * 50 {
            let now = control_core::Instant::from_micros(k as u64 * 20_000);
            b.measure(now.as_secs_f64(), &mut out);
            b.actuate(ctl.step(now, &out), 0.02);
        }
        best_run = best_run.min(t0.elapsed().as_secs_f64());
    }
    let s = seconds as f64;
    let per_s = RATE * (5 + CIRCUITS) as f64;
    println!(
        "live {CIRCUITS} circuits at {RATE} samples/s ({:.2} M channel-samples/s): metering {:.2} % of one core, twin + metering + control {:.2} % (checksum {check:.0})",
        per_s / 1e6,
        100.0 * best_meter / s,
        100.0 * best_run / s,
    );
}
