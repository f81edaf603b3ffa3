//! Energy and cost of a live site: the demo PDU runs at 600x across several 15-minute
//! intervals and a time-of-use window set from the API. Each register's ledger sums to its
//! stored counter, before and after a restart; the Energy page's kWh are the ledger's; every
//! interval's cost is its energy at the price a hand-written table gives for its local time;
//! the month's peak demand is the highest interval's.

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use gridtwin::store::Store;
use serde_json::{Value, json};

const SPEED: f64 = 600.0;
const QUARTER: i64 = 900_000;
const DAY: i64 = 86_400_000;

/// "HH:MM" of a local time of day, ms.
fn clock(ms: i64) -> String {
    let m = ms.rem_euclid(DAY) / 60_000;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Each register's ledger against its stored counter, J.
fn ledger_matches_counters(dir: &std::path::Path) -> BTreeMap<String, f64> {
    let db = Store::open(dir).unwrap();
    let (ledger, counters) = (db.energy_totals().unwrap(), db.counters().unwrap());
    assert!(counters.contains_key("main") && counters.contains_key("load/fridge"));
    for (r, c) in &counters {
        let l = ledger.get(r).copied().unwrap_or(0.0);
        assert!(
            (l - c).abs() <= 1e-9 * c.max(1.0),
            "{r}: ledger {l} J, counter {c} J"
        );
    }
    counters
}

#[tokio::test(flavor = "multi_thread")]
async fn kwh_are_the_counters_and_cost_is_each_interval_at_its_price() {
    let s = common::site("energy", SPEED, true);
    let admin = s.login("admin").await;
    let viewer = s.login("viewer").await;
    let put = |body: Value| {
        let admin = admin.clone();
        let s = &s;
        async move {
            s.call(
                Method::PUT,
                "/api/settings",
                Some(&admin),
                Some(&body.to_string()),
            )
            .await
        }
    };

    // Local midnight from the site's own periods, so the test needs no time zone.
    let e = s.get("/api/energy?days=2", &viewer).await.json();
    let midnight = e["periods"][0]["from"].as_i64().unwrap();
    let now = e["now"].as_i64().unwrap();
    // A peak window over the second whole quarter from now.
    let peak_from = (now - midnight).div_euclid(QUARTER) * QUARTER + 2 * QUARTER;
    let mut settings = s.get("/api/settings", &admin).await.json();
    settings["tariff"] = json!({
        "currency": "EUR", "base": 0.25, "demand": 8.0,
        "windows": [{ "name": "peak", "from": clock(peak_from + 5 * 60_000),
                      "to": clock(peak_from + QUARTER), "price": 0.40 }]
    });
    let r = put(settings.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.error().contains("not on a quarter hour"), "{}", r.body);
    settings["tariff"]["windows"][0]["from"] = json!(clock(peak_from));
    let r = put(settings).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let price = |t: i64| {
        let local = (t - midnight).rem_euclid(DAY);
        if (peak_from.rem_euclid(DAY)..peak_from.rem_euclid(DAY) + QUARTER).contains(&local) {
            0.40
        } else {
            0.25
        }
    };

    // Past the window's end, then a restart, then another quarter.
    common::until_site(&s.state, midnight + peak_from + 2 * QUARTER).await;
    let before = ledger_matches_counters(&s.dir);
    let again = common::restarted(&s, SPEED);
    let resumed = again.live.site_now();
    common::until_site(&again, resumed + QUARTER).await;
    again.live.shutdown();
    let after = ledger_matches_counters(&s.dir);
    assert!(after["main"] > before["main"], "{before:?} {after:?}");
    let app = gridtwin::web::router(std::sync::Arc::new(again));
    let get = |uri: String| {
        let app = app.clone();
        let viewer = viewer.clone();
        async move {
            use tower::ServiceExt;
            let req = axum::http::Request::get(uri)
                .header("cookie", viewer)
                .body(axum::body::Body::empty())
                .unwrap();
            let r = app.oneshot(req).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let b = http_body_util::BodyExt::collect(r.into_body())
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&b.to_bytes()).unwrap()
        }
    };

    let e = get("/api/energy?days=2".into()).await;
    let from = e["periods"][3]["from"].as_i64().unwrap();
    let to = e["periods"][3]["to"].as_i64().unwrap();
    let rows = get(format!("/api/energy/intervals?from={from}&to={to}")).await;
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 4 * 3, "{rows:?}");
    let mut priced = 0;
    let mut sums: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut peak = (0.0, 0);
    for r in rows {
        let (t, kwh) = (r["t"].as_i64().unwrap(), r["kwh"].as_f64().unwrap());
        let (p, cost) = (r["price"].as_f64().unwrap(), r["cost"].as_f64().unwrap());
        assert_eq!(t % QUARTER, 0, "{r}");
        assert_eq!(p, price(t), "{r}");
        assert!((cost - kwh * p).abs() < 1e-12, "{r}");
        priced += usize::from(p == 0.40);
        let reg = r["register"].as_str().unwrap();
        let sum = sums.entry(reg).or_default();
        *sum = (sum.0 + kwh, sum.1 + cost);
        if reg == "main" && kwh * 4.0 > peak.0 {
            peak = (kwh * 4.0, t);
        }
    }
    assert!(priced > 0, "no interval fell in the peak window: {rows:?}");

    for reg in e["registers"].as_array().unwrap() {
        let name = reg["name"].as_str().unwrap();
        let total = reg["total_kwh"].as_f64().unwrap();
        assert!((total - after[name] / 3.6e6).abs() < 1e-9, "{reg}");
        let month = &reg["amounts"][3];
        let (kwh, cost) = sums.get(name).copied().unwrap_or_default();
        let shown = month["kwh"].as_f64().unwrap();
        assert!(
            (shown - kwh).abs() < 1e-9,
            "{name}: {shown} kWh shown, {kwh} in the ledger"
        );
        if name == "main" {
            assert!(kwh > 0.0 && (month["cost"].as_f64().unwrap() - cost).abs() < 1e-9);
        }
    }
    assert_eq!(e["billed"], "main");
    assert_eq!(e["currency"], "EUR");
    assert!(
        (e["peak"]["kw"].as_f64().unwrap() - peak.0).abs() < 1e-9,
        "{}",
        e["peak"]
    );
    assert_eq!(e["peak"]["from"], peak.1);
    let charge = e["demand_charge"].as_f64().unwrap();
    assert!((charge - 8.0 * peak.0).abs() < 1e-9);
    let band = |n: &str| {
        e["bands"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == n)
    };
    assert!(band("peak") && band("base"), "{}", e["bands"]);
    let r = s.get("/api/energy?days=0", &viewer).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s.get("/api/energy/intervals?register=nope", &viewer).await;
    assert!(
        r.error().contains("no register is named \"nope\""),
        "{}",
        r.body
    );
}
