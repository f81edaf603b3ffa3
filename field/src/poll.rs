//! The master's schedule, sans-IO (no clock, no port: `now` is passed in): each device read
//! once a cycle; a failed read tried again at once `retries` times; a device whose polls fail
//! `lost_after` times running is lost, and probed again after 1 s, 2 s, 4 s ... up to
//! `reprobe_max_s`; its first good answer brings it back.

use crate::config::PollCfg;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    Lost { device: usize, error: String },
    Back { device: usize },
}

#[derive(Debug, Clone)]
struct Device {
    /// When this cycle's read was due: the next is a cycle on, however long retries took.
    slot: f64,
    due: f64,
    /// Tries of the current poll so far.
    tries: u32,
    failed_polls: u32,
    lost: bool,
    backoff: f64,
    last_ok: Option<f64>,
    /// A command's confirmation: read as soon as due, before the cycle's backlog.
    urgent: bool,
}

#[derive(Debug, Clone)]
pub struct Poller {
    cfg: PollCfg,
    devices: Vec<Device>,
}

impl Poller {
    /// `n` devices, all due at `now`.
    pub fn new(n: usize, cfg: PollCfg, now: f64) -> Poller {
        Poller {
            cfg,
            devices: vec![
                Device {
                    slot: now,
                    due: now,
                    tries: 0,
                    failed_polls: 0,
                    lost: false,
                    backoff: 1.0,
                    last_ok: None,
                    urgent: false,
                };
                n
            ],
        }
    }

    /// The device to read next at `now`, and when: an urgent one as soon as it is due, else
    /// the one due first.
    pub fn next(&self, now: f64) -> Option<(usize, f64)> {
        let first = |urgent: bool| {
            self.devices
                .iter()
                .enumerate()
                .filter(|(_, d)| d.urgent || !urgent)
                .map(|(k, d)| (k, d.due))
                .min_by(|a, b| a.1.total_cmp(&b.1))
        };
        first(true).filter(|u| u.1 <= now).or_else(|| first(false))
    }

    pub fn handle_ok(&mut self, now: f64, k: usize, out: &mut Vec<PollEvent>) {
        let cycle = self.cfg.cycle_s;
        let d = &mut self.devices[k];
        if d.lost {
            out.push(PollEvent::Back { device: k });
        }
        // The next read a cycle after this one was due, so that the cycle does not drift by
        // the time reads take (unless the line is too slow for the cycle).
        let slot = (d.slot + cycle).max(now);
        *d = Device {
            slot,
            due: slot,
            tries: 0,
            failed_polls: 0,
            lost: false,
            backoff: 1.0,
            last_ok: Some(now),
            urgent: false,
        };
    }

    /// A failed try; true when it failed the poll (no tries left).
    pub fn handle_err(
        &mut self,
        now: f64,
        k: usize,
        error: &str,
        out: &mut Vec<PollEvent>,
    ) -> bool {
        let cfg = self.cfg;
        let d = &mut self.devices[k];
        d.tries += 1;
        if d.tries <= cfg.retries && !d.lost {
            d.due = now;
            return false;
        }
        d.tries = 0;
        d.urgent = false;
        d.failed_polls += 1;
        if !d.lost && d.failed_polls >= cfg.lost_after {
            d.lost = true;
            d.backoff = 1.0;
            out.push(PollEvent::Lost {
                device: k,
                error: error.to_string(),
            });
        }
        if d.lost {
            d.slot = now + d.backoff;
            d.backoff = (d.backoff * 2.0).min(cfg.reprobe_max_s);
        } else {
            d.slot = (d.slot + cfg.cycle_s).max(now);
        }
        d.due = d.slot;
        true
    }

    /// Read device `k` by `at` (a command's confirmation), its cycle unchanged.
    pub fn expedite(&mut self, k: usize, at: f64) {
        let d = &mut self.devices[k];
        if !d.lost {
            d.due = d.due.min(at);
            d.urgent = true;
        }
    }

    pub fn is_lost(&self, k: usize) -> bool {
        self.devices[k].lost
    }

    /// A device's values read at `now` are fresh: a good read within `stale_s`.
    pub fn fresh(&self, k: usize, now: f64) -> bool {
        let d = &self.devices[k];
        !d.lost && d.last_ok.is_some_and(|t| now - t <= self.cfg.stale_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PollCfg {
        PollCfg {
            timeout_ms: 100,
            retries: 1,
            lost_after: 3,
            reprobe_max_s: 8.0,
            cycle_s: 1.0,
            stale_s: 5.0,
        }
    }

    #[test]
    fn a_device_is_retried_lost_reprobed_at_growing_intervals_and_back() {
        let mut p = Poller::new(2, cfg(), 0.0);
        let mut ev = Vec::new();
        let mut now = 0.0;
        // Device 1 answers; device 0 never does.
        let mut probes = Vec::new();
        while now < 40.0 {
            let (k, due) = p.next(now).unwrap();
            now = f64::max(now, due) + 0.1;
            if k == 0 {
                if p.is_lost(0) {
                    probes.push(now);
                }
                p.handle_err(now, 0, "no answer", &mut ev);
            } else {
                p.handle_ok(now, 1, &mut ev);
            }
        }
        // Three polls of two tries each, then lost once.
        assert_eq!(
            ev,
            [PollEvent::Lost {
                device: 0,
                error: "no answer".into()
            }]
        );
        assert!(p.is_lost(0) && !p.fresh(0, now) && p.fresh(1, now));
        // Probes spaced 1, 2, 4, 8, 8 ... s (plus the reads' time).
        let gaps: Vec<f64> = probes.windows(2).map(|w| w[1] - w[0]).collect();
        for (g, want) in gaps.iter().zip([2.0, 4.0, 8.0, 8.0]) {
            assert!((g - want - 0.1).abs() < 1e-9, "{gaps:?}");
        }
        p.handle_ok(now, 0, &mut ev);
        assert_eq!(ev.last(), Some(&PollEvent::Back { device: 0 }));
        assert!(p.fresh(0, now));
    }

    #[test]
    fn one_failed_try_is_retried_at_once_and_not_reported() {
        let mut p = Poller::new(1, cfg(), 0.0);
        let mut ev = Vec::new();
        assert!(!p.handle_err(0.1, 0, "crc", &mut ev), "a try left");
        assert_eq!(p.next(0.1), Some((0, 0.1)));
        p.handle_ok(0.2, 0, &mut ev);
        assert!(ev.is_empty());
        assert_eq!(p.next(0.2), Some((0, 1.0)));
        // Values age out without a good read.
        assert!(p.fresh(0, 5.2) && !p.fresh(0, 5.3));
    }

    #[test]
    fn a_confirming_read_goes_before_the_backlog_once_due() {
        let mut p = Poller::new(3, cfg(), 0.0);
        let mut ev = Vec::new();
        // Device 2 read at 0 and commanded: its confirmation is due at 0.5, while 0 and 1
        // are still due from 0 (a slow line's backlog).
        p.handle_ok(0.0, 2, &mut ev);
        p.expedite(2, 0.5);
        assert_eq!(p.next(0.0), Some((0, 0.0)));
        assert_eq!(p.next(0.5), Some((2, 0.5)));
        p.handle_ok(0.5, 2, &mut ev);
        // Then the backlog, and device 2 on its cycle again.
        assert_eq!(p.next(0.5), Some((0, 0.0)));
        assert_eq!(p.next(0.6), Some((0, 0.0)));
        assert!(!p.devices[2].urgent);
    }
}
