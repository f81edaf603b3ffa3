//! The live loop: the scenario's twin and controller (`controller::run::PduLoop`, the loop
//! every run uses) stepped on its own thread, paced by the wall clock at `speed` times real
//! time. Operators' commands arrive over a channel and are acted on at the next step; a snapshot
//! is published for the API at 20 Hz; readings (one per channel per simulated second), events,
//! energy counters and relay states go to the store's writer in batches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use controller::core::controller::check_settings;
use controller::core::settings::LoadSettings;
use controller::core::{Event, OperatorCommand};
use controller::run::PduLoop;
use controller::scenario::Loaded;
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::store::{Batch, Reading, Retention, Store, StoredEvent};
use crate::webhook::{self, Webhook};

/// How often the snapshot is published.
const PUBLISH: Duration = Duration::from_millis(50);
/// How often a batch is handed to the writer.
const FLUSH: Duration = Duration::from_secs(1);
/// The loop's tick; each tick catches the twin up with the wall clock.
const TICK: Duration = Duration::from_millis(5);
/// How often aged readings are merged into coarser ones.
const DOWNSAMPLE: Duration = Duration::from_secs(60);

/// One source as the overview shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceView {
    pub v: f64,
    pub hz: f64,
    pub i: f64,
    pub p_w: f64,
    pub q_var: f64,
    pub closed: bool,
    pub available: bool,
    pub locked_out: bool,
    pub energy_j: f64,
}

/// One load as the overview shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LoadView {
    pub name: String,
    pub status: &'static str,
    pub relay: bool,
    pub v: f64,
    pub i: f64,
    pub p_w: f64,
    pub q_var: f64,
    /// None without current.
    pub pf: Option<f64>,
    pub energy_j: f64,
    pub priority: u8,
    pub critical: bool,
    pub limit_a: Option<f64>,
    pub limit_w: Option<f64>,
}

/// The whole site at one instant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Unix ms of the simulated clock.
    pub t: i64,
    /// Simulated seconds since this start.
    pub sim_s: f64,
    /// How far the twin is behind the wall clock times the speed, s (it cannot keep up when
    /// this grows).
    pub lag_s: f64,
    pub speed: f64,
    pub scenario: String,
    pub ats: &'static str,
    pub engine_start: bool,
    pub main: SourceView,
    pub backup: SourceView,
    pub bus_v: f64,
    pub bus_hz: f64,
    pub total_w: f64,
    pub loads: Vec<LoadView>,
}

/// What the handlers ask of the loop.
enum Request {
    Operator(OperatorCommand, oneshot::Sender<Result<(), String>>),
    Configure(
        String,
        Box<LoadSettings>,
        oneshot::Sender<Result<(), String>>,
    ),
}

/// Each load's settings in force, by name, in grid order; the loop writes, handlers read.
pub type LoadTable = Arc<RwLock<Vec<(String, LoadSettings)>>>;

/// The running loop, as the web side holds it.
pub struct Live {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    requests: mpsc::Sender<Request>,
    /// The sequence number of the last batch the writer committed.
    pub committed: Arc<AtomicI64>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    pub loads: LoadTable,
    /// Retention and webhook, as the writer uses them.
    pub settings: Arc<RwLock<ServiceSettings>>,
}

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub speed: f64,
    /// The start, unix ms (the simulated clock runs from here).
    pub start_ms: i64,
    /// Local time minus UTC, s: schedules follow the local clock.
    pub utc_offset_s: i32,
}

