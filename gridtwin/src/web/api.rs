//! The JSON API's handlers.

use std::convert::Infallible;
use std::fmt::Write;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use control_core::LoadSettings;
use control_core::OperatorCommand;
use futures_util::Stream;
use serde::Deserialize;

use super::Shared;
use super::error::{ApiError, Body, Query};
use super::session::{User, hash_new_password, require};
use crate::auth;
use crate::control;
use crate::export::Format;
use crate::live::ServiceSettings;
use crate::store::now_ms;
use crate::store::{EventFilter, Role};

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/openapi.json")
}

pub async fn status(State(s): State<Shared>, _u: User) -> Response {
    Json(s.live.snapshot.borrow().clone()).into_response()
}

/// Server-sent events: the snapshot (`status`) each time the loop publishes one (20 Hz), and
/// each event the site logs (`event`), as the store keeps it but without its id.
pub async fn stream(
    State(s): State<Shared>,
    _u: User,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.live.snapshot.clone();
    let status = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let snap = rx.borrow_and_update().clone();
        let ev = SseEvent::default()
            .event("status")
            .json_data(&*snap)
            .unwrap_or_default();
        Some((Ok(ev), rx))
    });
    let events = futures_util::stream::unfold(s.live.events.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let ev = SseEvent::default()
                        .event("event")
                        .json_data(&e)
                        .unwrap_or_default();
                    return Some((Ok(ev), rx));
                }
                // A page that fell behind misses some marks; the log has them all.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let both = futures_util::stream::select(status, events);
    Sse::new(both).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

pub async fn loads(State(s): State<Shared>, _u: User) -> Response {
    Json(s.live.snapshot.borrow().loads.clone()).into_response()
}

/// One load: its live values and its settings.
pub async fn load(
    State(s): State<Shared>,
    _u: User,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let view = s
        .live
        .snapshot
        .borrow()
        .loads
        .iter()
        .find(|l| l.name == name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no load is named {name:?}")))?;
    let settings = s.live.load_settings(&name);
    Ok(Json(
        serde_json::json!({ "live": view, "settings": settings }),
    ))
}

/// Switch a load on, off, or reset it (operator; a critical load's off needs confirming).
pub async fn switch(
    State(s): State<Shared>,
    User(u): User,
    Path(name): Path<String>,
    Body(b): Body<control::Switch>,
) -> Result<Json<serde_json::Value>, ApiError> {
    control::switch(&s, &u.name, u.role, &name, b).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// New settings for a load (admin; audited, and saved for the next start).
pub async fn configure(
    State(s): State<Shared>,
    User(u): User,
    Path(name): Path<String>,
    Body(cfg): Body<LoadSettings>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Admin)?;
    if s.live.load_settings(&name).is_none() {
        return Err(ApiError::not_found(format!("no load is named {name:?}")));
    }
    s.live
        .configure(name.clone(), cfg.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let (user, now) = (u.name.clone(), now_ms());
    let json = serde_json::to_string(&cfg).unwrap_or_default();
    s.db(move |db| {
        db.set_setting(&format!("load/{name}"), &cfg)?;
        db.audit(now, &user, "load-settings", &name, &json)
    })
    .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovePhase {
    phase: grid_types::Phase,
}

/// Move a feeder home to another phase, as its selector would (operator; audited).
pub async fn move_phase(
    State(s): State<Shared>,
    User(u): User,
    Path(home): Path<String>,
    Body(b): Body<MovePhase>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Operator)?;
    let known = s
        .live
        .snapshot
        .borrow()
        .feeder
        .as_ref()
        .is_some_and(|f| f.homes.iter().any(|h| h.name == home));
    if !known {
        return Err(ApiError::not_found(format!("no home is named {home:?}")));
    }
    s.live
        .move_phase(home.clone(), b.phase)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    audited(&s, &u, "phase-move", home, format!("{:?}", b.phase)).await
}

pub async fn reset_source(
    State(s): State<Shared>,
    User(u): User,
    Path(source): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Operator)?;
    let id = match source.as_str() {
        "main" => grid_types::SourceId::Main,
        "backup" => grid_types::SourceId::Backup,
        _ => {
            return Err(ApiError::not_found(format!(
                "no source is named {source:?}; main or backup"
            )));
        }
    };
    s.live
        .operator(OperatorCommand::ResetSource(id))
        .await
        .map_err(ApiError::bad_request)?;
    audited(&s, &u, "source-reset", source, String::new()).await
}

/// What `u` did to `target` put in the audit log; the answer `{"ok": true}`.
async fn audited(
    s: &Shared,
    u: &crate::store::SessionUser,
    action: &'static str,
    target: String,
    detail: String,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, now) = (u.name.clone(), now_ms());
    s.db(move |db| db.audit(now, &user, action, &target, &detail))
        .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtsTest {
    /// Move the load to the backup (a transfer test); otherwise the engine runs unloaded.
    on_load: bool,
    /// How long, 1 to 240 minutes.
    minutes: u32,
}

/// Start a transfer switch test or generator exercise (operator; audited). Refused (409) while
/// one runs or while the switch is away from rest on the main.
pub async fn ats_test(
    State(s): State<Shared>,
    User(u): User,
    Body(t): Body<AtsTest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Operator)?;
    if !(1..=240).contains(&t.minutes) {
        return Err(ApiError::bad_request(format!(
            "minutes must be 1 to 240, not {}",
            t.minutes
        )));
    }
    let cmd = OperatorCommand::Test {
        on_load: t.on_load,
        minutes: t.minutes,
    };
    s.live
        .operator(cmd)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    let load = if t.on_load { "on load" } else { "off load" };
    let how = format!("{load} for {} min", t.minutes);
    audited(&s, &u, "ats-test", "ats".into(), how).await
}

