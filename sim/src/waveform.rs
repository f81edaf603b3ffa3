//! Waveform synthesis: the PDU's phasor solution turned into the sample streams its sensors would
//! deliver, at any sample rate. Each source keeps its own phase, advanced at its own (drifting)
//! frequency, so sampling is never coherent with the signal. Loads add their harmonic currents;
//! those currents flowing through the source impedance distort the bus voltage. Every channel then
//! passes through its sensor chain (gain, offset, phase, noise, ADC quantization and clipping).

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use grid_types::SourceId;

use crate::harmonics;
use crate::pdu::Pdu;
use crate::rng::SplitMix64;
use crate::sensor::SensorFault;
use crate::source::SourceKind;
use crate::transducer::{Adc, SensorChain};

/// How the twin samples: rate, utility frequency wander and the installed sensor chains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveformSpec {
    /// Samples per second per channel.
    #[serde(default = "default_rate")]
    pub sample_rate: f64,
    /// Standard deviation of the utility's frequency wander, Hz (a slow random walk that returns
    /// to nominal with a 10 s time constant). Generators keep their governor's frequency.
    #[serde(default)]
    pub drift_hz: f64,
    /// The voltage channels (both source terminals and the bus).
    #[serde(default)]
    pub voltage_sensor: SensorChain,
    /// Each load circuit's current sensor.
    #[serde(default)]
    pub load_current_sensor: SensorChain,
    /// Each source's current sensor.
    #[serde(default)]
    pub source_current_sensor: SensorChain,
    #[serde(default)]
    pub adc: Adc,
}

fn default_rate() -> f64 {
    3200.0
}

impl Default for WaveformSpec {
    fn default() -> Self {
        WaveformSpec {
            sample_rate: default_rate(),
            drift_hz: 0.0,
            voltage_sensor: SensorChain::default(),
            load_current_sensor: SensorChain::default(),
            source_current_sensor: SensorChain::default(),
            adc: Adc::default(),
        }
    }
}

/// One instant's readings of every channel.
#[derive(Debug)]
pub struct Frame<'a> {
    pub main_v: f64,
    pub main_i: f64,
    pub backup_v: f64,
    pub backup_i: f64,
    pub bus_v: f64,
    pub loads_i: &'a [f64],
}

/// A channel's complex amplitudes (rms phasors) per harmonic order, order 1 first.
#[derive(Debug, Clone, Default)]
struct Spectrum(Vec<(usize, Complex64)>);

impl Spectrum {
    fn set_fundamental(&mut self, x: Complex64) {
        self.0.clear();
        if x != Complex64::default() {
            self.0.push((1, x));
        }
    }

    /// Delay the channel by `lag` radians at the fundamental (h times that at order h).
    fn delayed(&self, lag: f64) -> Spectrum {
        Spectrum(
            self.0
                .iter()
                .map(|&(h, x)| (h, x * Complex64::from_polar(1.0, -lag * h as f64)))
                .collect(),
        )
    }

    fn scaled(&self, k: f64) -> Spectrum {
        Spectrum(self.0.iter().map(|&(h, x)| (h, x * k)).collect())
    }

    /// The instantaneous value given the source's rotator powers `rot[h] = e^{j h phi}`.
    #[inline]
    fn value(&self, rot: &[Complex64]) -> f64 {
        self.0
            .iter()
            .map(|&(h, x)| x.re * rot[h].re - x.im * rot[h].im)
            .sum::<f64>()
            * std::f64::consts::SQRT_2
    }
}

/// Seconds of waveform the twin has already produced when the run starts.
pub const PRIME: f64 = 0.1;

/// The sample generator. Call `run` after each `Pdu::step` for the interval just stepped.
#[derive(Debug, Clone)]
pub struct Synth {
    spec: WaveformSpec,
    /// Index of the next sample; its time is `next / rate` (negative while priming).
    next: i64,
    /// Each source's phase, radians, in [0, 2pi).
    phase: [f64; 2],
    drift: f64,
    rng: SplitMix64,
    max_order: usize,
    loads_i: Vec<f64>,
    rot: Vec<Complex64>,
    // Per-step channel spectra (after each channel's sensor phase).
    src_v: [Spectrum; 2],
    src_i: [Spectrum; 2],
    bus_v: Spectrum,
    load_i: Vec<Spectrum>,
    /// What a stuck sensor keeps repeating: sources (v, i), then loads.
    frozen_src: [Option<(Spectrum, Spectrum)>; 2],
    frozen_load: Vec<Option<Spectrum>>,
}

