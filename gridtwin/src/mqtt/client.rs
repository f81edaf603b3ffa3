//! The MQTT client at the edge: connects with a last will (`status` = `offline`, retained),
//! announces the site to Home Assistant on every connection, whenever Home Assistant says it
//! is back online and whenever the set of switches changes; publishes each load's, source's
//! and phase's retained state from the live snapshot every period, and each event as the loop
//! logs it, and every recorded frame as telemetry for the fleet (`telemetry`); takes load commands from `cmd/USER/load/NAME/set` through the web's own path
//! (`control::switch`: role, confirmation, controller, audit) and answers each on
//! `.../result`. A lost broker is retried every second; no telemetry is queued while it is
//! away (the next period carries newer values), events are, up to the queue's size, and
//! telemetry is held until the queue takes it; the session is kept by the broker, so what was
//! in flight when a connection broke is sent again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, Packet, Publish, QoS};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::broker::Broker;
use super::telemetry::{self, Telemetry};
use super::topics::{CommandTopic, Topics, load_named};
use super::{command, discovery, state};
use crate::control;
use crate::live::{Frame, Snapshot};
use crate::store::Role;
use crate::web::Shared;

#[derive(Debug, Clone)]
pub struct Options {
    pub broker: Broker,
    /// The MQTT user Home Assistant publishes as (its switches' command topics).
    pub ha_user: String,
    /// Each MQTT user allowed to command, with its role (as a web user's).
    pub roles: BTreeMap<String, Role>,
    /// With `mqtts://`: the TLS configuration (`tls::config`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How often the state is published.
    pub period: Duration,
}

/// Outgoing messages the client queues before telemetry is dropped.
const QUEUE: usize = 4096;

