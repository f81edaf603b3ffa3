//! The feeder twin stepped one power flow at a time (`FeederLoop`): what the batch run, the
//! live service and the window all drive, and what a solved step reads as.

use chrono::Timelike;
use grid_types::Phase;
use num_complex::Complex64 as C64;
use sim::feeder::{Feeder, PowerFlow};

use super::schedule;
use crate::field::{Balancing, Nodes};
use crate::scenario::format::{Action, BackendKind};
use crate::scenario::{Loaded, feeder_load};
use control_core::{Event, EventKind, Instant};

/// One solved step as the checks and the recorder read it.
pub(super) struct Step {
    /// Per load: node, voltage pu, power W + j var.
    pub(super) loads: Vec<(usize, f64, C64)>,
    /// Worst VUF this step: (bus index among the three-phase buses, %).
    pub(super) worst_vuf: (usize, f64),
    /// Per head: current per node, residual.
    pub(super) heads: Vec<(Vec<(usize, C64)>, f64)>,
    pub(super) source: C64,
}

/// The feeder twin stepped one power flow at a time: the timeline's actions, the load shapes at
/// the step's minute of day, a warm-started solve, and (after the caller has looked at the
/// solution) the home nodes' field and balancer up to the step's end. Feeder runs and the live
/// service both drive it.
pub struct FeederLoop {
    pf: PowerFlow,
    pub(super) field: Option<Nodes>,
    heads: Vec<String>,
    pub(super) regulators: Vec<String>,
    actions: Vec<(Instant, Action)>,
    next_action: usize,
    /// When the source returns to its rating after a sag, swell or timed outage.
    source_back: Option<Instant>,
    failing: bool,
    start_min: f64,
    /// The last solved step, as observed before the field acted on it.
    last: Option<Step>,
    /// The fixed step, µs, and how many steps have been taken.
    dt_us: u64,
    k: u64,
    pub(super) solves: u64,
    pub(super) failed: u64,
    pub(super) iterations: u64,
    /// The loads' names, whether each sits on one phase and neutral of the three-phase
    /// network (the others are polyphase or behind a service transformer), the primary phase a
    /// split-phase home's service transformer takes, and each head's nodes as recorded.
    pub(super) homes: Vec<String>,
    pub(super) single: Vec<bool>,
    pub(super) service: Vec<Option<usize>>,
    pub(super) head_nodes: Vec<Vec<usize>>,
    /// Energy registers over the solved steps, J: each home, then the source; and as they
    /// were at the start of the last step.
    energy: Vec<f64>,
    energy_start: Vec<f64>,
}

impl FeederLoop {
    /// The feeder compiled and the field set up, or what failed: (what, why).
    pub fn new(
        l: &Loaded,
        f: &Feeder,
        balancing: Option<&Balancing>,
    ) -> Result<Self, (&'static str, String)> {
        let s = &l.scenario;
        let pf = PowerFlow::new(f).map_err(|e| ("the feeder compiles", e.to_string()))?;
        let heads = pf.head_buses();
        let emulate = l.backend == BackendKind::EmulatedField;
        let head = heads.first().map(String::as_str);
        let field = match balancing.map(|b| Nodes::new(b, &pf, head, emulate)) {
            Some(Err(e)) => return Err(("the balancing is set up", e)),
            Some(Ok(x)) => Some(x),
            None => None,
        };
        let start = s.start.0.time();
        let head_nodes = crate::channels::head_nodes(&pf, &heads);
        let service = pf.service_phases();
        let n = f.loads.len();
        Ok(FeederLoop {
            homes: f.loads.iter().map(|x| x.name.clone()).collect(),
            single: f
                .loads
                .iter()
                .zip(&service)
                .map(|(x, s)| x.phases == 1 && x.conn == sim::feeder::Conn::Wye && s.is_none())
                .collect(),
            service,
            head_nodes,
            energy: vec![0.0; n + 1],
            energy_start: vec![0.0; n + 1],
            regulators: f.regulators.iter().map(|r| r.name.clone()).collect(),
            pf,
            field,
            heads,
            actions: schedule(s),
            next_action: 0,
            source_back: None,
            failing: false,
            start_min: f64::from(start.num_seconds_from_midnight()) / 60.0,
            last: None,
            dt_us: (s.step() * 1e6).round().max(1.0) as u64,
            k: 0,
            solves: 0,
            failed: 0,
            iterations: 0,
        })
    }

    /// The fixed step, s.
    pub fn dt(&self) -> f64 {
        self.dt_us as f64 / 1e6
    }

    /// Simulated time, s: the end of the last step.
    pub fn now_s(&self) -> f64 {
        (self.k * self.dt_us) as f64 / 1e6
    }

