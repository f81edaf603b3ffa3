//! A campus: each feeder's homes share an RS-485 bus polled by a concentrator at the feeder's
//! head, which forwards what it read to the transformer controller over LoRa, batched: every
//! `batch_s` it packs the reports it holds into as few frames as the payload limit allows.
//! Commands travel the other way: a LoRa downlink to the concentrator, then the bus.

use serde::{Deserialize, Serialize};

use super::lora::{LoraLink, LoraSpec};
use super::rs485::{Rs485Link, Rs485Spec};
use super::{Arrival, Dir, Link, LinkStats};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelaySpec {
    /// Each node's feeder (its concentrator), by node index.
    pub feeder_of: Vec<usize>,
    /// The bus on every feeder (`nodes` is set per feeder from `feeder_of`).
    pub bus: Rs485Spec,
    /// The concentrators' LoRa: one `per` entry per feeder.
    pub lora: LoraSpec,
    /// How often a concentrator sends what it has read, s.
    pub batch_s: f64,
    /// Largest application payload in one LoRa frame, bytes (LoRaWAN EU868: 51 at SF12,
    /// 222 at SF7).
    pub max_payload: usize,
}

impl RelaySpec {
    pub fn check(&self) -> Result<(), String> {
        self.bus.check().map_err(|e| format!("bus: {e}"))?;
        self.lora.check().map_err(|e| format!("LoRa: {e}"))?;
        if !(self.batch_s.is_finite() && self.batch_s >= 1.0) {
            return Err(format!(
                "batch interval {} s must be at least 1 s",
                self.batch_s
            ));
        }
        if let Some(f) = self.feeder_of.iter().find(|&&f| f >= self.lora.per.len()) {
            return Err(format!(
                "feeder {f} has no concentrator (LoRa per has {} entries)",
                self.lora.per.len()
            ));
        }
        if self.max_payload == 0 {
            return Err("max_payload must be positive".into());
        }
        Ok(())
    }
}

/// Messages in one concentrator frame: (node, bytes, message).
type Batch<M> = Vec<(usize, usize, M)>;

pub struct RelayLink<M> {
    spec: RelaySpec,
    /// Per feeder: its bus, and each global node's index on it.
    /// The buses carry each message with its size, which the concentrator needs for packing.
    buses: Vec<Rs485Link<(usize, M)>>,
    local: Vec<usize>,
    /// Global node index from (feeder, local index).
    global: Vec<Vec<usize>>,
    lora: LoraLink<Batch<M>>,
    /// Reports each concentrator has read and not yet sent.
    held: Vec<Batch<M>>,
    next_batch: f64,
    out: Vec<Arrival<M>>,
    stats: LinkStats,
}

impl<M> RelayLink<M> {
    pub fn new(spec: RelaySpec, seed: u64) -> Self {
        let feeders = spec.lora.per.len();
        let mut global = vec![Vec::new(); feeders];
        let mut local = Vec::with_capacity(spec.feeder_of.len());
        for (node, &f) in spec.feeder_of.iter().enumerate() {
            let f = f.min(feeders.saturating_sub(1));
            local.push(global[f].len());
            global[f].push(node);
        }
        let buses = global
            .iter()
            .enumerate()
            .map(|(f, nodes)| {
                let mut bus = spec.bus.clone();
                bus.nodes = nodes.len();
                Rs485Link::new(bus, seed.wrapping_add(f as u64 + 1))
            })
            .collect();
        Self {
            lora: LoraLink::new(spec.lora.clone(), seed),
            held: (0..feeders).map(|_| Vec::new()).collect(),
            next_batch: spec.batch_s,
            spec,
            buses,
            local,
            global,
            out: Vec::new(),
            stats: LinkStats::default(),
        }
    }

