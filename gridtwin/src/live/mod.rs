//! The live loop: the scenario's site (`controller::run::SiteLoop`: a PDU and its controller, or
//! a feeder and its balancer) stepped on its own thread, paced by the wall clock at `speed`
//! times real time. Operators' requests arrive over a channel and are acted on at the next
//! step; a snapshot is published for the API at 20 Hz; readings (one per channel per simulated
//! second, or per step when steps are longer), events, energy counters and state to restore go
//! to the store's writer in batches.

pub mod alerts;
mod feeder;
mod pdu;
mod settings;
pub mod timing;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use control_core::{ActiveAlert, AlertRule, Exercise, LoadSettings};
use control_core::{Event, OperatorCommand};
use controller::run::{Rig, SiteLoop};
use controller::scenario::Loaded;
use grid_types::Phase;
use serde::Serialize;
use tokio::sync::{broadcast, oneshot, watch};

use crate::energy::Ledger;
use crate::notify::policy::{Escalations, Policy};
use crate::notify::send::Sender;
use crate::notify::{Message, Notifications};
use crate::store::{Batch, Reading, Store, StoredEvent};
pub use feeder::{FeederView, HeadView, HomeView};
pub use pdu::{EXERCISE, LoadView, SourceView};
pub use settings::{KEY as SETTINGS, ServiceSettings};

/// How often the snapshot is published.
const PUBLISH: Duration = Duration::from_millis(50);
/// How often a batch is handed to the writer.
const FLUSH: Duration = Duration::from_secs(1);
/// The loop's tick; each tick catches the twin up with the wall clock.
const TICK: Duration = Duration::from_millis(5);
/// Events a slow subscriber may fall behind by.
const EVENTS: usize = 1024;
/// Frames a slow subscriber may fall behind by (at 1000x, four wall seconds).
const FRAMES: usize = 4096;

/// Every channel's reading at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Unix ms.
    pub t: i64,
    pub values: Vec<f64>,
}
/// How often aged readings are merged into coarser ones.
const DOWNSAMPLE: Duration = Duration::from_secs(60);

/// The whole site at one instant. A PDU fills the transfer switch, sources, bus and loads; a
/// feeder leaves those empty and fills `feeder`.
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
    /// A transfer switch test runs: `on_load` or `off_load`.
    pub ats_test: Option<&'static str>,
    /// The generator exercise's schedule.
    pub exercise: Option<Exercise>,
    pub main: SourceView,
    pub backup: SourceView,
    pub bus_v: f64,
    pub bus_hz: f64,
    pub total_w: f64,
    pub loads: Vec<LoadView>,
    pub feeder: Option<FeederView>,
    /// The alerts raised now.
    pub alerts: Vec<ActiveAlert>,
}

type Reply = oneshot::Sender<Result<(), String>>;

/// What the handlers ask of the loop.
enum Request {
    Operator(OperatorCommand, Reply),
    Configure(String, Box<LoadSettings>, Reply),
    MovePhase(String, Phase, Reply),
    Alerts(Vec<AlertRule>, Reply),
    Exercise(Option<Exercise>, Reply),
}

/// Each load's settings in force, by name, in grid order; the loop writes, handlers read.
pub type LoadTable = Arc<RwLock<Vec<(String, LoadSettings)>>>;

