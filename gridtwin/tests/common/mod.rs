//! A live site on the demo PDU in a scratch data directory, with one user per role, and
//! requests sent straight to its router.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use gridtwin::auth;
use gridtwin::service::{ServeOptions, start};
use gridtwin::store::{Role, Store};
use gridtwin::web::{AppState, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gridtwin-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn demo() -> controller::scenario::Loaded {
    controller::scenario::parse(
        Path::new("scenarios/outage_generator_start.ron"),
        controller::DEMO_SCENARIO,
    )
    .unwrap()
}

pub struct Site {
    pub state: Arc<AppState>,
    pub app: Router,
    pub dir: PathBuf,
    pub setup: Option<String>,
}

/// The demo at `speed`, with users viewer, operator and admin (when `users`).
pub fn site(tag: &str, speed: f64, users: bool) -> Site {
    let dir = scratch(tag);
    if users {
        let db = Store::open(&dir).unwrap();
        let hash = auth::hash_password(PASSWORD).unwrap();
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            db.add_user(r.name(), r, &hash, 0).unwrap();
        }
    }
    let (state, setup) = start(
        &demo(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: &dir,
            speed,
        },
    )
    .unwrap();
    let state = Arc::new(state);
    Site {
        app: router(state.clone()),
        state,
        dir,
        setup,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `error` message of a JSON error.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Site {
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).to_string(),
        }
    }

    /// A request with the session cookie (when given) and a JSON body (when given).
    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        json: Option<&str>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        let body = match json {
            Some(j) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn get(&self, uri: &str, cookie: &str) -> Reply {
        self.call(Method::GET, uri, Some(cookie), None).await
    }

    pub async fn post(&self, uri: &str, cookie: &str, json: &str) -> Reply {
        self.call(Method::POST, uri, Some(cookie), Some(json)).await
    }

    /// Log in; the cookie to send back.
    pub async fn login(&self, name: &str) -> String {
        let body = serde_json::json!({ "name": name, "password": PASSWORD }).to_string();
        let r = self
            .call(Method::POST, "/api/login", None, Some(&body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        set.split(';').next().unwrap().to_string()
    }

    /// Wait (up to 20 s) until the live status satisfies `f`.
    pub async fn until(
        &self,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = serde_json::to_value(&*self.state.live.snapshot.borrow().clone()).unwrap();
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "never: {what}; last {s}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.state.live.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
