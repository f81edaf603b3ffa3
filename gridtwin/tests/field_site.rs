//! `gridtwin serve FEEDER.ron --field FIELD.ron --emulated`: the European LV feeder's 55 homes
//! on the field file's RS-485 bus and LoRaWAN (through an emulated ChirpStack on a real
//! Mosquitto), read by the real master and ChirpStack client, balanced by the twin's own
//! balancer on what the nodes report, stored and shown; the twin only feeds the emulated
//! devices.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

/// The balancing scenario at the evening peak, looking every 5 s, stepping its (street's) twin
/// each second so that a move shows at the transformer's meter at once.
fn scenario() -> controller::scenario::Loaded {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("scenarios/feeder_lv_balancing_rs485.ron"))
        .unwrap()
        .replace("2026-01-05T00:00:00", "2026-01-05T18:30:00")
        .replace("duration: 86400.0,", "duration: 86400.0,\n    step: 1.0,")
        .replace(
            "interval: 600.0,",
            "interval: 5.0, min_dwell: 0.0, smoothing: 5.0,",
        );
    let path = root.join("scenarios/field_site_test.ron");
    controller::scenario::parse(&path, &text).unwrap()
}

fn field() -> gridtwin::service::Field {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../field/lv_feeder.ron");
    gridtwin::service::Field {
        file: field::config::load(&path).unwrap(),
        emulated: true,
    }
}

fn homes(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["feeder"]["homes"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feeder_on_its_emulated_nodes_is_balanced_stored_and_moved_by_an_operator() {
    let f = field();
    let s = common::site_on(&scenario(), "field-site", 1.0, true, None, Some(&f));
    let (viewer, op) = (s.login("viewer").await, s.login("operator").await);
    // Every home heard over its link and the transformer's SDM630 read.
    let v = s
        .until("every node and the transformer's meter heard", |v| {
            let h = homes(v);
            h.len() == 55
                && h.iter().all(|h| h["p_w"].is_f64())
                && v["feeder"]["heads"][0]["neutral_a"].is_f64()
        })
        .await;
    // The meter measures the street's source: the homes' power plus the cable's losses.
    let p: f64 = homes(&v).iter().map(|h| h["p_w"].as_f64().unwrap()).sum();
    let source = v["feeder"]["source_w"].as_f64().unwrap();
    assert!(source >= p && source < p * 1.1, "{source} W vs {p} W");

    // The balancer plans on the nodes' reports and each move is confirmed by its node.
    let t0 = Instant::now();
    let (plan, moves) = loop {
        let plans = s.get("/api/events?kind=balance_plan", &viewer).await.json();
        let moves = s.get("/api/events?kind=phase_move", &viewer).await.json();
        let moves = moves.as_array().cloned().unwrap_or_default();
        if let Some(plan) = plans.as_array().and_then(|a| a.first().cloned())
            && moves.len() as u64 >= plan["detail"]["moves"].as_u64().unwrap_or(u64::MAX)
        {
            break (plan, moves);
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{plans} {moves:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let before = plan["detail"]["before_pct"].as_f64().unwrap();
    assert!(before > 15.0, "{plan}");
    assert!(moves.len() <= 3, "at most three moves an hour: {moves:?}");
    assert!(
        plan["text"]
            .as_str()
            .unwrap()
            .starts_with("balancer: plan of "),
        "{plan}"
    );
    for m in &moves {
        let home = m["subject"].as_str().unwrap();
        // The event in words, as the page shows it.
        let words = format!(
            "{home}: moved from phase {} to {}",
            m["detail"]["from"].as_str().unwrap(),
            m["detail"]["to"].as_str().unwrap()
        );
        assert_eq!(m["text"], words.as_str());
        assert!(
            !["load53", "load55", "load35"].contains(&home),
            "a fixed home moved: {m}"
        );
        // The snapshot shows the phase the node reports.
        s.until("the moved home shows its new phase", |v| {
            homes(v)
                .iter()
                .any(|h| h["name"] == home && h["phase"] == m["detail"]["to"])
        })
        .await;
    }
    // The transformer's own meter sees the unbalance fall.
    s.until("the transformer's unbalance falls", |v| {
        v["feeder"]["heads"][0]["unbalance_pct"]
            .as_f64()
            .is_some_and(|u| u < before / 2.0)
    })
    .await;

    // An operator moves a fixed home (the list binds the balancer, not the operator); its
    // node on the RS-485 bus takes the command.
    let was = homes(&v).iter().find(|h| h["name"] == "load35").unwrap()["phase"]
        .as_str()
        .unwrap()
        .to_string();
    let to = if was == "A" { "B" } else { "A" };
    let body = format!(r#"{{"phase":"{to}"}}"#);
    let r = s.post("/api/homes/load35/phase", &op, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = s.post("/api/homes/nobody/phase", &op, &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    s.until("the operator's home is on its new phase", |v| {
        homes(v)
            .iter()
            .any(|h| h["name"] == "load35" && h["phase"] == to)
    })
    .await;

    // What the nodes said is stored under the feeder's channels.
    for channel in ["home/load50/p", "head/transformer/neutral", "source/p"] {
        let h = s
            .get(
                &format!("/api/history?channel={channel}&from=0&to=9999999999999"),
                &viewer,
            )
            .await
            .json();
        assert!(
            h.as_array().is_some_and(|a| !a.is_empty()),
            "{channel}: {h}"
        );
    }
}
