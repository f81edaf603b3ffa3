//! A home's phase selector on relay outputs: one contactor per phase, at most one ever closed.
//! A move breaks the old phase at its voltage zero crossing, waits the dead time so the two
//! phases are never bridged, and makes the new phase at its next zero crossing: the rule the
//! twin's `sim::home::Selector` follows. Zero crossings are predicted from a detector on phase
//! A (an H11AA1 optocoupler on a GPIO input, read with `watch`): B's lag A's by 120°, C's by
//! 240°. Without a recent edge (the detector or phase A is dead) a move goes by time alone:
//! break now, make after the dead time.
//!
//! The home's default phase is wired through a normally closed contact and the others through
//! normally open ones, so when the controller stops and the relay board's watchdog drops coil
//! power the home falls back to its default phase, never to two phases and never to none.
//!
//! Sans-IO at the centre: `command` and `update` take the time as an argument; the pins are
//! written only when a coil changes.

use embedded_hal::digital::{InputPin, OutputPin};
use grid_types::Phase;

use crate::Polarity;

/// What the selector is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// On `Phase`, contacts still.
    On(Phase),
    /// On `from`, commanded to `to`; `from` breaks at `at`.
    Breaking { from: Phase, to: Phase, at: f64 },
    /// Every contact open; the new phase makes at `at`.
    Making { to: Phase, at: f64 },
}

/// A rising edge older than this many periods does not time anything.
const EDGE_VALID_PERIODS: f64 = 3.0;

pub struct PhaseSelector<P> {
    coils: [P; 3],
    polarity: Polarity,
    /// The phase wired normally closed.
    rest: Phase,
    dead_time_s: f64,
    nominal_hz: f64,
    state: State,
    /// Each coil as last written (None: not yet).
    written: [Option<bool>; 3],
    /// The last rising edge of phase A's detector and the period measured between the last two.
    edge: Option<f64>,
    period: Option<f64>,
    level: Option<bool>,
    operations: u32,
}

impl<P: OutputPin> PhaseSelector<P> {
    /// Coils for phases A, B, C; the home on `rest` (its normally closed phase) with every coil
    /// at rest.
    pub fn new(
        coils: [P; 3],
        polarity: Polarity,
        rest: Phase,
        dead_time_s: f64,
        nominal_hz: f64,
    ) -> Result<Self, P::Error> {
        let mut s = PhaseSelector {
            coils,
            polarity,
            rest,
            dead_time_s,
            nominal_hz,
            state: State::On(rest),
            written: [None; 3],
            edge: None,
            period: None,
            level: None,
            operations: 0,
        };
        s.drive(Some(rest))?;
        Ok(s)
    }

    /// The phase the home is on, or None between break and make.
    pub fn phase(&self) -> Option<Phase> {
        match self.state {
            State::On(p) | State::Breaking { from: p, .. } => Some(p),
            State::Making { .. } => None,
        }
    }

    /// Contactor operations since start (a contactor's life is counted in them).
    pub fn operations(&self) -> u32 {
        self.operations
    }

    /// A rising edge of phase A's zero-crossing detector at `t`, s.
    pub fn zero_crossing(&mut self, t: f64) {
        if let Some(last) = self.edge {
            let p = t - last;
            // Only a plausible period (±10 % of nominal) is learnt: noise gives short ones.
            let nominal = 1.0 / self.nominal_hz;
            if (0.9 * nominal..=1.1 * nominal).contains(&p) {
                self.period = Some(p);
            }
        }
        self.edge = Some(t);
    }

    /// Sample the detector's input at `t`; a rising edge is a zero crossing.
    pub fn watch<I: InputPin>(&mut self, input: &mut I, t: f64) -> Result<(), I::Error> {
        let high = input.is_high()?;
        if high && self.level == Some(false) {
            self.zero_crossing(t);
        }
        self.level = Some(high);
        Ok(())
    }

    /// The next zero crossing of `phase` at or after `t`, when the detector gives a reference.
    fn next_zero(&self, t: f64, phase: Phase) -> Option<f64> {
        let edge = self.edge?;
        let period = self.period.unwrap_or(1.0 / self.nominal_hz);
        if t - edge > EDGE_VALID_PERIODS * period {
            return None;
        }
        let half = period / 2.0;
        // B lags A by a third of a period, C by two thirds: in half-cycles, 2/3 and 4/3.
        let shift = edge + half * (2.0 * f64::from(phase as u8) / 3.0);
        Some(shift + ((t - shift) / half).ceil() * half)
    }

