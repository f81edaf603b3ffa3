//! `gridtwin serve` as a process: stopped mid-run and started again on the same data, nothing
//! stored is lost, the energy counters continue, and an operator's switching is remembered.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gridtwin::store::Store;

fn gridtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gridtwin"))
}

/// A running server and its address.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(data: &std::path::Path) -> (Server, Vec<String>) {
        let mut child = gridtwin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--speed",
                "20",
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut l = String::new();
            assert!(
                out.read_line(&mut l).unwrap() > 0,
                "serve exited: {lines:?}"
            );
            lines.push(l.clone());
            if let Some(rest) = l.split(" on http://").nth(1) {
                break rest.trim().trim_end_matches('/').to_string();
            }
        };
        // Keep reading stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines() {});
        (Server { child, addr }, lines)
    }

    /// One request; the status and body.
    fn http(&self, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let status = r[9..12].parse().unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        // Our JSON replies are small; a chunked one is one chunk.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body.split_once("\r\n")
                .map_or("", |(_, b)| b)
                .rsplitn(2, "\r\n0\r\n")
                .last()
                .unwrap_or("")
                .to_string()
        } else {
            body.to_string()
        };
        (status, body)
    }

    fn login(&self) -> String {
        let body = format!(r#"{{"name":"op","password":"{}"}}"#, common::PASSWORD);
        let mut s = TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "POST /api/login HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let line = r
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap_or_else(|| panic!("no cookie: {r}"));
        line.split_once(':')
            .unwrap()
            .1
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string()
    }

    fn status(&self, cookie: &str) -> serde_json::Value {
        let (code, body) = self.http("GET", "/api/status", cookie, "");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Wait until the status satisfies `f`.
    fn until(&self, cookie: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(cookie);
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "never reached; last {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, as a service manager stops it; it must exit cleanly.
    fn stop(mut self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let mut add = gridtwin()
        .args([
            "user",
            "add",
            "op",
            "--role",
            "operator",
            "--password-stdin",
            "--data",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{}", common::PASSWORD).unwrap();
    assert!(add.wait().unwrap().success());

    let (a, lines) = Server::start(&data);
    assert!(
        !lines.iter().any(|l| l.contains("setup")),
        "users exist: no setup link"
    );
    let c = a.login();
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
            stored[&format!("load/{name}")] >= energy(&before)[i],
            "{name}"
        );
    }
    assert!(readings.len() >= 90, "{}", readings.len());
    assert!(events.iter().any(|e| e.kind == "transfer"), "{events:?}");

    let (b, _) = Server::start(&data);
    let c = b.login();
    let after = b.until(&c, |s| s["sim_s"].as_f64() > Some(5.0));
    // Counters continue from the stored values, never back.
    for (i, e) in energy(&after).iter().enumerate() {
        let name = after["loads"][i]["name"].as_str().unwrap();
        assert!(*e >= stored[&format!("load/{name}")], "{name}: {e}");
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
