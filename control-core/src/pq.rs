//! Voltage dips, swells and interruptions after IEC 61000-4-30 (5.4), detected on the
//! half-cycle RMS of the sampled voltage. A dip starts when the RMS falls below the dip
//! threshold (90 % of the declared voltage) and ends when it is back at the threshold plus the
//! hysteresis (2 %); an interruption likewise below 5 %; a swell above 110 % until 108 %. Each is
//! detected on its own, as the standard has it, but a dip that held an interruption is reported
//! as the interruption alone (as EN 50160's statistics count it). An event is reported when it
//! ends, with its start, duration and residual (dips, interruptions) or peak (swells) RMS.
//!
//! Half cycles run from one interpolated zero crossing of the voltage to the next. Each RMS is
//! stamped with its half cycle's start, so a rectangular dip's duration comes out within half a
//! cycle of the true one. A voltage that stops crossing zero (an interruption) is cut into half
//! cycles of the nominal length.

use serde::Serialize;

/// Thresholds as percentages of the declared voltage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PqSettings {
    /// The declared supply voltage Udin, V RMS.
    pub declared_v: f64,
    pub dip_pct: f64,
    pub swell_pct: f64,
    pub interruption_pct: f64,
    pub hysteresis_pct: f64,
}

impl PqSettings {
    /// The thresholds IEC 61000-4-30 names as typical for a low-voltage supply.
    pub fn low_voltage(declared_v: f64) -> Self {
        PqSettings {
            declared_v,
            dip_pct: 90.0,
            swell_pct: 110.0,
            interruption_pct: 5.0,
            hysteresis_pct: 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PqKind {
    Dip,
    Swell,
    Interruption,
}

/// One ended event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PqEvent {
    pub kind: PqKind,
    /// Seconds from the first sample.
    pub start_s: f64,
    pub duration_s: f64,
    /// The lowest (dip, interruption) or highest (swell) half-cycle RMS, V.
    pub extreme_v: f64,
    /// `extreme_v` as a percentage of the declared voltage.
    pub extreme_pct: f64,
}

/// One half cycle's RMS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfCycle {
    /// Seconds from the first sample.
    pub start_s: f64,
    pub len_s: f64,
    pub rms: f64,
}

/// Half-cycle RMS values of a sampled voltage.
#[derive(Debug, Clone)]
pub struct HalfCycles {
    rate: f64,
    /// The nominal half cycle, in samples.
    half: f64,
    /// Samples pushed so far.
    n: u64,
    prev: f64,
    /// The current half cycle's start, a fractional sample index.
    start: f64,
    sum_sq: f64,
    count: u32,
}

impl HalfCycles {
    pub fn new(rate: f64, nominal_hz: f64) -> Self {
        HalfCycles {
            rate,
            half: rate / nominal_hz / 2.0,
            n: 0,
            prev: 0.0,
            start: 0.0,
            sum_sq: 0.0,
            count: 0,
        }
    }

    /// One sample; the half cycle it ends, if it ends one.
    pub fn push(&mut self, v: f64) -> Option<HalfCycle> {
        let idx = self.n as f64;
        self.n += 1;
        let prev = std::mem::replace(&mut self.prev, v);
        let crossed = idx > 0.0 && ((prev < 0.0 && v >= 0.0) || (prev > 0.0 && v <= 0.0));
        let at = crossed.then(|| idx - 1.0 + prev / (prev - v));
        // Crossings closer than most of a half cycle are noise on a small voltage; a voltage
        // that stops crossing zero is cut at a little more than the nominal half cycle.
        let end = match at {
            Some(x) if x - self.start >= 0.8 * self.half => Some(x),
            _ if idx - self.start >= 1.2 * self.half => Some(idx),
            _ => None,
        };
        let mut done = None;
        if let Some(x) = end {
            if self.count > 0 {
                done = Some(HalfCycle {
                    start_s: self.start / self.rate,
                    len_s: (x - self.start) / self.rate,
                    rms: (self.sum_sq / f64::from(self.count)).sqrt(),
                });
            }
            self.start = x;
            self.sum_sq = 0.0;
            self.count = 0;
        }
        self.sum_sq += v * v;
        self.count += 1;
        done
    }
}

/// One kind of excursion in progress.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// The half cycle before the first one past the threshold (the event may start in it).
    before: HalfCycle,
    first: HalfCycle,
    /// The supply's level before the event, V.
    normal: f64,
    extreme: f64,
    /// The latest half cycle of the event.
    last: HalfCycle,
}