/// A source's voltage and current channels share the sensor's fault.
fn scaled_pair((v, i): &(Spectrum, Spectrum), k: f64) -> (Spectrum, Spectrum) {
    (v.scaled(k), i.scaled(k))
}

/// A channel with a sensor fault: dead reads zero, stuck repeats the waveform it had when it
/// stuck, noisy has its amplitude scattered each step (as the phasor twin scatters RMS readings).
fn faulted<T: Clone>(
    fault: Option<SensorFault>,
    now: T,
    frozen: &mut Option<T>,
    scale: impl Fn(&T, f64) -> T,
    rng: &mut SplitMix64,
) -> T {
    if fault != Some(SensorFault::Stuck) {
        *frozen = None;
    }
    match fault {
        None => now,
        Some(SensorFault::Dead) => scale(&now, 0.0),
        Some(SensorFault::Noisy { sigma }) => scale(&now, 1.0 + sigma * rng.normal()),
        Some(SensorFault::Stuck) => frozen.get_or_insert(now).clone(),
    }
}

impl Synth {
    pub fn new(spec: &WaveformSpec, pdu: &Pdu, seed: u64) -> Self {
        Self::primed(spec, pdu, seed, PRIME)
    }

    /// As `new`, with `prime` s of history before the present instead of `PRIME` (hardware
    /// emulation wants whole metering windows before the controller first looks).
    pub fn primed(spec: &WaveformSpec, pdu: &Pdu, seed: u64, prime: f64) -> Self {
        let max_order = pdu
            .loads
            .iter()
            .flat_map(|l| l.spec.harmonics.spectrum().iter().map(|h| h.0 as usize))
            .max()
            .unwrap_or(1)
            .max(1);
        let n = pdu.loads.len();
        Synth {
            spec: spec.clone(),
            // Each run covers (t - dt, t]; the first also covers the `PRIME` s of history before
            // the present, so that meters have whole cycles when the controller first looks.
            next: ((pdu.time() - prime) * spec.sample_rate + 1e-6).floor() as i64 + 1,
            // The backup starts out of phase with the main, as two unsynchronized machines are.
            phase: [0.0, 2.0],
            drift: 0.0,
            rng: SplitMix64::new(seed ^ 0x5741_5645),
            max_order,
            loads_i: vec![0.0; n],
            rot: vec![Complex64::default(); max_order + 1],
            src_v: Default::default(),
            src_i: Default::default(),
            bus_v: Spectrum::default(),
            load_i: vec![Spectrum::default(); n],
            frozen_src: Default::default(),
            frozen_load: vec![None; n],
        }
    }

    /// Samples per second.
    pub fn rate(&self) -> f64 {
        self.spec.sample_rate
    }

    /// The time of the next sample `run` emits, s.
    pub fn next_time(&self) -> f64 {
        self.next as f64 / self.spec.sample_rate
    }

    /// Each source's frequency as the waveform carries it (with the utility's wander), Hz.
    pub fn frequency(&self, pdu: &Pdu, id: SourceId) -> f64 {
        let r = pdu.truth();
        let (hz, src) = match id {
            SourceId::Main => (r.main.hz, &pdu.main),
            SourceId::Backup => (r.backup.hz, &pdu.backup),
        };
        match src.spec.kind {
            SourceKind::Utility if hz > 0.0 => hz + self.drift,
            _ => hz,
        }
    }

