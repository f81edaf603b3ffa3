//! `gridtwin hq`: the fleet's headquarters. Takes many sites' telemetry, events and status
//! from one broker and stores them in PostgreSQL (`pg`), acknowledging each message only once
//! its transaction has committed, in a session the broker keeps: a message is lost neither
//! when hq or its database stops, nor when the broker restarts (with persistence on). Serves
//! each site's history over HTTP with the local control center's query parameters (`api`).

mod api;
pub mod pg;
pub mod runs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Packet, Publish, QoS, SubscribeFilter};
use tokio::sync::mpsc;

use crate::mqtt::broker::Broker;
use crate::mqtt::telemetry;
use pg::{Body, EventMsg};

#[derive(Debug, Clone)]
pub struct Options {
    pub broker: Broker,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` or a libpq key=value string.
    pub postgres: String,
    /// The MQTT client id: the broker keeps this session's queue while hq is away.
    pub client_id: String,
    /// When set, the API wants `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
}

/// What hq has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages taken from the broker.
    pub received: AtomicU64,
    /// Messages stored (each once), and the readings they carried.
    pub stored: AtomicU64,
    pub readings: AtomicU64,
    /// Messages delivered again (stored already).
    pub duplicates: AtomicU64,
    /// Telemetry messages found missing from a site's sequence.
    pub missing: AtomicU64,
    /// Messages that could not be read (logged, acknowledged, not stored).
    pub refused: AtomicU64,
    /// Batches the database refused (each retried until stored).
    pub failed_batches: AtomicU64,
    /// Whether the broker has acknowledged hq's subscriptions on this connection: from then on
    /// it keeps the sites' messages for hq's session, whether hq is connected or not.
    pub subscribed: AtomicBool,
}

/// Messages per transaction at most.
const BATCH: usize = 2000;

/// Run until `stop` completes: the store, the broker's messages, the API on `listener`.
pub async fn serve(
    o: Options,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let writer = pg::Writer::open(&o.postgres).await?;
    let reader = pg::Reader::open(&o.postgres).await?;
    let counters = Arc::new(Counters::default());

    let mut opts = o.broker.client_options(o.client_id.clone(), o.tls.as_ref());
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    opts.set_max_packet_size(telemetry::MAX_BYTES + (64 << 10), 64 << 10);
    let (client, conn) = AsyncClient::new(opts, 1024);
    let (tx, rx) = mpsc::channel(4 * BATCH);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let taker = tokio::spawn(take(
        conn,
        client.clone(),
        tx,
        counters.clone(),
        o.broker.clone(),
    ));
    let storer = tokio::spawn(store(writer, rx, client.clone(), counters.clone()));
    let app = api::router(Arc::new(api::HqState {
        reader,
        counters: counters.clone(),
        token: o.token.clone(),
    }));
    let mut stopped = stop_rx.clone();
    let web = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|s| *s).await;
    });
    let web = tokio::spawn(async move { web.await });
    stop.await;
    let _ = stop_tx.send(true);
    // Unacknowledged messages stay with the broker for the next start.
    taker.abort();
    storer.abort();
    let _ = client.try_disconnect();
    let _ = web.await;
    Ok(())
}

/// The broker's side: subscribe on every connection, hand each message to the store.
async fn take(
    mut conn: rumqttc::EventLoop,
    client: AsyncClient,
    tx: mpsc::Sender<(String, Body, Publish)>,
    counters: Arc<Counters>,
    broker: Broker,
) {
    let mut failing = false;
    loop {
        match conn.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if failing {
                    tracing::info!("hq: connected to {broker} again");
                }
                failing = false;
                // One SUBSCRIBE, so its one SUBACK means hq holds all three.
                let _ = client.try_subscribe_many(["telemetry", "event", "status"].map(|kind| {
                    SubscribeFilter::new(format!("gridtwin/+/{kind}"), QoS::AtLeastOnce)
                }));
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                counters.subscribed.store(true, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                counters.received.fetch_add(1, Ordering::Relaxed);
                match read(&p) {
                    Ok((site, body)) => {
                        if tx.send((site, body, p)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // It can never be stored: logged, and acknowledged so it is not sent
                        // again.
                        tracing::warn!("hq: {}: {e}; dropped", p.topic);
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        let _ = client.ack(&p).await;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                counters.subscribed.store(false, Ordering::Relaxed);
                if !failing {
                    tracing::warn!("hq: {broker}: {e}; retrying every second");
                }
                failing = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A message's site and what it asks to store.
fn read(p: &Publish) -> Result<(String, Body), String> {
    let mut parts = p.topic.split('/');
    let (Some("gridtwin"), Some(site), Some(kind), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a gridtwin/SITE/KIND topic".into());
    };
    let body = match kind {
        "telemetry" => Body::Telemetry(telemetry::parse(&p.payload)?),
        "event" => Body::Event(
            serde_json::from_slice::<EventMsg>(&p.payload).map_err(|e| format!("JSON: {e}"))?,
        ),
        "status" => match &p.payload[..] {
            b"online" => Body::Status("online".into()),
            b"offline" => Body::Status("offline".into()),
            other => {
                return Err(format!(
                    "a status is online or offline, not {:?}",
                    String::from_utf8_lossy(&other[..other.len().min(40)])
                ));
            }
        },
        other => return Err(format!("no {other:?} messages are stored")),
    };
    Ok((site.to_string(), body))
}

/// The database's side: batches as they come, each committed, then acknowledged.
async fn store(
    mut w: pg::Writer,
    mut rx: mpsc::Receiver<(String, Body, Publish)>,
    client: AsyncClient,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut acks = Vec::with_capacity(BATCH);
    while let Some((site, body, p)) = rx.recv().await {
        batch.push((site, body));
        acks.push(p);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok((site, body, p)) => {
                    batch.push((site, body));
                    acks.push(p);
                }
                Err(_) => break,
            }
        }
        let mut failing = false;
        loop {
            match w.store(&batch, crate::store::now_ms()).await {
                Ok(s) => {
                    counters.stored.fetch_add(s.messages, Ordering::Relaxed);
                    counters.readings.fetch_add(s.readings, Ordering::Relaxed);
                    counters
                        .duplicates
                        .fetch_add(s.duplicates, Ordering::Relaxed);
                    counters.missing.fetch_add(s.skipped, Ordering::Relaxed);
                    if failing {
                        tracing::info!("hq: storing again");
                    }
                    break;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!("hq: {e}; retrying every second (nothing acknowledged)");
                    }
                    failing = true;
                    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    // A lost connection is opened again.
                    if w.is_closed()
                        && let Ok(again) = w.reopen().await
                    {
                        w = again;
                    }
                }
            }
        }
        for p in acks.drain(..) {
            let _ = client.ack(&p).await;
        }
        batch.clear();
    }
}

/// Where hq listens and whether that is safe without a token.
pub fn check_listen(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "hq serves every site's history: listening on {addr} needs GRIDTWIN_HQ_TOKEN set"
        ));
    }
    Ok(())
}
