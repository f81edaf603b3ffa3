//! Who is asking: session cookies (HttpOnly, SameSite=Strict) for the browser, bearer tokens for
//! scripts; roles per route; login with its rate limit; the one-time setup of the first admin.
//!
//! CSRF: the session cookie is SameSite=Strict, so another site's request carries none; every
//! state-changing route takes a JSON body, which a cross-site form cannot send; and a
//! cookie-authenticated request whose Origin or Sec-Fetch-Site names another site is refused.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::Shared;
use super::error::{ApiError, Body};
use crate::auth;
use crate::store::{Role, SessionUser, now_ms};

pub const COOKIE: &str = "gridtwin_session";

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct User(pub SessionUser);

/// 403 unless `u` has at least `role`.
pub fn require(u: &SessionUser, role: Role) -> Result<(), ApiError> {
    if u.role >= role {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a {}; this needs the {} role",
                u.name,
                u.role.name(),
                role.name()
            ),
        ))
    }
}

/// An argon2 hash of a new password, made off the async threads (it takes tens of ms); a
/// password too short is a 400.
pub async fn hash_new_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The token a request carries: a bearer token, else the session cookie.
fn token(h: &HeaderMap) -> Option<(String, bool)> {
    if let Some(b) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((b.trim().to_string(), false));
    }
    // Parsed by hand: one cookie of our own, no attributes to read.
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .map(|t| (t.to_string(), true))
}

/// A cookie-carrying request that changes state must come from our own pages.
fn same_site(parts: &Parts) -> bool {
    let h = &parts.headers;
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (h.get(header::ORIGIN), h.get(header::HOST)) {
        (None, _) => true,
        (Some(o), Some(host)) => o
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, authority)| Some(authority) == host.to_str().ok()),
        (Some(_), None) => false,
    }
}

impl FromRequestParts<Shared> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let (token, cookie) =
            token(&parts.headers).ok_or_else(|| unauthorized("log in first (no session)"))?;
        if cookie && !matches!(parts.method, Method::GET | Method::HEAD) && !same_site(parts) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a cross-site request with a session cookie is refused",
            ));
        }
        let digest = auth::digest(&token);
        if let Some(u) = state.sessions.get(&digest) {
            return Ok(User(u));
        }
        let now = now_ms();
        let key = digest.clone();
        let user = state.db(move |db| db.session(&key, now)).await?;
        let user = user
            .ok_or_else(|| unauthorized("the session has expired or is unknown; log in again"))?;
        state.sessions.put(digest, user.clone());
        Ok(User(user))
    }
}

/// The client's address, when the server knows it (tests without a socket do not).
pub struct Client(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Sessions recently found in the store, so that a request needs no database lookup. An entry
/// is trusted for `SessionCache::TRUST` only, and never past the session's end: a session
/// ended elsewhere (another process, `gridtwin user remove`) stops working within that time;
/// one ended here, or one whose time is up, at once.
#[derive(Default)]
pub struct SessionCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (SessionUser, Instant)>>,
}

impl SessionCache {
    const TRUST: std::time::Duration = std::time::Duration::from_secs(5);

    fn get(&self, digest: &str) -> Option<SessionUser> {
        let e = self.entries.lock().ok()?;
        e.get(digest)
            .filter(|(u, at)| at.elapsed() < Self::TRUST && u.expires > now_ms())
            .map(|(u, _)| u.clone())
    }

    fn put(&self, digest: String, user: SessionUser) {
        if let Ok(mut e) = self.entries.lock() {
            if e.len() > 10_000 {
                e.retain(|_, (_, at)| at.elapsed() < Self::TRUST);
            }
            e.insert(digest, (user, Instant::now()));
        }
    }

