//! Against a real Mosquitto broker on loopback (Debian's `mosquitto`, installed by
//! `cargo xtask ci` when missing): what the site publishes and what it takes from the broker.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use gridtwin::mqtt::broker::Broker as Url;
use gridtwin::mqtt::topics::Topics;
use gridtwin::mqtt::{client, discovery};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};

/// A broker of our own: a free port, no persistence, anonymous clients on loopback only.
struct Broker {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

impl Broker {
    fn start(tag: &str) -> Broker {
        let dir = std::env::temp_dir().join(format!("gridtwin-mqtt-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("mosquitto.conf");
        // As root, mosquitto would drop to the `mosquitto` user; stay who we are.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest stderr\n"
            ),
        )
        .unwrap();
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (cargo xtask ci installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto() -> &'static Path {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or(Path::new("mosquitto"))
}

/// Every retained message under `filter` that a fresh subscriber is handed.
async fn retained(port: u16, filter: &str) -> Vec<(String, Vec<u8>)> {
    let (client, mut events) = AsyncClient::new(MqttOptions::new("reader", "127.0.0.1", port), 64);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let mut out = Vec::new();
    // Retained messages arrive (flagged retained) right after the subscription; live ones
    // (not flagged) may keep coming, so a second at most.
    let end = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(300), events.poll()).await {
        if let Event::Incoming(Packet::Publish(p)) = ev
            && p.retain
        {
            out.push((p.topic.clone(), p.payload.to_vec()));
        }
        if tokio::time::Instant::now() > end {
            break;
        }
    }
    out
}

#[tokio::test]
async fn discovery_configs_are_retained_and_the_last_will_marks_the_site_offline() {
    let broker = Broker::start("discovery");
    let t = Topics::new("demo");
    let loads = vec!["server".to_string(), "fridge".to_string()];
    let site = discovery::Site {
        name: "demo",
        loads: &loads,
        switchable: true,
        sources: &["main", "backup"],
        phases: &[],
        ha_user: "homeassistant",
    };
    let configs = discovery::configs(&t, &site);
    {
        let mut o = MqttOptions::new("gridtwin-demo", "127.0.0.1", broker.port);
        o.set_last_will(LastWill::new(t.status(), "offline", QoS::AtLeastOnce, true));
        let (client, mut events) = AsyncClient::new(o, 256);
        client
            .publish(t.status(), QoS::AtLeastOnce, true, "online")
            .await
            .unwrap();
        for c in &configs {
            client
                .publish(&c.topic, QoS::AtLeastOnce, true, c.payload.to_string())
                .await
                .unwrap();
        }
        // Until every publish is acknowledged.
        let mut acked = 0;
        while acked < configs.len() + 1 {
            if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.unwrap() {
                acked += 1;
            }
        }
        let got = retained(broker.port, "homeassistant/#").await;
        assert_eq!(got.len(), configs.len());
        for c in &configs {
            let (_, body) = got.iter().find(|(topic, _)| *topic == c.topic).unwrap();
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v, c.payload);
        }
        assert_eq!(
            retained(broker.port, &t.status()).await,
            vec![(t.status(), b"online".to_vec())]
        );
        // The connection dropped without a DISCONNECT: the broker publishes the will.
        drop(events);
        drop(client);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = retained(broker.port, &t.status()).await;
        if status == vec![(t.status(), b"offline".to_vec())] {
            break;
        }
        assert!(Instant::now() < deadline, "{status:?}");
    }
}

/// Waits until a fresh subscriber to `filter` is handed what `ok` accepts.
async fn until(
    port: u16,
    filter: &str,
    ok: impl Fn(&[(String, Vec<u8>)]) -> bool,
) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = retained(port, filter).await;
        if ok(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{filter}: {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_site_announces_publishes_state_reannounces_on_birth_and_goes_offline() {
    let broker = Broker::start("live");
    let site = common::site("mqtt-live", 10.0, false);
    let mut snapshots = site.state.live.snapshot.clone();
    let name = snapshots
        .wait_for(|s| !s.scenario.is_empty())
        .await
        .unwrap()
        .scenario
        .clone();
    let t = Topics::new(&name);
    let o = client::Options {
        broker: Url::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap(),
        ha_user: "homeassistant".into(),
        period: Duration::from_millis(200),
    };
    let task = tokio::spawn(client::run(snapshots, o));

    // Online, a switch for the fridge, and its state with a measured power.
    until(broker.port, &t.status(), |g| {
        g.iter().any(|(_, b)| b == b"online")
    })
    .await;
    let switch = format!(
        "homeassistant/switch/{}/load_fridge_relay/config",
        t.root().replace('/', "_")
    );
    until(broker.port, &switch, |g| g.len() == 1).await;
    let state = until(broker.port, &t.load("fridge"), |g| {
        g.first().is_some_and(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b)
                .is_ok_and(|v| v["p_w"].as_f64().is_some_and(|p| p > 0.0))
        })
    })
    .await;
    let v: serde_json::Value = serde_json::from_slice(&state[0].1).unwrap();
    assert_eq!(v["on"], "ON", "{v}");

    // Home Assistant restarted and lost its configs: its birth message brings them back.
    let (ha, mut ha_events) =
        AsyncClient::new(MqttOptions::new("ha", "127.0.0.1", broker.port), 16);
    let poll = tokio::spawn(async move { while ha_events.poll().await.is_ok() {} });
    ha.publish(&switch, QoS::AtLeastOnce, true, Vec::<u8>::new())
        .await
        .unwrap();
    until(broker.port, &switch, |g| g.is_empty()).await;
    ha.publish(discovery::BIRTH_TOPIC, QoS::AtLeastOnce, false, "online")
        .await
        .unwrap();
    until(broker.port, &switch, |g| g.len() == 1).await;
    poll.abort();

    // The service stops: offline, said before disconnecting.
    site.state.live.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    until(broker.port, &t.status(), |g| {
        g.iter().any(|(_, b)| b == b"offline")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mqtt_publishes_and_a_bad_url_is_refused_before_anything_is_stored() {
    let data = common::scratch("mqtt-cli");
    let serve = |url: &str| {
        let mut c = common::gridtwin();
        c.arg("serve")
            .arg("--data")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--mqtt", url]);
        c
    };
    let out = serve("http://gw:s3cret@broker").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected mqtt://"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!data.exists(), "nothing stored");

    let broker = Broker::start("cli");
    let mut child = serve(&format!("mqtt://127.0.0.1:{}", broker.port))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = until(broker.port, "gridtwin/+/load/+", |g| g.len() >= 6).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        got.iter().any(|(t, _)| t.ends_with("/load/fridge")),
        "{got:?}"
    );
    let _ = std::fs::remove_dir_all(&data);
}
