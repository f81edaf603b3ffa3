//! A feeder live: its homes' phases restored after a restart, and the feeder as its last
//! solution reads: the transformers' phase currents, neutral current and unbalance, and every
//! home.

use std::collections::BTreeMap;

use controller::run::{FeederLoop, FieldLoop};
use grid_types::Phase;
use record::schema::PHASES;
use serde::Serialize;

use super::Snapshot;
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

/// Each home on the phase stored before a restart.
pub(super) fn restore(f: &mut FeederLoop, store: &Store) -> Result<(), String> {
    let stored: BTreeMap<String, usize> = store
        .state("phases")
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let mut discard = Vec::new();
    for (home, node) in stored {
        if let Some(p) = Phase::of_node(node) {
            f.move_phase(&home, p, &mut discard);
        }
    }
    Ok(())
}

/// What to restore after a restart: each single-phase home's phase, as it is now.
pub(super) fn state(f: &FeederLoop) -> Vec<(String, serde_json::Value)> {
    let loads = &f.pf().feeder().loads;
    let phases: BTreeMap<&str, usize> = (0..loads.len())
        .filter(|&i| f.single_phase(i))
        .map(|i| (loads[i].name.as_str(), f.pf().load_state(i).node))
        .collect();
    vec![("phases".into(), serde_json::json!(phases))]
}

/// The feeder's part of the snapshot: its last solution, with the energy counters `energy`
/// (each home, then the source).
pub(super) fn view(f: &FeederLoop, balancing: bool, energy: &[f64], snap: &mut Snapshot) {
    let Some(r) = f.last_reading() else {
        snap.feeder = Some(FeederView {
            balancing,
            ..FeederView::default()
        });
        return;
    };
    let names = &f.pf().feeder().loads;
    let v = r.loads.iter().map(|x| x.1);
    snap.total_w = r.source.re;
    snap.feeder = Some(FeederView {
        source_w: r.source.re,
        source_var: r.source.im,
        source_energy_j: energy[names.len()],
        worst_vuf_pct: r.worst_vuf_pct,
        v_min_pu: v.clone().fold(f64::INFINITY, f64::min),
        v_max_pu: v.fold(f64::NEG_INFINITY, f64::max),
        balancing,
        solves: f.steps(),
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
                name: names[i].name.clone(),
                phase: PHASES[f.phase_code(i, node)].to_string(),
                p_w: s.re,
                v_pu,
                energy_j: energy[i],
            })
            .collect(),
    });
}

/// A feeder on its home nodes: the homes as their nodes last said and the transformer as its
/// meters read, with the energy counters `energy` (each home, then the source). What is not
/// fresh is null.
pub(super) fn field_view(f: &FieldLoop, energy: &[f64], snap: &mut Snapshot) {
    let homes = f.homes_now();
    let (source_w, source_var) = f.source();
    let (v_min_pu, v_max_pu) = controller::run::v_range(&homes);
    snap.total_w = source_w;
    snap.feeder = Some(FeederView {
        source_w,
        source_var,
        source_energy_j: energy[homes.len()],
        worst_vuf_pct: f64::NAN,
        v_min_pu,
        v_max_pu,
        balancing: true,
        solves: 0,
        heads: f
            .heads_now()
            .into_iter()
            .map(|h| HeadView {
                bus: h.name,
                amps: h.amps.iter().map(|(p, a)| (p.to_string(), *a)).collect(),
                neutral_a: h.neutral_a,
                unbalance_pct: h.unbalance_pct,
            })
            .collect(),
        homes: homes
            .into_iter()
            .enumerate()
            .map(|(k, h)| HomeView {
                name: h.name,
                phase: h.phase.map_or(PHASES[0].to_string(), |p| p.to_string()),
                p_w: h.p,
                v_pu: h.v_pu,
                energy_j: energy[k],
            })
            .collect(),
    });
}
