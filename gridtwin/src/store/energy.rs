//! The energy ledger: each register's rise per 15-minute interval, added to in the same
//! transaction as the counters, so that a register's intervals sum to its counter's rise since
//! the ledger began. The Energy page, cost and demand are computed from it.

use rusqlite::{Transaction, params};
use serde::Serialize;

use super::{Result, Store};

/// One register's rise within one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interval {
    /// The register (`main`, `load/fridge`, `home/h12`, `source`).
    pub register: String,
    /// The interval's start, unix ms.
    pub t: i64,
    pub joules: f64,
}

pub(super) fn add(tx: &Transaction, rises: &[Interval]) -> Result<()> {
    let mut q = tx.prepare_cached(
        "INSERT INTO energy(register, t, joules) VALUES (?1, ?2, ?3)
         ON CONFLICT(t, register) DO UPDATE SET joules = joules + excluded.joules",
    )?;
    for r in rises {
        q.execute(params![r.register, r.t, r.joules])?;
    }
    Ok(())
}

impl Store {
    /// The ledger's intervals starting in [from, to) unix ms, in time then register order.
    pub fn energy(&self, from: i64, to: i64) -> Result<Vec<Interval>> {
        let mut q = self.conn.prepare_cached(
            "SELECT register, t, joules FROM energy WHERE t >= ?1 AND t < ?2
             ORDER BY t, register",
        )?;
        let rows = q.query_map(params![from, to], |r| {
            Ok(Interval {
                register: r.get(0)?,
                t: r.get(1)?,
                joules: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each register's whole ledger, J: equal to its counter's rise since the ledger began.
    pub fn energy_totals(&self) -> Result<std::collections::BTreeMap<String, f64>> {
        let mut q = self
            .conn
            .prepare("SELECT register, sum(joules) FROM energy GROUP BY register")?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
