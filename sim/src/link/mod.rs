//! Field links between the home nodes and the transformer controller, as discrete-event
//! channels: a message offered at a time arrives later, or never. The message type is the
//! caller's; a link only decides when (and whether) it gets through.
//!
//! - `rs485`: a shared bus polled by the controller: reliable, but a node's report waits for its
//!   turn and a full poll of N nodes takes N transactions.
//! - `lora`: LoRa radio through a gateway: airtime by Semtech's formula, EU868 duty cycles,
//!   random loss and same-channel same-SF collisions, a half-duplex gateway.
//! - `ip`: Wi-Fi or cellular: latency with jitter, and loss.
//! - `relay`: a campus: RS-485 per feeder to a concentrator that batches over LoRa.

pub mod ip;
pub mod lora;
pub mod relay;
pub mod rs485;

use serde::{Deserialize, Serialize};

/// Which way a message goes: from a home node to the controller, or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dir {
    Up,
    Down,
}

/// A message that got through.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival<M> {
    pub at: f64,
    pub dir: Dir,
    pub node: usize,
    pub msg: M,
}

/// What happened to the messages a link was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LinkStats {
    pub offered: u64,
    pub delivered: u64,
    /// Lost to noise or fading (the link's packet error rate).
    pub lost: u64,
    /// Lost because two transmissions overlapped.
    pub collided: u64,
    /// Given up on: the duty cycle would have held it longer than the link waits.
    pub dropped: u64,
    /// Time the medium carried frames, s (airtime, or bus time).
    pub busy_s: f64,
}

pub trait Link<M> {
    /// Hand a message of `bytes` bytes to the link at time `t` (offers come in time order).
    fn offer(&mut self, t: f64, dir: Dir, node: usize, bytes: usize, msg: M);
    /// Everything that has arrived by `now`, in order of arrival. Call with rising `now`.
    fn poll(&mut self, now: f64) -> Vec<Arrival<M>>;
    fn stats(&self) -> LinkStats;
}

/// Arrivals waiting for their time, kept in arrival order.
#[derive(Debug)]
struct Pending<M>(Vec<Arrival<M>>);

impl<M> Default for Pending<M> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<M> Pending<M> {
    fn push(&mut self, a: Arrival<M>) {
        let at = self.0.partition_point(|x| x.at <= a.at);
        self.0.insert(at, a);
    }

    /// Remove and return what has arrived by `now`.
    fn take(&mut self, now: f64) -> Vec<Arrival<M>> {
        let n = self.0.partition_point(|x| x.at <= now);
        self.0.drain(..n).collect()
    }
}