    /// Move to `to`, from `now`. A move to the phase the home is on (or already going to) does
    /// nothing; a new command while moving retargets the make.
    pub fn command(&mut self, now: f64, to: Phase) {
        self.state = match self.state {
            State::On(p) if p == to => return,
            State::On(from) => State::Breaking {
                from,
                to,
                at: self.next_zero(now, from).unwrap_or(now),
            },
            // Back to where it is before it broke: nothing moves.
            State::Breaking { from, .. } if from == to => State::On(from),
            State::Breaking { from, at, .. } => State::Breaking { from, to, at },
            State::Making { to: old, .. } if old == to => return,
            State::Making { .. } => State::Making {
                to,
                at: self.make_time(now, to),
            },
        };
    }

    fn make_time(&self, broke: f64, to: Phase) -> f64 {
        let earliest = broke + self.dead_time_s;
        self.next_zero(earliest, to).unwrap_or(earliest)
    }

    /// Act on what is due at `now`; call at least every millisecond while moving.
    pub fn update(&mut self, now: f64) -> Result<(), P::Error> {
        match self.state {
            State::Breaking { to, at, .. } if now >= at => {
                self.drive(None)?;
                self.operations += 1;
                self.state = State::Making {
                    to,
                    at: self.make_time(now, to),
                };
                // A zero dead time makes at once.
                self.update(now)
            }
            State::Making { to, at } if now >= at => {
                self.drive(Some(to))?;
                self.operations += 1;
                self.state = State::On(to);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether phase `p`'s coil is energized when the home is to be on `on`.
    fn energized_for(&self, on: Option<Phase>, p: Phase) -> bool {
        (on == Some(p)) != (p == self.rest)
    }

    /// Every contact open but `on`'s. Opening comes first, so no write order bridges phases.
    fn drive(&mut self, on: Option<Phase>) -> Result<(), P::Error> {
        let mut order = Phase::ALL;
        order.sort_by_key(|&p| on == Some(p));
        for p in order {
            let energized = self.energized_for(on, p);
            let k = p as usize;
            if self.written[k] == Some(energized) {
                continue;
            }
            if energized == (self.polarity == Polarity::ActiveHigh) {
                self.coils[k].set_high()?;
            } else {
                self.coils[k].set_low()?;
            }
            self.written[k] = Some(energized);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulated::gpio::Pin;

    /// The phases whose contacts are closed, from the pins (active high; A wired NC).
    fn closed(pins: &[Pin; 3]) -> Vec<Phase> {
        Phase::ALL
            .into_iter()
            .filter(|&p| pins[p as usize].is_high_now() != (p == Phase::A))
            .collect()
    }

    fn selector(dead: f64) -> (PhaseSelector<Pin>, [Pin; 3]) {
        let pins = [Pin::default(), Pin::default(), Pin::default()];
        let s =
            PhaseSelector::new(pins.clone(), Polarity::ActiveHigh, Phase::A, dead, 50.0).unwrap();
        (s, pins)
    }

    #[test]
    fn a_move_breaks_at_the_old_zero_and_makes_at_the_new_after_the_dead_time() {
        let (mut s, pins) = selector(0.02);
        assert_eq!(closed(&pins), [Phase::A]);
        // Phase A's detector: rising edges every 20 ms from t = 0 (zero crossings every 10 ms).
        s.zero_crossing(0.0);
        s.zero_crossing(0.020);
        s.command(0.0234, Phase::B);
        let mut breaks = None;
        let mut makes = None;
        let mut t = 0.0234;
        while t < 0.1 {
            s.update(t).unwrap();
            let c = closed(&pins);
            assert!(c.len() <= 1, "bridged at {t}: {c:?}");
            if c.is_empty() && breaks.is_none() {
                breaks = Some(t);
            }
            if c == [Phase::B] && makes.is_none() {
                makes = Some(t);
            }
            t += 1e-4;
        }
        let (b, m) = (breaks.unwrap(), makes.unwrap());
        // A's next zero after 23.4 ms is at 30 ms; B's zeros are at 6.67 ms + k·10 ms, the first
        // at least 20 ms after the break is 56.67 ms.
        assert!((b - 0.030).abs() < 2e-4, "{b}");
        assert!((m - 0.05667).abs() < 2e-4, "{m}");
        assert_eq!(s.phase(), Some(Phase::B));
        assert_eq!(s.operations(), 2);
        // The same command again does not operate anything.
        s.command(0.1, Phase::B);
        s.update(0.2).unwrap();
        assert_eq!(s.operations(), 2);
    }

    #[test]
    fn without_a_detector_edge_a_move_goes_by_time_alone() {
        let (mut s, pins) = selector(0.02);
        s.command(1.0, Phase::C);
        s.update(1.0).unwrap();
        assert!(closed(&pins).is_empty());
        assert_eq!(s.phase(), None);
        s.update(1.0199).unwrap();
        assert!(closed(&pins).is_empty());
        s.update(1.02).unwrap();
        assert_eq!(closed(&pins), [Phase::C]);
    }

    #[test]
    fn when_the_controller_stops_the_home_falls_back_to_its_default_phase() {
        use crate::Contact;
        use crate::emulated::gpio::{RelayBoard, Watchdog};
        let (mut s, pins) = selector(0.0);
        let mut heartbeat = Pin::default();
        let contacts = [
            Contact::NormallyClosed,
            Contact::NormallyOpen,
            Contact::NormallyOpen,
        ];
        let mut board = RelayBoard::new(
            pins.iter().cloned().zip(contacts).collect(),
            false,
            Watchdog::new(heartbeat.clone(), 500_000_000),
        );
        s.command(0.0, Phase::B);
        s.update(0.0).unwrap();
        heartbeat.set_high().unwrap();
        let mut out = Vec::new();
        board.closed(100_000_000, &mut out);
        assert_eq!(out, [false, true, false], "on B while the heartbeat beats");
        // No heartbeat for longer than the watchdog's timeout: coil power drops.
        board.closed(700_000_000, &mut out);
        assert_eq!(out, [true, false, false], "back on A, never on none or two");
    }

    proptest::proptest! {
        /// Whatever is commanded when, with or without the detector: never two phases closed,
        /// never a make less than the dead time after the break, and every move ends on the
        /// last phase commanded.
        #[test]
        fn phases_are_never_bridged(
            commands in proptest::collection::vec((0.0..0.3f64, 0..3u8), 1..8),
            detector in proptest::bool::ANY,
            dead in 0.0..0.05f64,
        ) {
            let (mut s, pins) = selector(dead);
            let mut commands = commands;
            commands.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut next = 0;
            let mut broke: Option<f64> = None;
            for k in 0..5000u32 {
                // 0.1 ms ticks; the detector's rising edges every 20 ms.
                let t = f64::from(k) * 1e-4;
                if detector && k % 200 == 0 {
                    s.zero_crossing(t);
                }
                while next < commands.len() && commands[next].0 <= t {
                    s.command(t, Phase::ALL[usize::from(commands[next].1)]);
                    next += 1;
                }
                s.update(t).unwrap();
                let c = closed(&pins);
                proptest::prop_assert!(c.len() <= 1, "bridged at {}: {:?}", t, c);
                match (c.is_empty(), broke) {
                    (true, None) => broke = Some(t),
                    (false, Some(b)) => {
                        proptest::prop_assert!(t - b >= dead - 1e-9, "made {} s after the break", t - b);
                        broke = None;
                    }
                    _ => {}
                }
            }
            let last = Phase::ALL[usize::from(commands[commands.len() - 1].1)];
            proptest::prop_assert_eq!(closed(&pins), vec![last]);
        }
    }

    #[test]
    fn a_command_back_before_the_break_moves_nothing() {
        let (mut s, pins) = selector(0.02);
        s.zero_crossing(0.0);
        s.command(0.001, Phase::C);
        s.command(0.002, Phase::A);
        s.update(0.05).unwrap();
        assert_eq!(closed(&pins), [Phase::A]);
        assert_eq!(s.operations(), 0);
    }

    #[test]
    fn the_detector_input_times_the_moves() {
        use embedded_hal_mock::eh1::digital::{Mock, State as Level, Transaction};
        // Low, high (an edge at 0), low, high (an edge at 20 ms).
        let mut input = Mock::new(&[
            Transaction::get(Level::Low),
            Transaction::get(Level::High),
            Transaction::get(Level::Low),
            Transaction::get(Level::High),
        ]);
        let (mut s, _) = selector(0.02);
        for t in [-0.005, 0.0, 0.01, 0.02] {
            s.watch(&mut input, t).unwrap();
        }
        input.done();
        assert_eq!(s.period, Some(0.02));
        assert_eq!(s.next_zero(0.021, Phase::A), Some(0.03));
        // C's zeros lag A's by 240°: 3.33 ms + k·10 ms.
        assert!((s.next_zero(0.021, Phase::C).unwrap() - 0.02333).abs() < 1e-4);
    }
}
