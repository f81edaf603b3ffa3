//! Per-load relay decisions. A relay closes only when the load is wanted (power-on state, operator,
//! schedule), not shed, not tripped or locked out, its required loads are on and the bus is live;
//! closures are staggered so inrush currents do not add up.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::events::{Alarm, Element, Event, EventKind, ShedReason, Subject};
use super::interface::LoadMeasurement;
use super::protection::{DefiniteTime, InverseTime, Recloser, TripOutcome, TripState};
use super::schedule::Schedule;
use super::settings::{LoadSettings, OnLoss, PowerOn, Secs, SheddingSettings, Stage};
use super::shedding::{Assessment, Candidate, Shedder, choose};
use super::time::Instant;

/// A relay told to open that still carries this much current is reported welded.
const WELDED_A: f64 = 0.5;
const WELDED_GRACE: Duration = Duration::from_secs(1);
/// Time constant with which a load's remembered power decays (it stands for the load's demand
/// when it is off or idle, for shedding and restore decisions).
const POWER_MEMORY_S: f64 = 120.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LoadStatus {
    Off,
    On,
    /// Wanted on, waiting for a live bus, its turn in the stagger or a required load.
    Waiting,
    Shed,
    Tripped,
    LockedOut,
}

impl LoadStatus {
    /// Every status's name, in the order of `code`.
    pub const NAMES: [&'static str; 6] = ["off", "on", "waiting", "shed", "tripped", "locked_out"];

    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone)]
struct Unit {
    name: String,
    cfg: LoadSettings,
    requires: Vec<usize>,
    wanted: bool,
    shed_seq: Option<u64>,
    /// The alert rules holding it off (their Shed action).
    held_by: Vec<String>,
    recloser: Recloser,
    instantaneous: Option<DefiniteTime>,
    inverse: Option<InverseTime>,
    limit_a: Option<DefiniteTime>,
    limit_w: Option<DefiniteTime>,
    relay: bool,
    watts: f64,
    opened_at: Option<Instant>,
    welded: bool,
    /// Its measurement is lost (the sensor-fault alarm raised).
    lost: bool,
    /// The next schedule edge, as controller time.
    next_edge: Option<Instant>,
}

impl Unit {
    fn subject(&self) -> Subject {
        Subject::Load(self.name.clone())
    }

    fn eligible(&self) -> bool {
        self.wanted
            && self.shed_seq.is_none()
            && self.held_by.is_empty()
            && self.recloser.is_normal()
            && !(self.lost && self.cfg.on_loss() == OnLoss::Off)
    }

    fn reset_elements(&mut self) {
        for e in [
            &mut self.instantaneous,
            &mut self.limit_a,
            &mut self.limit_w,
        ]
        .into_iter()
        .flatten()
        {
            e.reset();
        }
        if let Some(e) = &mut self.inverse {
            e.reset();
        }
    }
}

/// The shape of one step's world for the load manager.
pub struct LoadInputs<'a> {
    pub now: Instant,
    pub bus_live: bool,
    /// Real power of the source feeding the bus, W.
    pub source_w: f64,
    pub capacity_w: Option<f64>,
    /// The feeding source's measurement is lost: `source_w` is stale.
    pub source_lost: bool,
    pub loads: &'a [LoadMeasurement],
}

#[derive(Debug, Clone)]
pub struct LoadManager {
    units: Vec<Unit>,
    shedder: Shedder,
    stagger_us: u64,
    epoch: NaiveDateTime,
    last_close: Option<Instant>,
    last_step: Option<Instant>,
    /// Power-memory decay for the last step length: (dt in µs, factor).
    decay: (u64, f64),
    shed_count: u64,
    cannot_shed: bool,
    /// Reused so shedding does not allocate.
    on_buf: Vec<Candidate>,
}

impl LoadManager {
    /// `loads` in grid order with their settings and required-load indices; `restored` is the
    /// relay state stored before a restart, for `PowerOn::Last`.
    pub fn new(
        loads: Vec<(String, LoadSettings, Vec<usize>)>,
        shedding: SheddingSettings,
        stagger: Secs,
        start_wall: NaiveDateTime,
        restored: Option<&[bool]>,
    ) -> Self {
        let units = loads
            .into_iter()
            .enumerate()
            .map(|(i, (name, cfg, requires))| {
                let e = Elements::of(&cfg);
                let scheduled = !cfg.schedules.is_empty();
                let wanted = if scheduled {
                    cfg.schedules.iter().any(|s| s.active_at(start_wall))
                } else {
                    match cfg.power_on {
                        PowerOn::On => true,
                        PowerOn::Off => false,
                        PowerOn::Last => restored.and_then(|r| r.get(i).copied()).unwrap_or(false),
                    }
                };
                let next_edge = next_edge(&cfg.schedules, start_wall, start_wall);
                Unit {
                    name,
                    requires,
                    wanted,
                    shed_seq: None,
                    held_by: Vec::new(),
                    recloser: Recloser::new(cfg.retry),
                    instantaneous: e.instantaneous,
                    inverse: e.inverse,
                    limit_a: e.limit_a,
                    limit_w: e.limit_w,
                    relay: false,
                    watts: 0.0,
                    opened_at: Some(Instant::ZERO),
                    welded: false,
                    lost: false,
                    next_edge,
                    cfg,
                }
            })
            .collect();
        LoadManager {
            units,
            shedder: Shedder::new(shedding),
            stagger_us: stagger.micros(),
            epoch: start_wall,
            last_close: None,
            last_step: None,
            decay: (0, 1.0),
            shed_count: 0,
            cannot_shed: false,
            on_buf: Vec::new(),
        }
    }

