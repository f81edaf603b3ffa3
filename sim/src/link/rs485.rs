//! An RS-485 bus polled by the controller, as Modbus RTU runs one: the master sends a request,
//! the addressed node answers, then the next. Reliable (a frame error rate, not fading), but a
//! node's report waits for its turn and the whole poll of N nodes is N transactions long.
//!
//! A node's report is a register it keeps current: a newer report replaces one not yet read.
//! Commands to nodes go first, between polls.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::{Arrival, Dir, Link, LinkStats, Pending};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rs485Spec {
    pub baud: u32,
    /// Bits per character on the wire: 11 for Modbus RTU's 8E1 (start, 8 data, parity, stop).
    pub bits_per_char: u32,
    /// A poll request's size, bytes (Modbus read: address, function, start, count, CRC = 8).
    pub request_bytes: usize,
    /// A node's answer when it has nothing new, bytes.
    pub empty_reply_bytes: usize,
    /// Bytes a reply or a command adds around its payload (address, function, count, CRC).
    pub overhead_bytes: usize,
    /// The gap after each frame (Modbus RTU: 3.5 characters) plus the node's turnaround, s.
    pub turnaround_s: f64,
    /// Probability a transaction is corrupted (CRC fails and is discarded).
    pub frame_error_rate: f64,
    pub nodes: usize,
}

impl Rs485Spec {
    /// Modbus RTU at `baud`: 8E1, 8-byte requests, 5-byte empty replies, 5 bytes of framing,
    /// 3.5 characters of silence plus 1 ms turnaround.
    pub fn modbus(baud: u32, nodes: usize) -> Self {
        Self {
            baud,
            bits_per_char: 11,
            request_bytes: 8,
            empty_reply_bytes: 5,
            overhead_bytes: 5,
            turnaround_s: 3.5 * 11.0 / f64::from(baud) + 1e-3,
            frame_error_rate: 1e-5,
            nodes,
        }
    }

    pub fn frame_s(&self, bytes: usize) -> f64 {
        bytes as f64 * f64::from(self.bits_per_char) / f64::from(self.baud)
    }

    /// A poll that returns a report of `bytes` payload: request, turnaround, reply, turnaround.
    pub fn transaction_s(&self, reply_bytes: usize) -> f64 {
        self.frame_s(self.request_bytes) + self.frame_s(reply_bytes) + 2.0 * self.turnaround_s
    }

    pub fn check(&self) -> Result<(), String> {
        if self.baud == 0 || self.bits_per_char < 9 {
            return Err("baud must be positive and a character at least 9 bits".into());
        }
        if !(0.0..=1.0).contains(&self.frame_error_rate) {
            return Err(format!(
                "frame error rate {} is not within 0 to 1",
                self.frame_error_rate
            ));
        }
        if !(self.turnaround_s.is_finite() && self.turnaround_s >= 0.0) {
            return Err("turnaround must be positive".into());
        }
        Ok(())
    }
}

pub struct Rs485Link<M> {
    spec: Rs485Spec,
    /// Each node's report not yet read: (payload bytes, message).
    reports: Vec<Option<(usize, M)>>,
    /// Commands waiting for the bus: (offered at, node, bytes, message).
    commands: VecDeque<(f64, usize, usize, M)>,
    /// The bus is simulated up to here.
    bus_t: f64,
    next_node: usize,
    arrived: Pending<M>,
    rng: SplitMix64,
    stats: LinkStats,
}

impl<M> Rs485Link<M> {
    pub fn new(spec: Rs485Spec, seed: u64) -> Self {
        Self {
            reports: (0..spec.nodes).map(|_| None).collect(),
            commands: VecDeque::new(),
            bus_t: 0.0,
            next_node: 0,
            spec,
            arrived: Pending::default(),
            rng: SplitMix64::new(seed),
            stats: LinkStats::default(),
        }
    }

    /// Time to poll every node once with a report of `bytes` each.
    pub fn poll_cycle_s(&self, bytes: usize) -> f64 {
        self.spec.nodes as f64 * self.spec.transaction_s(bytes + self.spec.overhead_bytes)
    }

    fn deliver(&mut self, at: f64, dir: Dir, node: usize, msg: M) {
        if self.rng.uniform() < self.spec.frame_error_rate {
            self.stats.lost += 1;
        } else {
            self.stats.delivered += 1;
            self.arrived.push(Arrival { at, dir, node, msg });
        }
    }
}

impl<M> Link<M> for Rs485Link<M> {
    fn offer(&mut self, t: f64, dir: Dir, node: usize, bytes: usize, msg: M) {
        self.stats.offered += 1;
        if node >= self.spec.nodes {
            self.stats.lost += 1;
            return;
        }
        // Catch the bus up first, so the offer joins it at its own time.
        self.advance(t);
        match dir {
            Dir::Up => {
                if self.reports[node].replace((bytes, msg)).is_some() {
                    // The unread report is overwritten: it never goes anywhere.
                    self.stats.dropped += 1;
                }
            }
            Dir::Down => self.commands.push_back((t, node, bytes, msg)),
        }
    }

    fn poll(&mut self, now: f64) -> Vec<Arrival<M>> {
        self.advance(now);
        self.arrived.take(now)
    }

    fn stats(&self) -> LinkStats {
        self.stats
    }
}

impl<M> Rs485Link<M> {
    /// Run whole transactions that start before `now` (an offer at a transaction's start makes
    /// it); their replies may land after `now`.
    fn advance(&mut self, now: f64) {
        while self.bus_t < now && self.spec.nodes > 0 {
            if self
                .commands
                .front()
                .is_some_and(|(t, ..)| *t <= self.bus_t)
            {
                let Some((_, node, bytes, msg)) = self.commands.pop_front() else {
                    break;
                };
                // A write: the command goes out, then the node echoes it as the acknowledgement.
                let out = self.spec.frame_s(bytes + self.spec.overhead_bytes);
                let d = out + self.spec.turnaround_s;
                let at = self.bus_t + d;
                self.deliver(at, Dir::Down, node, msg);
                let busy = d + self.spec.frame_s(self.spec.request_bytes) + self.spec.turnaround_s;
                self.stats.busy_s += busy;
                self.bus_t += busy;
                continue;
            }
            let node = self.next_node;
            self.next_node = (node + 1) % self.spec.nodes;
            let reply = self.reports[node].take();
            let bytes = reply
                .as_ref()
                .map_or(self.spec.empty_reply_bytes, |(b, _)| {
                    b + self.spec.overhead_bytes
                });
            let d = self.spec.transaction_s(bytes);
            if let Some((_, msg)) = reply {
                let at = self.bus_t + d - self.spec.turnaround_s;
                self.deliver(at, Dir::Up, node, msg);
            }
            self.stats.busy_s += d;
            self.bus_t += d;
        }
    }
}