    /// Simulated time as the core counts it: the start of the next step.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.k * self.dt_us)
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.k
    }

    /// The last solved step as a meter at each home and transformer read it.
    pub fn last_reading(&self) -> Option<FeederReading> {
        let step = self.last.as_ref()?;
        Some(FeederReading {
            source: step.source,
            worst_vuf_pct: step.worst_vuf.1,
            heads: self
                .heads
                .iter()
                .zip(&step.heads)
                .map(|(bus, (i, residual))| HeadReading {
                    bus: bus.clone(),
                    amps: i.iter().map(|x| (x.0, x.1.norm())).collect(),
                    neutral_a: *residual,
                    unbalance_pct: current_unbalance_pct(i),
                })
                .collect(),
            loads: step.loads.clone(),
        })
    }

    /// The energy registers now, J: each home, then the source.
    pub fn energy_j(&self) -> &[f64] {
        &self.energy
    }

    /// The energy registers at the start of the last solved step.
    pub fn step_start_energy_j(&self) -> &[f64] {
        &self.energy_start
    }

    /// The last solved step as the batch run's checks and recorder read it.
    pub(super) fn last_step(&self) -> Option<&Step> {
        self.last.as_ref()
    }

    /// One step from `now` to `t = now + dt`: the actions due at its start, the power flow at
    /// its end (the solution stands for the step, as OpenDSS's yearly clock has it), `solved`
    /// shown the solution (the loop, whose `last_step` it is, the step's start, `t`), then the home nodes' field and the
    /// balancer up to `t`. False when the solve failed (logged once per failing stretch).
    pub fn step(
        &mut self,
        events: &mut Vec<Event>,
        solved: impl FnOnce(&FeederLoop, Instant, f64),
    ) -> bool {
        let now = Instant::from_micros(self.k * self.dt_us);
        self.k += 1;
        let t = self.now_s();
        if self.solve(now, t, events).is_none() {
            return false;
        }
        let step = observe(&self.pf, &self.heads);
        self.energy_start.clone_from(&self.energy);
        let dt = self.dt();
        for (e, l) in self.energy.iter_mut().zip(&step.loads) {
            *e += l.2.re * dt;
        }
        if let Some(source) = self.energy.last_mut() {
            *source += step.source.re * dt;
        }
        self.last = Some(step);
        solved(self, now, t);
        if let Some(field) = &mut self.field {
            field.advance(t, &mut self.pf, events);
        }
        true
    }

    /// Actions due at `now`, then the power flow at `t`.
    fn solve(&mut self, now: Instant, t: f64, events: &mut Vec<Event>) -> Option<()> {
        let pf = &mut self.pf;
        if self.source_back.is_some_and(|b| b <= now) {
            pf.set_source_pu(1.0);
            self.source_back = None;
        }
        while let Some((at, a)) = self.actions.get(self.next_action)
            && *at <= now
        {
            match (a, &mut self.field) {
                (
                    Action::FieldFault {
                        fault,
                        home,
                        duration,
                    },
                    Some(field),
                ) => {
                    let d = duration.map(|d| d.get());
                    field.fault(now.as_secs_f64(), *fault, home.as_deref(), d);
                }
                _ => apply(a, now, pf, &mut self.source_back, events),
            }
            self.next_action += 1;
        }
        pf.set_minute(self.start_min + t / 60.0);
        let taps = pf.taps().to_vec();
        let banks = bank_states(pf);
        match pf.solve() {
            Ok(sv) => {
                self.failing = false;
                self.solves += 1;
                self.iterations += sv.iterations as u64;
                for ((name, before), after) in self.regulators.iter().zip(&taps).zip(pf.taps()) {
                    if before != after {
                        events.push(Event::at(t, name.as_str(), EventKind::Tap { tap: *after }));
                    }
                }
                let caps = &pf.feeder().capacitors;
                for ((c, before), after) in caps.iter().zip(banks).zip(bank_states(pf)) {
                    if before != after {
                        let kind = EventKind::Capacitor { closed: after };
                        events.push(Event::at(t, c.name.as_str(), kind));
                    }
                }
                Some(())
            }
            Err(e) => {
                self.failed += 1;
                if !self.failing {
                    let error = e.to_string();
                    events.push(Event::at(t, "feeder", EventKind::SolveFailed { error }));
                }
                self.failing = true;
                None
            }
        }
    }

    /// An operator's (or the window's) phase move for a home, now; false when the home does
    /// not exist or cannot take that phase.
    pub fn move_phase(&mut self, home: &str, phase: Phase, events: &mut Vec<Event>) -> bool {
        let now = self.now();
        let before = events.len();
        let Ok(i) = feeder_load(&self.pf, home) else {
            return false;
        };
        let was = self.pf.load_state(i).node;
        apply(
            &Action::PhaseSelect {
                load: home.to_string(),
                phase,
            },
            now,
            &mut self.pf,
            &mut self.source_back,
            events,
        );
        events.len() > before || was == phase.node()
    }

    /// The home nodes' link carries nothing for `seconds` from now; false without a field.
    pub fn cut_link(&mut self, seconds: f64) -> bool {
        let t = self.now().as_secs_f64();
        self.field.as_mut().is_some_and(|f| f.cut_link(t + seconds))
    }

    /// A timeline action now (the window's fault buttons), as the timeline would act on it.
    pub fn act(&mut self, a: &Action, events: &mut Vec<Event>) {
        let now = self.now();
        apply(a, now, &mut self.pf, &mut self.source_back, events);
    }

    pub fn pf(&self) -> &PowerFlow {
        &self.pf
    }

    /// The transformers' secondary buses, as `pf().bus_inflow` knows them.
    pub fn heads(&self) -> &[String] {
        &self.heads
    }
}