/// A new generator exercise schedule, or `null` for none (admin; checked, audited, kept
/// across restarts).
pub async fn set_exercise(
    State(s): State<Shared>,
    User(u): User,
    Body(ex): Body<Option<control_core::Exercise>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Admin)?;
    s.live
        .set_exercise(ex.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let (user, now) = (u.name.clone(), now_ms());
    let json = serde_json::to_string(&ex).unwrap_or_default();
    s.db(move |db| {
        db.set_setting(crate::live::EXERCISE, &ex)?;
        db.audit(now, &user, "exercise-schedule", "ats", &json)
    })
    .await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// End the running test now (operator; audited); 409 when none runs.
pub async fn ats_test_end(
    State(s): State<Shared>,
    User(u): User,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Operator)?;
    s.live
        .operator(OperatorCommand::EndTest)
        .await
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e))?;
    audited(&s, &u, "ats-test-end", "ats".into(), String::new()).await
}

pub async fn events(
    State(s): State<Shared>,
    _u: User,
    Query(f): Query<EventFilter>,
) -> Result<Response, ApiError> {
    Ok(Json(s.db(move |db| db.events(&f)).await?).into_response())
}

pub async fn ack(
    State(s): State<Shared>,
    User(u): User,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Operator)?;
    let now = now_ms();
    let done = s
        .db(move |db| {
            let done = db.ack(id, &u.name, now)?;
            if done {
                db.audit(now, &u.name, "ack", &id.to_string(), "")?;
            }
            Ok(done)
        })
        .await?;
    if done {
        Ok(Json(serde_json::json!({ "ok": true })))
    } else {
        Err(ApiError::not_found(format!(
            "no unacknowledged event has id {id}"
        )))
    }
}

pub async fn channels(State(s): State<Shared>, _u: User) -> Result<Response, ApiError> {
    let list = s.db(|db| db.channel_list()).await?;
    let out: Vec<_> = list
        .into_iter()
        .map(|(name, unit)| serde_json::json!({ "name": name, "unit": unit }))
        .collect();
    Ok(Json(out).into_response())
}

/// A time range in unix ms; `to` defaults to now and `from` to an hour before `to`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub channel: Option<String>,
    pub channels: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub points: Option<u32>,
    /// An export's format.
    pub format: Option<Format>,
}

