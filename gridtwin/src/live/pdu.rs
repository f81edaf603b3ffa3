//! A PDU live: the operators' settings and manual switching from before a restart, what is
//! restored at the next, and the PDU as its meters read it.

use std::collections::BTreeMap;

use control_core::OperatorCommand;
use control_core::check_settings;
use control_core::{Exercise, LoadSettings};
use controller::run::PduLoop;
use controller::scenario::Loaded;
use serde::Serialize;

use super::Snapshot;
use crate::store::Store;

/// The manual switching from before a restart acted on again: loads an operator switched stay
/// as they were left.
pub(super) fn restore(p: &mut PduLoop, store: &Store) -> Result<Manual, String> {
    let manual: Manual = store
        .state("manual")
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let cmds: Vec<OperatorCommand> = manual
        .iter()
        .map(|(n, &on)| {
            if on {
                OperatorCommand::On(n.clone())
            } else {
                OperatorCommand::Off(n.clone())
            }
        })
        .collect();
    p.restore(&cmds);
    Ok(manual)
}

/// Each load's last manual on/off, restored after a restart.
pub(super) type Manual = BTreeMap<String, bool>;

/// What to restore after a restart: the relays and the manual switching.
pub(super) fn state(p: &PduLoop, manual: &Manual) -> Vec<(String, serde_json::Value)> {
    let relays: Vec<bool> = (0..p.names().len()).map(|i| p.relay_closed(i)).collect();
    vec![
        ("relays".into(), serde_json::json!(relays)),
        ("manual".into(), serde_json::json!(manual)),
    ]
}

/// The PDU's part of the snapshot: what its meters read, with the energy counters `energy`.
pub(super) fn view(p: &PduLoop, energy: &[f64], snap: &mut Snapshot) {
    let r = p.readings();
    let ctl = p.controller();
    let status = ctl.status();
    let n = r.loads.len();
    let source = |k: usize, r: &grid_types::SourceReading| SourceView {
        v: r.v,
        hz: r.hz,
        i: r.i,
        p_w: r.p,
        q_var: r.q,
        closed: [status.main_closed, status.backup_closed][k],
        available: [status.main_available, status.backup_available][k],
        locked_out: [status.main_locked_out, status.backup_locked_out][k],
        energy_j: energy[n + k],
    };
    snap.ats = status.ats;
    snap.engine_start = status.engine_start;
    snap.exercise = ctl.settings().ats.exercise.clone();
    snap.ats_test = status
        .testing
        .map(|on| if on { "on_load" } else { "off_load" });
    snap.main = source(0, &r.main);
    snap.backup = source(1, &r.backup);
    snap.bus_v = r.bus_v;
    snap.bus_hz = r.bus_hz;
    snap.total_w = r.loads.iter().map(|l| l.p).sum();
    snap.loads = r
        .loads
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let s = l.p.hypot(l.q);
            let name = &p.names()[i];
            let cfg = ctl.settings().loads.get(name).cloned().unwrap_or_default();
            LoadView {
                name: name.clone(),
                status: control_core::LoadStatus::NAMES[ctl.load_status(i).code() as usize],
                relay: p.relay_closed(i),
                v: l.v,
                i: l.i,
                p_w: l.p,
                q_var: l.q,
                pf: (s > 1e-9).then(|| l.p / s),
                energy_j: energy[i],
                priority: cfg.priority,
                critical: cfg.critical,
                limit_a: cfg.limit_a.map(|x| x.get()),
                limit_w: cfg.limit_w.map(|x| x.get()),
            }
        })
        .collect();
}

/// One source as the overview shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceView {
    pub v: f64,
    pub hz: f64,
    pub i: f64,
    pub p_w: f64,
    pub q_var: f64,
    pub closed: bool,
    pub available: bool,
    pub locked_out: bool,
    pub energy_j: f64,
}

/// One load as the overview shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LoadView {
    pub name: String,
    pub status: &'static str,
    pub relay: bool,
    pub v: f64,
    pub i: f64,
    pub p_w: f64,
    pub q_var: f64,
    /// None without current.
    pub pf: Option<f64>,
    pub energy_j: f64,
    pub priority: u8,
    pub critical: bool,
    pub limit_a: Option<f64>,
    pub limit_w: Option<f64>,
}

/// Where an admin's generator exercise schedule is kept in the settings table.
pub const EXERCISE: &str = "ats/exercise";

/// The scenario with each load's settings as an operator last saved them (`load/NAME` in the
/// settings table) and the exercise schedule as an admin last saved it. Saved settings that no longer fit the scenario are reported and skipped.
pub(super) fn with_stored_settings(l: &Loaded, store: &Store) -> Result<Loaded, String> {
    let mut l = l.clone();
    let Some(spec) = l.pdu() else {
        return Ok(l);
    };
    let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
    for n in &names {
        let key = format!("load/{n}");
        let stored: Option<LoadSettings> = match store.setting(&key) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("ignoring the saved settings of {n}: {e}");
                None
            }
        };
        let Some(cfg) = stored else { continue };
        let mut s = l.scenario.controller.clone();
        s.loads.insert(n.clone(), cfg);
        match check_settings(&names, &s) {
            Ok(()) => l.scenario.controller = s,
            Err(e) => tracing::warn!("ignoring the saved settings of {n}: {e}"),
        }
    }
    match store.setting::<Option<Exercise>>(EXERCISE) {
        Ok(Some(ex)) => {
            let mut s = l.scenario.controller.clone();
            s.ats.exercise = ex;
            match check_settings(&names, &s) {
                Ok(()) => l.scenario.controller = s,
                Err(e) => tracing::warn!("ignoring the saved exercise schedule: {e}"),
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!("ignoring the saved exercise schedule: {e}"),
    }
    Ok(l)
}
