//! A home's node as the twin sees it: a three-way phase selector.
//!
//! The selector breaks the old phase at its voltage zero crossing, waits a dead time so the two
//! phases are never bridged, and makes the new phase at its next zero crossing; the home is
//! without supply in between (tens of ms). It counts its operations, as a contactor's life is
//! counted in them, and applies a command once however often it is repeated.

use serde::{Deserialize, Serialize};

use grid_types::Phase;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

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
}