    /// Move everything on by `to`: LoRa arrivals (reports out, commands onto the buses), then
    /// the buses (reports into the concentrators, commands out to the nodes).
    fn advance(&mut self, to: f64) {
        for a in self.lora.poll(to) {
            let f = a.node;
            match a.dir {
                Dir::Up => self
                    .out
                    .extend(a.msg.into_iter().map(|(node, _, msg)| Arrival {
                        at: a.at,
                        dir: Dir::Up,
                        node,
                        msg,
                    })),
                Dir::Down => {
                    for (node, bytes, msg) in a.msg {
                        self.buses[f].offer(a.at, Dir::Down, self.local[node], bytes, (bytes, msg));
                    }
                }
            }
        }
        for (f, bus) in self.buses.iter_mut().enumerate() {
            for a in bus.poll(to) {
                let node = self.global[f][a.node];
                let (bytes, msg) = a.msg;
                match a.dir {
                    Dir::Up => self.held[f].push((node, bytes, msg)),
                    Dir::Down => self.out.push(Arrival {
                        at: a.at,
                        dir: Dir::Down,
                        node,
                        msg,
                    }),
                }
            }
        }
    }

    /// Each concentrator sends what it holds, packed into frames of at most `max_payload`, in
    /// its own slot of the interval so that concentrators never talk over each other.
    fn flush(&mut self, t: f64) {
        let n = self.held.len();
        for f in 0..n {
            let t = t + self.spec.batch_s * f as f64 / n as f64;
            let mut frame: Batch<M> = Vec::new();
            let mut size = 0;
            for (node, b, msg) in std::mem::take(&mut self.held[f]) {
                if size + b > self.spec.max_payload && !frame.is_empty() {
                    self.lora
                        .offer(t, Dir::Up, f, size, std::mem::take(&mut frame));
                    size = 0;
                }
                frame.push((node, b, msg));
                size += b;
            }
            if !frame.is_empty() {
                self.lora.offer(t, Dir::Up, f, size, frame);
            }
        }
    }

    /// What the concentrators' LoRa did (frames, airtime, losses).
    pub fn radio_stats(&self) -> LinkStats {
        self.lora.stats()
    }
}

impl<M> Link<M> for RelayLink<M> {
    fn offer(&mut self, t: f64, dir: Dir, node: usize, bytes: usize, msg: M) {
        self.stats.offered += 1;
        let Some(&f) = self.spec.feeder_of.get(node) else {
            self.stats.lost += 1;
            return;
        };
        let f = f.min(self.buses.len().saturating_sub(1));
        self.poll_to(t);
        match dir {
            Dir::Up => self.buses[f].offer(t, Dir::Up, self.local[node], bytes, (bytes, msg)),
            Dir::Down => self
                .lora
                .offer(t, Dir::Down, f, bytes, vec![(node, bytes, msg)]),
        }
    }

    fn poll(&mut self, now: f64) -> Vec<Arrival<M>> {
        self.poll_to(now);
        let n = self.out.iter().filter(|a| a.at <= now).count();
        self.out.sort_by(|a, b| a.at.total_cmp(&b.at));
        let got: Vec<Arrival<M>> = self.out.drain(..n).collect();
        self.stats.delivered += got.len() as u64;
        got
    }

    fn stats(&self) -> LinkStats {
        let (r, buses) = (self.lora.stats(), self.buses.iter().map(|b| b.stats()));
        let mut s = self.stats;
        s.lost = r.lost + buses.clone().map(|b| b.lost).sum::<u64>();
        s.collided = r.collided;
        s.dropped = r.dropped + buses.map(|b| b.dropped).sum::<u64>();
        s.busy_s = r.busy_s;
        s
    }
}

impl<M> RelayLink<M> {
    /// Run the batches due by `to`, each after what reached the concentrators by then.
    fn poll_to(&mut self, to: f64) {
        while self.next_batch <= to {
            let t = self.next_batch;
            self.advance(t);
            self.flush(t);
            // A zero interval would never finish; `check` refuses it, this keeps it finite.
            self.next_batch += self.spec.batch_s.max(1e-3);
        }
        self.advance(to);
    }
}
