//! A live site on the demo PDU in a scratch data directory, with one user per role, and
//! requests sent straight to its router.

#![allow(dead_code)]

pub mod broker;
pub mod postgres;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A scenario from the repository's `scenarios/`.
pub fn scenario(name: &str) -> controller::scenario::Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    controller::scenario::load(&path).unwrap()
}

pub struct Site {
    pub state: Arc<AppState>,
    pub app: Router,
    pub dir: PathBuf,
    pub setup: Option<String>,
}

/// The demo at `speed`, with users viewer, operator and admin (when `users`).
pub fn site(tag: &str, speed: f64, users: bool) -> Site {
    site_of(&demo(), tag, speed, users)
}

/// As `site`, for any scenario.
pub fn site_of(l: &controller::scenario::Loaded, tag: &str, speed: f64, users: bool) -> Site {
    site_on(l, tag, speed, users, None, None)
}

/// As `site_of`, the controller on `hil`'s bench or a feeder on `field` when given.
pub fn site_on(
    l: &controller::scenario::Loaded,
    tag: &str,
    speed: f64,
    users: bool,
    hil: Option<&gridtwin::hardware::Hil>,
    field: Option<&gridtwin::service::Field>,
) -> Site {
    let dir = scratch(tag);
    if users {
        let db = Store::open(&dir).unwrap();
        let hash = auth::hash_password(PASSWORD).unwrap();
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            db.add_user(r.name(), r, &hash, 0).unwrap();
        }
    }
    let (state, setup) = serve(l, &dir, speed, hil, field);
    let state = Arc::new(state);
    Site {
        app: router(state.clone()),
        state,
        dir,
        setup,
    }
}

/// Wait until the site's clock reaches `t` (unix ms).
pub async fn until_site(s: &AppState, t: i64) {
    let t0 = Instant::now();
    while s.live.site_now() < t {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the site's clock stalled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The service on `dir`'s store, listening nowhere (requests go to its router).
fn serve(
    l: &controller::scenario::Loaded,
    dir: &Path,
    speed: f64,
    hil: Option<&gridtwin::hardware::Hil>,
    field: Option<&gridtwin::service::Field>,
) -> (AppState, Option<String>) {
    start(
        l,
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: dir,
            speed,
            hil,
            field,
            mqtt: None,
            tls: None,
            secure_cookies: false,
        },
    )
    .unwrap()
}

/// The demo's service started again on `s`'s store after `s` stops, as after a restart.
pub fn restarted(s: &Site, speed: f64) -> AppState {
    s.state.live.shutdown();
    serve(&demo(), &s.dir, speed, None, None).0
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The body as sent (a binary download).
    pub raw: Vec<u8>,
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
            raw: bytes.to_vec(),
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

// --- the real binary ---------------------------------------------------------------------

/// Add a user with `PASSWORD` through `gridtwin user add`, as an installer would.
pub fn add_user(data: &Path, name: &str, role: &str) {
    let mut add = gridtwin()
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data",
        ])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
}

pub fn gridtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gridtwin"))
}

/// A running server and its address.
pub struct Server {
    child: Child,
    pub addr: String,
}

impl Server {
    pub fn start(data: &Path, speed: f64) -> (Server, Vec<String>) {
        let speed = speed.to_string();
        let mut child = gridtwin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--speed",
                &speed,
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut l = String::new();
            assert!(
                out.read_line(&mut l).unwrap() > 0,
                "serve exited: {lines:?}"
            );
            lines.push(l.clone());
            if let Some(rest) = l.split(" on http://").nth(1) {
                break rest.trim().trim_end_matches('/').to_string();
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        (Server { child, addr }, lines)
    }

    /// As `start`, with `extra` arguments, everything it prints (stdout and stderr) going to
    /// `log`.
    pub fn start_logged(data: &Path, speed: f64, extra: &[&str], log: &Path) -> Server {
        let file = std::fs::File::create(log).unwrap();
        let child = gridtwin()
            .args(["serve", "--listen", "127.0.0.1:0", "--speed"])
            .arg(speed.to_string())
            .arg("--data")
            .arg(data)
            .args(extra)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(rest) = text.split(" on http://").nth(1) {
                let line = rest.lines().next().unwrap_or("");
                break line.trim().trim_end_matches('/').to_string();
            }
            assert!(Instant::now() < deadline, "serve did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, addr }
    }

    /// One request over a fresh connection; the whole response as text.
    fn raw(&self, method: &str, path: &str, cookie: &str, body: &str) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    }

    /// One request; the status and body.
    pub fn http(&self, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
        let r = self.raw(method, path, cookie, body);
        let status = r[9..12].parse().unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        // Our JSON replies are small; a chunked one is one chunk.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body.split_once("\r\n")
                .map_or("", |(_, b)| b)
                .rsplitn(2, "\r\n0\r\n")
                .last()
                .unwrap_or("")
                .to_string()
        } else {
            body.to_string()
        };
        (status, body)
    }

    /// Log in; the session cookie to send back.
    pub fn login(&self, name: &str) -> String {
        let body = format!(r#"{{"name":"{name}","password":"{PASSWORD}"}}"#);
        let r = self.raw("POST", "/api/login", "", &body);
        let line = r
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap_or_else(|| panic!("no cookie: {r}"));
        line.split_once(':')
            .unwrap()
            .1
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn status(&self, cookie: &str) -> serde_json::Value {
        let (code, body) = self.http("GET", "/api/status", cookie, "");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Wait until the status satisfies `f`.
    pub fn until(&self, cookie: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(cookie);
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "never reached; last {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, as a service manager stops it; it must exit cleanly.
    pub fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to flush.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In `dir`: two CAs (`ca`, `other-ca`), a server certificate for 127.0.0.1 and a client
/// certificate signed by `ca`, each `NAME.pem` with `NAME.key`, made with openssl.
pub fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let subj = format!("/CN={ca}");
        let (k, c) = (format!("{ca}.key"), format!("{ca}.pem"));
        run(&[
            &["req", "-x509"][..],
            &key,
            &["-keyout", &k, "-out", &c, "-days", "2", "-subj", &subj],
        ]
        .concat());
    }
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let subj = format!("/CN={who}");
        let (k, csr, c, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        run(&[
            &["req"][..],
            &key,
            &["-keyout", &k, "-out", &csr, "-subj", &subj],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &c,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}
