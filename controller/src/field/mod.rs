//! Phase balancing on a feeder: the adapter between the twin and the sans-IO balancer. Each
//! single-phase home has a node (its phase selector, its periodic report); reports, commands
//! and acknowledgements travel over the field link the scenario names; the balancer sees only
//! what arrived. Between two power flows this runs in one-second ticks, reading the homes from
//! the last solution; a move changes the home's node in the power flow, so the next solve sees
//! it.

use std::collections::BTreeMap;

use grid_types::Phase;
use sim::feeder::{Feeder, PowerFlow};
use sim::home::Selector;
use sim::link::ip::{IpLink, IpSpec};
use sim::link::lora::{LoraLink, LoraSpec};
use sim::link::relay::{RelayLink, RelaySpec};
use sim::link::rs485::{Rs485Link, Rs485Spec};
use sim::link::{Dir, Link, LinkStats};
use sim::rng::SplitMix64;

mod config;
pub mod emulated;
pub mod nodes;
pub(crate) mod runtime;

pub use config::{Balancing, FieldFault, FieldLink, emulated_link};
use control_core::balance::{Ack, Balancer, Command, Hold, Note, Report};
use control_core::{Event, EventKind, Instant};

/// Comms are stepped at this interval between power flows, s.
pub(super) const TICK: f64 = 1.0;

/// What travels on the field link.
#[derive(Debug, Clone)]
enum Msg {
    Report(Report),
    Ack(Ack),
    Command(Command),
}

/// What the balancing part of a run did, for the summary.
#[derive(Debug, Clone, Default)]
pub struct BalanceRun {
    pub link: String,
    pub homes: usize,
    pub link_stats: LinkStats,
    pub reports_sent: u64,
    pub reports_received: u64,
    /// Age of a report when it reached the balancer, s: mean and largest.
    pub age_mean_s: f64,
    pub age_max_s: f64,
    pub plans: u32,
    pub commands: u32,
    pub repeats: u32,
    pub gave_up: u32,
    pub unexpected: u32,
    /// The nodes were emulated on the real master; steps at which what was due did not arrive
    /// within the wall-time limit (a message lost between the real peers).
    pub emulated: bool,
    pub stalls: u32,
    /// Looks that did not act, by reason.
    pub held: BTreeMap<String, u32>,
    /// Selector operations, in all and the most of any one home.
    pub moves: u32,
    pub most_moves: Option<(String, u32)>,
    /// The same day with the balancer off and on.
    pub off: Compare,
    pub on: Compare,
}

impl BalanceRun {
    /// A balancer's note counted.
    pub(super) fn tally(&mut self, n: &Note) {
        match n {
            Note::Plan { .. } => self.plans += 1,
            Note::Sent { attempt: 1, .. } => self.commands += 1,
            Note::Sent { .. } => self.repeats += 1,
            Note::GaveUp { .. } => self.gave_up += 1,
            Note::Unexpected { .. } => self.unexpected += 1,
            Note::Held { reason, .. } => {
                *self.held.entry(hold_name(*reason).into()).or_default() += 1;
            }
            Note::Moved { .. } => {}
        }
    }
}

/// The imbalance a run saw at the transformer and at its worst bus.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compare {
    pub vuf_p95: f64,
    pub vuf_max: f64,
    pub neutral_p95: f64,
    pub neutral_max: f64,
    pub unbalance_mean: f64,
}

/// A feeder run's home nodes: on the link model (`Field`), or emulated register-exact on a
/// real master (`EmulatedNodes`, the `EmulatedField` backend).
pub enum Nodes {
    Modelled(Box<Field>),
    Emulated(Box<emulated::EmulatedNodes>),
}

