//! Running a scenario in simulated time: timeline in, controller and twin stepped together,
//! expectations checked, events kept and a time series recorded as it goes (`output::Tapes`).

pub mod expect;
mod feeder;
mod feeder_loop;
mod field_loop;
pub mod output;
mod row;
mod samples;
mod site;
pub mod summary;
mod twin;
pub(crate) use twin::schedule;

use std::collections::BTreeMap;

use grid_types::SourceId;
use sim::Pdu;

use crate::scenario::{Loaded, Scenario};
use control_core::AtsState;
use control_core::PduMetering;
use control_core::measurement::Window;
use control_core::{Controller, Event, Instant, LoadStatus, Status};
pub use expect::Outcome;
pub use feeder::FeederRun;
pub use feeder_loop::{FeederLoop, FeederReading, HeadReading};
pub use field_loop::{FieldLoop, HeadNow, HomeNow, v_range};
pub use output::Tapes;
pub use site::{Rig, SiteLoop};
pub use twin::{NoPduLoop, PduLoop};

/// Everything a run leaves behind.
#[derive(Debug, Clone)]
pub struct Run {
    pub name: String,
    pub steps: u64,
    pub duration: f64,
    pub events: Vec<Event>,
    /// Rows recorded (whether or not something kept them).
    pub rows: u64,
    pub outcomes: Vec<Outcome>,
    pub site: SiteRun,
    /// With balancing: the same day with the balancer off.
    pub baseline: Option<Box<Run>>,
}

/// What a run leaves that depends on its grid.
#[derive(Debug, Clone)]
pub enum SiteRun {
    Pdu(PduRun),
    Feeder(feeder::FeederRun),
}

#[derive(Debug, Clone)]
pub struct PduRun {
    pub final_status: Status,
    /// Energy per load and per source, kWh, in grid order then main, backup.
    pub energy_kwh: Vec<(String, f64)>,
    /// Waveform runs: the controller's last 10/12-cycle window of each load, then each source.
    pub metered: Vec<(String, Window)>,
    /// Waveform runs: the sampled channels around each trip.
    pub faults: Vec<record::FaultRecord>,
}

impl Run {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.pass)
    }
}

/// A run's fixed step in integer microseconds, how many there are, and when a step is
/// recorded and the progress reported.
struct Stepping {
    dt_us: u64,
    dt: f64,
    steps: u64,
    record_us: u64,
    next_record: u64,
    /// Steps begun so far.
    done: u64,
    report_every: u64,
}

impl Stepping {
    fn new(s: &Scenario) -> Self {
        let dt_us = (s.step() * 1e6).round().max(1.0) as u64;
        let steps = (s.duration.get() * 1e6 / dt_us as f64).round() as u64;
        Stepping {
            dt_us,
            dt: dt_us as f64 / 1e6,
            steps,
            record_us: (s.record_every() * 1e6).round() as u64,
            next_record: 0,
            done: 0,
            report_every: (steps / 200).max(1),
        }
    }

    /// The start of step `k`, telling `progress` now and then how far the run is.
    fn start(&self, k: u64, progress: &mut impl FnMut(Progress)) -> Instant {
        if k.is_multiple_of(self.report_every) {
            progress(Progress {
                done: k as f64 / self.steps as f64,
                t: k as f64 * self.dt,
            });
        }
        Instant::from_micros(k * self.dt_us)
    }

    /// Whether the step starting at `now` is recorded.
    fn record_due(&mut self, now: Instant) -> bool {
        let due = now.as_micros() >= self.next_record;
        if due {
            self.next_record += self.record_us;
        }
        due
    }

    /// Where the run ended: its end, or the step it was stopped at.
    fn finished(&self) -> Progress {
        Progress {
            done: self.done as f64 / self.steps.max(1) as f64,
            t: self.done as f64 * self.dt,
        }
    }

    fn duration(&self) -> f64 {
        self.steps as f64 * self.dt
    }

    /// The next step's number, unless the run is over or `halted`.
    fn next(&mut self, halted: bool) -> Option<u64> {
        (self.done < self.steps && !halted).then(|| {
            self.done += 1;
            self.done - 1
        })
    }

    /// The run ends after the steps it began, short of its scenario's when it was stopped; then
    /// it fails, saying so.
    fn end(&mut self, outcomes: &mut Vec<Outcome>) {
        let done = self.done;
        if done < self.steps {
            outcomes.push(Outcome {
                label: "the run ran to its end".into(),
                pass: false,
                detail: format!(
                    "stopped at {:.3} s of {:.3} s",
                    done as f64 * self.dt,
                    self.duration()
                ),
            });
            self.steps = done;
        }
    }
}

/// How far a run is: the fraction of it done, and the simulated time the part being run has
/// reached (a balancing feeder runs its day twice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: f64,
    pub t: f64,
}

/// One step as an observer sees it: the time after the step, the twin, the controller and the
/// events the step produced.
pub struct StepView<'a> {
    pub t: f64,
    pub pdu: &'a Pdu,
    pub controller: &'a Controller,
    pub events: &'a [Event],
}

/// Run the scenario to its end, keeping no recording. `progress` is told how far it is now and
/// then.
pub fn run(l: &Loaded, progress: impl FnMut(Progress)) -> Run {
    run_observed(l, &mut Tapes::none(), progress, |_| {})
}

/// As `run`, each recorded row handed to `tapes` as the run makes it; `Run::write` then
/// completes the run directory.
pub fn recorded(l: &Loaded, tapes: &mut Tapes, progress: impl FnMut(Progress)) -> Run {
    run_observed(l, tapes, progress, |_| {})
}

