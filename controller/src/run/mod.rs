//! Running a scenario in simulated time: timeline in, controller and twin stepped together,
//! expectations checked, events and a time series recorded.

pub mod balancing;
pub mod expect;
mod feeder;
pub mod output;
pub mod summary;

use std::collections::BTreeMap;

use reports::Series;
use sim::{Pdu, SourceId};

use crate::backend::{Backend, SimBackend};
use crate::core::measurement::Window;
use crate::core::metering::PduMetering;
use crate::core::transfer::AtsState;
use crate::core::{Controller, Event, Instant, LoadStatus, Status};
use crate::scenario::format::{Action, Fidelity, Target};
use crate::scenario::{Loaded, Scenario, Site};
pub use expect::Outcome;
pub use feeder::FeederRun;
pub(crate) use feeder::head_buses;

/// Everything a run leaves behind.
#[derive(Debug, Clone)]
pub struct Run {
    pub name: String,
    pub steps: u64,
    pub duration: f64,
    pub events: Vec<Event>,
    pub series: Series,
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
}

impl Run {
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.pass)
    }
}

/// Things the timeline undoes when their duration ends.
#[derive(Debug, Clone)]
enum Undo {
    Short(usize),
    Sensor(Target),
}

/// A run's fixed step in integer microseconds, how many there are, and when a step is
/// recorded and the progress reported.
struct Stepping {
    dt_us: u64,
    dt: f64,
    steps: u64,
    record_us: u64,
    next_record: u64,
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
            report_every: (steps / 200).max(1),
        }
    }

    /// The start of step `k`, telling `progress` now and then how far the run is.
    fn start(&self, k: u64, progress: &mut impl FnMut(f64)) -> Instant {
        if k.is_multiple_of(self.report_every) {
            progress(k as f64 / self.steps as f64);
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

    fn duration(&self) -> f64 {
        self.steps as f64 * self.dt
    }
}

/// Timeline actions flattened (repeats expanded) and in time order, as step instants.
fn schedule(s: &Scenario) -> Vec<(Instant, Action)> {
    let mut out = Vec::new();
    for e in &s.timeline {
        let mut push = |t: f64, a: &Action| out.push((Instant::from_secs_f64(t), a.clone()));
        match &e.action {
            Action::Repeat {
                every,
                count,
                action,
            } => {
                for k in 0..*count {
                    push(e.at.get() + every.get() * f64::from(k), action);
                }
            }
            a => push(e.at.get(), a),
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// One step as an observer sees it: the time after the step, the twin, the controller and the
/// events the step produced.
pub struct StepView<'a> {
    pub t: f64,
    pub pdu: &'a Pdu,
    pub controller: &'a Controller,
    pub events: &'a [Event],
}

/// Run the scenario to its end. `progress` is told the simulated fraction done now and then.
pub fn run(l: &Loaded, progress: impl FnMut(f64)) -> Run {
    run_observed(l, progress, |_| {})
}

/// As `run`, calling `observe` after every step of a PDU run.
pub fn run_observed(
    l: &Loaded,
    mut progress: impl FnMut(f64),
    mut observe: impl FnMut(&StepView),
) -> Run {
    let spec = match &l.site {
        Site::Pdu(p) => p,
        Site::Feeder(f) => return feeder::run(l, f, progress),
    };
    let s = &l.scenario;
    let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut ctl = Controller::new(
        spec.nominal_v,
        spec.nominal_hz,
        &names,
        &s.controller,
        s.start.0,
        None,
    )
    .expect("validated by the loader");
    let pdu = Pdu::new(spec);
    let mut backend = match &s.fidelity {
        Fidelity::Phasor => SimBackend::new(pdu),
        Fidelity::Waveform(w) => {
            SimBackend::sampled(pdu, w, spec.nominal_v, spec.nominal_hz, spec.seed)
        }
    };
    let mut checker = expect::Checker::new(s, &backend.pdu);
    let mut series = Series::new(reports::schema::pdu_columns(&names));
    let actions = schedule(s);
    let mut next_action = 0;
    let mut undo: Vec<(Instant, Undo)> = Vec::new();
    let mut events = Vec::new();
    let mut energy = vec![0.0; names.len() + 2];

    let mut clock = Stepping::new(s);
    let dt = clock.dt;
    let mut row = Vec::with_capacity(series.names().len());
    let mut m = crate::core::Measurements::default();

    for k in 0..clock.steps {
        let now = clock.start(k, &mut progress);
        while let Some((t, a)) = actions.get(next_action)
            && *t <= now
        {
            apply(a, now, &mut backend.pdu, &mut ctl, &index, &mut undo);
            next_action += 1;
        }
        undo.retain(|(t, u)| {
            if *t > now {
                return true;
            }
            match u {
                Undo::Short(i) => backend.pdu.loads[*i].short_ohm = None,
                Undo::Sensor(Target::Load(n)) => {
                    backend.pdu.set_load_sensor_fault(index[n.as_str()], None)
                }
                Undo::Sensor(Target::Source(id)) => backend.pdu.set_source_sensor_fault(*id, None),
            }
            false
        });
        backend.measure(&mut m);
        backend.actuate(ctl.step(now, &m), dt);
        let first_new = events.len();
        events.extend(ctl.drain_events());
        let t = (k + 1) as f64 * dt;
        checker.observe(t, dt, &backend.pdu, &ctl);
        observe(&StepView {
            t,
            pdu: &backend.pdu,
            controller: &ctl,
            events: &events[first_new..],
        });
        // A row stands for the interval it starts, with the energy registers at its start.
        if clock.record_due(now) {
            record(&mut row, &backend.pdu, &ctl, &energy);
            series.push(now.as_secs_f64(), &row);
        }
        let truth = backend.pdu.truth();
        for (e, l) in energy.iter_mut().zip(&truth.loads) {
            *e += l.p * dt;
        }
        energy[names.len()] += truth.main.p * dt;
        energy[names.len() + 1] += truth.backup.p * dt;
    }
    // The last row closes the registers at the end of the run.
    record(&mut row, &backend.pdu, &ctl, &energy);
    series.push(clock.duration(), &row);
    progress(1.0);
    let energy_kwh: Vec<(String, f64)> = names
        .iter()
        .cloned()
        .chain(["main".to_string(), "backup".to_string()])
        .zip(energy.iter().map(|j| j / 3.6e6))
        .collect();
    Run {
        name: s.name.clone(),
        steps: clock.steps,
        duration: clock.duration(),
        outcomes: checker.finish(&events),
        events,
        series,
        site: SiteRun::Pdu(PduRun {
            final_status: ctl.status(),
            energy_kwh,
            metered: backend
                .metering()
                .map(|m| metered(m, &names))
                .unwrap_or_default(),
        }),
        baseline: None,
    }
}

fn apply(
    a: &Action,
    now: Instant,
    pdu: &mut Pdu,
    ctl: &mut Controller,
    index: &BTreeMap<&str, usize>,
    undo: &mut Vec<(Instant, Undo)>,
) {
    let t = pdu.time();
    let until = |d: Option<crate::core::settings::Secs>| d.map_or(f64::INFINITY, |d| t + d.get());
    let later = |d: crate::core::settings::Secs| now + d.duration();
    match a {
        Action::Outage { source, duration } => pdu
            .source_mut(*source)
            .set_voltage_pu(0.0, until(*duration)),
        Action::Sag {
            source,
            pu,
            duration,
        }
        | Action::Swell {
            source,
            pu,
            duration,
        } => pdu
            .source_mut(*source)
            .set_voltage_pu(pu.get(), until(Some(*duration))),
        Action::FrequencyExcursion {
            source,
            hz,
            duration,
        } => pdu
            .source_mut(*source)
            .set_frequency(hz.get(), until(Some(*duration))),
        Action::FailToStart { source } => pdu.source_mut(*source).set_fail_to_start(true),
        Action::ShortCircuit {
            load,
            ohms,
            duration,
        } => {
            let i = index[load.as_str()];
            pdu.loads[i].short_ohm = Some(*ohms);
            if let Some(d) = duration {
                undo.push((later(*d), Undo::Short(i)));
            }
        }
        Action::LoadStep { load, factor } => pdu.loads[index[load.as_str()]].scale = *factor,
        Action::WeldRelay { load } => pdu.set_welded(index[load.as_str()], true),
        Action::SensorFault {
            target,
            fault,
            duration,
        } => {
            match target {
                Target::Load(n) => pdu.set_load_sensor_fault(index[n.as_str()], Some(*fault)),
                Target::Source(id) => pdu.set_source_sensor_fault(*id, Some(*fault)),
            }
            if let Some(d) = duration {
                undo.push((later(*d), Undo::Sensor(target.clone())));
            }
        }
        Action::Operator(cmd) => {
            // Names were validated when the scenario was loaded.
            let _ = ctl.operator(now, cmd);
        }
        Action::Repeat { .. } => unreachable!("expanded by schedule()"),
        // Refused for a PDU by the loader.
        Action::PhaseSelect { .. } | Action::Tap { .. } => {}
    }
}

/// What the coded columns' numbers mean, for the report.
fn codes() -> BTreeMap<String, Vec<String>> {
    use reports::schema::{FEEDING, GENERATOR, SWITCH};
    let labels = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    BTreeMap::from([
        ("relay".into(), labels(&SWITCH)),
        ("main_closed".into(), labels(&SWITCH)),
        ("backup_closed".into(), labels(&SWITCH)),
        ("backup_running".into(), labels(&GENERATOR)),
        ("source".into(), labels(&FEEDING)),
        ("status".into(), labels(&LoadStatus::NAMES)),
        ("ats".into(), labels(&AtsState::NAMES)),
    ])
}

/// One row: the twin's truth, the controller's states and the energy registers (J, loads then
/// main and backup).
fn record(row: &mut Vec<f64>, pdu: &Pdu, ctl: &Controller, energy_j: &[f64]) {
    let t = pdu.truth();
    let b = |x: bool| f64::from(u8::from(x));
    let kwh = |j: f64| j / 3.6e6;
    let n = t.loads.len();
    row.clear();
    for (s, j) in [(&t.main, energy_j[n]), (&t.backup, energy_j[n + 1])] {
        row.extend([s.v, s.hz, s.i, s.p / 1e3, s.q / 1e3, kwh(j)]);
    }
    row.extend([
        t.bus_v,
        t.bus_hz,
        b(pdu.main_closed()),
        b(pdu.backup_closed()),
        b(pdu.backup_state() != sim::source::GenState::Stopped),
        // The source whose contactor feeds the bus.
        if pdu.main_closed() {
            1.0
        } else if pdu.backup_closed() {
            2.0
        } else {
            0.0
        },
        f64::from(ctl.ats_state().code()),
    ]);
    for (i, l) in t.loads.iter().enumerate() {
        let status: LoadStatus = ctl.load_status(i);
        let s = l.p.hypot(l.q);
        let pf = if s > 1e-9 { l.p / s } else { f64::NAN };
        row.extend([
            l.v,
            l.i,
            l.p / 1e3,
            l.q / 1e3,
            pf,
            b(pdu.relay_closed(i)),
            f64::from(status.code()),
            kwh(energy_j[i]),
        ]);
    }
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
        use reports::schema::status;
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
