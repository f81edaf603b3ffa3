//! Expectations checked against a run: streaming checks see every step's physical truth, event
//! checks read the event log at the end.

use grid_types::SourceId;
use sim::Pdu;

use super::samples::Samples;
use crate::scenario::format::{Anchor, Expect, Measure, Scenario, Stat};
use control_core::{Controller, Event, LoadStatus};

/// One expectation's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub label: String,
    pub pass: bool,
    pub detail: String,
}

/// What a streaming check keeps between steps.
#[derive(Debug, Clone)]
enum State {
    Events,
    Relay(Option<bool>),
    Status(Option<LoadStatus>),
    Feeding(Option<Option<SourceId>>),
    /// Longest run (s) of a condition, and the current run.
    Longest {
        longest: f64,
        current: f64,
        worst: f64,
    },
    Samples(Samples),
    /// The samples of an earlier expectation of the same measure over the same window.
    SameAs(usize),
    Energy(f64),
    /// Energy in the current window (J), its start, and the worst complete window (kW).
    Demand {
        joules: f64,
        start: f64,
        worst_kw: f64,
        windows: u32,
    },
}

/// The scenario's expectations plus the interlock that must hold in every run.
pub struct Checker {
    expects: Vec<(Expect, State, Option<usize>)>,
    /// Whether there is a PDU whose interlock to check.
    pdu: bool,
    both_closed_steps: u64,
    limits: Vec<(Option<f64>, Option<f64>)>,
    capacity_w: [Option<f64>; 2],
    nominal_v: f64,
}

fn within(t: f64, from: Option<f64>, until: Option<f64>) -> bool {
    from.is_none_or(|f| t >= f) && until.is_none_or(|u| t <= u)
}

impl Checker {
    pub fn new(s: &Scenario, pdu: &Pdu) -> Self {
        let index = |n: &str| pdu.loads.iter().position(|l| l.spec.name == n);
        let expects = s
            .expect
            .iter()
            .map(|e| {
                let (state, load) = match e {
                    Expect::Relay { load, .. } => (State::Relay(None), index(load)),
                    Expect::Status { load, .. } => (State::Status(None), index(load)),
                    Expect::Feeding { .. } => (State::Feeding(None), None),
                    Expect::LoadWithinLimit { load, .. } => (longest(), index(load)),
                    Expect::SourceWithinCapacity { .. } | Expect::MaxDeadBus { .. } => {
                        (longest(), None)
                    }
                    Expect::BusVoltage { .. } => (State::Samples(Samples::default()), None),
                    Expect::Energy { load, .. } => (State::Energy(0.0), index(load)),
                    Expect::Demand { .. } => (
                        State::Demand {
                            joules: 0.0,
                            start: 0.0,
                            worst_kw: 0.0,
                            windows: 0,
                        },
                        None,
                    ),
                    _ => (State::Events, None),
                };
                (e.clone(), state, load)
            })
            .collect();
        let limits = pdu
            .loads
            .iter()
            .map(|l| {
                let c = s.controller.loads.get(&l.spec.name);
                (
                    c.and_then(|c| c.limit_a).map(|x| x.get()),
                    c.and_then(|c| c.limit_w).map(|x| x.get()),
                )
            })
            .collect();
        let sh = &s.controller.shedding;
        Checker {
            expects,
            pdu: true,
            both_closed_steps: 0,
            limits,
            capacity_w: [
                sh.main_capacity_kw.map(|c| c.get() * 1e3),
                sh.backup_capacity_kw.map(|c| c.get() * 1e3),
            ],
            nominal_v: pdu.nominal_v(),
        }
    }

    /// A feeder's checker: event expectations and feeder statistics.
    pub fn for_feeder(s: &Scenario) -> Self {
        let mut expects: Vec<(Expect, State, Option<usize>)> = Vec::new();
        for e in &s.expect {
            // Statistics of one measure over one window share its samples: a feeder's home
            // voltages are many a step.
            let same = expects
                .iter()
                .position(|(x, state, _)| matches!(state, State::Samples(_)) && same_samples(x, e));
            let state = match (e, same) {
                (Expect::FeederStat { .. }, Some(i)) => State::SameAs(i),
                (Expect::FeederStat { .. } | Expect::Reduced { .. }, _) => {
                    State::Samples(Samples::default())
                }
                _ => State::Events,
            };
            expects.push((e.clone(), state, None));
        }
        Checker {
            expects,
            pdu: false,
            both_closed_steps: 0,
            limits: vec![],
            capacity_w: [None; 2],
            nominal_v: 1.0,
        }
    }