impl Live {
    /// Start the loop for a PDU scenario, restoring counters and relay states from `store`,
    /// with `writer` (a second connection to the same database) taking the batches.
    pub fn start(l: &Loaded, store: &Store, writer: Store, o: LiveOptions) -> Result<Live, String> {
        let stored_relays: Option<Vec<bool>> = store.state("relays").map_err(|e| e.to_string())?;
        let base = store.counters().map_err(|e| e.to_string())?;
        // Stored time never goes back: after a restart at more than real speed, continue from
        // the newest reading.
        let last = store.last_reading().map_err(|e| e.to_string())?;
        let start_ms = o.start_ms.max(last.map_or(i64::MIN, |t| t + 1000));
        let local =
            chrono::DateTime::from_timestamp_millis(start_ms + i64::from(o.utc_offset_s) * 1000)
                .ok_or("the start time is out of range")?
                .naive_utc();
        let l = &with_stored_settings(l, store)?;
        let mut twin = PduLoop::new(l, Some(local), stored_relays.as_deref())
            .map_err(|_| "`serve` runs PDU scenarios; feeders are not served yet".to_string())?;
        // Loads an operator switched stay as they were left.
        let manual: BTreeMap<String, bool> = store
            .state("manual")
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let cmds: Vec<OperatorCommand> = manual
            .iter()
            .map(|(n, &on)| {
                if on {
                    OperatorCommand::On(n.clone())
                } else {
                    OperatorCommand::Off(n.clone())
                }
            })
            .collect();
        twin.restore(&cmds);
        let loads: Vec<(String, LoadSettings)> = twin
            .names()
            .iter()
            .map(|n| {
                let s = l
                    .scenario
                    .controller
                    .loads
                    .get(n)
                    .cloned()
                    .unwrap_or_default();
                (n.clone(), s)
            })
            .collect();
        let loads: LoadTable = Arc::new(RwLock::new(loads));
        let mut channels = Channels::new(twin.names());
        let mut w = writer;
        channels.ids = w.channels(&channels.names).map_err(|e| e.to_string())?;

        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
        let (req_tx, req_rx) = mpsc::channel();
        let (batch_tx, batch_rx) = mpsc::channel::<Batch>();
        let committed = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stored: ServiceSettings = store
            .setting("service")
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let settings = Arc::new(RwLock::new(stored));
        let hook = Some(webhook::spawn().map_err(|e| e.to_string())?);
        let writer_thread = {
            let committed = committed.clone();
            let settings = settings.clone();
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || write_batches(w, batch_rx, &committed, &settings, hook))
                .map_err(|e| e.to_string())?
        };
        let mut state = LoopState {
            twin,
            scenario: l.scenario.name.clone(),
            loads: loads.clone(),
            speed: o.speed,
            start_ms,
            base: channels
                .counter_names
                .iter()
                .map(|n| base.get(n).copied().unwrap_or(0.0))
                .collect(),
            channels,
            batch: Batch::default(),
            next_reading_s: 0,
            manual,
        };
        let loop_thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("control-loop".into())
                .spawn(move || state.run(&req_rx, &snap_tx, &batch_tx, &stop))
                .map_err(|e| e.to_string())?
        };
        Ok(Live {
            snapshot: snap_rx,
            requests: req_tx,
            committed,
            // The loop first: it sends the last batch before the writer is joined.
            threads: std::sync::Mutex::new(vec![loop_thread, writer_thread]),
            stop,
            loads,
            settings,
        })
    }

    /// Hand an operator's command to the loop; the controller's answer.
    pub async fn operator(&self, cmd: OperatorCommand) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.ask(Request::Operator(cmd, tx), rx).await
    }

    /// New settings for one load; the controller's verdict.
    pub async fn configure(&self, name: String, cfg: LoadSettings) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.ask(Request::Configure(name, Box::new(cfg), tx), rx)
            .await
    }

    /// One load's settings in force.
    pub fn load_settings(&self, name: &str) -> Option<LoadSettings> {
        let loads = self.loads.read().ok()?;
        loads
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
    }

    async fn ask(
        &self,
        r: Request,
        rx: oneshot::Receiver<Result<(), String>>,
    ) -> Result<(), String> {
        let stopped = || "the control loop has stopped".to_string();
        self.requests.send(r).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Stop the loop, flush the last batch and wait for the writer.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The scenario with each load's settings as an operator last saved them (`load/NAME` in the
/// settings table). Saved settings that no longer fit the scenario are reported and skipped.
fn with_stored_settings(l: &Loaded, store: &Store) -> Result<Loaded, String> {
    let mut l = l.clone();
    let Some(spec) = l.pdu() else {
        return Ok(l);
    };
    let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
    for n in &names {
        let key = format!("load/{n}");
        let stored: Option<LoadSettings> = match store.setting(&key) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gridtwin: ignoring the saved settings of {n}: {e}");
                None
            }
        };
        let Some(cfg) = stored else { continue };
        let mut s = l.scenario.controller.clone();
        s.loads.insert(n.clone(), cfg);
        match check_settings(&names, &s) {
            Ok(()) => l.scenario.controller = s,
            Err(e) => eprintln!("gridtwin: ignoring the saved settings of {n}: {e}"),
        }
    }
    Ok(l)
}