#[derive(Debug, Clone, Copy, Default)]
struct Excursion {
    open: Option<Open>,
}

/// The part of a half cycle at the event's level rather than the normal one, from their
/// energies (exact for a flat signal; within a few percent of a half cycle for a sine).
fn share(h: &HalfCycle, normal: f64, extreme: f64) -> f64 {
    let span = normal * normal - extreme * extreme;
    if span.abs() < 1e-12 {
        return 1.0;
    }
    ((normal * normal - h.rms * h.rms) / span).clamp(0.0, 1.0)
}

impl Excursion {
    /// Half cycle `h` after `before` (and `normal`, the level before that): `beyond` is past
    /// the start threshold, `back` past the end one. The event it ends: (start, duration,
    /// extreme), its edges placed inside the half cycles they fall in.
    fn step(
        &mut self,
        h: HalfCycle,
        before: HalfCycle,
        normal: f64,
        beyond: bool,
        back: bool,
        worse: fn(f64, f64) -> f64,
    ) -> Option<(f64, f64, f64)> {
        match &mut self.open {
            None if beyond => {
                self.open = Some(Open {
                    before,
                    first: h,
                    normal,
                    extreme: h.rms,
                    last: h,
                });
                None
            }
            Some(o) if back => {
                let (n, x) = (o.normal, o.extreme);
                let start = o.first.start_s + o.first.len_s
                    - share(&o.first, n, x) * o.first.len_s
                    - share(&o.before, n, x) * o.before.len_s;
                let end = o.last.start_s
                    + share(&o.last, n, x) * o.last.len_s
                    + share(&h, n, x) * h.len_s;
                self.open = None;
                Some((start, end - start, x))
            }
            Some(o) => {
                o.extreme = worse(o.extreme, h.rms);
                o.last = h;
                None
            }
            None => None,
        }
    }
}

/// Dips, swells and interruptions of one voltage, from its samples.
#[derive(Debug, Clone)]
pub struct PqMonitor {
    s: PqSettings,
    dip: Excursion,
    swell: Excursion,
    interruption: Excursion,
    /// The two latest half cycles, newest last.
    recent: [Option<HalfCycle>; 2],
    /// The dip in progress held an interruption.
    interrupted: bool,
}

impl PqMonitor {
    pub fn new(s: PqSettings) -> Self {
        PqMonitor {
            s,
            dip: Excursion::default(),
            swell: Excursion::default(),
            interruption: Excursion::default(),
            recent: [None, None],
            interrupted: false,
        }
    }

