//! A site's loop, whichever grid the scenario has: the one place that chooses between the PDU's
//! loop and the feeder's, for the front ends that step a site without caring which it is (the
//! live service and the window), and a feeder live on its real home nodes. What only one kind
//! of site can do is refused, said, by the others.

use chrono::NaiveDateTime;
use control_core::{Event, LoadSettings, OperatorCommand};
use grid_types::Phase;
use record::schema::Channel;

use super::field_loop::FIELD_ON_PDU;
use super::{FeederLoop, FieldLoop, PduLoop};
use crate::backend::Backend;
use crate::scenario::{Loaded, Site};

pub enum SiteLoop {
    Pdu(Box<PduLoop>),
    Feeder(Box<FeederLoop>),
    /// A feeder on its home nodes, with no twin in the loop.
    Field(Box<FieldLoop>),
}

/// What a live site runs on.
pub enum Rig {
    /// The scenario's twin.
    Twin,
    /// A PDU's controller on a bench's hardware (real or emulated), no twin.
    Bench(Box<dyn Backend + Send>),
    /// A feeder's balancer on the field's home nodes (real or emulated), no twin.
    Field(Box<FieldLoop>),
}

impl SiteLoop {
    /// The scenario's twin at time zero: its PDU through the scenario's backend, or its feeder
    /// with the home nodes' field; what fails to set up, said.
    pub fn new(l: &Loaded) -> Result<Self, String> {
        Self::live(l, None, None, Rig::Twin)
    }

    /// As `new`, with `epoch` as the wall-clock time of time zero (the live service runs on
    /// today's clock), a PDU's relay states stored before a restart, and the `rig` it runs on.
    pub fn live(
        l: &Loaded,
        epoch: Option<NaiveDateTime>,
        relays: Option<&[bool]>,
        rig: Rig,
    ) -> Result<Self, String> {
        let not_pdu = |_| "not a PDU scenario".to_string();
        Ok(match (&l.site, rig, epoch) {
            (Site::Pdu(_), Rig::Bench(hw), Some(at)) => SiteLoop::Pdu(Box::new(
                PduLoop::on_site(l, hw, at, relays).map_err(not_pdu)?,
            )),
            (Site::Pdu(_), Rig::Bench(_), None) => {
                return Err("a site's hardware runs on the wall clock".into());
            }
            (Site::Pdu(_), Rig::Twin, _) => {
                SiteLoop::Pdu(Box::new(PduLoop::new(l, epoch, relays).map_err(not_pdu)?))
            }
            (Site::Pdu(_), Rig::Field(_), _) => return Err(FIELD_ON_PDU.into()),
            (Site::Feeder(_), Rig::Bench(_), _) => {
                return Err("a bench drives a PDU, not a feeder".into());
            }
            (Site::Feeder(_), Rig::Field(f), _) => SiteLoop::Field(f),
            (Site::Feeder(f), Rig::Twin, _) => SiteLoop::Feeder(Box::new(
                FeederLoop::new(l, f, l.scenario.balancing.as_ref())
                    .map_err(|(what, why)| format!("{what}: {why}"))?,
            )),
        })
    }

    /// Simulated time, s.
    pub fn now_s(&self) -> f64 {
        match self {
            SiteLoop::Pdu(p) => p.now().as_secs_f64(),
            SiteLoop::Feeder(f) => f.now_s(),
            SiteLoop::Field(f) => f.now_s(),
        }
    }

    /// The fixed step, s.
    pub fn dt(&self) -> f64 {
        match self {
            SiteLoop::Pdu(p) => p.dt(),
            SiteLoop::Feeder(f) => f.dt(),
            SiteLoop::Field(f) => f.dt(),
        }
    }

    /// One step; its events appended. False when it left nothing to record (a feeder's
    /// failed solve).
    pub fn step(&mut self, events: &mut Vec<Event>) -> bool {
        match self {
            SiteLoop::Pdu(p) => {
                events.extend_from_slice(p.step());
                true
            }
            SiteLoop::Feeder(f) => f.step(events, |_, _, _| {}),
            SiteLoop::Field(f) => {
                f.step(events);
                true
            }
        }
    }

    /// Alert events acted on: a PDU's loads held off by rules that shed.
    pub fn apply_alerts(&mut self, events: &[Event], rules: &[control_core::AlertRule]) {
        if let SiteLoop::Pdu(p) = self {
            p.apply_alerts(events, rules);
        }
    }