/// The stored channels: per load, then the sources, the bus and the site.
struct Channels {
    names: Vec<(String, &'static str)>,
    ids: Vec<i64>,
    /// The energy counters' names: each load, then main and backup.
    counter_names: Vec<String>,
}

const LOAD_CHANNELS: [(&str, &str); 8] = [
    ("v", "V"),
    ("i", "A"),
    ("p", "W"),
    ("q", "var"),
    ("pf", "1"),
    ("relay", "state"),
    ("status", "state"),
    ("energy", "J"),
];
const SOURCE_CHANNELS: [(&str, &str); 6] = [
    ("v", "V"),
    ("hz", "Hz"),
    ("i", "A"),
    ("p", "W"),
    ("q", "var"),
    ("energy", "J"),
];

impl Channels {
    fn new(loads: &[String]) -> Self {
        let mut names = Vec::new();
        for l in loads {
            for (q, unit) in LOAD_CHANNELS {
                names.push((format!("load/{l}/{q}"), unit));
            }
        }
        for s in ["main", "backup"] {
            for (q, unit) in SOURCE_CHANNELS {
                names.push((format!("{s}/{q}"), unit));
            }
        }
        names.extend([
            ("bus/v".to_string(), "V"),
            ("bus/hz".to_string(), "Hz"),
            ("site/p".to_string(), "W"),
            ("site/ats".to_string(), "state"),
        ]);
        Channels {
            names,
            ids: Vec::new(),
            counter_names: loads
                .iter()
                .map(|l| format!("load/{l}"))
                .chain(["main".to_string(), "backup".to_string()])
                .collect(),
        }
    }
}

struct LoopState {
    twin: PduLoop,
    scenario: String,
    loads: LoadTable,
    speed: f64,
    start_ms: i64,
    /// The stored counters at the start, J, added to the twin's own registers.
    base: Vec<f64>,
    channels: Channels,
    batch: Batch,
    /// The next whole simulated second to record.
    next_reading_s: u64,
    /// Each load's last manual on/off, restored after a restart.
    manual: BTreeMap<String, bool>,
}

impl LoopState {
    fn run(
        &mut self,
        requests: &mpsc::Receiver<Request>,
        snapshot: &watch::Sender<Arc<Snapshot>>,
        batches: &mpsc::Sender<Batch>,
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let wall0 = WallInstant::now();
        let mut published = wall0;
        let mut flushed = wall0;
        let dt = self.twin.dt();
        while !stop.load(Ordering::SeqCst) {
            while let Ok(r) = requests.try_recv() {
                match r {
                    Request::Operator(cmd, reply) => {
                        let r = self.twin.operator(&cmd).map_err(|e| e.to_string());
                        if r.is_ok() {
                            match &cmd {
                                OperatorCommand::On(n) => self.manual.insert(n.clone(), true),
                                OperatorCommand::Off(n) => self.manual.insert(n.clone(), false),
                                _ => None,
                            };
                        }
                        let _ = reply.send(r);
                    }
                    Request::Configure(name, cfg, reply) => {
                        let r = self
                            .twin
                            .configure_load(&name, (*cfg).clone())
                            .map_err(|e| e.to_string());
                        if r.is_ok()
                            && let Ok(mut loads) = self.loads.write()
                            && let Some(slot) = loads.iter_mut().find(|(n, _)| *n == name)
                        {
                            slot.1 = *cfg;
                        }
                        let _ = reply.send(r);
                    }
                }
            }
            let target = wall0.elapsed().as_secs_f64() * self.speed;
            // Catch up, but never spend more than a tick's worth of wall time stepping, so
            // commands and snapshots keep flowing when the twin cannot keep up.
            let busy = WallInstant::now();
            while self.twin.now().as_secs_f64() + dt <= target && busy.elapsed() < TICK * 4 {
                self.step();
            }
            let now = WallInstant::now();
            if now.duration_since(published) >= PUBLISH {
                let lag = target - self.twin.now().as_secs_f64();
                let _ = snapshot.send(Arc::new(self.snapshot(lag)));
                published = now;
            }
            if now.duration_since(flushed) >= FLUSH {
                self.flush(batches);
                flushed = now;
            }
            std::thread::sleep(TICK);
        }
        self.flush(batches);
    }

