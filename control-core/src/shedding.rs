//! Load shedding: keep the active source within its capacity and the site within its demand limit,
//! shedding the least important loads first and restoring them one at a time, most recent first,
//! only after headroom has lasted a while (so a load never flaps).

use std::time::Duration;

use super::events::ShedReason;
use super::settings::SheddingSettings;
use super::time::Instant;

/// A load the shedder may act on.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub index: usize,
    pub priority: u8,
    /// Its recent power draw, W.
    pub watts: f64,
}

/// What the shedder sees this step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Assessment {
    Hold,
    /// Over the limit for the shedding delay: shed at least `excess_w`.
    Shed {
        excess_w: f64,
        reason: ShedReason,
    },
    /// Within the limit with loads shed: the next may come back if it fits under `allowed_w`.
    MayRestore {
        allowed_w: f64,
    },
}

/// The loads to shed to cover `excess_w`: least important first and, among equals, the largest,
/// so fewer loads go. Empty when nothing can be shed.
pub fn choose(on: &mut [Candidate], mut excess_w: f64) -> Vec<usize> {
    on.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(b.watts.total_cmp(&a.watts))
            .then(b.index.cmp(&a.index))
    });
    let mut chosen = Vec::new();
    for c in on.iter() {
        if excess_w <= 0.0 {
            break;
        }
        chosen.push(c.index);
        excess_w -= c.watts;
    }
    chosen
}

/// Demand over fixed windows: the power that may still be drawn for the rest of the window.
#[derive(Debug, Clone)]
struct Demand {
    limit_w: f64,
    window: Duration,
    start: Instant,
    energy_j: f64,
    last: Option<(Instant, f64)>,
}

/// The remaining-time floor that keeps the allowance finite in a window's last second.
const MIN_REMAINING_S: f64 = 1.0;

impl Demand {
    fn allowed(&mut self, now: Instant, p: f64) -> f64 {
        if let Some((t, p0)) = self.last {
            self.energy_j += p0 * now.since(t).as_secs_f64();
        }
        self.last = Some((now, p));
        if now.since(self.start) >= self.window {
            let n = now.since(self.start).as_micros() / self.window.as_micros().max(1);
            self.start = self.start + self.window * n as u32;
            self.energy_j = 0.0;
        }
        let w = self.window.as_secs_f64();
        let remaining = (w - now.since(self.start).as_secs_f64()).max(MIN_REMAINING_S.min(w));
        (self.limit_w * w - self.energy_j) / remaining
    }
}

#[derive(Debug, Clone)]
pub struct Shedder {
    s: SheddingSettings,
    demand: Option<Demand>,
    over_since: Option<Instant>,
    headroom_since: Option<Instant>,
}

impl Shedder {
    pub fn new(s: SheddingSettings) -> Self {
        let demand = s.demand_limit_kw.map(|kw| Demand {
            limit_w: kw.get() * 1e3,
            window: s.demand_window.duration().max(Duration::from_secs(1)),
            start: Instant::ZERO,
            energy_j: 0.0,
            last: None,
        });
        Shedder {
            s,
            demand,
            over_since: None,
            headroom_since: None,
        }
    }

    /// Loads were shed at `now`: any further shedding waits for another `shed_delay` of excess,
    /// so that meters that average over a window (a node's 200 ms) show the relief before the
    /// next load goes.
    pub fn shed_done(&mut self, now: Instant) {
        self.over_since = Some(now);
    }

    /// Forget the headroom timer (after a transfer, a trip or a manual change).
    pub fn restart_restore_timer(&mut self) {
        self.headroom_since = None;
    }

    /// `p` is the measured power of the feeding source, `capacity_w` its capacity.
    pub fn assess(
        &mut self,
        now: Instant,
        p: f64,
        capacity_w: Option<f64>,
        anything_shed: bool,
    ) -> Assessment {
        let demand_w = self.demand.as_mut().map(|d| d.allowed(now, p));
        let (allowed, reason) = match (capacity_w, demand_w) {
            (Some(c), Some(d)) if d < c => (d, ShedReason::Demand),
            (Some(c), _) => (c, ShedReason::Capacity),
            (None, Some(d)) => (d, ShedReason::Demand),
            (None, None) => (f64::INFINITY, ShedReason::Capacity),
        };
        let margin = 1.0 - self.s.restore_margin;
        if p > allowed {
            self.headroom_since = None;
            let since = *self.over_since.get_or_insert(now);
            if now.micros_since(since) < self.s.shed_delay.micros() {
                return Assessment::Hold;
            }
            return Assessment::Shed {
                excess_w: p - allowed * margin,
                reason,
            };
        }
        self.over_since = None;
        if !anything_shed {
            self.headroom_since = None;
            return Assessment::Hold;
        }
        Assessment::MayRestore {
            allowed_w: allowed * margin,
        }
    }