/// One transformer secondary: current per node (A), residual (neutral) current and current
/// unbalance (%).
#[derive(Debug, Clone)]
pub struct HeadReading {
    pub bus: String,
    pub amps: Vec<(usize, f64)>,
    pub neutral_a: f64,
    pub unbalance_pct: f64,
}

/// A solved feeder step.
#[derive(Debug, Clone)]
pub struct FeederReading {
    /// Power from the source, W + j var.
    pub source: C64,
    pub worst_vuf_pct: f64,
    pub heads: Vec<HeadReading>,
    /// Per load, in the feeder's order: node (1, 2, 3 = A, B, C), voltage pu, W + j var.
    pub loads: Vec<(usize, f64, C64)>,
}

fn apply(
    a: &Action,
    now: Instant,
    pf: &mut PowerFlow,
    source_back: &mut Option<Instant>,
    events: &mut Vec<Event>,
) {
    let t = now.as_secs_f64();
    // Names and ranges were checked by the loader; a refusal here changes nothing.
    match a {
        Action::Outage { duration, .. } => {
            pf.set_source_pu(0.0);
            *source_back = duration.map(|d| now + d.duration());
        }
        Action::Sag { pu, duration, .. } | Action::Swell { pu, duration, .. } => {
            pf.set_source_pu(pu.get());
            *source_back = Some(now + duration.duration());
        }
        Action::LoadStep { load, factor } => {
            if let Ok(i) = feeder_load(pf, load) {
                pf.set_load_scale(i, *factor);
            }
        }
        Action::PhaseSelect { load, phase } => {
            if let Ok(i) = feeder_load(pf, load) {
                let from = Phase::of_node(pf.load_state(i).node);
                if pf.set_load_node(i, phase.node()).is_ok()
                    && let Some(from) = from.filter(|f| f != phase)
                {
                    let kind = EventKind::PhaseMove { from, to: *phase };
                    events.push(Event::at(t, pf.feeder().loads[i].name.as_str(), kind));
                }
            }
        }
        Action::Tap { regulator, tap } if pf.set_tap(regulator, *tap).is_ok() => {
            events.push(Event::at(
                t,
                regulator.as_str(),
                EventKind::Tap { tap: *tap },
            ));
        }
        // A PDU's actions are refused for a feeder by the loader; repeats are expanded.
        _ => {}
    }
}

/// Whether each capacitor bank is in, in the feeder's order.
fn bank_states(pf: &PowerFlow) -> Vec<bool> {
    pf.feeder().capacitors.iter().map(|c| c.closed).collect()
}

fn observe(pf: &PowerFlow, heads: &[String]) -> Step {
    let loads = (0..pf.feeder().loads.len())
        .map(|i| {
            let st = pf.load_state(i);
            (st.node, st.v_pu, st.s)
        })
        .collect();
    // Ranked without square roots (three magnitudes for each of the LV feeder's 900 buses
    // took a quarter of its step); the worst bus's VUF then as every other is computed.
    let (worst, _, v) = pf
        .three_phase_buses()
        .enumerate()
        .map(|(i, (_, v))| (i, control_core::vuf_squared(v), v))
        .fold((0, 0.0, None), |a, b| {
            if b.1 > a.1 { (b.0, b.1, Some(b.2)) } else { a }
        });
    let worst_vuf = (worst, v.map_or(0.0, vuf_pct));
    let heads = heads
        .iter()
        .map(|b| {
            let i = pf.bus_inflow(b).unwrap_or_default();
            let residual = i.iter().map(|x| x.1).sum::<C64>().norm();
            (i, residual)
        })
        .collect();
    Step {
        loads,
        worst_vuf,
        heads,
        source: pf.source_power(),
    }
}

pub(super) fn vuf_pct(v: [C64; 3]) -> f64 {
    100.0 * control_core::vuf(v)
}

/// Current unbalance in %: the largest deviation of a phase magnitude from the mean, over it.
pub(super) fn current_unbalance_pct(i: &[(usize, C64)]) -> f64 {
    let magnitudes: Vec<f64> = i.iter().map(|x| x.1.norm()).collect();
    100.0 * control_core::current_deviation(&magnitudes)
}