    fn step(&mut self) {
        let events: Vec<Event> = self.twin.step().to_vec();
        for e in &events {
            if let Some(s) = self.stored_event(e) {
                self.batch.events.push(s);
            }
        }
        // One reading per channel per simulated second, stamped at that second.
        let t = self.twin.now().as_secs_f64();
        if t >= self.next_reading_s as f64 {
            self.record(self.start_ms + self.next_reading_s as i64 * 1000);
            self.next_reading_s = t.floor() as u64 + 1;
        }
    }

    fn stored_event(&self, e: &Event) -> Option<StoredEvent> {
        let row = reports::EventRow::from_json(serde_json::to_value(e).ok()?).ok()?;
        Some(StoredEvent {
            id: 0,
            t: self.start_ms + (row.t * 1000.0).round() as i64,
            severity: row.severity,
            subject: row.subject,
            kind: row.event,
            detail: serde_json::Value::Object(row.detail),
            acked_by: None,
            acked_at: None,
        })
    }

    fn energy(&self) -> Vec<f64> {
        self.base
            .iter()
            .zip(self.twin.energy_j())
            .map(|(b, e)| b + e)
            .collect()
    }

    fn record(&mut self, t: i64) {
        let truth = self.twin.pdu().truth();
        let ctl = self.twin.controller();
        let energy = self.energy();
        let b = |x: bool| f64::from(u8::from(x));
        let mut values = Vec::with_capacity(self.channels.ids.len());
        for (i, l) in truth.loads.iter().enumerate() {
            let s = l.p.hypot(l.q);
            values.extend([
                l.v,
                l.i,
                l.p,
                l.q,
                if s > 1e-9 { l.p / s } else { f64::NAN },
                b(self.twin.pdu().relay_closed(i)),
                f64::from(ctl.load_status(i).code()),
                energy[i],
            ]);
        }
        let n = truth.loads.len();
        for (s, e) in [(&truth.main, energy[n]), (&truth.backup, energy[n + 1])] {
            values.extend([s.v, s.hz, s.i, s.p, s.q, e]);
        }
        values.extend([
            truth.bus_v,
            truth.bus_hz,
            truth.loads.iter().map(|l| l.p).sum(),
            f64::from(ctl.ats_state().code()),
        ]);
        self.batch.readings.extend(
            self.channels
                .ids
                .iter()
                .zip(values)
                .map(|(&channel, v)| Reading { channel, t, v }),
        );
    }

    fn flush(&mut self, batches: &mpsc::Sender<Batch>) {
        let energy = self.energy();
        self.batch.counters = self
            .channels
            .counter_names
            .iter()
            .cloned()
            .zip(energy)
            .collect();
        let relays: Vec<bool> = (0..self.twin.names().len())
            .map(|i| self.twin.pdu().relay_closed(i))
            .collect();
        self.batch.state = vec![
            ("relays".into(), serde_json::json!(relays)),
            ("manual".into(), serde_json::json!(self.manual)),
        ];
        let _ = batches.send(std::mem::take(&mut self.batch));
    }

