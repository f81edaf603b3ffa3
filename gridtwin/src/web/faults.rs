//! Fault records over the API, for anyone signed in: the list, one record's samples for the
//! page to draw, and its COMTRADE files (`.cfg` and `.dat`) to download.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Shared;
use super::error::{ApiError, Query};
use super::session::User;
use crate::store::FaultSummary;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// [from, to) unix ms of the first trip; every record when not given.
    from: Option<i64>,
    to: Option<i64>,
    /// At most this many, newest first (1 to 1000; 100 when not given).
    limit: Option<u32>,
}

pub async fn faults(
    State(s): State<Shared>,
    _u: User,
    Query(q): Query<List>,
) -> Result<Json<Vec<FaultSummary>>, ApiError> {
    let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to 1000, not {limit}"
        )));
    }
    Ok(Json(s.db(move |db| db.faults(from, to, limit)).await?))
}

async fn record(s: &Shared, id: i64) -> Result<record::FaultRecord, ApiError> {
    s.db(move |db| db.fault(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no fault record has id {id}")))
}

/// One record: its trips, start (s since the Unix epoch), rate and each channel's samples.
pub async fn fault(
    State(s): State<Shared>,
    _u: User,
    Path(id): Path<i64>,
) -> Result<Json<record::FaultRecord>, ApiError> {
    Ok(Json(record(&s, id).await?))
}

/// The record as COMTRADE: `cfg` or `dat`, times in the site's local time.
pub async fn comtrade(
    State(s): State<Shared>,
    _u: User,
    Path((id, file)): Path<(i64, String)>,
) -> Result<Response, ApiError> {
    if file != "cfg" && file != "dat" {
        return Err(ApiError::not_found(format!(
            "a fault record has a cfg and a dat file, not {file:?}"
        )));
    }
    let rec = record(&s, id).await?;
    let local = chrono::DateTime::UNIX_EPOCH.naive_utc()
        + chrono::Duration::seconds(i64::from(s.live.notify_from.utc_offset_s));
    let files = record::comtrade::write(&rec, &s.live.notify_from.site, local);
    let name = format!(
        "attachment; filename=\"{}.{file}\"",
        controller::run::output::fault_stem(id as usize, &rec)
    );
    let (kind, body) = if file == "cfg" {
        ("text/plain; charset=utf-8", files.cfg.into_bytes())
    } else {
        ("application/octet-stream", files.dat)
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
