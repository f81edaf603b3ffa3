//! Alert rules on a live site: read by anyone signed in, replaced by an admin (checked against
//! the site's channels, audited, kept across a restart), raised and cleared in the event log.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::site;

fn put(cookie: &str, body: &str) -> Request<Body> {
    Request::put("/api/alerts")
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The fridge draws 400 W: above 100 W it is raised at its first reading.
const BUSY: &str = r#"[{"name": "busy", "quantity": "P", "scope": {"Load": "fridge"},
    "when": "Above", "warning": 100.0, "hysteresis": 10.0}]"#;

/// Wait (up to 20 s) for an event of `kind` about `subject`; its JSON.
async fn event(s: &common::Site, cookie: &str, kind: &str, subject: &str) -> serde_json::Value {
    let t0 = std::time::Instant::now();
    loop {
        let all = s.get("/api/events?limit=500", cookie).await.json();
        if let Some(e) = all
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind && e["subject"] == subject)
        {
            return e.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no {kind} of {subject}: {all}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sets_alert_rules_that_raise_clear_and_outlive_a_restart() {
    let s = site("alerts", 20.0, true);
    let (viewer, op, admin) = (
        s.login("viewer").await,
        s.login("operator").await,
        s.login("admin").await,
    );
    let none = s.get("/api/alerts", &viewer).await.json();
    assert_eq!(none["rules"], serde_json::json!([]));
    assert_eq!(none["active"], serde_json::json!([]));

    assert_eq!(s.send(put(&op, BUSY)).await.status, StatusCode::FORBIDDEN);
    // Refused with what is wrong: a load the site does not have, thresholds the wrong way
    // round, a misspelt field.
    for (body, says) in [
        (BUSY.replace("fridge", "oven"), "no load \"oven\""),
        (
            BUSY.replace(
                r#""warning": 100.0"#,
                r#""warning": 100.0, "critical": 50.0"#,
            ),
            "before the critical",
        ),
        (
            BUSY.replace("hysteresis", "hysteresys"),
            "unknown field `hysteresys`",
        ),
    ] {
        let r = s.send(put(&admin, &body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.error().contains(says), "{}", r.body);
    }

    let r = s.send(put(&admin, BUSY)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let raised = event(&s, &viewer, "alert_raised", "fridge").await;
    assert_eq!(raised["detail"]["rule"], "busy");
    assert_eq!(raised["severity"], "warning");
    assert!(
        raised["text"]
            .as_str()
            .unwrap()
            .starts_with("fridge: warning alert busy at 4"),
        "{raised}"
    );
    s.until("the alert is active", |v| v["alerts"][0]["rule"] == "busy")
        .await;
    let audit = s.get("/api/audit", &admin).await.json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "alert-rules"),
        "{audit}"
    );

    // After a restart on the same store, the rule is in force and raised again.
    let again = common::restarted(&s, 20.0);
    let rules = again.live.alert_rules.read().unwrap().clone();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].name, "busy");
    let t0 = std::time::Instant::now();
    while again.live.snapshot.borrow().alerts.is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "raised after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    again.live.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawn_rule_clears_its_alert() {
    let s = site("alerts-withdrawn", 20.0, true);
    let admin = s.login("admin").await;
    assert_eq!(s.send(put(&admin, BUSY)).await.status, StatusCode::OK);
    event(&s, &admin, "alert_raised", "fridge").await;
    assert_eq!(s.send(put(&admin, "[]")).await.status, StatusCode::OK);
    let cleared = event(&s, &admin, "alert_cleared", "fridge").await;
    assert_eq!(cleared["detail"]["rule"], "busy");
    s.until("no alert is active", |v| {
        v["alerts"] == serde_json::json!([])
    })
    .await;
}

/// A rule that sheds, live: the pump is held off while the site draws over 100 W (at once), the
/// critical server it also names is not; the rule's removal lets the pump go.
#[tokio::test(flavor = "multi_thread")]
async fn a_shedding_rule_holds_its_loads_off_live_until_it_goes() {
    let s = site("alert-shed", 1.0, true);
    let admin = s.login("admin").await;
    let rule = r#"[{"name": "site_busy", "quantity": "P", "scope": "Site", "when": "Above",
        "warning": 100.0, "action": "Shed", "shed": ["pump", "server"]}]"#;
    let bad = r#"[{"name": "x", "quantity": "P", "scope": "Site", "when": "Above",
        "warning": 100.0, "action": "Shed", "shed": ["sauna"]}]"#;
    let r = s.send(put(&admin, bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.error().contains("no load \"sauna\" to shed"),
        "{}",
        r.body
    );
    assert_eq!(s.send(put(&admin, rule)).await.status, StatusCode::OK);
    let status = |name: &'static str| {
        move |v: &serde_json::Value| {
            v["loads"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name)
                .map(|l| l["status"].clone())
        }
    };
    s.until("the pump is held off", |v| {
        status("pump")(v) == Some("shed".into()) && status("server")(v) == Some("on".into())
    })
    .await;
    let shed = event(&s, &admin, "shed", "pump").await;
    assert_eq!(shed["detail"]["reason"], "alert");
    assert_eq!(s.send(put(&admin, "[]")).await.status, StatusCode::OK);
    s.until("the pump is back", |v| {
        status("pump")(v) != Some("shed".into())
    })
    .await;
    event(&s, &admin, "load_restored", "pump").await;
}