    /// The fault records completed since the last call (a PDU whose backend samples).
    pub fn take_fault_records(&mut self, out: &mut Vec<record::FaultRecord>) {
        if let SiteLoop::Pdu(p) = self {
            p.take_fault_records(out);
        }
    }

    /// The recorded channels, in the order of `row`.
    pub fn channels(&self) -> Vec<Channel> {
        match self {
            SiteLoop::Pdu(p) => p.channels(),
            SiteLoop::Feeder(f) => f.channels(),
            SiteLoop::Field(f) => f.channels(),
        }
    }

    /// What the site's meters read now (a PDU's sensors or nodes, a feeder's last solution),
    /// with the energy registers `energy_j` in the order of `registers`.
    pub fn row(&self, energy_j: &[f64], out: &mut Vec<f64>) {
        match self {
            SiteLoop::Pdu(p) => p.row(p.readings(), energy_j, out),
            SiteLoop::Feeder(f) => f.row(energy_j, out),
            SiteLoop::Field(f) => f.row(energy_j, out),
        }
    }

    /// The energy registers' names, in the order of `energy_j`: each register's energy channel
    /// without its `/energy` (a PDU's loads then main and backup, a feeder's homes then its
    /// source).
    pub fn registers(&self) -> Vec<String> {
        let (mut members, sites): (Vec<String>, Vec<String>) = self
            .channels()
            .into_iter()
            .filter_map(|c| c.name.strip_suffix("/energy").map(String::from))
            .partition(|n| n.contains('/'));
        members.extend(sites);
        members
    }

    /// The energy registers since time zero, J, in the order of `registers`.
    pub fn energy_j(&self) -> &[f64] {
        match self {
            SiteLoop::Pdu(p) => p.energy_j(),
            SiteLoop::Feeder(f) => f.energy_j(),
            SiteLoop::Field(f) => f.energy_j(),
        }
    }

    /// Each load's settings in force, in grid order; none for a feeder.
    pub fn load_settings(&self) -> Vec<(String, LoadSettings)> {
        let SiteLoop::Pdu(p) = self else {
            return Vec::new();
        };
        let settings = &p.controller().settings().loads;
        p.names()
            .iter()
            .map(|n| (n.clone(), settings.get(n).cloned().unwrap_or_default()))
            .collect()
    }

    /// An operator's command to a PDU, acted on at the next step.
    pub fn operator(&mut self, cmd: &OperatorCommand) -> Result<(), String> {
        match self {
            SiteLoop::Pdu(p) => p.operator(cmd).map_err(|e| e.to_string()),
            SiteLoop::Feeder(_) | SiteLoop::Field(_) => Err(NO_RELAYS.into()),
        }
    }

    /// A PDU's new generator exercise schedule (none: no more), in force from the next step.
    pub fn set_exercise(&mut self, ex: Option<control_core::Exercise>) -> Result<(), String> {
        match self {
            SiteLoop::Pdu(p) => p.set_exercise(ex).map_err(|e| e.to_string()),
            SiteLoop::Feeder(_) | SiteLoop::Field(_) => {
                Err("a feeder has no transfer switch to exercise".into())
            }
        }
    }

    /// New settings for one of a PDU's loads, in force from the next step.
    pub fn configure_load(&mut self, name: &str, cfg: LoadSettings) -> Result<(), String> {
        match self {
            SiteLoop::Pdu(p) => p.configure_load(name, cfg).map_err(|e| e.to_string()),
            SiteLoop::Feeder(_) | SiteLoop::Field(_) => Err(NO_RELAYS.into()),
        }
    }

    /// A feeder home moved to another phase now, as its selector would (on the field, its node
    /// commanded); its events appended.
    pub fn move_phase(
        &mut self,
        home: &str,
        phase: Phase,
        events: &mut Vec<Event>,
    ) -> Result<(), String> {
        match self {
            SiteLoop::Feeder(f) => f
                .move_phase(home, phase, events)
                .then_some(())
                .ok_or_else(|| format!("{home} is not a single-phase home with a phase selector")),
            SiteLoop::Field(f) => f.move_phase(home, phase),
            SiteLoop::Pdu(_) => Err("a PDU has no phase selectors".into()),
        }
    }
}

const NO_RELAYS: &str = "a feeder's homes have no relays here; move a home's phase instead";
