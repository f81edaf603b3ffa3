//! Against a real Mosquitto broker on loopback (Debian's `mosquitto`, installed by
//! `cargo xtask ci` when missing): what the site publishes and what it takes from the broker.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::broker::Broker;

use gridtwin::mqtt::broker::Broker as Url;
use gridtwin::mqtt::topics::Topics;
use gridtwin::mqtt::{client, discovery};
use gridtwin::store::Role;
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};

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
        switches: &loads,
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

/// The demo at 10x, once its loop runs, and its topics.
async fn live_site(tag: &str) -> (common::Site, Topics) {
    let site = common::site(tag, 10.0, false);
    let mut snapshots = site.state.live.snapshot.clone();
    let name = snapshots
        .wait_for(|s| !s.scenario.is_empty())
        .await
        .unwrap()
        .scenario
        .clone();
    (site, Topics::new(&name))
}

/// The client's options for a broker on loopback, with these MQTT users' roles.
fn options(port: u16, roles: &[(&str, Role)]) -> client::Options {
    client::Options {
        broker: Url::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap(),
        ha_user: "homeassistant".into(),
        roles: roles.iter().map(|(u, r)| (u.to_string(), *r)).collect(),
        tls: None,
        period: Duration::from_millis(200),
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
    let (site, t) = live_site("mqtt-live").await;
    let o = options(broker.port, &[("homeassistant", Role::Operator)]);
    let task = tokio::spawn(client::run(site.state.clone(), o));

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

/// A client that only listens: every message on `filters`, as (topic, JSON).
struct Listener {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, serde_json::Value)>,
    seen: Vec<(String, serde_json::Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start(port: u16, id: &str, filters: &[String]) -> Listener {
        Listener::start_with(MqttOptions::new(id, "127.0.0.1", port), filters).await
    }

    async fn start_with(o: MqttOptions, filters: &[String]) -> Listener {
        let (client, mut events): (AsyncClient, EventLoop) = AsyncClient::new(o, 64);
        for f in filters {
            client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut acked = 0;
        // Until the subscriptions are in place, so nothing published after is missed.
        while acked < filters.len() {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
                acked += 1;
            }
        }
        let task = tokio::spawn(async move {
            let _keep = client;
            while let Ok(ev) = events.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    let v = serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null);
                    let _ = tx.send((p.topic.clone(), v));
                }
            }
        });
        Listener {
            rx,
            seen: Vec::new(),
            task,
        }
    }

    /// The first message on `topic` that `ok` accepts, within 10 s (messages that arrived
    /// earlier and were not taken count; each is taken once).
    async fn next(
        &mut self,
        topic: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let hit = |(t, v): &(String, serde_json::Value)| t == topic && ok(v);
        if let Some(i) = self.seen.iter().position(hit) {
            return self.seen.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) if hit(&m) => return m.1,
                Ok(Some(m)) => self.seen.push(m),
                _ => panic!("nothing on {topic} within 10 s; seen {:?}", self.seen),
            }
        }
    }
}