impl Range {
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let to = self.to.unwrap_or_else(|| now_ms() + 1);
        let from = self.from.unwrap_or(to - 3_600_000);
        if from >= to {
            return Err(ApiError::bad_request(format!(
                "from ({from}) must be before to ({to})"
            )));
        }
        Ok((from, to))
    }
}

pub async fn history(
    State(s): State<Shared>,
    _u: User,
    Query(r): Query<Range>,
) -> Result<Response, ApiError> {
    let (from, to) = r.bounds()?;
    let channel = r
        .channel
        .ok_or_else(|| ApiError::bad_request("history needs ?channel=NAME (see /api/channels)"))?;
    let points = r.points.unwrap_or(1000).clamp(1, 10_000);
    let out = s
        .db(move |db| db.history(&channel, from, to, points))
        .await?;
    Ok(Json(out).into_response())
}

/// Every stored row of the channels over the range at its own resolution: CSV (the default),
/// JSON with the range's events, or an Excel workbook.
pub async fn export(
    State(s): State<Shared>,
    _u: User,
    Query(r): Query<Range>,
) -> Result<Response, ApiError> {
    let (from, to) = r.bounds()?;
    let format = r.format.unwrap_or(Format::Csv);
    let channels: Vec<String> = r
        .channels
        .or(r.channel)
        .ok_or_else(|| ApiError::bad_request("export needs ?channels=A,B (see /api/channels)"))?
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let body = s
        .db(move |db| crate::export::export(db, &channels, from, to, format))
        .await?;
    let name = format!(
        "attachment; filename=\"gridtwin-export.{}\"",
        format.extension()
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}

/// The service's settings: retention of readings and notifications (admin; the mail
/// server's password is never shown).
pub async fn settings(State(s): State<Shared>, User(u): User) -> Result<Response, ApiError> {
    require(&u, Role::Admin)?;
    let mut current = s.live.settings_now();
    current.notifications = current.notifications.redacted();
    Ok(Json(current).into_response())
}

/// New settings; a password left out is kept for the same mail account.
pub async fn set_settings(
    State(s): State<Shared>,
    User(u): User,
    Body(mut new): Body<ServiceSettings>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require(&u, Role::Admin)?;
    let unfit = |p: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, p);
    if let Some(p) = new.problem() {
        return Err(unfit(p));
    }
    if let Some(p) = new.notifications.unknown_groups(&s.live.rules_now()) {
        return Err(unfit(format!("{p} (change the rule first)")));
    }
    let in_force = s.live.settings_now().notifications;
    new.notifications = new.notifications.keeping_password(&in_force);
    let (user, now) = (u.name.clone(), now_ms());
    let mut shown = new.clone();
    shown.notifications = shown.notifications.redacted();
    let json = serde_json::to_string(&shown).unwrap_or_default();
    let stored = new.clone();
    s.db(move |db| {
        db.set_setting(crate::live::SETTINGS, &stored)?;
        db.audit(now, &user, "settings", "service", &json)
    })
    .await?;
    *s.live
        .settings
        .write()
        .map_err(|_| ApiError::internal("settings lock"))? = new;
    Ok(Json(serde_json::json!({ "ok": true })))
}

pub async fn audit(State(s): State<Shared>, User(u): User) -> Result<Response, ApiError> {
    require(&u, Role::Admin)?;
    Ok(Json(s.db(|db| db.audit_log(500)).await?).into_response())
}

