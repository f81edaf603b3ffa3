//! `cargo xtask bench`: `gridtwin serve` under load while the twin runs at 100×.
//! 1. wrk against GET /api/status, 200 connections for 10 s: goal p99 < 10 ms.
//! 2. 500 live clients on the event stream for 10 s: each must get 5 updates/s or more.
//! 3. Both at once: the control loop's passes against their deadline (one 5 ms tick), with
//!    their p50, p99 and longest, and the scheduler's oversleep between passes.
//!
//! Reports the server's CPU share and how far the twin fell behind its clock.

// The integration tests' helpers: the binary started on a scratch data directory, a user,
// a login, plain HTTP requests.
#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

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

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let dir = common::scratch("bench-http");
    common::add_user(&dir, "bench", "viewer");
    let (server, _) = Server::start(&dir, 100.0);
    let pid = server.pid();
    let cookie = server.login("bench");
    let lag = || server.status(&cookie)["lag_s"].as_f64().unwrap_or(f64::NAN);
    let (secs, clients) = if full { (10, 500) } else { (1, 5) };

    // 1. wrk.
    let wrk = Command::new("wrk").arg("--version").output();
    if full && wrk.is_ok() {
        let cpu0 = cpu_s(pid);
        let out = Command::new("wrk")
            .args(["-t2", "-c200", &format!("-d{secs}s"), "--latency", "-H"])
            .arg(format!("Cookie: {cookie}"))
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
            lag(),
        );
    } else if full {
        println!("wrk not installed (apt-get install wrk): skipped the request benchmark");
    }

    // 2. Live clients.
    let cpu0 = cpu_s(pid);
    let t0 = Instant::now();
    let counts = live_clients(&server, &cookie, clients, secs);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (cpu_s(pid) - cpu0) * 100.0 / wall;
    let rate = |n: u32| f64::from(n) / secs as f64;
    let min = counts.iter().copied().min().unwrap_or(0);
    let mean = counts.iter().map(|&n| rate(n)).sum::<f64>() / counts.len() as f64;
    println!(
        "{clients} live clients for {secs} s: updates/s per client min {:.1}, mean {mean:.1} (goal >= 5); server CPU {cpu:.0} % of one core; twin lag {:.3} s",
        rate(min),
        lag()
    );
    assert!(rate(min) >= 5.0, "a client got fewer than 5 updates/s");

    // 3. Both at once: the control loop's passes against their deadline (one tick).
    let before = LoopTiming::read(&server, &cookie);
    if full && wrk.is_ok() {
        let addr = format!("http://{}/api/status", server.addr);
        let header = format!("Cookie: {cookie}");
        let load = std::thread::spawn(move || {
            Command::new("wrk")
                .args(["-t2", "-c200", &format!("-d{secs}s"), "-H", &header, &addr])
                .output()
                .expect("wrk runs")
        });
        live_clients(&server, &cookie, clients, secs);
        let _ = load.join();
    } else {
        live_clients(&server, &cookie, clients, secs);
    }
    let after = LoopTiming::read(&server, &cookie);
    println!(
        "control loop under {}{clients} live clients at 100x: {} passes, {} past the {:.0} ms deadline; \
         pass p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; oversleep p99 {:.2} ms, max {:.2} ms \
         (quantiles and maxima since the server started); twin lag {:.3} s",
        if full && wrk.is_ok() {
            "wrk's 200 connections and "
        } else {
            ""
        },
        after.passes - before.passes,
        after.missed - before.missed,
        after.deadline * 1e3,
        after.p50 * 1e3,
        after.p99 * 1e3,
        after.max * 1e3,
        after.over_p99 * 1e3,
        after.over_max * 1e3,
        lag()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The loop's timing as /metrics gives it.
struct LoopTiming {
    passes: f64,
    missed: f64,
    deadline: f64,
    p50: f64,
    p99: f64,
    max: f64,
    over_p99: f64,
    over_max: f64,
}

impl LoopTiming {
    fn read(server: &Server, cookie: &str) -> LoopTiming {
        let (_, text) = server.http("GET", "/metrics", cookie, "");
        let v = |series: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(f64::NAN)
        };
        LoopTiming {
            passes: v("gridtwin_loop_passes_total"),
            missed: v("gridtwin_loop_deadline_missed_total"),
            deadline: v("gridtwin_loop_deadline_seconds"),
            p50: v("gridtwin_loop_pass_seconds{quantile=\"0.5\"}"),
            p99: v("gridtwin_loop_pass_seconds{quantile=\"0.99\"}"),
            max: v("gridtwin_loop_pass_max_seconds"),
            over_p99: v("gridtwin_loop_oversleep_seconds{quantile=\"0.99\"}"),
            over_max: v("gridtwin_loop_oversleep_max_seconds"),
        }
    }
}

/// `clients` readers of the event stream for `secs`; the updates each got.
fn live_clients(server: &Server, cookie: &str, clients: usize, secs: u64) -> Vec<u32> {
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, cookie) = (server.addr.clone(), cookie.to_string());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                write!(
                    s,
                    "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n"
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
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
