//! Each site run's telemetry sequence as the fleet sees it: which message numbers arrived,
//! which are missing (a gap), which came late (a gap closed) or twice (QoS 1 may redeliver).

use std::collections::BTreeSet;

/// Missing numbers remembered per run; beyond, gaps are only counted.
const REMEMBERED: usize = 10_000;

/// One run's sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// The highest number seen.
    pub last: u64,
    /// Messages and readings taken (a duplicate is not taken again).
    pub messages: u64,
    pub readings: u64,
    /// Numbers below `last` not seen (the first `REMEMBERED` by number).
    missing: BTreeSet<u64>,
    /// Missing numbers beyond those remembered.
    forgotten: u64,
}

/// What a message's number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next, or after a gap of `skipped` messages.
    New { skipped: u64 },
    /// One that had been missing.
    Late,
    /// Seen before.
    Duplicate,
}

impl Run {
    /// A run restored from the store: its last number and how many are missing (their
    /// numbers are not kept across restarts, so a late one then counts as a duplicate).
    pub fn restored(last: u64, messages: u64, readings: u64, missing: u64) -> Run {
        Run {
            last,
            messages,
            readings,
            missing: BTreeSet::new(),
            forgotten: missing,
        }
    }

    pub fn missing(&self) -> u64 {
        self.missing.len() as u64 + self.forgotten
    }

    /// Note message `seq` carrying `readings`; whether to take it.
    pub fn see(&mut self, seq: u64, readings: u64) -> Seen {
        let seen = if seq > self.last {
            let skipped = seq - self.last - 1;
            for s in self.last + 1..seq {
                if self.missing.len() < REMEMBERED {
                    self.missing.insert(s);
                } else {
                    self.forgotten += seq - s;
                    break;
                }
            }
            self.last = seq;
            Seen::New { skipped }
        } else if self.missing.remove(&seq) {
            Seen::Late
        } else {
            return Seen::Duplicate;
        };
        self.messages += 1;
        self.readings += readings;
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gaps_late_arrivals_and_duplicates() {
        let mut r = Run::default();
        assert_eq!(r.see(1, 10), Seen::New { skipped: 0 });
        assert_eq!(r.see(2, 10), Seen::New { skipped: 0 });
        assert_eq!(r.see(2, 10), Seen::Duplicate);
        assert_eq!(r.see(5, 10), Seen::New { skipped: 2 });
        assert_eq!(r.missing(), 2);
        assert_eq!(r.see(4, 10), Seen::Late);
        assert_eq!(r.see(4, 10), Seen::Duplicate);
        assert_eq!(r.missing(), 1);
        assert_eq!((r.messages, r.readings, r.last), (4, 40, 5));
    }

    proptest! {
        /// Whatever order and repetition messages 1..=n arrive in, each is taken once, and
        /// once all have arrived none is missing; with some withheld, exactly those are.
        #[test]
        fn every_message_is_taken_once(
            order in Just((1u64..=40).collect::<Vec<_>>()).prop_shuffle(),
            repeats in proptest::collection::vec(1u64..=40, 0..20),
            withheld in proptest::collection::btree_set(1u64..40, 0..5),
        ) {
            let mut r = Run::default();
            let mut taken = 0;
            for s in order.iter().chain(&repeats).filter(|s| !withheld.contains(s)) {
                if r.see(*s, 3) != Seen::Duplicate {
                    taken += 1;
                }
            }
            let sent = 40 - withheld.len() as u64;
            prop_assert_eq!(taken, sent);
            prop_assert_eq!(r.messages, sent);
            prop_assert_eq!(r.readings, 3 * sent);
            prop_assert_eq!(r.missing(), withheld.len() as u64);
        }
    }
}
