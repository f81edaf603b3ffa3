//! Running a feeder scenario: at each step the load shapes are read at the step's minute of
//! the day, the timeline acts, one power flow is solved (warm-started from the last), and the
//! expectations and the recording see what the homes and the transformers see.

use num_complex::Complex64 as C64;
use sim::feeder::{Feeder, PowerFlow};

use super::expect::Checker;
use super::feeder_loop::{FeederLoop, Step, current_unbalance_pct, vuf_pct};
use super::samples::Samples;
use super::{Outcome, Progress, Run, SiteRun, Stepping, Tapes};
use crate::field::{BalanceRun, Balancing, Compare};
use crate::scenario::Loaded;
use crate::scenario::format::{Measure, Stat};

/// What a feeder run leaves besides events and its recording.
#[derive(Debug, Clone, Default)]
pub struct FeederRun {
    pub buses: usize,
    pub loads: usize,
    pub solves: u64,
    pub failed: u64,
    pub iterations: u64,
    pub source_kwh: f64,
    pub load_kwh: f64,
    /// Lowest and highest voltage any load saw: (load, pu, t).
    pub lowest: Option<(String, f64, f64)>,
    pub highest: Option<(String, f64, f64)>,
    /// Worst voltage unbalance factor of any three-phase bus: (bus, %, t).
    pub worst_vuf: Option<(String, f64, f64)>,
    /// Per transformer secondary bus: peak current per node (A) and peak residual current.
    pub heads: Vec<Head>,
    /// Regulator taps at the end.
    pub taps: Vec<(String, i32)>,
    /// The home nodes, their link and the balancer, when the scenario has them.
    pub balance: Option<Box<BalanceRun>>,
}

#[derive(Debug, Clone)]
pub struct Head {
    pub bus: String,
    pub peak_a: Vec<(usize, f64)>,
    pub peak_neutral_a: f64,
}

/// A feeder run. With balancing the day is run twice, the balancer off and then on, so the
/// summary and `Reduced` expectations can compare them.
pub(super) fn run(
    l: &Loaded,
    f: &Feeder,
    tapes: &mut Tapes,
    mut progress: impl FnMut(Progress),
) -> Run {
    let Some(b) = &l.scenario.balancing else {
        return simulate(l, f, None, tapes, &mut progress).finish(None);
    };
    let half = |x: Progress, from: f64| Progress {
        done: from + x.done / 2.0,
        ..x
    };
    let off = simulate(l, f, None, tapes, &mut |x| progress(half(x, 0.0)));
    let on = simulate(l, f, Some(b), tapes, &mut |x| progress(half(x, 0.5)));
    on.finish(Some(off))
}

/// One simulated day and what the expectations made of it.
struct Sim {
    run: Run,
    checker: Option<Checker>,
    profile: Profile,
}

impl Sim {
    fn finish(mut self, baseline: Option<Sim>) -> Run {
        let (base_checker, off) = match baseline {
            Some(b) => {
                self.run.baseline = Some(Box::new(b.run));
                (b.checker, Some(b.profile.compare()))
            }
            None => (None, None),
        };
        if let Some(c) = self.checker {
            let stopped = std::mem::take(&mut self.run.outcomes);
            self.run.outcomes = c.finish_against(&self.run.events, base_checker);
            self.run.outcomes.extend(stopped);
        }
        if let SiteRun::Feeder(fr) = &mut self.run.site
            && let Some(b) = &mut fr.balance
        {
            b.on = self.profile.compare();
            b.off = off.unwrap_or_default();
        }
        self.run
    }
}

/// Per step: the worst bus's VUF (%), and the largest residual current (A) and current
/// unbalance (%) of any transformer.
#[derive(Default)]
struct Profile {
    vuf: Samples,
    neutral: Samples,
    unbalance: Samples,
}

impl Profile {
    fn push(&mut self, step: &Step) {
        self.vuf.push(step.worst_vuf.1 as f32);
        let heads = &step.heads;
        let most = |x: &mut dyn Iterator<Item = f64>| x.fold(0.0, f64::max) as f32;
        self.neutral.push(most(&mut heads.iter().map(|h| h.1)));
        self.unbalance
            .push(most(&mut heads.iter().map(|h| current_unbalance_pct(&h.0))));
    }

    fn compare(self) -> Compare {
        if self.vuf.is_empty() {
            return Compare::default();
        }
        Compare {
            vuf_p95: self.vuf.statistic(Stat::P95),
            vuf_max: self.vuf.statistic(Stat::Max),
            neutral_p95: self.neutral.statistic(Stat::P95),
            neutral_max: self.neutral.statistic(Stat::Max),
            unbalance_mean: self.unbalance.statistic(Stat::Mean),
        }
    }
}

