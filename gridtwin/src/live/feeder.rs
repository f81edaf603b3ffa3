//! A feeder live: `FeederLoop` (the power flow, the home nodes' field and the balancer), the
//! transformers' phase currents, neutral current and unbalance, and every home; operators move
//! a home's phase as its selector would, and the phases are restored after a restart.

use std::collections::BTreeMap;

use control_core::Event;
use controller::run::FeederLoop;
use controller::scenario::Loaded;
use grid_types::Phase;
use serde::Serialize;
use sim::feeder::{Conn, Feeder};

use super::{LiveSite, Request, Snapshot};
use crate::store::Store;

/// One transformer secondary.
#[derive(Debug, Clone, Serialize)]
pub struct HeadView {
    pub bus: String,
    /// Current per phase, A: (phase, amps).
    pub amps: Vec<(String, f64)>,
    pub neutral_a: f64,
    pub unbalance_pct: f64,
}

/// One home (or any load of the feeder).
#[derive(Debug, Clone, Serialize)]
pub struct HomeView {
    pub name: String,
    /// A, B or C; `polyphase` for a load across phases.
    pub phase: String,
    pub p_w: f64,
    pub v_pu: f64,
    pub energy_j: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FeederView {
    pub source_w: f64,
    pub source_var: f64,
    pub source_energy_j: f64,
    /// The worst voltage unbalance factor of any three-phase bus, %.
    pub worst_vuf_pct: f64,
    pub v_min_pu: f64,
    pub v_max_pu: f64,
    /// Whether home nodes and the balancer run.
    pub balancing: bool,
    pub solves: u64,
    pub heads: Vec<HeadView>,
    pub homes: Vec<HomeView>,
}

pub(super) struct FeederSite {
    twin: FeederLoop,
    names: Vec<String>,
    /// Which loads sit on one phase and neutral (the others are polyphase).
    single: Vec<bool>,
    /// Each head's nodes, as recorded.
    nodes: Vec<Vec<usize>>,
    /// J: each home, then the source.
    energy: Vec<f64>,
    due: bool,
    balancing: bool,
    /// Events of requests, handed out with the next step's.
    pending: Vec<Event>,
}

const PHASES: [&str; 5] = ["?", "A", "B", "C", "polyphase"];

impl FeederSite {
    /// The feeder at time zero, each home on the phase stored before a restart.
    pub(super) fn new(l: &Loaded, f: &Feeder, store: &Store) -> Result<Self, String> {
        let mut twin = FeederLoop::new(l, f, l.scenario.balancing.as_ref())
            .map_err(|(what, why)| format!("{what}: {why}"))?;
        let stored: BTreeMap<String, usize> = store
            .state("phases")
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let mut discard = Vec::new();
        for (home, node) in stored {
            if let Some(p) = Phase::of_node(node) {
                twin.move_phase(&home, p, &mut discard);
            }
        }
        let nodes = twin
            .heads()
            .iter()
            .map(|b| {
                let i = twin.pf().bus_inflow(b).unwrap_or_default();
                i.iter().map(|x| x.0).collect()
            })
            .collect();
        let n = f.loads.len();
        Ok(FeederSite {
            names: f.loads.iter().map(|x| x.name.clone()).collect(),
            single: f
                .loads
                .iter()
                .map(|x| x.phases == 1 && x.conn == Conn::Wye)
                .collect(),
            nodes,
            energy: vec![0.0; n + 1],
            due: false,
            balancing: l.scenario.balancing.is_some(),
            pending: Vec::new(),
            twin,
        })
    }

    fn phase_code(&self, i: usize, node: usize) -> usize {
        if self.single[i] { node.min(3) } else { 4 }
    }
}

impl LiveSite for FeederSite {
    fn now_s(&self) -> f64 {
        self.twin.now_s()
    }

    fn dt(&self) -> f64 {
        self.twin.dt()
    }

    fn step(&mut self, events: &mut Vec<Event>) {
        events.append(&mut self.pending);
        if !self.twin.step(events, |_, _, _| {}) {
            return;
        }
        let Some(r) = self.twin.last_reading() else {
            return;
        };
        let dt = self.dt();
        for (e, l) in self.energy.iter_mut().zip(&r.loads) {
            *e += l.2.re * dt;
        }
        let n = self.names.len();
        self.energy[n] += r.source.re * dt;
        self.due = true;
    }

    /// Each solved step, stamped at its end (the solution stands for it).
    fn reading_due(&mut self) -> Option<i64> {
        std::mem::take(&mut self.due).then(|| (self.now_s() * 1000.0).round() as i64)
    }