impl Listener {
    /// Whatever arrived on `topic` so far (within 100 ms from now).
    fn seen_on(&mut self, topic: &str) -> Option<serde_json::Value> {
        while let Ok(m) = self.rx.try_recv() {
            self.seen.push(m);
        }
        self.seen
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, v)| v.clone())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_switches_a_load_with_the_webs_checks_and_is_audited_and_answered() {
    let broker = Broker::start("command");
    let (site, t) = live_site("mqtt-command").await;
    let o = options(
        broker.port,
        &[("homeassistant", Role::Operator), ("watcher", Role::Viewer)],
    );
    let results = format!("{}/cmd/+/load/+/result", t.root());
    let mut l = Listener::start(broker.port, "tester", &[results, t.events()]).await;
    let (cmd, mut cmd_events) =
        AsyncClient::new(MqttOptions::new("commander", "127.0.0.1", broker.port), 16);
    let poll = tokio::spawn(async move { while cmd_events.poll().await.is_ok() {} });
    let send = |user: &str, load: &str, body: &str, retain: bool| {
        let (cmd, topic, body) = (cmd.clone(), t.command(user, load), body.to_string());
        async move {
            cmd.publish(topic, QoS::AtLeastOnce, retain, body)
                .await
                .unwrap()
        }
    };
    // A command left retained on the broker (a misconfigured client) before the site starts.
    send("homeassistant", "lights", "OFF", true).await;
    until(broker.port, &t.command("homeassistant", "lights"), |g| {
        g.len() == 1
    })
    .await;
    let task = tokio::spawn(client::run(site.state.clone(), o));
    until(broker.port, &t.status(), |g| {
        g.iter().any(|(_, b)| b == b"online")
    })
    .await;
    // Home Assistant gets a switch for each load but the two critical ones.
    let node = t.root().replace('/', "_");
    let switches = until(
        broker.port,
        &format!("homeassistant/switch/{node}/+/config"),
        |g| g.len() == 4,
    )
    .await;
    assert!(
        switches
            .iter()
            .all(|(topic, _)| !topic.contains("server") && !topic.contains("network"))
    );

    let result = |user: &str, load: &str| format!("{}/cmd/{user}/load/{load}/result", t.root());
    let relay = |i: usize| site.state.live.snapshot.borrow().loads[i].relay;

    // The retained command is refused, not carried out, and cleared from the broker.
    let r = l.next(&result("homeassistant", "lights"), |_| true).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("a retained command is ignored"),
        "{r}"
    );
    until(broker.port, &t.command("homeassistant", "lights"), |g| {
        g.is_empty()
    })
    .await;

    // Home Assistant switches the fridge off: done, answered, logged as an event, audited.
    send("homeassistant", "fridge", "OFF", false).await;
    let r = l.next(&result("homeassistant", "fridge"), |_| true).await;
    assert_eq!(r, serde_json::json!({"ok": true, "to": "off"}));
    let ev = l
        .next(&t.events(), |v| {
            v["kind"] == "operator" && v["subject"] == "fridge"
        })
        .await;
    assert_eq!(ev["detail"]["action"], "off", "{ev}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay(2) {
        assert!(Instant::now() < deadline, "the fridge's relay stays closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audit = site.state.db.lock().unwrap().audit_log(10).unwrap();
    assert!(
        audit.iter().any(|a| a.user == "mqtt:homeassistant"
            && a.action == "load-off"
            && a.target == "fridge"),
        "{audit:?}"
    );

    // Refusals, each answered with why, and nothing switched.
    for (user, load, body, retain, says) in [
        ("watcher", "lights", "OFF", false, "watcher is a viewer"),
        (
            "mallory",
            "lights",
            "OFF",
            false,
            "mallory has no role here",
        ),
        (
            "homeassistant",
            "server",
            "OFF",
            false,
            "server is critical",
        ),
        (
            "homeassistant",
            "lights",
            "TOGGLE",
            false,
            "expected ON, OFF",
        ),
        (
            "homeassistant",
            "oven",
            "OFF",
            false,
            "no load's topic is \"oven\"",
        ),
    ] {
        send(user, load, body, retain).await;
        let r = l.next(&result(user, load), |_| true).await;
        assert_eq!(r["ok"], false, "{r}");
        assert!(r["error"].as_str().unwrap().contains(says), "{says}: {r}");
    }
    assert!(relay(0) && relay(3), "the server and the lights stay on");

    // The web's JSON with a confirmation switches a critical load off.
    send(
        "homeassistant",
        "server",
        r#"{"to": "off", "confirm": true}"#,
        false,
    )
    .await;
    let r = l.next(&result("homeassistant", "server"), |_| true).await;
    assert_eq!(r["ok"], true, "{r}");
    let audit = site.state.db.lock().unwrap().audit_log(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.target == "server" && a.detail == "confirmed"),
        "{audit:?}"
    );
    // Refusals are not audited: only the two commands carried out are in the log.
    assert_eq!(audit.len(), 2, "{audit:?}");

    poll.abort();
    site.state.live.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_checks_the_broker_against_the_given_ca_and_shows_a_client_certificate() {
    let dir = common::scratch("mqtt-tls");
    std::fs::create_dir_all(&dir).unwrap();
    common::certificates(&dir);
    // The broker wants TLS and a client certificate from its CA.
    let broker = Broker::start_with(
        "tls",
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nrequire_certificate true\n",
            dir.display()
        ),
    );
    let (site, t) = live_site("mqtt-tls-site").await;
    let tls = |ca: &str| gridtwin::mqtt::tls::TlsFiles {
        ca: Some(dir.join(ca)),
        cert: Some(dir.join("client.pem")),
        key: Some(dir.join("client.key")),
    };
    let tls_client = |id: &str, ca: &str| {
        let mut o = MqttOptions::new(id, "127.0.0.1", broker.port);
        o.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(gridtwin::mqtt::tls::config(&tls(ca)).unwrap()),
        ));
        AsyncClient::new(o, 64)
    };

    // A broker whose certificate another CA signed is not trusted.
    let (_wrong, mut events) = tls_client("wrong", "other-ca.pem");
    match events.poll().await {
        Err(e) => assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}"),
        Ok(ev) => panic!("connected to a broker of another CA: {ev:?}"),
    }

    // The broker's own CA: the site gets on and publishes (read back over TLS).
    let mut o = options(broker.port, &[]);
    o.broker = Url::parse(&format!("mqtts://127.0.0.1:{}", broker.port)).unwrap();
    o.tls = Some(gridtwin::mqtt::tls::config(&tls("ca.pem")).unwrap());
    let task = tokio::spawn(client::run(site.state.clone(), o));
    let (reader, mut events) = tls_client("reader", "ca.pem");
    reader
        .subscribe(t.status(), QoS::AtLeastOnce)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) if &p.payload[..] == b"online" => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the reader cannot connect over TLS: {e}"),
            Err(_) => panic!("the site never came online over TLS"),
        }
    }
    site.state.live.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_acl_keeps_each_user_to_its_own_commands() {
    let dir = common::scratch("mqtt-acl");
    std::fs::create_dir_all(&dir).unwrap();
    let passwd = dir.join("passwd");
    for (i, user) in ["site", "homeassistant", "watcher"].iter().enumerate() {
        let mut c = Command::new("mosquitto_passwd");
        if i == 0 {
            c.arg("-c");
        }
        let ok = c
            .args(["-b"])
            .arg(&passwd)
            .args([user, "pw"])
            .status()
            .expect("mosquitto_passwd (mosquitto's package)");
        assert!(ok.success());
    }
    let acl = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mosquitto.acl");
    let broker = Broker::start_with(
        "acl",
        &format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwd.display(),
            acl.display()
        ),
    );
    let (site, t) = live_site("mqtt-acl-site").await;
    let mut o = options(
        broker.port,
        &[
            ("homeassistant", Role::Operator),
            ("watcher", Role::Operator),
        ],
    );
    o.broker = Url::parse(&format!("mqtt://site:pw@127.0.0.1:{}", broker.port)).unwrap();
    let task = tokio::spawn(client::run(site.state.clone(), o));

    let login = |user: &str, id: &str| {
        let mut o = MqttOptions::new(format!("{user}-{id}"), "127.0.0.1", broker.port);
        o.set_credentials(user, "pw");
        o
    };
    // Each user listens to every result it may read.
    let results = format!("{}/cmd/+/load/+/result", t.root());
    let mut ha = Listener::start_with(
        login("homeassistant", "reader"),
        std::slice::from_ref(&results),
    )
    .await;
    let mut watcher = Listener::start_with(login("watcher", "reader"), &[results]).await;
    let (w, mut w_events) = AsyncClient::new(login("watcher", "writer"), 16);
    let poll = tokio::spawn(async move { while w_events.poll().await.is_ok() {} });
    let (h, mut h_events) = AsyncClient::new(login("homeassistant", "writer"), 16);
    let poll2 = tokio::spawn(async move { while h_events.poll().await.is_ok() {} });
    let publish = |c: &AsyncClient, user: &str, load: &str| {
        let (c, topic) = (c.clone(), t.command(user, load));
        async move {
            c.publish(topic, QoS::AtLeastOnce, false, "OFF")
                .await
                .unwrap()
        }
    };
    let result = |user: &str, load: &str| format!("{}/cmd/{user}/load/{load}/result", t.root());
    // Wait for the site to be on: its own command answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        publish(&h, "homeassistant", "office").await;
        if tokio::time::timeout(
            Duration::from_millis(500),
            ha.next(&result("homeassistant", "office"), |_| true),
        )
        .await
        .is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the site never answered");
    }

    // The watcher writes as Home Assistant: the broker drops it; nothing switches.
    publish(&w, "homeassistant", "lights").await;
    // Its own topic works, and it reads the answer there.
    publish(&w, "watcher", "fridge").await;
    let r = watcher.next(&result("watcher", "fridge"), |_| true).await;
    assert_eq!(r["ok"], true, "{r}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        site.state.live.snapshot.borrow().loads[3].relay,
        "the lights stay on"
    );
    assert!(ha.seen_on(&result("homeassistant", "lights")).is_none());
    let audit = site.state.db.lock().unwrap().audit_log(10).unwrap();
    assert!(audit.iter().all(|a| a.target != "lights"), "{audit:?}");

    poll.abort();
    poll2.abort();
    site.state.live.shutdown();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A utility's ChirpStack broker wants TLS and a password: the field's ChirpStack client checks
