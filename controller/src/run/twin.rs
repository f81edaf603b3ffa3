//! The PDU twin and its controller stepped together, one fixed step at a time: the one control
//! loop that a scenario run, the live service and the window all drive. The caller owns the
//! clock (simulated time here; wall time paced by the live service).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use grid_types::SourceId;
use sim::Pdu;

use crate::backend::emulated_hil::{EmulatedHil, LoadMetering, bench_for};
use crate::backend::emulated_meters::EmulatedMeters;
use crate::backend::{Backend, PduBackend, SimBackend};
use crate::scenario::BackendKind;
use crate::scenario::format::{Action, BusFault, Fidelity, Target};
use crate::scenario::{Loaded, Scenario, Site};
use control_core::LoadSettings;
use control_core::PduMetering;
use control_core::{ConfigError, Refused, UnknownLoad};
use control_core::{Controller, Event, EventKind, Instant, Measurements, OperatorCommand};
use record::FaultRecord;
use sim::feeder::Feeder;

/// Why a scenario has no PDU loop: its grid is a feeder, or its backend could not be set up.
#[derive(Debug)]
pub enum NoPduLoop<'a> {
    Feeder(&'a Feeder),
    Backend(String),
}

pub struct PduLoop {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    ctl: Controller,
    backend: PduBackend,
    actions: Vec<(Instant, Action)>,
    next_action: usize,
    undo: Vec<(Instant, Undo)>,
    m: Measurements,
    dt_us: u64,
    /// Steps taken.
    k: u64,
    /// Energy registers, J: the loads in grid order, then main and backup; and as they were at
    /// the start of the last step.
    energy: Vec<f64>,
    energy_start: Vec<f64>,
    events: Vec<Event>,
    /// The control loop is hung until then (emulated hardware).
    hung_until: Option<Instant>,
}