    fn channels(&self) -> Vec<(String, &'static str)> {
        let mut c: Vec<(String, &'static str)> = [
            ("source/p", "W"),
            ("source/q", "var"),
            ("source/energy", "J"),
            ("feeder/vuf", "%"),
            ("feeder/v_min", "pu"),
            ("feeder/v_max", "pu"),
        ]
        .iter()
        .map(|(n, u)| (n.to_string(), *u))
        .collect();
        for (b, nodes) in self.twin.heads().iter().zip(&self.nodes) {
            for &node in nodes {
                c.push((format!("head/{b}/i_{}", PHASES[node.min(4)]), "A"));
            }
            c.push((format!("head/{b}/neutral"), "A"));
            c.push((format!("head/{b}/unbalance"), "%"));
        }
        for n in &self.names {
            for (q, u) in [
                ("v", "pu"),
                ("p", "W"),
                ("q", "var"),
                ("phase", "state"),
                ("energy", "J"),
            ] {
                c.push((format!("home/{n}/{q}"), u));
            }
        }
        c
    }

    fn counters(&self) -> Vec<String> {
        self.names
            .iter()
            .map(|n| format!("home/{n}"))
            .chain(["source".to_string()])
            .collect()
    }

    fn energy_j(&self) -> Vec<f64> {
        self.energy.clone()
    }

    fn values(&self, energy: &[f64], out: &mut Vec<f64>) {
        let Some(r) = self.twin.last_reading() else {
            return;
        };
        let v = r.loads.iter().map(|x| x.1);
        out.extend([
            r.source.re,
            r.source.im,
            energy[self.names.len()],
            r.worst_vuf_pct,
            v.clone().fold(f64::INFINITY, f64::min),
            v.fold(f64::NEG_INFINITY, f64::max),
        ]);
        for (h, nodes) in r.heads.iter().zip(&self.nodes) {
            // Aligned with the channels: a node missing from this solution reads NaN.
            out.extend(
                nodes
                    .iter()
                    .map(|n| h.amps.iter().find(|a| a.0 == *n).map_or(f64::NAN, |a| a.1)),
            );
            out.extend([h.neutral_a, h.unbalance_pct]);
        }
        for (i, &(node, v_pu, s)) in r.loads.iter().enumerate() {
            let phase = self.phase_code(i, node) as f64;
            out.extend([v_pu, s.re, s.im, phase, energy[i]]);
        }
    }

    fn view(&self, energy: &[f64], snap: &mut Snapshot) {
        let Some(r) = self.twin.last_reading() else {
            snap.feeder = Some(FeederView {
                balancing: self.balancing,
                ..FeederView::default()
            });
            return;
        };
        let v = r.loads.iter().map(|x| x.1);
        snap.total_w = r.source.re;
        snap.feeder = Some(FeederView {
            source_w: r.source.re,
            source_var: r.source.im,
            source_energy_j: energy[self.names.len()],
            worst_vuf_pct: r.worst_vuf_pct,
            v_min_pu: v.clone().fold(f64::INFINITY, f64::min),
            v_max_pu: v.fold(f64::NEG_INFINITY, f64::max),
            balancing: self.balancing,
            solves: self.twin.steps(),
            heads: r
                .heads
                .iter()
                .map(|h| HeadView {
                    bus: h.bus.clone(),
                    amps: h
                        .amps
                        .iter()
                        .map(|(n, a)| (PHASES[(*n).min(4)].to_string(), *a))
                        .collect(),
                    neutral_a: h.neutral_a,
                    unbalance_pct: h.unbalance_pct,
                })
                .collect(),
            homes: r
                .loads
                .iter()
                .enumerate()
                .map(|(i, &(node, v_pu, s))| HomeView {
                    name: self.names[i].clone(),
                    phase: PHASES[self.phase_code(i, node)].to_string(),
                    p_w: s.re,
                    v_pu,
                    energy_j: energy[i],
                })
                .collect(),
        });
    }

    fn request(&mut self, r: Request) {
        match r {
            Request::Operator(_, reply) | Request::Configure(_, _, reply) => {
                let _ = reply.send(Err(
                    "a feeder's homes have no relays here; move a home's phase instead".into(),
                ));
            }
            Request::MovePhase(home, phase, reply) => {
                let ok = self.twin.move_phase(&home, phase, &mut self.pending);
                let _ = reply.send(if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "{home} is not a single-phase home with a phase selector"
                    ))
                });
            }
        }
    }

    /// Each single-phase home's phase, as it is now.
    fn state(&self) -> Vec<(String, serde_json::Value)> {
        let phases: BTreeMap<&str, usize> = (0..self.names.len())
            .filter(|&i| self.single[i])
            .map(|i| (self.names[i].as_str(), self.twin.pf().load_state(i).node))
            .collect();
        vec![("phases".into(), serde_json::json!(phases))]
    }
}
