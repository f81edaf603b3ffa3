//! Protection elements after ANSI device numbers, and the trip / retry / lockout sequence.

use super::settings::{Curve, InverseStage, Retry, Stage};
use super::time::Instant;

/// A definite-time element: operates when the quantity stays beyond pickup for the delay, and
/// resets only once it comes back past the dropout (hysteresis).
#[derive(Debug, Clone)]
pub struct DefiniteTime {
    /// Thresholds times `sign`, so over- and under-elements share one branch-free test.
    pickup: f64,
    dropout: f64,
    delay_us: u64,
    /// +1 for over-elements (operate above pickup), -1 for under-elements.
    sign: f64,
    picked_up_at: Option<Instant>,
    operated: bool,
}

impl DefiniteTime {
    /// `scale` turns the stage's per-unit thresholds into measured units (1 for amps).
    pub fn new(stage: &Stage, scale: f64, over: bool) -> Self {
        let pickup = stage.pickup.get() * scale;
        let dropout = stage.dropout.map(|d| d.get() * scale).unwrap_or(if over {
            pickup * 0.98
        } else {
            pickup * 1.02
        });
        let sign = if over { 1.0 } else { -1.0 };
        DefiniteTime {
            pickup: sign * pickup,
            dropout: sign * dropout,
            delay_us: stage.delay.micros(),
            sign,
            picked_up_at: None,
            operated: false,
        }
    }

    fn beyond(&self, x: f64, threshold: f64) -> bool {
        self.sign * x > threshold
    }

    /// Feed one measurement; true on the step the element operates.
    pub fn update(&mut self, now: Instant, x: f64) -> bool {
        if self.operated {
            if !self.beyond(x, self.dropout) {
                self.operated = false;
                self.picked_up_at = None;
            }
            return false;
        }
        if self.beyond(x, self.pickup) {
            let since = *self.picked_up_at.get_or_insert(now);
            if now.micros_since(since) >= self.delay_us {
                self.operated = true;
                return true;
            }
        } else if !self.beyond(x, self.dropout) {
            self.picked_up_at = None;
        }
        false
    }

    pub fn reset(&mut self) {
        self.picked_up_at = None;
        self.operated = false;
    }

    /// Whether `x` is inside the reset threshold.
    pub fn is_clear(&self, x: f64) -> bool {
        !self.beyond(x, self.dropout)
    }
}

/// Inverse-time overcurrent (51): integrates 1/t(I) while above the setting and trips at 1,
/// so a current that varies is timed the way an electronic relay times it. Resets at once when
/// the current falls below the setting (IEC 60255-151 instantaneous reset).
#[derive(Debug, Clone)]
pub struct InverseTime {
    pickup: f64,
    curve: Curve,
    tms: f64,
    progress: f64,
    last: Option<Instant>,
}

impl InverseTime {
    pub fn new(stage: &InverseStage) -> Self {
        InverseTime {
            pickup: stage.pickup.get(),
            curve: stage.curve,
            tms: stage.tms.get(),
            progress: 0.0,
            last: None,
        }
    }

    pub fn update(&mut self, now: Instant, i: f64) -> bool {
        let last = self.last.replace(now);
        if i <= self.pickup {
            self.progress = 0.0;
            return false;
        }
        let dt = last.map_or(0.0, |l| now.micros_since(l) as f64 * 1e-6);
        self.progress += dt / self.curve.operate_time(self.tms, i / self.pickup);
        if self.progress >= 1.0 {
            self.progress = 0.0;
            return true;
        }
        false
    }

    pub fn reset(&mut self) {
        self.progress = 0.0;
        self.last = None;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripState {
    Normal,
    /// Open; closes again at `retry_at` (attempt `attempt`).
    Tripped {
        retry_at: Instant,
        attempt: u32,
    },
    /// Open until an operator resets it.
    LockedOut,
}

/// What happened on a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripOutcome {
    WillRetry,
    LockedOut,
}

/// Bounded automatic retries, then lockout.
#[derive(Debug, Clone)]
pub struct Recloser {
    retry: Retry,
    state: TripState,
    trips: u32,
    last_trip: Option<Instant>,
}

impl Recloser {
    pub fn new(retry: Retry) -> Self {
        Recloser {
            retry,
            state: TripState::Normal,
            trips: 0,
            last_trip: None,
        }
    }

    pub fn state(&self) -> TripState {
        self.state
    }

    pub fn is_normal(&self) -> bool {
        self.state == TripState::Normal
    }

    pub fn trip(&mut self, now: Instant) -> TripOutcome {
        if self
            .last_trip
            .is_some_and(|t| now.since(t) >= self.retry.reset_after.duration())
        {
            self.trips = 0;
        }
        self.trips += 1;
        self.last_trip = Some(now);
        if self.trips > self.retry.attempts {
            self.state = TripState::LockedOut;
            TripOutcome::LockedOut
        } else {
            self.state = TripState::Tripped {
                retry_at: now + self.retry.delay.duration(),
                attempt: self.trips,
            };
            TripOutcome::WillRetry
        }
    }

