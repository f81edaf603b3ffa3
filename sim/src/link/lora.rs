//! LoRa through one gateway, as LoRaWAN class C nodes use it in EU868.
//!
//! - Airtime by Semtech's formula (SX1276 datasheet §4.1.1.7, AN1200.13), with low-data-rate
//!   optimisation on where the symbol time exceeds 16 ms, as the radios require.
//! - Duty cycle per transmitter and sub-band as ETSI EN 300 220 sets it for EU868 (1 % for the
//!   default channels at 868.1/868.3/868.5 MHz, 10 % for RX2 at 869.525 MHz), enforced over a
//!   sliding hour: a frame waits until sending it keeps every hour within the limit, and is
//!   dropped when that would take longer than `max_wait_s`.
//! - Uplinks hop across the channels at random; two uplinks on the same channel and spreading
//!   factor that overlap in time are both lost (no capture effect). The gateway is half-duplex:
//!   an uplink that overlaps one of its downlinks is lost.
//! - Each node has a packet error rate (its link margin), for both directions.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use super::{Arrival, Dir, Link, LinkStats, Pending};
use crate::rng::SplitMix64;

/// A LoRa modem setting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Radio {
    /// Spreading factor 7 ..= 12.
    pub sf: u8,
    /// Bandwidth, Hz (125 kHz, 250 kHz or 500 kHz).
    pub bw_hz: f64,
    /// Coding rate 4/(4 + cr), cr in 1 ..= 4.
    pub cr: u8,
    pub preamble: u16,
    pub explicit_header: bool,
    pub crc: bool,
}

impl Radio {
    /// LoRaWAN's uplink setting at a spreading factor: 125 kHz, 4/5, 8 symbols, header, CRC.
    pub fn lorawan(sf: u8) -> Self {
        Self {
            sf,
            bw_hz: 125e3,
            cr: 1,
            preamble: 8,
            explicit_header: true,
            crc: true,
        }
    }

    pub fn symbol_s(&self) -> f64 {
        f64::from(1u32 << self.sf) / self.bw_hz
    }

    /// Low-data-rate optimisation, mandatory above 16 ms per symbol (SF11 and SF12 at 125 kHz).
    pub fn ldro(&self) -> bool {
        self.symbol_s() > 0.016
    }

    /// Time on air of a PHY payload of `bytes` bytes, s.
    pub fn airtime(&self, bytes: usize) -> f64 {
        let sf = f64::from(self.sf);
        let de = if self.ldro() { 1.0 } else { 0.0 };
        let ih = if self.explicit_header { 0.0 } else { 1.0 };
        let crc = if self.crc { 1.0 } else { 0.0 };
        let num = 8.0 * bytes as f64 - 4.0 * sf + 28.0 + 16.0 * crc - 20.0 * ih;
        let blocks = (num / (4.0 * (sf - 2.0 * de))).ceil().max(0.0);
        let payload_symbols = 8.0 + blocks * f64::from(self.cr + 4);
        (f64::from(self.preamble) + 4.25 + payload_symbols) * self.symbol_s()
    }

    pub fn check(&self) -> Result<(), String> {
        if !(7..=12).contains(&self.sf) {
            return Err(format!("spreading factor {} is not 7 to 12", self.sf));
        }
        if ![125e3, 250e3, 500e3].contains(&self.bw_hz) {
            return Err(format!(
                "bandwidth {} Hz is not 125, 250 or 500 kHz",
                self.bw_hz
            ));
        }
        if !(1..=4).contains(&self.cr) {
            return Err(format!("coding rate {} is not 1 (4/5) to 4 (4/8)", self.cr));
        }
        Ok(())
    }
}

/// An EU868 sub-band and its duty-cycle limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubBand {
    pub lo_mhz: f64,
    pub hi_mhz: f64,
    pub duty: f64,
}

