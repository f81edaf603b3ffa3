//! The disturbance recorder: every sampled channel kept for a few cycles back, and on a trip the
//! cycles before it and after it as a `FaultRecord`, as a protection relay's recorder keeps them.
//! Trips within a record's span join it. Fed by whatever samples: the twin's waveforms (ten
//! cycles each side), or on hardware the measurement nodes' fast block once a step (an RMS
//! record, a second each side); driven with sample times and trip times, it reads no clock.

use std::collections::VecDeque;

use record::FaultRecord;
use record::fault::Channel;

/// Cycles kept before a trip and recorded after it, of waveforms.
pub const WAVE_CYCLES: f64 = 10.0;
/// The same of RMS values (one a step): long enough to hold the fault and the trip's effect.
pub const RMS_CYCLES: f64 = 50.0;

#[derive(Debug)]
pub struct Recorder {
    channels: Vec<(String, &'static str)>,
    rate: f64,
    frequency: f64,
    /// Seconds kept before a trip and recorded after it.
    pre_s: f64,
    post_s: f64,
    /// Samples the ring holds: twice the span before a trip, since a loop hears of a trip
    /// after it has already sampled part of the next step.
    capacity: usize,
    /// The last `capacity` samples, `channels.len()` values each, oldest first.
    ring: VecDeque<f64>,
    /// The time of the ring's oldest sample, s.
    ring_t: f64,
    open: Option<Open>,
    done: Vec<FaultRecord>,
}

#[derive(Debug)]
struct Open {
    rec: FaultRecord,
    /// The record ends before this time, s.
    until: f64,
}

impl Recorder {
    /// A recorder of `channels` (name, unit) sampled at `rate` on a `frequency` Hz system,
    /// keeping `cycles` before a trip and recording as many after it.
    pub fn new(
        channels: Vec<(String, &'static str)>,
        rate: f64,
        frequency: f64,
        cycles: f64,
    ) -> Self {
        let capacity = (2.0 * cycles * rate / frequency).ceil() as usize;
        Recorder {
            rate,
            frequency,
            pre_s: cycles / frequency,
            post_s: cycles / frequency,
            capacity,
            ring: VecDeque::with_capacity(capacity * channels.len()),
            ring_t: 0.0,
            channels,
            open: None,
            done: Vec::new(),
        }
    }

    /// One sample of every channel, in `channels`' order, taken at `t` s.
    pub fn push(&mut self, t: f64, values: &[f64]) {
        let n = self.channels.len();
        if self.ring.is_empty() {
            self.ring_t = t;
        }
        self.ring.extend(&values[..n]);
        if self.ring.len() > self.capacity * n {
            self.ring.drain(..n);
            self.ring_t += 1.0 / self.rate;
        }
        if let Some(o) = &mut self.open {
            if t >= o.until - 0.5 / self.rate {
                if let Some(o) = self.open.take() {
                    self.done.push(o.rec);
                }
                return;
            }
            for (c, &v) in o.rec.channels.iter_mut().zip(values) {
                c.samples.push(v);
            }
        }
    }

    /// `subject` tripped at `t` s: a record of the cycles before it starts, or the open one
    /// takes the trip.
    pub fn trip(&mut self, t: f64, subject: &str) {
        if let Some(o) = &mut self.open {
            o.rec.trips.push((subject.to_string(), t));
            return;
        }
        let n = self.channels.len();
        // The ring's samples from `pre_s` before the trip on (some may follow it).
        let skip = ((t - self.pre_s - self.ring_t) * self.rate - 1e-6)
            .ceil()
            .max(0.0) as usize;
        let channels = self
            .channels
            .iter()
            .enumerate()
            .map(|(k, (name, unit))| Channel {
                name: name.clone(),
                unit: unit.to_string(),
                samples: self
                    .ring
                    .iter()
                    .skip(skip * n + k)
                    .step_by(n)
                    .copied()
                    .collect(),
            })
            .collect();
        self.open = Some(Open {
            rec: FaultRecord {
                trips: vec![(subject.to_string(), t)],
                start_s: self.ring_t + skip as f64 / self.rate,
                rate: self.rate,
                frequency: self.frequency,
                channels,
            },
            until: t + self.post_s,
        });
    }

    /// The records completed since the last call.
    pub fn take(&mut self, out: &mut Vec<FaultRecord>) {
        out.append(&mut self.done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_the_cycles_before_and_after_its_trips() {
        // 1 kHz on 50 Hz: 200 ms before, 200 ms after. The loop hears of the trip at 0.49 s
        // having sampled up to 0.509 s.
        let channels = vec![("x".into(), "A"), ("y".into(), "V")];
        let mut r = Recorder::new(channels, 1000.0, 50.0, WAVE_CYCLES);
        let mut out = Vec::new();
        for k in 0..1000 {
            let t = k as f64 / 1000.0;
            r.push(t, &[k as f64, -(k as f64)]);
            if k == 509 {
                r.trip(0.49, "heater");
            }
            if k == 550 {
                r.trip(t, "fan");
            }
            r.take(&mut out);
        }
        assert_eq!(out.len(), 1);
        let rec = &out[0];
        assert_eq!(rec.trips, [("heater".into(), 0.49), ("fan".into(), 0.55)]);
        assert!((rec.start_s - 0.29).abs() < 1e-9, "{}", rec.start_s);
        assert_eq!(rec.len(), 400);
        assert_eq!(rec.channels[0].samples[0], 290.0);
        assert_eq!(rec.channels[0].samples[399], 689.0);
        assert_eq!(rec.channels[1].samples[200], -490.0);
        // A trip after the record closed opens another, with its own cycles before.
        r.trip(1.0, "pcs");
        for k in 1000..1201 {
            r.push(k as f64 / 1000.0, &[0.0, 0.0]);
        }
        r.take(&mut out);
        assert_eq!(out.len(), 2);
        assert!((out[1].start_s - 0.8).abs() < 1e-9);
        assert_eq!(out[1].len(), 400);
    }
}
