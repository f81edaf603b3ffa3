//! A live site's reports from its store. The demo PDU runs at 600x for over an hour of its
//! clock. Its day so far, gathered from the readings up to a quarter hour, is checked against
//! the ledger, which the loop keeps apart from the readings: each whole quarter's demand, and
//! the main's and each load's energy. A report is written over the API by an operator (not a
//! viewer), listed, and served as a page under its own policy; the schedule writes each ended
//! period that has readings once.

mod common;

use std::collections::BTreeMap;

use gridtwin::site_report::{About, Period, Span, gather};
use gridtwin::store::Store;
use serde_json::json;

const SPEED: f64 = 600.0;
const QUARTER: i64 = 900_000;
const MINUTE: i64 = 60_000;

/// Each interval's energy of `register` by its start, J.
fn ledger(db: &Store, register: &str, from: i64, to: i64) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for i in db.energy(from, to).unwrap() {
        if i.register == register {
            *out.entry(i.t).or_default() += i.joules;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_day_report_is_the_ledger_quarter_by_quarter() {
    let s = common::site("site-report", SPEED, true);
    let cal = s.state.live.calendar();
    // An hour of readings and the rest of the test (seconds here, hours of the site's clock)
    // within one site day: a site started less than four hours before its midnight starts
    // counting at it.
    let mut t0 = s.state.live.site_now();
    let later = Span::of(cal, Period::Day, cal.local(t0 + 240 * MINUTE).date()).from;
    if later > t0 {
        t0 = later;
    }
    common::until_site(&s.state, t0 + 65 * MINUTE).await;

    // The day so far, cut at the last quarter hour: whole intervals of the ledger.
    let db = Store::open(&s.dir).unwrap();
    let cut = s.state.live.site_now().div_euclid(QUARTER) * QUARTER;
    let span = Span::of(cal, Period::Day, cal.local(cut - 1).date());
    let g = gather(&db, &span, cut, s.state.live.tariff_now())
        .unwrap()
        .unwrap();
    assert_eq!(g.until, cut);
    assert_eq!(g.meta.duration_s, (cut - span.from) as f64 / 1000.0);
    let rec = reports::Recording::new(g.meta, &g.series, g.events).unwrap();
    let summary = reports::Summary::of(&rec).unwrap();

    // One second of the site's energy at its highest power: a count the loop makes between two
    // readings (as it stores a batch) may fall on the far side of a quarter's edge.
    let peak_w = db.history("main/p", span.from, cut, 1).unwrap()[0].max;
    let second_kwh = peak_w / 3.6e6;
    let main = ledger(&db, "main", span.from, cut);
    let whole: Vec<(i64, f64)> = main
        .iter()
        .filter(|(t, _)| **t >= t0)
        .map(|(t, j)| (*t, *j))
        .collect();
    assert!(whole.len() >= 3, "{} whole quarters", whole.len());
    for (t, joules) in &whole {
        let at = (t - span.from) as f64 / 1000.0;
        let (_, kw) = summary
            .demand
            .iter()
            .find(|d| d.0 == at)
            .unwrap_or_else(|| panic!("no report demand for the quarter at {t}"));
        let want = joules / 3.6e6 * 4.0;
        assert!(
            (kw - want).abs() <= 2.0 * second_kwh * 4.0,
            "quarter at {t}: report {kw} kW, ledger {want} kW"
        );
    }
    // The peak over every quarter (the first, cut by the start, counts too).
    let peak = main.values().map(|j| j / 3.6e6 * 4.0).fold(0.0, f64::max);
    let reported = summary.fact("peak 15-minute demand").unwrap();
    assert!(
        (reported - peak).abs() <= 2.0 * second_kwh * 4.0,
        "{reported} against {peak}"
    );

    // Energy: the main's and each load's, from the start to the cut.
    let kwh = |m: &BTreeMap<i64, f64>| m.values().sum::<f64>() / 3.6e6;
    let from_main = summary.fact("energy from the main").unwrap();
    assert!(from_main > 0.1, "{from_main} kWh");
    assert!((from_main - kwh(&main)).abs() <= 2.0 * second_kwh);
    assert!(!summary.loads.is_empty());
    for l in &summary.loads {
        let want = kwh(&ledger(&db, &format!("load/{}", l.name), span.from, cut));
        assert!(
            (l.energy_kwh - want).abs() <= 2.0 * second_kwh,
            "{}: report {} kWh, ledger {want} kWh",
            l.name,
            l.energy_kwh
        );
    }
    // The events are the store's.
    let stored = db.events_between(span.from, cut).unwrap();
    assert_eq!(rec.events.len(), stored.len());

    // Over the API: an operator writes one, a viewer reads it.
    let op = s.login("operator").await;
    let viewer = s.login("viewer").await;
    let r = s.post("/api/reports", &viewer, r#"{"period":"day"}"#).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s.post("/api/reports", &op, r#"{"period":"year"}"#).await;
    assert!(
        r.status.is_client_error() && r.body.contains("year"),
        "{}",
        r.body
    );
    let r = s
        .post(
            "/api/reports",
            &op,
            r#"{"period":"day","date":"2020-01-01"}"#,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("day-2020-01-01: the site has no readings in it"),
        "{}",
        r.body
    );
    let r = s.post("/api/reports", &op, r#"{"period":"day"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let about: About = serde_json::from_str(&r.body).unwrap();
    assert_eq!(about.span, span);
    assert!(about.until >= cut && about.until % MINUTE == span.from % MINUTE);

    let list = s.get("/api/reports", &viewer).await.json();
    assert_eq!(list["reports"][0]["label"], json!(span.label));
    assert_eq!(list["schedule"], json!(["day", "week", "month"]));
    assert_eq!(list["engine"], json!(true));
    let page = s
        .get(&format!("/api/reports/{}", span.label), &viewer)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("energy from the main"), "{}", page.body);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    // The page and the API keep their own policy.
    let csp = list_csp(&s, &viewer).await;
    assert!(csp.contains("script-src 'self'"), "{csp}");
    for bad in ["..", "gridtwin.sqlite", "day-1999-01-01"] {
        let r = s.get(&format!("/api/reports/{bad}"), &viewer).await;
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
    }
    // Read back from its Parquet tables, the written report's rows end where it says.
    let dir = s.dir.join("reports").join(&span.label);
    let back = reports::Recording::read(&dir).unwrap();
    assert_eq!(
        back.meta.duration_s,
        (about.until - span.from) as f64 / 1000.0
    );

    // The schedule, at 00:01 of the next day: each ended period with readings, once (the day's
    // written again, as if not yet).
    std::fs::remove_dir_all(&dir).unwrap();
    let next = cal.midnight(cal.local(cut - 1).date().succ_opt().unwrap()) + MINUTE;
    let mut skipped = Vec::new();
    let written = gridtwin::web::reports::catch_up(&s.state, next, &mut skipped).await;
    let labels: Vec<&str> = written.iter().map(|a| a.span.label.as_str()).collect();
    assert!(labels.contains(&span.label.as_str()), "{labels:?}");
    assert_eq!(written.len() + skipped.len(), 3, "{labels:?} {skipped:?}");
    assert!(
        gridtwin::web::reports::catch_up(&s.state, next, &mut skipped)
            .await
            .is_empty()
    );

    // An admin narrows the schedule.
    let admin = s.login("admin").await;
    let mut settings = s.get("/api/settings", &admin).await.json();
    settings["reports"] = json!(["week"]);
    let r = s
        .call(
            axum::http::Method::PUT,
            "/api/settings",
            Some(&admin),
            Some(&settings.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = s.get("/api/reports", &viewer).await.json();
    assert_eq!(list["schedule"], json!(["week"]));
}

async fn list_csp(s: &common::Site, cookie: &str) -> String {
    let r = s.get("/api/reports", cookie).await;
    r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string()
}
