//! The PDU half of a scenario's validation: the grid (sources, loads, sensors, series files),
//! the fidelity, the controller's settings, the timeline and the expectations, each against the
//! PDU's own names.

use grid_types::SourceId;
use sim::pdu::Service;
use sim::{Leg, LoadModel, PduSpec, SourceKind, Transducer};

use super::format::{
    Action, Anchor, BackendKind, BusFault, Expect, Fidelity, METER_PREFIX, Scenario, Target,
};
use super::load::{ScenarioError, Validator};
use control_core::{ConfigError, Controller, EVENT_NAMES};

impl Validator<'_> {
    /// Everything after the grid and the run's timing.
    pub(super) fn check_pdu(&self, s: &Scenario, pdu: &PduSpec) -> Result<(), ScenarioError> {
        if self.backend == BackendKind::EmulatedField {
            return Err(self.at(
                "backend",
                None,
                "EmulatedField runs a feeder's home nodes; this grid is a PDU".into(),
            ));
        }
        if pdu.service != Service::SinglePhase {
            // The emulated meters and measurement nodes, and the waveform synthesizer, meter
            // one line: a split-phase panel runs on the phasor twin.
            if self.backend != BackendKind::Sim {
                return Err(self.at(
                    "backend",
                    None,
                    "a SplitPhase panel runs on the simulated backend (Sim) only".into(),
                ));
            }
            if matches!(s.fidelity, Fidelity::Waveform(_)) {
                return Err(self.at(
                    "fidelity",
                    None,
                    "a SplitPhase panel is solved as phasors: fidelity Phasor".into(),
                ));
            }
        }
        self.check_fidelity(s, pdu)?;
        self.check_controller(s, pdu)?;
        self.check_timeline(s, pdu)?;
        self.check_expect(s, pdu)?;
        let names: Vec<String> = pdu.loads.iter().map(|l| l.name.clone()).collect();
        let mut channels = record::schema::pdu_channels(&names);
        if pdu.service != Service::SinglePhase {
            channels.extend(record::schema::leg_channels());
        }
        self.check_alerts(s, channels)
    }

    pub(super) fn check_grid(&self, pdu: &mut PduSpec) -> Result<(), ScenarioError> {
        let bad = |needle: Option<&str>, m: String| Err(self.at("grid", needle, m));
        if !(pdu.nominal_v > 0.0 && pdu.nominal_hz > 0.0) {
            return bad(None, "nominal_v and nominal_hz must be > 0".into());
        }
        if pdu.loads.is_empty() || pdu.loads.len() > 64 {
            return bad(
                None,
                format!("a PDU has 1 to 64 loads, found {}", pdu.loads.len()),
            );
        }
        for (which, src) in [("main", &pdu.main), ("backup", &pdu.backup)] {
            if let SourceKind::Generator { rating_kw, .. } = src.kind
                && rating_kw <= 0.0
            {
                return bad(Some("rating_kw"), format!("{which}: rating_kw must be > 0"));
            }
        }
        if let Service::SplitPhase {
            neutral_r_ohm,
            neutral_x_ohm,
        } = pdu.service
            && !(neutral_r_ohm >= 0.0
                && neutral_x_ohm >= 0.0
                && neutral_r_ohm + neutral_x_ohm > 0.0
                && (neutral_r_ohm + neutral_x_ohm).is_finite())
        {
            return bad(
                Some("SplitPhase"),
                "neutral_r_ohm and neutral_x_ohm must be >= 0, finite, and not both 0".into(),
            );
        }
        for (i, l) in pdu.loads.iter().enumerate() {
            if pdu.service == Service::SinglePhase && l.leg != Leg::L1 {
                return bad(
                    Some(&l.name),
                    format!(
                        "load {:?} is on {:?}: a SinglePhase panel has one line, L1; \
                         L2 and L1L2 need service: SplitPhase(...)",
                        l.name, l.leg
                    ),
                );
            }
            if l.name.is_empty() {
                return bad(None, format!("load {} has an empty name", i + 1));
            }
            if pdu.loads[..i].iter().any(|o| o.name == l.name) {
                return bad(
                    Some(&l.name),
                    format!("load name {:?} is used twice", l.name),
                );
            }
        }
        for l in &mut pdu.loads {
            let name = l.name.clone();
            // Orders index the synthesizer's rotator table: bounded, and no DC or fundamental.
            let harmonic_ok = |&(h, ratio, deg): &(u32, f64, f64)| {
                (2..=50).contains(&h) && ratio >= 0.0 && ratio.is_finite() && deg.is_finite()
            };
            if !l.harmonics.spectrum().iter().all(harmonic_ok) {
                return bad(
                    Some(&name),
                    format!(
                        "load {name:?}: harmonics need orders 2 ..= 50, ratios >= 0 and finite phases"
                    ),
                );
            }
            let (watts, pf) = match &l.model {
                LoadModel::ConstantPower { watts, pf }
                | LoadModel::ConstantImpedance { watts, pf }
                | LoadModel::Compressor { watts, pf, .. } => (*watts, *pf),
                LoadModel::Series { pf, .. } => (0.0, *pf),
            };
            if !(watts >= 0.0 && watts.is_finite()) {
                return bad(Some(&name), format!("load {name:?}: watts must be >= 0"));
            }
            if !(pf > 0.0 && pf <= 1.0) {
                return bad(
                    Some(&name),
                    format!("load {name:?}: pf must be in (0, 1], found {pf}"),
                );
            }
            if let LoadModel::Compressor {
                on,
                off,
                inrush,
                inrush_time,
                ..
            } = l.model
                && !(on > 0.0 && off >= 0.0 && inrush >= 1.0 && inrush_time >= 0.0)
            {
                return bad(
                    Some(&name),
                    format!("load {name:?}: a compressor needs on > 0, off >= 0, inrush >= 1"),
                );
            }
            if let LoadModel::Series {
                interval,
                file,
                watts,
                ..
            } = &mut l.model
            {
                if *interval <= 0.0 {
                    return bad(Some(&name), format!("load {name:?}: interval must be > 0"));
                }
                if let Some(f) = file.clone() {
                    *watts = self.series_csv(&f)?;
                }
                if watts.is_empty() {
                    return bad(
                        Some(&name),
                        format!("load {name:?}: a series needs `watts` or a `file`"),
                    );
                }
            }
        }
        Ok(())
    }

    /// One column of watts, with an optional header line.
    fn series_csv(&self, rel: &str) -> Result<Vec<f64>, ScenarioError> {
        let path = self.base.join(rel);
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            self.at(
                "grid",
                Some(rel),
                format!("cannot read series file {shown}: {e}"),
            )
        })?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let cell = line.split(',').next().unwrap_or("").trim();
            if cell.is_empty() {
                continue;
            }
            match cell.parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => out.push(w),
                _ if n == 0 => {} // header
                _ => {
                    return Err(ScenarioError {
                        file: shown,
                        line: n + 1,
                        col: 1,
                        message: format!("expected watts >= 0, found {cell:?}"),
                    });
                }
            }
        }
        Ok(out)
    }

    fn check_fidelity(&self, s: &Scenario, pdu: &PduSpec) -> Result<(), ScenarioError> {
        let Fidelity::Waveform(w) = &s.fidelity else {
            return Ok(());
        };
        let bad = |needle: &str, message: String| Err(self.at("fidelity", Some(needle), message));
        let min_rate = 10.0 * pdu.nominal_hz;
        if !(w.sample_rate >= min_rate && w.sample_rate <= 1e6) {
            return bad(
                "sample_rate",
                format!(
                    "sample_rate {} is outside {min_rate} ..= 1000000 samples/s (at least 10 per cycle)",
                    w.sample_rate
                ),
            );
        }
        if !(w.drift_hz >= 0.0 && w.drift_hz < 0.1 * pdu.nominal_hz) {
            return bad(
                "drift_hz",
                "drift_hz must be in 0 .. 10 % of nominal".into(),
            );
        }
        if !((1..=24).contains(&w.adc.bits) && w.adc.vref > 0.0 && w.adc.vref.is_finite()) {
            return bad("adc", "adc needs 1 ..= 24 bits and a positive vref".into());
        }
        for (name, c) in [
            ("voltage_sensor", &w.voltage_sensor),
            ("load_current_sensor", &w.load_current_sensor),
            ("source_current_sensor", &w.source_current_sensor),
        ] {
            let rating_ok = match c.kind {
                Transducer::Ideal => true,
                Transducer::Acs712 { amps } => [5, 20, 30].contains(&amps),
                Transducer::Sct013 { amps: x } | Transducer::Zmpt101b { volts: x } => {
                    x > 0.0 && x.is_finite()
                }
            };
            let finite = [c.gain_error, c.offset, c.phase_deg, c.noise.unwrap_or(0.0)]
                .iter()
                .all(|x| x.is_finite());
            if !rating_ok || !finite || c.noise.is_some_and(|n| n < 0.0) || c.gain_error <= -1.0 {
                return bad(
                    name,
                    format!(
                        "{name}: the ACS712 comes in 5, 20 and 30 A; ratings must be positive; \
                         errors finite, noise not negative, gain_error above -1"
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_controller(&self, s: &Scenario, pdu: &PduSpec) -> Result<(), ScenarioError> {
        let names: Vec<String> = pdu.loads.iter().map(|l| l.name.clone()).collect();
        let epoch = s.start.0;
        match Controller::new(
            pdu.nominal_v,
            pdu.nominal_hz,
            &names,
            &s.controller,
            epoch,
            None,
        ) {
            Ok(_) => Ok(()),
            Err(e) => {
                let needle = match &e {
                    ConfigError::UnknownLoad(n) => Some(n.clone()),
                    ConfigError::UnknownRequired { required, .. } => Some(required.clone()),
                    ConfigError::RequiresCycle(path) => {
                        path.split(" -> ").next().map(str::to_string)
                    }
                    ConfigError::Schedule { load, .. } => Some(load.clone()),
                    ConfigError::Exercise(_) => Some("exercise".into()),
                };
                Err(self.at("controller", needle.as_deref(), e.to_string()))
            }
        }
    }

    fn check_timeline(&self, s: &Scenario, pdu: &PduSpec) -> Result<(), ScenarioError> {
        for e in &s.timeline {
            if e.at.get() > s.duration.get() {
                return Err(self.at(
                    "timeline",
                    None,
                    format!(
                        "an action at {} lies after the end of the run ({} s)",
                        e.at,
                        s.duration.get()
                    ),
                ));
            }
            self.check_action(&e.action, pdu)?;
        }
        Ok(())
    }

    fn check_action(&self, a: &Action, pdu: &PduSpec) -> Result<(), ScenarioError> {
        let load = |n: &str| self.known_load(pdu, "timeline", n);
        match a {
            Action::ShortCircuit { load: n, ohms, .. } => {
                load(n)?;
                if !(*ohms >= 0.0 && ohms.is_finite()) {
                    return Err(self.at("timeline", Some(n), "ohms must be >= 0".into()));
                }
            }
            Action::LoadStep { load: n, factor } => {
                load(n)?;
                if !(*factor >= 0.0 && factor.is_finite()) {
                    return Err(self.at("timeline", Some(n), "factor must be >= 0".into()));
                }
            }
            Action::WeldRelay { load: n } => load(n)?,
            Action::OpenNeutral { .. } => {
                if pdu.service == Service::SinglePhase {
                    return Err(self.at(
                        "timeline",
                        Some("OpenNeutral"),
                        "OpenNeutral opens a split-phase panel's neutral; this PDU's service \
                         is SinglePhase"
                            .into(),
                    ));
                }
            }
            Action::SensorFault {
                target: Target::Load(n),
                ..
            } => load(n)?,
            Action::Operator(cmd) => match cmd {
                control_core::OperatorCommand::On(n)
                | control_core::OperatorCommand::Off(n)
                | control_core::OperatorCommand::Reset(n) => load(n)?,
                control_core::OperatorCommand::ResetSource(_)
                | control_core::OperatorCommand::Test { .. }
                | control_core::OperatorCommand::EndTest => {}
            },
            Action::FailToStart { source } => {
                let spec = match source {
                    SourceId::Main => &pdu.main,
                    SourceId::Backup => &pdu.backup,
                };
                if !matches!(spec.kind, SourceKind::Generator { .. }) {
                    return Err(self.at(
                        "timeline",
                        Some("FailToStart"),
                        format!("FailToStart needs a generator, but {source:?} is a utility"),
                    ));
                }
            }
            Action::Repeat { count, action, .. } => {
                if *count == 0 {
                    return Err(self.at("timeline", Some("Repeat"), "count must be >= 1".into()));
                }
                self.check_action(action, pdu)?;
            }
            Action::PhaseSelect { load, .. } => {
                return Err(self.at(
                    "timeline",
                    Some(load),
                    "PhaseSelect moves a home on a feeder; this grid is a PDU".into(),
                ));
            }
            Action::FieldFault { .. } => {
                return Err(self.at(
                    "timeline",
                    Some("FieldFault"),
                    "FieldFault strikes a feeder's home nodes; this grid is a PDU".into(),
                ));
            }
            Action::Tap { regulator, .. } => {
                return Err(self.at(
                    "timeline",
                    Some(regulator),
                    "Tap sets a feeder regulator; this grid is a PDU".into(),
                ));
            }
            Action::BusFault { .. } | Action::ControllerHang { .. }
                if !self.backend.is_emulated_hil() =>
            {
                let name = a.variant_name();
                return Err(self.at(
                    "timeline",
                    Some(name),
                    format!("{name} acts on the emulated hardware: the scenario needs `backend: EmulatedHil`"),
                ));
            }
            Action::ControllerHang { .. } => {}
            Action::BusFault { fault, target, .. } => {
                match target {
                    Some(Target::Load(n)) => load(n)?,
                    Some(Target::Source(_)) => {}
                    None if *fault == BusFault::Stuck => {}
                    None => {
                        return Err(self.at(
                        "timeline",
                        Some("BusFault"),
                        format!("{fault:?} needs a target: the node of Load(\"name\") or Source(Main)"),
                    ));
                    }
                }
            }
            Action::Outage { .. }
            | Action::Sag { .. }
            | Action::Swell { .. }
            | Action::FrequencyExcursion { .. }
            | Action::SensorFault { .. } => {}
        }
        Ok(())
    }

    fn known_load(&self, pdu: &PduSpec, section: &str, n: &str) -> Result<(), ScenarioError> {
        if pdu.loads.iter().any(|l| l.name == n) {
            return Ok(());
        }
        let names: Vec<&str> = pdu.loads.iter().map(|l| l.name.as_str()).collect();
        Err(self.at(
            section,
            Some(n),
            format!("unknown load {n:?}; expected one of {names:?}"),
        ))
    }

    fn known_event(
        &self,
        event: &str,
        subject: Option<&str>,
        pdu: &PduSpec,
    ) -> Result<(), ScenarioError> {
        if !EVENT_NAMES.contains(&event) {
            return Err(self.at(
                "expect",
                Some(event),
                format!("unknown event {event:?}; expected one of {EVENT_NAMES:?}"),
            ));
        }
        // A measurement node is named by its address, as the hardware backends report it.
        let node = |s: &str| {
            s.strip_prefix("node 0x")
                .and_then(|a| u8::from_str_radix(a, 16).ok())
                .is_some_and(|a| hil::node::ADDRESSES.contains(&a))
        };
        // An emulated meter by its name, as the field reports it.
        let circuit =
            |c: &str| matches!(c, "main" | "backup") || pdu.loads.iter().any(|l| l.name == c);
        let meter = |s: &str| {
            self.backend == BackendKind::EmulatedMeters
                && s.strip_prefix(METER_PREFIX).is_some_and(circuit)
        };
        if let Some(s) = subject
            && !matches!(s, "main" | "backup" | "pdu")
            && !pdu.loads.iter().any(|l| l.name == s)
            && !node(s)
            && !meter(s)
            && !self.alert_subject(s)
        {
            return Err(self.at(
                "expect",
                Some(s),
                format!(
                    "unknown subject {s:?}; expected \"main\", \"backup\", \"pdu\", a load name, an alert rule's subject, \"node 0xNN\" or (emulated meters) \"{METER_PREFIX}\" and a source or load"
                ),
            ));
        }
        Ok(())
    }

    fn check_expect(&self, s: &Scenario, pdu: &PduSpec) -> Result<(), ScenarioError> {
        let load = |n: &str| self.known_load(pdu, "expect", n);
        for e in &s.expect {
            match e {
                Expect::Count {
                    event,
                    subject,
                    min,
                    max,
                    ..
                } => {
                    self.known_event(event, subject.as_deref(), pdu)?;
                    if let (Some(a), Some(b)) = (min, max)
                        && a > b
                    {
                        return Err(self.at("expect", Some(event), "min exceeds max".into()));
                    }
                }
                Expect::Never { event, subject } => {
                    self.known_event(event, subject.as_deref(), pdu)?
                }
                Expect::Within {
                    event,
                    subject,
                    after,
                    ..
                } => {
                    self.known_event(event, subject.as_deref(), pdu)?;
                    if let Anchor::Event { event, subject } = after {
                        self.known_event(event, subject.as_deref(), pdu)?;
                    }
                }
                Expect::Relay { load: n, .. }
                | Expect::Status { load: n, .. }
                | Expect::Energy { load: n, .. } => load(n)?,
                Expect::LoadWithinLimit { load: n, .. } => {
                    load(n)?;
                    let cfg = s.controller.loads.get(n);
                    if cfg.is_none_or(|c| c.limit_a.is_none() && c.limit_w.is_none()) {
                        return Err(self.at(
                            "expect",
                            Some(n),
                            format!("load {n:?} has no limit_a or limit_w to check"),
                        ));
                    }
                }
                Expect::SourceWithinCapacity { .. } => {
                    let sh = &s.controller.shedding;
                    if sh.main_capacity_kw.is_none() && sh.backup_capacity_kw.is_none() {
                        return Err(self.at(
                            "SourceWithinCapacity",
                            None,
                            "no main_capacity_kw or backup_capacity_kw is set to check".into(),
                        ));
                    }
                }
                Expect::FeederStat { .. } | Expect::Reduced { .. } => {
                    return Err(self.at(
                        "expect",
                        None,
                        "FeederStat and Reduced measure a feeder; this grid is a PDU".into(),
                    ));
                }
                Expect::Feeding { .. }
                | Expect::MaxDeadBus { .. }
                | Expect::BusVoltage { .. }
                | Expect::Demand { .. } => {}
            }
        }
        Ok(())
    }
}