fn simulate(
    l: &Loaded,
    f: &Feeder,
    balancing: Option<&Balancing>,
    tapes: &mut Tapes,
    mut progress: &mut dyn FnMut(Progress),
) -> Sim {
    let s = &l.scenario;
    let mut out = FeederRun::default();
    let mut events = Vec::new();
    let mut checker = Checker::for_feeder(s);
    let failed = |label: &str, detail: String, out| Sim {
        run: Run {
            name: s.name.clone(),
            steps: 0,
            duration: 0.0,
            events: Vec::new(),
            rows: 0,
            outcomes: vec![Outcome {
                label: label.into(),
                pass: false,
                detail,
            }],
            site: SiteRun::Feeder(out),
            baseline: None,
        },
        checker: None,
        profile: Profile::default(),
    };
    let mut twin = match FeederLoop::new(l, f, balancing) {
        Ok(x) => x,
        Err((label, e)) => return failed(label, e, out),
    };
    let names: Vec<String> = f.loads.iter().map(|x| x.name.clone()).collect();
    let heads = twin.heads().to_vec();
    let mut profile = Profile::default();
    let pf = twin.pf();
    out.buses = pf.bus_count();
    out.loads = names.len();
    out.heads = heads
        .iter()
        .map(|b| Head {
            bus: b.clone(),
            peak_a: vec![],
            peak_neutral_a: 0.0,
        })
        .collect();
    let three_phase: Vec<String> = pf.three_phase_buses().map(|(b, _)| b.to_string()).collect();

    let channels: Vec<String> = std::iter::once("t".to_string())
        .chain(twin.channels().into_iter().map(|c| c.name))
        .collect();
    let mut alerts = match crate::alerts::alerts(&s.alerts, &channels[1..], s.start.0) {
        Ok(a) => a,
        Err(e) => return failed("the alert rules fit the feeder", e.message, out),
    };
    tapes.open(l, balancing.is_none() && s.balancing.is_some(), &channels);
    let mut row = Vec::with_capacity(channels.len());
    let mut clock = Stepping::new(s);
    while let Some(k) = clock.next(tapes.halted()) {
        clock.start(k, &mut progress);
        twin.step(&mut events, |twin, now, t| {
            let step = twin.last_step().expect("a solved step is kept");
            let pf = twin.pf();
            profile.push(step);
            // A row stands for the step it starts, with the energy registers at its start.
            if clock.record_due(now) {
                twin.row(twin.step_start_energy_j(), &mut row);
                tapes.push(now.as_secs_f64(), &row);
                alerts.handle_row(now, &row);
            }
            tally(&mut out, step, t, &names, &three_phase);
            checker.observe_feeder(t, |m, samples| {
                measure(m, pf, step, samples);
            });
        });
        events.extend(alerts.drain_events());
    }
    let mut stopped = Vec::new();
    clock.end(&mut stopped);
    // The last row closes the registers at the end of the run.
    if twin.last_step().is_some() {
        twin.row(twin.energy_j(), &mut row);
        tapes.push(clock.duration(), &row);
    }
    let kwh = |j: &f64| j / record::schema::J_PER_KWH;
    let (homes, source) = twin.energy_j().split_at(names.len());
    out.source_kwh = source.iter().map(kwh).sum();
    out.load_kwh = homes.iter().map(kwh).sum();
    progress(clock.finished());
    out.solves = twin.solves;
    out.failed = twin.failed;
    out.iterations = twin.iterations;
    let taps = twin.pf().taps().to_vec();
    out.taps = twin.regulators.into_iter().zip(taps).collect();
    out.balance = twin.field.map(|f| Box::new(f.finish()));
    Sim {
        run: Run {
            name: s.name.clone(),
            steps: clock.steps,
            duration: clock.duration(),
            outcomes: stopped,
            events,
            rows: tapes.rows(),
            site: SiteRun::Feeder(out),
            baseline: None,
        },
        checker: Some(checker),
        profile,
    }
}

fn measure(m: &Measure, pf: &PowerFlow, step: &Step, out: &mut Samples) {
    match m {
        Measure::Voltage { bus: None } => out.extend(step.loads.iter().map(|x| x.1 as f32)),
        Measure::Voltage { bus: Some(b) } => {
            out.extend(pf.bus_pu(b).unwrap_or_default().iter().map(|x| x.1 as f32));
        }
        Measure::Vuf { bus: None } => out.push(step.worst_vuf.1 as f32),
        Measure::Vuf { bus: Some(b) } => {
            if let Some(v) = pf.bus_abc(b) {
                out.push(vuf_pct(v) as f32);
            }
        }
        Measure::NeutralCurrent { bus } => {
            let i = pf.bus_inflow(bus).unwrap_or_default();
            out.push(i.iter().map(|x| x.1).sum::<C64>().norm() as f32);
        }
        Measure::CurrentUnbalance { bus } => {
            out.push(current_unbalance_pct(&pf.bus_inflow(bus).unwrap_or_default()) as f32);
        }
        Measure::SourceKw => out.push((step.source.re / 1e3) as f32),
    }
}

fn tally(out: &mut FeederRun, step: &Step, t: f64, names: &[String], three_phase: &[String]) {
    for (name, &(_, v, _)) in names.iter().zip(&step.loads) {
        if out.lowest.as_ref().is_none_or(|x| v < x.1) {
            out.lowest = Some((name.clone(), v, t));
        }
        if out.highest.as_ref().is_none_or(|x| v > x.1) {
            out.highest = Some((name.clone(), v, t));
        }
    }
    let (b, vuf) = step.worst_vuf;
    if !three_phase.is_empty() && out.worst_vuf.as_ref().is_none_or(|x| vuf > x.1) {
        out.worst_vuf = Some((three_phase[b].clone(), vuf, t));
    }
    for (h, (i, residual)) in out.heads.iter_mut().zip(&step.heads) {
        if h.peak_a.is_empty() {
            h.peak_a = i.iter().map(|x| (x.0, 0.0)).collect();
        }
        for (p, x) in h.peak_a.iter_mut().zip(i) {
            p.1 = p.1.max(x.1.norm());
        }
        h.peak_neutral_a = h.peak_neutral_a.max(*residual);
    }
}

/// What the coded channels' numbers mean, for the report.
pub(super) fn codes() -> std::collections::BTreeMap<String, Vec<String>> {
    record::schema::feeder_codes()
}
