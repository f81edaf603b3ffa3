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

/// `gridtwin status --data DIR` reads a stopped site's store: its last reading, the channels'
/// values as stored, the energy counters and the outage's events in words; `stats` its days;
/// a directory with no store is bad input.
#[test]
fn status_and_stats_show_what_the_store_holds() {
    let data = common::scratch("status");
    common::add_user(&data, "op", "operator");
    let (s, _) = Server::start(&data, 50.0);
    let c = s.login("op");
    // The demo's mains fails at 60 s; the generator carries the site from about 74 s.
    s.until(&c, |v| v["sim_s"].as_f64() > Some(90.0));
    s.stop();
    let out = common::gridtwin()
        .args(["status", "--data", data.to_str().unwrap(), "--events", "50"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let db = Store::open(&data).unwrap();
    let last = db.last_reading().unwrap().unwrap();
    // The backup's voltage as stored in the last second, to the printed millivolt.
    let v = db
        .history("backup/v", last - 3_600_000, last + 1, 3600)
        .unwrap();
    let line = format!("{:<32} {:>14.3} V", "backup/v", v.last().unwrap().mean);
    assert!(said.contains(&line), "{line:?} in\n{said}");
    assert!(said.contains("kWh"), "{said}");
    for words in [
        "generator start commanded",
        "load transferred to the backup",
    ] {
        assert!(said.contains(words), "{words} in\n{said}");
    }
    // `stats`: today's row has the outage, and each load's energy is its ledger's, which on a
    // new store is its counter.
    let out = common::gridtwin()
        .args(["stats", "--data", data.to_str().unwrap(), "--days", "2"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let rows: Vec<&str> = said.lines().collect();
    let today = rows
        .iter()
        .find(|r| r.starts_with(&chrono::Local::now().format("%Y-%m-%d").to_string()))
        .unwrap_or_else(|| panic!("no row for today in\n{said}"));
    let cols: Vec<&str> = today.split_whitespace().collect();
    // day, supplied, peak, at, bus lo, bus hi, outages, trips, alarms
    assert_eq!(cols[6], "1", "one outage: {today}");
    let kwh = db.counters().unwrap()["load/server"] / 3.6e6;
    assert!(kwh > 0.0);
    let line = format!("{:<32} {kwh:>12.3} kWh", "load/server");
    assert!(said.contains(&line), "{line:?} in\n{said}");
    // `report --data`: the day so far, from the store, beside it in `reports/`.
    let report = |period: &str| {
        common::gridtwin()
            .args([
                "report",
                "--data",
                data.to_str().unwrap(),
                "--period",
                period,
            ])
            .output()
            .unwrap()
    };
    let out = report("day");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let day = chrono::Local::now().format("day-%Y-%m-%d").to_string();
    let html = data.join("reports").join(&day).join("report.html");
    assert!(said.contains(&html.display().to_string()), "{said}");
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("energy from the main")
    );
    let out = report("year");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("day, week or month"));
    let out = common::gridtwin()
        .args(["stats", "--data", data.to_str().unwrap(), "--days", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let none = common::scratch("status-none");
    let out = common::gridtwin()
        .args(["status", "--data", none.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no site's store here"));
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

/// Every committed batch: (id, readings), as another connection sees them.
fn committed(data: &std::path::Path) -> Vec<(i64, i64)> {
    let db = rusqlite::Connection::open(data.join(gridtwin::store::DB_FILE)).unwrap();
    let mut q = db
        .prepare("SELECT id, readings FROM batch ORDER BY id")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every stored reading, filed or still in its frame.
fn stored_readings(data: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(data.join(gridtwin::store::DB_FILE)).unwrap();
    db.query_row(
        "SELECT (SELECT count(*) FROM reading_1s)
              + (SELECT coalesce(sum(length(ids) / 8), 0) FROM frame)",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Crash safety: SIGKILL at random moments during heavy ingest (the demo at 1000x, some
/// 60,000 readings a second), many times over (`GRIDTWIN_KILL_ROUNDS`, 20 by default; the
/// moments from `GRIDTWIN_KILL_SEED`, printed). After every kill: the file passes
/// integrity_check, every batch committed before the kill is there, the readings stored are
/// exactly those of the committed batches (none lost, none twice), and no energy counter went
/// back.
#[test]
fn killed_at_random_moments_under_heavy_ingest_nothing_committed_is_lost() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let rounds = env("GRIDTWIN_KILL_ROUNDS").unwrap_or(20);
    let mut seed = env("GRIDTWIN_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("GRIDTWIN_KILL_SEED={seed}");
    let mut next = move || {
        // xorshift64*: enough to spread the kills.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let data = common::scratch("kill-many");
    let mut before_kill: Vec<(i64, i64)> = Vec::new();
    let mut counters = std::collections::BTreeMap::new();
    let mut kills_mid_batch = 0;
    for round in 0..rounds {
        let (s, _) = Server::start(&data, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(300 + next() % 2700));
        let seen = committed(&data);
        s.kill();
        let db = Store::open(&data).unwrap();
        assert_eq!(db.integrity_check().unwrap(), "ok", "round {round}");
        let after = committed(&data);
        assert!(
            after.len() >= seen.len() && after[..seen.len()] == seen[..],
            "round {round}: a batch committed before the kill is gone"
        );
        kills_mid_batch += usize::from(after.len() > seen.len());
        let total: i64 = after.iter().map(|(_, n)| n).sum();
        assert_eq!(
            stored_readings(&data),
            total,
            "round {round}: the readings stored are the committed batches' readings"
        );
        let now = db.counters().unwrap();
        for (k, v) in &counters {
            assert!(now[k] >= *v, "round {round}: {k} went back");
        }
        counters = now;
        before_kill = after;
    }
    // The kills fell among commits, not all before the first.
    assert!(before_kill.len() as u64 >= rounds / 2, "{before_kill:?}");
    println!(
        "{rounds} kills survived; {} batches, {} readings committed; {kills_mid_batch} kills \
         came after a commit the reader had not yet seen",
        before_kill.len(),
        before_kill.iter().map(|(_, n)| n).sum::<i64>()
    );
    std::fs::remove_dir_all(&data).unwrap();
}

/// `--log-format json` makes every log line one JSON object a collector can read, with its
/// level; the default is text for a person, without terminal colours in a file.
#[test]
fn log_lines_are_json_for_a_collector_and_plain_text_otherwise() {
    for json in [true, false] {
        let data = common::scratch(if json { "log-json" } else { "log-text" });
        let log =
            std::env::temp_dir().join(format!("gridtwin-log-{json}-{}.log", std::process::id()));
        let mut extra = vec!["--mqtt", "mqtt://127.0.0.1:1"];
        if json {
            extra.extend(["--log-format", "json"]);
        }
        // Port 1 refuses: the MQTT client warns that it retries.
        let s = Server::start_logged(&data, 10.0, &extra, &log);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let warned = |t: &str| t.lines().any(|l| l.contains("retrying every second"));
        while !warned(&std::fs::read_to_string(&log).unwrap()) {
            assert!(std::time::Instant::now() < deadline, "no warning logged");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        s.stop();
        let text = std::fs::read_to_string(&log).unwrap();
        let line = text.lines().find(|l| warned(l)).unwrap();
        if json {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["level"], "WARN", "{line}");
            assert!(
                v["fields"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("mqtt: "),
                "{line}"
            );
        } else {
            assert!(
                line.contains(" WARN ") && !line.contains('\u{1b}'),
                "{line:?}"
            );
        }
        let _ = std::fs::remove_file(&log);
        std::fs::remove_dir_all(&data).unwrap();
    }
}