    /// Emit every sample in the `dt` seconds up to the twin's present time.
    pub fn run(&mut self, pdu: &Pdu, dt: f64, mut sink: impl FnMut(&Frame)) {
        self.wander(dt);
        self.prepare(pdu);
        let rate = self.spec.sample_rate;
        let freq = [
            self.frequency(pdu, SourceId::Main),
            self.frequency(pdu, SourceId::Backup),
        ];
        let feeding = pdu.connected().map(|id| id as usize);
        let t_end = pdu.time();
        let adc = self.spec.adc;
        let (vs, ls, ss) = (
            self.spec.voltage_sensor.resolve(&adc),
            self.spec.load_current_sensor.resolve(&adc),
            self.spec.source_current_sensor.resolve(&adc),
        );
        // Each source's rotator e^{j phi}, advanced by multiplication; the phase itself is
        // accumulated once per run so the rotators never drift off the unit circle.
        let step = freq.map(|f| std::f64::consts::TAU * f / rate);
        let adv = step.map(|w| Complex64::from_polar(1.0, w));
        let mut rot1 = [0, 1].map(|s| Complex64::from_polar(1.0, self.phase[s]));
        let start = self.next;
        while (self.next as f64) <= t_end * rate + 1e-6 {
            self.next += 1;
            let mut src_v = [0.0; 2];
            let mut src_i = [0.0; 2];
            for s in 0..2 {
                if feeding == Some(s) {
                    // The bus and every load turn with the feeding source.
                    self.rot[1] = rot1[s];
                    for h in 2..self.rot.len() {
                        self.rot[h] = self.rot[h - 1] * rot1[s];
                    }
                    src_v[s] = self.src_v[s].value(&self.rot);
                    src_i[s] = self.src_i[s].value(&self.rot);
                } else {
                    src_v[s] = self.src_v[s].value(&[Complex64::default(), rot1[s]]);
                }
                rot1[s] *= adv[s];
            }
            let live = feeding.is_some();
            let bus = if live {
                self.bus_v.value(&self.rot)
            } else {
                0.0
            };
            let rng = &mut self.rng;
            for (out, spec) in self.loads_i.iter_mut().zip(&self.load_i) {
                let x = if live { spec.value(&self.rot) } else { 0.0 };
                *out = ls.read(x, rng);
            }
            let frame = Frame {
                main_v: vs.read(src_v[0], rng),
                main_i: ss.read(src_i[0], rng),
                backup_v: vs.read(src_v[1], rng),
                backup_i: ss.read(src_i[1], rng),
                bus_v: vs.read(bus, rng),
                loads_i: &self.loads_i,
            };
            sink(&frame);
        }
        let n = (self.next - start) as f64;
        for (phase, w) in self.phase.iter_mut().zip(step) {
            *phase = (*phase + n * w) % std::f64::consts::TAU;
        }
    }

    /// The utility's frequency wander: an Ornstein-Uhlenbeck walk with a 10 s time constant.
    fn wander(&mut self, dt: f64) {
        const TAU: f64 = 10.0;
        let sigma = self.spec.drift_hz;
        if sigma > 0.0 {
            let a = (-dt / TAU).exp();
            self.drift = a * self.drift + sigma * (1.0 - a * a).sqrt() * self.rng.normal();
        }
    }

