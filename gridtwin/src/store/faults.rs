//! Fault records: what each is about (its trips, start, rate and channels) as JSON, and its
//! samples as little-endian f32, channel after channel: a 16-load site's record of 20 cycles at
//! 1800 samples/s is 60 kB. Times are s since the Unix epoch.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use record::FaultRecord;
use record::fault::Channel;

use super::{Result, Store, StoreError};

/// A record without its samples: what a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSummary {
    pub id: i64,
    /// The first trip, unix ms.
    pub t: i64,
    /// What tripped and when, unix ms.
    pub trips: Vec<(String, i64)>,
    pub start_s: f64,
    pub rate: f64,
    pub frequency: f64,
    /// (name, unit) of each channel.
    pub channels: Vec<(String, String)>,
    /// Samples per channel.
    pub len: usize,
}

#[derive(Serialize, Deserialize)]
struct About {
    trips: Vec<(String, f64)>,
    start_s: f64,
    rate: f64,
    frequency: f64,
    channels: Vec<(String, String)>,
    len: usize,
}

pub(super) fn add(tx: &Transaction, records: &[FaultRecord]) -> Result<()> {
    let mut q = tx.prepare_cached("INSERT INTO fault(t, about, samples) VALUES (?1, ?2, ?3)")?;
    for r in records {
        let about = About {
            trips: r.trips.clone(),
            start_s: r.start_s,
            rate: r.rate,
            frequency: r.frequency,
            channels: r
                .channels
                .iter()
                .map(|c| (c.name.clone(), c.unit.clone()))
                .collect(),
            len: r.len(),
        };
        let samples: Vec<u8> = r
            .channels
            .iter()
            .flat_map(|c| c.samples.iter().take(about.len))
            .flat_map(|&x| (x as f32).to_le_bytes())
            .collect();
        let about =
            serde_json::to_string(&about).map_err(|e| StoreError::Invalid(e.to_string()))?;
        q.execute(params![
            (r.trigger_s() * 1000.0).round() as i64,
            about,
            samples
        ])?;
    }
    Ok(())
}

fn about(text: &str) -> Result<About> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invalid(format!("a stored fault record: {e}")))
}

fn summary(id: i64, t: i64, a: About) -> FaultSummary {
    FaultSummary {
        id,
        t,
        trips: a
            .trips
            .into_iter()
            .map(|(s, t)| (s, (t * 1000.0).round() as i64))
            .collect(),
        start_s: a.start_s,
        rate: a.rate,
        frequency: a.frequency,
        channels: a.channels,
        len: a.len,
    }
}

impl Store {
    /// The fault records triggered in [from, to) unix ms, newest first, at most `limit`.
    pub fn faults(&self, from: i64, to: i64, limit: u32) -> Result<Vec<FaultSummary>> {
        let mut q = self.conn.prepare_cached(
            "SELECT id, t, about FROM fault WHERE t >= ?1 AND t < ?2 ORDER BY t DESC, id DESC
             LIMIT ?3",
        )?;
        let mut rows = q.query(params![from, to, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let text: String = r.get(2)?;
            out.push(summary(r.get(0)?, r.get(1)?, about(&text)?));
        }
        Ok(out)
    }

    /// One fault record whole; none when no record has that id.
    pub fn fault(&self, id: i64) -> Result<Option<FaultRecord>> {
        let row: Option<(String, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT about, samples FROM fault WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((text, bytes)) = row else {
            return Ok(None);
        };
        let a = about(&text)?;
        if bytes.len() != a.len * a.channels.len() * 4 {
            return Err(StoreError::Invalid(format!("fault record {id} is damaged")));
        }
        let values: Vec<f64> = bytes
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let channels = a
            .channels
            .into_iter()
            .enumerate()
            .map(|(k, (name, unit))| Channel {
                name,
                unit,
                samples: values[k * a.len..(k + 1) * a.len].to_vec(),
            })
            .collect();
        Ok(Some(FaultRecord {
            trips: a.trips,
            start_s: a.start_s,
            rate: a.rate,
            frequency: a.frequency,
            channels,
        }))
    }
}