    /// New settings for load `i` (validated by the caller) from `now` on. Its state stays:
    /// on, off, shed, tripped or locked out; changed protection elements and limits start
    /// timing afresh; new schedules act from their next edge, as a time switch does; new retry
    /// settings apply once the load is back to normal.
    pub fn configure(&mut self, i: usize, cfg: LoadSettings, requires: Vec<usize>, now: Instant) {
        let u = &mut self.units[i];
        if cfg.overcurrent != u.cfg.overcurrent
            || (cfg.limit_a, cfg.limit_w, cfg.limit_delay)
                != (u.cfg.limit_a, u.cfg.limit_w, u.cfg.limit_delay)
        {
            let e = Elements::of(&cfg);
            (u.instantaneous, u.inverse, u.limit_a, u.limit_w) =
                (e.instantaneous, e.inverse, e.limit_a, e.limit_w);
        }
        if cfg.retry != u.cfg.retry && u.recloser.is_normal() {
            u.recloser = Recloser::new(cfg.retry);
        }
        let wall = now.wall(self.epoch);
        u.next_edge = next_edge(&cfg.schedules, wall, self.epoch);
        u.requires = requires;
        u.cfg = cfg;
    }

    pub fn relays(&self) -> impl Iterator<Item = bool> + '_ {
        self.units.iter().map(|u| u.relay)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.units.iter().map(|u| u.name.as_str())
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.units.iter().position(|u| u.name == name)
    }

    pub fn status(&self, i: usize) -> LoadStatus {
        let u = &self.units[i];
        match u.recloser.state() {
            TripState::LockedOut => LoadStatus::LockedOut,
            TripState::Tripped { .. } => LoadStatus::Tripped,
            TripState::Normal if u.shed_seq.is_some() => LoadStatus::Shed,
            TripState::Normal if u.wanted && !u.held_by.is_empty() => LoadStatus::Shed,
            TripState::Normal if u.relay => LoadStatus::On,
            TripState::Normal if u.wanted => LoadStatus::Waiting,
            TripState::Normal => LoadStatus::Off,
        }
    }

    /// Hold load `i` off for alert `rule`, or let it go: logged as shed for the alert, and as
    /// restored once the last rule holding it lets go. A critical load is never held.
    pub fn hold(&mut self, i: usize, rule: &str, on: bool, now: Instant, events: &mut Vec<Event>) {
        let u = &mut self.units[i];
        if u.cfg.critical {
            return;
        }
        let was = !u.held_by.is_empty();
        if !on {
            u.held_by.retain(|r| r != rule);
        } else if !u.held_by.iter().any(|r| r == rule) {
            u.held_by.push(rule.to_string());
        }
        let (is, watts) = (!u.held_by.is_empty(), u.watts);
        let kind = match (was, is) {
            (false, true) => EventKind::Shed {
                reason: ShedReason::Alert,
                watts,
            },
            (true, false) => EventKind::LoadRestored { watts },
            _ => return,
        };
        events.push(Event::new(now, &u.subject(), kind));
    }

    pub fn set_wanted(&mut self, i: usize, on: bool) {
        let u = &mut self.units[i];
        u.wanted = on;
        if !on {
            // An operator's off outlives the shedding that was holding the load.
            u.shed_seq = None;
        }
        self.shedder.restart_restore_timer();
    }

    pub fn reset(&mut self, i: usize) {
        let u = &mut self.units[i];
        u.recloser.reset();
        u.reset_elements();
    }

    pub fn step(&mut self, inp: &LoadInputs, events: &mut Vec<Event>) {
        let now = inp.now;
        let dt_us = self.last_step.map_or(0, |t| now.micros_since(t));
        self.last_step = Some(now);
        self.run_schedules(now, events);
        if self.decay.0 != dt_us {
            self.decay = (dt_us, (-(dt_us as f64) * 1e-6 / POWER_MEMORY_S).exp());
        }
        let decay = self.decay.1;
        for (u, m) in self.units.iter_mut().zip(inp.loads) {
            if m.lost != u.lost {
                u.lost = m.lost;
                let alarm = Alarm::SensorFault;
                let kind = if m.lost {
                    EventKind::Alarm { alarm }
                } else {
                    EventKind::AlarmCleared { alarm }
                };
                events.push(Event::new(now, &u.subject(), kind));
                // No element carries time timed on stale data across the gap.
                u.reset_elements();
            }
            // Stale readings are never acted on: no protection, power memory or weld watch.
            if u.relay && !u.lost {
                u.watts = m.p.max(u.watts * decay);
                protect(u, now, m, events);
            }
            if let Some(attempt) = u.recloser.poll(now) {
                events.push(Event::new(
                    now,
                    &u.subject(),
                    EventKind::Reclose { attempt },
                ));
            }
            if !u.lost {
                watch_welded(u, now, m, events);
            }
        }
        // Shedding on a stale source reading would act on a load that may have changed.
        if inp.bus_live && !inp.source_lost {
            self.shed(inp, events);
        }
        self.drive_relays(inp, events);
    }

    fn run_schedules(&mut self, now: Instant, events: &mut Vec<Event>) {
        let epoch = self.epoch;
        for u in &mut self.units {
            let Some(due) = u.next_edge.filter(|e| *e <= now) else {
                continue;
            };
            // Every edge from the one we waited for up to now (a long step may cross several).
            let wall = now.wall(epoch);
            let from = Instant::from_micros(due.as_micros().saturating_sub(1)).wall(epoch);
            let last = u
                .cfg
                .schedules
                .iter()
                .flat_map(|s| s.edges(from, wall))
                .max_by_key(|e| e.0);
            if let Some((_, on)) = last {
                u.wanted = on;
                if !on {
                    u.shed_seq = None;
                }
                events.push(Event::new(now, &u.subject(), EventKind::Schedule { on }));
            }
            u.next_edge = next_edge(&u.cfg.schedules, wall, epoch);
        }
    }

    fn shed(&mut self, inp: &LoadInputs, events: &mut Vec<Event>) {
        let anything_shed = self.units.iter().any(|u| u.shed_seq.is_some());
        let mut cannot = false;
        match self
            .shedder
            .assess(inp.now, inp.source_w, inp.capacity_w, anything_shed)
        {
            Assessment::Hold => {}
            Assessment::Shed { excess_w, reason } => {
                self.on_buf.clear();
                self.on_buf.extend(
                    self.units
                        .iter()
                        .enumerate()
                        .filter(|(_, u)| u.relay && !u.cfg.critical)
                        .map(|(i, u)| Candidate {
                            index: i,
                            priority: u.cfg.priority,
                            watts: u.watts,
                        }),
                );
                let chosen = choose(&mut self.on_buf, excess_w);
                cannot = chosen.is_empty();
                if !cannot {
                    self.shedder.shed_done(inp.now);
                }
                for i in chosen {
                    self.mark_shed(i, inp.now, reason, events);
                }
            }
            Assessment::MayRestore { allowed_w } => {
                // Most recently shed first.
                let next = (0..self.units.len())
                    .filter_map(|i| self.units[i].shed_seq.map(|s| (s, i)))
                    .max();
                if let Some((_, i)) = next
                    && self.shedder.restore_now(
                        inp.now,
                        inp.source_w,
                        self.units[i].watts,
                        allowed_w,
                    )
                {
                    let u = &mut self.units[i];
                    u.shed_seq = None;
                    let watts = u.watts;
                    events.push(Event::new(
                        inp.now,
                        &u.subject(),
                        EventKind::LoadRestored { watts },
                    ));
                }
            }
        }
        if cannot != self.cannot_shed {
            self.cannot_shed = cannot;
            let alarm = Alarm::CannotShed;
            let kind = if cannot {
                EventKind::Alarm { alarm }
            } else {
                EventKind::AlarmCleared { alarm }
            };
            events.push(Event::new(inp.now, &Subject::Pdu, kind));
        }
    }

    fn mark_shed(&mut self, i: usize, now: Instant, reason: ShedReason, events: &mut Vec<Event>) {
        self.shed_count += 1;
        let u = &mut self.units[i];
        u.shed_seq = Some(self.shed_count);
        let watts = u.watts;
        events.push(Event::new(
            now,
            &u.subject(),
            EventKind::Shed { reason, watts },
        ));
    }

    fn drive_relays(&mut self, inp: &LoadInputs, events: &mut Vec<Event>) {
        let now = inp.now;
        // Openings first and all at once; a load whose required load opens goes with it.
        loop {
            let mut changed = false;
            for i in 0..self.units.len() {
                let u = &self.units[i];
                let deps_ok = u.requires.iter().all(|&r| self.units[r].relay);
                if u.relay && (!inp.bus_live || !u.eligible() || !deps_ok) {
                    let u = &mut self.units[i];
                    u.relay = false;
                    u.opened_at = Some(now);
                    u.reset_elements();
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if !inp.bus_live {
            return;
        }
        if self
            .last_close
            .is_some_and(|t| now.micros_since(t) < self.stagger_us)
        {
            return;
        }
        // One closure per stagger interval, most important first.
        let next = (0..self.units.len())
            .filter(|&i| {
                let u = &self.units[i];
                !u.relay && u.eligible() && u.requires.iter().all(|&r| self.units[r].relay)
            })
            .min_by_key(|&i| (self.units[i].cfg.priority, i));
        let Some(i) = next else { return };
        let projected = inp.source_w + self.units[i].watts;
        let fits = inp.capacity_w.is_none_or(|c| projected <= c);
        if !fits && !self.units[i].cfg.critical {
            self.mark_shed(i, now, ShedReason::CapacityAtTransfer, events);
            return;
        }
        let u = &mut self.units[i];
        u.relay = true;
        u.opened_at = None;
        self.last_close = Some(now);
    }
}

/// A load's protection elements and limits, as its settings make them.
struct Elements {
    instantaneous: Option<DefiniteTime>,
    inverse: Option<InverseTime>,
    limit_a: Option<DefiniteTime>,
    limit_w: Option<DefiniteTime>,
}

impl Elements {
    fn of(cfg: &LoadSettings) -> Self {
        let limit = |x: Option<super::settings::Positive>| {
            x.map(|p| {
                let stage = Stage {
                    pickup: p,
                    dropout: None,
                    delay: cfg.limit_delay,
                };
                DefiniteTime::new(&stage, 1.0, true)
            })
        };
        let oc = &cfg.overcurrent;
        Elements {
            instantaneous: oc
                .instantaneous
                .as_ref()
                .map(|s| DefiniteTime::new(s, 1.0, true)),
            inverse: oc.inverse.as_ref().map(InverseTime::new),
            limit_a: limit(cfg.limit_a),
            limit_w: limit(cfg.limit_w),
        }
    }
}

/// The earliest edge of any schedule after `wall`, as controller time from `epoch`.
fn next_edge(schedules: &[Schedule], wall: NaiveDateTime, epoch: NaiveDateTime) -> Option<Instant> {
    let edge = schedules.iter().filter_map(|s| s.next_edge(wall)).min()?;
    let us = (edge - epoch).num_microseconds()?;
    Some(Instant::from_micros(u64::try_from(us).ok()?))
}

/// Overcurrent elements and limits of one energized load.
fn protect(u: &mut Unit, now: Instant, m: &LoadMeasurement, events: &mut Vec<Event>) {
    let mut tripped = None;
    if let Some(e) = &mut u.instantaneous
        && e.update(now, m.i_fast)
    {
        tripped = Some((Element::Instantaneous, m.i_fast));
    }
    if let Some(e) = &mut u.inverse
        && e.update(now, m.i)
    {
        tripped = tripped.or(Some((Element::InverseTime, m.i)));
    }
    if let Some(e) = &mut u.limit_a
        && e.update(now, m.i)
    {
        tripped = tripped.or(Some((Element::CurrentLimit, m.i)));
    }
    if let Some(e) = &mut u.limit_w
        && e.update(now, m.p)
    {
        tripped = tripped.or(Some((Element::PowerLimit, m.p)));
    }
    let Some((element, value)) = tripped else {
        return;
    };
    let subject = u.subject();
    events.push(Event::new(
        now,
        &subject,
        EventKind::Trip { element, value },
    ));
    if u.recloser.trip(now) == TripOutcome::LockedOut {
        events.push(Event::new(now, &subject, EventKind::Lockout { element }));
    }
    u.reset_elements();
}

fn watch_welded(u: &mut Unit, now: Instant, m: &LoadMeasurement, events: &mut Vec<Event>) {
    let suspect =
        !u.relay && m.i > WELDED_A && u.opened_at.is_some_and(|t| now.since(t) >= WELDED_GRACE);
    let cleared = u.welded && (u.relay || m.i <= WELDED_A);
    if suspect && !u.welded {
        u.welded = true;
        let alarm = Alarm::WeldedRelay;
        events.push(Event::new(now, &u.subject(), EventKind::Alarm { alarm }));
    } else if cleared {
        u.welded = false;
        let alarm = Alarm::WeldedRelay;
        events.push(Event::new(
            now,
            &u.subject(),
            EventKind::AlarmCleared { alarm },
        ));
    }
}
