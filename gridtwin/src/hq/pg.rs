//! The fleet's store in PostgreSQL: sites, their channels, readings (plain tables, or a
//! TimescaleDB hypertable when the server has the extension loaded), events, and each site
//! run's telemetry sequence. Readings are written with COPY into a staging table and moved
//! with `ON CONFLICT DO NOTHING`, so a message delivered twice stores nothing twice.

use std::collections::HashMap;

use futures_util::pin_mut;
use serde::Serialize;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::runs::Run;
use crate::mqtt::telemetry::Telemetry;
use crate::store::Point;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS site(id serial PRIMARY KEY, name text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'unknown', seen bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS channel(id serial PRIMARY KEY, site int NOT NULL REFERENCES site,
    name text NOT NULL, unit text NOT NULL, UNIQUE (site, name));
CREATE TABLE IF NOT EXISTS reading(channel int NOT NULL, t bigint NOT NULL,
    v double precision, PRIMARY KEY (channel, t));
CREATE TABLE IF NOT EXISTS event(site int NOT NULL REFERENCES site, t bigint NOT NULL,
    severity text NOT NULL, subject text NOT NULL, kind text NOT NULL, detail jsonb NOT NULL,
    UNIQUE (site, t, kind, subject, detail));
CREATE TABLE IF NOT EXISTS run(site int NOT NULL REFERENCES site, run bigint NOT NULL,
    last bigint NOT NULL, messages bigint NOT NULL, readings bigint NOT NULL,
    missing bigint NOT NULL, PRIMARY KEY (site, run));
";

/// A database error, said with what was being done.
fn err(doing: &str) -> impl Fn(tokio_postgres::Error) -> String + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string());
        format!("postgres: {doing}: {detail}")
    }
}

/// A connection; its task runs until the client is dropped or the server goes away.
pub async fn connect(url: &str) -> Result<Client, String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(err("connecting"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::error!("hq: postgres connection: {e}");
        }
    });
    Ok(client)
}

/// An event as a site publishes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct EventMsg {
    pub t: i64,
    pub severity: String,
    pub subject: String,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// What one message asks to store.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Telemetry(Telemetry),
    Event(EventMsg),
    Status(String),
}

/// A batch's outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub messages: u64,
    pub readings: u64,
    pub duplicates: u64,
    /// Messages found missing by this batch.
    pub skipped: u64,
}

/// The writer's connection, with its caches of ids and runs.
pub struct Writer {
    url: String,
    db: Client,
    sites: HashMap<String, i32>,
    channels: HashMap<(i32, String), i32>,
    runs: HashMap<(i32, i64), Run>,
}

impl Writer {
    /// Connect, create the tables when missing, and make `reading` a hypertable when
    /// TimescaleDB can be loaded (else plain tables, said once).
    pub async fn open(url: &str) -> Result<Writer, String> {
        let db = connect(url).await?;
        db.batch_execute(SCHEMA)
            .await
            .map_err(err("creating the tables"))?;
        let available = db
            .query_opt(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'",
                &[],
            )
            .await
            .map_err(err("listing extensions"))?
            .is_some();
        if available {
            let made = db
                .batch_execute(
                    "CREATE EXTENSION IF NOT EXISTS timescaledb;
                     SELECT create_hypertable('reading', by_range('t', 86400000),
                        if_not_exists => TRUE, migrate_data => TRUE);",
                )
                .await;
            match made {
                Ok(()) => tracing::info!("hq: readings in a TimescaleDB hypertable"),
                Err(e) => tracing::warn!(
                    "hq: TimescaleDB is installed but not usable ({}); plain tables",
                    err("")(e)
                ),
            }
        }
        db.batch_execute(
            "CREATE TEMP TABLE staging(channel int, t bigint, v double precision)
             ON COMMIT DELETE ROWS",
        )
        .await
        .map_err(err("creating the staging table"))?;
        let mut w = Writer {
            url: url.to_string(),
            db,
            sites: HashMap::new(),
            channels: HashMap::new(),
            runs: HashMap::new(),
        };
        for r in
            w.db.query(
                "SELECT site, run, last, messages, readings, missing FROM run",
                &[],
            )
            .await
            .map_err(err("reading the runs"))?
        {
            let n = |i: usize| r.get::<_, i64>(i) as u64;
            w.runs
                .insert((r.get(0), r.get(1)), Run::restored(n(2), n(3), n(4), n(5)));
        }
        Ok(w)
    }

    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    /// A new connection to the same database (the runs read back as committed).
    pub async fn reopen(&self) -> Result<Writer, String> {
        Writer::open(&self.url).await
    }

    async fn site(&mut self, name: &str) -> Result<i32, String> {
        if let Some(id) = self.sites.get(name) {
            return Ok(*id);
        }
        let row = self
            .db
            .query_one(
                "INSERT INTO site(name) VALUES ($1)
                 ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                &[&name],
            )
            .await
            .map_err(err("adding a site"))?;
        self.sites.insert(name.to_string(), row.get(0));
        Ok(row.get(0))
    }

