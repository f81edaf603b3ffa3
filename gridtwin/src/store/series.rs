//! Readings: written in batches at 1 s, downsampled to 1 min and 1 h as they age, read back
//! as history at any range.
//!
//! Why frames: readings are filed by (channel, t), so a commit of one second's readings would
//! rewrite one page per channel. A batch is first stored as frames, one row per instant with
//! all its channels (a few pages, durable at once); once a minute is complete its frames are
//! filed per channel in one transaction, sixty readings per page touched. Reads see both.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Interval, Result, Store, StoreError, StoredEvent};

/// One reading of one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub channel: i64,
    /// Unix ms.
    pub t: i64,
    pub v: f64,
}

/// What one commit stores: readings, events, the energy counters and state, all or nothing.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub readings: Vec<Reading>,
    pub events: Vec<StoredEvent>,
    /// Energy registers by name, J; a stored counter never goes down.
    pub counters: Vec<(String, f64)>,
    /// The registers' rise since the last batch, by interval: added to the ledger.
    pub energy: Vec<Interval>,
    /// Fault records completed since the last batch, their times in s since the Unix epoch.
    pub faults: Vec<record::FaultRecord>,
    /// State to restore after a restart, as JSON by key.
    pub state: Vec<(String, serde_json::Value)>,
}

/// How long readings are kept at each resolution before they are merged into the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Seconds of 1 s readings kept before they become 1-minute aggregates.
    pub raw_s: u64,
    /// Seconds of 1-minute aggregates kept before they become hourly ones.
    pub minute_s: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw_s: 7 * 86_400,
            minute_s: 90 * 86_400,
        }
    }
}

/// One point of history: a reading, or the aggregate of a bucket of them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Unix ms, the start of the bucket.
    pub t: i64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Second,
    Minute,
    Hour,
}

impl Resolution {
    pub fn name(self) -> &'static str {
        match self {
            Resolution::Second => "second",
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
        }
    }
}