impl PduLoop {
    /// The scenario's twin and controller at time zero. `epoch` replaces the scenario's start
    /// as the wall-clock time of time zero (the live service runs on today's clock);
    /// `restored_relays` are the relay states stored before a restart.
    pub fn new<'a>(
        l: &'a Loaded,
        epoch: Option<NaiveDateTime>,
        restored_relays: Option<&[bool]>,
    ) -> Result<Self, NoPduLoop<'a>> {
        let spec = match &l.site {
            Site::Pdu(p) => p,
            Site::Feeder(f) => return Err(NoPduLoop::Feeder(f)),
        };
        let s = &l.scenario;
        let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
        let pdu = Pdu::new(spec);
        let backend = match (l.backend, &s.fidelity) {
            (kind @ (BackendKind::EmulatedHil | BackendKind::EmulatedHilAds1115), _) => {
                let metering = if kind == BackendKind::EmulatedHil {
                    LoadMetering::Nodes
                } else {
                    LoadMetering::Ads1115
                };
                let bench = bench_for(spec, &s.controller, metering);
                let hil = EmulatedHil::new(pdu, &bench, &names, s.step(), spec.seed)
                    .expect("bench_for wires every load and source");
                PduBackend::EmulatedHil(Box::new(hil))
            }
            (BackendKind::EmulatedMeters, _) => PduBackend::EmulatedMeters(Box::new(
                EmulatedMeters::new(pdu).map_err(NoPduLoop::Backend)?,
            )),
            // The loader refuses the emulated field for a PDU.
            (BackendKind::Sim | BackendKind::EmulatedField, Fidelity::Phasor) => {
                PduBackend::Sim(Box::new(SimBackend::new(pdu)))
            }
            (BackendKind::Sim | BackendKind::EmulatedField, Fidelity::Waveform(w)) => {
                let (v, hz) = (spec.nominal_v, spec.nominal_hz);
                PduBackend::Sim(Box::new(SimBackend::sampled(pdu, w, v, hz, spec.seed)))
            }
        };
        Ok(Self::with_backend(
            l,
            spec,
            names,
            backend,
            schedule(s),
            epoch,
            restored_relays,
        ))
    }

    /// The scenario's controller on a real site (`backend::hardware::Hardware` on a Pi), with
    /// no twin: energy is counted from what the meters read, and the timeline is not played
    /// (the world does what it does).
    pub fn on_site<'a>(
        l: &'a Loaded,
        site: Box<dyn Backend + Send>,
        epoch: NaiveDateTime,
        restored_relays: Option<&[bool]>,
    ) -> Result<Self, NoPduLoop<'a>> {
        let spec = match &l.site {
            Site::Pdu(p) => p,
            Site::Feeder(f) => return Err(NoPduLoop::Feeder(f)),
        };
        let backend = PduBackend::Site(site);
        let names = spec.loads.iter().map(|x| x.name.clone()).collect();
        Ok(Self::with_backend(
            l,
            spec,
            names,
            backend,
            Vec::new(),
            Some(epoch),
            restored_relays,
        ))
    }

    /// `names`: the grid's loads, in its order.
    fn with_backend(
        l: &Loaded,
        spec: &sim::PduSpec,
        names: Vec<String>,
        backend: PduBackend,
        actions: Vec<(Instant, Action)>,
        epoch: Option<NaiveDateTime>,
        restored_relays: Option<&[bool]>,
    ) -> Self {
        let s = &l.scenario;
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let ctl = Controller::new(
            spec.nominal_v,
            spec.nominal_hz,
            &names,
            &s.controller,
            epoch.unwrap_or(s.start.0),
            restored_relays,
        )
        .expect("validated by the loader");
        let n = names.len() + 2;
        PduLoop {
            names,
            index,
            ctl,
            backend,
            actions,
            next_action: 0,
            undo: Vec::new(),
            m: Measurements::default(),
            dt_us: (s.step() * 1e6).round().max(1.0) as u64,
            k: 0,
            energy: vec![0.0; n],
            energy_start: vec![0.0; n],
            events: Vec::new(),
            hung_until: None,
        }
    }

    /// One step: the timeline's due actions, a measurement, the controller's decision acted
    /// on by the twin. Returns the events of the step (operator commands given since the last
    /// step included).
    pub fn step(&mut self) -> &[Event] {
        let now = self.now();
        while let Some((t, a)) = self.actions.get(self.next_action)
            && *t <= now
        {
            if let Action::ControllerHang { duration } = a {
                self.hung_until = Some(now + duration.duration());
            }
            let b = &mut self.backend;
            apply(a, now, b, &mut self.ctl, &self.index, &mut self.undo);
            self.next_action += 1;
        }
        let (backend, index) = (&mut self.backend, &self.index);
        self.undo.retain(|(t, u)| {
            if *t > now {
                return true;
            }
            if let Undo::Bus(fault, address) = u {
                if let Some(hil) = backend.hil() {
                    hil.clear_fault(*fault, *address);
                }
                return false;
            }
            let Some(pdu) = backend.pdu_mut() else {
                return false;
            };
            match u {
                Undo::Short(i) => pdu.loads[*i].short_ohm = None,
                Undo::Neutral(id) => pdu.set_neutral_open(*id, false),
                Undo::Sensor(Target::Load(n)) => pdu.set_load_sensor_fault(index[n.as_str()], None),
                Undo::Sensor(Target::Source(id)) => pdu.set_source_sensor_fault(*id, None),
                Undo::Bus(..) => {}
            }
            false
        });
        let dt = self.dt();
        match (self.hung_until, self.backend.hil()) {
            // A hung loop neither measures nor decides nor beats; the world goes on.
            (Some(until), Some(hil)) if now < until => hil.idle(dt),
            _ => {
                self.backend.measure(now.as_secs_f64(), &mut self.m);
                self.backend.actuate(self.ctl.step(now, &self.m), dt);
            }
        }
        self.events.clear();
        self.events.extend(self.ctl.drain_events());
        for e in &self.events {
            if matches!(e.kind, EventKind::Trip { .. }) {
                self.backend.trip(e.t, &e.subject);
            }
        }
        self.backend.reports(now, &mut self.events);
        self.energy_start.copy_from_slice(&self.energy);
        // The twin's true power; on a real site, the meters'.
        let r = match self.backend.pdu() {
            Some(pdu) => pdu.truth(),
            None => self.backend.readings(),
        };
        let n = self.names.len();
        for (e, l) in self.energy.iter_mut().zip(&r.loads) {
            *e += l.p * dt;
        }
        self.energy[n] += r.main.p * dt;
        self.energy[n + 1] += r.backup.p * dt;
        self.k += 1;
        &self.events
    }

    /// An operator's command, acted on at the next step.
    pub fn operator(&mut self, cmd: &OperatorCommand) -> Result<(), Refused> {
        self.ctl.operator(self.now(), cmd)
    }

    /// Alert events of this step acted on: the loads of rules that shed held off while their
    /// alert stands (the rules were checked against the site when they were set).
    pub fn apply_alerts(&mut self, events: &[Event], rules: &[control_core::AlertRule]) {
        let now = self.now();
        for (rule, loads, hold) in crate::alerts::holds(events, rules) {
            let _ = self.ctl.alert_shed(now, rule, &loads, hold);
        }
    }

    /// A timeline action now (the window's fault buttons), as the timeline would act on it;
    /// names must exist (a wrong one is refused, changing nothing).
    pub fn act(&mut self, a: &Action) -> Result<(), UnknownLoad> {
        let known = |n: &str| {
            self.index
                .contains_key(n)
                .then_some(())
                .ok_or_else(|| UnknownLoad(n.to_string()))
        };
        match a {
            Action::ShortCircuit { load, .. }
            | Action::LoadStep { load, .. }
            | Action::WeldRelay { load } => known(load)?,
            Action::SensorFault {
                target: Target::Load(n),
                ..
            } => known(n)?,
            _ => {}
        }
        let now = self.now();
        let (b, c) = (&mut self.backend, &mut self.ctl);
        apply(a, now, b, c, &self.index, &mut self.undo);
        Ok(())
    }

    /// New settings for one load, in force from the next step.
    pub fn configure_load(&mut self, name: &str, cfg: LoadSettings) -> Result<(), ConfigError> {
        self.ctl.configure_load(self.now(), name, cfg)
    }

    /// A new generator exercise schedule (none: no more), in force from the next step.
    pub fn set_exercise(&mut self, ex: Option<control_core::Exercise>) -> Result<(), ConfigError> {
        self.ctl.set_exercise(self.now(), ex)
    }

    /// Before the first step: operators' commands from before a restart, acted on again
    /// without logging them anew (they were logged when given). Unknown loads (the scenario
    /// changed since) are skipped.
    pub fn restore(&mut self, cmds: &[OperatorCommand]) {
        debug_assert_eq!(self.k, 0, "restore before the first step");
        for c in cmds {
            let _ = self.ctl.operator(self.now(), c);
        }
        // Nothing else can be pending before the first step.
        let _ = self.ctl.drain_events();
    }

    /// The start of the next step.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.k * self.dt_us)
    }

    /// The step, s.
    pub fn dt(&self) -> f64 {
        self.dt_us as f64 / 1e6
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the twin's panel is split phase: its row then ends with the legs' meters.
    pub fn split_phase(&self) -> bool {
        self.pdu()
            .is_some_and(|p| p.service() != sim::pdu::Service::SinglePhase)
    }

    /// The twin (None on a real site).
    pub fn pdu(&self) -> Option<&Pdu> {
        self.backend.pdu()
    }

    /// What the site's meters show now: the twin's sensors, or the hardware's nodes.
    pub fn readings(&self) -> &grid_types::Readings {
        self.backend.readings()
    }

    /// Whether load `i`'s relay is closed: in the twin, or as last commanded on a real site.
    pub fn relay_closed(&self, i: usize) -> bool {
        self.backend.relay_closed(i)
    }

    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// The energy registers now, J: the loads in grid order, then main and backup.
    pub fn energy_j(&self) -> &[f64] {
        &self.energy
    }

    /// The energy registers at the start of the last step.
    pub fn step_start_energy_j(&self) -> &[f64] {
        &self.energy_start
    }

    /// What the controller was given at the last step.
    pub fn measured(&self) -> &Measurements {
        &self.m
    }

    /// The fault records completed since the last call (a backend that samples makes them).
    pub fn take_fault_records(&mut self, out: &mut Vec<FaultRecord>) {
        self.backend.fault_records(out);
    }

    /// The controller's meters, in a waveform run.
    pub fn metering(&self) -> Option<&PduMetering> {
        self.backend.metering()
    }
}