pub async fn users(State(s): State<Shared>, User(u): User) -> Result<Response, ApiError> {
    require(&u, Role::Admin)?;
    Ok(Json(s.db(|db| db.users()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    role: Role,
    password: String,
}

pub async fn add_user(
    State(s): State<Shared>,
    User(u): User,
    Body(n): Body<NewUser>,
) -> Result<StatusCode, ApiError> {
    require(&u, Role::Admin)?;
    auth::check_name(&n.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let hash = hash_new_password(n.password).await?;
    let now = now_ms();
    s.db(move |db| {
        db.add_user(&n.name, n.role, &hash, now)?;
        db.audit(now, &u.name, "user-add", &n.name, n.role.name())
    })
    .await
    .map_err(|e| match e.status {
        StatusCode::BAD_REQUEST => ApiError::new(StatusCode::CONFLICT, e.message),
        _ => e,
    })?;
    Ok(StatusCode::CREATED)
}

pub async fn delete_user(
    State(s): State<Shared>,
    User(u): User,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    require(&u, Role::Admin)?;
    if name == u.name {
        return Err(ApiError::bad_request("you cannot delete yourself"));
    }
    let now = now_ms();
    let done = s
        .db(move |db| {
            let done = db.delete_user(&name)?;
            if done {
                db.audit(now, &u.name, "user-delete", &name, "")?;
            }
            Ok(done)
        })
        .await?;
    // The removed user's sessions must stop working now.
    s.sessions.forget(None);
    done.then_some(StatusCode::NO_CONTENT)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// A feeder's families: each home (labelled with its phase) and each transformer secondary.
fn feeder_metrics(
    f: &crate::live::FeederView,
    family: &mut impl FnMut(&str, &str, &str, Vec<(String, f64)>),
) {
    let home = |g: &dyn Fn(&crate::live::HomeView) -> f64| {
        f.homes
            .iter()
            .map(|h| {
                let labels = format!("{{home=\"{}\",phase=\"{}\"}}", escape(&h.name), h.phase);
                (labels, g(h))
            })
            .collect::<Vec<_>>()
    };
    family(
        "gridtwin_home_power_watts",
        "Real power per home, labelled with the phase it is on.",
        "gauge",
        home(&|h| h.p_w),
    );
    family(
        "gridtwin_home_voltage_pu",
        "Voltage per home, per unit of its nominal.",
        "gauge",
        home(&|h| h.v_pu),
    );
    family(
        "gridtwin_home_energy_joules_total",
        "Energy delivered to each home since the counters began.",
        "counter",
        home(&|h| h.energy_j),
    );
    let heads = |g: &dyn Fn(&crate::live::HeadView) -> f64| {
        f.heads
            .iter()
            .map(|h| (format!("{{bus=\"{}\"}}", escape(&h.bus)), g(h)))
            .collect::<Vec<_>>()
    };
    family(
        "gridtwin_transformer_current_amperes",
        "Current per phase at each transformer secondary.",
        "gauge",
        f.heads
            .iter()
            .flat_map(|h| {
                h.amps.iter().map(|(phase, a)| {
                    let labels = format!("{{bus=\"{}\",phase=\"{phase}\"}}", escape(&h.bus));
                    (labels, *a)
                })
            })
            .collect(),
    );
    family(
        "gridtwin_transformer_neutral_current_amperes",
        "Neutral (residual) current at each transformer secondary.",
        "gauge",
        heads(&|h| h.neutral_a),
    );
    family(
        "gridtwin_transformer_current_unbalance_ratio",
        "Current unbalance at each transformer secondary: max deviation from the mean over the mean.",
        "gauge",
        heads(&|h| h.unbalance_pct / 100.0),
    );
    family(
        "gridtwin_feeder_source_power_watts",
        "Real power from the feeder's source.",
        "gauge",
        vec![(String::new(), f.source_w)],
    );
    family(
        "gridtwin_feeder_source_energy_joules_total",
        "Energy from the feeder's source since the counters began.",
        "counter",
        vec![(String::new(), f.source_energy_j)],
    );
}

/// Prometheus text format, base units.
pub async fn metrics(State(s): State<Shared>, _u: User) -> Response {
    let snap = s.live.snapshot.borrow().clone();
    let mut o = String::new();
    let mut family = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(o, "{name}{labels} {v}");
        }
    };
    let load = |f: &dyn Fn(&crate::live::LoadView) -> f64| {
        snap.loads
            .iter()
            .map(|l| (format!("{{load=\"{}\"}}", escape(&l.name)), f(l)))
            .collect::<Vec<_>>()
    };
    let sources = |f: &dyn Fn(&crate::live::SourceView) -> f64| {
        vec![
            ("{source=\"main\"}".to_string(), f(&snap.main)),
            ("{source=\"backup\"}".to_string(), f(&snap.backup)),
        ]
    };
    family(
        "gridtwin_load_power_watts",
        "Real power per load.",
        "gauge",
        load(&|l| l.p_w),
    );
    family(
        "gridtwin_load_current_amperes",
        "RMS current per load.",
        "gauge",
        load(&|l| l.i),
    );
    family(
        "gridtwin_load_voltage_volts",
        "RMS voltage per load.",
        "gauge",
        load(&|l| l.v),
    );
    family(
        "gridtwin_load_relay_closed",
        "1 when the load's relay is closed.",
        "gauge",
        load(&|l| f64::from(u8::from(l.relay))),
    );
    family(
        "gridtwin_energy_joules_total",
        "Energy delivered to each load since the counters began.",
        "counter",
        load(&|l| l.energy_j),
    );
    family(
        "gridtwin_source_energy_joules_total",
        "Energy delivered by each source.",
        "counter",
        sources(&|x| x.energy_j),
    );
    family(
        "gridtwin_source_voltage_volts",
        "Source voltage.",
        "gauge",
        sources(&|x| x.v),
    );
    family(
        "gridtwin_source_frequency_hertz",
        "Source frequency.",
        "gauge",
        sources(&|x| x.hz),
    );
    family(
        "gridtwin_source_power_watts",
        "Source real power.",
        "gauge",
        sources(&|x| x.p_w),
    );
    family(
        "gridtwin_source_closed",
        "1 when the source's contactor is closed.",
        "gauge",
        sources(&|x| f64::from(u8::from(x.closed))),
    );
    family(
        "gridtwin_bus_voltage_volts",
        "Bus voltage.",
        "gauge",
        vec![(String::new(), snap.bus_v)],
    );
    family(
        "gridtwin_bus_frequency_hertz",
        "Bus frequency.",
        "gauge",
        vec![(String::new(), snap.bus_hz)],
    );
    if let Some(f) = &snap.feeder {
        feeder_metrics(f, &mut family);
    }
    family(
        "gridtwin_loop_lag_seconds",
        "How far the twin is behind its clock.",
        "gauge",
        vec![(String::new(), snap.lag_s)],
    );
    let t = &s.live.timing;
    let quantiles = |f: &dyn Fn(f64) -> std::time::Duration| {
        [0.5, 0.99, 0.999]
            .map(|q| (format!("{{quantile=\"{q}\"}}"), f(q).as_secs_f64()))
            .to_vec()
    };
    family(
        "gridtwin_loop_pass_seconds",
        "Work per pass of the control loop (its deadline: gridtwin_loop_deadline_seconds).",
        "summary",
        quantiles(&|q| t.busy_quantile(q)),
    );
    family(
        "gridtwin_loop_pass_max_seconds",
        "The longest pass of the control loop.",
        "gauge",
        vec![(String::new(), t.busy_max().as_secs_f64())],
    );
    family(
        "gridtwin_loop_deadline_seconds",
        "A pass's deadline, one tick of the loop.",
        "gauge",
        vec![(String::new(), t.deadline.as_secs_f64())],
    );
    family(
        "gridtwin_loop_passes_total",
        "Passes of the control loop.",
        "counter",
        vec![(String::new(), t.passes() as f64)],
    );
    family(
        "gridtwin_loop_deadline_missed_total",
        "Passes that worked past their deadline.",
        "counter",
        vec![(String::new(), t.missed() as f64)],
    );
    family(
        "gridtwin_loop_oversleep_seconds",
        "How much longer than a tick the loop slept between passes (scheduling jitter).",
        "summary",
        quantiles(&|q| t.oversleep_quantile(q)),
    );
    family(
        "gridtwin_loop_oversleep_max_seconds",
        "The longest oversleep between passes.",
        "gauge",
        vec![(String::new(), t.oversleep_max().as_secs_f64())],
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o,
    )
        .into_response()
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