    async fn channel(&mut self, site: i32, name: &str, unit: &str) -> Result<i32, String> {
        let key = (site, name.to_string());
        if let Some(id) = self.channels.get(&key) {
            return Ok(*id);
        }
        let row = self
            .db
            .query_one(
                "INSERT INTO channel(site, name, unit) VALUES ($1, $2, $3)
                 ON CONFLICT (site, name) DO UPDATE SET unit = EXCLUDED.unit RETURNING id",
                &[&site, &name, &unit],
            )
            .await
            .map_err(err("adding a channel"))?;
        self.channels.insert(key, row.get(0));
        Ok(row.get(0))
    }

    /// Store a batch of messages, each `(site, body)`, in one transaction.
    pub async fn store(&mut self, batch: &[(String, Body)], now_ms: i64) -> Result<Stored, String> {
        // Ids first, committed on their own (a failed batch leaves harmless rows).
        let mut sites = Vec::with_capacity(batch.len());
        for (name, body) in batch {
            let site = self.site(name).await?;
            let mut ids = Vec::new();
            if let Body::Telemetry(t) = body {
                for (n, u) in &t.channels {
                    ids.push(self.channel(site, n, u).await?);
                }
            }
            sites.push((site, ids));
        }
        // Which messages are new, against a copy of the runs kept only if the batch commits.
        let mut runs = self.runs.clone();
        let mut out = Stored::default();
        let mut take = Vec::with_capacity(batch.len());
        for ((_, body), (site, _)) in batch.iter().zip(&sites) {
            let new = match body {
                Body::Telemetry(t) => {
                    let r = runs.entry((*site, t.run)).or_default();
                    match r.see(t.seq, t.readings() as u64) {
                        super::runs::Seen::Duplicate => false,
                        super::runs::Seen::New { skipped } => {
                            if skipped > 0 {
                                tracing::warn!(
                                    "hq: {}: telemetry {}..{} of run {} missing",
                                    batch_site(batch, *site, &self.sites),
                                    t.seq - skipped,
                                    t.seq - 1,
                                    t.run
                                );
                            }
                            out.skipped += skipped;
                            true
                        }
                        super::runs::Seen::Late => true,
                    }
                }
                _ => true,
            };
            out.duplicates += u64::from(!new);
            take.push(new);
        }
        let tx = self
            .db
            .transaction()
            .await
            .map_err(err("starting a transaction"))?;
        let sink = tx
            .copy_in("COPY staging (channel, t, v) FROM STDIN BINARY")
            .await
            .map_err(err("copying readings"))?;
        let w = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::INT8, Type::FLOAT8]);
        pin_mut!(w);
        for (((_, body), (_, ids)), new) in batch.iter().zip(&sites).zip(&take) {
            if let (Body::Telemetry(t), true) = (body, new) {
                for (ms, values) in &t.frames {
                    for (id, v) in ids.iter().zip(values) {
                        w.as_mut()
                            .write(&[id as &(dyn ToSql + Sync), ms, v])
                            .await
                            .map_err(err("copying readings"))?;
                    }
                }
                out.readings += t.readings() as u64;
            }
        }
        w.finish().await.map_err(err("copying readings"))?;
        tx.execute(
            "INSERT INTO reading SELECT channel, t, v FROM staging ON CONFLICT DO NOTHING",
            &[],
        )
        .await
        .map_err(err("storing readings"))?;
        for (((_, body), (site, _)), new) in batch.iter().zip(&sites).zip(&take) {
            if !new {
                continue;
            }
            out.messages += 1;
            match body {
                Body::Telemetry(_) => {}
                Body::Event(e) => {
                    tx.execute(
                        "INSERT INTO event(site, t, severity, subject, kind, detail)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        &[site, &e.t, &e.severity, &e.subject, &e.kind, &e.detail],
                    )
                    .await
                    .map_err(err("storing an event"))?;
                }
                Body::Status(s) => {
                    tx.execute(
                        "UPDATE site SET status = $2, seen = $3 WHERE id = $1",
                        &[site, s, &now_ms],
                    )
                    .await
                    .map_err(err("storing a status"))?;
                }
            }
        }
        let touched: std::collections::BTreeSet<(i32, i64)> = batch
            .iter()
            .zip(&sites)
            .filter_map(|((_, b), (site, _))| match b {
                Body::Telemetry(t) => Some((*site, t.run)),
                _ => None,
            })
            .collect();
        for key in &touched {
            let r = &runs[key];
            let n = |v: u64| v as i64;
            tx.execute(
                "INSERT INTO run(site, run, last, messages, readings, missing)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (site, run) DO UPDATE SET last = EXCLUDED.last,
                    messages = EXCLUDED.messages, readings = EXCLUDED.readings,
                    missing = EXCLUDED.missing",
                &[
                    &key.0,
                    &key.1,
                    &n(r.last),
                    &n(r.messages),
                    &n(r.readings),
                    &n(r.missing()),
                ],
            )
            .await
            .map_err(err("storing a run"))?;
        }
        tx.commit().await.map_err(err("committing"))?;
        self.runs = runs;
        Ok(out)
    }
}

