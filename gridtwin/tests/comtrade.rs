//! A short circuit's fault record, read by an independent COMTRADE reader: `gridtwin run` plays
//! `waveform_fault_record.ron` (a 10 mΩ fault on the heater's circuit at 3 s behind a
//! 0.08 + j0.06 Ω source), and the `comtrade` package from PyPI reads the record it writes. The
//! pre-fault cycles are there with the heater's current at V/R; the fault current starts at 3 s
//! at E/|Zs + Rf| and ends once the heater's relay opens; the trigger is the trip's time.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `comtrade` from PyPI, installed by `cargo xtask ci` under `gridtwin/tests/pylib`.
fn pylib() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pylib");
    assert!(
        dir.join("comtrade.py").exists(),
        "the COMTRADE test reads with PyPI's comtrade: `python3 -m pip install --target \
         gridtwin/tests/pylib comtrade==0.2.0` (cargo xtask ci does it)"
    );
    dir
}

/// The record `stem`.cfg and `stem`.dat as the `comtrade` package reads them.
fn read(stem: &Path) -> Value {
    let read = Command::new("/usr/bin/python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/read_comtrade.py"))
        .arg(stem.with_extension("cfg"))
        .arg(stem.with_extension("dat"))
        .env("PYTHONPATH", pylib())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&read.stderr);
    assert!(read.status.success(), "{err}");
    serde_json::from_slice(&read.stdout).unwrap()
}

/// `gridtwin run` of a scenario into a scratch directory.
fn run(scenario: &str, tag: &str) -> std::path::PathBuf {
    let out = common::scratch(tag);
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{scenario}.ron"));
    let run = common::gridtwin()
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    out
}