    fn snapshot(&self, lag_s: f64) -> Snapshot {
        let pdu = self.twin.pdu();
        let truth = pdu.truth();
        let ctl = self.twin.controller();
        let status = ctl.status();
        let energy = self.energy();
        let n = truth.loads.len();
        let source = |k: usize, r: &sim::pdu::SourceReading| SourceView {
            v: r.v,
            hz: r.hz,
            i: r.i,
            p_w: r.p,
            q_var: r.q,
            closed: [status.main_closed, status.backup_closed][k],
            available: [status.main_available, status.backup_available][k],
            locked_out: [status.main_locked_out, status.backup_locked_out][k],
            energy_j: energy[n + k],
        };
        let sim_s = self.twin.now().as_secs_f64();
        Snapshot {
            t: self.start_ms + (sim_s * 1000.0) as i64,
            sim_s,
            lag_s: lag_s.max(0.0),
            speed: self.speed,
            scenario: self.scenario.clone(),
            ats: status.ats,
            engine_start: status.engine_start,
            main: source(0, &truth.main),
            backup: source(1, &truth.backup),
            bus_v: truth.bus_v,
            bus_hz: truth.bus_hz,
            total_w: truth.loads.iter().map(|l| l.p).sum(),
            loads: truth
                .loads
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let s = l.p.hypot(l.q);
                    let name = &self.twin.names()[i];
                    let cfg = ctl.settings().loads.get(name).cloned().unwrap_or_default();
                    LoadView {
                        name: name.clone(),
                        status: controller::core::LoadStatus::NAMES
                            [ctl.load_status(i).code() as usize],
                        relay: pdu.relay_closed(i),
                        v: l.v,
                        i: l.i,
                        p_w: l.p,
                        q_var: l.q,
                        pf: (s > 1e-9).then(|| l.p / s),
                        energy_j: energy[i],
                        priority: cfg.priority,
                        critical: cfg.critical,
                        limit_a: cfg.limit_a.map(|x| x.get()),
                        limit_w: cfg.limit_w.map(|x| x.get()),
                    }
                })
                .collect(),
        }
    }
}

/// The writer thread: commit each batch as it comes, hand its events to the webhook, and now
/// and then merge aged readings, until the loop hangs up.
fn write_batches(
    mut store: Store,
    batches: mpsc::Receiver<Batch>,
    committed: &AtomicI64,
    settings: &RwLock<ServiceSettings>,
    webhook: Option<mpsc::Sender<(Webhook, Vec<StoredEvent>)>>,
) {
    let mut merged = WallInstant::now();
    for b in batches {
        let now = chrono::Utc::now().timestamp_millis();
        match store.write(&b, now) {
            Ok(id) => committed.store(id, Ordering::SeqCst),
            Err(e) => eprintln!("gridtwin: storing a batch failed: {e}"),
        }
        let current = settings.read().map(|s| s.clone()).unwrap_or_default();
        if let (Some(hook), Some(tx)) = (current.webhook, &webhook) {
            let events: Vec<StoredEvent> =
                b.events.iter().filter(|e| hook.wants(e)).cloned().collect();
            if !events.is_empty() {
                let _ = tx.send((hook, events));
            }
        }
        // Age is judged on the simulated clock, which runs ahead at more than real speed.
        if merged.elapsed() >= DOWNSAMPLE
            && let Some(newest) = b.readings.iter().map(|r| r.t).max()
        {
            if let Err(e) = store.downsample(newest, current.retention) {
                eprintln!("gridtwin: downsampling failed: {e}");
            }
            merged = WallInstant::now();
        }
    }
}

/// The service's own settings (the admin's settings page), stored under `service`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    pub retention: Retention,
    pub webhook: Option<Webhook>,
}

impl ServiceSettings {
    /// Why these cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let r = self.retention;
        if r.raw_s < 60 {
            return Some("retention.raw_s must be at least 60 s".into());
        }
        if r.minute_s < r.raw_s {
            return Some("retention.minute_s must be at least retention.raw_s".into());
        }
        self.webhook.as_ref().and_then(Webhook::problem)
    }
}