    /// Whether the next shed load, drawing `watts`, comes back now: it must have fitted for the
    /// whole restore delay.
    pub fn restore_now(&mut self, now: Instant, p: f64, watts: f64, allowed_w: f64) -> bool {
        if p + watts > allowed_w {
            self.headroom_since = None;
            return false;
        }
        let since = *self.headroom_since.get_or_insert(now);
        if now.micros_since(since) >= self.s.restore_delay.micros() {
            self.headroom_since = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Positive, Secs};

    fn t(s: f64) -> Instant {
        Instant::from_secs_f64(s)
    }

    fn c(index: usize, priority: u8, watts: f64) -> Candidate {
        Candidate {
            index,
            priority,
            watts,
        }
    }

    /// One step as the load manager drives it.
    fn step(
        sh: &mut Shedder,
        now: f64,
        p: f64,
        cap: Option<f64>,
        on: &[Candidate],
        shed: &[Candidate],
    ) -> String {
        match sh.assess(t(now), p, cap, !shed.is_empty()) {
            Assessment::Hold => "hold".into(),
            Assessment::Shed { excess_w, reason } => {
                format!("shed {:?} {reason:?}", choose(&mut on.to_vec(), excess_w))
            }
            Assessment::MayRestore { allowed_w } => {
                if sh.restore_now(t(now), p, shed[0].watts, allowed_w) {
                    format!("restore {}", shed[0].index)
                } else {
                    "hold".into()
                }
            }
        }
    }

    #[test]
    fn sheds_least_important_first_after_the_delay() {
        let mut sh = Shedder::new(SheddingSettings::default());
        let on = [c(0, 10, 1000.0), c(1, 200, 1500.0), c(2, 150, 2000.0)];
        assert_eq!(step(&mut sh, 0.0, 5000.0, Some(4000.0), &on, &[]), "hold");
        assert_eq!(step(&mut sh, 1.9, 5000.0, Some(4000.0), &on, &[]), "hold");
        // 1000 W too much (+5 % margin): shedding priority 200 (1500 W) suffices.
        assert_eq!(
            step(&mut sh, 2.0, 5000.0, Some(4000.0), &on, &[]),
            "shed [1] Capacity"
        );
    }

    #[test]
    fn restores_only_after_sustained_headroom() {
        let mut sh = Shedder::new(SheddingSettings::default());
        let shed = [c(1, 200, 1500.0)];
        let cap = Some(4000.0);
        assert_eq!(step(&mut sh, 0.0, 2000.0, cap, &[], &shed), "hold");
        // Headroom interrupted at 20 s restarts the 30 s timer.
        assert_eq!(step(&mut sh, 20.0, 3000.0, cap, &[], &shed), "hold");
        assert_eq!(step(&mut sh, 21.0, 2000.0, cap, &[], &shed), "hold");
        assert_eq!(step(&mut sh, 50.0, 2000.0, cap, &[], &shed), "hold");
        assert_eq!(step(&mut sh, 51.0, 2000.0, cap, &[], &shed), "restore 1");
    }

    #[test]
    fn demand_limit_allows_the_remaining_energy() {
        let s = SheddingSettings {
            demand_limit_kw: Positive::new(10.0),
            demand_window: Secs::new(900.0).unwrap(),
            ..Default::default()
        };
        let mut sh = Shedder::new(s);
        let on = [c(0, 100, 5000.0)];
        // 5 kW for 450 s uses 2.25 MJ of the 9 MJ window; the remaining 450 s may then draw
        // (9 - 2.25) MJ / 450 s = 15 kW: 14 kW is fine, 16.5 kW is shed after the delay.
        for k in 0..450 {
            assert_eq!(step(&mut sh, k as f64, 5000.0, None, &on, &[]), "hold");
        }
        for k in 450..460 {
            assert_eq!(step(&mut sh, k as f64, 14_000.0, None, &on, &[]), "hold");
        }
        assert_eq!(step(&mut sh, 460.0, 16_500.0, None, &on, &[]), "hold");
        assert_eq!(
            step(&mut sh, 462.0, 16_500.0, None, &on, &[]),
            "shed [0] Demand"
        );
    }
}
