//! The control center's API through its router: who may do what, what bad requests get, and
//! that a command reaches the twin.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::Timelike;
use common::{PASSWORD, site};

const VIEWER_ROUTES: [&str; 9] = [
    "/api/status",
    "/api/loads",
    "/api/loads/server",
    "/api/events",
    "/api/channels",
    "/api/history?channel=bus/v",
    "/api/export?channels=bus/v",
    "/api/me",
    "/metrics",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_route_but_login_needs_a_session() {
    let s = site("unauth", 1.0, true);
    for uri in VIEWER_ROUTES.iter().chain(&["/api/audit", "/api/users"]) {
        let r = s.call(Method::GET, uri, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(r.error().contains("log in"), "{uri}: {}", r.body);
    }
    let r = s
        .call(
            Method::POST,
            "/api/loads/fridge/switch",
            None,
            Some(r#"{"to":"off"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s.get("/api/status", "gridtwin_session=made-up-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.error().contains("expired or is unknown"), "{}", r.body);
    // The API document is public.
    let r = s.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_role_may_do_what_it_should_and_no_more() {
    let s = site("roles", 1.0, true);
    let (viewer, operator, admin) = (
        s.login("viewer").await,
        s.login("operator").await,
        s.login("admin").await,
    );
    for c in [&viewer, &operator, &admin] {
        for uri in VIEWER_ROUTES {
            let r = s.get(uri, c).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        }
    }
    let switch = r#"{"to":"off"}"#;
    let r = s.post("/api/loads/fridge/switch", &viewer, switch).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("needs the operator role"), "{}", r.body);
    let r = s.post("/api/sources/main/reset", &viewer, "{}").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for c in [&viewer, &operator] {
        for uri in ["/api/users", "/api/audit"] {
            let r = s.get(uri, c).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}");
            assert!(r.error().contains("needs the admin role"), "{}", r.body);
        }
        let new = format!(r#"{{"name":"eve","role":"admin","password":"{PASSWORD}"}}"#);
        assert_eq!(
            s.post("/api/users", c, &new).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        s.post("/api/loads/fridge/switch", &operator, switch)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.post("/api/sources/main/reset", &operator, "{}")
            .await
            .status,
        StatusCode::OK
    );
    // Admin: users and the audit log, which names who did what.
    let new = format!(r#"{{"name":"dave","role":"viewer","password":"{PASSWORD}"}}"#);
    assert_eq!(
        s.post("/api/users", &admin, &new).await.status,
        StatusCode::CREATED
    );
    let again = s.post("/api/users", &admin, &new).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let users = s.get("/api/users", &admin).await.json();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "dave", "operator", "viewer"]);
    let audit = s.get("/api/audit", &admin).await.json();
    let rows: Vec<String> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {} {}", a["user"], a["action"], a["target"]).replace('"', ""))
        .collect();
    assert_eq!(
        rows,
        [
            "admin user-add dave",
            "operator source-reset main",
            "operator load-off fridge"
        ]
    );
    let dave = s.login("dave").await;
    assert_eq!(s.get("/api/me", &dave).await.status, StatusCode::OK);
    let r = s
        .call(Method::DELETE, "/api/users/dave", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get("/api/me", &dave).await.status,
        StatusCode::UNAUTHORIZED,
        "a removed user's session ends at once"
    );
    let r = s
        .call(Method::DELETE, "/api/users/dave", Some(&admin), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_a_4xx_that_says_what_is_wrong() {
    let s = site("malformed", 1.0, true);
    let op = s.login("operator").await;
    let cases: [(&str, &str, StatusCode, &str); 6] = [
        (
            "/api/loads/fridge/switch",
            r#"{"to":"sideways"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown variant `sideways`",
        ),
        (
            "/api/loads/fridge/switch",
            r#"{"to":"off""#,
            StatusCode::BAD_REQUEST,
            "line 1 column",
        ),
        (
            "/api/loads/fridge/switch",
            r#"{"state":"off"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `state`",
        ),
        (
            "/api/loads/fridge/switch",
            r#"[]"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected struct",
        ),
        (
            "/api/loads/nosuch/switch",
            r#"{"to":"off"}"#,
            StatusCode::NOT_FOUND,
            "no load is named \"nosuch\"",
        ),
        (
            "/api/tokens",
            r#"{"days":0}"#,
            StatusCode::BAD_REQUEST,
            "days must be 1 to 366",
        ),
    ];
    for (uri, body, status, says) in cases {
        let r = s.post(uri, &op, body).await;
        assert_eq!(r.status, status, "{uri} {body}: {}", r.body);
        assert!(r.error().contains(says), "{uri} {body}: {}", r.body);
    }
    // Not JSON at all.
    let r = s
        .send(
            Request::post("/api/loads/fridge/switch")
                .header(header::COOKIE, &op)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("to=off"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.error().contains("application/json"), "{}", r.body);
    let gets: [(&str, StatusCode, &str); 6] = [
        ("/api/history", StatusCode::BAD_REQUEST, "needs ?channel"),
        (
            "/api/history?channel=nope",
            StatusCode::BAD_REQUEST,
            "no channel is named \"nope\"",
        ),
        (
            "/api/history?channel=bus/v&from=10&to=5",
            StatusCode::BAD_REQUEST,
            "must be before",
        ),
        (
            "/api/history?channel=bus/v&from=soon",
            StatusCode::BAD_REQUEST,
            "invalid digit",
        ),
        (
            "/api/events?severity=loud",
            StatusCode::BAD_REQUEST,
            "unknown severity \"loud\"",
        ),
        (
            "/api/nothing/here",
            StatusCode::NOT_FOUND,
            "no such API route",
        ),
    ];
    for (uri, status, says) in gets {
        let r = s.get(uri, &op).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert!(r.error().contains(says), "{uri}: {}", r.body);
    }
    let r = s.post("/api/events/999999/ack", &op, "{}").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switched_load_goes_off_in_the_twin_and_a_critical_one_needs_confirming() {
    let s = site("switch", 20.0, true);
    let op = s.login("operator").await;
    s.until("the fridge runs", |v| v["loads"][2]["relay"] == true)
        .await;
    let r = s
        .post("/api/loads/fridge/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = s
        .until("the fridge's relay opens", |v| {
            v["loads"][2]["relay"] == false
        })
        .await;
    assert_eq!(v["loads"][2]["name"], "fridge");
    assert_eq!(v["loads"][2]["status"], "off");
    assert_eq!(v["loads"][2]["p_w"], 0.0);

    let r = s
        .post("/api/loads/server/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("server is critical"), "{}", r.body);
    assert!(s.state.live.snapshot.borrow().loads[0].relay);
    let r = s
        .post(
            "/api/loads/server/switch",
            &op,
            r#"{"to":"off","confirm":true}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    s.until("the server's relay opens", |v| {
        v["loads"][0]["relay"] == false
    })
    .await;
    // The controller logged the operator's action as an event.
    let t0 = std::time::Instant::now();
    loop {
        let ev = s
            .get("/api/events?kind=operator&subject=server", &op)
            .await
            .json();
        if ev.as_array().is_some_and(|a| !a.is_empty()) {
            assert_eq!(ev[0]["detail"]["action"], "off");
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 20,
            "the operator event never got stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_rate_limited_and_a_login_gets_a_new_session() {
    let s = site("ratelimit", 1.0, true);
    let bad = r#"{"name":"operator","password":"not the password"}"#;
    for _ in 0..5 {
        let r = s.call(Method::POST, "/api/login", None, Some(bad)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error(), "unknown user or wrong password");
    }
    // Now even the right password waits.
    let good = format!(r#"{{"name":"operator","password":"{PASSWORD}"}}"#);
    let r = s.call(Method::POST, "/api/login", None, Some(&good)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(r.error().contains("too many failed logins"), "{}", r.body);
    // Another user is not locked out by the first one's failures.
    let a = s.login("viewer").await;
    let b = s.login("viewer").await;
    assert_ne!(a, b, "every login makes a new session");
    // Logging out ends that session only.
    let r = s
        .call(Method::POST, "/api/logout", Some(&a), Some("{}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/api/me", &a).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/api/me", &b).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cross_site_request_with_the_cookie_is_refused() {
    let s = site("csrf", 1.0, true);
    let op = s.login("operator").await;
    let req = |origin: &str, site: &str| {
        Request::post("/api/loads/fridge/switch")
            .header(header::COOKIE, &op)
            .header(header::HOST, "pdu.local:8080")
            .header(header::ORIGIN, origin)
            .header("sec-fetch-site", site)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"to":"off"}"#))
            .unwrap()
    };
    let r = s.send(req("https://evil.example", "cross-site")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("cross-site"), "{}", r.body);
    let r = s
        .send(req("http://pdu.local:8080.evil.example", "same-origin"))
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an origin that only starts like ours"
    );
    let r = s.send(req("http://pdu.local:8080", "same-origin")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A bearer token is not a cookie: no ambient authority to abuse.
    let t = s.post("/api/tokens", &op, r#"{"days":1}"#).await.json();
    let token = t["token"].as_str().unwrap();
    let r = s
        .send(
            Request::get("/metrics")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_comes_from_the_one_time_setup_token() {
    let s = site("setup", 1.0, false);
    let token = s.setup.clone().expect("no users: a setup token");
    let body = |t: &str| format!(r#"{{"token":"{t}","name":"root","password":"{PASSWORD}"}}"#);
    let r = s
        .call(Method::POST, "/api/setup", None, Some(&body("guess")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let short = format!(r#"{{"token":"{token}","name":"root","password":"short"}}"#);
    let r = s.call(Method::POST, "/api/setup", None, Some(&short)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("at least 10"), "{}", r.body);
    let r = s
        .call(Method::POST, "/api/setup", None, Some(&body(&token)))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = s
        .call(Method::POST, "/api/setup", None, Some(&body(&token)))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "used once");
    let c = s.login("root").await;
    assert_eq!(s.get("/api/me", &c).await.json()["role"], "admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_in_base_units() {
    let s = site("metrics", 20.0, true);
    let c = s.login("viewer").await;
    s.until("energy flows", |v| {
        v["loads"][0]["energy_j"].as_f64() > Some(0.0)
    })
    .await;
    let r = s.get("/metrics", &c).await;
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let mut energy = 0;
    for line in r.body.lines() {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(series.starts_with("gridtwin_"), "{line}");
        if series.starts_with("gridtwin_energy_joules_total{load=") {
            energy += 1;
        }
    }
    assert_eq!(energy, 6, "one energy counter per load");
    assert!(
        r.body
            .contains("# TYPE gridtwin_energy_joules_total counter")
    );
    assert!(
        r.body
            .contains("gridtwin_load_power_watts{load=\"server\"} 600"),
        "{}",
        r.body
    );
    // The loop's timing: passes counted, a p99 no more than the longest, the deadline a tick.
    let value = |series: &str| -> f64 {
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series}"))
    };
    assert!(value("gridtwin_loop_passes_total") > 0.0);
    assert_eq!(value("gridtwin_loop_deadline_seconds"), 0.005);
    assert!(
        value("gridtwin_loop_pass_seconds{quantile=\"0.99\"}")
            <= value("gridtwin_loop_pass_max_seconds")
    );
    assert!(value("gridtwin_loop_deadline_missed_total") <= value("gridtwin_loop_passes_total"));
}

#[tokio::test(flavor = "multi_thread")]
async fn history_and_export_read_back_what_the_loop_stored() {
    let s = site("history", 50.0, true);
    let c = s.login("viewer").await;
    let t0 = s
        .until("the loop runs", |v| v["t"].as_i64() > Some(0))
        .await["t"]
        .as_i64()
        .unwrap();
    // 100 simulated seconds: stored once a second in batches.
    let t_end = s
        .until("100 s have run", |v| v["sim_s"].as_f64() > Some(100.0))
        .await["t"]
        .as_i64()
        .unwrap();
    let mut points = serde_json::Value::Null;
    for _ in 0..100 {
        points = s
            .get(
                &format!("/api/history?channel=load/server/p&from={t0}&to={t_end}&points=1000"),
                &c,
            )
            .await
            .json();
        if points.as_array().unwrap().len() >= 60 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let points = points.as_array().unwrap();
    assert!(points.len() >= 60, "{}", points.len());
    // The server is a constant 600 W load on a live bus (the outage at 60 s drops it to 0).
    assert!(
        (points[10]["mean"].as_f64().unwrap() - 600.0).abs() < 1.0,
        "{:?}",
        points[10]
    );
    let r = s
        .get(
            &format!("/api/export?channels=load/server/p,bus/v&from={t0}&to={t_end}"),
            &c,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let mut rows = csv::Reader::from_reader(r.body.as_bytes());
    assert_eq!(
        rows.headers().unwrap(),
        vec!["time", "channel", "resolution", "mean", "min", "max"]
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    let server: Vec<_> = rows.iter().filter(|r| &r[1] == "load/server/p").collect();
    let bus: Vec<_> = rows.iter().filter(|r| &r[1] == "bus/v").collect();
    assert_eq!(server.len(), bus.len());
    assert!(server.len() >= 60);
    assert_eq!(&server[10][2], "second");
    assert!(server[10][0].ends_with('Z'), "UTC: {}", &server[10][0]);
    let v: f64 = bus[10][3].parse().unwrap();
    assert!((v - 230.0).abs() < 10.0, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_changes_a_load_s_settings_which_act_at_once_and_survive_a_restart() {
    let s = site("settings", 20.0, true);
    let (op, admin) = (s.login("operator").await, s.login("admin").await);
    s.until("the fridge runs", |v| v["loads"][2]["relay"] == true)
        .await;
    let put = |c: &str, body: &str| {
        Request::put("/api/loads/fridge/settings")
            .header(header::COOKIE, c)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let limit = r#"{"priority": 7, "limit_w": 100.0, "limit_delay": 1.0,
                    "schedules": [{"Daily": {"on": "07:00", "off": "19:00"}}]}"#;
    let r = s.send(put(&op, limit)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = [
        (
            r#"{"schedules": [{"Weekly": {"days": [], "on": "07:00", "off": "08:00"}}]}"#,
            "schedule 1",
        ),
        (r#"{"requires": ["kettle"]}"#, "kettle"),
        (
            r#"{"priority": 7, "colour": "red"}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"schedules": [{"Daily": {"on": "25:00", "off": "08:00"}}]}"#,
            "time of day",
        ),
        (r#"{"limit_w": -5}"#, ""),
    ];
    for (body, says) in bad {
        let r = s.send(put(&admin, body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert!(r.error().contains(says), "{body}: {}", r.body);
    }
    let r = s.send(put(&admin, limit)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The 400 W fridge is over its new 100 W limit: tripped a second later.
    let v = s
        .until("the fridge trips", |v| {
            matches!(
                v["loads"][2]["status"].as_str(),
                Some("tripped" | "locked_out")
            )
        })
        .await;
    assert_eq!(v["loads"][2]["priority"], 7);
    assert_eq!(v["loads"][2]["limit_w"], 100.0);
    let detail = s.get("/api/loads/fridge", &op).await.json();
    assert_eq!(
        detail["settings"]["schedules"][0]["Daily"]["off"],
        "19:00:00"
    );
    let audit = s.get("/api/audit", &admin).await.json();
    assert_eq!(audit[0]["action"], "load-settings");
    assert_eq!(audit[0]["user"], "admin");

    // A restart on the same data starts with the saved settings.
    let again = common::restarted(&s, 1.0);
    let cfg = again.live.load_settings("fridge").unwrap();
    assert_eq!(cfg.priority, 7);
    assert_eq!(cfg.limit_w.map(|x| x.get()), Some(100.0));
    again.live.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_path_is_served() {
    let s = site("openapi", 1.0, true);
    let admin = s.login("admin").await;
    let doc = s.get("/api/openapi.json", &admin).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        let uri = path
            .replace("{name}", "fridge")
            .replace("{source}", "main")
            .replace("{id}", "1");
        for method in ops.as_object().unwrap().keys() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let r = s.call(m, &uri, Some(&admin), Some("{}")).await;
            assert!(
                !r.body.contains("no such API route") && r.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {} {}",
                r.status,
                r.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_its_assets_are_served_with_security_headers() {
    let s = site("page", 1.0, true);
    for (uri, kind) in [
        ("/", "text/html"),
        ("/setup", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/api/status", "application/json"),
    ] {
        let r = s.call(Method::GET, uri, None, None).await;
        if uri == "/api/status" {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        } else {
            assert_eq!(r.status, StatusCode::OK, "{uri}");
        }
        let h = |k: header::HeaderName| r.headers.get(k).map(|v| v.to_str().unwrap().to_string());
        assert!(h(header::CONTENT_TYPE).unwrap().starts_with(kind), "{uri}");
        let csp = h(header::CONTENT_SECURITY_POLICY).unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(h(header::X_FRAME_OPTIONS).as_deref(), Some("DENY"));
        assert_eq!(
            h(header::X_CONTENT_TYPE_OPTIONS).as_deref(),
            Some("nosniff")
        );
        assert_eq!(h(header::REFERRER_POLICY).as_deref(), Some("no-referrer"));
    }
    let page = s.call(Method::GET, "/", None, None).await.body;
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN: {page}"
    );
    assert_eq!(
        s.call(Method::GET, "/assets/../Cargo.toml", None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_reach_the_configured_webhook() {
    // A receiver standing for the relay that sends e-mail or SMS.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let s = site("webhook", 20.0, true);
    let (op, admin) = (s.login("operator").await, s.login("admin").await);
    let put = |c: &str, body: String| {
        Request::put("/api/settings")
            .header(header::COOKIE, c)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let settings = |url: &str, sev: &str, raw: u64| {
        format!(
            r#"{{"retention": {{"raw_s": {raw}, "minute_s": 86400}},
                 "notifications": {{"groups": [{{"name": "relay", "webhooks": [{{"url": "{url}"}}]}}],
                                   "events": {{"min_severity": "{sev}", "group": "relay"}}}}}}"#
        )
    };
    let good = settings(&format!("http://{addr}/hook"), "info", 3600);
    assert_eq!(
        s.send(put(&op, good.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    for (body, says) in [
        (
            settings("ftp://relay.example/hook", "info", 3600),
            "must be http(s)://",
        ),
        (
            settings(&format!("http://{addr}/hook"), "info", 3600)
                .replace(r#""group": "relay"}"#, r#""group": "nobody"}"#),
            "events.group \"nobody\" is not a group",
        ),
        (settings("not a url", "info", 3600), "webhook URL"),
        (
            settings(&format!("http://{addr}/hook"), "loud", 3600),
            "min_severity \"loud\"",
        ),
        (
            settings(&format!("http://{addr}/hook"), "info", 10),
            "at least 60",
        ),
    ] {
        let r = s.send(put(&admin, body.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.error().contains(says), "{body}: {}", r.body);
    }
    let r = s.send(put(&admin, good)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        s.get("/api/settings", &admin).await.json()["notifications"]["events"]["min_severity"],
        "info"
    );
    s.post("/api/loads/fridge/switch", &op, r#"{"to":"off"}"#)
        .await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let batch = rx.recv().await.unwrap();
            if let Some(e) = batch
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["subject"] == "fridge" && e["kind"] == "operator")
            {
                return e.clone();
            }
        }
    })
    .await
    .expect("the operator's event reaches the webhook");
    assert_eq!(got["detail"]["action"], "off");
    assert_eq!(got["text"], "fridge: off by an operator");
    assert_eq!(got["severity"], "info");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feeder_shows_its_transformer_and_homes_and_an_operator_moves_a_home() {
    let l = common::scenario("feeder_lv_day.ron");
    let s = common::site_of(&l, "feeder", 600.0, true);
    let (viewer, op) = (s.login("viewer").await, s.login("operator").await);
    let v = s
        .until("the first power flow", |v| {
            v["feeder"]["homes"]
                .as_array()
                .is_some_and(|h| !h.is_empty())
        })
        .await;
    let f = &v["feeder"];
    assert_eq!(
        f["homes"].as_array().unwrap().len(),
        55,
        "the European LV feeder's homes"
    );
    assert_eq!(f["heads"].as_array().unwrap().len(), 1);
    assert_eq!(
        f["balancing"], false,
        "no balancer to move homes under the test"
    );
    // The source delivers the homes' power plus the losses.
    let homes: f64 = f["homes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["p_w"].as_f64().unwrap())
        .sum();
    let source = f["source_w"].as_f64().unwrap();
    assert!(
        source >= homes && source < homes * 1.1,
        "{source} vs {homes}"
    );
    // Each phase's current is what its homes draw at their voltage, within the losses and
    // the power factor: I_phase ≥ P_phase / V_phase.
    for phase in ["A", "B", "C"] {
        let p: f64 = f["homes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["phase"] == phase)
            .map(|h| h["p_w"].as_f64().unwrap())
            .sum();
        let amps = f["heads"][0]["amps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a[0] == phase)
            .unwrap()[1]
            .as_f64()
            .unwrap();
        assert!(
            amps >= p / 250.0 && amps < p / 200.0 + 5.0,
            "{phase}: {amps} A for {p} W"
        );
    }

    // The same on /metrics: every home with its phase, the transformer's phase currents.
    let m = s.get("/metrics", &viewer).await.body;
    let homes_on_metrics = m
        .lines()
        .filter(|l| l.starts_with("gridtwin_home_energy_joules_total{home="))
        .count();
    assert_eq!(homes_on_metrics, 55, "{m}");
    let h0 = &f["homes"][0];
    assert!(
        m.contains(&format!(
            "gridtwin_home_power_watts{{home=\"{}\",phase=\"{}\"}}",
            h0["name"].as_str().unwrap(),
            h0["phase"].as_str().unwrap()
        )),
        "{m}"
    );
    let amps_a = m
        .lines()
        .find_map(|l| {
            l.strip_prefix("gridtwin_transformer_current_amperes{bus=\"1\",phase=\"A\"} ")
        })
        .unwrap_or_else(|| panic!("{m}"))
        .parse::<f64>()
        .unwrap();
    assert!(amps_a > 0.0, "{m}");

    let home = "load1";
    let was = f["homes"][0]["phase"].as_str().unwrap().to_string();
    let to = if was == "A" { "B" } else { "A" };
    let body = format!(r#"{{"phase":"{to}"}}"#);
    let uri = format!("/api/homes/{home}/phase");
    assert_eq!(
        s.post(&uri, &viewer, &body).await.status,
        StatusCode::FORBIDDEN
    );
    let r = s.post(&uri, &op, r#"{"phase":"D"}"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("unknown variant `D`"), "{}", r.body);
    let r = s.post("/api/homes/nobody/phase", &op, &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.post(&uri, &op, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the home is on its new phase", |v| {
        v["feeder"]["homes"][0]["phase"] == to
    })
    .await;
    // A feeder has no load relays to switch.
    let r = s
        .post("/api/loads/load1/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The move is an event, and the transformer's currents are stored.
    let t0 = std::time::Instant::now();
    loop {
        let ev = s
            .get("/api/events?kind=phase_move&subject=load1", &viewer)
            .await
            .json();
        let h = s
            .get(
                "/api/history?channel=head/1/neutral&from=0&to=9999999999999",
                &viewer,
            )
            .await;
        if ev
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["detail"]["to"] == to))
            && h.json().as_array().is_some_and(|a| !a.is_empty())
        {
            break;
        }
        assert!(
            t0.elapsed().as_secs() < 20,
            "the move and the currents are stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // After a restart the home is still on the phase it was moved to.
    s.state.live.shutdown();
    let (again, _) = gridtwin::service::start(
        &l,
        &gridtwin::service::ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: &s.dir,
            speed: 600.0,
            hil: None,
            field: None,
            mqtt: None,
            tls: None,
            secure_cookies: false,
        },
    )
    .unwrap();
    let mut rx = again.live.snapshot.clone();
    let phase = loop {
        rx.changed().await.unwrap();
        let snap = rx.borrow().clone();
        if let Some(h) = snap.feeder.as_ref().and_then(|f| f.homes.first()) {
            break h.phase.clone();
        }
    };
    assert_eq!(phase, to);
    again.live.shutdown();
}

/// `serve --hil-emulated`: the live service on the hardware path. The controller closes the
/// relays through the relay board's GPIO (the twin follows the contacts), and an operator's
/// switch goes out the same way.
#[tokio::test(flavor = "multi_thread")]
async fn the_live_service_runs_the_emulated_hardware_path() {
    let mut l = common::demo();
    l.set_backend(controller::scenario::BackendKind::EmulatedHil)
        .unwrap();
    let s = common::site_of(&l, "hil", 20.0, true);
    let op = s.login("operator").await;
    let v = s
        .until("the pump's contact closes and it draws", |v| {
            v["loads"][4]["relay"] == true && v["loads"][4]["p_w"].as_f64().unwrap_or(0.0) > 700.0
        })
        .await;
    assert_eq!(v["loads"][4]["name"], "pump");
    assert_eq!(v["loads"][4]["status"], "on");
    let r = s
        .post("/api/loads/pump/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the pump's contact opens", |v| {
        v["loads"][4]["relay"] == false
    })
    .await;
    // What is shown is the pump's node's reading, not the twin's: it falls to nothing within a
    // window.
    s.until("the pump's node reads no power", |v| {
        v["loads"][4]["p_w"].as_f64().is_some_and(|p| p.abs() < 5.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_service_runs_on_the_bench_with_no_twin() {
    // `serve --hil bench.ron --emulated`: the demo PDU's controller on the demo bench's
    // hardware at no load (mains on the main node and the bus), not on the twin. Everything
    // shown comes from the nodes and the commanded coils.
    let bench = hil::bench::Bench::parse(hil::bench::DEMO).unwrap();
    let hil = gridtwin::hardware::Hil {
        bench,
        emulated: true,
    };
    let s = common::site_on(&common::demo(), "bench", 1.0, true, Some(&hil), None);
    let op = s.login("operator").await;
    let v = s
        .until("the main is measured and every load is on", |v| {
            v["main"]["closed"] == true
                && (0..6).all(|k| v["loads"][k]["relay"] == true && v["loads"][k]["status"] == "on")
        })
        .await;
    let main_v = v["main"]["v"].as_f64().unwrap();
    assert!((main_v - 230.0).abs() < 2.3, "{main_v}");
    assert!((v["main"]["hz"].as_f64().unwrap() - 50.0).abs() < 0.05);
    assert!(
        v["backup"]["v"].as_f64().unwrap() < 5.0,
        "the generator is stopped"
    );
    assert!((v["bus_v"].as_f64().unwrap() - 230.0).abs() < 2.3);
    for k in 0..6 {
        assert!(
            v["loads"][k]["p_w"].as_f64().unwrap().abs() < 5.0,
            "{}",
            v["loads"][k]
        );
    }
    // No load, no energy; and no sensor fault: the nodes answered before the first step.
    let events = s.get("/api/events", &op).await.json();
    assert!(!events.to_string().contains("sensor_fault"), "{events}");
    // A switched load's coil is driven: the lights (normally open) go off.
    let r = s
        .post("/api/loads/lights/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the lights' relay is commanded open", |v| {
        v["loads"][3]["name"] == "lights" && v["loads"][3]["relay"] == false
    })
    .await;
}

/// `serve --hil BENCH.ron --field pdu_meters.ron --emulated`: the demo PDU's relays on the
/// bench's emulated outputs, its circuits measured by the field file's PZEM-004Ts, emulated
/// behind a socat pty (230 V and 2 kW each) and read by the real Modbus master.
#[tokio::test(flavor = "multi_thread")]
async fn a_bench_measured_by_modbus_meters_shows_and_switches_them() {
    let bench = hil::bench::Bench::parse(hil::bench::DEMO).unwrap();
    let hil = gridtwin::hardware::Hil {
        bench,
        emulated: true,
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../field/pdu_meters.ron");
    let field = gridtwin::service::Field {
        file: field::config::load(&path).unwrap(),
        emulated: true,
    };
    let s = common::site_on(
        &common::demo(),
        "bench-meters",
        1.0,
        true,
        Some(&hil),
        Some(&field),
    );
    let op = s.login("operator").await;
    let v = s
        .until("the main is measured and every load is on", |v| {
            v["main"]["closed"] == true
                && (0..6).all(|k| v["loads"][k]["relay"] == true && v["loads"][k]["status"] == "on")
        })
        .await;
    // What the meters say, at their resolution: 0.1 V, 0.1 W.
    assert_eq!(v["main"]["v"].as_f64(), Some(230.0), "{v}");
    assert_eq!(v["bus_v"].as_f64(), Some(230.0), "{v}");
    for k in 0..6 {
        assert_eq!(
            v["loads"][k]["p_w"].as_f64(),
            Some(2000.0),
            "{}",
            v["loads"][k]
        );
    }
    let events = s.get("/api/events", &op).await.json();
    assert!(!events.to_string().contains("sensor_fault"), "{events}");
    let r = s
        .post("/api/loads/lights/switch", &op, r#"{"to":"off"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the lights' relay is commanded open", |v| {
        v["loads"][3]["name"] == "lights" && v["loads"][3]["relay"] == false
    })
    .await;
}

/// Each login gets a fresh session; a session ends when its time is up, whatever the cache.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_fresh_at_each_login_and_expire() {
    let dir = common::scratch("expiry");
    {
        let db = gridtwin::store::Store::open(&dir).unwrap();
        let hash = gridtwin::auth::hash_password(PASSWORD).unwrap();
        db.add_user("op", gridtwin::store::Role::Operator, &hash, 0)
            .unwrap();
    }
    let (mut state, _) = gridtwin::service::start(
        &common::demo(),
        &gridtwin::service::ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: &dir,
            speed: 1.0,
            hil: None,
            field: None,
            mqtt: None,
            tls: None,
            secure_cookies: false,
        },
    )
    .unwrap();
    state.session_ttl = std::time::Duration::from_secs(2);
    let state = std::sync::Arc::new(state);
    let s = common::Site {
        app: gridtwin::web::router(state.clone()),
        state,
        dir,
        setup: None,
    };
    let first = s.login("op").await;
    let second = s.login("op").await;
    assert_ne!(first, second, "a login never reuses a session");
    for c in [&first, &second] {
        assert_eq!(s.get("/api/me", c).await.status, StatusCode::OK);
    }
    // Logging out ends that session only.
    let r = s.post("/api/logout", &first, "{}").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        s.get("/api/me", &first).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.get("/api/me", &second).await.status, StatusCode::OK);
    // Past its time the other one ends too.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = s.get("/api/me", &second).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.error().contains("expired"), "{}", r.body);
    s.state.live.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transfer_switch_test_starts_ends_and_is_refused_twice_over() {
    let s = site("ats-test", 1.0, true);
    let (viewer, operator) = (s.login("viewer").await, s.login("operator").await);
    let test = r#"{"on_load": false, "minutes": 5}"#;
    let r = s.post("/api/ats/test", &viewer, test).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .post(
            "/api/ats/test",
            &operator,
            r#"{"on_load": false, "minutes": 0}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("minutes must be 1 to 240"), "{}", r.body);
    let r = s.post("/api/ats/test", &operator, test).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the engine runs off load", |v| {
        v["ats_test"] == "off_load" && v["engine_start"] == true && v["main"]["closed"] == true
    })
    .await;
    let r = s.post("/api/ats/test", &operator, test).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error().contains("already running"), "{}", r.body);
    let r = s.post("/api/ats/test/end", &operator, "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the test ended", |v| v["ats_test"].is_null()).await;
    let r = s.post("/api/ats/test/end", &operator, "{}").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.error().contains("no transfer switch test is running"),
        "{}",
        r.body
    );
    // Stored with the next batch.
    let t0 = std::time::Instant::now();
    let events = loop {
        let e = s.get("/api/events?kind=test_ended", &viewer).await.json();
        if !e.as_array().unwrap().is_empty() || t0.elapsed().as_secs() > 10 {
            break e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        events[0]["text"],
        "backup: transfer switch test ended (by an operator)"
    );
    let admin = s.login("admin").await;
    let audit = s.get("/api/audit", &admin).await.json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"ats-test") && actions.contains(&"ats-test-end"),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_s_exercise_schedule_runs_in_its_window_and_outlives_a_restart() {
    let l = common::scenario("alert_shed_site_demand.ron");
    let s = common::site_of(&l, "exercise", 60.0, true);
    let (operator, admin) = (s.login("operator").await, s.login("admin").await);
    // A window from the second whole minute of the site's local clock, two minutes long.
    let offset = i64::from(s.state.live.notify_from.utc_offset_s) * 1000;
    let local = chrono::DateTime::from_timestamp_millis(s.state.live.site_now() + offset)
        .unwrap()
        .naive_utc();
    let on = (local + chrono::Duration::minutes(2))
        .with_second(0)
        .unwrap();
    let off = on + chrono::Duration::minutes(2);
    let day = on.format("%a").to_string();
    let ex = serde_json::json!({
        "schedule": { "Weekly": { "days": [day], "on": on.format("%H:%M").to_string(),
                                  "off": off.format("%H:%M").to_string() } },
        "on_load": false
    })
    .to_string();
    let put = |cookie: &str, body: &str| {
        Request::put("/api/ats/exercise")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    assert_eq!(
        s.send(put(&operator, &ex)).await.status,
        StatusCode::FORBIDDEN
    );
    let empty = r#"{"schedule": {"Daily": {"on": "08:00", "off": "08:00"}}}"#;
    let r = s.send(put(&admin, empty)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.error()
            .contains("exercise's schedule: the window is empty"),
        "{}",
        r.body
    );
    let r = s.send(put(&admin, &ex)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.until("the exercise starts", |v| v["ats_test"] == "off_load")
        .await;
    s.until("the exercise ends with its window", |v| {
        v["ats_test"].is_null() && v["exercise"]["on_load"] == false
    })
    .await;
    let again = common::restarted(&s, 1.0);
    let kept = serde_json::to_value(&again.live.snapshot.borrow().exercise).unwrap();
    assert_eq!(kept["schedule"]["Weekly"]["days"][0], day.as_str());
    again.live.shutdown();
}
