//! A home's node as the twin sees it: a three-way phase selector, and household load profiles.
//!
//! The selector breaks the old phase at its voltage zero crossing, waits a dead time so the two
//! phases are never bridged, and makes the new phase at its next zero crossing; the home is
//! without supply in between (tens of ms). It counts its operations, as a contactor's life is
//! counted in them, and applies a command once however often it is repeated.
//!
//! Household profiles are one-minute kW series for a day: the IEEE European LV feeder's 100
//! measured profiles, or generated ones (`household`) from a seed, built from a base load, a
//! cycling fridge and appliance uses that cluster in the morning and evening.

use serde::{Deserialize, Serialize};

use grid_types::Phase;

use crate::feeder::LoadShape;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectorSpec {
    /// Time between breaking the old phase and the earliest make on the new one, s.
    pub dead_time_s: f64,
    pub frequency_hz: f64,
}

impl Default for SelectorSpec {
    fn default() -> Self {
        Self {
            dead_time_s: 0.02,
            frequency_hz: 50.0,
        }
    }
}

/// What a command did: the phase the home is on now and when the supply was off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Switched {
    pub seq: u32,
    pub phase: Phase,
    pub opened: f64,
    pub closed: f64,
}

#[derive(Debug, Clone)]
pub struct Selector {
    spec: SelectorSpec,
    phase: Phase,
    switches: u32,
    last: Option<Switched>,
}