/// A scenario's loop always has its twin (`PduLoop::new` makes one).
fn grid(l: &PduLoop) -> &sim::Pdu {
    l.pdu().expect("a scenario run has a twin")
}

/// As `run`, calling `observe` after every step of a PDU run.
pub fn run_observed(
    l: &Loaded,
    tapes: &mut Tapes,
    mut progress: impl FnMut(Progress),
    mut observe: impl FnMut(&StepView),
) -> Run {
    let mut twin = match PduLoop::new(l, None, None) {
        Ok(t) => t,
        Err(NoPduLoop::Feeder(f)) => return feeder::run(l, f, tapes, progress),
        Err(NoPduLoop::Backend(e)) => return not_run(l, e),
    };
    let s = &l.scenario;
    let names = twin.names().to_vec();
    let mut checker = expect::Checker::new(s, grid(&twin));
    let channels: Vec<String> = std::iter::once("t".to_string())
        .chain(twin.channels().into_iter().map(|c| c.name))
        .collect();
    let mut events = Vec::new();
    let mut clock = Stepping::new(s);
    let dt = clock.dt;
    let mut row = Vec::with_capacity(channels.len());
    let mut alerts = match crate::alerts::alerts(&s.alerts, &channels[1..], s.start.0) {
        Ok(a) => a,
        Err(e) => return not_run(l, e.message),
    };
    tapes.open(l, false, &channels);
    let mut faults = Vec::new();

    while let Some(k) = clock.next(tapes.halted()) {
        let now = clock.start(k, &mut progress);
        let first_new = events.len();
        events.extend_from_slice(twin.step());
        twin.take_fault_records(&mut faults);
        let t = (k + 1) as f64 * dt;
        checker.observe(t, dt, grid(&twin), twin.controller());
        observe(&StepView {
            t,
            pdu: grid(&twin),
            controller: twin.controller(),
            events: &events[first_new..],
        });
        // A row stands for the interval it starts: the state the step left, with the energy
        // registers at its start.
        if clock.record_due(now) {
            twin.row(grid(&twin).truth(), twin.step_start_energy_j(), &mut row);
            tapes.push(now.as_secs_f64(), &row);
            alerts.handle_row(now, &row);
            let first_alert = events.len();
            events.extend(alerts.drain_events());
            twin.apply_alerts(&events[first_alert..], &s.alerts);
        }
    }
    let mut outcomes = checker.finish(&events);
    clock.end(&mut outcomes);
    // The last row closes the registers at the end of the run.
    twin.row(grid(&twin).truth(), twin.energy_j(), &mut row);
    tapes.push(clock.duration(), &row);
    progress(clock.finished());
    let energy_kwh: Vec<(String, f64)> = names
        .iter()
        .cloned()
        .chain(["main".to_string(), "backup".to_string()])
        .zip(twin.energy_j().iter().map(|j| j / 3.6e6))
        .collect();
    Run {
        name: s.name.clone(),
        steps: clock.steps,
        duration: clock.duration(),
        outcomes,
        events,
        rows: tapes.rows(),
        site: SiteRun::Pdu(PduRun {
            final_status: twin.controller().status(),
            energy_kwh,
            metered: twin
                .metering()
                .map(|m| metered(m, &names))
                .unwrap_or_default(),
            faults,
        }),
        baseline: None,
    }
}

/// A PDU run whose backend could not be set up: failed, saying why.
fn not_run(l: &Loaded, why: String) -> Run {
    Run {
        name: l.scenario.name.clone(),
        steps: 0,
        duration: 0.0,
        events: Vec::new(),
        rows: 0,
        outcomes: vec![Outcome {
            label: format!("the {:?} backend is set up", l.backend),
            pass: false,
            detail: why,
        }],
        site: SiteRun::Pdu(PduRun {
            final_status: Status::default(),
            energy_kwh: Vec::new(),
            metered: Vec::new(),
            faults: Vec::new(),
        }),
        baseline: None,
    }
}

/// What the coded columns' numbers mean, for the report.
fn codes() -> BTreeMap<String, Vec<String>> {
    record::schema::pdu_codes(&LoadStatus::NAMES, &AtsState::NAMES)
}

fn metered(m: &PduMetering, names: &[String]) -> Vec<(String, Window)> {
    let loads = names.iter().cloned().zip(m.bus.window.iter().copied());
    let sources = [("main", &m.main), ("backup", &m.backup)]
        .map(|(n, meter)| (n.to_string(), meter.window[0]));
    loads
        .chain(sources)
        .filter_map(|(n, w)| w.map(|w| (n, w)))
        .collect()
}

/// Which source is feeding, for summaries.
pub fn feeding(status: &Status) -> Option<SourceId> {
    if status.main_closed {
        Some(SourceId::Main)
    } else if status.backup_closed {
        Some(SourceId::Backup)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_carry_the_names_the_report_counts() {
        use LoadStatus::*;
        for s in [Off, On, Waiting, Shed, Tripped, LockedOut] {
            let serde = serde_json::to_string(&s).unwrap();
            let named = LoadStatus::NAMES[s.code() as usize];
            assert_eq!(
                serde.to_lowercase().replace('"', ""),
                named.replace('_', "")
            );
        }
        use record::schema::status;
        for s in [
            status::ON,
            status::SHED,
            status::TRIPPED,
            status::LOCKED_OUT,
        ] {
            assert!(LoadStatus::NAMES.contains(&s), "{s}");
        }
    }
}