/// A list of the reader's output as text or numbers.
fn texts(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rms(x: &[f64]) -> f64 {
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn a_short_circuit_s_record_reads_back_with_its_cycles_before_and_its_fault_current() {
    let out = run("waveform_fault_record", "comtrade");
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let trip: Value = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "trip")
        .unwrap();
    let trip_t = trip["t"].as_f64().unwrap();

    let r = read(&out.join("faults/fault-01-heater"));
    assert_eq!(r["station"], "waveform_fault_record");
    assert_eq!(r["rev_year"], "1999");
    assert_eq!(r["frequency"], 50.0);
    let ids = texts(&r["analog_ids"]);
    assert_eq!(
        ids,
        [
            "main/v",
            "main/i",
            "backup/v",
            "backup/i",
            "bus/v",
            "load/heater/i",
            "load/lamp/i"
        ]
    );
    assert_eq!(r["units"][0], "V");
    assert_eq!(r["units"][5], "A");
    assert_eq!(r["status_ids"][0], "heater trip");
    // The scenario starts at 2026-01-05 00:00; the record 10 cycles before the trip.
    let trigger = r["trigger_time"].as_f64().unwrap();
    assert!((trigger - 0.2).abs() < 1e-6, "{trigger}");
    let start =
        chrono::NaiveDateTime::parse_from_str(r["start"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap();
    let start_s = (start
        - chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap())
    .as_seconds_f64();
    assert!(
        (start_s + trigger - trip_t).abs() < 1e-6,
        "{start_s} + {trigger} vs {trip_t}"
    );

    let time: Vec<f64> = r["time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| start_s + t.as_f64().unwrap())
        .collect();
    let ch = |k: usize| numbers(&r["analog"][k]);
    let (bus, heater, main_i) = (ch(4), ch(5), ch(1));
    let rate = 3200.0;
    let cycle = (rate / 50.0) as usize;
    assert_eq!(
        time.len(),
        20 * cycle,
        "ten cycles before the trip and ten after"
    );

    // Before the fault (3 s): whole cycles of the heater at the bus voltage over its 26.45 Ω.
    let onset = time.iter().position(|&t| t >= 3.0).unwrap();
    assert!(onset >= 9 * cycle, "only {onset} samples before the fault");
    let before = onset - 9 * cycle..onset;
    let r_heater = 230.0 * 230.0 / 2000.0;
    let want = rms(&bus[before.clone()]) / r_heater;
    let got = rms(&heater[before.clone()]);
    assert!(
        (got / want - 1.0).abs() < 0.005,
        "pre-fault heater current {got} A, V/R = {want} A"
    );
    let normal_peak = heater[before].iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    assert!(normal_peak < 15.0);

    // The fault current where the twin put it: from 3 s, not a sample before.
    let first = heater
        .iter()
        .position(|x| x.abs() > 3.0 * normal_peak)
        .unwrap();
    assert!(
        (0.0..=2.0 / rate + 1e-9).contains(&(time[first] - 3.0)),
        "the fault shows at {} s",
        time[first]
    );
    // Its size: the source's 230 V over the source impedance and the fault.
    let z = ((0.08_f64 + 0.01).powi(2) + 0.06_f64.powi(2)).sqrt();
    let fault = rms(&heater[onset..onset + cycle]);
    assert!(
        (fault / (230.0 / z) - 1.0).abs() < 0.02,
        "fault current {fault} A, E/|Z| = {} A",
        230.0 / z
    );
    // The main carries it too.
    assert!((rms(&main_i[onset..onset + cycle]) / fault - 1.0).abs() < 0.01);

    // The trip's status turns 1 at the trigger; a cycle after the trip the relay has opened.
    let status = numbers(&r["status"][0]);
    let on = status.iter().position(|&s| s == 1.0).unwrap();
    assert!(
        (time[on] - trip_t).abs() <= 1.0 / rate,
        "{} vs {trip_t}",
        time[on]
    );
    assert!(status[on..].iter().all(|&s| s == 1.0));
    let after = time.iter().position(|&t| t >= trip_t + 0.04).unwrap();
    assert!(
        rms(&heater[after..]) < 0.01,
        "the heater still carries current after its trip"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// The same fault on a live site: the record is stored, listed, served for the page, and its
/// downloaded files read back with the trip's time and the fault current.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_site_stores_the_record_and_serves_its_comtrade_files() {
    let s = common::site_of(
        &common::scenario("waveform_fault_record.ron"),
        "comtrade-live",
        4.0,
        true,
    );
    let viewer = s.login("viewer").await;
    let t0 = std::time::Instant::now();
    let list = loop {
        let list = s.get("/api/faults", &viewer).await.json();
        if !list.as_array().unwrap().is_empty() {
            break list;
        }
        assert!(t0.elapsed().as_secs() < 30, "no fault record was stored");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let trips = s.get("/api/events?kind=trip", &viewer).await.json();
    let trip = &trips.as_array().unwrap()[0];
    let f = &list[0];
    assert_eq!(f["trips"][0][0], "heater");
    assert_eq!(
        f["trips"][0][1], trip["t"],
        "the record's trip is the event's"
    );
    assert_eq!(f["len"], 1280);
    let id = f["id"].as_i64().unwrap();
    let rec = s.get(&format!("/api/faults/{id}"), &viewer).await.json();
    assert_eq!(rec["channels"][5]["name"], "load/heater/i");
    assert_eq!(
        rec["channels"][5]["samples"].as_array().unwrap().len(),
        1280
    );

    let dir = common::scratch("comtrade-download");
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["cfg", "dat"] {
        let r = s.get(&format!("/api/faults/{id}/{ext}"), &viewer).await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);
        let named = r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            named.contains(&format!("fault-{id:02}-heater.{ext}")),
            "{named}"
        );
        std::fs::write(dir.join(format!("f.{ext}")), &r.raw).unwrap();
    }
    let r = read(&dir.join("f"));
    assert_eq!(r["station"], "waveform_fault_record");
    assert!((r["trigger_time"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    let heater = numbers(&r["analog"][5]);
    let peak = heater.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    let z = ((0.09_f64).powi(2) + 0.06_f64.powi(2)).sqrt();
    assert!(peak > 0.9 * 230.0 / z * 2f64.sqrt(), "fault peak {peak} A");
    let r = s.get("/api/faults/99/cfg", &viewer).await;
    assert_eq!(r.status, axum::http::StatusCode::NOT_FOUND);
    let r = s.get(&format!("/api/faults/{id}/csv"), &viewer).await;
    assert!(r.error().contains("a cfg and a dat file"), "{}", r.body);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On hardware the record is the measurement nodes' fast block, one value a step: `gridtwin run`
/// plays `hil_short_fault_record.ron` on the emulated bench (the same firmware's register map
/// the Pi polls), and the `comtrade` package reads its record. The second before the trip holds
/// the heater's V/R; in the fault's whole cycle the bus node's voltage is the divider
/// E·Rf/|Zs + Rf|; the heater's current as its clipping sensor saw it; nothing once its relay
/// opens, while the server's comes back.
#[test]
fn a_record_on_hardware_is_the_nodes_fast_block_around_the_trip() {
    let out = run("hil_short_fault_record", "comtrade-hil");
    let r = read(&out.join("faults/fault-01-heater"));
    let ids = texts(&r["analog_ids"]);
    assert_eq!(
        ids,
        [
            "main/v_rms",
            "backup/v_rms",
            "bus/v_rms",
            "main/i_half_rms",
            "backup/i_half_rms",
            "load/server/i_half_rms",
            "load/heater/i_half_rms"
        ]
    );
    // One value a 20 ms step: a second (50 cycles) each side of the trip.
    let time = numbers(&r["time"]);
    assert_eq!(time.len(), 100);
    assert!((time[1] - time[0] - 0.02).abs() < 1e-9);
    let trigger = r["trigger_time"].as_f64().unwrap();
    assert!((trigger - 1.0).abs() < 1e-6, "{trigger}");
    let ch = |k: usize| numbers(&r["analog"][k]);
    let (bus, main_i, server, heater) = (ch(2), ch(3), ch(5), ch(6));
    let at = time.iter().position(|&t| t >= trigger - 1e-9).unwrap();
    // Before: the heater at the bus voltage over 26.45 Ω; the main carries both circuits.
    for k in 0..at - 2 {
        let want = bus[k] / (230.0 * 230.0 / 2000.0);
        assert!(
            (heater[k] / want - 1.0).abs() < 0.01,
            "{k}: {} A",
            heater[k]
        );
        let sum = heater[k] + server[k];
        assert!((main_i[k] / sum - 1.0).abs() < 0.02, "{k}: {} A", main_i[k]);
    }
    // A whole cycle of the fault: the bus at 230 V · 0.01 / |0.09 + j0.06| Ω = 21.26 V.
    let divider = 230.0 * 0.01 / (0.09f64.hypot(0.06));
    let low = bus.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        (low / divider - 1.0).abs() < 0.02,
        "{low} V, not {divider} V"
    );
    // The fault current, as the heater's sensor could see it: far over the 15 A pickup.
    let peak = heater.iter().copied().fold(0.0, f64::max);
    assert!(peak > 30.0 && peak < 2126.0, "{peak} A");
    assert!(heater[at] > 15.0, "the trip's own sample: {} A", heater[at]);
    // After: the heater's circuit open, the server fed on.
    for k in at + 3..time.len() {
        assert!(heater[k] < 0.05, "{k}: {} A", heater[k]);
        assert!((server[k] - server[0]).abs() < 0.05, "{k}: {} A", server[k]);
    }
    let status = numbers(&r["status"][0]);
    assert_eq!(status.iter().position(|&s| s == 1.0), Some(at));
}
