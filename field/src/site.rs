//! A site's field, live: every transport polled by its own task on `poll`'s schedule (one
//! request at a time on a line, as RS-485 allows), the latest report of each home and reading
//! of each meter kept with when it was read and whether it is fresh, commands written to the
//! nodes between polls, and what went wrong as events. What the live feeder loop reads and
//! commands through.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use grid_types::Phase;
use tokio::sync::{Notify, mpsc};

use crate::clock::Clock;
use crate::config::{Field, Transport};
use crate::home_node as map;
use crate::master::{LinkError, Master};
use crate::meter::MeterKind;
use crate::poll::{PollEvent, Poller};
use crate::state::{Cmd, Shared, Tasked};
pub use crate::state::{HomeSeen, MeterSeen, SiteEvent};

/// A command is confirmed by reading its node's report this long after it was written, s.
pub const CONFIRM_S: f64 = 1.0;

/// The running field. Dropping it stops the tasks.
pub struct Site {
    shared: Arc<Mutex<Shared>>,
    clock: Clock,
    /// Told whenever a task has done something or waits: what `settle` waits on.
    notify: Arc<Notify>,
    /// Per home: its transport's command queue.
    commands: Vec<mpsc::UnboundedSender<Cmd>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Site {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One device of a transport's schedule.
#[derive(Clone, Copy)]
enum Dev {
    Home {
        index: usize,
        address: u8,
    },
    Meter {
        index: usize,
        address: u8,
        kind: MeterKind,
    },
}

impl Site {
    /// Open every transport and start polling (inside a tokio runtime), on the wall clock.
    pub async fn start(f: &Field) -> Result<Site, LinkError> {
        Site::start_on(f, Clock::wall()).await
    }

    /// The same on `clock`: on virtual time, a line's requests take no time on the wire (its
    /// master leaves no gaps), and `settle` says when all that was due has been done.
    pub async fn start_on(f: &Field, clock: Clock) -> Result<Site, LinkError> {
        let shared = Arc::new(Mutex::new(Shared {
            homes: vec![None; f.homes.len()],
            meters: vec![None; f.meters.len()],
            waiting: vec![f64::NEG_INFINITY; f.transports.len()],
            unsubscribed: f.transports.values().filter(|t| t.is_lora()).count(),
            ..Shared::default()
        }));
        let notify = Arc::new(Notify::new());
        let mut commands = vec![None; f.homes.len()];
        let mut tasks = Vec::new();
        let timeout = Duration::from_millis(u64::from(f.poll.timeout_ms));
        for (task, (tname, t)) in f.transports.iter().enumerate() {
            let devs: Vec<Dev> = f
                .homes
                .iter()
                .enumerate()
                .filter(|(_, h)| &h.transport == tname)
                .map(|(index, h)| Dev::Home {
                    index,
                    address: h.address,
                })
                .chain(
                    f.meters
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| &m.transport == tname)
                        .map(|(index, m)| Dev::Meter {
                            index,
                            address: m.address,
                            kind: m.kind,
                        }),
                )
                .collect();
            let names: Vec<String> = devs
                .iter()
                .map(|d| match *d {
                    Dev::Home { index, .. } => f.homes[index].name.clone(),
                    Dev::Meter { index, .. } => f.meters[index].name.clone(),
                })
                .collect();
            let (tx, rx) = mpsc::unbounded_channel();
            for d in &devs {
                if let Dev::Home { index, .. } = d {
                    commands[*index] = Some(tx.clone());
                }
            }
            if let Transport::ChirpStack { application, .. } = t {
                let homes: Vec<(usize, String)> = devs
                    .iter()
                    .filter_map(|d| match *d {
                        Dev::Home { index, .. } => {
                            Some((index, f.homes[index].dev_eui.to_ascii_lowercase()))
                        }
                        Dev::Meter { .. } => None,
                    })
                    .collect();
                let lora = crate::chirpstack::Heard::new(
                    t,
                    application,
                    homes,
                    f.homes.iter().map(|h| h.name.clone()).collect(),
                    f.poll,
                    Tasked {
                        task,
                        shared: shared.clone(),
                        clock: clock.clone(),
                        notify: notify.clone(),
                    },
                    rx,
                )
                .await?;
                tasks.push(tokio::spawn(lora.run()));
                continue;
            }
            let mut master = Master::open(t, timeout).await?;
            if clock.is_virtual() {
                master = master.without_wire_time();
            }
            let line = Line {
                master,
                poller: Poller::new(devs.len(), f.poll, clock.now()),
                devs,
                names,
                on: Tasked {
                    task,
                    shared: shared.clone(),
                    clock: clock.clone(),
                    notify: notify.clone(),
                },
                rx,
                homes: f.homes.iter().map(|h| h.address).collect(),
                home_names: f.homes.iter().map(|h| h.name.clone()).collect(),
            };
            tasks.push(tokio::spawn(line.run()));
        }
        Ok(Site {
            shared,
            clock,
            notify,
            commands: commands
                .into_iter()
                .zip(&f.homes)
                .map(|(c, h)| {
                    c.ok_or_else(|| {
                        LinkError::Io(format!("{}: no transport {:?}", h.name, h.transport))
                    })
                })
                .collect::<Result<_, _>>()?,
            tasks,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The site's clock, s: the clock of `read_at` and of the events.
    pub fn now(&self) -> f64 {
        self.clock.now()
    }

    /// Wait until every transport has done what was due by `t` (on virtual time, once the
    /// clock reads `t`) and `done` holds: polls read, commands written or queued.
    pub async fn settle(&self, t: f64, mut done: impl FnMut(&Site) -> bool) {
        loop {
            let woken = self.notify.notified();
            if self.lock().quiet(t) && done(self) {
                return;
            }
            // What `done` waits on may tell nobody (a broker's delivery): look again soon.
            let _ = tokio::time::timeout(Duration::from_millis(1), woken).await;
        }
    }

    /// Every ChirpStack transport is subscribed to its uplinks: none published from now on
    /// is missed.
    pub fn subscribed(&self) -> bool {
        self.lock().unsubscribed == 0
    }

    /// Uplink messages that reached the site, and downlinks it queued.
    pub fn messages(&self) -> (u64, u64) {
        let s = self.lock();
        (s.messages, s.downlinks)
    }

    /// Each home's last report (in the field file's order), freshness judged now.
    pub fn homes(&self) -> Vec<Option<HomeSeen>> {
        self.lock().homes.clone()
    }

    pub fn meters(&self) -> Vec<Option<MeterSeen>> {
        self.lock().meters.clone()
    }

    pub fn drain_events(&self) -> Vec<(f64, SiteEvent)> {
        std::mem::take(&mut self.lock().events)
    }

    /// Requests made so far and the line time they took (all transports), s.
    pub fn traffic(&self) -> (u64, f64) {
        let s = self.lock();
        (s.requests, s.busy_s)
    }

    /// LoRaWAN uplinks taken so far (duplicates and late ones not counted).
    pub fn uplinks(&self) -> u64 {
        self.lock().uplinks
    }

    /// Move home `home` to `to`, the command's `id` making a repeat harmless; written before
    /// the transport's next poll. Its outcome shows in the home's report.
    pub fn command(&self, home: usize, id: u16, to: Phase) {
        let mut s = self.lock();
        if self.commands[home].send((home, id, to)).is_ok() {
            s.pending += 1;
        }
    }
}

/// One transport's task.
struct Line {
    master: Master,
    poller: Poller,
    devs: Vec<Dev>,
    names: Vec<String>,
    on: Tasked,
    rx: mpsc::UnboundedReceiver<Cmd>,
    homes: Vec<u8>,
    home_names: Vec<String>,
}

impl Line {
    fn now(&self) -> f64 {
        self.on.now()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.on.lock()
    }

    async fn run(mut self) {
        let mut events = Vec::new();
        let mut clock = self.on.clock.clone();
        let mut commands = true;
        loop {
            // Commands go first: a move waits for no poll.
            while let Ok(cmd) = self.rx.try_recv() {
                self.write_command(cmd).await;
            }
            let Some((k, due)) = self.poller.next(self.now()) else {
                self.on.wait_for(f64::INFINITY);
                return;
            };
            if due > self.now() {
                self.on.wait_for(due);
                // A command arriving meanwhile is written at once.
                tokio::select! {
                    _ = clock.until(due) => {}
                    cmd = self.rx.recv(), if commands => match cmd {
                        Some(cmd) => {
                            self.on.working();
                            self.write_command(cmd).await;
                            continue;
                        }
                        // A line of meters only: no command will come; the polls go on.
                        None => {
                            commands = false;
                            continue;
                        }
                    },
                }
                self.on.working();
            }
            let t0 = self.now();
            let r = self.read(k).await;
            self.account(t0);
            let now = self.now();
            match r {
                Ok(()) => self.poller.handle_ok(now, k, &mut events),
                Err(e) => {
                    if self.poller.handle_err(now, k, &e, &mut events)
                        && let Dev::Meter { index, .. } = self.devs[k]
                        && let Some(m) = self.lock().meters[index].as_mut()
                    {
                        m.answering = false;
                    }
                }
            }
            self.publish(now, &mut events);
        }
    }

    async fn write_command(&mut self, (home, id, to): Cmd) {
        let t0 = self.now();
        let r = self
            .master
            .write(self.homes[home], map::REG_COMMAND, &map::command(id, to))
            .await;
        self.account(t0);
        if r.is_ok()
            && let Some(k) = self
                .devs
                .iter()
                .position(|d| matches!(d, Dev::Home { index, .. } if *index == home))
        {
            // The node's word on the command (done, refused, failed) is read back soon after:
            // a selector moves within tens of milliseconds.
            self.poller.expedite(k, t0 + CONFIRM_S);
        }
        if let Err(e) = r {
            let ev = SiteEvent::CommandFailed {
                home: self.home_names[home].clone(),
                error: e.to_string(),
            };
            let now = self.now();
            self.lock().events.push((now, ev));
        }
        self.on.command_done();
    }

    fn account(&self, t0: f64) {
        let now = self.now();
        let mut s = self.lock();
        s.requests += 1;
        s.busy_s += now - t0;
    }

    /// Read device `k` and keep what it said.
    async fn read(&mut self, k: usize) -> Result<(), String> {
        match self.devs[k] {
            Dev::Home { index, address } => {
                let regs = self
                    .master
                    .read_input(address, map::REG_REPORT, map::REPORT_LEN)
                    .await
                    .map_err(|e| e.to_string())?;
                let report = map::decode_report(&regs).map_err(|e| e.to_string())?;
                let now = self.now();
                let mut s = self.lock();
                let before = s.homes[index];
                let newer = before.is_none_or(|b| b.report.seq != report.seq);
                if before.is_some_and(|b| report.uptime_s < b.report.uptime_s) {
                    let home = self.home_names[index].clone();
                    s.events.push((now, SiteEvent::Restarted { home }));
                }
                s.homes[index] = Some(HomeSeen {
                    report,
                    read_at: now - report.age_s,
                    fresh: newer,
                });
                Ok(())
            }
            Dev::Meter {
                index,
                address,
                kind,
            } => {
                let mut blocks = Vec::new();
                for b in kind.blocks() {
                    let r = self
                        .master
                        .read_input(address, b.start, b.count)
                        .await
                        .map_err(|e| e.to_string())?;
                    blocks.push(r);
                }
                let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
                let reading = kind.decode(&refs).map_err(|e| e.to_string())?;
                let now = self.now();
                self.lock().meters[index] = Some(MeterSeen {
                    reading,
                    read_at: now,
                    fresh: true,
                    answering: true,
                });
                Ok(())
            }
        }
    }

    /// The poller's events as the site's, and freshness aged.
    fn publish(&self, now: f64, events: &mut Vec<PollEvent>) {
        let mut s = self.lock();
        for e in events.drain(..) {
            let ev = match e {
                PollEvent::Lost { device, error } => SiteEvent::Lost {
                    device: self.names[device].clone(),
                    error,
                },
                PollEvent::Back { device } => SiteEvent::Back {
                    device: self.names[device].clone(),
                },
            };
            s.events.push((now, ev));
        }
        for (k, d) in self.devs.iter().enumerate() {
            let fresh = self.poller.fresh(k, now);
            match *d {
                Dev::Home { index, .. } => {
                    if let Some(h) = s.homes[index].as_mut() {
                        h.fresh &= fresh;
                    }
                }
                Dev::Meter { index, .. } => {
                    if let Some(m) = s.meters[index].as_mut() {
                        m.fresh &= fresh;
                    }
                }
            }
        }
    }
}