/// The EU868 sub-bands LoRaWAN uses (ETSI EN 300 220-2, as listed in LoRaWAN RP002).
pub const EU868: [SubBand; 6] = [
    SubBand {
        lo_mhz: 863.0,
        hi_mhz: 865.0,
        duty: 0.001,
    },
    SubBand {
        lo_mhz: 865.0,
        hi_mhz: 868.0,
        duty: 0.01,
    },
    SubBand {
        lo_mhz: 868.0,
        hi_mhz: 868.6,
        duty: 0.01,
    },
    SubBand {
        lo_mhz: 868.7,
        hi_mhz: 869.2,
        duty: 0.001,
    },
    SubBand {
        lo_mhz: 869.4,
        hi_mhz: 869.65,
        duty: 0.1,
    },
    SubBand {
        lo_mhz: 869.7,
        hi_mhz: 870.0,
        duty: 0.01,
    },
];

pub fn sub_band(mhz: f64) -> Option<usize> {
    EU868
        .iter()
        .position(|b| (b.lo_mhz..=b.hi_mhz).contains(&mhz))
}

/// A transmitter's airtime in one sub-band over a sliding window.
#[derive(Debug, Clone)]
pub struct DutyCycle {
    duty: f64,
    window_s: f64,
    /// (end, airtime) of recent frames, oldest first.
    log: VecDeque<(f64, f64)>,
}

impl DutyCycle {
    pub fn new(duty: f64, window_s: f64) -> Self {
        Self {
            duty,
            window_s,
            log: VecDeque::new(),
        }
    }

    /// The earliest start at or after `t` for a frame of `airtime` such that the window ending
    /// with that frame holds at most `duty × window` of airtime (earlier frames that end inside
    /// the window count whole). None when the frame alone is over the limit.
    pub fn earliest(&self, t: f64, airtime: f64) -> Option<f64> {
        let limit = self.duty * self.window_s;
        if airtime > limit {
            return None;
        }
        let mut start = t;
        let mut used: f64 = self
            .log
            .iter()
            .filter(|(end, _)| *end > start + airtime - self.window_s)
            .map(|(_, a)| a)
            .sum();
        // Wait for the oldest frames to leave the window, one at a time.
        for &(end, a) in &self.log {
            if used + airtime <= limit + 1e-12 {
                break;
            }
            if end > start + airtime - self.window_s {
                start = start.max(end + self.window_s - airtime);
                used -= a;
            }
        }
        Some(start)
    }

    pub fn record(&mut self, start: f64, airtime: f64) {
        let end = start + airtime;
        while self
            .log
            .front()
            .is_some_and(|(e, _)| *e <= end - self.window_s)
        {
            self.log.pop_front();
        }
        self.log.push_back((end, airtime));
    }
}

/// A LoRa deployment: the radios, channels and how hard the link is per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSpec {
    pub uplink: Radio,
    /// The gateway's downlinks (class C: RX2, which LoRaWAN sets to SF12 in EU868; networks
    /// often configure SF9).
    pub downlink: Radio,
    /// Uplink channels, MHz.
    pub channels_mhz: Vec<f64>,
    pub downlink_mhz: f64,
    /// Bytes LoRaWAN adds to each application payload (MHDR, FHDR, FPort, MIC).
    pub overhead_bytes: usize,
    /// Packet error rate per node (0 ..= 1), from its distance and obstacles.
    pub per: Vec<f64>,
    /// The longest a frame waits for the duty cycle before it is given up, s.
    pub max_wait_s: f64,
    /// Duty cycles are measured over this window, s (ETSI: one hour).
    pub window_s: f64,
}