/// Things the timeline undoes when their duration ends.
#[derive(Debug, Clone)]
enum Undo {
    Short(usize),
    /// A source's neutral to the split-phase panel is restored.
    Neutral(SourceId),
    Sensor(Target),
    /// A bus fault at a node's address (the whole bus: None) ends.
    Bus(BusFault, Option<u8>),
}

/// Timeline actions flattened (repeats expanded) and in time order, as step instants.
pub(crate) fn schedule(s: &Scenario) -> Vec<(Instant, Action)> {
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

fn apply(
    a: &Action,
    now: Instant,
    backend: &mut PduBackend,
    ctl: &mut Controller,
    index: &BTreeMap<String, usize>,
    undo: &mut Vec<(Instant, Undo)>,
) {
    if let Action::BusFault {
        fault,
        target,
        duration,
    } = a
    {
        // The loader refuses bus faults on the simulated backend.
        if let Some(hil) = backend.hil() {
            let address = target.as_ref().map(|t| hil.address_of(t, index));
            hil.inject(*fault, address);
            if let Some(d) = duration {
                undo.push((now + d.duration(), Undo::Bus(*fault, address)));
            }
        }
        return;
    }
    // A real site has no timeline.
    let Some(pdu) = backend.pdu_mut() else {
        return;
    };
    let t = pdu.time();
    let until = |d: Option<control_core::Secs>| d.map_or(f64::INFINITY, |d| t + d.get());
    let later = |d: control_core::Secs| now + d.duration();
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
        Action::OpenNeutral { source, duration } => {
            pdu.set_neutral_open(*source, true);
            if let Some(d) = duration {
                undo.push((later(*d), Undo::Neutral(*source)));
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
        Action::BusFault { .. } => unreachable!("handled above"),
        // Acted on by the loop itself.
        Action::ControllerHang { .. } => {}
        // Refused for a PDU by the loader.
        Action::PhaseSelect { .. } | Action::Tap { .. } | Action::FieldFault { .. } => {}
    }
}
