//! Validating a feeder scenario: the feeder must solve, and every name the timeline and the
//! expectations use must be in it.

use std::path::Path;

use grid_types::SourceId;
use sim::feeder::{Feeder, PowerFlow};

use super::format::{Action, Anchor, BackendKind, Expect, Fidelity, Measure, Scenario};
use super::load::{ScenarioError, Validator};
use crate::field::{Field, FieldFault, FieldLink};
use control_core::EVENT_NAMES;

impl Validator<'_> {
    /// A feeder from RON, or imported from an OpenDSS master file.
    pub(super) fn feeder_file(&self, rel: &str) -> Result<Feeder, ScenarioError> {
        let is_dss = Path::new(rel)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("dss"));
        if is_dss {
            // The importer's errors carry the OpenDSS file and line.
            return sim::dss::import(&self.base.join(rel))
                .map_err(|e| self.at("grid", Some(rel), format!("importing {rel}: {e}")));
        }
        self.grid_file(rel)
    }

    pub(super) fn check_feeder(&self, s: &Scenario, f: &Feeder) -> Result<(), ScenarioError> {
        let mut pf = PowerFlow::new(f).map_err(|e| self.at("grid", None, e.to_string()))?;
        let homes: Vec<String> = f.loads.iter().map(|l| l.name.clone()).collect();
        self.check_alerts(s, crate::channels::feeder(&pf, &homes))?;
        if s.fidelity != Fidelity::Phasor {
            return Err(self.at(
                "fidelity",
                None,
                "a feeder is solved as phasors; sampled waveforms are for a PDU".into(),
            ));
        }
        if has_field(self.text, "controller") {
            return Err(self.at(
                "controller",
                None,
                "a feeder scenario has no PDU controller to set".into(),
            ));
        }
        if s.step() < 1.0 {
            return Err(self.at(
                "step",
                None,
                "a feeder steps at 1 s or more (its load shapes are per minute)".into(),
            ));
        }
        for e in &s.timeline {
            if e.at.get() > s.duration.get() {
                return Err(self.at(
                    "timeline",
                    None,
                    format!("an action at {} lies after the end of the run", e.at),
                ));
            }
            let link = s.balancing.as_ref().map(|b| &b.link);
            self.check_feeder_action(&e.action, &mut pf, link)?;
        }
        for e in &s.expect {
            if matches!(e, Expect::Reduced { .. }) && s.balancing.is_none() {
                return Err(self.at(
                    "Reduced",
                    None,
                    "Reduced compares the balancer on and off; add a balancing section".into(),
                ));
            }
            self.check_feeder_expect(e, &pf)?;
        }
        if let Some(b) = &s.balancing {
            let heads = pf.head_buses();
            Field::new(b, &pf, heads.first().map(String::as_str))
                .map_err(|e| self.at("balancing", None, e))?;
        }
        if self.backend == BackendKind::EmulatedField {
            crate::field::emulated_link(s.balancing.as_ref())
                .map_err(|e| self.at("backend", None, e))?;
        }
        if self.backend == BackendKind::EmulatedMeters {
            return Err(self.at(
                "backend",
                None,
                "EmulatedMeters meters a PDU's circuits; this grid is a feeder".into(),
            ));
        }
        Ok(())
    }

    /// A field fault needs the emulated field, a home where it strikes one, and the link it
    /// belongs to.
    fn check_field_fault(
        &self,
        fault: FieldFault,
        home: Option<&str>,
        pf: &PowerFlow,
        link: Option<&FieldLink>,
    ) -> Result<(), ScenarioError> {
        let bad = |needle: &str, m: String| Err(self.at("timeline", Some(needle), m));
        let Some(link) = link else {
            return bad(
                "FieldFault",
                "a field fault needs the home nodes: add a balancing section".into(),
            );
        };
        if self.backend != BackendKind::EmulatedField {
            return bad(
                "FieldFault",
                "a field fault acts on the emulated field: the scenario needs `backend: EmulatedField`"
                    .into(),
            );
        }
        let lora = matches!(link, FieldLink::Lora { .. });
        let (on_lora, on_rs485) = match fault {
            FieldFault::Crc { .. } => (false, true),
            FieldFault::GatewayDown | FieldFault::Duplicate => (true, false),
            FieldFault::Silent | FieldFault::SelectorFails => (true, true),
        };
        if (lora && !on_lora) || (!lora && !on_rs485) {
            let on = if on_lora { "LoRa" } else { "RS-485" };
            return bad(
                "FieldFault",
                format!("{fault:?} happens on {on} links only"),
            );
        }
        match (fault, home) {
            (FieldFault::GatewayDown, Some(h)) => {
                bad(h, "GatewayDown takes the whole link down, no home".into())
            }
            (FieldFault::GatewayDown, None) => Ok(()),
            (_, None) => bad("FieldFault", format!("{fault:?} needs the home it strikes")),
            (_, Some(h)) => {
                let i = feeder_load(pf, h).map_err(|m| self.at("timeline", Some(h), m))?;
                let l = &pf.feeder().loads[i];
                if l.phases != 1 {
                    return bad(h, format!("{h:?} is no single-phase home with a node"));
                }
                Ok(())
            }
        }
    }

    fn check_feeder_action(
        &self,
        a: &Action,
        pf: &mut PowerFlow,
        link: Option<&FieldLink>,
    ) -> Result<(), ScenarioError> {
        let bad = |needle: &str, m: String| Err(self.at("timeline", Some(needle), m));
        match a {
            Action::Outage { source, .. }
            | Action::Sag { source, .. }
            | Action::Swell { source, .. } => {
                if *source != SourceId::Main {
                    return bad("Backup", "a feeder has one source: Main".into());
                }
            }
            Action::LoadStep { load, factor } => {
                feeder_load(pf, load).map_err(|m| self.at("timeline", Some(load), m))?;
                if !(*factor >= 0.0 && factor.is_finite()) {
                    return bad(load, "factor must be >= 0".into());
                }
            }
            Action::PhaseSelect { load, phase } => {
                let i = feeder_load(pf, load).map_err(|m| self.at("timeline", Some(load), m))?;
                // Trying the move on the validation copy checks the wiring and the node.
                pf.set_load_node(i, phase.node())
                    .map_err(|e| self.at("timeline", Some(load), e.to_string()))?;
            }
            Action::Tap { regulator, tap } => {
                let f = pf.feeder();
                let Some(r) = f
                    .regulators
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(regulator))
                else {
                    let names: Vec<&str> = f.regulators.iter().map(|r| r.name.as_str()).collect();
                    return bad(
                        regulator,
                        format!("unknown regulator {regulator:?}; expected one of {names:?}"),
                    );
                };
                if tap.abs() > r.max_taps {
                    return bad(
                        regulator,
                        format!("tap {tap} is beyond ±{} steps", r.max_taps),
                    );
                }
            }
            Action::Repeat { count, action, .. } => {
                if *count == 0 {
                    return bad("Repeat", "count must be >= 1".into());
                }
                self.check_feeder_action(action, pf, link)?;
            }
            Action::FieldFault { fault, home, .. } => {
                self.check_field_fault(*fault, home.as_deref(), pf, link)?;
            }
            Action::FrequencyExcursion { .. }
            | Action::FailToStart { .. }
            | Action::ShortCircuit { .. }
            | Action::OpenNeutral { .. }
            | Action::WeldRelay { .. }
            | Action::SensorFault { .. }
            | Action::BusFault { .. }
            | Action::ControllerHang { .. }
            | Action::Operator(_) => {
                return Err(self.at(
                    "timeline",
                    None,
                    format!(
                        "{} acts on a PDU; a feeder's timeline takes Outage, Sag, Swell, \
                         LoadStep, PhaseSelect, Tap and Repeat",
                        a.variant_name()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_feeder_expect(&self, e: &Expect, pf: &PowerFlow) -> Result<(), ScenarioError> {
        let event = |name: &str, subject: &Option<String>| -> Result<(), ScenarioError> {
            if !EVENT_NAMES.contains(&name) {
                return Err(self.at(
                    "expect",
                    Some(name),
                    format!("unknown event {name:?}; expected one of {EVENT_NAMES:?}"),
                ));
            }
            let f = pf.feeder();
            if let Some(s) = subject
                && s != "feeder"
                && !f.loads.iter().any(|l| &l.name == s)
                && s != "balancer"
                && !f.regulators.iter().any(|r| &r.name == s)
                && !self.alert_subject(s)
            {
                return Err(self.at(
                    "expect",
                    Some(s),
                    format!(
                        "unknown subject {s:?}; expected \"feeder\", \"balancer\", a load, a regulator or an alert rule's subject"
                    ),
                ));
            }
            Ok(())
        };
        match e {
            Expect::Count {
                event: n, subject, ..
            }
            | Expect::Never { event: n, subject } => event(n, subject),
            Expect::Within {
                event: n,
                subject,
                after,
                ..
            } => {
                event(n, subject)?;
                match after {
                    Anchor::Event { event: a, subject } => event(a, subject),
                    Anchor::Time(_) => Ok(()),
                }
            }
            Expect::Reduced { of, min_pct, .. } => {
                if !(min_pct.is_finite() && *min_pct <= 100.0) {
                    return Err(self.at("Reduced", None, "min_pct must be at most 100".into()));
                }
                self.check_measure(of, pf)
            }
            Expect::FeederStat { of, min, max, .. } => {
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    return Err(self.at("FeederStat", None, "min exceeds max".into()));
                }
                self.check_measure(of, pf)
            }
            _ => Err(self.at(
                "expect",
                None,
                "a feeder scenario expects Count, Never, Within, FeederStat and Reduced; \
                 the others read a PDU"
                    .into(),
            )),
        }
    }

    fn check_measure(&self, m: &Measure, pf: &PowerFlow) -> Result<(), ScenarioError> {
        let (bus, three_phase) = match m {
            Measure::Voltage { bus } => (bus.as_deref(), false),
            Measure::Vuf { bus } => (bus.as_deref(), true),
            Measure::NeutralCurrent { bus } | Measure::CurrentUnbalance { bus } => {
                (Some(bus.as_str()), false)
            }
            Measure::SourceKw => (None, false),
        };
        let Some(bus) = bus else { return Ok(()) };
        let Some(nodes) = pf.bus_pu(bus) else {
            return Err(self.at("expect", Some(bus), format!("no bus {bus:?} in the feeder")));
        };
        if three_phase && pf.bus_abc(bus).is_none() {
            return Err(self.at(
                "expect",
                Some(bus),
                format!(
                    "bus {bus:?} has nodes {:?}; a VUF needs 1, 2 and 3",
                    nodes.iter().map(|n| n.0).collect::<Vec<_>>()
                ),
            ));
        }
        Ok(())
    }
}

/// A feeder load's index by name.
pub fn feeder_load(pf: &PowerFlow, name: &str) -> Result<usize, String> {
    pf.feeder()
        .loads
        .iter()
        .position(|l| l.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| format!("no load {name:?} in the feeder"))
}

/// Whether `key` appears as a field name: at a word start, followed by `:`.
fn has_field(text: &str, key: &str) -> bool {
    text.match_indices(key).any(|(at, _)| {
        let word_start = !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        word_start && text[at + key.len()..].trim_start().starts_with(':')
    })
}