    /// Every channel's spectrum for this step, from the phasor solution.
    fn prepare(&mut self, pdu: &Pdu) {
        let mut total_h = vec![Complex64::default(); self.max_order + 1];
        let mut load_i = std::mem::take(&mut self.load_i);
        for (k, spec) in load_i.iter_mut().enumerate() {
            let i1 = pdu.load_current(k);
            spec.set_fundamental(i1);
            if i1 == Complex64::default() {
                continue;
            }
            for (h, x) in harmonics::load_currents(&pdu.loads[k].spec.harmonics, i1) {
                spec.0.push((h, x));
                total_h[h] += x;
            }
        }
        let feeding = pdu.connected();
        let mut bus = Spectrum::default();
        let mut total = Spectrum::default();
        if let Some(id) = feeding {
            bus.set_fundamental(pdu.bus_phasor());
            total.set_fundamental(pdu.total_current());
            let z = pdu.source_z(id);
            for (h, ih) in total_h.iter().enumerate().skip(2) {
                if *ih != Complex64::default() {
                    bus.0.push((h, harmonics::bus_voltage(z, h, *ih)));
                    total.0.push((h, *ih));
                }
            }
        }
        let (vl, il, ll) = (
            self.spec.voltage_sensor.phase_rad(),
            self.spec.source_current_sensor.phase_rad(),
            self.spec.load_current_sensor.phase_rad(),
        );
        for id in [SourceId::Main, SourceId::Backup] {
            let s = id as usize;
            if feeding == Some(id) {
                (self.src_v[s], self.src_i[s]) = faulted(
                    pdu.source_sensor_fault(id),
                    (bus.delayed(vl), total.delayed(il)),
                    &mut self.frozen_src[s],
                    scaled_pair,
                    &mut self.rng,
                );
            } else {
                let mut v = Spectrum::default();
                let emf = match id {
                    SourceId::Main => pdu.truth().main.v,
                    SourceId::Backup => pdu.truth().backup.v,
                };
                v.set_fundamental(Complex64::new(emf, 0.0));
                (self.src_v[s], self.src_i[s]) = faulted(
                    pdu.source_sensor_fault(id),
                    (v.delayed(vl), Spectrum::default()),
                    &mut self.frozen_src[s],
                    scaled_pair,
                    &mut self.rng,
                );
            }
        }
        self.bus_v = bus.delayed(vl);
        for (k, spec) in load_i.iter_mut().enumerate() {
            *spec = faulted(
                pdu.load_sensor_fault(k),
                spec.delayed(ll),
                &mut self.frozen_load[k],
                Spectrum::scaled,
                &mut self.rng,
            );
        }
        self.load_i = load_i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Harmonics, LoadModel, LoadSpec};
    use crate::pdu::{Actuation, PduSpec};
    use crate::source::SourceSpec;

    fn pdu(harmonics: Harmonics) -> Pdu {
        Pdu::new(&PduSpec {
            nominal_v: 230.0,
            nominal_hz: 50.0,
            main: SourceSpec {
                kind: SourceKind::Utility,
                r_ohm: 0.2,
                x_ohm: 0.3,
            },
            backup: SourceSpec {
                kind: SourceKind::Utility,
                r_ohm: 0.2,
                x_ohm: 0.3,
            },
            loads: vec![LoadSpec {
                name: "pc".into(),
                model: LoadModel::ConstantPower {
                    watts: 2000.0,
                    pf: 0.95,
                },
                harmonics,
                leg: Default::default(),
            }],
            seed: 0,
            service: Default::default(),
        })
    }

    /// Steps the twin and collects `seconds` of (bus v, load i) samples.
    fn capture(pdu: &mut Pdu, spec: &WaveformSpec, seconds: f64) -> (Vec<f64>, Vec<f64>) {
        let act = Actuation {
            main_closed: true,
            relays: vec![true],
            ..Default::default()
        };
        pdu.step(0.02, &act);
        let mut synth = Synth::new(spec, pdu, 1);
        let mut primed = 0;
        synth.run(pdu, 0.0, |_| primed += 1);
        assert_eq!(primed, (PRIME * spec.sample_rate).round() as usize);
        let (mut v, mut i) = (Vec::new(), Vec::new());
        for _ in 0..(seconds / 0.02).round() as usize {
            pdu.step(0.02, &act);
            synth.run(pdu, 0.02, |f| {
                v.push(f.bus_v);
                i.push(f.loads_i[0]);
            });
        }
        (v, i)
    }

