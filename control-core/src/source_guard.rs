//! Protection of the source feeding the bus: 59/27 in stages, 81O/81U, and 50/51 at the source.
//! A voltage or frequency trip holds the source open until the transfer switch accepts it again;
//! an overcurrent trip recloses a bounded number of times, then locks out.

use grid_types::SourceId;

use super::events::{Element, Event, EventKind, Subject};
use super::interface::SourceMeasurement;
use super::protection::{DefiniteTime, InverseTime, Recloser, TripOutcome};
use super::settings::{Overcurrent, SourceProtection};
use super::time::Instant;

/// Frequency elements are blocked below this voltage (pu): a dead source has no frequency.
const FREQ_BLOCK_PU: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct SourceGuard {
    id: SourceId,
    nominal_v: f64,
    voltage: Vec<(Element, DefiniteTime)>,
    frequency: Vec<(Element, DefiniteTime)>,
    instantaneous: Option<DefiniteTime>,
    inverse: Option<InverseTime>,
    recloser: Recloser,
    held: bool,
}

impl SourceGuard {
    pub fn new(id: SourceId, p: &SourceProtection, nominal_v: f64, nominal_hz: f64) -> Self {
        let stages = |v: &[super::settings::Stage], scale, over, el: fn(u8) -> Element| {
            v.iter()
                .enumerate()
                .map(|(k, s)| (el(k as u8 + 1), DefiniteTime::new(s, scale, over)))
                .collect::<Vec<_>>()
        };
        let mut voltage = stages(&p.overvoltage, nominal_v, true, Element::Overvoltage);
        voltage.extend(stages(
            &p.undervoltage,
            nominal_v,
            false,
            Element::Undervoltage,
        ));
        let mut frequency = stages(&p.overfrequency, nominal_hz, true, Element::Overfrequency);
        frequency.extend(stages(
            &p.underfrequency,
            nominal_hz,
            false,
            Element::Underfrequency,
        ));
        let oc: &Overcurrent = match id {
            SourceId::Main => &p.main_overcurrent,
            SourceId::Backup => &p.backup_overcurrent,
        };
        SourceGuard {
            id,
            nominal_v,
            voltage,
            frequency,
            instantaneous: oc
                .instantaneous
                .as_ref()
                .map(|s| DefiniteTime::new(s, 1.0, true)),
            inverse: oc.inverse.as_ref().map(InverseTime::new),
            recloser: Recloser::new(p.retry),
            held: false,
        }
    }

    /// Whether protection lets this source be closed.
    pub fn allows(&self) -> bool {
        !self.held && self.recloser.is_normal()
    }

    pub fn locked_out(&self) -> bool {
        self.recloser.state() == super::protection::TripState::LockedOut
    }

    pub fn reset(&mut self) {
        self.recloser.reset();
        self.held = false;
    }

    /// Evaluate while the source feeds the bus; returns true when it must open now.
    pub fn update(
        &mut self,
        now: Instant,
        m: &SourceMeasurement,
        nominal_hz: f64,
        feeding: bool,
        events: &mut Vec<Event>,
    ) -> bool {
        let subject = Subject::Source(self.id);
        if let Some(attempt) = self.recloser.poll(now) {
            events.push(Event::new(now, &subject, EventKind::Reclose { attempt }));
        }
        let f_blocked = m.v < FREQ_BLOCK_PU * self.nominal_v;
        let hz = if f_blocked { nominal_hz } else { m.hz };
        if self.held
            && self.voltage.iter().all(|(_, e)| e.is_clear(m.v))
            && self.frequency.iter().all(|(_, e)| e.is_clear(hz))
        {
            // Back inside every element's dropout: the source may be closed again.
            self.held = false;
        }
        if !feeding {
            self.reset_elements();
            return false;
        }
        let mut trip: Option<(Element, f64)> = None;
        for (el, e) in &mut self.voltage {
            if e.update(now, m.v) && trip.is_none() {
                trip = Some((*el, m.v));
            }
        }
        for (el, e) in &mut self.frequency {
            if e.update(now, hz) && trip.is_none() {
                trip = Some((*el, m.hz));
            }
        }
        if let Some(e) = &mut self.instantaneous
            && e.update(now, m.i_fast)
        {
            trip = Some((Element::Instantaneous, m.i_fast));
        }
        if let Some(e) = &mut self.inverse
            && e.update(now, m.i)
        {
            trip = trip.or(Some((Element::InverseTime, m.i)));
        }
        let Some((element, value)) = trip else {
            return false;
        };
        events.push(Event::new(
            now,
            &subject,
            EventKind::Trip { element, value },
        ));
        if element.is_voltage_or_frequency() {
            self.held = true;
        } else if self.recloser.trip(now) == TripOutcome::LockedOut {
            events.push(Event::new(now, &subject, EventKind::Lockout { element }));
        }
        self.reset_elements();
        true
    }

    fn reset_elements(&mut self) {
        for (_, e) in self.voltage.iter_mut().chain(self.frequency.iter_mut()) {
            e.reset();
        }
        if let Some(e) = &mut self.instantaneous {
            e.reset();
        }
        if let Some(e) = &mut self.inverse {
            e.reset();
        }
    }
}
