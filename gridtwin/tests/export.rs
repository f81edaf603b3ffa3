//! Exports of a live site, read back by independent readers: the same stored rows as CSV, as
//! JSON with the range's events, and as an Excel workbook that openpyxl (Debian's
//! python3-openpyxl) reads with its dates, numbers, frozen header and filter; `gridtwin export`
//! writes the same bytes as the API.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn csv_json_and_xlsx_hold_the_same_rows_and_the_cli_writes_what_the_api_sends() {
    let s = common::site("export", 20.0, true);
    let viewer = s.login("viewer").await;
    let from = s.state.live.site_now();
    // Two minutes of the site's readings, with the demo's outage in them.
    let t0 = std::time::Instant::now();
    while s.state.live.site_now() < from + 120_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the site's clock stalled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.state.live.shutdown();
    let to = s.state.live.site_now();
    let q = format!("channels=bus/v,main/p&from={from}&to={to}");
    let csv = s.get(&format!("/api/export?{q}"), &viewer).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<Vec<String>> = csv
        .body
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert!(lines.len() > 200, "{} rows", lines.len());

    let json = s
        .get(&format!("/api/export?{q}&format=json"), &viewer)
        .await
        .json();
    let readings = json["readings"].as_array().unwrap();
    assert_eq!(readings.len(), lines.len());
    for (r, l) in readings.iter().zip(&lines) {
        assert_eq!(r["time"], l[0].as_str());
        assert_eq!(r["channel"], l[1].as_str());
        assert_eq!(r["mean"].as_f64().unwrap(), l[3].parse::<f64>().unwrap());
    }
    assert!(
        json["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "outage"),
        "{}",
        json["events"]
    );

    let xlsx = s
        .get(&format!("/api/export?{q}&format=xlsx"), &viewer)
        .await;
    assert_eq!(xlsx.status, StatusCode::OK);
    assert!(
        xlsx.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("gridtwin-export.xlsx")
    );
    let file = s.dir.join("export.xlsx");
    std::fs::write(&file, &xlsx.raw).unwrap();
    let read = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/read_xlsx.py"))
        .arg(&file)
        .output()
        .expect("python3 with openpyxl (Debian's python3-openpyxl; cargo xtask ci installs it)");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let book: Value = serde_json::from_slice(&read.stdout).unwrap();
    let rows = book["readings"]["rows"].as_array().unwrap();
    assert_eq!(rows[0][0], "time (UTC)");
    assert_eq!(rows.len() - 1, lines.len());
    for (r, l) in rows[1..].iter().zip(&lines) {
        // Excel keeps milliseconds: the cell's instant is the CSV's.
        let cell =
            chrono::NaiveDateTime::parse_from_str(r[0].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
                .unwrap_or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(
                        r[0].as_str().unwrap(),
                        "%Y-%m-%dT%H:%M:%S",
                    )
                    .unwrap()
                });
        let want = chrono::DateTime::parse_from_rfc3339(&l[0])
            .unwrap()
            .naive_utc();
        assert!(
            (cell - want).num_milliseconds().abs() <= 1,
            "{cell} vs {want}"
        );
        assert_eq!(r[1], l[1].as_str());
        assert_eq!(r[3].as_f64().unwrap(), l[3].parse::<f64>().unwrap());
    }
    assert_eq!(book["readings"]["freeze"], "A2");
    assert_eq!(book["readings"]["filter"], format!("A1:F{}", rows.len()));
    let events = book["events"]["rows"].as_array().unwrap();
    assert!(
        events[1..]
            .iter()
            .any(|e| e[3] == "outage" && e[4].as_str().unwrap().contains("outage declared"))
    );

    // The command line, on the store the site left.
    let out = common::gridtwin()
        .args(["export", "--channels", "bus/v,main/p", "--from"])
        .arg(from.to_string())
        .arg("--to")
        .arg(to.to_string())
        .arg("--data")
        .arg(&s.dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv.body);
    let refused = common::gridtwin()
        .args([
            "export",
            "--format",
            "xlsx",
            "--from",
            "yesterday",
            "--data",
        ])
        .arg(&s.dir)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--from \"yesterday\""));
    let r = s
        .get("/api/export?channels=bus/v&format=pdf", &viewer)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