/// A site's name by id, for messages.
fn batch_site<'a>(batch: &'a [(String, Body)], id: i32, sites: &HashMap<String, i32>) -> &'a str {
    batch
        .iter()
        .find(|(n, _)| sites.get(n) == Some(&id))
        .map_or("?", |(n, _)| n.as_str())
}

/// A site as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteRow {
    pub name: String,
    pub status: String,
    /// Unix ms of its last status message.
    pub seen: i64,
    /// Over every run: messages and readings stored, messages missing.
    pub messages: i64,
    pub readings: i64,
    pub missing: i64,
}

/// The API's reads, on their own connection.
pub struct Reader {
    db: Client,
}

impl Reader {
    pub async fn open(url: &str) -> Result<Reader, String> {
        Ok(Reader {
            db: connect(url).await?,
        })
    }

    pub async fn sites(&self) -> Result<Vec<SiteRow>, String> {
        let rows = self
            .db
            .query(
                "SELECT s.name, s.status, s.seen, coalesce(sum(r.messages), 0)::bigint,
                    coalesce(sum(r.readings), 0)::bigint, coalesce(sum(r.missing), 0)::bigint
                 FROM site s LEFT JOIN run r ON r.site = s.id GROUP BY s.id ORDER BY s.name",
                &[],
            )
            .await
            .map_err(err("listing sites"))?;
        Ok(rows
            .iter()
            .map(|r| SiteRow {
                name: r.get(0),
                status: r.get(1),
                seen: r.get(2),
                messages: r.get(3),
                readings: r.get(4),
                missing: r.get(5),
            })
            .collect())
    }

    /// A site's channels with units, by name; None when there is no such site.
    pub async fn channels(&self, site: &str) -> Result<Option<Vec<(String, String)>>, String> {
        if !self.has_site(site).await? {
            return Ok(None);
        }
        let rows = self
            .db
            .query(
                "SELECT c.name, c.unit FROM channel c JOIN site s ON s.id = c.site
                 WHERE s.name = $1 ORDER BY c.name",
                &[&site],
            )
            .await
            .map_err(err("listing channels"))?;
        Ok(Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    async fn has_site(&self, site: &str) -> Result<bool, String> {
        Ok(self
            .db
            .query_opt("SELECT 1 FROM site WHERE name = $1", &[&site])
            .await
            .map_err(err("finding a site"))?
            .is_some())
    }

    /// A channel's history over [from, to) unix ms in at most `points` buckets of at least a
    /// second, as the local store buckets it; None when the site or channel is unknown.
    pub async fn history(
        &self,
        site: &str,
        channel: &str,
        from: i64,
        to: i64,
        points: u32,
    ) -> Result<Option<Vec<Point>>, String> {
        let Some(row) = self
            .db
            .query_opt(
                "SELECT c.id FROM channel c JOIN site s ON s.id = c.site
                 WHERE s.name = $1 AND c.name = $2",
                &[&site, &channel],
            )
            .await
            .map_err(err("finding a channel"))?
        else {
            return Ok(None);
        };
        let id: i32 = row.get(0);
        let bucket = ((to - from) / i64::from(points.max(1))).max(1000);
        let rows = self
            .db
            .query(
                "SELECT $2 + ((t - $2) / $4) * $4 AS b, avg(v), min(v), max(v) FROM reading
                 WHERE channel = $1 AND t >= $2 AND t < $3 AND v IS NOT NULL
                 GROUP BY b ORDER BY b",
                &[&id, &from, &to, &bucket],
            )
            .await
            .map_err(err("reading history"))?;
        Ok(Some(
            rows.iter()
                .map(|r| Point {
                    t: r.get(0),
                    mean: r.get(1),
                    min: r.get(2),
                    max: r.get(3),
                })
                .collect(),
        ))
    }

    /// A site's events over [from, to), newest first, at most `limit`.
    pub async fn events(
        &self,
        site: &str,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Option<Vec<serde_json::Value>>, String> {
        if !self.has_site(site).await? {
            return Ok(None);
        }
        let rows = self
            .db
            .query(
                "SELECT e.t, e.severity, e.subject, e.kind, e.detail FROM event e
                 JOIN site s ON s.id = e.site
                 WHERE s.name = $1 AND e.t >= $2 AND e.t < $3 ORDER BY e.t DESC LIMIT $4",
                &[&site, &from, &to, &limit],
            )
            .await
            .map_err(err("listing events"))?;
        Ok(Some(
            rows.iter()
                .map(|r| {
                    serde_json::json!({
                        "t": r.get::<_, i64>(0),
                        "severity": r.get::<_, String>(1),
                        "subject": r.get::<_, String>(2),
                        "kind": r.get::<_, String>(3),
                        "detail": r.get::<_, serde_json::Value>(4),
                    })
                })
                .collect(),
        ))
    }
}
