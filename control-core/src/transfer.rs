//! The automatic transfer switch: which source should feed the bus and whether the backup engine
//! should run. Contactor interlocking and dead time are applied by the controller afterwards.

use std::collections::VecDeque;

use chrono::NaiveDateTime;
use grid_types::SourceId;

use super::events::{Alarm, Event, EventKind, Subject, TestEnd, Why};
use super::settings::{AtsSettings, Exercise};
use super::time::Instant;

/// Acceptance of one source by voltage and frequency, with pickup/dropout hysteresis.
#[derive(Debug, Clone)]
pub struct SourceMonitor {
    available: bool,
    outside_since: Option<Instant>,
    lost_at: Option<Instant>,
    dropouts: VecDeque<Instant>,
}

impl SourceMonitor {
    pub fn new(available: bool) -> Self {
        SourceMonitor {
            available,
            outside_since: None,
            lost_at: None,
            dropouts: VecDeque::new(),
        }
    }

    pub fn available(&self) -> bool {
        self.available
    }

    /// Dropouts within `window` of `now`.
    pub fn recent_dropouts(&self) -> usize {
        self.dropouts.len()
    }

    /// Feed one measurement (`v` and `hz` in pu of nominal). Returns the change, if any.
    pub fn update(&mut self, now: Instant, v: f64, hz: f64, s: &AtsSettings) -> Option<EventKind> {
        let window = s.dropout_window.micros();
        while self
            .dropouts
            .front()
            .is_some_and(|t| now.micros_since(*t) > window)
        {
            self.dropouts.pop_front();
        }
        let df = (hz - 1.0).abs();
        if self.available {
            let why = if v < s.undervoltage_dropout.get() {
                Why::Undervoltage
            } else if v > s.overvoltage_dropout.get() {
                Why::Overvoltage
            } else if df > s.frequency_dropout.get() {
                Why::Frequency
            } else {
                self.outside_since = None;
                return None;
            };
            // Ride through faults that downstream protection clears within the dropout delay.
            let since = *self.outside_since.get_or_insert(now);
            if now.micros_since(since) < s.dropout_delay.micros() {
                return None;
            }
            self.outside_since = None;
            self.available = false;
            self.lost_at = Some(now);
            self.dropouts.push_back(now);
            Some(EventKind::SourceLost {
                why,
                v_pu: v,
                f_pu: hz,
            })
        } else {
            let ok = v >= s.undervoltage_pickup.get()
                && v <= s.overvoltage_pickup.get()
                && df <= s.frequency_pickup.get();
            if !ok {
                return None;
            }
            self.available = true;
            let after_s = self.lost_at.map(|t| now.since(t).as_secs_f64());
            Some(EventKind::SourceRecovered { after_s })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtsState {
    /// On the main (or waiting for it to come back without having declared an outage).
    Normal,
    /// Main lost; timing the momentary-outage override.
    Failing {
        since: Instant,
    },
    /// Outage declared; timing the engine start delay.
    StartDelay {
        since: Instant,
    },
    /// Start signal on; waiting for the backup to become acceptable.
    Starting {
        since: Instant,
    },
    /// Backup acceptable; timing the transfer delay.
    TransferDelay {
        since: Instant,
    },
    OnBackup,
    /// On backup, main acceptable; timing the retransfer delay.
    Retransfer {
        since: Instant,
    },
}

impl AtsState {
    /// Every state's name, in the order of `code`.
    pub const NAMES: [&'static str; 7] = [
        "normal",
        "main_failing",
        "start_delay",
        "starting_backup",
        "transfer_delay",
        "on_backup",
        "retransfer_delay",
    ];

    pub fn code(self) -> u8 {
        let name = self.name();
        Self::NAMES.iter().position(|n| *n == name).unwrap_or(0) as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            AtsState::Normal => "normal",
            AtsState::Failing { .. } => "main_failing",
            AtsState::StartDelay { .. } => "start_delay",
            AtsState::Starting { .. } => "starting_backup",
            AtsState::TransferDelay { .. } => "transfer_delay",
            AtsState::OnBackup => "on_backup",
            AtsState::Retransfer { .. } => "retransfer_delay",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ats {
    s: AtsSettings,
    state: AtsState,
    outage_at: Option<Instant>,
    /// A brownout outage is not cancelled by the main's next brief recovery.
    committed: bool,
    cooldown_until: Option<Instant>,
    transfer_fail: bool,
    backup_lost: bool,
    engine: bool,
    test: Option<Test>,
    /// The wall-clock time at `Instant::ZERO`, for the exercise schedule.
    epoch: NaiveDateTime,
    /// The last step, whose exercise edges have been acted on.
    last: Option<Instant>,
}

/// A test in progress.
#[derive(Debug, Clone, Copy)]
struct Test {
    on_load: bool,
    /// When its timer runs out; none: when the exercise schedule's window closes.
    until: Option<Instant>,
}

/// Per-step view of the two sources for the transfer logic.
#[derive(Debug, Clone, Copy)]
pub struct SourcesOk {
    /// Acceptable and not held open by protection.
    pub main: bool,
    pub backup: bool,
    /// Main dropouts inside the brownout window.
    pub main_dropouts: usize,
}

impl Ats {
    /// The transfer logic; `epoch` is the wall-clock time at `Instant::ZERO`.
    pub fn new(s: AtsSettings, epoch: NaiveDateTime) -> Self {
        Ats {
            s,
            state: AtsState::Normal,
            outage_at: None,
            committed: false,
            cooldown_until: None,
            transfer_fail: false,
            backup_lost: false,
            engine: false,
            test: None,
            epoch,
            last: None,
        }
    }

    /// Whether a test runs, and whether on load.
    pub fn testing(&self) -> Option<bool> {
        self.test.map(|t| t.on_load)
    }

    /// Begin a test at `now` for `minutes` (none: until the exercise window closes). Refused
    /// while another runs or while the switch is anywhere but at rest on the main.
    pub fn start_test(
        &mut self,
        now: Instant,
        on_load: bool,
        minutes: Option<u32>,
        events: &mut Vec<Event>,
    ) -> Result<(), String> {
        if self.test.is_some() {
            return Err("a transfer switch test is already running".into());
        }
        if self.state != AtsState::Normal {
            return Err(format!(
                "the transfer switch is not at rest on the main ({}): no test now",
                self.state.name()
            ));
        }
        if minutes == Some(0) {
            return Err("a test lasts at least a minute".into());
        }
        self.test = Some(Test {
            on_load,
            until: minutes.map(|m| now + std::time::Duration::from_secs(u64::from(m) * 60)),
        });
        if on_load {
            // The sequence of a lost main from its start delay on; no outage is declared.
            self.state = AtsState::StartDelay { since: now };
        }
        events.push(Event::new(
            now,
            &Subject::Source(SourceId::Backup),
            EventKind::TestStarted { on_load, minutes },
        ));
        Ok(())
    }

    /// End the test at `now`: the load goes back after the retransfer delay (at once when the
    /// backup failed), the engine cools down.
    pub fn end_test(
        &mut self,
        now: Instant,
        why: TestEnd,
        events: &mut Vec<Event>,
    ) -> Result<(), String> {
        let Some(t) = self.test.take() else {
            return Err("no transfer switch test is running".into());
        };
        if !t.on_load || self.state == AtsState::Normal {
            self.cooldown_until = Some(now + self.s.cooldown.duration());
        }
        events.push(Event::new(
            now,
            &Subject::Source(SourceId::Backup),
            EventKind::TestEnded {
                on_load: t.on_load,
                why,
            },
        ));
        Ok(())
    }

    /// A new exercise from `now` on: its edges count from now; a scheduled test its window no
    /// longer covers ends.
    pub fn set_exercise(&mut self, now: Instant, ex: Option<Exercise>, events: &mut Vec<Event>) {
        let wall = now.wall(self.epoch);
        let covered = ex.as_ref().is_some_and(|e| e.schedule.active_at(wall));
        self.s.exercise = ex;
        self.last = Some(now);
        if self.test.is_some_and(|t| t.until.is_none()) && !covered {
            let _ = self.end_test(now, TestEnd::Schedule, events);
        }
    }

    /// The exercise schedule's edges since the last step, and the test's own end.
    fn run_tests(&mut self, now: Instant, ok: SourcesOk, events: &mut Vec<Event>) {
        if let Some(ex) = &self.s.exercise {
            let at = |t: Instant| t.wall(self.epoch);
            let from = self
                .last
                .map_or(at(now) - chrono::Duration::microseconds(1), at);
            let on_load = ex.on_load;
            for (_, on) in ex.schedule.edges(from, at(now)) {
                let scheduled = self.test.is_some_and(|t| t.until.is_none());
                if on && self.test.is_none() {
                    // A switch away from rest (an outage) skips the week's exercise.
                    let _ = self.start_test(now, on_load, None, events);
                } else if !on && scheduled {
                    let _ = self.end_test(now, TestEnd::Schedule, events);
                }
            }
        }
        self.last = Some(now);
        if let Some(t) = self.test {
            if t.until.is_some_and(|u| now >= u) {
                let _ = self.end_test(now, TestEnd::Timer, events);
            } else if t.on_load && self.state == AtsState::OnBackup && !ok.backup {
                let _ = self.end_test(now, TestEnd::BackupLost, events);
            }
        }
    }

    pub fn state(&self) -> AtsState {
        self.state
    }

    /// The source the transfer logic wants on the bus.
    pub fn preferred(&self) -> SourceId {
        match self.state {
            AtsState::OnBackup | AtsState::Retransfer { .. } => SourceId::Backup,
            _ => SourceId::Main,
        }
    }

    /// Whether a main that opened must stay open: after a brownout is declared and until the
    /// load has moved, it failed too often to be closed again onto its fault at each dropout.
    pub fn main_barred(&self) -> bool {
        self.committed
            && matches!(
                self.state,
                AtsState::StartDelay { .. }
                    | AtsState::Starting { .. }
                    | AtsState::TransferDelay { .. }
            )
    }

    pub fn engine_start(&self) -> bool {
        self.engine
    }

    pub fn step(&mut self, now: Instant, ok: SourcesOk, events: &mut Vec<Event>) {
        self.run_tests(now, ok, events);
        // On load, a test hides the main from the sequence (it still feeds a real outage's end).
        let ok = match self.test {
            Some(Test { on_load: true, .. }) => SourcesOk {
                main: false,
                main_dropouts: 0,
                ..ok
            },
            _ => ok,
        };
        let main = Subject::Source(SourceId::Main);
        let backup = Subject::Source(SourceId::Backup);
        let mut emit = |subject: &Subject, kind| events.push(Event::new(now, subject, kind));
        let elapsed = |since: Instant| now.since(since);
        let brownout = ok.main_dropouts >= self.s.dropouts_to_transfer.max(1) as usize;

        self.state = match self.state {
            AtsState::Normal | AtsState::Failing { .. } if ok.main => AtsState::Normal,
            AtsState::Normal => AtsState::Failing { since: now },
            s => s,
        };
        if let AtsState::Failing { since } = self.state {
            let long = elapsed(since) >= self.s.momentary_override.duration();
            if long || brownout {
                self.outage_at = Some(now);
                self.committed = !long;
                emit(&main, EventKind::Outage { brownout: !long });
                self.state = AtsState::StartDelay { since: now };
            }
        }
        let main_ok = ok.main && !self.committed;
        if let AtsState::StartDelay { since } = self.state
            && !main_ok
            && elapsed(since) >= self.s.engine_start_delay.duration()
        {
            self.state = AtsState::Starting { since: now };
        }
        match self.state {
            AtsState::StartDelay { .. }
            | AtsState::Starting { .. }
            | AtsState::TransferDelay { .. }
                if main_ok =>
            {
                // Main is back before the load moved: stay, and cool the engine if it ran.
                self.restore(now, &mut emit);
                if self.engine {
                    emit(&backup, EventKind::TransferCancelled);
                    self.cooldown_until = Some(now + self.s.cooldown.duration());
                }
                self.state = AtsState::Normal;
            }
            AtsState::Starting { since } => {
                if ok.backup {
                    self.state = AtsState::TransferDelay { since: now };
                } else if !self.transfer_fail
                    && elapsed(since) >= self.s.transfer_fail_time.duration()
                {
                    self.transfer_fail = true;
                    emit(
                        &backup,
                        EventKind::Alarm {
                            alarm: Alarm::TransferFail,
                        },
                    );
                }
            }
            AtsState::TransferDelay { since } => {
                if !ok.backup {
                    self.state = AtsState::Starting { since: now };
                } else if elapsed(since) >= self.s.transfer_delay.duration() {
                    emit(&backup, EventKind::Transfer);
                    self.committed = false;
                    self.state = AtsState::OnBackup;
                }
            }
            AtsState::OnBackup if ok.main => {
                self.restore(now, &mut emit);
                self.state = AtsState::Retransfer { since: now };
            }
            AtsState::Retransfer { since } => {
                if !ok.main {
                    self.state = AtsState::OnBackup;
                } else if !ok.backup {
                    emit(&main, EventKind::Retransfer { early: true });
                    self.state = AtsState::Normal;
                } else if elapsed(since) >= self.s.retransfer_delay.duration() {
                    emit(&main, EventKind::Retransfer { early: false });
                    self.cooldown_until = Some(now + self.s.cooldown.duration());
                    self.state = AtsState::Normal;
                }
            }
            _ => {}
        }
        if self.transfer_fail && ok.backup {
            self.transfer_fail = false;
            emit(
                &backup,
                EventKind::AlarmCleared {
                    alarm: Alarm::TransferFail,
                },
            );
        }
        let stranded = self.state == AtsState::OnBackup && !ok.backup;
        if stranded != self.backup_lost {
            self.backup_lost = stranded;
            let alarm = Alarm::BackupLost;
            let kind = if stranded {
                EventKind::Alarm { alarm }
            } else {
                EventKind::AlarmCleared { alarm }
            };
            emit(&backup, kind);
        }

        if self.cooldown_until.is_some_and(|t| now >= t) {
            self.cooldown_until = None;
        }
        let engine = matches!(
            self.state,
            AtsState::Starting { .. }
                | AtsState::TransferDelay { .. }
                | AtsState::OnBackup
                | AtsState::Retransfer { .. }
        ) || self.cooldown_until.is_some()
            || self.test.is_some_and(|t| !t.on_load);
        if engine != self.engine {
            self.engine = engine;
            let kind = if engine {
                EventKind::EngineStart
            } else {
                EventKind::EngineStop
            };
            emit(&backup, kind);
        }
    }

    fn restore(&mut self, now: Instant, emit: &mut impl FnMut(&Subject, EventKind)) {
        if let Some(at) = self.outage_at.take() {
            let outage_s = now.since(at).as_secs_f64();
            emit(
                &Subject::Source(SourceId::Main),
                EventKind::Restore { outage_s },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secs;

    fn run(
        ats: &mut Ats,
        from: f64,
        to: f64,
        ok: impl Fn(f64) -> (bool, bool),
    ) -> Vec<(f64, &'static str)> {
        let mut events = Vec::new();
        let mut t = from;
        while t < to {
            let (main, backup) = ok(t);
            ats.step(
                Instant::from_secs_f64(t),
                SourcesOk {
                    main,
                    backup,
                    main_dropouts: 0,
                },
                &mut events,
            );
            t += 0.1;
        }
        named(&events)
    }

    /// Monday 2026-01-05 00:00.
    fn epoch() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    fn timers() -> AtsSettings {
        AtsSettings {
            retransfer_delay: Secs::new(10.0).unwrap(),
            cooldown: Secs::new(20.0).unwrap(),
            ..AtsSettings::default()
        }
    }

    /// The backup is acceptable 5 s after its engine starts.
    fn backup_after_start(ats: &Ats, since: &mut Option<f64>, t: f64) -> bool {
        match (ats.engine_start(), *since) {
            (true, None) => {
                *since = Some(t);
                false
            }
            (true, Some(s)) => t - s >= 5.0,
            (false, _) => {
                *since = None;
                false
            }
        }
    }

    /// Steps of 0.1 s over [from, to) with the main healthy and a backup that starts in 5 s.
    fn run_healthy(ats: &mut Ats, from: f64, to: f64, events: &mut Vec<Event>) {
        let mut since = None;
        let mut t = from;
        while t < to - 1e-9 {
            let backup = backup_after_start(ats, &mut since, t);
            let ok = SourcesOk {
                main: true,
                backup,
                main_dropouts: 0,
            };
            ats.step(Instant::from_secs_f64(t), ok, events);
            t += 0.1;
        }
    }

    /// Each event's time and kind.
    fn named(events: &[Event]) -> Vec<(f64, &'static str)> {
        events.iter().map(|e| (e.t, e.kind.name())).collect()
    }

    fn kinds(named: &[(f64, &'static str)]) -> Vec<&'static str> {
        named.iter().map(|e| e.1).collect()
    }

    #[test]
    fn a_test_on_load_moves_the_load_and_brings_it_back_without_an_outage() {
        let mut ats = Ats::new(timers(), epoch());
        let mut ev = Vec::new();
        run_healthy(&mut ats, 0.0, 10.0, &mut ev);
        ats.start_test(Instant::from_secs_f64(10.0), true, Some(1), &mut ev)
            .unwrap();
        assert!(
            ats.start_test(Instant::from_secs_f64(10.0), true, Some(1), &mut ev)
                .unwrap_err()
                .contains("already running")
        );
        run_healthy(&mut ats, 10.0, 120.0, &mut ev);
        let ev = named(&ev);
        let names = kinds(&ev);
        assert_eq!(
            names,
            [
                "test_started",
                "engine_start",
                "transfer",
                "test_ended",
                "retransfer",
                "engine_stop"
            ]
        );
        let at = |n: &str| ev.iter().find(|e| e.1 == n).unwrap().0;
        // Start 10 s, backup good 5 s later, 1 s transfer delay; the minute's timer; the 10 s
        // retransfer delay; the 20 s cooldown.
        assert!((at("transfer") - 16.1).abs() < 0.25, "{ev:?}");
        assert!((at("test_ended") - 70.0).abs() < 0.15);
        assert!((at("retransfer") - 80.0).abs() < 0.25);
        assert!((at("engine_stop") - 100.0).abs() < 0.25);
        assert_eq!(ats.state(), AtsState::Normal);
        assert_eq!(ats.testing(), None);
    }

    #[test]
    fn a_test_off_load_runs_the_engine_only_and_cools_it_down() {
        let mut ats = Ats::new(timers(), epoch());
        let mut ev = Vec::new();
        ats.start_test(Instant::ZERO, false, Some(2), &mut ev)
            .unwrap();
        run_healthy(&mut ats, 0.0, 30.0, &mut ev);
        assert_eq!(ats.preferred(), SourceId::Main);
        ats.end_test(Instant::from_secs_f64(30.0), TestEnd::Operator, &mut ev)
            .unwrap();
        run_healthy(&mut ats, 30.0, 60.0, &mut ev);
        let ev = named(&ev);
        let names = kinds(&ev);
        assert_eq!(
            names,
            ["test_started", "engine_start", "test_ended", "engine_stop"]
        );
        assert!((ev[3].0 - 50.0).abs() < 0.15, "{ev:?}");
    }

    #[test]
    fn a_test_is_refused_during_an_outage_and_ends_at_once_when_the_backup_fails() {
        let mut ats = Ats::new(timers(), epoch());
        let mut ev = Vec::new();
        // An outage: the main has been gone 5 s.
        run(&mut ats, 0.0, 5.0, |_| (false, false));
        let refused = ats.start_test(Instant::from_secs_f64(5.0), true, Some(10), &mut ev);
        assert!(refused.unwrap_err().contains("not at rest"));

        let mut ats = Ats::new(timers(), epoch());
        ats.start_test(Instant::ZERO, true, Some(10), &mut ev)
            .unwrap();
        // The backup carries the load from about 6 s and fails at 30 s.
        let ev = run(&mut ats, 0.0, 40.0, |t| (true, (5.0..30.0).contains(&t)));
        let names = kinds(&ev);
        assert_eq!(
            names,
            [
                "engine_start",
                "transfer",
                "test_ended",
                "retransfer",
                "engine_stop"
            ],
            "{ev:?}"
        );
        assert!(
            (ev[2].0 - 30.0).abs() < 0.15 && (ev[3].0 - 30.1).abs() < 0.15,
            "{ev:?}"
        );
    }

    /// An off-load exercise on Mondays from 00:01 to 00:03.
    fn weekly_exercise() -> AtsSettings {
        use crate::schedule::{Day, Schedule, TimeOfDay};
        let tod = |h, m| TimeOfDay(chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap());
        AtsSettings {
            exercise: Some(Exercise {
                schedule: Schedule::Weekly {
                    days: vec![Day::Mon],
                    on: tod(0, 1),
                    off: tod(0, 3),
                },
                on_load: false,
            }),
            ..timers()
        }
    }

    #[test]
    fn the_weekly_exercise_runs_in_its_window() {
        let mut ats = Ats::new(weekly_exercise(), epoch());
        let mut ev = Vec::new();
        run_healthy(&mut ats, 0.0, 240.0, &mut ev);
        let ended = ev.iter().find(|e| e.kind.name() == "test_ended").unwrap();
        assert_eq!(
            ended.kind,
            EventKind::TestEnded {
                on_load: false,
                why: TestEnd::Schedule
            }
        );
        let ev = named(&ev);
        let names = kinds(&ev);
        assert_eq!(
            names,
            ["test_started", "engine_start", "test_ended", "engine_stop"]
        );
        let times: Vec<f64> = ev.iter().map(|e| (e.0 * 10.0).round() / 10.0).collect();
        assert_eq!(times, [60.0, 60.0, 180.0, 200.0], "{ev:?}");

        // Taken away inside its window, the exercise ends at once and does not come back.
        let mut ats = Ats::new(weekly_exercise(), epoch());
        let mut ev = Vec::new();
        run_healthy(&mut ats, 0.0, 90.0, &mut ev);
        ats.set_exercise(Instant::from_secs_f64(90.0), None, &mut ev);
        run_healthy(&mut ats, 90.0, 240.0, &mut ev);
        let ev = named(&ev);
        let names = kinds(&ev);
        assert_eq!(
            names,
            ["test_started", "engine_start", "test_ended", "engine_stop"]
        );
        assert!((ev[2].0 - 90.0).abs() < 0.15, "{ev:?}");
    }

    #[test]
    fn outage_transfer_retransfer_cooldown_sequence() {
        let s = AtsSettings {
            retransfer_delay: Secs::new(60.0).unwrap(),
            cooldown: Secs::new(30.0).unwrap(),
            ..AtsSettings::default()
        };
        let mut ats = Ats::new(s, epoch());
        // Main dies at 10 s and returns at 100 s; backup is good 8 s after its start.
        let ev = run(&mut ats, 0.0, 250.0, |t| {
            let main = !(10.0..100.0).contains(&t);
            (main, (21.0..230.0).contains(&t))
        });
        let names = kinds(&ev);
        assert_eq!(
            names,
            [
                "outage",
                "engine_start",
                "transfer",
                "restore",
                "retransfer",
                "engine_stop"
            ]
        );
        let at = |n: &str| ev.iter().find(|e| e.1 == n).unwrap().0;
        assert!((at("outage") - 13.0).abs() < 0.15, "momentary override 3 s");
        assert!((at("transfer") - 22.0).abs() < 0.15, "transfer delay 1 s");
        assert!(
            (at("retransfer") - 160.0).abs() < 0.15,
            "retransfer delay 60 s"
        );
        assert!((at("engine_stop") - 190.0).abs() < 0.15, "cooldown 30 s");
    }

    #[test]
    fn momentary_outage_is_ridden_through() {
        let mut ats = Ats::new(AtsSettings::default(), epoch());
        let ev = run(&mut ats, 0.0, 60.0, |t| (!(10.0..12.0).contains(&t), false));
        assert!(ev.is_empty(), "{ev:?}");
        assert_eq!(ats.preferred(), SourceId::Main);
    }

    #[test]
    fn backup_that_never_comes_raises_transfer_fail() {
        let mut ats = Ats::new(AtsSettings::default(), epoch());
        let ev = run(&mut ats, 0.0, 60.0, |t| (t < 5.0, false));
        assert!(
            ev.iter()
                .any(|e| e.1 == "alarm" && (e.0 - 38.0).abs() < 0.15)
        );
        assert!(ats.engine_start(), "keeps cranking");
    }
}