    /// One half cycle; the events it ends.
    pub fn handle_half_cycle(&mut self, h: HalfCycle, out: &mut Vec<PqEvent>) {
        let s = self.s;
        let pct = 100.0 * h.rms / s.declared_v;
        let hy = s.hysteresis_pct;
        // Before the first two half cycles there is no level to compare with.
        let [Some(older), Some(before)] = self.recent else {
            self.recent = [self.recent[1], Some(h)];
            return;
        };
        let n = older.rms;
        let ended = [
            (
                PqKind::Dip,
                self.dip.step(
                    h,
                    before,
                    n,
                    pct < s.dip_pct,
                    pct >= s.dip_pct + hy,
                    f64::min,
                ),
            ),
            (
                PqKind::Interruption,
                self.interruption.step(
                    h,
                    before,
                    n,
                    pct < s.interruption_pct,
                    pct >= s.interruption_pct + hy,
                    f64::min,
                ),
            ),
            (
                PqKind::Swell,
                self.swell.step(
                    h,
                    before,
                    n,
                    pct > s.swell_pct,
                    pct <= s.swell_pct - hy,
                    f64::max,
                ),
            ),
        ];
        self.recent = [Some(before), Some(h)];
        self.interrupted |= self.interruption.open.is_some();
        for (kind, e) in ended {
            if kind == PqKind::Dip && e.is_some() && std::mem::take(&mut self.interrupted) {
                continue;
            }
            if let Some((start_s, duration_s, extreme_v)) = e {
                out.push(PqEvent {
                    kind,
                    start_s,
                    duration_s,
                    extreme_v,
                    extreme_pct: 100.0 * extreme_v / s.declared_v,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 12_800.0;

    /// `secs` of a 230 V sine at `hz` starting at phase `phase` rad, scaled by `scale(t)`.
    fn run(hz: f64, phase: f64, secs: f64, scale: impl Fn(f64) -> f64) -> Vec<PqEvent> {
        let mut half = HalfCycles::new(RATE, hz);
        let mut m = PqMonitor::new(PqSettings::low_voltage(230.0));
        let mut out = Vec::new();
        let peak = 230.0 * 2f64.sqrt();
        for k in 0..(secs * RATE) as u64 {
            let t = k as f64 / RATE;
            let v = peak * (std::f64::consts::TAU * hz * t + phase).sin() * scale(t);
            if let Some(h) = half.push(v) {
                m.handle_half_cycle(h, &mut out);
            }
        }
        out
    }

    fn kinds(e: &[PqEvent]) -> Vec<PqKind> {
        e.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_dip_to_40_percent_for_100_ms_is_recorded_within_half_a_cycle_at_any_phase() {
        for hz in [50.0, 60.0] {
            let half = 0.5 / hz;
            for step in 0..24 {
                let phase = f64::from(step) * std::f64::consts::TAU / 24.0;
                let t0 = 0.2 + f64::from(step) * 0.00037;
                let e = run(hz, phase, 0.6, |t| {
                    if (t0..t0 + 0.1).contains(&t) {
                        0.4
                    } else {
                        1.0
                    }
                });
                assert_eq!(kinds(&e), [PqKind::Dip], "{hz} Hz, step {step}: {e:?}");
                let d = e[0];
                assert!((d.extreme_pct - 40.0).abs() < 0.5, "{d:?}");
                // The issue asks for half a cycle; the edges placed inside their half cycles
                // give a tenth of one for the duration and a quarter for the start (measured:
                // 0.25 ms and 1.6 ms at worst).
                assert!(
                    (d.duration_s - 0.1).abs() <= half / 10.0,
                    "{hz} Hz, step {step}: {d:?}"
                );
                assert!(
                    (d.start_s - t0).abs() <= half / 4.0,
                    "{hz} Hz, step {step}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn an_interruption_is_reported_alone_and_a_swell_has_its_peak() {
        // An interruption, then a dip of its own.
        let e = run(50.0, 0.3, 1.2, |t| match t {
            t if (0.2..0.7).contains(&t) => 0.0,
            t if (0.9..1.0).contains(&t) => 0.5,
            _ => 1.0,
        });
        assert_eq!(kinds(&e), [PqKind::Interruption, PqKind::Dip], "{e:?}");
        assert!((e[0].duration_s - 0.5).abs() <= 0.001, "{e:?}");
        assert!(e[0].extreme_v < 1.0, "{e:?}");
        assert!((e[1].duration_s - 0.1).abs() <= 0.001, "{e:?}");
        assert!((e[1].extreme_pct - 50.0).abs() < 0.5, "{e:?}");
        let e = run(50.0, 1.0, 0.8, |t| {
            if (0.3..0.5).contains(&t) { 1.2 } else { 1.0 }
        });
        assert_eq!(kinds(&e), [PqKind::Swell], "{e:?}");
        assert!((e[0].extreme_v - 276.0).abs() < 1.0, "{e:?}");
        assert!((e[0].duration_s - 0.2).abs() <= 0.001, "{e:?}");
    }

    #[test]
    fn a_supply_within_its_band_records_nothing() {
        // 1 % ripple and a 91 % sag: inside the thresholds.
        let e = run(50.0, 0.0, 1.0, |t| {
            if (0.4..0.6).contains(&t) {
                0.91
            } else {
                1.0 + 0.01 * (7.0 * t).sin()
            }
        });
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn half_cycles_follow_the_zero_crossings() {
        let mut h = HalfCycles::new(RATE, 50.0);
        let peak = 100.0 * 2f64.sqrt();
        let got: Vec<HalfCycle> = (0..(0.1 * RATE) as u64)
            .filter_map(|k| {
                h.push(peak * (std::f64::consts::TAU * 50.0 * k as f64 / RATE + 0.5).sin())
            })
            .collect();
        // Ten crossings in 100 ms: a partial first half cycle, then whole ones.
        assert_eq!(got.len(), 10, "{got:?}");
        for h in &got[1..] {
            assert!((h.len_s - 0.01).abs() < 1e-6, "{h:?}");
            assert!((h.rms - 100.0).abs() < 0.05, "{h:?}");
        }
    }
}