/// The running loop, as the web side holds it.
pub struct Live {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Each event as the loop logs it (a subscriber that falls behind by more than
    /// `EVENTS` is told how many it missed; the store has them all).
    pub events: broadcast::Sender<StoredEvent>,
    /// Each recorded instant's readings as the store gets them, in `channels`' order.
    pub frames: broadcast::Sender<Arc<Frame>>,
    /// The recorded channels, with units.
    pub channels: Arc<[(String, &'static str)]>,
    /// How long the loop's passes take against their deadline, one tick.
    pub timing: Arc<timing::Timing>,
    requests: mpsc::Sender<Request>,
    threads: std::sync::Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Each PDU load's settings (empty for a feeder).
    pub loads: LoadTable,
    /// Retention and notifications, as the writer uses them.
    pub settings: Arc<RwLock<ServiceSettings>>,
    /// The alert rules in force.
    pub alert_rules: alerts::RuleTable,
    /// Whom notifications say they are from (for a test).
    pub notify_from: Sender,
    /// The energy registers, in the site's order (`main`, `load/fridge`, `source`, `home/h1`).
    pub registers: Arc<[String]>,
    /// The scenario's tariff, in force unless the settings hold one.
    pub scenario_tariff: Option<record::Tariff>,
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
    /// Start the loop for a scenario, restoring counters and state from `store`, with
    /// `writer` (a second connection to the same database) taking the batches.
    /// `rig`: what the site runs on (the scenario's twin, a bench, a field).
    pub fn start(
        l: &Loaded,
        store: &Store,
        writer: Store,
        o: LiveOptions,
        rig: Rig,
    ) -> Result<Live, String> {
        let base = store.counters().map_err(|e| e.to_string())?;
        // Stored time never goes back: after a restart at more than real speed, continue from
        // the newest reading.
        let last = store.last_reading().map_err(|e| e.to_string())?;
        let start_ms = o.start_ms.max(last.map_or(i64::MIN, |t| t + 1000));
        let local =
            chrono::DateTime::from_timestamp_millis(start_ms + i64::from(o.utc_offset_s) * 1000)
                .ok_or("the start time is out of range")?
                .naive_utc();
        let (site, manual) = open(l, store, local, rig)?;
        let loads: LoadTable = Arc::new(RwLock::new(site.load_settings()));
        let mut w = writer;
        let channels: Arc<[(String, &'static str)]> = site
            .channels()
            .into_iter()
            .map(|c| (c.name, c.unit))
            .collect();
        let ids = w.channels(&channels).map_err(|e| e.to_string())?;
        let names = channels.iter().map(|c| c.0.clone()).collect();
        let alerts = alerts::LiveAlerts::open(l, store, names, local)?;
        let alert_rules = alerts.rules.clone();
        let registers: Arc<[String]> = site.registers().into();
        let base: Vec<f64> = registers
            .iter()
            .map(|n| base.get(n).copied().unwrap_or(0.0))
            .collect();
        let ledger = Ledger::new(registers.to_vec(), &counted(&base, &site));

        let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::default()));
        let (req_tx, req_rx) = mpsc::channel();
        let (events, _) = broadcast::channel(EVENTS);
        let (frames, _) = broadcast::channel(FRAMES);
        let timing = Arc::new(timing::Timing::new(TICK));
        let (batch_tx, batch_rx) = mpsc::channel::<Batch>();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stored: ServiceSettings = store
            .setting::<ServiceSettings>(SETTINGS)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let notify_from = Sender {
            site: l.scenario.name.clone(),
            utc_offset_s: o.utc_offset_s,
        };
        let kept: Escalations = store
            .state(ESCALATIONS)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let mut policy = Policy::new(stored.notifications.clone(), o.utc_offset_s);
        policy.resume(kept.clone());
        let notifier = Notifier {
            kept,
            policy,
            rules: alert_rules.clone(),
            deliver: notify_from.clone().spawn().map_err(|e| e.to_string())?,
            now: start_ms,
        };
        let settings = Arc::new(RwLock::new(stored));
        let writer_thread = {
            let settings = settings.clone();
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || write_batches(w, batch_rx, &settings, notifier))
                .map_err(|e| e.to_string())?
        };
        let mut state = LoopState {
            site,
            manual,
            loads: loads.clone(),
            pending: Vec::new(),
            next_reading_s: 0,
            balancing: l.scenario.balancing.is_some(),
            scenario: l.scenario.name.clone(),
            speed: o.speed,
            start_ms,
            base,
            ledger,
            ids,
            alerts,
            batch: Batch::default(),
            events: events.clone(),
            frames: frames.clone(),
            timing: timing.clone(),
        };
        // The site as it starts, so that the API never answers from an empty snapshot.
        let _ = snap_tx.send(Arc::new(state.snapshot(0.0)));
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
            // The loop first: it sends the last batch before the writer is joined.
            threads: std::sync::Mutex::new(vec![loop_thread, writer_thread]),
            stop,
            loads,
            settings,
            events,
            frames,
            channels,
            timing,
            alert_rules,
            notify_from,
            registers,
            scenario_tariff: l.scenario.tariff.clone(),
        })
    }

    /// The alert rules in force. A poisoned lock still holds whole rules: they are only ever
    /// replaced whole.
    pub fn rules_now(&self) -> Vec<AlertRule> {
        alerts::current(&self.alert_rules)
    }

    /// The service's settings in force (replaced whole, as the rules are).
    pub fn settings_now(&self) -> ServiceSettings {
        in_force(&self.settings)
    }

    /// The tariff in force: the settings', else the scenario's.
    pub fn tariff_now(&self) -> Option<record::Tariff> {
        in_force(&self.settings)
            .tariff
            .or_else(|| self.scenario_tariff.clone())
    }

