//! The controller: one `step` per measurement instant, driven by the caller's clock.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use grid_types::SourceId;

use super::events::{Alarm, Event, EventKind, Subject, TestEnd};
use super::interface::{Commands, Measurements, OperatorCommand, SourceMeasurement};
use super::loads::{LoadInputs, LoadManager, LoadStatus};
use super::pq::{HalfCycle, PqKind, PqMonitor, PqSettings};
use super::settings::{Exercise, LoadSettings, Settings};
use super::source_guard::SourceGuard;
use super::time::Instant;
use super::transfer::{Ats, SourceMonitor, SourcesOk};

/// A bus below this fraction of nominal for `DEAD_BUS_TIME` is dead: relays open and re-close
/// staggered when it returns. The delay keeps a fault on one load (which collapses the bus until
/// that load's own protection clears it) from dropping every other load.
const LIVE_BUS_PU: f64 = 0.5;
const DEAD_BUS_TIME: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Status {
    pub ats: &'static str,
    pub main_closed: bool,
    pub backup_closed: bool,
    pub engine_start: bool,
    /// A transfer switch test runs: on load (true) or off load.
    pub testing: Option<bool>,
    pub main_available: bool,
    pub backup_available: bool,
    pub main_locked_out: bool,
    pub backup_locked_out: bool,
    pub loads: Vec<LoadStatus>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("settings name load {0:?}, which the grid does not have")]
    UnknownLoad(String),
    #[error("load {load:?} requires {required:?}, which the grid does not have")]
    UnknownRequired { load: String, required: String },
    #[error("loads require each other in a cycle: {0}")]
    RequiresCycle(String),
    #[error("the generator exercise's schedule: {0}")]
    Exercise(String),
    #[error("load {load:?}, schedule {index}: {problem}")]
    Schedule {
        load: String,
        index: usize,
        problem: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no load is named {0:?}")]
pub struct UnknownLoad(pub String);

/// Why an operator's command was not taken.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Refused {
    #[error(transparent)]
    UnknownLoad(#[from] UnknownLoad),
    /// The transfer switch cannot do it now (a test while one runs or during an outage).
    #[error("{0}")]
    Ats(String),
}

#[derive(Debug, Clone)]
pub struct Controller {
    s: Settings,
    nominal_v: f64,
    nominal_hz: f64,
    ats: Ats,
    monitors: [SourceMonitor; 2],
    guards: [SourceGuard; 2],
    loads: LoadManager,
    closed: [bool; 2],
    opened_at: [Option<Instant>; 2],
    started: bool,
    low_bus_since: Option<Instant>,
    /// Each source's measurement is lost (its alarm raised).
    lost: [bool; 2],
    /// Dips, swells and interruptions of the mains, one window per step.
    pq: PqMonitor,
    last_step: Option<Instant>,
    events: Vec<Event>,
    commands: Commands,
}

const SOURCES: [SourceId; 2] = [SourceId::Main, SourceId::Backup];

impl Controller {
    /// `load_names` in the grid's order; `epoch` is the wall-clock time at `Instant::ZERO`
    /// (for schedules); `restored` holds relay states stored before a restart.
    pub fn new(
        nominal_v: f64,
        nominal_hz: f64,
        load_names: &[String],
        settings: &Settings,
        epoch: NaiveDateTime,
        restored: Option<&[bool]>,
    ) -> Result<Self, ConfigError> {
        check_schedule(settings.ats.exercise.as_ref())?;
        let loads = resolve_loads(load_names, settings)?;
        let s = settings.clone();
        Ok(Controller {
            nominal_v,
            nominal_hz,
            ats: Ats::new(s.ats.clone(), epoch),
            monitors: [SourceMonitor::new(false), SourceMonitor::new(false)],
            guards: SOURCES.map(|id| SourceGuard::new(id, &s.protection, nominal_v, nominal_hz)),
            loads: LoadManager::new(loads, s.shedding.clone(), s.stagger, epoch, restored),
            pq: PqMonitor::new(PqSettings::low_voltage(nominal_v)),
            last_step: None,
            closed: [false; 2],
            opened_at: [None; 2],
            started: false,
            low_bus_since: None,
            lost: [false; 2],
            events: Vec::new(),
            commands: Commands {
                relays: vec![false; load_names.len()],
                ..Default::default()
            },
            s,
        })
    }

    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// Events since the last drain, in the order they happened.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    pub fn load_index(&self, name: &str) -> Option<usize> {
        self.loads.index(name)
    }

    pub fn load_status(&self, i: usize) -> LoadStatus {
        self.loads.status(i)
    }

    pub fn ats_state(&self) -> crate::transfer::AtsState {
        self.ats.state()
    }

    pub fn status(&self) -> Status {
        Status {
            ats: self.ats.state().name(),
            main_closed: self.closed[0],
            backup_closed: self.closed[1],
            engine_start: self.ats.engine_start(),
            testing: self.ats.testing(),
            main_available: self.monitors[0].available(),
            backup_available: self.monitors[1].available(),
            main_locked_out: self.guards[0].locked_out(),
            backup_locked_out: self.guards[1].locked_out(),
            loads: (0..self.commands.relays.len())
                .map(|i| self.loads.status(i))
                .collect(),
        }
    }

    pub fn operator(&mut self, now: Instant, cmd: &OperatorCommand) -> Result<(), Refused> {
        let (subject, action) = match cmd {
            OperatorCommand::Test { on_load, minutes } => {
                let events = &mut self.events;
                self.ats
                    .start_test(now, *on_load, Some(*minutes), events)
                    .map_err(Refused::Ats)?;
                (Subject::Source(SourceId::Backup), "test")
            }
            OperatorCommand::EndTest => {
                let events = &mut self.events;
                self.ats
                    .end_test(now, TestEnd::Operator, events)
                    .map_err(Refused::Ats)?;
                (Subject::Source(SourceId::Backup), "end test")
            }
            OperatorCommand::On(n) | OperatorCommand::Off(n) | OperatorCommand::Reset(n) => {
                let i = self.loads.index(n).ok_or_else(|| UnknownLoad(n.clone()))?;
                match cmd {
                    OperatorCommand::On(_) => self.loads.set_wanted(i, true),
                    OperatorCommand::Off(_) => self.loads.set_wanted(i, false),
                    _ => self.loads.reset(i),
                }
                let action = match cmd {
                    OperatorCommand::On(_) => "on",
                    OperatorCommand::Off(_) => "off",
                    _ => "reset",
                };
                (Subject::Load(n.clone()), action)
            }
            OperatorCommand::ResetSource(id) => {
                self.guards[*id as usize].reset();
                (Subject::Source(*id), "reset")
            }
        };
        self.events.push(Event::new(
            now,
            &subject,
            EventKind::Operator {
                action: action.into(),
            },
        ));
        Ok(())
    }

    /// An alert rule's Shed action at `now`: `loads` held off while `rule`'s alert stands
    /// (`hold`), or let go when it clears. Critical loads are never held.
    pub fn alert_shed(
        &mut self,
        now: Instant,
        rule: &str,
        loads: &[String],
        hold: bool,
    ) -> Result<(), UnknownLoad> {
        for n in loads {
            let i = self.loads.index(n).ok_or_else(|| UnknownLoad(n.clone()))?;
            self.loads.hold(i, rule, hold, now, &mut self.events);
        }
        Ok(())
    }

    /// An operator's new settings for one load, checked as the loader checks a scenario's
    /// (schedules, required loads, no cycles), in force from `now` (see
    /// `LoadManager::configure`). Logged as an operator action.
    pub fn configure_load(
        &mut self,
        now: Instant,
        name: &str,
        cfg: LoadSettings,
    ) -> Result<(), ConfigError> {
        let i = self
            .loads
            .index(name)
            .ok_or_else(|| ConfigError::UnknownLoad(name.to_string()))?;
        let names: Vec<String> = self.loads.names().map(String::from).collect();
        let mut s = self.s.clone();
        s.loads.insert(name.to_string(), cfg.clone());
        let resolved = resolve_loads(&names, &s)?;
        let requires = resolved[i].2.clone();
        self.loads.configure(i, cfg, requires, now);
        self.s = s;
        self.events.push(Event::new(
            now,
            &Subject::Load(name.to_string()),
            EventKind::Operator {
                action: "settings".into(),
            },
        ));
        Ok(())
    }

    /// A new generator exercise (none: no more), in force from `now`; a scheduled test that
    /// its window no longer covers ends. Logged as an operator action.
    pub fn set_exercise(&mut self, now: Instant, ex: Option<Exercise>) -> Result<(), ConfigError> {
        check_schedule(ex.as_ref())?;
        self.s.ats.exercise = ex.clone();
        self.ats.set_exercise(now, ex, &mut self.events);
        self.events.push(Event::new(
            now,
            &Subject::Source(SourceId::Backup),
            EventKind::Operator {
                action: "exercise_schedule".into(),
            },
        ));
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.s
    }

    /// The mains' RMS over the step that ends at `now`, as one window of the power-quality
    /// monitor (a step of the twin is one cycle; the edges of an event fall on steps).
    fn power_quality(&mut self, now: Instant, v: f64) {
        let Some(last) = self.last_step.replace(now) else {
            return;
        };
        let mut ended = Vec::new();
        let window = HalfCycle {
            start_s: last.as_secs_f64(),
            len_s: now.since(last).as_secs_f64(),
            rms: v,
        };
        self.pq.handle_half_cycle(window, &mut ended);
        for e in ended {
            let pct = (e.extreme_pct * 10.0).round() / 10.0;
            let kind = match e.kind {
                PqKind::Dip => EventKind::VoltageDip {
                    residual_v: e.extreme_v,
                    residual_pct: pct,
                    duration_s: e.duration_s,
                },
                PqKind::Swell => EventKind::VoltageSwell {
                    peak_v: e.extreme_v,
                    peak_pct: pct,
                    duration_s: e.duration_s,
                },
                PqKind::Interruption => EventKind::Interruption {
                    duration_s: e.duration_s,
                },
            };
            self.events
                .push(Event::new(now, &Subject::Source(SourceId::Main), kind));
        }
    }

    pub fn step(&mut self, now: Instant, m: &Measurements) -> &Commands {
        let sensed = [m.main, m.backup];
        for (k, id) in SOURCES.into_iter().enumerate() {
            if sensed[k].lost != self.lost[k] {
                self.lost[k] = sensed[k].lost;
                let alarm = Alarm::SensorFault;
                let kind = if self.lost[k] {
                    EventKind::Alarm { alarm }
                } else {
                    EventKind::AlarmCleared { alarm }
                };
                self.events
                    .push(Event::new(now, &Subject::Source(id), kind));
            }
            // No data is not an outage: the transfer switch holds until readings return.
            if self.lost[k] {
                continue;
            }
            let pu = |x: &SourceMeasurement| (x.v / self.nominal_v, x.hz / self.nominal_hz);
            let (v, hz) = pu(&sensed[k]);
            let change = self.monitors[k].update(now, v, hz, &self.s.ats);
            // A stopped engine is expected to be dead: only report it while it should run.
            let expected = id == SourceId::Main || self.ats.engine_start();
            if let Some(kind) = change
                && self.started
                && expected
            {
                self.events
                    .push(Event::new(now, &Subject::Source(id), kind));
            }
            if id == SourceId::Main {
                self.power_quality(now, sensed[k].v);
            }
            let feeding = self.closed[k];
            if self.guards[k].update(now, &sensed[k], self.nominal_hz, feeding, &mut self.events) {
                self.open(k, now);
            }
        }
        self.started = true;

        let ok = |k: usize| self.monitors[k].available() && !self.guards[k].locked_out();
        let sources_ok = SourcesOk {
            main: ok(0),
            backup: ok(1),
            main_dropouts: self.monitors[0].recent_dropouts(),
        };
        self.ats.step(now, sources_ok, &mut self.events);
        self.switch_sources(now);

        let active = if self.closed[0] { 0 } else { 1 };
        let bus_live = if !self.closed[active] {
            self.low_bus_since = None;
            false
        } else if self.lost[active] {
            // Held as last seen.
            self.low_bus_since
                .is_none_or(|t| now.since(t) < DEAD_BUS_TIME)
        } else if sensed[active].v > LIVE_BUS_PU * self.nominal_v {
            self.low_bus_since = None;
            true
        } else {
            now.since(*self.low_bus_since.get_or_insert(now)) < DEAD_BUS_TIME
        };
        let capacity_kw = if active == 0 {
            self.s.shedding.main_capacity_kw
        } else {
            self.s.shedding.backup_capacity_kw
        };
        self.loads.step(
            &LoadInputs {
                now,
                bus_live,
                source_w: sensed[active].p,
                capacity_w: capacity_kw.map(|c| c.get() * 1e3),
                source_lost: self.lost[active],
                loads: &m.loads,
            },
            &mut self.events,
        );

        self.commands.main_closed = self.closed[0];
        self.commands.backup_closed = self.closed[1];
        self.commands.backup_start = self.ats.engine_start();
        for (out, r) in self.commands.relays.iter_mut().zip(self.loads.relays()) {
            *out = r;
        }
        &self.commands
    }

    fn open(&mut self, k: usize, now: Instant) {
        if self.closed[k] {
            self.closed[k] = false;
            self.opened_at[k] = Some(now);
        }
    }

    /// Open transition: open what must open, then close the wanted source only once the other
    /// has been open for the dead time. Both are never closed together.
    fn switch_sources(&mut self, now: Instant) {
        let preferred = self.ats.preferred() as usize;
        for k in 0..2 {
            if self.closed[k] && (k != preferred || !self.guards[k].allows()) {
                self.open(k, now);
            }
        }
        let other = 1 - preferred;
        let dead_time_done =
            self.opened_at[other].is_none_or(|t| now.since(t) >= self.s.ats.dead_time.duration());
        let barred = preferred == SourceId::Main as usize && self.ats.main_barred();
        if !self.closed[preferred]
            && !self.closed[other]
            && dead_time_done
            && self.guards[preferred].allows()
            && !barred
        {
            self.closed[preferred] = true;
        }
    }
}

