//! A live site's reports over the API: the list and the schedule (`/api/reports`, anyone signed
//! in), one report's page (`/api/reports/{label}`), one written now (`POST /api/reports`, an
//! operator; audited); and `schedule`, which writes each period's report once it has ended.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Shared;
use super::error::{ApiError, Body};
use super::session::{User, require};
use crate::site_report::{self, About, Period, Span};
use crate::store::Role;

/// A report's own page: its styles and font are inline, and it runs no script.
const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; font-src data:; \
     img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

#[derive(Serialize)]
pub struct Listing {
    /// Written reports, newest period first.
    reports: Vec<About>,
    /// The periods whose report is written when each ends.
    schedule: Vec<Period>,
    /// Whether this build writes reports (a Pi's build has no report engine).
    engine: bool,
}

pub async fn list(State(s): State<Shared>, _u: User) -> Json<Listing> {
    let dir = s.data.join(site_report::DIR);
    let reports = tokio::task::spawn_blocking(move || site_report::list(&dir))
        .await
        .unwrap_or_default();
    Json(Listing {
        reports,
        schedule: s.live.settings_now().reports,
        engine: cfg!(feature = "report"),
    })
}

/// One report's `report.html`, to open in the browser.
pub async fn page(
    State(s): State<Shared>,
    _u: User,
    Path(label): Path<String>,
) -> Result<Response, ApiError> {
    // A label names one folder: no separators, no dots.
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::not_found(format!("no report is named {label:?}")));
    }
    let path = s
        .data
        .join(site_report::DIR)
        .join(&label)
        .join("report.html");
    let html = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|_| ApiError::not_found(format!("no report is named {label:?}")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(REPORT_CSP),
            ),
        ],
        html,
    )
        .into_response())
}

/// What `POST /api/reports` asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    period: Period,
    /// A day of the period (YYYY-MM-DD, the site's local calendar); the current one when not
    /// given.
    date: Option<chrono::NaiveDate>,
}

impl Ask {
    /// The period asked for on the site's calendar at `now` (unix ms).
    pub fn span(&self, cal: crate::energy::Calendar, now: i64) -> Span {
        let day = self.date.unwrap_or_else(|| cal.local(now).date());
        Span::of(cal, self.period, day)
    }
}

/// Write one period's report now (so far, for the current period); 422 when the site has no
/// readings in it.
pub async fn write(
    State(s): State<Shared>,
    User(u): User,
    Body(ask): Body<Ask>,
) -> Result<Json<About>, ApiError> {
    require(&u, Role::Operator)?;
    let now = s.live.site_now();
    let span = ask.span(s.live.calendar(), now);
    if span.from >= now {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: it has not begun on the site's clock", span.label),
        ));
    }
    let about = written(&s, span.clone(), now).await?.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, site_report::empty(&span))
    })?;
    let (user, json) = (u.name.clone(), about.span.label.clone());
    s.db(move |db| db.audit(now, &user, "report", "reports", &json))
        .await?;
    Ok(Json(about))
}

/// The report of `span` written from a connection of its own (a month takes seconds, which the
/// API's connection does not wait for); none when the site has no readings in it.
async fn written(s: &Shared, span: Span, now: i64) -> Result<Option<About>, ApiError> {
    let (data, tariff) = (s.data.clone(), s.live.tariff_now());
    tokio::task::spawn_blocking(move || write_blocking(&data, &span, now, tariff))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))
}

#[cfg(feature = "report")]
fn write_blocking(
    data: &std::path::Path,
    span: &Span,
    now: i64,
    tariff: Option<record::Tariff>,
) -> Result<Option<About>, String> {
    let db = crate::store::Store::open(data).map_err(|e| e.to_string())?;
    let dir = site_report::folder(data, span);
    let opts = ::reports::Options::default();
    Ok(site_report::write(&db, span, now, tariff, &dir, opts)?.map(|w| w.0))
}

#[cfg(not(feature = "report"))]
fn write_blocking(
    _: &std::path::Path,
    _: &Span,
    _: i64,
    _: Option<record::Tariff>,
) -> Result<Option<About>, String> {
    Err(
        "this build has no report engine (no `report` feature): copy the data directory to a \
         build with it and run `gridtwin report --data DIR`"
            .into(),
    )
}

/// Every half minute, the reports the schedule owes at the site's clock (`catch_up`).
pub async fn schedule(s: Shared) {
    if !cfg!(feature = "report") {
        return;
    }
    let mut skipped = Vec::new();
    loop {
        catch_up(&s, s.live.site_now(), &mut skipped).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

/// The reports the schedule owes at `now`, each written once; those written. A period without
/// readings, or whose report failed (logged), goes into `skipped` and is not tried again.
pub async fn catch_up(s: &Shared, now: i64, skipped: &mut Vec<String>) -> Vec<About> {
    let dir = s.data.join(site_report::DIR);
    let mut done: Vec<String> = tokio::task::spawn_blocking(move || site_report::list(&dir))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.span.label)
        .collect();
    done.extend(skipped.iter().cloned());
    let periods = s.live.settings_now().reports;
    let mut out = Vec::new();
    for span in site_report::due(s.live.calendar(), &periods, now, &done) {
        let label = span.label.clone();
        match written(s, span, now).await {
            Ok(Some(a)) => {
                tracing::info!("report {label} written");
                out.push(a);
            }
            // A site new since then: nothing to report, nothing to say.
            Ok(None) => skipped.push(label),
            Err(e) => {
                tracing::warn!("report {label} not written: {}", e.message);
                skipped.push(label);
            }
        }
    }
    out
}