    /// Magnitude (rms) of harmonic `h` over a whole number of cycles of `n` samples each.
    fn dft(x: &[f64], n: usize, h: usize) -> f64 {
        let w = std::f64::consts::TAU * h as f64 / n as f64;
        let z: Complex64 = x
            .iter()
            .enumerate()
            .map(|(k, &s)| Complex64::from_polar(s, -w * k as f64))
            .sum();
        z.norm() * std::f64::consts::SQRT_2 / x.len() as f64
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|s| s * s).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn linear_load_gives_the_phasor_solution_back() {
        let mut p = pdu(Harmonics::Linear);
        let spec = WaveformSpec::default();
        // 50 Hz at 3200 samples/s: 64 per cycle, so 50 cycles are exactly 3200 samples.
        let (v, i) = capture(&mut p, &spec, 1.0);
        assert_eq!(v.len(), 3200);
        let bus = p.bus_phasor().norm();
        let il = p.load_current(0).norm();
        assert!((rms(&v) / bus - 1.0).abs() < 1e-9, "{} vs {bus}", rms(&v));
        assert!((rms(&i) / il - 1.0).abs() < 1e-9);
        let p_mean = v.iter().zip(&i).map(|(a, b)| a * b).sum::<f64>() / v.len() as f64;
        assert!((p_mean - 2000.0).abs() < 1e-6, "{p_mean}");
    }

    #[test]
    fn switched_mode_supply_distorts_current_and_the_bus_through_the_source() {
        let mut p = pdu(Harmonics::SwitchedMode);
        let (v, i) = capture(&mut p, &WaveformSpec::default(), 1.0);
        let i1 = dft(&i, 64, 1);
        let ih: f64 = [3, 5, 7, 9, 11]
            .iter()
            .map(|&h| dft(&i, 64, h).powi(2))
            .sum::<f64>()
            .sqrt();
        let expected = (0.81f64.powi(2)
            + 0.6f64.powi(2)
            + 0.37f64.powi(2)
            + 0.16f64.powi(2)
            + 0.06f64.powi(2))
        .sqrt();
        assert!((ih / i1 - expected).abs() < 1e-9, "THD {}", ih / i1);
        // The 3rd harmonic current through R + j3X is the bus's 3rd harmonic voltage.
        let z3 = Complex64::new(0.2, 0.9).norm();
        assert!((dft(&v, 64, 3) - z3 * 0.81 * i1).abs() < 1e-6);
        // Pulses on the voltage peaks: a crest factor well above a sine's.
        let peak = i.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(peak / rms(&i) > 2.0, "crest {}", peak / rms(&i));
    }

    #[test]
    fn the_recorded_thd_is_the_sampled_waveforms() {
        let mut p = pdu(Harmonics::SwitchedMode);
        let (v, i) = capture(&mut p, &WaveformSpec::default(), 1.0);
        let sampled = |x: &[f64]| {
            let hs = (2..=11).map(|h| dft(x, 64, h));
            harmonics::thd_pct(dft(x, 64, 1), hs)
        };
        let thd = p.thd();
        // One load: the load's, the source's current and the spectrum's own 108.7 % agree.
        assert!((thd.loads[0] - sampled(&i)).abs() < 1e-6, "{thd:?}");
        assert!((thd.current - thd.loads[0]).abs() < 1e-9);
        assert!((thd.loads[0] - 108.73).abs() < 0.01);
        assert!((thd.voltage - sampled(&v)).abs() < 1e-6, "{thd:?}");
        assert!(thd.voltage > 0.5, "{thd:?}");
    }

    #[test]
    fn any_rate_gives_the_right_number_of_samples() {
        for rate in [1800.0, 3200.0, 4000.0, 7812.5] {
            let spec = WaveformSpec {
                sample_rate: rate,
                ..Default::default()
            };
            let (v, _) = capture(&mut pdu(Harmonics::Linear), &spec, 2.0);
            assert_eq!(v.len() as f64, rate * 2.0, "{rate}");
        }
    }

    #[test]
    fn acs712_chain_clips_a_fault_current_and_quantizes() {
        let mut p = pdu(Harmonics::Linear);
        p.loads[0].short_ohm = Some(0.5);
        let spec = WaveformSpec {
            load_current_sensor: SensorChain {
                kind: crate::Transducer::Acs712 { amps: 20 },
                noise: Some(0.0),
                ..Default::default()
            },
            ..Default::default()
        };
        let (_, codes) = capture(&mut p, &spec, 0.2);
        assert!(
            codes
                .iter()
                .all(|c| c.fract() == 0.0 && (0.0..=4095.0).contains(c))
        );
        assert!(codes.contains(&4095.0) && codes.contains(&0.0), "clipped");
    }
}
