//! Notifications from a live site to real peers: a real SMTP server (aiosmtpd, requiring
//! STARTTLS and a login) and an HTTPS receiver standing for an SMS gateway, both on a test CA.
//! An alert left unacknowledged past its escalation time reaches the second group exactly once;
//! one acknowledged in time does not; a test message goes from the API and from the CLI.

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// aiosmtpd on a free port; the messages it took, as JSON.
struct Smtp {
    child: Child,
    port: u16,
    mail: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Smtp {
    fn start(certs: &Path) -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smtp_server.py");
        // Debian's Python, which has Debian's aiosmtpd (a pyenv first on PATH would not).
        let mut child = Command::new("/usr/bin/python3")
            .args(["-W", "ignore"])
            .arg(script)
            .arg(port.to_string())
            .arg(certs.join("server.pem"))
            .arg(certs.join("server.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (Debian's python3-aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let mail = Arc::new(Mutex::new(Vec::new()));
        let kept = mail.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(serde_json::from_str(&l).unwrap());
            }
        });
        Smtp { child, port, mail }
    }

    /// The messages to `to` so far.
    fn to(&self, to: &str) -> Vec<serde_json::Value> {
        let all = self.mail.lock().unwrap();
        all.iter().filter(|m| m["to"][0] == to).cloned().collect()
    }

    /// Wait (up to 30 s) until `to` has `n` messages.
    async fn wait(&self, to: &str, n: usize) -> Vec<serde_json::Value> {
        let t0 = Instant::now();
        loop {
            let got = self.to(to);
            if got.len() >= n {
                return got;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "{to}: {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS endpoint with the test CA's server certificate; each request's content type and
/// body.
async fn https_receiver(certs: &Path) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let cfg =
        gridtwin::web::https::config(&certs.join("server.pem"), &certs.join("server.key")).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/sms", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, kept) = (acceptor.clone(), kept.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let kept = kept.clone();
                    async move {
                        let ct = req.headers()[header::CONTENT_TYPE]
                            .to_str()
                            .unwrap()
                            .to_string();
                        let body: hyper::body::Incoming = req.into_body();
                        let body = body.collect().await.unwrap().to_bytes();
                        kept.lock()
                            .unwrap()
                            .push((ct, String::from_utf8_lossy(&body).into_owned()));
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    (url, got)
}

fn put(uri: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::put(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The mains' voltage is always below 1 kV (through the demo's outage too): both rules are
/// raised at the first reading and never clear; each escalates to the managers after 30 s
/// unacknowledged.
const RULES: &str = r#"[
  {"name": "busy", "quantity": "V", "scope": {"Source": "Main"}, "when": "Below",
   "warning": 1000.0, "notify": "ops", "escalate": {"after": 30.0, "to": "managers"}},
  {"name": "also_busy", "quantity": "V", "scope": {"Source": "Main"}, "when": "Below",
   "warning": 1000.0, "notify": "ops", "escalate": {"after": 30.0, "to": "managers"}}]"#;

#[tokio::test(flavor = "multi_thread")]
async fn alerts_reach_mail_and_an_sms_gateway_and_escalate_exactly_once() {
    let certs = common::scratch("notify-certs");
    std::fs::create_dir_all(&certs).unwrap();
    common::certificates(&certs);
    let smtp = Smtp::start(&certs);
    let (sms, texts) = https_receiver(&certs).await;
    // 5x: the 30 s escalation is 6 s of wall time.
    let s = common::site("notify", 5.0, true);
    let (op, admin) = (s.login("operator").await, s.login("admin").await);
    let ca = certs.join("ca.pem");
    let settings = |groups: &str| {
        format!(
            r#"{{"retention": {{"raw_s": 3600, "minute_s": 86400}},
              "notifications": {{
                "smtp": {{"host": "127.0.0.1", "port": {port}, "security": "StartTls",
                          "from": "Barn PDU <pdu@example.net>", "username": "site",
                          "password": "secret", "ca": {ca:?}}},
                "groups": {groups}}}}}"#,
            port = smtp.port,
        )
    };
    let both = format!(
        r#"[{{"name": "ops", "email": ["ops@example.net"],
             "webhooks": [{{"url": "{sms}", "ca": {ca:?},
                           "content_type": "application/x-www-form-urlencoded",
                           "template": "To=%2B15550100&Body={{{{ subject|urlencode }}}}"}}]}},
            {{"name": "managers", "email": ["boss@example.net"]}}]"#
    );
    let r = s.send(put("/api/settings", &admin, &settings(&both))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The password is never shown back, and kept when a saved copy leaves it out.
    let shown = s.get("/api/settings", &admin).await.json();
    assert_eq!(
        shown["notifications"]["smtp"]["password"],
        serde_json::Value::Null
    );
    let resaved = serde_json::to_string(&shown).unwrap();
    let r = s.send(put("/api/settings", &admin, &resaved)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Rules naming a group that does not exist are refused, and so are settings that drop a
    // group a rule names.
    let nobody = RULES.replacen(r#""to": "managers""#, r#""to": "nobody""#, 1);
    let r = s.send(put("/api/alerts", &admin, &nobody)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.error().contains("\"nobody\" is not a notification group"),
        "{}",
        r.body
    );
    let r = s.send(put("/api/alerts", &admin, RULES)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let only_ops = r#"[{"name": "ops", "email": ["ops@example.net"]}]"#;
    let r = s
        .send(put("/api/settings", &admin, &settings(only_ops)))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.error()
            .contains("\"managers\" is not a notification group"),
        "{}",
        r.body
    );

    // An operator acknowledges `also_busy` as soon as it is logged; nobody acknowledges `busy`.
    let t0 = Instant::now();
    let raised = loop {
        let all = s.get("/api/events?kind=alert_raised", &op).await.json();
        if let Some(e) = all
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["detail"]["rule"] == "also_busy")
        {
            break e.clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{all}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = s
        .post(&format!("/api/events/{}/ack", raised["id"]), &op, "{}")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The operators hear of both, by mail over STARTTLS with a login and by SMS.
    let ops = smtp.wait("ops@example.net", 1).await;
    assert_eq!(ops[0]["tls"], true);
    assert_eq!(ops[0]["login"], true);
    assert_eq!(ops[0]["from"], "pdu@example.net");
    let data = ops[0]["data"].as_str().unwrap();
    assert!(
        data.contains("busy") && data.contains("also_busy"),
        "{data}"
    );
    let t0 = Instant::now();
    while texts.lock().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no SMS");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ct, body) = texts.lock().unwrap()[0].clone();
    assert_eq!(ct, "application/x-www-form-urlencoded");
    assert!(
        body.starts_with("To=%2B15550100&Body=%5Bgridtwin%20") && body.contains("busy"),
        "{body}"
    );

    // After 30 s unacknowledged, `busy` (and only it) reaches the managers, once.
    let boss = smtp.wait("boss@example.net", 1).await;
    let mail = boss[0]["data"].as_str().unwrap();
    assert!(mail.contains("ESCALATED"), "{mail}");
    assert!(
        mail.contains("Not acknowledged after 30.0 s: escalated to managers"),
        "{mail}"
    );
    assert!(
        mail.contains("alert busy") && !mail.contains("also_busy"),
        "{mail}"
    );
    // Another 60 simulated seconds: still one.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(smtp.to("boss@example.net").len(), 1);

    // A test message, from the API (an admin's) and from the CLI; each says how long it took.
    let r = s
        .post("/api/notify/test", &op, r#"{"group": "managers"}"#)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .post("/api/notify/test", &admin, r#"{"group": "night"}"#)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let t0 = Instant::now();
    let r = s
        .post("/api/notify/test", &admin, r#"{"group": "managers"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let outcome = &r.json()["outcomes"][0];
    assert_eq!(outcome["target"], "mail to boss@example.net");
    assert_eq!(outcome["error"], serde_json::Value::Null, "{outcome}");
    let test = smtp.wait("boss@example.net", 2).await;
    eprintln!(
        "SMTP round trip (STARTTLS, login, one message): {:.1} ms by the sender, {:.1} ms until the server had it",
        outcome["ms"].as_f64().unwrap(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    assert!(test[1]["data"].as_str().unwrap().contains("TEST"));
    let out = common::gridtwin()
        .args(["alerts", "test", "--group", "ops", "--data"])
        .arg(&s.dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("ok      mail to ops@example.net"), "{said}");
    assert!(said.contains(&format!("ok      {sms}")), "{said}");
    smtp.wait("ops@example.net", 2).await;
}