/// the broker against the utility's CA, logs in with the password from its file, and hears the
/// homes' uplinks; with a wrong password it never gets on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chirpstack_broker_with_tls_and_a_password_carries_the_homes_uplinks() {
    use field::config::{Field, HomeCfg, PollCfg, Transport};
    use field::site::Site;

    let dir = common::scratch("chirpstack-tls");
    std::fs::create_dir_all(&dir).unwrap();
    common::certificates(&dir);
    let passwd = dir.join("passwd");
    for (i, (user, pw)) in [("gridtwin", "secret"), ("chirpstack", "ns")]
        .iter()
        .enumerate()
    {
        let mut c = Command::new("mosquitto_passwd");
        if i == 0 {
            c.arg("-c");
        }
        let ok = c.arg("-b").arg(&passwd).args([user, pw]).status().unwrap();
        assert!(ok.success());
    }
    let broker = Broker::start_with(
        "chirpstack-tls",
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nallow_anonymous false\npassword_file {1}\n",
            dir.display(),
            passwd.display()
        ),
    );
    let eui = "0004a30b001c0530";
    let field = |password: &str| {
        let file = dir.join(format!("{password}.txt"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        Field {
            transports: [(
                "air".to_string(),
                Transport::ChirpStack {
                    host: "127.0.0.1".into(),
                    port: broker.port,
                    application: "app".into(),
                    tls: true,
                    ca: Some(dir.join("ca.pem").display().to_string()),
                    user: Some("gridtwin".into()),
                    password_file: Some(file.display().to_string()),
                },
            )]
            .into(),
            homes: vec![HomeCfg {
                name: "farm".into(),
                transport: "air".into(),
                address: 0,
                dev_eui: eui.into(),
            }],
            meters: Vec::new(),
            poll: PollCfg::default(),
        }
    };
    let site = Site::start(&field("secret")).await.unwrap();
    let refused = Site::start(&field("wrong")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !site.subscribed() {
        assert!(Instant::now() < deadline, "never subscribed over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The network server publishes one report, as ChirpStack's integration does.
    let mut node = field::slave::HomeNode::new(7, 0, grid_types::Phase::B);
    node.set_measurement(0.0, 231.5, 8.0, 1800.0, 120.0, 50.0);
    let data = field::lora::encode_report(&node.report(0.5));
    let mut o = MqttOptions::new("chirpstack", "127.0.0.1", broker.port);
    o.set_credentials("chirpstack", "ns");
    let ca = field::tls::TlsFiles {
        ca: Some(dir.join("ca.pem")),
        ..Default::default()
    };
    o.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(field::tls::config(&ca).unwrap()),
    ));
    let (ns, mut events) = AsyncClient::new(o, 16);
    tokio::spawn(async move { while events.poll().await.is_ok() {} });
    ns.publish(
        field::lora::up_topic("app", eui),
        QoS::AtLeastOnce,
        false,
        field::emulated::chirpstack_uplink("app", eui, 0, &data),
    )
    .await
    .unwrap();
    let seen = loop {
        if let Some(h) = site.homes()[0] {
            break h;
        }
        assert!(Instant::now() < deadline, "no uplink heard over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen.report.phase, Some(grid_types::Phase::B));
    assert!((seen.report.v - 231.5).abs() < 0.05, "{seen:?}");
    // The wrong password never gets on (given twice what the right one took), so it hears
    // nothing.
    let took = Instant::now() + Duration::from_secs(10) - deadline;
    tokio::time::sleep(took.max(Duration::from_secs(1))).await;
    assert!(!refused.subscribed() && refused.homes()[0].is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