/// Whether `s` is valid for a grid with these loads (as `Controller::new` would find it).
pub fn check_settings(names: &[String], s: &Settings) -> Result<(), ConfigError> {
    check_schedule(s.ats.exercise.as_ref())?;
    resolve_loads(names, s).map(|_| ())
}

/// An exercise's schedule, checked as a load's are.
fn check_schedule(ex: Option<&Exercise>) -> Result<(), ConfigError> {
    match ex.and_then(|e| e.schedule.problem()) {
        Some(p) => Err(ConfigError::Exercise(p)),
        None => Ok(()),
    }
}

/// Load settings in grid order, with required loads as indices; names and cycles checked.
fn resolve_loads(
    names: &[String],
    s: &Settings,
) -> Result<Vec<(String, super::settings::LoadSettings, Vec<usize>)>, ConfigError> {
    if let Some(unknown) = s.loads.keys().find(|k| !names.contains(k)) {
        return Err(ConfigError::UnknownLoad(unknown.clone()));
    }
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let cfg = s.loads.get(name).cloned().unwrap_or_default();
        for (k, sch) in cfg.schedules.iter().enumerate() {
            if let Some(problem) = sch.problem() {
                return Err(ConfigError::Schedule {
                    load: name.clone(),
                    index: k + 1,
                    problem,
                });
            }
        }
        let req = cfg
            .requires
            .iter()
            .map(|r| {
                index
                    .get(r.as_str())
                    .copied()
                    .ok_or_else(|| ConfigError::UnknownRequired {
                        load: name.clone(),
                        required: r.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push((name.clone(), cfg, req));
    }
    if let Some(cycle) = find_cycle(&out) {
        let path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
        return Err(ConfigError::RequiresCycle(path.join(" -> ")));
    }
    Ok(out)
}

/// A cycle in the requires graph, as a path that ends where it starts.
fn find_cycle<T>(loads: &[(String, T, Vec<usize>)]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<T>(
        i: usize,
        loads: &[(String, T, Vec<usize>)],
        mark: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = Mark::Open;
        path.push(i);
        for &j in &loads[i].2 {
            match mark[j] {
                Mark::Open => {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(j, loads, mark, path) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        mark[i] = Mark::Done;
        None
    }
    let mut mark = vec![Mark::New; loads.len()];
    for i in 0..loads.len() {
        if mark[i] == Mark::New
            && let Some(c) = visit(i, loads, &mut mark, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}
