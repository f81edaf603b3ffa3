//! Telemetry for the fleet: every frame the site records (each channel's reading at one
//! instant, as its own store gets it), batched per period into one message on
//! `gridtwin/SITE/telemetry` (QoS 1, not retained). Each message describes itself, so a
//! receiver needs nothing else:
//!
//! `{"run": START_MS, "seq": N, "channels": [["load/fridge/p", "W"], ...],
//!   "frames": [[T_MS, [V, V, ...]], ...]}`
//!
//! `run` names this start of the site and `seq` counts its messages from 1, so a receiver
//! sees a loss as a gap; a value that is not a number is `null`.

use serde::{Deserialize, Serialize};

/// The largest message read; a sender keeps to `MESSAGE_BYTES`.
pub const MAX_BYTES: usize = 8 << 20;

/// What a sender puts in one message at most, about.
pub const MESSAGE_BYTES: usize = 256 << 10;

/// Frames of `channels` values that fit in one message: the most a value can take in JSON
/// (24 bytes and a comma), at least one frame.
pub fn frames_per_message(channels: usize) -> usize {
    (MESSAGE_BYTES / (25 * channels + 40)).max(1)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    pub run: i64,
    pub seq: u64,
    /// Name and unit of each channel, in the frames' order.
    pub channels: Vec<(String, String)>,
    /// Unix ms and the values.
    pub frames: Vec<(i64, Vec<Option<f64>>)>,
}

impl Telemetry {
    /// How many readings it carries.
    pub fn readings(&self) -> usize {
        self.frames.iter().map(|(_, v)| v.len()).sum()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A value as sent: `None` when not a number.
pub fn value(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// A message read and checked: every frame has a value per channel, channel names are
/// unique and not empty, times are plausible (1970 to 2200).
pub fn parse(payload: &[u8]) -> Result<Telemetry, String> {
    if payload.len() > MAX_BYTES {
        return Err(format!(
            "a telemetry message is at most {MAX_BYTES} bytes, this one {}",
            payload.len()
        ));
    }
    let t: Telemetry = serde_json::from_slice(payload).map_err(|e| format!("JSON: {e}"))?;
    if t.seq == 0 {
        return Err("seq counts from 1".into());
    }
    let mut names = std::collections::HashSet::new();
    for (name, _) in &t.channels {
        if name.is_empty() || !names.insert(name.as_str()) {
            return Err(format!("channel name {name:?} is empty or repeated"));
        }
    }
    for (i, (ms, values)) in t.frames.iter().enumerate() {
        if !(0..7_258_118_400_000).contains(ms) {
            return Err(format!(
                "frame {i}: time {ms} ms is not between 1970 and 2200"
            ));
        }
        if values.len() != t.channels.len() {
            return Err(format!(
                "frame {i}: {} values for {} channels",
                values.len(),
                t.channels.len()
            ));
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Telemetry {
        Telemetry {
            run: 1_763_700_000_000,
            seq: 3,
            channels: vec![
                ("load/fridge/p_w".into(), "W".into()),
                ("bus/v".into(), "V".into()),
            ],
            frames: vec![
                (1_763_700_001_000, vec![Some(398.5), Some(230.1)]),
                (1_763_700_002_000, vec![None, Some(229.9)]),
            ],
        }
    }

    #[test]
    fn a_message_reads_back_as_sent() {
        let t = sample();
        assert_eq!(parse(&t.encode()), Ok(t.clone()));
        assert_eq!(t.readings(), 4);
        assert_eq!(value(f64::NAN), None);
        assert_eq!(value(1.5), Some(1.5));
        let text = String::from_utf8(t.encode()).unwrap();
        assert!(text.contains(r#"[1763700002000,[null,229.9]]"#), "{text}");
    }

    #[test]
    fn a_full_message_stays_under_its_size() {
        let n = 100;
        let t = Telemetry {
            run: i64::MAX,
            seq: u64::MAX,
            channels: (0..n).map(|i| (format!("c{i}"), "W".into())).collect(),
            frames: (0..frames_per_message(n))
                .map(|_| (7_258_118_399_999, vec![Some(-1.2345678901234567e-300); n]))
                .collect(),
        };
        let len = t.encode().len();
        assert!(len <= MESSAGE_BYTES + 25 * n, "{len}");
        assert!(len > MESSAGE_BYTES / 2, "{len}");
        assert_eq!(frames_per_message(1_000_000), 1);
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let mut short = sample();
        short.frames[1].1.pop();
        let mut twice = sample();
        twice.channels[1].0 = "load/fridge/p_w".into();
        let mut early = sample();
        early.frames[0].0 = -5;
        let mut zero = sample();
        zero.seq = 0;
        for (bytes, says) in [
            (short.encode(), "frame 1: 1 values for 2 channels"),
            (twice.encode(), "repeated"),
            (early.encode(), "frame 0: time -5"),
            (zero.encode(), "seq counts from 1"),
            (b"{\"run\": 1}".to_vec(), "missing field"),
            (b"\xff".to_vec(), "JSON"),
        ] {
            let e = parse(&bytes).unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
        }
    }

    proptest! {
        /// No payload panics.
        #[test]
        fn any_bytes_parse_or_are_refused(p in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(&p);
        }

        /// Whatever names, times and values are sent come back: the same but for the values'
        /// last bit (serde_json reads floats fast, not always to the nearest).
        #[test]
        fn round_trip(
            names in proptest::collection::hash_set("[a-z/_]{1,12}", 1..6),
            frames in proptest::collection::vec((0i64..4_000_000_000_000, proptest::collection::vec(proptest::option::of(-1e9f64..1e9), 6)), 0..5),
            seq in 1u64..u64::MAX,
        ) {
            let channels: Vec<(String, String)> = names.into_iter().map(|n| (n, "W".into())).collect();
            let n = channels.len();
            let frames = frames.into_iter().map(|(t, mut v)| { v.truncate(n); (t, v) }).collect();
            let t = Telemetry { run: 7, seq, channels, frames };
            let back = parse(&t.encode()).unwrap();
            prop_assert_eq!((back.run, back.seq, &back.channels), (t.run, t.seq, &t.channels));
            prop_assert_eq!(back.frames.len(), t.frames.len());
            for ((ta, va), (tb, vb)) in back.frames.iter().zip(&t.frames) {
                prop_assert_eq!(ta, tb);
                prop_assert_eq!(va.len(), vb.len());
                for (a, b) in va.iter().zip(vb) {
                    match (a, b) {
                        (Some(a), Some(b)) => prop_assert!((a - b).abs() <= b.abs() * 4.0 * f64::EPSILON, "{a} {b}"),
                        (a, b) => prop_assert_eq!(a, b),
                    }
                }
            }
        }
    }
}