/// Runs until the live loop's snapshots end; then marks the site offline and disconnects.
pub async fn run(app: Shared, o: Options) {
    let mut snapshots = app.live.snapshot.clone();
    let mut events = app.live.events.subscribe();
    let mut frames = app.live.frames.subscribe();
    // The loop publishes its first snapshot within a tick; before it, the site has no name.
    let Ok(first) = snapshots
        .wait_for(|s| !s.scenario.is_empty())
        .await
        .map(|s| s.clone())
    else {
        return;
    };
    let t = Topics::new(&first.scenario);
    let mut opts = o.broker.client_options(
        format!("gridtwin-{}", super::topics::level(&first.scenario)),
        o.tls.as_ref(),
    );
    opts.set_keep_alive(Duration::from_secs(10));
    // A session the broker keeps: telemetry in flight when the connection drops is sent again
    // on the next (commands are subscribed at QoS 0, so none is kept for a site away).
    opts.set_clean_session(false);
    // Telemetry messages are up to `MESSAGE_BYTES`; what comes in is a command or a birth.
    opts.set_max_packet_size(64 << 10, telemetry::MESSAGE_BYTES * 2);
    opts.set_last_will(LastWill::new(t.status(), "offline", QoS::AtLeastOnce, true));
    let (client, mut conn) = AsyncClient::new(opts, QUEUE);
    let mut tick = tokio::time::interval(o.period);
    let mut connected = false;
    let mut failing = false;
    let mut events_open = true;
    let mut frames_open = true;
    let mut outbox = Outbox::new(&app.live.channels);
    // The switches Home Assistant was last given.
    let mut announced: Option<Vec<String>> = None;
    loop {
        tokio::select! {
            ev = conn.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if failing {
                        tracing::info!("mqtt: connected to {} again", o.broker);
                    }
                    (connected, failing) = (true, false);
                    let _ = client.try_subscribe(discovery::BIRTH_TOPIC, QoS::AtMostOnce);
                    let _ = client.try_subscribe(t.commands(), QoS::AtMostOnce);
                    let snap = snapshots.borrow().clone();
                    announced = Some(announce(&client, &t, &snap, &o));
                    publish_state(&client, &t, &snap);
                }
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == discovery::BIRTH_TOPIC => {
                    if &p.payload[..] == b"online" {
                        let snap = snapshots.borrow().clone();
                        announced = Some(announce(&client, &t, &snap, &o));
                        publish_state(&client, &t, &snap);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(c) = t.parse_command(&p.topic) {
                        let loads = load_names(&snapshots.borrow());
                        take_command(&app, &client, &t, &o, &loads, c, p);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!("mqtt: {}: {e}; retrying every second", o.broker);
                    }
                    (connected, failing) = (false, true);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = tick.tick() => {
                // Telemetry is queued whatever the connection: the fleet gets every frame.
                outbox.send(&client, &t);
                if connected {
                    let snap = snapshots.borrow().clone();
                    if announced.as_ref() != Some(&switches(&snap, &o)) {
                        announced = Some(announce(&client, &t, &snap, &o));
                    }
                    publish_state(&client, &t, &snap);
                }
            }
            f = frames.recv(), if frames_open => match f {
                Ok(f) => outbox.push(&f),
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("mqtt: {n} frames not sent (the client fell behind); they are stored");
                }
                Err(RecvError::Closed) => frames_open = false,
            },
            ev = events.recv(), if events_open => match ev {
                Ok(e) => {
                    let body = serde_json::to_string(&e).unwrap_or_default();
                    if let Err(err) = client.try_publish(t.events(), QoS::AtLeastOnce, false, body) {
                        tracing::warn!("mqtt: an event not published ({err}); it is stored");
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("mqtt: {n} events not published (too many at once); they are stored");
                }
                Err(RecvError::Closed) => events_open = false,
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    // The loop's last frames, then every frame held.
    while let Ok(f) = frames.try_recv() {
        outbox.push(&f);
    }
    outbox.send(&client, &t);
    // Offline, then a clean disconnect (the will is for when this cannot be said).
    let _ = client.try_publish(t.status(), QoS::AtLeastOnce, true, "offline");
    let _ = client.try_disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, conn.poll()).await {
        if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
            break;
        }
    }
}

/// Frames waiting to be sent as telemetry.
struct Outbox {
    run: i64,
    seq: u64,
    channels: Vec<(String, String)>,
    frames: VecDeque<(i64, Vec<Option<f64>>)>,
}

/// Frames held while the client's queue is full, before the oldest are dropped (at 1x, a day
/// of a PDU's frames).
const OUTBOX_FRAMES: usize = 86_400;

impl Outbox {
    fn new(channels: &[(String, &'static str)]) -> Outbox {
        Outbox {
            run: crate::store::now_ms(),
            seq: 0,
            channels: channels
                .iter()
                .map(|(n, u)| (n.clone(), u.to_string()))
                .collect(),
            frames: VecDeque::new(),
        }
    }

    fn push(&mut self, f: &Frame) {
        if self.frames.len() >= OUTBOX_FRAMES {
            self.frames.pop_front();
            tracing::warn!("mqtt: the telemetry outbox is full; the oldest frame dropped");
        }
        let values = f.values.iter().map(|v| telemetry::value(*v)).collect();
        self.frames.push_back((f.t, values));
    }

    /// Every frame held, in messages of bounded size; what the queue cannot take is kept for
    /// the next period.
    fn send(&mut self, client: &AsyncClient, t: &Topics) {
        let per = telemetry::frames_per_message(self.channels.len());
        while !self.frames.is_empty() {
            let n = per.min(self.frames.len());
            let msg = Telemetry {
                run: self.run,
                seq: self.seq + 1,
                channels: self.channels.clone(),
                frames: self.frames.range(..n).cloned().collect(),
            };
            if client
                .try_publish(t.telemetry(), QoS::AtLeastOnce, false, msg.encode())
                .is_err()
            {
                return;
            }
            self.seq += 1;
            self.frames.drain(..n);
        }
    }
}

/// A command: checked and carried out off the client's loop, its outcome published beside it.
fn take_command(
    app: &Shared,
    client: &AsyncClient,
    t: &Topics,
    o: &Options,
    loads: &[String],
    c: CommandTopic,
    p: Publish,
) {
    let result_topic = t.result(&c);
    let role = o.roles.get(&c.user).copied();
    let load = load_named(loads, &c.load).cloned();
    let (app, client) = (app.clone(), client.clone());
    tokio::spawn(async move {
        let outcome = async {
            // A retained command would be carried out again at every connection: cleared.
            if p.retain {
                let _ = client
                    .publish(p.topic.clone(), QoS::AtLeastOnce, true, Vec::<u8>::new())
                    .await;
                return Err(
                    "a retained command is ignored (and cleared); publish commands \
                     unretained"
                        .into(),
                );
            }
            let role = role.ok_or_else(|| {
                format!(
                    "MQTT user {} has no role here (serve --mqtt-role {}=operator)",
                    c.user, c.user
                )
            })?;
            let load = load.ok_or_else(|| format!("no load's topic is {:?}", c.load))?;
            let s = command::parse(&p.payload)?;
            let who = format!("mqtt:{}", c.user);
            control::switch(&app, &who, role, &load, s)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(s.to.name())
        }
        .await;
        let body = match &outcome {
            Ok(to) => json!({ "ok": true, "to": to }),
            Err(e) => {
                tracing::warn!(
                    "mqtt: a command from {} for {} refused: {e}",
                    c.user,
                    c.load
                );
                json!({ "ok": false, "error": e })
            }
        };
        let _ = client
            .publish(result_topic, QoS::AtLeastOnce, false, body.to_string())
            .await;
    });
}

/// The loads Home Assistant may switch: a PDU's non-critical loads, when its user may switch.
fn switches(snap: &Snapshot, o: &Options) -> Vec<String> {
    let allowed = o
        .roles
        .get(&o.ha_user)
        .is_some_and(|r| *r >= Role::Operator);
    snap.loads
        .iter()
        .filter(|l| allowed && !l.critical)
        .map(|l| l.name.clone())
        .collect()
}

/// The site as discovery sees it in a snapshot; the switches it was given.
fn announce(client: &AsyncClient, t: &Topics, snap: &Snapshot, o: &Options) -> Vec<String> {
    let (loads, phases) = names(snap);
    let phases: Vec<&str> = phases.iter().map(String::as_str).collect();
    let switches = switches(snap, o);
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
        ha_user: &o.ha_user,
        switches: &switches,
    };
    let _ = client.try_publish(t.status(), QoS::AtLeastOnce, true, "online");
    let configs = discovery::configs(t, &site)
        .into_iter()
        .map(|c| (c.topic, c.payload.to_string()));
    let withdrawn = discovery::withdrawn(t, &site)
        .into_iter()
        .map(|topic| (topic, String::new()));
    for (topic, body) in configs.chain(withdrawn) {
        if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, true, body) {
            tracing::error!("mqtt: announcing: {e}");
        }
    }
    switches
}

/// A PDU's load names (a feeder has none to command).
fn load_names(snap: &Snapshot) -> Vec<String> {
    snap.loads.iter().map(|l| l.name.clone()).collect()
}

/// The loads' (or homes') names and the transformer's phases (with the neutral, `N`).
fn names(snap: &Snapshot) -> (Vec<String>, Vec<String>) {
    match &snap.feeder {
        None => (load_names(snap), vec![]),
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