    /// Observe a solved feeder at time `t`: `sample` appends a measure's values of this step.
    pub(super) fn observe_feeder(
        &mut self,
        t: f64,
        mut sample: impl FnMut(&Measure, &mut Samples),
    ) {
        for (e, state, _) in &mut self.expects {
            let State::Samples(v) = state else { continue };
            match e {
                Expect::FeederStat {
                    of, from, until, ..
                } if within(t, from.map(|x| x.get()), until.map(|x| x.get())) => sample(of, v),
                Expect::Reduced { of, .. } => sample(of, v),
                _ => {}
            }
        }
    }

    /// Observe the grid at time `t` (after a step of `dt`).
    pub fn observe(&mut self, t: f64, dt: f64, pdu: &Pdu, ctl: &Controller) {
        if pdu.main_closed() && pdu.backup_closed() {
            self.both_closed_steps += 1;
        }
        let truth = pdu.truth();
        let live = truth.bus_v > 0.5 * self.nominal_v;
        for (e, state, load) in &mut self.expects {
            match (e, state) {
                (Expect::Relay { at, .. }, State::Relay(v)) if v.is_none() && t >= at.get() => {
                    *v = load.map(|i| pdu.relay_closed(i));
                }
                (Expect::Status { at, .. }, State::Status(v)) if v.is_none() && t >= at.get() => {
                    *v = load.map(|i| ctl.load_status(i));
                }
                (Expect::Feeding { at, .. }, State::Feeding(v)) if v.is_none() && t >= at.get() => {
                    let feeding = if !live {
                        None
                    } else if pdu.main_closed() {
                        Some(SourceId::Main)
                    } else if pdu.backup_closed() {
                        Some(SourceId::Backup)
                    } else {
                        None
                    };
                    *v = Some(feeding);
                }
                (
                    Expect::LoadWithinLimit { .. },
                    State::Longest {
                        longest,
                        current,
                        worst,
                    },
                ) => {
                    let i = load.unwrap_or(0);
                    let l = truth.loads[i];
                    let (la, lw) = self.limits[i];
                    let over_a = la.map_or(0.0, |a| l.i / a);
                    let over_w = lw.map_or(0.0, |w| l.p / w);
                    let ratio = over_a.max(over_w);
                    run_length(ratio > 1.0, dt, longest, current);
                    *worst = worst.max(ratio);
                }
                (
                    Expect::SourceWithinCapacity { .. },
                    State::Longest {
                        longest,
                        current,
                        worst,
                    },
                ) => {
                    let (p, cap) = if pdu.main_closed() {
                        (truth.main.p, self.capacity_w[0])
                    } else {
                        (truth.backup.p, self.capacity_w[1])
                    };
                    let ratio = cap.map_or(0.0, |c| p / c);
                    run_length(ratio > 1.0, dt, longest, current);
                    *worst = worst.max(ratio);
                }
                (
                    Expect::MaxDeadBus { from, until, .. },
                    State::Longest {
                        longest, current, ..
                    },
                ) => {
                    let inside = within(t, from.map(|x| x.get()), until.map(|x| x.get()));
                    run_length(inside && !live, dt, longest, current);
                }
                (Expect::BusVoltage { from, until, .. }, State::Samples(v))
                    if live && within(t, from.map(|x| x.get()), until.map(|x| x.get())) =>
                {
                    v.push((truth.bus_v / self.nominal_v) as f32);
                }
                (Expect::Energy { .. }, State::Energy(j)) => {
                    *j += truth.loads[load.unwrap_or(0)].p * dt;
                }
                (
                    Expect::Demand { window, .. },
                    State::Demand {
                        joules,
                        start,
                        worst_kw,
                        windows,
                    },
                ) => {
                    *joules += (truth.main.p + truth.backup.p) * dt;
                    if t - *start >= window.get() - 1e-9 {
                        *worst_kw = worst_kw.max(*joules / window.get() / 1e3);
                        *windows += 1;
                        *joules = 0.0;
                        *start = t;
                    }
                }
                _ => {}
            }
        }
    }

    /// Verdicts, the interlock first.
    pub fn finish(self, events: &[Event]) -> Vec<Outcome> {
        self.finish_against(events, None)
    }