impl LoraSpec {
    /// EU868 defaults: SF at the uplink, RX2 at SF12, 3 default channels, 13 bytes overhead.
    pub fn eu868(sf: u8, per: Vec<f64>) -> Self {
        Self {
            uplink: Radio::lorawan(sf),
            downlink: Radio::lorawan(12),
            channels_mhz: vec![868.1, 868.3, 868.5],
            downlink_mhz: 869.525,
            overhead_bytes: 13,
            per,
            max_wait_s: 600.0,
            window_s: 3600.0,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        self.uplink.check().map_err(|e| format!("uplink: {e}"))?;
        self.downlink
            .check()
            .map_err(|e| format!("downlink: {e}"))?;
        if self.channels_mhz.is_empty() {
            return Err("no uplink channels".into());
        }
        for &f in self.channels_mhz.iter().chain([&self.downlink_mhz]) {
            if sub_band(f).is_none() {
                return Err(format!("{f} MHz is outside the EU868 sub-bands"));
            }
        }
        if let Some(p) = self.per.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(format!("packet error rate {p} is not within 0 to 1"));
        }
        if !(self.max_wait_s >= 0.0 && self.window_s > 0.0) {
            return Err("max_wait_s and window_s must be positive".into());
        }
        Ok(())
    }
}

/// A frame on the air.
#[derive(Debug)]
struct Frame<M> {
    start: f64,
    end: f64,
    channel: usize,
    dir: Dir,
    node: usize,
    lost: bool,
    collided: bool,
    msg: M,
}

/// One transmitter's radio: busy until, and its duty cycles by sub-band.
#[derive(Debug, Clone)]
struct Transmitter {
    busy_until: f64,
    duty: Vec<DutyCycle>,
}

impl Transmitter {
    fn new(window_s: f64) -> Self {
        Self {
            busy_until: f64::NEG_INFINITY,
            duty: EU868
                .iter()
                .map(|b| DutyCycle::new(b.duty, window_s))
                .collect(),
        }
    }

    /// When a frame can start on `band`, or None if it would wait beyond `max_wait`.
    fn schedule(&mut self, t: f64, band: usize, airtime: f64, max_wait: f64) -> Option<f64> {
        let start = self.duty[band].earliest(t.max(self.busy_until), airtime)?;
        if start - t > max_wait {
            return None;
        }
        self.duty[band].record(start, airtime);
        self.busy_until = start + airtime;
        Some(start)
    }
}

pub struct LoraLink<M> {
    spec: LoraSpec,
    nodes: Vec<Transmitter>,
    gateway: Transmitter,
    /// Frames whose fate is not settled: a later frame may still overlap them.
    air: Vec<Frame<M>>,
    arrived: Pending<M>,
    rng: SplitMix64,
    stats: LinkStats,
}

impl<M> LoraLink<M> {
    pub fn new(spec: LoraSpec, seed: u64) -> Self {
        let n = spec.per.len();
        Self {
            nodes: vec![Transmitter::new(spec.window_s); n],
            gateway: Transmitter::new(spec.window_s),
            spec,
            air: Vec::new(),
            arrived: Pending::default(),
            rng: SplitMix64::new(seed),
            stats: LinkStats::default(),
        }
    }

    pub fn spec(&self) -> &LoraSpec {
        &self.spec
    }

    /// Settle every frame that ended by `now`: nothing offered later can overlap it.
    fn settle(&mut self, now: f64) {
        let mut k = 0;
        while k < self.air.len() {
            if self.air[k].end <= now {
                let f = self.air.swap_remove(k);
                if f.collided {
                    self.stats.collided += 1;
                } else if f.lost {
                    self.stats.lost += 1;
                } else {
                    self.stats.delivered += 1;
                    self.arrived.push(Arrival {
                        at: f.end,
                        dir: f.dir,
                        node: f.node,
                        msg: f.msg,
                    });
                }
            } else {
                k += 1;
            }
        }
    }
}

