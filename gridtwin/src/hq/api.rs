//! hq's HTTP API, read only: the sites, and for each its channels, history and events, with
//! the local control center's query parameters (`from`, `to` in unix ms, `channel`,
//! `points`); `/api/stats` hq's own counters and whether it holds its subscriptions.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::Counters;
use super::pg::Reader;
use crate::web::{ApiError, Query, Range};

pub struct HqState {
    pub reader: Reader,
    pub counters: Arc<Counters>,
    pub token: Option<String>,
}

type Shared = Arc<HqState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/sites", get(sites))
        .route("/api/sites/{site}/channels", get(channels))
        .route("/api/sites/{site}/history", get(history))
        .route("/api/sites/{site}/events", get(events))
        .route("/api/stats", get(stats))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(middleware::from_fn_with_state(state.clone(), bearer))
        .with_state(state)
}

/// With a token configured, every request shows it.
async fn bearer(State(s): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Compared by digest, so the time taken says nothing about the token.
        if given.map(crate::auth::digest) != Some(crate::auth::digest(token)) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "hq wants Authorization: Bearer TOKEN",
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn internal(e: String) -> ApiError {
    ApiError::internal(e)
}

fn no_site(site: &str) -> ApiError {
    ApiError::not_found(format!("no site is named {site:?} (see /api/sites)"))
}

async fn sites(State(s): State<Shared>) -> Result<Response, ApiError> {
    Ok(Json(s.reader.sites().await.map_err(internal)?).into_response())
}

async fn channels(State(s): State<Shared>, Path(site): Path<String>) -> Result<Response, ApiError> {
    let list = s
        .reader
        .channels(&site)
        .await
        .map_err(internal)?
        .ok_or_else(|| no_site(&site))?;
    let out: Vec<_> = list
        .into_iter()
        .map(|(name, unit)| serde_json::json!({ "name": name, "unit": unit }))
        .collect();
    Ok(Json(out).into_response())
}

async fn history(
    State(s): State<Shared>,
    Path(site): Path<String>,
    Query(r): Query<Range>,
) -> Result<Response, ApiError> {
    let (from, to) = r.bounds()?;
    let channel = r.channel.clone().ok_or_else(|| {
        ApiError::bad_request("history needs ?channel=NAME (see /api/sites/SITE/channels)")
    })?;
    let points = r.points.unwrap_or(1000).clamp(1, 10_000);
    let out = s
        .reader
        .history(&site, &channel, from, to, points)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError::not_found(format!("site {site:?} has no channel named {channel:?}"))
        })?;
    Ok(Json(out).into_response())
}

/// `from`, `to` (unix ms; the last hour by default) and `limit` (200, at most 10000).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    from: Option<i64>,
    to: Option<i64>,
    limit: Option<u32>,
}

async fn events(
    State(s): State<Shared>,
    Path(site): Path<String>,
    Query(q): Query<EventQuery>,
) -> Result<Response, ApiError> {
    let r = Range {
        channel: None,
        channels: None,
        from: q.from,
        to: q.to,
        points: None,
        format: None,
    };
    let (from, to) = r.bounds()?;
    let limit = i64::from(q.limit.unwrap_or(200).clamp(1, 10_000));
    let out = s
        .reader
        .events(&site, from, to, limit)
        .await
        .map_err(internal)?
        .ok_or_else(|| no_site(&site))?;
    Ok(Json(out).into_response())
}

async fn stats(State(s): State<Shared>) -> Response {
    let c = &s.counters;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Json(serde_json::json!({
        "received": n(&c.received),
        "stored": n(&c.stored),
        "readings": n(&c.readings),
        "duplicates": n(&c.duplicates),
        "missing": n(&c.missing),
        "refused": n(&c.refused),
        "failed_batches": n(&c.failed_batches),
        "subscribed": c.subscribed.load(Ordering::Relaxed),
    }))
    .into_response()
}
