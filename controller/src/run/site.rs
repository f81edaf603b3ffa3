//! A site's loop, whichever grid the scenario has: the one place that chooses between the PDU's
//! loop and the feeder's, for the front ends that step a site without caring which it is.

use control_core::Event;

use super::{FeederLoop, PduLoop};
use crate::scenario::{Loaded, Site};

pub enum SiteLoop {
    Pdu(Box<PduLoop>),
    Feeder(Box<FeederLoop>),
}

impl SiteLoop {
    /// The scenario's twin at time zero: its PDU through the scenario's backend, or its feeder
    /// with the home nodes' field; what fails to set up, said.
    pub fn new(l: &Loaded) -> Result<Self, String> {
        Ok(match &l.site {
            Site::Pdu(_) => SiteLoop::Pdu(Box::new(
                PduLoop::new(l, None, None).map_err(|_| "not a PDU".to_string())?,
            )),
            Site::Feeder(f) => SiteLoop::Feeder(Box::new(
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
        }
    }

    /// The fixed step, s.
    pub fn dt(&self) -> f64 {
        match self {
            SiteLoop::Pdu(p) => p.dt(),
            SiteLoop::Feeder(f) => f.dt(),
        }
    }

    /// One step; its events appended.
    pub fn step(&mut self, events: &mut Vec<Event>) {
        match self {
            SiteLoop::Pdu(p) => events.extend_from_slice(p.step()),
            SiteLoop::Feeder(f) => {
                f.step(events, |_, _, _| {});
            }
        }
    }
}
