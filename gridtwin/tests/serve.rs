//! `gridtwin serve` as a process: stopped mid-run and started again on the same data, nothing
//! stored is lost, the energy counters continue, and an operator's switching is remembered.

mod common;

use common::Server;
use gridtwin::store::Store;

/// `a >= b`, allowing for the last bit that serde_json's float parsing may lose (values from
/// the status are JSON; stored ones are exact).
fn not_below(a: f64, b: f64) -> bool {
    a >= b - b.abs() * 1e-14
}

/// Every stored reading of the server's energy register.
fn stored_rows(db: &Store) -> Vec<gridtwin::store::Point> {
    let mut out = Vec::new();
    db.export(&["load/server/energy".into()], 0, i64::MAX, |_, _, _, p| {
        out.push(p)
    })
    .unwrap();
    out
}

fn energy(s: &serde_json::Value) -> Vec<f64> {
    s["loads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["energy_j"].as_f64().unwrap())
        .collect()
}

#[test]
fn a_restart_loses_nothing_stored_and_counters_continue() {
    let data = common::scratch("restart");
    // A user made offline, before the first start.
    common::add_user(&data, "op", "operator");

    let (a, lines) = Server::start(&data, 20.0);
    assert!(
        !lines.iter().any(|l| l.contains("setup")),
        "users exist: no setup link"
    );
    let c = a.login("op");
    a.until(&c, |s| s["loads"][2]["relay"] == true);
    let (code, body) = a.http("POST", "/api/loads/fridge/switch", &c, r#"{"to":"off"}"#);
    assert_eq!(code, 200, "{body}");
    a.until(&c, |s| s["loads"][2]["relay"] == false);
    // Past the outage at 60 s, so events are stored too.
    let before = a.until(&c, |s| s["sim_s"].as_f64() > Some(90.0));
    a.stop();

    let (stored, readings, events, batches) = {
        let db = Store::open(&data).unwrap();
        assert_eq!(db.integrity_check().unwrap(), "ok");
        let counters = db.counters().unwrap();
        let h = stored_rows(&db);
        let events = db.events(&Default::default()).unwrap();
        (counters, h, events, db.batches().unwrap())
    };
    // The last batch was flushed on the way down: the stored counters are at least what the
    // status showed before the stop.
    for (i, name) in ["server", "network", "fridge", "lights", "pump", "office"]
        .iter()
        .enumerate()
    {
        assert!(
            not_below(stored[&format!("load/{name}")], energy(&before)[i]),
            "{name}"
        );
    }
    assert!(readings.len() >= 90, "{}", readings.len());
    assert!(events.iter().any(|e| e.kind == "transfer"), "{events:?}");

    let (b, _) = Server::start(&data, 20.0);
    let c = b.login("op");
    let after = b.until(&c, |s| s["sim_s"].as_f64() > Some(5.0));
    // Counters continue from the stored values, never back.
    for (i, e) in energy(&after).iter().enumerate() {
        let name = after["loads"][i]["name"].as_str().unwrap();
        assert!(
            not_below(*e, stored[&format!("load/{name}")]),
            "{name}: {e}"
        );
    }
    assert!(
        after["t"].as_i64() > readings.last().map(|p| p.t),
        "time moves on"
    );
    assert_eq!(after["loads"][2]["relay"], false, "the fridge stays off");
    assert_eq!(after["loads"][2]["status"], "off");
    b.stop();

    let db = Store::open(&data).unwrap();
    let h = stored_rows(&db);
    assert!(h.len() > readings.len());
    // Everything stored before the restart is still there, unchanged.
    assert_eq!(&h[..readings.len()], &readings[..]);
    assert!(db.events(&Default::default()).unwrap().len() >= events.len());
    assert!(db.batches().unwrap() > batches);
    // The energy register never decreases across the restart.
    assert!(h.windows(2).all(|w| w[1].mean >= w[0].mean));
    std::fs::remove_dir_all(&data).unwrap();
}

/// SIGKILL: no flush on the way down. What was committed stays, the file stays sound, and the
/// counters go on from what was stored.
#[test]
fn a_killed_server_loses_only_the_batch_in_flight() {
    let data = common::scratch("kill");
    common::add_user(&data, "op", "operator");
    let mut last_counters = std::collections::BTreeMap::new();
    let mut last_rows = Vec::new();
    for round in 0..3 {
        let (s, _) = Server::start(&data, 50.0);
        let c = s.login("op");
        let first = s.status(&c);
        for (i, e) in energy(&first).iter().enumerate() {
            let name = first["loads"][i]["name"].as_str().unwrap();
            let stored: &f64 = last_counters.get(&format!("load/{name}")).unwrap_or(&0.0);
            assert!(
                not_below(*e, *stored),
                "round {round}: {name} starts at {e} < stored {stored}"
            );
        }
        // Run a few batches, then kill without warning, at a different moment each round.
        s.until(&c, |v| {
            v["sim_s"].as_f64() > Some(60.0 + 37.0 * round as f64)
        });
        s.kill();
        let db = Store::open(&data).unwrap();
        assert_eq!(db.integrity_check().unwrap(), "ok", "round {round}");
        let counters = db.counters().unwrap();
        for (k, v) in &last_counters {
            assert!(counters[k] >= *v, "round {round}: {k} went back");
        }
        let rows = stored_rows(&db);
        assert!(
            rows.len() > last_rows.len(),
            "round {round}: new readings stored"
        );
        assert_eq!(
            &rows[..last_rows.len()],
            &last_rows[..],
            "round {round}: old readings kept"
        );
        last_counters = counters;
        last_rows = rows;
    }
    std::fs::remove_dir_all(&data).unwrap();
}

/// Nothing secret reaches the log: not a password (the MQTT broker's in its URL, a user's, a
/// wrong one tried), nor a session or API token, though the broker's URL is logged (refused
/// connections) and logins happen.
#[test]
fn no_secrets_in_the_log() {
    let data = common::scratch("secrets");
    common::add_user(&data, "op", "admin");
    let log = std::env::temp_dir().join(format!("gridtwin-secrets-{}.log", std::process::id()));
    // Port 1 on loopback refuses: the client logs the broker it cannot reach.
    let s = Server::start_logged(
        &data,
        10.0,
        &["--mqtt", "mqtt://gw:s3cret-mqtt@127.0.0.1:1"],
        &log,
    );
    let cookie = s.login("op");
    let (code, _) = s.http(
        "POST",
        "/api/login",
        "",
        r#"{"name":"op","password":"hunter2-wrong"}"#,
    );
    assert_eq!(code, 401);
    let (code, body) = s.http("POST", "/api/tokens", &cookie, r#"{"days":1}"#);
    assert_eq!(code, 200, "{body}");
    let api_token: serde_json::Value = serde_json::from_str(&body).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("mqtt://gw@127.0.0.1:1"),
        "the broker is logged: {text}"
    );
    let session = cookie.split_once('=').unwrap().1;
    let api_token = api_token["token"].as_str().unwrap();
    for secret in [
        "s3cret-mqtt",
        common::PASSWORD,
        "hunter2-wrong",
        session,
        api_token,
    ] {
        assert!(!text.contains(secret), "{secret:?} in the log: {text}");
    }
    let _ = std::fs::remove_file(&log);
    std::fs::remove_dir_all(&data).unwrap();
}