    /// Forget one session, or all (after a user is removed).
    pub fn forget(&self, digest: Option<&str>) {
        if let Ok(mut e) = self.entries.lock() {
            match digest {
                Some(d) => {
                    e.remove(d);
                }
                None => e.clear(),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    name: String,
    password: String,
}

pub async fn login(
    State(s): State<Shared>,
    Client(ip): Client,
    Body(l): Body<Login>,
) -> Result<Response, ApiError> {
    // Per name, and per address when the server knows it.
    let keys: Vec<String> = std::iter::once(format!("user:{}", l.name))
        .chain(ip.map(|ip| format!("ip:{ip}")))
        .collect();
    {
        let mut limit = s.logins.lock().map_err(|_| ApiError::internal("lock"))?;
        let now = Instant::now();
        if let Some(wait) = keys.iter().find_map(|k| limit.check(k, now)) {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many failed logins; try again in {} s",
                    wait.as_secs() + 1
                ),
            )
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs() + 1));
            return Ok(r);
        }
    }
    let name = l.name.clone();
    let creds = s.db(move |db| db.credentials(&name)).await?;
    let password = l.password;
    let ok = match creds {
        Some((role, hash)) => tokio::task::spawn_blocking(move || {
            auth::verify_password(&hash, &password).then_some(role)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?,
        None => None,
    };
    let Some(role) = ok else {
        let mut limit = s.logins.lock().map_err(|_| ApiError::internal("lock"))?;
        for k in &keys {
            limit.failed(k, Instant::now());
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown user or wrong password",
        ));
    };
    s.logins
        .lock()
        .map_err(|_| ApiError::internal("lock"))?
        .succeeded(&keys[0]);
    // A fresh token on every login: a session id known before login is worth nothing after.
    let token = auth::new_token().map_err(|e| ApiError::internal(e.to_string()))?;
    let (digest, user, now) = (auth::digest(&token), l.name.clone(), now_ms());
    let ttl = s.session_ttl;
    let expires = now + ttl.as_millis() as i64;
    s.db(move |db| db.add_session(&digest, &user, now, expires))
        .await?;
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        ttl.as_secs(),
        if s.secure_cookies { "; Secure" } else { "" }
    );
    let mut r = Json(serde_json::json!({ "name": l.name, "role": role })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(r)
}

pub async fn logout(
    State(s): State<Shared>,
    headers: HeaderMap,
    _u: User,
) -> Result<Response, ApiError> {
    if let Some((token, _)) = token(&headers) {
        let digest = auth::digest(&token);
        s.sessions.forget(Some(&digest));
        s.db(move |db| db.delete_session(&digest)).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("gridtwin_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(r)
}

pub async fn me(User(u): User) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": u.name, "role": u.role }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Days the token is valid, 1 to 366.
    days: u32,
}

/// A bearer token for scripts and Prometheus, valid for `days`, with the caller's role.
pub async fn create_token(
    State(s): State<Shared>,
    User(u): User,
    Body(t): Body<NewToken>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !(1..=366).contains(&t.days) {
        return Err(ApiError::bad_request("days must be 1 to 366"));
    }
    let token = auth::new_token().map_err(|e| ApiError::internal(e.to_string()))?;
    let digest = auth::digest(&token);
    let now = now_ms();
    let expires = now + i64::from(t.days) * 86_400_000;
    let name = u.name.clone();
    s.db(move |db| {
        db.add_session(&digest, &name, now, expires)?;
        db.audit(
            now,
            &name,
            "create-token",
            &name,
            &format!("{} days", t.days),
        )
    })
    .await?;
    Ok(Json(
        serde_json::json!({ "token": token, "expires": expires }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    token: String,
    name: String,
    password: String,
}

/// The first admin, made with the one-time link printed at the first start.
pub async fn setup(State(s): State<Shared>, Body(b): Body<Setup>) -> Result<StatusCode, ApiError> {
    auth::check_name(&b.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let hash = hash_new_password(b.password).await?;
    let digest = auth::digest(&b.token);
    let now = now_ms();
    s.db(move |db| {
        if !db.take_setup_token(&digest, now)? {
            return Ok(false);
        }
        db.add_user(&b.name, Role::Admin, &hash, now)?;
        db.audit(now, &b.name, "setup", &b.name, "first admin")?;
        Ok(true)
    })
    .await?
    .then_some(StatusCode::CREATED)
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "the setup link is unknown, used or expired",
        )
    })
}
