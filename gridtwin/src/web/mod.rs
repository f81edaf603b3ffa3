//! The HTTP control center: the JSON API (described at /api/openapi.json), the live stream,
//! Prometheus metrics. Handlers only translate: the loop decides, the store remembers.

mod alerts;
mod api;
mod assets;
mod energy;
mod error;
mod faults;
pub mod https;
pub mod reports;
pub mod session;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{delete, get, post, put};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::RateLimit;
use crate::live::Live;
use crate::store::Store;
pub use api::Range;
pub use error::{ApiError, Query};

/// What every handler shares.
pub struct AppState {
    pub live: Live,
    /// The API's own connection (reads, users, audit); the loop's writer has another.
    pub db: Mutex<Store>,
    pub logins: Mutex<RateLimit>,
    /// Mark cookies Secure (when served over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    pub sessions: session::SessionCache,
    /// The data directory (the store, and the reports in `reports/`).
    pub data: std::path::PathBuf,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(live: Live, db: Store, data: &std::path::Path) -> Self {
        AppState {
            live,
            db: Mutex::new(db),
            // Five failures a minute per user name and per client address.
            logins: Mutex::new(RateLimit::new(5, Duration::from_secs(60))),
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            sessions: session::SessionCache::default(),
            data: data.to_path_buf(),
        }
    }

    /// Run `f` on the API's database connection off the async threads.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let db = me
                .db
                .lock()
                .map_err(|_| ApiError::internal("the database lock is poisoned"))?;
            f(&db).map_err(ApiError::from)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }
}

impl crate::control::Switchboard for Shared {
    fn live(&self) -> &Live {
        &self.live
    }

    async fn audit(
        &self,
        now: i64,
        user: String,
        action: String,
        subject: String,
        detail: &'static str,
    ) -> Result<(), String> {
        self.db(move |db| db.audit(now, &user, &action, &subject, detail))
            .await
            .map_err(|e| e.message)
    }
}

/// Every route.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(api::openapi))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/setup", post(session::setup))
        .route("/me", get(session::me))
        .route("/tokens", post(session::create_token))
        .route("/status", get(api::status))
        .route("/stream", get(api::stream))
        .route("/loads", get(api::loads))
        .route("/loads/{name}", get(api::load))
        .route("/loads/{name}/switch", post(api::switch))
        .route("/loads/{name}/settings", put(api::configure))
        .route("/sources/{source}/reset", post(api::reset_source))
        .route("/ats/test", post(api::ats_test))
        .route("/ats/test/end", post(api::ats_test_end))
        .route("/ats/exercise", put(api::set_exercise))
        .route("/homes/{name}/phase", post(api::move_phase))
        .route("/events", get(api::events))
        .route("/events/{id}/ack", post(api::ack))
        .route("/channels", get(api::channels))
        .route("/history", get(api::history))
        .route("/export", get(api::export))
        .route("/faults", get(faults::faults))
        .route("/faults/{id}", get(faults::fault))
        .route("/faults/{id}/{file}", get(faults::comtrade))
        .route("/energy", get(energy::energy))
        .route("/energy/intervals", get(energy::intervals))
        .route("/reports", get(reports::list).post(reports::write))
        .route("/reports/{label}", get(reports::page))
        .route("/audit", get(api::audit))
        .route("/settings", get(api::settings).put(api::set_settings))
        .route("/alerts", get(alerts::alerts).put(alerts::set_alerts))
        .route("/notify/test", post(alerts::test))
        .route("/users", get(api::users).post(api::add_user))
        .route("/users/{name}", delete(api::delete_user))
        .fallback(api::not_found);
    Router::new()
        .nest("/api", api)
        .route("/metrics", get(api::metrics))
        .route("/", get(assets::index))
        .route("/setup", get(assets::index))
        .route("/assets/{*name}", get(assets::asset))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        // A report's page sets its own.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(assets::CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// Serve on `listener` until ctrl-c; HTTPS with `tls`.
pub async fn serve(
    state: Shared,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    if let Some(tls) = tls {
        return https::serve(state, listener, tls, stop_signal()).await;
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await
}

/// Ctrl-c, or (on Unix) SIGTERM as a service manager sends.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
