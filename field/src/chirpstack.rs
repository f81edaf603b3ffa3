//! LoRaWAN homes heard through ChirpStack v4's MQTT integration: the site's task for a
//! ChirpStack transport. It subscribes to the application's uplinks, takes each home's reports
//! through its frame counter (`lora::Uplinks`), queues commands as confirmed downlinks, and says
//! when a home has been silent for `silence_s` and when it is heard again.

use std::collections::BTreeMap;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use crate::config::{PollCfg, Transport};
use crate::lora::{self, Uplinks};
use crate::master::LinkError;
use crate::state::{Cmd, HomeSeen, SiteEvent, Tasked};

/// How to reach a ChirpStack transport's broker: its address, TLS against its CA, the user
/// with the password from its file.
fn broker_options(t: &Transport, id: String) -> Result<MqttOptions, LinkError> {
    let Transport::ChirpStack {
        host,
        port,
        tls,
        ca,
        user,
        password_file,
        ..
    } = t
    else {
        return Err(LinkError::Io("not a ChirpStack transport".into()));
    };
    let mut opts = MqttOptions::new(id, host, *port);
    if let (Some(user), Some(file)) = (user, password_file) {
        let text = std::fs::read_to_string(file)
            .map_err(|e| LinkError::Io(format!("{file}: the broker's password: {e}")))?;
        let password = text.lines().next().unwrap_or_default().to_string();
        opts.set_credentials(user.clone(), password);
    }
    if *tls {
        let files = crate::tls::TlsFiles {
            ca: ca.as_ref().map(Into::into),
            ..crate::tls::TlsFiles::default()
        };
        let config = crate::tls::config(&files).map_err(LinkError::Io)?;
        opts.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
    }
    Ok(opts)
}

pub(crate) struct Heard {
    client: AsyncClient,
    events: rumqttc::EventLoop,
    application: String,
    /// DevEUI (lower case) to the home's index.
    by_eui: BTreeMap<String, usize>,
    euis: BTreeMap<usize, String>,
    names: Vec<String>,
    uplinks: BTreeMap<usize, Uplinks>,
    last_heard: BTreeMap<usize, f64>,
    lost: BTreeMap<usize, bool>,
    silence_s: f64,
    stale_s: f64,
    subscribed: bool,
    on: Tasked,
    rx: mpsc::UnboundedReceiver<Cmd>,
}

impl Heard {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn new(
        transport: &Transport,
        application: &str,
        homes: Vec<(usize, String)>,
        names: Vec<String>,
        poll: PollCfg,
        on: Tasked,
        rx: mpsc::UnboundedReceiver<Cmd>,
    ) -> Result<Heard, LinkError> {
        let id = format!("gridtwin-field-{}", std::process::id());
        let mut opts = broker_options(transport, id)?;
        opts.set_keep_alive(Duration::from_secs(30));
        let (client, events) = AsyncClient::new(opts, 256);
        Ok(Heard {
            client,
            events,
            application: application.to_string(),
            by_eui: homes.iter().map(|(k, e)| (e.clone(), *k)).collect(),
            euis: homes.iter().map(|(k, e)| (*k, e.clone())).collect(),
            uplinks: homes
                .iter()
                .map(|(k, _)| (*k, Uplinks::default()))
                .collect(),
            last_heard: homes.iter().map(|(k, _)| (*k, on.now())).collect(),
            lost: homes.iter().map(|(k, _)| (*k, false)).collect(),
            names,
            silence_s: poll.stale_s * f64::from(poll.lost_after),
            stale_s: poll.stale_s,
            subscribed: false,
            on,
            rx,
        })
    }

    fn now(&self) -> f64 {
        self.on.now()
    }

    fn push(&self, e: SiteEvent) {
        let now = self.now();
        self.on.lock().events.push((now, e));
    }

    pub(crate) async fn run(mut self) {
        let mut clock = self.on.clock.clone();
        // Silence is looked for each second.
        let mut tick = self.now().floor() + 1.0;
        loop {
            self.on.wait_for(tick);
            tokio::select! {
                ev = self.events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        // A clean session each time: subscribe again.
                        let topic = format!("application/{}/device/+/event/up", self.application);
                        // Not awaited: only this task drains the client's queue.
                        let _ = self.client.try_subscribe(topic, QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) if !self.subscribed => {
                        self.subscribed = true;
                        let mut s = self.on.lock();
                        s.unsubscribed = s.unsubscribed.saturating_sub(1);
                        drop(s);
                        self.on.notify.notify_waiters();
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => self.uplink(&p.topic, &p.payload),
                    Ok(_) => {}
                    // The broker is away: rumqttc reconnects at the next poll.
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                },
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => {
                        self.command(cmd);
                        self.on.command_done();
                    }
                    None => return,
                },
                _ = clock.until(tick) => {
                    self.on.working();
                    self.check_silence();
                    tick += 1.0;
                }
            }
        }
    }

    fn uplink(&mut self, topic: &str, payload: &[u8]) {
        // application/APP/device/EUI/event/up
        self.on.lock().messages += 1;
        self.on.notify.notify_waiters();
        let Some(eui) = topic.split('/').nth(3).map(str::to_ascii_lowercase) else {
            return;
        };
        let Some(&k) = self.by_eui.get(&eui) else {
            return;
        };
        let Some(u) = self.uplinks.get_mut(&k) else {
            return;
        };
        // Duplicates, late uplinks and what cannot be read are dropped.
        let Ok(h) = u.take(payload) else {
            return;
        };
        let now = self.now();
        self.last_heard.insert(k, now);
        let name = self.names[k].clone();
        if h.reset {
            self.push(SiteEvent::Restarted { home: name.clone() });
        }
        if self.lost.insert(k, false) == Some(true) {
            self.push(SiteEvent::Back { device: name });
        }
        let mut s = self.on.lock();
        s.uplinks += 1;
        s.homes[k] = Some(HomeSeen {
            report: h.report,
            read_at: now - h.report.age_s,
            fresh: true,
        });
    }

    fn command(&mut self, (home, id, to): Cmd) {
        let Some(eui) = self.euis.get(&home).cloned() else {
            return;
        };
        let d = lora::downlink(&eui, id, to);
        let body = serde_json::to_vec(&d).unwrap_or_default();
        let topic = lora::down_topic(&self.application, &eui);
        // Not awaited: only this task drains the client's queue.
        let queued = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, body);
        self.on.lock().downlinks += u64::from(queued.is_ok());
        if let Err(e) = queued {
            self.push(SiteEvent::CommandFailed {
                home: self.names[home].clone(),
                error: e.to_string(),
            });
        }
    }

    /// Homes silent for `lost_after` times `stale_s` are lost; a report is fresh for `stale_s`.
    fn check_silence(&mut self) {
        let now = self.now();
        let silent: Vec<usize> = self
            .last_heard
            .iter()
            .filter(|(k, t)| now - **t > self.silence_s && !self.lost[k])
            .map(|(k, _)| *k)
            .collect();
        for k in silent {
            self.lost.insert(k, true);
            self.push(SiteEvent::Lost {
                device: self.names[k].clone(),
                error: format!("no uplink for {:.0} s", now - self.last_heard[&k]),
            });
        }
        let mut s = self.on.lock();
        for (&k, &lost) in &self.lost {
            if let Some(h) = s.homes[k].as_mut() {
                h.fresh &= !lost && now - self.last_heard[&k] <= self.stale_s;
            }
        }
    }
}
