//! Wi-Fi or cellular: each message arrives after a latency with jitter, or is lost. Messages may
//! overtake each other, as datagrams do.

use serde::{Deserialize, Serialize};

use super::{Arrival, Dir, Link, LinkStats, Pending};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpSpec {
    /// Median one-way latency, s.
    pub latency_s: f64,
    /// Spread of the latency: log-normal with this sigma (0: fixed).
    pub jitter: f64,
    /// Probability a message is lost.
    pub loss: f64,
}

impl IpSpec {
    pub fn check(&self) -> Result<(), String> {
        if !(self.latency_s >= 0.0 && self.jitter >= 0.0 && self.jitter.is_finite()) {
            return Err("latency and jitter must be non-negative".into());
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("loss {} is not within 0 to 1", self.loss));
        }
        Ok(())
    }
}

pub struct IpLink<M> {
    spec: IpSpec,
    arrived: Pending<M>,
    rng: SplitMix64,
    stats: LinkStats,
}

impl<M> IpLink<M> {
    pub fn new(spec: IpSpec, seed: u64) -> Self {
        Self {
            spec,
            arrived: Pending::default(),
            rng: SplitMix64::new(seed),
            stats: LinkStats::default(),
        }
    }
}

impl<M> Link<M> for IpLink<M> {
    fn offer(&mut self, t: f64, dir: Dir, node: usize, _bytes: usize, msg: M) {
        self.stats.offered += 1;
        if self.rng.uniform() < self.spec.loss {
            self.stats.lost += 1;
            return;
        }
        let latency = self.spec.latency_s * (self.spec.jitter * self.rng.normal()).exp();
        self.stats.delivered += 1;
        self.arrived.push(Arrival {
            at: t + latency,
            dir,
            node,
            msg,
        });
    }

    fn poll(&mut self, now: f64) -> Vec<Arrival<M>> {
        self.arrived.take(now)
    }

    fn stats(&self) -> LinkStats {
        self.stats
    }
}