impl Selector {
    pub fn new(spec: SelectorSpec, phase: Phase) -> Self {
        Self {
            spec,
            phase,
            switches: 0,
            last: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Operations since installation.
    pub fn switches(&self) -> u32 {
        self.switches
    }

    /// The next zero crossing of `phase`'s voltage at or after `t` (A at 0°, B at −120°,
    /// C at +120°).
    pub fn next_zero(&self, t: f64, phase: Phase) -> f64 {
        let f = self.spec.frequency_hz;
        let shift = 2.0 * f64::from(phase as u8) / 3.0;
        let k = (2.0 * f * t - shift).ceil();
        (k + shift) / (2.0 * f)
    }

    /// Act on a command received at `t`. A repeat of the last command (same `seq`) or a move
    /// to the phase the home is already on does not operate the contacts.
    pub fn command(&mut self, t: f64, seq: u32, to: Phase) -> Switched {
        if let Some(s) = self.last.filter(|s| s.seq == seq) {
            return s;
        }
        let s = if to == self.phase {
            Switched {
                seq,
                phase: to,
                opened: t,
                closed: t,
            }
        } else {
            let opened = self.next_zero(t, self.phase);
            let closed = self.next_zero(opened + self.spec.dead_time_s, to);
            self.phase = to;
            self.switches += 1;
            Switched {
                seq,
                phase: to,
                opened,
                closed,
            }
        };
        self.last = Some(s);
        s
    }
}

/// A generated household's day as a one-minute kW load shape (`use_actual`).
pub fn household(name: &str, seed: u64) -> LoadShape {
    let mut r = SplitMix64::new(seed);
    let mut kw = vec![0.0f64; 1440];
    // Always on: standby, routers, a freezer's average.
    let base = 0.06 + 0.12 * r.uniform();
    kw.iter_mut().for_each(|x| *x = base);
    // A fridge cycling about 20 min in 60.
    let phase = (r.uniform() * 60.0) as usize;
    for (m, x) in kw.iter_mut().enumerate() {
        if (m + phase) % 60 < 20 {
            *x += 0.09;
        }
    }
    // Lights and screens in the evening.
    let evening = 0.15 + 0.35 * r.uniform();
    for x in &mut kw[17 * 60..23 * 60] {
        *x += evening;
    }
    // Appliance uses: (kW, minutes, uses per day, when they cluster (hour, spread h)).
    let appliances: [(f64, usize, f64, f64, f64); 6] = [
        (2.2, 3, 3.0, 12.0, 6.0),  // kettle, through the day
        (1.8, 35, 0.8, 18.0, 1.0), // cooker at dinner
        (2.0, 20, 0.5, 10.0, 3.0), // washing machine heating
        (1.2, 50, 0.3, 20.0, 2.0), // dishwasher
        (2.5, 8, 1.0, 7.5, 1.0),   // shower pump / instant heater, morning
        (0.8, 15, 2.0, 8.0, 1.5),  // toaster, microwave, iron
    ];
    for (p, dur, per_day, hour, spread) in appliances {
        // A Poisson number of uses around the appliance's hour.
        let mut n = 0;
        let limit = (-per_day).exp();
        let mut prod = r.uniform();
        while prod > limit {
            n += 1;
            prod *= r.uniform();
        }
        for _ in 0..n {
            let start = ((hour + spread * r.normal()) * 60.0).rem_euclid(1440.0) as usize;
            for x in &mut kw[start..(start + dur).min(1440)] {
                *x += p;
            }
        }
    }
    LoadShape {
        name: name.to_string(),
        interval_min: 1.0,
        mult: kw.into_iter().map(|x| (x * 1e3).round() / 1e3).collect(),
        use_actual: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_at_zero_crossings_with_the_dead_time() {
        let mut s = Selector::new(SelectorSpec::default(), Phase::A);
        // A's zeros every 10 ms from 0; C's (at −240°) 13.33 ms later, so at 3.33 ms past each
        // 10 ms.
        let sw = s.command(1.0031, 7, Phase::C);
        assert!((sw.opened - 1.01).abs() < 1e-12, "{}", sw.opened);
        // Earliest make 1.03; C's next zero at or after it: 1.03333.
        assert!(
            (sw.closed - (1.03 + 1.0 / 300.0)).abs() < 1e-9,
            "{}",
            sw.closed
        );
        assert_eq!(s.phase(), Phase::C);
        assert_eq!(s.switches(), 1);
        // Repeating the command does not operate it again.
        assert_eq!(s.command(5.0, 7, Phase::C), sw);
        assert_eq!(s.switches(), 1);
        // Nor does a move to the phase it is on.
        let same = s.command(6.0, 8, Phase::C);
        assert_eq!((same.opened, same.closed), (6.0, 6.0));
        assert_eq!(s.switches(), 1);
    }

    #[test]
    fn the_supply_gap_is_between_the_dead_time_and_a_half_cycle_more() {
        let mut s = Selector::new(SelectorSpec::default(), Phase::A);
        let mut r = SplitMix64::new(3);
        let to = [Phase::B, Phase::C, Phase::A];
        for k in 0..300u32 {
            let sw = s.command(k as f64 + r.uniform(), k, to[k as usize % 3]);
            let gap = sw.closed - sw.opened;
            assert!((0.02 - 1e-9..=0.03 + 1e-9).contains(&gap), "{gap}");
        }
        assert_eq!(s.switches(), 300);
    }

    /// The generated homes look like the IEEE European LV feeder's 100 measured profiles:
    /// about 8.4 kWh a day on average, peaks of a few kW, evenings several times the night.
    #[test]
    fn generated_households_resemble_the_measured_ones() {
        let shapes: Vec<LoadShape> = (0..100).map(|i| household("h", 1000 + i)).collect();
        let kwh: Vec<f64> = shapes
            .iter()
            .map(|s| s.mult.iter().sum::<f64>() / 60.0)
            .collect();
        let mean = kwh.iter().sum::<f64>() / 100.0;
        assert!((6.3..=10.5).contains(&mean), "mean {mean} kWh/day");
        let peak = shapes
            .iter()
            .map(|s| s.mult.iter().cloned().fold(0.0, f64::max))
            .sum::<f64>()
            / 100.0;
        assert!((3.0..=8.0).contains(&peak), "mean peak {peak} kW");
        let avg = |a: usize, b: usize| {
            shapes
                .iter()
                .map(|s| s.mult[a..b].iter().sum::<f64>() / (b - a) as f64)
                .sum::<f64>()
                / 100.0
        };
        let (evening, night) = (avg(17 * 60, 22 * 60), avg(60, 5 * 60));
        assert!(evening > 3.0 * night, "evening {evening} night {night}");
        assert_eq!(household("x", 5), household("x", 5), "seeded");
    }
}
