//! The alert rules over the API: anyone signed in reads them with the alerts raised now; an
//! admin replaces them, checked by the loop against the site's channels, stored and audited;
//! an admin sends a test notification.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use control_core::AlertRule;

use super::Shared;
use super::error::{ApiError, Body};
use super::session::{User, require};
use crate::live::alerts::KEY;
use crate::store::{Role, now_ms};

pub async fn alerts(
    State(s): State<Shared>,
    _u: User,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rules = s.live.rules_now();
    let active = s.live.snapshot.borrow().alerts.clone();
    Ok(Json(
        serde_json::json!({ "rules": rules, "active": active }),
    ))
}

pub async fn set_alerts(
    State(s): State<Shared>,
    User(u): User,
    Body(rules): Body<Vec<AlertRule>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Admin)?;
    if let Some(p) = s.live.settings_now().notifications.unknown_groups(&rules) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, p));
    }
    s.live
        .set_alerts(rules.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let (user, now) = (u.name.clone(), now_ms());
    let json = serde_json::to_string(&rules).unwrap_or_default();
    s.db(move |db| {
        db.set_setting(KEY, &rules)?;
        db.audit(now, &user, "alert-rules", KEY, &json)
    })
    .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// One group (every group when none).
    #[serde(default)]
    group: Option<String>,
}

/// Send a test message to a group's targets, or every group's; how each went.
pub async fn test(
    State(s): State<Shared>,
    User(u): User,
    Body(t): Body<Test>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Admin)?;
    let cfg = s.live.settings_now().notifications;
    let outcomes = s
        .live
        .notify_from
        .test(&cfg, t.group.as_deref(), now_ms())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let (user, now) = (u.name.clone(), now_ms());
    let target = t.group.unwrap_or_else(|| "every group".into());
    let json = serde_json::to_string(&outcomes).unwrap_or_default();
    s.db(move |db| db.audit(now, &user, "notify-test", &target, &json))
        .await?;
    Ok(Json(serde_json::json!({ "outcomes": outcomes })))
}