impl Nodes {
    /// The nodes of `pf`'s homes; `head` is the transformer's bus.
    pub fn new(
        b: &Balancing,
        pf: &PowerFlow,
        head: Option<&str>,
        emulate: bool,
    ) -> Result<Self, String> {
        Ok(if emulate {
            Nodes::Emulated(Box::new(emulated::EmulatedNodes::new(b, pf, head)?))
        } else {
            Nodes::Modelled(Box::new(Field::new(b, pf, head)?))
        })
    }

    pub fn advance(&mut self, until: f64, pf: &mut PowerFlow, events: &mut Vec<Event>) {
        match self {
            Nodes::Modelled(f) => f.advance(until, pf, events),
            Nodes::Emulated(e) => e.advance(until, pf, events),
        }
    }

    /// Nothing gets through the link model until `until`; false on the emulated field, whose
    /// faults are its own (`FieldFault`).
    pub fn cut_link(&mut self, until: f64) -> bool {
        match self {
            Nodes::Modelled(f) => {
                f.cut_link(until);
                true
            }
            Nodes::Emulated(_) => false,
        }
    }

    /// A field fault from `now`; the link model has none (the loader refuses them there).
    pub fn fault(
        &mut self,
        now: f64,
        fault: FieldFault,
        home: Option<&str>,
        duration: Option<f64>,
    ) {
        if let Nodes::Emulated(e) = self {
            e.inject(now, fault, home, duration);
        }
    }

    pub fn finish(self) -> BalanceRun {
        match self {
            Nodes::Modelled(f) => (*f).finish(),
            Nodes::Emulated(e) => e.finish(),
        }
    }
}

/// The home nodes, their link and the balancer.
pub struct Field {
    /// The feeder load of each node.
    loads: Vec<usize>,
    names: Vec<String>,
    selectors: Vec<Selector>,
    next_report: Vec<f64>,
    /// Each node's voltage base, V.
    volts: Vec<f64>,
    link: Box<dyn Link<Msg> + Send>,
    balancer: Balancer,
    every: f64,
    report_bytes: usize,
    command_bytes: usize,
    t: f64,
    /// Acknowledgements waiting for their node's random delay: (due, ack).
    acks: Vec<(f64, Ack)>,
    ack_jitter: f64,
    rng: SplitMix64,
    age_sum: f64,
    out: BalanceRun,
    /// Until then nothing gets through (a jammed channel, a cut cable), s.
    cut_until: f64,
}

impl Field {
    /// Nodes for the homes of `pf`'s feeder; `head` is the transformer's bus (LoRa distances
    /// are measured from it).
    pub fn new(b: &Balancing, pf: &PowerFlow, head: Option<&str>) -> Result<Self, String> {
        let f = pf.feeder();
        let (loads, names) = homes(b, pf)?;
        let every = b.report_every.get();
        if b.report_bytes == 0 || b.command_bytes == 0 {
            return Err("report_bytes and command_bytes must be positive".into());
        }
        let mut rng = SplitMix64::new(b.seed);
        let link = build_link(&b.link, f, &loads, head, rng.next_u64())?;
        let selectors = loads
            .iter()
            .map(|&i| {
                let phase = Phase::of_node(pf.load_state(i).node).unwrap_or(Phase::A);
                Selector::new(b.selector, phase)
            })
            .collect();
        // Whole seconds, so a report is offered on the tick it is due.
        let next_report = loads
            .iter()
            .map(|_| (rng.uniform() * every).floor().max(TICK))
            .collect();
        let volts = loads.iter().map(|&i| f.loads[i].kv * 1e3).collect();
        let out = BalanceRun {
            link: describe(&b.link),
            homes: loads.len(),
            ..BalanceRun::default()
        };
        Ok(Self {
            balancer: Balancer::new(b.settings.clone(), &names),
            names,
            selectors,
            next_report,
            volts,
            link,
            loads,
            every,
            report_bytes: b.report_bytes,
            command_bytes: b.command_bytes,
            t: 0.0,
            acks: Vec::new(),
            ack_jitter: b.ack_jitter.get(),
            rng,
            age_sum: 0.0,
            cut_until: f64::NEG_INFINITY,
            out,
        })
    }

