//! The MQTT client at the edge: connects with a last will (`status` = `offline`, retained),
//! announces the site to Home Assistant on every connection and whenever Home Assistant says
//! it is back online, and publishes each load's, source's and phase's retained state from the
//! live snapshot every period. A lost broker is retried every second; telemetry that finds the
//! outgoing queue full is dropped (the next period carries newer values), announcements are not.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::watch;

use super::broker::Broker;
use super::topics::Topics;
use super::{discovery, state};
use crate::live::Snapshot;

#[derive(Debug, Clone)]
pub struct Options {
    pub broker: Broker,
    /// The MQTT user Home Assistant publishes as (its switches' command topics).
    pub ha_user: String,
    /// How often the state is published.
    pub period: Duration,
}

/// Outgoing messages the client queues before telemetry is dropped.
const QUEUE: usize = 4096;

/// Runs until the live loop's snapshots end; then marks the site offline and disconnects.
pub async fn run(mut snapshots: watch::Receiver<Arc<Snapshot>>, o: Options) {
    // The loop publishes its first snapshot within a tick; before it, the site has no name.
    let Ok(first) = snapshots
        .wait_for(|s| !s.scenario.is_empty())
        .await
        .map(|s| s.clone())
    else {
        return;
    };
    let t = Topics::new(&first.scenario);
    let mut opts = MqttOptions::new(
        format!("gridtwin-{}", super::topics::level(&first.scenario)),
        o.broker.host.clone(),
        o.broker.port,
    );
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_last_will(LastWill::new(t.status(), "offline", QoS::AtLeastOnce, true));
    if let Some(user) = &o.broker.user {
        let password = o
            .broker
            .password
            .clone()
            .or_else(|| std::env::var("GRIDTWIN_MQTT_PASSWORD").ok())
            .unwrap_or_default();
        opts.set_credentials(user.clone(), password);
    }
    let (client, mut events) = AsyncClient::new(opts, QUEUE);
    let mut tick = tokio::time::interval(o.period);
    let mut failing = false;
    loop {
        tokio::select! {
            ev = events.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if failing {
                        eprintln!("gridtwin: mqtt: connected to {} again", o.broker);
                    }
                    failing = false;
                    let _ = client.try_subscribe(discovery::BIRTH_TOPIC, QoS::AtLeastOnce);
                    let snap = snapshots.borrow().clone();
                    announce(&client, &t, &snap, &o.ha_user);
                    publish_state(&client, &t, &snap);
                }
                Ok(Event::Incoming(Packet::Publish(p)))
                    if p.topic == discovery::BIRTH_TOPIC && &p.payload[..] == b"online" =>
                {
                    let snap = snapshots.borrow().clone();
                    announce(&client, &t, &snap, &o.ha_user);
                    publish_state(&client, &t, &snap);
                }
                Ok(_) => {}
                Err(e) => {
                    if !failing {
                        eprintln!("gridtwin: mqtt: {}: {e}; retrying every second", o.broker);
                    }
                    failing = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = tick.tick() => {
                let snap = snapshots.borrow().clone();
                publish_state(&client, &t, &snap);
            }
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    // Offline, then a clean disconnect (the will is for when this cannot be said).
    let _ = client.try_publish(t.status(), QoS::AtLeastOnce, true, "offline");
    let _ = client.try_disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, events.poll()).await {
        if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
}

/// The site as discovery sees it in a snapshot.
fn announce(client: &AsyncClient, t: &Topics, snap: &Snapshot, ha_user: &str) {
    let (loads, phases) = names(snap);
    let phases: Vec<&str> = phases.iter().map(String::as_str).collect();
    let site = discovery::Site {
        name: &snap.scenario,
        loads: &loads,
        switchable: snap.feeder.is_none(),
        sources: if snap.feeder.is_none() {
            &["main", "backup"]
        } else {
            &[]
        },
        phases: &phases,
        ha_user,
    };
    let _ = client.try_publish(t.status(), QoS::AtLeastOnce, true, "online");
    for c in discovery::configs(t, &site) {
        if let Err(e) = client.try_publish(c.topic, QoS::AtLeastOnce, true, c.payload.to_string()) {
            eprintln!("gridtwin: mqtt: announcing: {e}");
        }
    }
}

/// The loads' (or homes') names and the transformer's phases (with the neutral, `N`).
fn names(snap: &Snapshot) -> (Vec<String>, Vec<String>) {
    match &snap.feeder {
        None => (snap.loads.iter().map(|l| l.name.clone()).collect(), vec![]),
        Some(f) => {
            let mut phases: Vec<String> = f
                .heads
                .first()
                .map(|h| h.amps.iter().map(|(p, _)| p.clone()).collect())
                .unwrap_or_default();
            phases.push("N".into());
            (f.homes.iter().map(|h| h.name.clone()).collect(), phases)
        }
    }
}

fn publish_state(client: &AsyncClient, t: &Topics, snap: &Snapshot) {
    let send = |topic: String, v: serde_json::Value| {
        // A full queue drops telemetry; the next period sends newer values.
        let _ = client.try_publish(topic, QoS::AtMostOnce, true, v.to_string());
    };
    match &snap.feeder {
        None => {
            send(t.source("main"), state::source(&snap.main));
            send(t.source("backup"), state::source(&snap.backup));
            for l in &snap.loads {
                send(t.load(&l.name), state::load(l));
            }
        }
        Some(f) => {
            for h in &f.homes {
                send(t.load(&h.name), state::home(h));
            }
            if let Some(head) = f.heads.first() {
                for (p, a) in &head.amps {
                    send(t.phase(p), state::phase(*a));
                }
                send(t.phase("N"), state::phase(head.neutral_a));
            }
        }
    }
}
