//! IEEE C37.111-1999 (COMTRADE) files of a fault record: the `.cfg` that describes the channels
//! and the `.dat` of samples in the standard's 16-bit binary form, which every COMTRADE reader
//! takes. Each analog channel is scaled to use the full 16-bit range (`a` = its largest
//! magnitude / 32767, `b` = 0), so a value is read back within half a step of it. Each trip is a
//! status channel that turns 1 at its time.
//!
//! Written by hand: the format is a page of plain text and fixed records, and the crates on
//! crates.io that know it only read it.

use chrono::{Duration, NaiveDateTime};

use crate::fault::FaultRecord;

/// The two files of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    pub cfg: String,
    pub dat: Vec<u8>,
}

const FULL: f64 = 32767.0;

/// The record's files; `start` is the run's start (t = 0), `station` the site's name.
pub fn write(rec: &FaultRecord, station: &str, start: NaiveDateTime) -> Files {
    let clean = |s: &str| s.replace([',', '\n', '\r'], " ");
    let n = rec.len();
    let scales: Vec<f64> = rec
        .channels
        .iter()
        .map(|c| {
            let most = c
                .samples
                .iter()
                .filter(|x| x.is_finite())
                .fold(0.0_f64, |m, x| m.max(x.abs()));
            if most > 0.0 { most / FULL } else { 1.0 }
        })
        .collect();
    let mut cfg = format!("{},gridtwin,1999\n", clean(station));
    let (na, nd) = (rec.channels.len(), rec.trips.len());
    cfg += &format!("{},{na}A,{nd}D\n", na + nd);
    for (k, (c, a)) in rec.channels.iter().zip(&scales).enumerate() {
        // The circuit: the channel's name without its quantity (`load/heater`).
        let ccbm = c.name.rsplit_once('/').map_or(c.name.as_str(), |p| p.0);
        cfg += &format!(
            "{},{},,{},{},{a:e},0,0,-32767,32767,1,1,P\n",
            k + 1,
            clean(&c.name),
            clean(ccbm),
            clean(&c.unit)
        );
    }
    for (k, (subject, _)) in rec.trips.iter().enumerate() {
        cfg += &format!("{},{} trip,,{},0\n", k + 1, clean(subject), clean(subject));
    }
    let at = |s: f64| {
        let t = start + Duration::microseconds((s * 1e6).round() as i64);
        t.format("%d/%m/%Y,%H:%M:%S%.6f").to_string()
    };
    cfg += &format!(
        "{}\n1\n{},{n}\n{}\n{}\nBINARY\n1\n",
        rec.frequency,
        rec.rate,
        at(rec.start_s),
        at(rec.trigger_s())
    );

    let words = nd.div_ceil(16);
    let mut dat = Vec::with_capacity(n * (8 + 2 * na + 2 * words));
    for i in 0..n {
        let t = i as f64 / rec.rate;
        dat.extend_from_slice(&(i as u32 + 1).to_le_bytes());
        dat.extend_from_slice(&((t * 1e6).round() as u32).to_le_bytes());
        for (c, a) in rec.channels.iter().zip(&scales) {
            let x = c.samples.get(i).copied().unwrap_or(f64::NAN);
            // The standard's missing value for a sample that is not a number.
            let v = if x.is_finite() {
                (x / a).round().clamp(-FULL, FULL) as i16
            } else {
                i16::MIN
            };
            dat.extend_from_slice(&v.to_le_bytes());
        }
        let mut status = vec![0u16; words];
        for (k, (_, when)) in rec.trips.iter().enumerate() {
            if rec.start_s + t >= *when {
                status[k / 16] |= 1 << (k % 16);
            }
        }
        for w in status {
            dat.extend_from_slice(&w.to_le_bytes());
        }
    }
    Files { cfg, dat }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Channel;

    #[test]
    fn the_cfg_names_every_channel_and_the_dat_holds_fixed_records() {
        let rec = FaultRecord {
            trips: vec![("heater".into(), 10.0)],
            start_s: 9.8,
            rate: 1000.0,
            frequency: 50.0,
            channels: vec![
                Channel {
                    name: "main/v".into(),
                    unit: "V".into(),
                    samples: vec![0.0, 325.0, -162.5, f64::NAN],
                },
                Channel {
                    name: "load/heater/i".into(),
                    unit: "A".into(),
                    samples: vec![0.0; 4],
                },
            ],
        };
        let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(7, 0, 0)
            .unwrap();
        let f = write(&rec, "bench, west", start);
        let lines: Vec<&str> = f.cfg.lines().collect();
        assert_eq!(lines[0], "bench  west,gridtwin,1999");
        assert_eq!(lines[1], "3,2A,1D");
        assert!(
            lines[2].starts_with("1,main/v,,main,V,9.918"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].starts_with("2,load/heater/i,,load/heater,A,1e0,"),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4], "1,heater trip,,heater,0");
        assert_eq!(
            &lines[5..9],
            ["50", "1", "1000,4", "06/12/2026,07:00:09.800000"]
        );
        assert_eq!(&lines[9..], ["06/12/2026,07:00:10.000000", "BINARY", "1"]);
        // Per sample: number, µs, two analog words, one status word.
        assert_eq!(f.dat.len(), 4 * 14);
        let word =
            |i: usize, k: usize| i16::from_le_bytes([f.dat[i * 14 + k], f.dat[i * 14 + k + 1]]);
        assert_eq!(u32::from_le_bytes(f.dat[14..18].try_into().unwrap()), 2);
        assert_eq!(u32::from_le_bytes(f.dat[18..22].try_into().unwrap()), 1000);
        assert_eq!(
            (word(1, 8), word(2, 8), word(3, 8)),
            (32767, -16383, i16::MIN)
        );
        // Samples at 9.800, 9.801 s: before the trip at 10 s.
        assert_eq!(word(3, 12), 0);
    }
}