    /// Nothing gets through the link until `until` (s): the balancer hears no reports and
    /// its commands and their acknowledgements are lost, so it retries and gives up as it
    /// would on a real outage.
    pub fn cut_link(&mut self, until: f64) {
        self.cut_until = until;
    }

    /// Run the nodes, the link and the balancer up to `until` (s), the homes drawing what the
    /// last power flow gave them. Moves change the homes' nodes in `pf`.
    pub fn advance(&mut self, until: f64, pf: &mut PowerFlow, events: &mut Vec<Event>) {
        while self.t + TICK <= until + 1e-9 {
            self.t += TICK;
            let t = self.t;
            self.send_reports(t, pf);
            self.send_acks(t);
            let arrivals = self.link.poll(t);
            // A cut link loses what was in flight as well as what is sent.
            if t < self.cut_until {
                continue;
            }
            for a in arrivals {
                let at = Instant::from_secs_f64(a.at);
                match a.msg {
                    Msg::Report(r) => {
                        let age = a.at - r.measured.as_secs_f64();
                        self.out.reports_received += 1;
                        self.age_sum += age;
                        self.out.age_max_s = self.out.age_max_s.max(age);
                        self.balancer.report(at, r);
                    }
                    Msg::Ack(k) => self.balancer.ack(at, k),
                    Msg::Command(c) => self.obey(a.at, c, pf, events),
                }
            }
            let now = Instant::from_secs_f64(t);
            for c in self.balancer.tick(now) {
                self.link
                    .offer(t, Dir::Down, c.node, self.command_bytes, Msg::Command(c));
            }
            for (at, n) in self.balancer.drain_notes() {
                self.note(at.as_secs_f64(), n, events);
            }
        }
    }

    fn send_reports(&mut self, t: f64, pf: &PowerFlow) {
        for j in 0..self.loads.len() {
            if self.next_report[j] > t {
                continue;
            }
            self.next_report[j] += self.every;
            let (volts, amps, s) = metered(pf, self.loads[j], self.volts[j]);
            let r = Report {
                node: j,
                measured: Instant::from_secs_f64(t),
                phase: self.selectors[j].phase(),
                kw: s.re / 1e3,
                amps,
                volts,
            };
            self.out.reports_sent += 1;
            self.link
                .offer(t, Dir::Up, j, self.report_bytes, Msg::Report(r));
        }
    }

    fn send_acks(&mut self, t: f64) {
        let (due, waiting) = std::mem::take(&mut self.acks)
            .into_iter()
            .partition(|a| a.0 <= t);
        self.acks = waiting;
        for (_, a) in due {
            self.link
                .offer(t, Dir::Up, a.node, self.command_bytes, Msg::Ack(a));
        }
    }

    /// A command reached node `c.node` at `at`: the selector acts (once per sequence number),
    /// and the node acknowledges after a random delay, so that acknowledgements do not all
    /// meet the next command of a burst (a LoRa gateway cannot hear while it transmits).
    fn obey(&mut self, at: f64, c: Command, pf: &mut PowerFlow, events: &mut Vec<Event>) {
        let Some(sel) = self.selectors.get_mut(c.node) else {
            return;
        };
        let from = sel.phase();
        let sw = sel.command(at, c.seq, c.to);
        if sw.phase != from {
            let i = self.loads[c.node];
            // The homes were checked to sit on a phase node, so the move is accepted.
            if pf.set_load_node(i, sw.phase.node()).is_ok() {
                let kind = EventKind::PhaseMove { from, to: sw.phase };
                events.push(Event::at(sw.closed, self.names[c.node].as_str(), kind));
            }
        }
        let ack = Ack {
            node: c.node,
            seq: sw.seq,
            phase: sw.phase,
            switched: Instant::from_secs_f64(sw.closed),
        };
        let due = (at + self.rng.uniform() * self.ack_jitter).ceil();
        self.acks.push((due, ack));
    }