    /// Verdicts, with `Reduced` expectations judged against the same expectations' samples in
    /// a baseline run.
    pub fn finish_against(self, events: &[Event], baseline: Option<Checker>) -> Vec<Outcome> {
        let mut base: Vec<Option<State>> = match baseline {
            Some(b) => b.expects.into_iter().map(|x| Some(x.1)).collect(),
            None => Vec::new(),
        };
        let mut out = Vec::new();
        if self.pdu {
            out.push(Outcome {
                label: "interlock: main and backup never closed together".into(),
                pass: self.both_closed_steps == 0,
                detail: format!("{} steps with both closed", self.both_closed_steps),
            });
        }
        let mut shared: Vec<Option<Samples>> = self
            .expects
            .iter()
            .map(|(_, state, _)| match state {
                State::SameAs(k) => match &self.expects[*k].1 {
                    State::Samples(v) => Some(v.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        for (i, (e, state, _)) in self.expects.into_iter().enumerate() {
            let state = match state {
                State::SameAs(_) => State::Samples(shared[i].take().unwrap_or_default()),
                state => state,
            };
            let o = match (&e, state, base.get_mut(i).and_then(Option::take)) {
                (Expect::Reduced { of, stat, min_pct }, State::Samples(v), b) => {
                    let b = match b {
                        Some(State::Samples(b)) => b,
                        _ => Samples::default(),
                    };
                    reduced(of, *stat, *min_pct, v, b)
                }
                (_, state, _) => verdict(&e, state, events),
            };
            out.push(o);
        }
        out
    }
}

/// Whether two feeder statistics are of the same measure over the same window.
fn same_samples(a: &Expect, b: &Expect) -> bool {
    match (a, b) {
        (
            Expect::FeederStat {
                of, from, until, ..
            },
            Expect::FeederStat {
                of: o,
                from: f,
                until: u,
                ..
            },
        ) => of == o && from == f && until == u,
        _ => false,
    }
}

fn longest() -> State {
    State::Longest {
        longest: 0.0,
        current: 0.0,
        worst: 0.0,
    }
}

fn run_length(cond: bool, dt: f64, longest: &mut f64, current: &mut f64) {
    if cond {
        *current += dt;
        *longest = longest.max(*current);
    } else {
        *current = 0.0;
    }
}

fn matches(e: &Event, name: &str, subject: &Option<String>) -> bool {
    e.kind.name() == name && subject.as_ref().is_none_or(|s| *s == e.subject)
}

fn describe(event: &str, subject: &Option<String>) -> String {
    match subject {
        Some(s) => format!("{event} of {s}"),
        None => event.to_string(),
    }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("in [{a}, {b}]"),
        (Some(a), None) => format!(">= {a}"),
        (None, Some(b)) => format!("<= {b}"),
        (None, None) => "any".into(),
    }
}

fn verdict(e: &Expect, state: State, events: &[Event]) -> Outcome {
    let mk = |label: String, pass: bool, detail: String| Outcome {
        label,
        pass,
        detail,
    };
    match (e, state) {
        (
            Expect::Count {
                event,
                subject,
                from,
                until,
                min,
                max,
            },
            _,
        ) => {
            let (f, u) = (from.map(|x| x.get()), until.map(|x| x.get()));
            let n = events
                .iter()
                .filter(|e| matches(e, event, subject) && within(e.t, f, u))
                .count() as u32;
            let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
            let window = match (f, u) {
                (None, None) => String::new(),
                _ => format!(
                    " in [{}, {}] s",
                    f.unwrap_or(0.0),
                    u.map_or("end".into(), |u| u.to_string())
                ),
            };
            mk(
                format!(
                    "count {}{window} {}",
                    describe(event, subject),
                    bounds(min.map(f64::from), max.map(f64::from))
                ),
                ok,
                format!("{n} seen"),
            )
        }
        (Expect::Never { event, subject }, _) => {
            let first = events.iter().find(|e| matches(e, event, subject));
            mk(
                format!("never {}", describe(event, subject)),
                first.is_none(),
                first.map_or("none seen".into(), |e| format!("first at {:.3} s", e.t)),
            )
        }
        (
            Expect::Within {
                event,
                subject,
                after,
                seconds,
            },
            _,
        ) => {
            let (anchor, anchor_desc) = match after {
                Anchor::Time(t) => (Some(t.get()), format!("{} s", t.get())),
                Anchor::Event { event, subject } => (
                    events
                        .iter()
                        .find(|e| matches(e, event, subject))
                        .map(|e| e.t),
                    describe(event, subject),
                ),
            };
            let label = format!(
                "{} within {} s after {anchor_desc}",
                describe(event, subject),
                seconds.get()
            );
            let Some(t0) = anchor else {
                return mk(label, false, "the anchor never happened".into());
            };
            let hit = events
                .iter()
                .find(|e| e.t >= t0 && matches(e, event, subject));
            match hit {
                Some(e) => mk(
                    label,
                    e.t - t0 <= seconds.get() + 1e-9,
                    format!("took {:.3} s", e.t - t0),
                ),
                None => mk(label, false, "never happened".into()),
            }
        }
        (Expect::Relay { load, at, closed }, State::Relay(v)) => mk(
            format!(
                "relay of {load} {} at {} s",
                if *closed { "closed" } else { "open" },
                at.get()
            ),
            v == Some(*closed),
            match v {
                Some(c) => format!("was {}", if c { "closed" } else { "open" }),
                None => "the run ended first".into(),
            },
        ),
        (Expect::Status { load, at, is }, State::Status(v)) => mk(
            format!("{load} is {is:?} at {} s", at.get()),
            v == Some(*is),
            v.map_or("the run ended first".into(), |s| format!("was {s:?}")),
        ),
        (Expect::Feeding { at, source }, State::Feeding(v)) => {
            let name = |s: &Option<SourceId>| {
                s.map_or("nothing (dead bus)".to_string(), |s| format!("{s:?}"))
            };
            mk(
                format!("{} feeds the bus at {} s", name(source), at.get()),
                v.as_ref() == Some(source),
                v.map_or("the run ended first".into(), |s| {
                    format!("{} did", name(&s))
                }),
            )
        }
        (Expect::LoadWithinLimit { load, seconds }, State::Longest { longest, worst, .. }) => mk(
            format!("{load} above its limit for at most {} s", seconds.get()),
            longest <= seconds.get() + 1e-9,
            format!(
                "longest {longest:.3} s, worst {:.0} % of limit",
                worst * 100.0
            ),
        ),
        (Expect::SourceWithinCapacity { seconds }, State::Longest { longest, worst, .. }) => mk(
            format!(
                "feeding source above capacity for at most {} s",
                seconds.get()
            ),
            longest <= seconds.get() + 1e-9,
            format!(
                "longest {longest:.3} s, worst {:.0} % of capacity",
                worst * 100.0
            ),
        ),
        (Expect::MaxDeadBus { seconds, .. }, State::Longest { longest, .. }) => mk(
            format!("bus dead for at most {} s at a time", seconds.get()),
            longest <= seconds.get() + 1e-9,
            format!("longest {longest:.3} s"),
        ),
        (Expect::BusVoltage { stat, min, max, .. }, State::Samples(v)) => {
            let label = format!("bus voltage {stat:?} {} pu", bounds(*min, *max));
            if v.is_empty() {
                return mk(label, false, "the bus was never live in the window".into());
            }
            let x = v.statistic(*stat);
            let ok = min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m);
            mk(label, ok, format!("{x:.4} pu"))
        }
        (Expect::Energy { load, min, max }, State::Energy(j)) => {
            let kwh = j / 3.6e6;
            mk(
                format!("energy of {load} {} kWh", bounds(*min, *max)),
                min.is_none_or(|m| kwh >= m) && max.is_none_or(|m| kwh <= m),
                format!("{kwh:.3} kWh"),
            )
        }
        (
            Expect::Demand { window, max_kw },
            State::Demand {
                worst_kw, windows, ..
            },
        ) => mk(
            format!("demand over {} s windows <= {max_kw} kW", window.get()),
            windows > 0 && worst_kw <= *max_kw,
            format!("worst {worst_kw:.3} kW over {windows} windows"),
        ),
        (
            Expect::FeederStat {
                of, stat, min, max, ..
            },
            State::Samples(v),
        ) => {
            let label = format!("{} {stat:?} {}", describe_measure(of), bounds(*min, *max));
            if v.is_empty() {
                return mk(label, false, "no solved step in the window".into());
            }
            let x = v.statistic(*stat);
            let ok = min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m);
            mk(label, ok, format!("{x:.4}"))
        }
        (e, _) => mk(format!("{e:?}"), false, "internal: no state".into()),
    }
}

fn reduced(of: &Measure, stat: Stat, min_pct: f64, on: Samples, off: Samples) -> Outcome {
    let label = format!(
        "{} {stat:?} at least {min_pct} % below the balancer off",
        describe_measure(of)
    );
    if on.is_empty() || off.is_empty() {
        return Outcome {
            label,
            pass: false,
            detail: "no baseline run to compare with".into(),
        };
    }
    let (a, b) = (off.statistic(stat), on.statistic(stat));
    let pct = if a > 0.0 { 100.0 * (a - b) / a } else { 0.0 };
    Outcome {
        label,
        pass: pct >= min_pct,
        detail: format!("off {a:.4}, on {b:.4} ({pct:.1} % lower)"),
    }
}

fn describe_measure(m: &Measure) -> String {
    match m {
        Measure::Voltage { bus: None } => "home voltage (pu)".into(),
        Measure::Voltage { bus: Some(b) } => format!("voltage at {b} (pu)"),
        Measure::Vuf { bus: None } => "worst VUF (%)".into(),
        Measure::Vuf { bus: Some(b) } => format!("VUF at {b} (%)"),
        Measure::NeutralCurrent { bus } => format!("neutral current at {bus} (A)"),
        Measure::CurrentUnbalance { bus } => format!("current unbalance at {bus} (%)"),
        Measure::SourceKw => "source power (kW)".into(),
    }
}
