//! The fleet path against real servers on loopback: three live sites publish over a real
//! Mosquitto (with persistence) to `hq`, which stores into a real PostgreSQL; the broker is
//! restarted in the middle, and so is hq; afterwards hq's history of every site equals the
//! site's own.

use std::time::{Duration, Instant};

mod common;

use common::broker::Broker;
use common::postgres::Postgres;
use gridtwin::control::{Switch, To};
use gridtwin::mqtt::broker::Broker as Url;
use gridtwin::mqtt::client;
use gridtwin::store::Role;

/// GET from hq's API: the status and the body as JSON.
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<axum::body::Bytes>,
    >(hyper_util::rt::TokioIo::new(tcp))
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = send
        .send_request(req.body(http_body_util::Empty::new()).unwrap())
        .await
        .unwrap();
    let code = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn hq_options(broker: &Broker, pg: &Postgres, token: Option<&str>) -> gridtwin::hq::Options {
    gridtwin::hq::Options {
        broker: Url::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap(),
        tls: None,
        postgres: pg.url(),
        client_id: "gridtwin-hq-test".into(),
        token: token.map(str::to_string),
    }
}

/// hq in this process, with the token `s3cret`.
struct Hq {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Hq {
    async fn start(broker: &Broker, pg: &Postgres) -> (Hq, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gridtwin::hq::serve(
            hq_options(broker, pg, Some("s3cret")),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        (Hq { stop, task }, addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_sites_land_in_postgres_with_nothing_lost_across_broker_and_hq_restarts() {
    let pg = Postgres::start("hq");
    let mut broker = Broker::start_with("hq", "persistence true\nmax_queued_messages 100000\n");
    let t0 = chrono::Utc::now().timestamp_millis();
    let (mut hq, addr) = Hq::start(&broker, &pg).await;
    // hq runs before its sites, as at a real fleet: the broker keeps hq's session from its first
    // subscription on, and what a site sent before that was never hq's to lose.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(addr, "/api/stats", Some("s3cret")).await.1["subscribed"] != true {
        assert!(Instant::now() < deadline, "hq did not subscribe");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Three controllers, each its own site.
    let mut sites = Vec::new();
    let mut clients = Vec::new();
    for i in 1..=3 {
        let mut l = common::demo();
        l.scenario.name = format!("site-{i}");
        let site = common::site_of(&l, &format!("hq-site-{i}"), 10.0, false);
        let o = client::Options {
            broker: Url::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap(),
            ha_user: "homeassistant".into(),
            roles: Default::default(),
            tls: None,
            period: Duration::from_millis(250),
        };
        clients.push(tokio::spawn(client::run(site.state.clone(), o)));
        sites.push(site);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // An operator's action on site 2: an event to carry.
    gridtwin::control::switch(
        &sites[1].state,
        "tester",
        Role::Operator,
        "fridge",
        Switch {
            to: To::Off,
            confirm: false,
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // hq stops (what it took but had not stored stays unacknowledged with the broker) and
    // starts again a second later: the broker kept its messages meanwhile.
    hq.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let addr;
    (hq, addr) = Hq::start(&broker, &pg).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for s in &sites {
        s.state.live.shutdown();
    }
    for c in clients {
        tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .unwrap()
            .unwrap();
    }

    // The API wants the token.
    assert_eq!(get(addr, "/api/sites", None).await.0, 401);
    assert_eq!(get(addr, "/api/sites", Some("wrong")).await.0, 401);

    // Until hq has stored everything the sites sent, each once, none missing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let (code, list) = get(addr, "/api/sites", Some("s3cret")).await;
        assert_eq!(code, 200, "{list}");
        let (_, stats) = get(addr, "/api/stats", Some("s3cret")).await;
        let done = list
            .as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|s| s["status"] == "offline"));
        if done {
            break list;
        }
        assert!(Instant::now() < deadline, "{list} {stats}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for s in list.as_array().unwrap() {
        assert_eq!(s["missing"], 0, "{s}");
        assert!(s["messages"].as_i64().unwrap() > 10, "{s}");
    }

    // Over the run's simulated time (from its start at wall time, ten times as fast), buckets
    // of one second: every reading on its own.
    let (from, to) = (t0 - 1000, t0 + 200_000);
    assert!((to - from) / 10_000 < 1000);
    // Each site's history in hq equals its own, second by second, for every channel, from
    // hq's first reading (the client starts after the site's loop) to the end.
    for (i, site) in sites.iter().enumerate() {
        let name = format!("site-{}", i + 1);
        let (_, channels) = get(addr, &format!("/api/sites/{name}/channels"), Some("s3cret")).await;
        let local = site.state.db.lock().unwrap().channel_list().unwrap();
        let names: Vec<(String, String)> = channels
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["unit"].as_str().unwrap().into(),
                )
            })
            .collect();
        let mut local_sorted = local.clone();
        local_sorted.sort();
        assert_eq!(names, local_sorted);
        let mut compared = 0;
        for (ch, _) in &local {
            let q =
                format!("/api/sites/{name}/history?channel={ch}&from={from}&to={to}&points=10000");
            let (code, remote) = get(addr, &q, Some("s3cret")).await;
            assert_eq!(code, 200, "{remote}");
            let remote = remote.as_array().unwrap().clone();
            let Some(first) = remote.first().map(|p| p["t"].as_i64().unwrap()) else {
                // A channel that is never a number (none in the demo) has no points.
                continue;
            };
            let mine = site
                .state
                .db
                .lock()
                .unwrap()
                .history(ch, from, to, 10_000)
                .unwrap();
            // Buckets of the same width in both (1 s at the least).
            let mine: Vec<_> = mine.iter().filter(|p| p.t >= first).collect();
            assert_eq!(mine.len(), remote.len(), "{name} {ch}");
            for (a, b) in mine.iter().zip(&remote) {
                assert_eq!(a.t, b["t"].as_i64().unwrap(), "{name} {ch}");
                let close = |x: f64, y: &serde_json::Value| {
                    (x - y.as_f64().unwrap()).abs() <= 1e-9 * x.abs().max(1.0)
                };
                assert!(
                    close(a.mean, &b["mean"]) && close(a.min, &b["min"]) && close(a.max, &b["max"]),
                    "{name} {ch}: {a:?} {b}"
                );
            }
            compared += 1;
        }
        assert!(compared > 40, "{name}: {compared} channels");
    }
    // Nothing was lost, and the test spanned the restart: readings on both sides of it.

    // The operator's event reached hq.
    let (_, events) = get(
        addr,
        &format!("/api/sites/site-2/events?from={t0}&to={to}"),
        Some("s3cret"),
    )
    .await;
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "operator" && e["subject"] == "fridge"),
        "{events}"
    );
    // Bad requests say what is wrong.
    let (code, e) = get(addr, "/api/sites/nowhere/channels", Some("s3cret")).await;
    assert_eq!(code, 404, "{e}");
    let (code, e) = get(
        addr,
        "/api/sites/site-1/history?from=5&to=1&channel=bus/v",
        Some("s3cret"),
    )
    .await;
    assert_eq!(code, 400, "{e}");

    hq.stop().await;
}