    fn note(&mut self, t: f64, n: Note, events: &mut Vec<Event>) {
        // The twin's own phase_move event records the move.
        if matches!(n, Note::Moved { .. }) {
            return;
        }
        self.out.tally(&n);
        if let Some((subject, kind)) = note_event(&n, &self.names) {
            events.push(Event::at(t, subject, kind));
        }
    }

    pub fn finish(mut self) -> BalanceRun {
        let o = &mut self.out;
        o.link_stats = self.link.stats();
        o.age_mean_s = self.age_sum / o.reports_received.max(1) as f64;
        o.moves = self.selectors.iter().map(Selector::switches).sum();
        o.most_moves = self
            .names
            .iter()
            .zip(&self.selectors)
            .map(|(n, s)| (n.clone(), s.switches()))
            .filter(|x| x.1 > 0)
            .max_by_key(|x| x.1);
        self.out
    }
}

/// What a home's node meters of the last power flow: its voltage (V, on `base` V), current
/// (A) and power (W + j var).
pub(crate) fn metered(
    pf: &PowerFlow,
    load: usize,
    base: f64,
) -> (f64, f64, num_complex::Complex64) {
    let st = pf.load_state(load);
    let v = st.v_pu * base;
    let i = if v > 0.0 { st.s.norm() / v } else { 0.0 };
    (v, i, st.s)
}

/// The feeder's homes that get a node (every single-phase load on a phase node), and their
/// names; or why the balancing cannot be set up.
fn homes(b: &Balancing, pf: &PowerFlow) -> Result<(Vec<usize>, Vec<String>), String> {
    let f = pf.feeder();
    let loads: Vec<usize> = (0..f.loads.len())
        .filter(|&i| f.loads[i].phases == 1 && Phase::of_node(pf.load_state(i).node).is_some())
        .collect();
    if loads.is_empty() {
        return Err("balancing needs single-phase homes; the feeder has none".into());
    }
    let names: Vec<String> = loads.iter().map(|&i| f.loads[i].name.clone()).collect();
    if let Some(x) = b.settings.fixed.iter().find(|x| !names.contains(x)) {
        return Err(format!("fixed home {x:?} is not a single-phase load"));
    }
    if b.report_every.get() < TICK {
        return Err(format!("report_every must be at least {TICK} s"));
    }
    Ok((loads, names))
}

/// The event a balancer's note is in the log, and its subject; None for what the log does not
/// keep (a first send, a look that held).
pub(crate) fn note_event<'a>(n: &Note, names: &'a [String]) -> Option<(&'a str, EventKind)> {
    Some(match *n {
        Note::Plan {
            moves,
            before,
            after,
            fresh,
        } => (
            "balancer",
            EventKind::BalancePlan {
                moves,
                before_pct: 100.0 * before,
                after_pct: 100.0 * after,
                fresh,
            },
        ),
        Note::Sent { attempt: 1, .. } | Note::Held { .. } => return None,
        Note::Sent { node, to, attempt } => (
            names[node].as_str(),
            EventKind::BalanceRetry { to, attempt },
        ),
        Note::GaveUp { node, to } => (names[node].as_str(), EventKind::BalanceGaveUp { to }),
        Note::Unexpected { node, phase } => {
            (names[node].as_str(), EventKind::BalanceUnexpected { phase })
        }
        Note::Moved { node, from, to } => (names[node].as_str(), EventKind::PhaseMove { from, to }),
    })
}

fn hold_name(h: Hold) -> &'static str {
    match h {
        Hold::Balanced => "balanced",
        Hold::TooFewReadings => "too few readings",
        Hold::NoMovesLeft => "no moves left",
        Hold::SmallGain => "small gain",
    }
}

