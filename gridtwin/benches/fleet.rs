//! `cargo xtask bench`: the fleet path at scale. Simulated controllers, each its own MQTT
//! connection, publish telemetry (50 channels, 10 frames a message, one message a second:
//! 500 readings/s each) through a real Mosquitto to `hq`, which stores them in a real
//! PostgreSQL (a fresh cluster, default settings, fsync on). With `--bench`: 100 controllers
//! for 20 s, 50,000 readings/s offered (`--sites N` for another count); else (under
//! `cargo test`) 10 for 2 s.
//!
//! Reports the readings stored per second while offered, how long hq took to catch up after
//! the last message, and whether every reading arrived exactly once.

#[path = "../tests/common/broker.rs"]
mod broker;
#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use gridtwin::mqtt::broker::Broker as Url;
use gridtwin::mqtt::telemetry::Telemetry;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const CHANNELS: usize = 50;
const FRAMES: usize = 10;

/// One controller: a message a second for `secs` seconds, each acknowledged by the broker
/// before the controller counts it sent.
async fn controller(port: u16, id: usize, secs: u64) -> u64 {
    let mut o = MqttOptions::new(format!("bench-site-{id}"), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(o, 64);
    let channels: Vec<(String, String)> = (0..CHANNELS)
        .map(|c| (format!("load/l{}/q{}", c / 8, c % 8), "W".into()))
        .collect();
    let topic = format!("gridtwin/bench-{id}/telemetry");
    let t0 = 1_800_000_000_000 + id as i64;
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < secs {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => panic!("controller {id}: {e}"),
            }
        }
        acked
    });
    // Spread the controllers over the second.
    tokio::time::sleep(Duration::from_millis((id as u64 * 7919) % 1000)).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for seq in 1..=secs {
        tick.tick().await;
        let frames = (0..FRAMES)
            .map(|f| {
                let t = t0 + ((seq - 1) as i64 * FRAMES as i64 + f as i64) * 100;
                let v = (0..CHANNELS)
                    .map(|c| Some(230.0 + (t as f64 * 1e-3 + c as f64).sin()))
                    .collect();
                (t, v)
            })
            .collect();
        let msg = Telemetry {
            run: 1,
            seq,
            channels: channels.clone(),
            frames,
        };
        client
            .publish(&topic, QoS::AtLeastOnce, false, msg.encode())
            .await
            .unwrap();
    }
    let acked = acks.await.unwrap();
    let _ = client.disconnect().await;
    acked
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (mut sites, secs) = if full { (100, 20) } else { (10, 2) };
    // `-- --bench --sites N` to find the ceiling.
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--sites")
        .and_then(|i| args.get(i + 1))
    {
        sites = n.parse().expect("--sites N");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run(sites, secs));
}

async fn run(sites: usize, secs: u64) {
    let pg = postgres::Postgres::start("bench-fleet");
    let broker = broker::Broker::start_with("bench-fleet", "max_queued_messages 1000000\n");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hq = tokio::spawn(gridtwin::hq::serve(
        gridtwin::hq::Options {
            broker: Url::parse(&format!("mqtt://127.0.0.1:{}", broker.port)).unwrap(),
            tls: None,
            postgres: pg.url(),
            client_id: "bench-hq".into(),
            token: None,
        },
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let (db, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let stored = || async {
        let r = db
            .query_one(
                "SELECT coalesce(sum(readings), 0)::bigint, coalesce(sum(missing), 0)::bigint,
                    coalesce(sum(messages), 0)::bigint FROM run",
                &[],
            )
            .await
            .unwrap();
        (r.get::<_, i64>(0), r.get::<_, i64>(1), r.get::<_, i64>(2))
    };
    // hq subscribed before anything is sent.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let expected = (sites as u64 * secs * (CHANNELS * FRAMES) as u64) as i64;
    let t0 = Instant::now();
    let controllers: Vec<_> = (0..sites)
        .map(|i| tokio::spawn(controller(broker.port, i, secs)))
        .collect();
    // Stored while offered: sampled once a second.
    let mut samples = Vec::new();
    while !controllers.iter().all(|c| c.is_finished()) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push((t0.elapsed().as_secs_f64(), stored().await.0));
    }
    let mut sent = 0;
    for c in controllers {
        sent += c.await.unwrap();
    }
    let sent_at = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (readings, missing, messages) = loop {
        let s = stored().await;
        if s.0 >= expected || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let done_at = t0.elapsed();
    let rows: i64 = db
        .query_one("SELECT count(*) FROM reading", &[])
        .await
        .unwrap()
        .get(0);
    let offered = sites as f64 * (CHANNELS * FRAMES) as f64;
    // The rate between the first and last samples taken while sending.
    let rate = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0),
        _ => f64::NAN,
    };
    println!(
        "fleet: {sites} controllers x {} readings/s for {secs} s = {offered:.0} readings/s offered \
         | stored while offered: {rate:.0} readings/s | all {sent} messages sent in {:.1} s, all \
         stored {:.2} s after the last | {messages} messages, {readings} readings counted, {rows} \
         rows in PostgreSQL, {missing} missing (expected {expected})",
        CHANNELS * FRAMES,
        sent_at.as_secs_f64(),
        done_at.as_secs_f64() - sent_at.as_secs_f64(),
    );
    assert_eq!(rows, expected, "every reading stored exactly once");
    assert_eq!(missing, 0);
    let _ = stop.send(());
    let _ = hq.await;
}
