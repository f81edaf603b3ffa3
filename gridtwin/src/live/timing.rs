//! How long each pass of the live loop takes against its deadline, one tick: a log-scale
//! histogram of the passes' busy time, the worst pass, how many ran past the tick, and how
//! much longer than asked the loop slept between passes (the scheduler's jitter). The loop
//! writes, `/metrics` and the benchmarks read; no locks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets per decade of microseconds; 1 µs to 10 s.
const PER_DECADE: f64 = 16.0;
const BUCKETS: usize = 7 * 16 + 1;

/// One histogram of durations.
struct Histogram {
    counts: [AtomicU64; BUCKETS],
    max_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            max_us: AtomicU64::new(0),
        }
    }

    fn bucket(us: u64) -> usize {
        if us <= 1 {
            return 0;
        }
        (((us as f64).log10() * PER_DECADE).ceil() as usize).min(BUCKETS - 1)
    }

    /// The largest duration a bucket holds.
    fn upper(b: usize) -> Duration {
        Duration::from_micros(10f64.powf(b as f64 / PER_DECADE).round() as u64)
    }

    fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.counts[Self::bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// A duration no less than the `q` quantile, within one bucket (about 15 %).
    fn quantile(&self, q: f64) -> Duration {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::upper(b).min(self.max());
            }
        }
        self.max()
    }

    fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }
}

/// The loop's timing since it started.
pub struct Timing {
    busy: Histogram,
    oversleep: Histogram,
    passes: AtomicU64,
    missed: AtomicU64,
    /// The deadline of a pass.
    pub deadline: Duration,
}

impl Timing {
    pub fn new(deadline: Duration) -> Timing {
        Timing {
            busy: Histogram::new(),
            oversleep: Histogram::new(),
            passes: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            deadline,
        }
    }

    /// One pass: how long it worked, and how much longer than asked it slept before.
    pub fn record(&self, busy: Duration, oversleep: Duration) {
        self.busy.record(busy);
        self.oversleep.record(oversleep);
        self.passes.fetch_add(1, Ordering::Relaxed);
        if busy > self.deadline {
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }

    /// Passes that worked longer than the deadline.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    pub fn busy_quantile(&self, q: f64) -> Duration {
        self.busy.quantile(q)
    }

    pub fn busy_max(&self) -> Duration {
        self.busy.max()
    }

    pub fn oversleep_quantile(&self, q: f64) -> Duration {
        self.oversleep.quantile(q)
    }

    pub fn oversleep_max(&self) -> Duration {
        self.oversleep.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn passes_past_the_deadline_are_missed() {
        let t = Timing::new(Duration::from_millis(5));
        for ms in [1, 2, 3, 4, 5, 6, 40] {
            t.record(Duration::from_millis(ms), Duration::from_micros(80));
        }
        assert_eq!((t.passes(), t.missed()), (7, 2));
        assert_eq!(t.busy_max(), Duration::from_millis(40));
        assert_eq!(t.busy_quantile(1.0), Duration::from_millis(40));
        assert_eq!(t.oversleep_max(), Duration::from_micros(80));
        // The median pass (4 ms) lies in a bucket reaching no further than 15 % above it.
        let p50 = t.busy_quantile(0.5);
        assert!(
            p50 >= Duration::from_millis(4) && p50 <= Duration::from_micros(4600),
            "{p50:?}"
        );
        assert_eq!(
            Timing::new(Duration::ZERO).busy_quantile(0.99),
            Duration::ZERO
        );
    }

    proptest! {
        /// A quantile is never below the true one, nor more than a bucket (15 %) above it,
        /// nor above the maximum.
        #[test]
        fn quantiles_bound_the_truth(us in proptest::collection::vec(1u64..10_000_000, 1..300), q in 0.01f64..1.0) {
            let t = Timing::new(Duration::from_millis(5));
            for u in &us {
                t.record(Duration::from_micros(*u), Duration::ZERO);
            }
            let mut sorted = us.clone();
            sorted.sort_unstable();
            let rank = ((q * us.len() as f64).ceil() as usize).max(1);
            let truth = sorted[rank - 1];
            let got = t.busy_quantile(q).as_micros() as u64;
            prop_assert!(got >= truth, "{got} < {truth}");
            prop_assert!(got as f64 <= truth as f64 * 1.16 + 1.0, "{got} vs {truth}");
            prop_assert!(got <= *sorted.last().unwrap());
        }
    }
}