pub(super) fn describe(l: &FieldLink) -> String {
    match l {
        FieldLink::Rs485 { baud } => format!("RS-485 at {baud} baud"),
        FieldLink::Lora {
            sf,
            per_near,
            per_far,
        } => format!(
            "LoRa SF{sf}, packet error {:.0} to {:.0} %",
            100.0 * per_near,
            100.0 * per_far
        ),
        FieldLink::Ip {
            latency_s, loss, ..
        } => format!(
            "IP, {:.0} ms latency, {:.1} % loss",
            1e3 * latency_s,
            100.0 * loss
        ),
        FieldLink::Campus {
            concentrators,
            baud,
            sf,
            ..
        } => format!("campus: {concentrators} RS-485 buses at {baud} baud, LoRa SF{sf} uplink"),
    }
}

fn build_link(
    l: &FieldLink,
    f: &Feeder,
    loads: &[usize],
    head: Option<&str>,
    seed: u64,
) -> Result<Box<dyn Link<Msg> + Send>, String> {
    let n = loads.len();
    Ok(match l {
        FieldLink::Rs485 { baud } => {
            let spec = Rs485Spec::modbus(*baud, n);
            spec.check()?;
            Box::new(Rs485Link::new(spec, seed))
        }
        FieldLink::Lora {
            sf,
            per_near,
            per_far,
        } => {
            for (name, p) in [("per_near", per_near), ("per_far", per_far)] {
                if !(0.0..=1.0).contains(p) {
                    return Err(format!("{name} {p} is not within 0 to 1"));
                }
            }
            let per = lora_per(*per_near, *per_far, f, loads, head);
            let spec = LoraSpec::eu868(*sf, per);
            spec.check()?;
            Box::new(LoraLink::new(spec, seed))
        }
        FieldLink::Ip {
            latency_s,
            jitter,
            loss,
        } => {
            let spec = IpSpec {
                latency_s: *latency_s,
                jitter: *jitter,
                loss: *loss,
            };
            spec.check()?;
            Box::new(IpLink::new(spec, seed))
        }
        FieldLink::Campus {
            concentrators,
            baud,
            sf,
            per,
            batch,
            max_payload,
        } => {
            let c = *concentrators;
            if c == 0 || c > n {
                return Err(format!("concentrators must be between 1 and the {n} homes"));
            }
            let spec = RelaySpec {
                // Contiguous groups in feeder order: neighbours share a bus.
                feeder_of: (0..n).map(|j| j * c / n).collect(),
                bus: Rs485Spec::modbus(*baud, 0),
                lora: LoraSpec::eu868(*sf, vec![*per; c]),
                batch_s: batch.get(),
                max_payload: *max_payload,
            };
            spec.check()?;
            Box::new(RelayLink::new(spec, seed))
        }
    })
}

/// Each home's LoRa packet error rate: from `near` at the transformer to `far` at the farthest
/// home (all `far` without coordinates).
fn lora_per(near: f64, far: f64, f: &Feeder, loads: &[usize], head: Option<&str>) -> Vec<f64> {
    distances(f, loads, head).map_or_else(
        || vec![far; loads.len()],
        |d| {
            let most = d.iter().copied().fold(0.0, f64::max).max(1e-9);
            d.iter().map(|x| near + (far - near) * x / most).collect()
        },
    )
}

/// Each home's straight-line distance from the transformer's bus, when the feeder has
/// coordinates for all of them.
fn distances(f: &Feeder, loads: &[usize], head: Option<&str>) -> Option<Vec<f64>> {
    let at = |bus: &str| {
        let bus = bus.split('.').next().unwrap_or(bus);
        f.coordinates
            .iter()
            .find(|c| c.bus.eq_ignore_ascii_case(bus))
            .map(|c| (c.x, c.y))
    };
    let (x0, y0) = at(head?)?;
    loads
        .iter()
        .map(|&i| at(&f.loads[i].bus).map(|(x, y)| (x - x0).hypot(y - y0)))
        .collect()
}