impl<M> Link<M> for LoraLink<M> {
    fn offer(&mut self, t: f64, dir: Dir, node: usize, bytes: usize, msg: M) {
        self.stats.offered += 1;
        let bytes = bytes + self.spec.overhead_bytes;
        let (radio, mhz, channel) = match dir {
            Dir::Up => {
                let c = (self.rng.uniform() * self.spec.channels_mhz.len() as f64) as usize;
                let c = c.min(self.spec.channels_mhz.len() - 1);
                (self.spec.uplink, self.spec.channels_mhz[c], c)
            }
            Dir::Down => (self.spec.downlink, self.spec.downlink_mhz, usize::MAX),
        };
        let airtime = radio.airtime(bytes);
        let band = sub_band(mhz).unwrap_or(0);
        let tx = match dir {
            Dir::Up => self.nodes.get_mut(node),
            Dir::Down => Some(&mut self.gateway),
        };
        let Some(start) = tx.and_then(|tx| tx.schedule(t, band, airtime, self.spec.max_wait_s))
        else {
            self.stats.dropped += 1;
            return;
        };
        self.stats.busy_s += airtime;
        let per = self.spec.per.get(node).copied().unwrap_or(1.0);
        let mut f = Frame {
            start,
            end: start + airtime,
            channel,
            dir,
            node,
            lost: self.rng.uniform() < per,
            collided: false,
            msg,
        };
        for g in &mut self.air {
            let overlap = f.start < g.end && g.start < f.end;
            let clash = match (f.dir, g.dir) {
                (Dir::Up, Dir::Up) => f.channel == g.channel,
                // The gateway cannot hear while it talks.
                (Dir::Up, Dir::Down) | (Dir::Down, Dir::Up) => true,
                (Dir::Down, Dir::Down) => false,
            };
            if overlap && clash {
                for x in [&mut f, g] {
                    if x.dir == Dir::Up {
                        x.collided = true;
                    }
                }
            }
        }
        self.air.push(f);
    }

    fn poll(&mut self, now: f64) -> Vec<Arrival<M>> {
        self.settle(now);
        self.arrived.take(now)
    }

    fn stats(&self) -> LinkStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Things Network's airtime calculator (the Semtech formula) for LoRaWAN frames at
    /// 125 kHz, 4/5: 13 bytes (no application payload) and 64 bytes (51 bytes of payload).
    #[test]
    fn airtime_matches_the_published_lorawan_figures() {
        for (sf, bytes, ms) in [
            (7, 13, 46.336),
            (7, 64, 118.016),
            (12, 13, 1155.072),
            (12, 64, 2793.472),
        ] {
            let got = Radio::lorawan(sf).airtime(bytes) * 1e3;
            assert!(
                (got - ms).abs() < 1e-9,
                "SF{sf} {bytes} B: {got} ms, want {ms}"
            );
        }
    }

    #[test]
    fn airtime_worked_from_the_formula() {
        // SF7: Tsym = 128/125k = 1.024 ms. 10 bytes: ceil((80 - 28 + 28 + 16) / 28) = 4 blocks
        // of 5 symbols, 8 + 20 = 28 payload symbols, + 12.25 preamble = 40.25 Tsym.
        let r = Radio::lorawan(7);
        assert!((r.airtime(10) - 40.25 * 1.024e-3).abs() < 1e-12);
        // SF12 with LDRO: Tsym = 32.768 ms. 10 bytes: ceil((80 - 48 + 44) / 40) = 2 blocks,
        // 8 + 10 = 18 symbols, + 12.25 = 30.25 Tsym.
        let r = Radio::lorawan(12);
        assert!(r.ldro());
        assert!((r.airtime(10) - 30.25 * 32.768e-3).abs() < 1e-12);
        // SF10 needs no LDRO (Tsym 8.192 ms).
        assert!(!Radio::lorawan(10).ldro());
    }

    #[test]
    fn a_duty_cycled_frame_waits_for_the_window() {
        // 1 % of 100 s is 1 s: a 0.6 s frame at t=0, then the next 0.6 s frame must wait until
        // the first leaves the window ending with it: 0.6 + 100 - 0.6 = 100.
        let mut d = DutyCycle::new(0.01, 100.0);
        assert_eq!(d.earliest(0.0, 0.6), Some(0.0));
        d.record(0.0, 0.6);
        let s = d.earliest(1.0, 0.6).unwrap();
        assert!((s - 100.0).abs() < 1e-9, "{s}");
        assert_eq!(d.earliest(0.0, 1.5), None, "over the limit alone");
    }
}