impl Store {
    /// The ids of the named channels, creating those not yet known.
    pub fn channels(&mut self, names: &[(String, &str)]) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(names.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO channel(name, unit) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            )?;
            let mut find = tx.prepare_cached("SELECT id FROM channel WHERE name = ?1")?;
            for (name, unit) in names {
                insert.execute(params![name, unit])?;
                ids.push(find.query_row([name], |r| r.get(0))?);
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Every channel's name and unit.
    pub fn channel_list(&self) -> Result<Vec<(String, String)>> {
        let mut q = self
            .conn
            .prepare("SELECT name, unit FROM channel ORDER BY id")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Commit a batch in one transaction; returns its events' ids, in order. Once this returns
    /// the batch is on disk (as frames: `file_complete_minutes` files them per channel).
    pub fn write(&mut self, b: &Batch, now_ms: i64) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(b.events.len());
        {
            let mut f = tx.prepare_cached("INSERT INTO frame(t, ids, vals) VALUES (?1, ?2, ?3)")?;
            let mut order: Vec<&Reading> = b.readings.iter().collect();
            order.sort_by_key(|r| r.t);
            for same_t in order.chunk_by(|a, b| a.t == b.t) {
                let ids: Vec<u8> = same_t
                    .iter()
                    .flat_map(|r| r.channel.to_le_bytes())
                    .collect();
                let vals: Vec<u8> = same_t.iter().flat_map(|r| r.v.to_le_bytes()).collect();
                f.execute(params![same_t[0].t, ids, vals])?;
            }
            let mut e = tx.prepare_cached(
                "INSERT INTO event(t, severity, subject, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for x in &b.events {
                e.execute(params![
                    x.t,
                    x.severity,
                    x.subject,
                    x.kind,
                    x.detail.to_string()
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            let mut c = tx.prepare_cached(
                "INSERT INTO counter(name, joules) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET joules = max(joules, excluded.joules)",
            )?;
            for (name, j) in &b.counters {
                c.execute(params![name, j])?;
            }
            super::energy::add(&tx, &b.energy)?;
            super::faults::add(&tx, &b.faults)?;
            let mut s = tx.prepare_cached(
                "INSERT INTO state(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            for (k, v) in &b.state {
                s.execute(params![k, v.to_string()])?;
            }
            tx.execute(
                "INSERT INTO batch(t, readings) VALUES (?1, ?2)",
                params![now_ms, b.readings.len() as i64],
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// After a batch: file every whole minute before the batch's newest reading.
    pub fn file_complete_minutes(&mut self, b: &Batch) -> Result<usize> {
        match b.readings.iter().map(|r| r.t).max() {
            Some(newest) => self.file_frames(newest.div_euclid(60_000) * 60_000),
            None => Ok(0),
        }
    }

    /// Move the frames older than `before` (unix ms) into the per-channel readings, in key
    /// order, in one transaction.
    pub fn file_frames(&mut self, before: i64) -> Result<usize> {
        let oldest: Option<i64> = self
            .conn
            .query_row("SELECT min(t) FROM frame", [], |r| r.get(0))?;
        if oldest.is_none_or(|t| t >= before) {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let mut all = frames(&tx, i64::MIN, before, None)?;
        all.sort_unstable_by_key(|r| (r.channel, r.t));
        {
            let mut r = tx.prepare_cached(
                "INSERT INTO reading_1s(channel, t, v) VALUES (?1, ?2, ?3)
                 ON CONFLICT(channel, t) DO UPDATE SET v = excluded.v",
            )?;
            for x in &all {
                // NaN (no power factor at zero current) is stored as NULL.
                r.execute(params![x.channel, x.t, x.v.is_finite().then_some(x.v)])?;
            }
        }
        tx.execute("DELETE FROM frame WHERE t < ?1", [before])?;
        tx.commit()?;
        Ok(all.len())
    }

    /// The stored energy counters, J.
    pub fn counters(&self) -> Result<BTreeMap<String, f64>> {
        let mut q = self.conn.prepare("SELECT name, joules FROM counter")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest reading time, unix ms.
    pub fn last_reading(&self) -> Result<Option<i64>> {
        // The aggregate max skips empty tables (the scalar max of a NULL would be NULL).
        Ok(self.conn.query_row(
            "SELECT max(t) FROM (SELECT max(t) AS t FROM frame
                UNION ALL SELECT max(t) FROM reading_1s
                UNION ALL SELECT max(t) FROM reading_1m
                UNION ALL SELECT max(t) FROM reading_1h)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Merge 1 s readings older than `retention.raw_s` into minutes, and minutes older than
    /// `retention.minute_s` into hours. Only whole minutes and hours are merged, so repeating
    /// this never splits one. Returns the rows merged at each stage.
    pub fn downsample(&mut self, now_ms: i64, retention: Retention) -> Result<(usize, usize)> {
        let cut = |age_s: u64, unit: i64| (now_ms - age_s as i64 * 1000).div_euclid(unit) * unit;
        self.file_frames(cut(retention.raw_s, 60_000))?;
        let tx = self.conn.transaction()?;
        let raw_cut = cut(retention.raw_s, 60_000);
        let merge = "ON CONFLICT(channel, t) DO UPDATE SET
                mean = (mean * n + excluded.mean * excluded.n) / (n + excluded.n),
                min = min(min, excluded.min), max = max(max, excluded.max), n = n + excluded.n";
        tx.execute(
            &format!(
                "INSERT INTO reading_1m(channel, t, mean, min, max, n)
                 SELECT channel, (t / 60000) * 60000, avg(v), min(v), max(v), count(v)
                 FROM reading_1s WHERE t < ?1 AND v IS NOT NULL GROUP BY channel, t / 60000
                 {merge}"
            ),
            [raw_cut],
        )?;
        let seconds = tx.execute("DELETE FROM reading_1s WHERE t < ?1", [raw_cut])?;
        let minute_cut = cut(retention.minute_s, 3_600_000);
        tx.execute(
            &format!(
                "INSERT INTO reading_1h(channel, t, mean, min, max, n)
                 SELECT channel, (t / 3600000) * 3600000, sum(mean * n) / sum(n), min(min),
                        max(max), sum(n)
                 FROM reading_1m WHERE t < ?1 GROUP BY channel, t / 3600000
                 {merge}"
            ),
            [minute_cut],
        )?;
        let minutes = tx.execute("DELETE FROM reading_1m WHERE t < ?1", [minute_cut])?;
        tx.commit()?;
        Ok((seconds, minutes))
    }

    /// A channel's history over [from, to) unix ms in at most `points` buckets (at least
    /// one second each), from whichever resolutions hold that range.
    pub fn history(&self, channel: &str, from: i64, to: i64, points: u32) -> Result<Vec<Point>> {
        let Some(id) = self.channel_id(channel)? else {
            return Err(StoreError::Invalid(format!(
                "no channel is named {channel:?}"
            )));
        };
        let bucket = ((to - from) / i64::from(points.max(1))).max(1000);
        let key = |t: i64| from + (t - from).div_euclid(bucket) * bucket;
        // Per bucket: the sum of means weighed by the readings they stand for, their count,
        // min and max.
        let mut buckets: BTreeMap<i64, (f64, f64, f64, f64)> = BTreeMap::new();
        let mut add = |b: i64, sum: f64, n: f64, lo: f64, hi: f64| {
            let e = buckets
                .entry(b)
                .or_insert((0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
            *e = (e.0 + sum, e.1 + n, e.2.min(lo), e.3.max(hi));
        };
        let mut q = self.conn.prepare_cached(
            "SELECT ?2 + ((t - ?2) / ?4) * ?4 AS b, sum(mean * n), sum(n), min(lo), max(hi)
             FROM (
                SELECT t, v AS mean, v AS lo, v AS hi, 1 AS n FROM reading_1s
                    WHERE channel = ?1 AND t >= ?2 AND t < ?3
                UNION ALL SELECT t, mean, min, max, n FROM reading_1m
                    WHERE channel = ?1 AND t >= ?2 AND t < ?3
                UNION ALL SELECT t, mean, min, max, n FROM reading_1h
                    WHERE channel = ?1 AND t >= ?2 AND t < ?3)
             WHERE mean IS NOT NULL GROUP BY b",
        )?;
        let mut rows = q.query(params![id, from, to, bucket])?;
        while let Some(r) = rows.next()? {
            add(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
        }
        for r in frames(&self.conn, from, to, Some(id))? {
            if r.v.is_finite() {
                add(key(r.t), r.v, 1.0, r.v, r.v);
            }
        }
        Ok(buckets
            .into_iter()
            .map(|(t, (sum, n, min, max))| Point {
                t,
                mean: sum / n,
                min,
                max,
            })
            .collect())
    }

    /// Every stored row of the channels over [from, to) at its own resolution, oldest first:
    /// (time, channel, resolution, mean, min, max).
    pub fn export(
        &self,
        channels: &[String],
        from: i64,
        to: i64,
        mut row: impl FnMut(i64, &str, Resolution, Point),
    ) -> Result<()> {
        let mut q = self.conn.prepare_cached(
            "SELECT t, 0, v, v, v FROM reading_1s WHERE channel = ?1 AND t >= ?2 AND t < ?3
             UNION ALL SELECT t, 1, mean, min, max FROM reading_1m
                WHERE channel = ?1 AND t >= ?2 AND t < ?3
             UNION ALL SELECT t, 2, mean, min, max FROM reading_1h
                WHERE channel = ?1 AND t >= ?2 AND t < ?3",
        )?;
        for name in channels {
            let Some(id) = self.channel_id(name)? else {
                return Err(StoreError::Invalid(format!("no channel is named {name:?}")));
            };
            let mut out = Vec::new();
            let mut rows = q.query(params![id, from, to])?;
            while let Some(r) = rows.next()? {
                let res = match r.get::<_, i64>(1)? {
                    0 => Resolution::Second,
                    1 => Resolution::Minute,
                    _ => Resolution::Hour,
                };
                let f = |k| r.get::<_, Option<f64>>(k).map(|x| x.unwrap_or(f64::NAN));
                let t = r.get(0)?;
                let p = Point {
                    t,
                    mean: f(2)?,
                    min: f(3)?,
                    max: f(4)?,
                };
                out.push((res, p));
            }
            out.extend(
                frames(&self.conn, from, to, Some(id))?
                    .into_iter()
                    .map(|r| {
                        let v = if r.v.is_finite() { r.v } else { f64::NAN };
                        let p = Point {
                            t: r.t,
                            mean: v,
                            min: v,
                            max: v,
                        };
                        (Resolution::Second, p)
                    }),
            );
            out.sort_by_key(|(_, p)| p.t);
            for (res, p) in out {
                row(p.t, name, res, p);
            }
        }
        Ok(())
    }

    fn channel_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT id FROM channel WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Committed batches (for crash tests: every acknowledged one must be there).
    pub fn batches(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM batch", [], |r| r.get(0))?)
    }
}

/// The staged readings in [from, to), of one channel or all.
fn frames(
    conn: &rusqlite::Connection,
    from: i64,
    to: i64,
    channel: Option<i64>,
) -> Result<Vec<Reading>> {
    let mut q = conn.prepare_cached("SELECT t, ids, vals FROM frame WHERE t >= ?1 AND t < ?2")?;
    let mut rows = q.query(params![from, to])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let t: i64 = r.get(0)?;
        let ids: Vec<u8> = r.get(1)?;
        let vals: Vec<u8> = r.get(2)?;
        if ids.len() != vals.len() || !ids.len().is_multiple_of(8) {
            return Err(StoreError::Invalid(format!("the frame at {t} is damaged")));
        }
        let word = |b: &[u8]| <[u8; 8]>::try_from(b).unwrap_or_default();
        for (i, v) in ids.chunks_exact(8).zip(vals.chunks_exact(8)) {
            let c = i64::from_le_bytes(word(i));
            if channel.is_none_or(|want| want == c) {
                out.push(Reading {
                    channel: c,
                    t,
                    v: f64::from_le_bytes(word(v)),
                });
            }
        }
    }
    Ok(out)
}
