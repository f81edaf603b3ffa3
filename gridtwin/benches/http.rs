//! `cargo xtask bench`: `gridtwin serve` under load while the twin runs at 100×.
//! 1. wrk against GET /api/status, 200 connections for 10 s: goal p99 < 10 ms.
//! 2. 100 live clients on the event stream for 10 s: each must get 5 updates/s or more.
//!
//! Reports the server's CPU share and how far the twin fell behind its clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gridtwin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gridtwin"))
}

fn request(addr: &str, head: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// Log in and make a bearer token.
fn token(addr: &str) -> String {
    let login = request(
        addr,
        "POST /api/login HTTP/1.1",
        &format!(r#"{{"name":"bench","password":"{PASSWORD}"}}"#),
    );
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let r = request(
        addr,
        &format!("POST /api/tokens HTTP/1.1\r\nCookie: {cookie}"),
        r#"{"days":1}"#,
    );
    let body = r.split("\r\n\r\n").nth(1).unwrap();
    let start = body.find("\"token\":\"").unwrap() + 9;
    body[start..].split('"').next().unwrap().to_string()
}

/// utime + stime of a process, s.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12; 100 ticks a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn status_lag(addr: &str, token: &str) -> f64 {
    let r = request(
        addr,
        &format!("GET /api/status HTTP/1.1\r\nAuthorization: Bearer {token}"),
        "",
    );
    let body = r.split("\r\n\r\n").nth(1).unwrap_or("");
    let i = body.find("\"lag_s\":").map(|i| i + 8).unwrap_or(0);
    body[i..]
        .split(',')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = std::env::temp_dir().join(format!("gridtwin-bench-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut add = gridtwin()
        .args([
            "user",
            "add",
            "bench",
            "--role",
            "viewer",
            "--password-stdin",
            "--data",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success());
    let mut child = gridtwin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "100",
            "--data",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "serve exited");
        if let Some(rest) = l.split(" on http://").nth(1) {
            break rest.trim().trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in out.lines() {});
    let server = Server { child, addr };
    let pid = server.child.id();
    let token = token(&server.addr);
    let (secs, clients) = if full { (10, 100) } else { (1, 5) };

    // 1. wrk.
    let wrk = Command::new("wrk").arg("--version").output();
    if full && wrk.is_ok() {
        let cpu0 = cpu_s(pid);
        let out = Command::new("wrk")
            .args(["-t2", "-c200", &format!("-d{secs}s"), "--latency", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("http://{}/api/status", server.addr))
            .output()
            .expect("wrk runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .map(|l| l.trim().to_string())
                .unwrap_or_default()
        };
        println!(
            "wrk GET /api/status, 200 connections, {secs} s, twin at 100x: {} | p50 {} | p99 {} | {} | server CPU {:.0} % of one core | twin lag after: {:.3} s",
            line("Requests/sec"),
            line("50%"),
            line("99%"),
            line("Non-2xx").replace("Non-2xx or 3xx responses:", "non-2xx:"),
            (cpu_s(pid) - cpu0) * 100.0 / secs as f64,
            status_lag(&server.addr, &token),
        );
    } else if full {
        println!("wrk not installed (apt-get install wrk): skipped the request benchmark");
    }

    // 2. Live clients.
    let cpu0 = cpu_s(pid);
    let t0 = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, token) = (server.addr.clone(), token.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                write!(
                    s,
                    "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
                .unwrap();
                let mut r = BufReader::new(s);
                let (mut n, mut line) = (0u32, String::new());
                let end = Instant::now() + Duration::from_secs(secs);
                while Instant::now() < end {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) if line.starts_with("event: status") => n += 1,
                        _ => {}
                    }
                }
                n
            })
        })
        .collect();
    let counts: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu_s(pid) - cpu0) * 100.0 / wall;
    let rate = |n: u32| f64::from(n) / secs as f64;
    let min = counts.iter().copied().min().unwrap_or(0);
    let mean = counts.iter().map(|&n| rate(n)).sum::<f64>() / counts.len() as f64;
    println!(
        "{clients} live clients for {secs} s: updates/s per client min {:.1}, mean {mean:.1} (goal >= 5); server CPU {cpu:.0} % of one core; twin lag {:.3} s",
        rate(min),
        status_lag(&server.addr, &token)
    );
    assert!(rate(min) >= 5.0, "a client got fewer than 5 updates/s");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
