//! Sensor faults: what a broken transducer reports instead of the truth.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SensorFault {
    /// The reading freezes at the value it had when the fault began.
    Stuck,
    /// Gaussian noise with this standard deviation, as a fraction of the true value.
    Noisy { sigma: f64 },
    /// The channel reads zero (open burden resistor, unplugged clamp).
    Dead,
}

/// One measured channel with an optional fault in force.
#[derive(Debug, Clone, Default)]
pub struct Sensor {
    fault: Option<SensorFault>,
    frozen: Option<f64>,
}

impl Sensor {
    pub fn set_fault(&mut self, fault: Option<SensorFault>) {
        self.fault = fault;
        self.frozen = None;
    }

    pub fn is_faulty(&self) -> bool {
        self.fault.is_some()
    }

    pub fn fault(&self) -> Option<SensorFault> {
        self.fault
    }

    pub fn read(&mut self, truth: f64, rng: &mut SplitMix64) -> f64 {
        match self.fault {
            None => truth,
            Some(SensorFault::Stuck) => *self.frozen.get_or_insert(truth),
            Some(SensorFault::Noisy { sigma }) => truth * (1.0 + sigma * rng.normal()),
            Some(SensorFault::Dead) => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_sensor_holds_first_value() {
        let mut rng = SplitMix64::new(1);
        let mut s = Sensor::default();
        s.set_fault(Some(SensorFault::Stuck));
        assert_eq!(s.read(5.0, &mut rng), 5.0);
        assert_eq!(s.read(9.0, &mut rng), 5.0);
        s.set_fault(None);
        assert_eq!(s.read(9.0, &mut rng), 9.0);
    }
}
