//! Relay outputs: one GPIO per relay coil, with the board's polarity (many relay boards are
//! active-low) and a safe state per output that `fail_safe` drives when the controller stops.

use embedded_hal::digital::OutputPin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// Driving the pin high energizes the coil.
    ActiveHigh,
    /// Driving the pin low energizes the coil (opto-isolated boards).
    ActiveLow,
}

struct Output<P> {
    pin: P,
    safe_closed: bool,
    closed: Option<bool>,
}

/// A bank of relay outputs that only writes a pin when its state changes.
pub struct RelayBank<P: OutputPin> {
    outputs: Vec<Output<P>>,
    polarity: Polarity,
}

impl<P: OutputPin> RelayBank<P> {
    /// `pins` with each output's safe state (true: closed when failing safe).
    pub fn new(pins: impl IntoIterator<Item = (P, bool)>, polarity: Polarity) -> Self {
        RelayBank {
            outputs: pins
                .into_iter()
                .map(|(pin, safe_closed)| Output {
                    pin,
                    safe_closed,
                    closed: None,
                })
                .collect(),
            polarity,
        }
    }

    pub fn len(&self) -> usize {
        self.outputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    fn drive(o: &mut Output<P>, polarity: Polarity, closed: bool) -> Result<(), P::Error> {
        if o.closed == Some(closed) {
            return Ok(());
        }
        let high = closed == (polarity == Polarity::ActiveHigh);
        if high {
            o.pin.set_high()?;
        } else {
            o.pin.set_low()?;
        }
        o.closed = Some(closed);
        Ok(())
    }

    /// Drive every output; `states[i]` true closes relay i. Extra states are ignored.
    pub fn apply(&mut self, states: &[bool]) -> Result<(), P::Error> {
        for (o, &s) in self.outputs.iter_mut().zip(states) {
            Self::drive(o, self.polarity, s)?;
        }
        Ok(())
    }

    /// Drive every output to its safe state.
    pub fn fail_safe(&mut self) -> Result<(), P::Error> {
        for o in &mut self.outputs {
            let safe = o.safe_closed;
            Self::drive(o, self.polarity, safe)?;
        }
        Ok(())
    }

    pub fn into_pins(self) -> Vec<P> {
        self.outputs.into_iter().map(|o| o.pin).collect()
    }
}

/// How a relay's load is wired to its contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Contact {
    /// The load is on while the coil is energized (safe state: off).
    NormallyOpen,
    /// The load is on while the coil is not energized (safe state: on).
    NormallyClosed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};

    #[test]
    fn active_low_inverts_and_writes_only_changes() {
        let a = Mock::new(&[Transaction::set(State::Low), Transaction::set(State::High)]);
        let b = Mock::new(&[Transaction::set(State::High)]);
        let mut bank = RelayBank::new([(a, false), (b, false)], Polarity::ActiveLow);
        bank.apply(&[true, false]).unwrap();
        bank.apply(&[true, false]).unwrap(); // no change, no bus traffic
        bank.apply(&[false, false]).unwrap();
        for mut p in bank.into_pins() {
            p.done();
        }
    }

    #[test]
    fn fail_safe_drives_each_output_to_its_safe_state() {
        // Output 0 feeds a critical load (safe closed), output 1 a heater (safe open).
        let a = Mock::new(&[Transaction::set(State::Low), Transaction::set(State::High)]);
        let b = Mock::new(&[Transaction::set(State::High), Transaction::set(State::Low)]);
        let mut bank = RelayBank::new([(a, true), (b, false)], Polarity::ActiveHigh);
        bank.apply(&[false, true]).unwrap();
        bank.fail_safe().unwrap();
        for mut p in bank.into_pins() {
            p.done();
        }
    }
}
