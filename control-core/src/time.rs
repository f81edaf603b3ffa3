//! Controller time: microseconds on a monotonic count that the caller advances. Integer time keeps
//! runs bit-for-bit reproducible; nothing here reads a clock.

use std::ops::Add;
use std::time::Duration;

use chrono::NaiveDateTime;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    /// Seconds from the start, rounded to the microsecond.
    pub fn from_secs_f64(s: f64) -> Self {
        Instant((s.max(0.0) * 1e6).round() as u64)
    }

    pub fn as_micros(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Microseconds since `earlier`, zero if `earlier` is in the future (cheaper than `since`
    /// in per-step timer checks).
    pub fn micros_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The wall-clock time of this instant when `epoch` is that of `Instant::ZERO` (the latest
    /// time there is, past it).
    pub fn wall(self, epoch: NaiveDateTime) -> NaiveDateTime {
        let since = chrono::Duration::microseconds(self.0.min(i64::MAX as u64) as i64);
        epoch
            .checked_add_signed(since)
            .unwrap_or(NaiveDateTime::MAX)
    }

    /// Time elapsed since `earlier`, zero if `earlier` is in the future.
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_micros() as u64))
    }
}