    /// Returns the attempt number when a retry falls due.
    pub fn poll(&mut self, now: Instant) -> Option<u32> {
        match self.state {
            TripState::Tripped { retry_at, attempt } if now >= retry_at => {
                self.state = TripState::Normal;
                Some(attempt)
            }
            _ => None,
        }
    }

    /// Operator reset: back to normal with a fresh count.
    pub fn reset(&mut self) {
        self.state = TripState::Normal;
        self.trips = 0;
        self.last_trip = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Positive, Secs};

    fn t(s: f64) -> Instant {
        Instant::from_secs_f64(s)
    }

    #[test]
    fn iec_curve_times_match_the_standard_formula() {
        // Independent values: t = TMS * k / (M^a - 1) evaluated by hand.
        // SI, TMS 0.1, M = 10: 0.014 / (10^0.02 - 1) = 0.014 / 0.047129 = 0.29706 s
        assert!((Curve::StandardInverse.operate_time(0.1, 10.0) - 0.29706).abs() < 1e-4);
        // VI, TMS 1, M = 2: 13.5 s; EI, TMS 1, M = 2: 80/3 s; LTI, TMS 1, M = 5: 30 s
        assert!((Curve::VeryInverse.operate_time(1.0, 2.0) - 13.5).abs() < 1e-12);
        assert!((Curve::ExtremelyInverse.operate_time(1.0, 2.0) - 80.0 / 3.0).abs() < 1e-12);
        assert!((Curve::LongTimeInverse.operate_time(1.0, 5.0) - 30.0).abs() < 1e-12);
        assert!(Curve::StandardInverse.operate_time(1.0, 1.0).is_infinite());
    }

    #[test]
    fn inverse_time_element_trips_at_the_curve_time() {
        let stage = InverseStage {
            pickup: Positive::new(10.0).unwrap(),
            curve: Curve::VeryInverse,
            tms: Positive::new(0.5).unwrap(),
        };
        let mut e = InverseTime::new(&stage);
        // 30 A = 3 x Is: t = 0.5 * 13.5 / 2 = 3.375 s; 20 ms steps.
        let mut tripped_at = None;
        for k in 0..1000 {
            if e.update(t(k as f64 * 0.02), 30.0) {
                tripped_at = Some(k as f64 * 0.02);
                break;
            }
        }
        let at = tripped_at.expect("must trip");
        assert!((at - 3.375).abs() <= 0.02, "tripped at {at}");
    }

    #[test]
    fn definite_time_needs_the_full_delay_and_has_hysteresis() {
        let stage = Stage {
            pickup: Positive::new(1.1).unwrap(),
            dropout: None,
            delay: Secs::new(2.0).unwrap(),
        };
        let mut e = DefiniteTime::new(&stage, 230.0, true);
        assert!(!e.update(t(0.0), 260.0));
        assert!(!e.update(t(1.9), 260.0));
        assert!(!e.update(t(1.95), 200.0), "a dip resets the timer");
        assert!(!e.update(t(2.0), 260.0));
        assert!(!e.update(t(3.9), 260.0));
        assert!(e.update(t(4.0), 260.0));
        // Dropout at 0.98 * 253 = 247.94 V: 250 V keeps it operated, 247 V resets it.
        assert!(!e.update(t(5.0), 250.0));
        assert!(!e.update(t(6.0), 247.0));
        assert!(!e.update(t(6.1), 260.0));
        assert!(e.update(t(8.1), 260.0));
    }

    #[test]
    fn recloser_retries_then_locks_out() {
        let mut r = Recloser::new(Retry {
            attempts: 2,
            delay: Secs::new(5.0).unwrap(),
            reset_after: Secs::new(300.0).unwrap(),
        });
        assert_eq!(r.trip(t(0.0)), TripOutcome::WillRetry);
        assert_eq!(r.poll(t(4.9)), None);
        assert_eq!(r.poll(t(5.0)), Some(1));
        assert_eq!(r.trip(t(6.0)), TripOutcome::WillRetry);
        assert_eq!(r.poll(t(11.0)), Some(2));
        assert_eq!(r.trip(t(12.0)), TripOutcome::LockedOut);
        assert_eq!(r.poll(t(1e6)), None);
        r.reset();
        assert!(r.is_normal());
        // Trips far apart do not accumulate.
        assert_eq!(r.trip(t(1000.0)), TripOutcome::WillRetry);
        assert_eq!(r.trip(t(2000.0)), TripOutcome::WillRetry);
        assert_eq!(r.trip(t(3000.0)), TripOutcome::WillRetry);
    }
}