    /// The register the utility bills: the main, or a feeder's source.
    pub fn billed(&self) -> Option<&str> {
        self.registers
            .iter()
            .find(|r| matches!(r.as_str(), "main" | "source"))
            .map(String::as_str)
    }

    /// The site's calendar: its local days.
    pub fn calendar(&self) -> crate::energy::Calendar {
        crate::energy::Calendar {
            utc_offset_s: self.notify_from.utc_offset_s,
        }
    }

    /// The site's clock now, unix ms (ahead of the wall clock at more than real speed).
    pub fn site_now(&self) -> i64 {
        self.snapshot.borrow().t
    }

    /// New alert rules in force from the next reading; the loop's verdict on them.
    pub async fn set_alerts(&self, rules: Vec<AlertRule>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.ask(Request::Alerts(rules, tx), rx).await
    }

    /// Move a feeder home to another phase (as its phase selector would); the twin's verdict.
    pub async fn move_phase(&self, home: String, phase: Phase) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.ask(Request::MovePhase(home, phase, tx), rx).await
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

    /// A new generator exercise schedule (none: no more); the controller's verdict.
    pub async fn set_exercise(&self, ex: Option<Exercise>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.ask(Request::Exercise(ex, tx), rx).await
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

/// The site's loop with what was stored of it before a restart: its settings, manual switching
/// and (a feeder's) homes' phases.
fn open(
    l: &Loaded,
    store: &Store,
    local: chrono::NaiveDateTime,
    rig: Rig,
) -> Result<(SiteLoop, pdu::Manual), String> {
    let relays: Option<Vec<bool>> = store.state("relays").map_err(|e| e.to_string())?;
    let l = &pdu::with_stored_settings(l, store)?;
    let mut site = SiteLoop::live(l, Some(local), relays.as_deref(), rig)?;
    let manual = match &mut site {
        SiteLoop::Pdu(p) => pdu::restore(p, store)?,
        SiteLoop::Feeder(f) => {
            feeder::restore(f, store)?;
            pdu::Manual::default()
        }
        // The nodes know their phases.
        SiteLoop::Field(_) => pdu::Manual::default(),
    };
    Ok((site, manual))
}

struct LoopState {
    site: SiteLoop,
    /// A PDU's loads switched by an operator, as last switched.
    manual: pdu::Manual,
    /// Each load's settings in force, for the handlers.
    loads: LoadTable,
    /// Events of requests, handed out with the next step's.
    pending: Vec<Event>,
    /// The next whole simulated second to record.
    next_reading_s: u64,
    balancing: bool,
    scenario: String,
    speed: f64,
    start_ms: i64,
    /// The stored counters at the start, J, added to the twin's own registers.
    base: Vec<f64>,
    /// The registers' rise per interval, for the store's ledger.
    ledger: Ledger,
    /// The stored channels' ids, in the site's order.
    ids: Vec<i64>,
    alerts: alerts::LiveAlerts,
    batch: Batch,
    /// Where each event goes live (MQTT); the batch takes it to the store.
    events: broadcast::Sender<StoredEvent>,
    frames: broadcast::Sender<Arc<Frame>>,
    timing: Arc<timing::Timing>,
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
        let dt = self.site.dt();
        let mut events = Vec::new();
        let mut slept_from = WallInstant::now();
        while !stop.load(Ordering::SeqCst) {
            let pass = WallInstant::now();
            let oversleep = pass.duration_since(slept_from).saturating_sub(TICK);
            while let Ok(r) = requests.try_recv() {
                self.request(r);
            }
            let target = wall0.elapsed().as_secs_f64() * self.speed;
            // Catch up, but never spend more than a few ticks of wall time stepping, so
            // requests and snapshots keep flowing when the twin cannot keep up.
            let busy = WallInstant::now();
            while self.site.now_s() + dt <= target && busy.elapsed() < TICK * 4 {
                events.clear();
                events.append(&mut self.pending);
                let solved = self.site.step(&mut events);
                self.log(&events);
                self.keep_fault_records();
                if solved && let Some(t) = self.reading_due() {
                    self.record(self.start_ms + t);
                }
            }
            let now = WallInstant::now();
            if now.duration_since(published) >= PUBLISH {
                let lag = target - self.site.now_s();
                let _ = snapshot.send(Arc::new(self.snapshot(lag)));
                published = now;
            }
            if now.duration_since(flushed) >= FLUSH {
                self.flush(batches);
                flushed = now;
            }
            slept_from = WallInstant::now();
            self.timing
                .record(slept_from.duration_since(pass), oversleep);
            std::thread::sleep(TICK);
        }
        self.flush(batches);
    }

    /// Fault records completed by the step, into the batch with their times on the Unix epoch.
    fn keep_fault_records(&mut self) {
        let n = self.batch.faults.len();
        self.site.take_fault_records(&mut self.batch.faults);
        let epoch = self.start_ms as f64 / 1000.0;
        for r in &mut self.batch.faults[n..] {
            r.start_s += epoch;
            for t in &mut r.trips {
                t.1 += epoch;
            }
        }
    }

    /// Events to their subscribers (MQTT) and, in the batch, to the store.
    fn log(&mut self, events: &[Event]) {
        for e in events {
            let s = self.stored_event(e);
            // Nobody listening is not an error.
            let _ = self.events.send(s.clone());
            self.batch.events.push(s);
        }
    }

    fn stored_event(&self, e: &Event) -> StoredEvent {
        let row = controller::run::output::event_row(e);
        StoredEvent {
            id: 0,
            t: self.start_ms + (row.t * 1000.0).round() as i64,
            text: record::words::sentence(&row.subject, &row.event, &row.detail),
            severity: row.severity,
            subject: row.subject,
            kind: row.event,
            detail: serde_json::Value::Object(row.detail),
            acked_by: None,
            acked_at: None,
        }
    }

    /// The energy counters: stored at the start plus the twin's registers.
    fn energy(&self) -> Vec<f64> {
        counted(&self.base, &self.site)
    }

    fn record(&mut self, t: i64) {
        let mut values = Vec::with_capacity(self.ids.len());
        let energy = self.energy();
        self.site.row(&energy, &mut values);
        self.ledger.count(t, &energy);
        self.batch
            .readings
            .extend(
                self.ids
                    .iter()
                    .zip(&values)
                    .map(|(&channel, &v)| Reading { channel, t, v }),
            );
        let raised = self
            .alerts
            .reading((t - self.start_ms) as f64 / 1000.0, &values);
        self.site
            .apply_alerts(&raised, &alerts::current(&self.alerts.rules));
        self.log(&raised);
        if self.frames.receiver_count() > 0 {
            let _ = self.frames.send(Arc::new(Frame { t, values }));
        }
    }

    fn flush(&mut self, batches: &mpsc::Sender<Batch>) {
        let energy = self.energy();
        // The counters and the ledger at the same instant: the ledger sums to the counters.
        self.ledger.count(self.site_ms(), &energy);
        self.batch.energy = self.ledger.take();
        self.batch.counters = self.site.registers().into_iter().zip(energy).collect();
        self.batch.state = match &self.site {
            SiteLoop::Pdu(p) => pdu::state(p, &self.manual),
            SiteLoop::Feeder(f) => feeder::state(f),
            SiteLoop::Field(_) => Vec::new(),
        };
        let _ = batches.send(std::mem::take(&mut self.batch));
    }

    /// The site's clock, unix ms.
    fn site_ms(&self) -> i64 {
        self.start_ms + (self.site.now_s() * 1000.0) as i64
    }

    fn snapshot(&self, lag_s: f64) -> Snapshot {
        let sim_s = self.site.now_s();
        let mut snap = Snapshot {
            t: self.site_ms(),
            sim_s,
            lag_s: lag_s.max(0.0),
            speed: self.speed,
            scenario: self.scenario.clone(),
            ats: "none",
            alerts: self.alerts.active(),
            ..Snapshot::default()
        };
        match &self.site {
            SiteLoop::Pdu(p) => pdu::view(p, &self.energy(), &mut snap),
            SiteLoop::Feeder(f) => feeder::view(f, self.balancing, &self.energy(), &mut snap),
            SiteLoop::Field(f) => feeder::field_view(f, &self.energy(), &mut snap),
        }
        snap
    }

    /// A handler's request, answered with the site's verdict.
    fn request(&mut self, r: Request) {
        match r {
            Request::Operator(cmd, reply) => {
                let r = self.site.operator(&cmd);
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
                let r = self.site.configure_load(&name, (*cfg).clone());
                if r.is_ok()
                    && let Ok(mut loads) = self.loads.write()
                    && let Some(slot) = loads.iter_mut().find(|(n, _)| *n == name)
                {
                    slot.1 = *cfg;
                }
                let _ = reply.send(r);
            }
            Request::Exercise(ex, reply) => {
                let _ = reply.send(self.site.set_exercise(ex));
            }
            Request::MovePhase(home, phase, reply) => {
                let _ = reply.send(self.site.move_phase(&home, phase, &mut self.pending));
            }
            Request::Alerts(rules, reply) => {
                let before = alerts::current(&self.alerts.rules);
                let r = self.alerts.replace(self.site.now_s(), rules);
                if let Ok(cleared) = &r {
                    // A changed or removed rule lets go of the loads it held.
                    self.site.apply_alerts(cleared, &before);
                }
                let _ = reply.send(r.map(|cleared| self.pending.extend(cleared)));
            }
        }
    }

    /// One reading per channel per simulated second, or per step when steps are longer: the
    /// time stamp, simulated ms, of the whole second the step ended in, once.
    fn reading_due(&mut self) -> Option<i64> {
        let second = self.site.now_s().floor() as u64;
        (second >= self.next_reading_s).then(|| {
            self.next_reading_s = second + 1;
            second as i64 * 1000
        })
    }
}

/// The energy registers: `base` (stored at the start) plus the site's own, J.
fn counted(base: &[f64], site: &SiteLoop) -> Vec<f64> {
    base.iter()
        .zip(site.energy_j())
        .map(|(b, e)| b + e)
        .collect()
}

/// What the writer tells people: the policy, the rules it reads, the delivery thread.
struct Notifier {
    policy: Policy,
    rules: alerts::RuleTable,
    deliver: mpsc::Sender<(Notifications, Message)>,
    /// The site's clock at the newest batch, unix ms.
    now: i64,
    /// The escalations as last stored.
    kept: Escalations,
}

impl Notifier {
    /// A committed batch's events (`ids` from the store; none when it could not be stored).
    fn batch(&mut self, store: &Store, b: &Batch, ids: &[i64], cfg: &Notifications) {
        if self.policy.settings() != cfg {
            self.policy.handle_settings(cfg.clone());
        }
        let newest = b
            .readings
            .iter()
            .map(|r| r.t)
            .chain(b.events.iter().map(|e| e.t));
        self.now = newest.max().unwrap_or(self.now).max(self.now);
        let events: Vec<StoredEvent> = b
            .events
            .iter()
            .zip(ids.iter().copied().chain(std::iter::repeat(0)))
            .map(|(e, id)| StoredEvent { id, ..e.clone() })
            .collect();
        let rules = alerts::current(&self.rules);
        let mut out = self.policy.handle_events(self.now, &events, &rules);
        out.extend(self.policy.poll(self.now, |id| {
            store.acked(id).unwrap_or_else(|e| {
                tracing::warn!("notify: reading event {id}'s acknowledgement: {e}");
                false
            })
        }));
        for m in out {
            let _ = self.deliver.send((cfg.clone(), m));
        }
        let kept = self.policy.escalations();
        if kept != self.kept {
            match store.set_state(ESCALATIONS, &kept) {
                Ok(()) => self.kept = kept,
                Err(e) => tracing::warn!("notify: keeping the escalations: {e}"),
            }
        }
    }
}

/// Where the notifier keeps its escalations across restarts, in the state table.
const ESCALATIONS: &str = "escalations";

/// The writer thread: commit each batch as it comes, tell people of its events, and now and
/// then merge aged readings, until the loop hangs up.
fn write_batches(
    mut store: Store,
    batches: mpsc::Receiver<Batch>,
    settings: &RwLock<ServiceSettings>,
    mut notifier: Notifier,
) {
    let mut merged = WallInstant::now();
    for b in batches {
        // A busy database (another process reading a long range, say) is waited out; the
        // batch is dropped only after three tries.
        let mut ids = Vec::new();
        for attempt in 1..=3 {
            let now = crate::store::now_ms();
            match store.write(&b, now) {
                Ok(written) => {
                    ids = written;
                    if let Err(e) = store.file_complete_minutes(&b) {
                        tracing::error!("filing readings failed (kept as frames): {e}");
                    }
                    break;
                }
                Err(e) if attempt == 3 => {
                    tracing::warn!("storing a batch failed, dropped: {e}");
                }
                Err(e) => {
                    tracing::warn!("storing a batch failed, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        let current = in_force(settings);
        notifier.batch(&store, &b, &ids, &current.notifications);
        // Age is judged on the simulated clock, which runs ahead at more than real speed.
        if merged.elapsed() >= DOWNSAMPLE
            && let Some(newest) = b.readings.iter().map(|r| r.t).max()
        {
            if let Err(e) = store.downsample(newest, current.retention) {
                tracing::error!("downsampling failed: {e}");
            }
            merged = WallInstant::now();
        }
    }
}

/// The settings in the lock now (a poisoned lock still holds whole settings: they are only
/// ever replaced whole).
fn in_force(l: &RwLock<ServiceSettings>) -> ServiceSettings {
    l.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}
