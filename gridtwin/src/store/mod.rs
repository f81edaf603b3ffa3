//! Storage in SQLite (WAL): readings at 1 s (staged as one row per instant, then filed per
//! channel a minute at a time) downsampled to 1 min and 1 h, events, audit log,
//! energy counters and their rise per 15-minute interval, controller state, settings, users and
//! sessions. One writer connection per
//! `Store`; the live service keeps one for its batches and one for the API's reads, which WAL
//! lets run beside the writer.

mod energy;
mod faults;
pub mod log;
mod series;
mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

pub use energy::Interval;
pub use faults::FaultSummary;
pub use log::{AuditEntry, EventFilter, StoredEvent};
pub use series::{Batch, Point, Reading, Resolution, Retention};
pub use users::{Role, SessionUser, UserRow};

/// Wall-clock time as the store keeps it: milliseconds since the Unix epoch. The one place the
/// service reads the wall clock for what it stores and compares with stored times.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database file under the data directory.
pub const DB_FILE: &str = "gridtwin.sqlite";

/// The schema's version, kept in `PRAGMA user_version`.
const VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE channel(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, unit TEXT NOT NULL);
CREATE TABLE reading_1s(channel INTEGER NOT NULL, t INTEGER NOT NULL, v REAL,
    PRIMARY KEY (channel, t)) WITHOUT ROWID;
CREATE TABLE frame(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, ids BLOB NOT NULL,
    vals BLOB NOT NULL);
CREATE TABLE reading_1m(channel INTEGER NOT NULL, t INTEGER NOT NULL, mean REAL, min REAL,
    max REAL, n INTEGER NOT NULL, PRIMARY KEY (channel, t)) WITHOUT ROWID;
CREATE TABLE reading_1h(channel INTEGER NOT NULL, t INTEGER NOT NULL, mean REAL, min REAL,
    max REAL, n INTEGER NOT NULL, PRIMARY KEY (channel, t)) WITHOUT ROWID;
CREATE TABLE event(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, severity TEXT NOT NULL,
    subject TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL,
    acked_by TEXT, acked_at INTEGER);
CREATE INDEX event_t ON event(t);
CREATE TABLE audit(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, user TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE counter(name TEXT PRIMARY KEY, joules REAL NOT NULL);
CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE setting(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE batch(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, readings INTEGER NOT NULL);
CREATE TABLE user(name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE session(token TEXT PRIMARY KEY, user TEXT NOT NULL, created INTEGER NOT NULL,
    expires INTEGER NOT NULL);
CREATE TABLE setup(token TEXT PRIMARY KEY, expires INTEGER NOT NULL);
";

/// Version 2: the energy ledger (its intervals start when the store is upgraded) and the
/// fault records.
const LEDGER: &str = "
CREATE TABLE energy(register TEXT NOT NULL, t INTEGER NOT NULL, joules REAL NOT NULL,
    PRIMARY KEY (t, register)) WITHOUT ROWID;
CREATE TABLE fault(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, about TEXT NOT NULL,
    samples BLOB NOT NULL);
CREATE INDEX fault_t ON fault(t);
";

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Open (creating when missing) the database under `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::init(conn).map_err(|e| match e {
            StoreError::Sql(source) => StoreError::Open { path, source },
            e => e,
        })
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL: readers never block the writer. FULL: a committed batch survives power loss.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Compaction touches every channel's end of the readings tree: keep those pages cached.
        conn.pragma_update(None, "cache_size", -64 * 1024)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        match version {
            0 => {
                conn.execute_batch(&format!(
                    "BEGIN; {SCHEMA} {LEDGER} PRAGMA user_version = {VERSION}; COMMIT;"
                ))?;
            }
            1 => {
                conn.execute_batch(&format!(
                    "BEGIN; {LEDGER} PRAGMA user_version = {VERSION}; COMMIT;"
                ))?;
            }
            VERSION => {}
            v => {
                return Err(StoreError::Invalid(format!(
                    "the database has schema version {v}; this gridtwin knows version {VERSION}"
                )));
            }
        }
        Ok(Store { conn })
    }

    /// A value stored under `key` in the state table (relay states, the clock), as JSON.
    pub fn state<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.json_row("SELECT value FROM state WHERE key = ?1", key)
    }

    /// Keep `value` under `key` in the state table (outside a batch: the notifier's own).
    pub fn set_state<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put("state", key, value)
    }

    /// A setting stored under `key`, as JSON.
    pub fn setting<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.json_row("SELECT value FROM setting WHERE key = ?1", key)
    }

    pub fn set_setting<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.put("setting", key, value)
    }

    fn put<T: serde::Serialize>(&self, table: &str, key: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.conn.execute(
            &format!(
                "INSERT INTO {table}(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            ),
            params![key, text],
        )?;
        Ok(())
    }

    fn json_row<T: serde::de::DeserializeOwned>(&self, sql: &str, key: &str) -> Result<Option<T>> {
        let text: Option<String> = self.conn.query_row(sql, [key], |r| r.get(0)).optional()?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Invalid(format!("stored {key:?} is not readable: {e}")))
        })
        .transpose()
    }

    /// The journal mode in force ("wal").
    pub fn journal_mode(&self) -> Result<String> {
        Ok(self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))?)
    }

    /// SQLite's own consistency check: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}
