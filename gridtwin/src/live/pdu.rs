//! A PDU live: `PduLoop` (the controller and the twin, or the bench's hardware), its operators'
//! commands and settings, relay states and manual switching restored after a restart. What is
//! shown and stored is what the site's meters read.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use control_core::LoadSettings;
use control_core::check_settings;
use control_core::{Event, OperatorCommand};
use controller::backend::Backend;
use controller::run::PduLoop;
use controller::scenario::Loaded;
use serde::Serialize;

use super::{LiveSite, LoadTable, Request, Snapshot};
use crate::store::Store;

pub(super) struct PduSite {
    twin: PduLoop,
    loads: LoadTable,
    /// Each load's last manual on/off, restored after a restart.
    manual: BTreeMap<String, bool>,
    /// The next whole simulated second to record.
    next_reading_s: u64,
}

impl PduSite {
    /// The twin at `local` (the wall clock, for schedules) with the saved settings, relay
    /// states and manual switching; `loads` gets each load's settings.
    pub(super) fn new(
        l: &Loaded,
        store: &Store,
        local: NaiveDateTime,
        loads: LoadTable,
        hardware: Option<Box<dyn Backend + Send>>,
    ) -> Result<Self, String> {
        let stored_relays: Option<Vec<bool>> = store.state("relays").map_err(|e| e.to_string())?;
        let l = &with_stored_settings(l, store)?;
        let relays = stored_relays.as_deref();
        let mut twin = match hardware {
            Some(hw) => PduLoop::on_site(l, hw, local, relays),
            None => PduLoop::new(l, Some(local), relays),
        }
        .map_err(|_| "not a PDU scenario".to_string())?;
        // Loads an operator switched stay as they were left.
        let manual: BTreeMap<String, bool> = store
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
        twin.restore(&cmds);
        if let Ok(mut table) = loads.write() {
            *table = twin
                .names()
                .iter()
                .map(|n| {
                    let s = twin.controller().settings().loads.get(n).cloned();
                    (n.clone(), s.unwrap_or_default())
                })
                .collect();
        }
        Ok(PduSite {
            twin,
            loads,
            manual,
            next_reading_s: 0,
        })
    }
}

impl LiveSite for PduSite {
    fn now_s(&self) -> f64 {
        self.twin.now().as_secs_f64()
    }

    fn dt(&self) -> f64 {
        self.twin.dt()
    }

    fn step(&mut self, events: &mut Vec<Event>) {
        events.extend_from_slice(self.twin.step());
    }

    /// One reading per channel per simulated second, stamped at that second.
    fn reading_due(&mut self) -> Option<i64> {
        let t = self.now_s();
        if t < self.next_reading_s as f64 {
            return None;
        }
        let stamp = self.next_reading_s as i64 * 1000;
        self.next_reading_s = t.floor() as u64 + 1;
        Some(stamp)
    }

    fn channels(&self) -> Vec<(String, &'static str)> {
        let mut names = Vec::new();
        for l in self.twin.names() {
            for (q, unit) in LOAD_CHANNELS {
                names.push((format!("load/{l}/{q}"), unit));
            }
        }
        for s in ["main", "backup"] {
            for (q, unit) in SOURCE_CHANNELS {
                names.push((format!("{s}/{q}"), unit));
            }
        }
        names.extend([
            ("bus/v".to_string(), "V"),
            ("bus/hz".to_string(), "Hz"),
            ("site/p".to_string(), "W"),
            ("site/ats".to_string(), "state"),
        ]);
        names
    }

    fn counters(&self) -> Vec<String> {
        self.twin
            .names()
            .iter()
            .map(|l| format!("load/{l}"))
            .chain(["main".to_string(), "backup".to_string()])
            .collect()
    }

    fn energy_j(&self) -> Vec<f64> {
        self.twin.energy_j().to_vec()
    }

    fn values(&self, energy: &[f64], values: &mut Vec<f64>) {
        let r = self.twin.readings();
        let ctl = self.twin.controller();
        let b = |x: bool| f64::from(u8::from(x));
        for (i, l) in r.loads.iter().enumerate() {
            let s = l.p.hypot(l.q);
            values.extend([
                l.v,
                l.i,
                l.p,
                l.q,
                if s > 1e-9 { l.p / s } else { f64::NAN },
                b(self.twin.relay_closed(i)),
                f64::from(ctl.load_status(i).code()),
                energy[i],
            ]);
        }
        let n = r.loads.len();
        for (s, e) in [(&r.main, energy[n]), (&r.backup, energy[n + 1])] {
            values.extend([s.v, s.hz, s.i, s.p, s.q, e]);
        }
        values.extend([
            r.bus_v,
            r.bus_hz,
            r.loads.iter().map(|l| l.p).sum(),
            f64::from(ctl.ats_state().code()),
        ]);
    }

    fn view(&self, energy: &[f64], snap: &mut Snapshot) {
        let r = self.twin.readings();
        let ctl = self.twin.controller();
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
                let name = &self.twin.names()[i];
                let cfg = ctl.settings().loads.get(name).cloned().unwrap_or_default();
                LoadView {
                    name: name.clone(),
                    status: control_core::LoadStatus::NAMES[ctl.load_status(i).code() as usize],
                    relay: self.twin.relay_closed(i),
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

    fn request(&mut self, r: Request) {
        match r {
            Request::Operator(cmd, reply) => {
                let r = self.twin.operator(&cmd).map_err(|e| e.to_string());
                if r.is_ok() {
                    match &cmd {
                        OperatorCommand::On(n) => self.manual.insert(n.clone(), true),
                        OperatorCommand::Off(n) => self.manual.insert(n.clone(), false),
                        _ => None,
                    };
                }
                let _ = reply.send(r);
            }
            Request::Configure(name, cfg, reply) => {
                let r = self
                    .twin
                    .configure_load(&name, (*cfg).clone())
                    .map_err(|e| e.to_string());
                if r.is_ok()
                    && let Ok(mut loads) = self.loads.write()
                    && let Some(slot) = loads.iter_mut().find(|(n, _)| *n == name)
                {
                    slot.1 = *cfg;
                }
                let _ = reply.send(r);
            }
            Request::MovePhase(_, _, reply) => {
                let _ = reply.send(Err("a PDU has no phase selectors".into()));
            }
        }
    }

    fn state(&self) -> Vec<(String, serde_json::Value)> {
        let relays: Vec<bool> = (0..self.twin.names().len())
            .map(|i| self.twin.relay_closed(i))
            .collect();
        vec![
            ("relays".into(), serde_json::json!(relays)),
            ("manual".into(), serde_json::json!(self.manual)),
        ]
    }
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

/// The scenario with each load's settings as an operator last saved them (`load/NAME` in the
/// settings table). Saved settings that no longer fit the scenario are reported and skipped.
fn with_stored_settings(l: &Loaded, store: &Store) -> Result<Loaded, String> {
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
    Ok(l)
}

const LOAD_CHANNELS: [(&str, &str); 8] = [
    ("v", "V"),
    ("i", "A"),
    ("p", "W"),
    ("q", "var"),
    ("pf", "1"),
    ("relay", "state"),
    ("status", "state"),
    ("energy", "J"),
];
const SOURCE_CHANNELS: [(&str, &str); 6] = [
    ("v", "V"),
    ("hz", "Hz"),
    ("i", "A"),
    ("p", "W"),
    ("q", "var"),
    ("energy", "J"),
];
