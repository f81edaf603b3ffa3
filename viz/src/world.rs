//! What the window runs: the scenario's own loop (`PduLoop` or `FeederLoop`, the ones every
//! other run steps), advanced by each frame's wall time at the chosen speed, and what people
//! ask of it, acted on between steps through the same paths as the web: `PduLoop::operator`
//! for a load, the phase selector's action for a home, timeline actions for faults.

use bevy::platform::cell::SyncCell;
use bevy::prelude::*;
use control_core::{Event, OperatorCommand};
use control_core::{Positive, Secs};
use controller::run::SiteLoop;
use controller::scenario::Loaded;
use controller::scenario::format::Action;
use grid_types::Phase;
use grid_types::SourceId;

/// Fastest and slowest speeds, simulated seconds per wall second.
pub const SPEEDS: [f64; 7] = [1.0, 2.0, 5.0, 10.0, 100.0, 500.0, 1000.0];
/// At most this much wall time of stepping per frame, so a slow twin slows the clock instead of
/// freezing the window.
const STEP_BUDGET_S: f64 = 0.05;
/// Events the ticker keeps.
const TICKER: usize = 8;

/// A fault the window's buttons inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The main (a feeder: the source) dead for a minute.
    CutMains,
    /// The main at 1.25 pu (a feeder: 1.1 pu) for a few seconds.
    Surge,
    /// A 0.5 Ω fault on the selected load for a second (PDU).
    Short,
    /// The home nodes' link carries nothing for a minute (feeder with balancing).
    LinkLoss,
}

/// What a person asked for, acted on at the next frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Switch a PDU load the other way (on if it is not on).
    Toggle(String),
    /// Move a feeder home to the next phase (A → B → C → A).
    NextPhase(String),
    Fault(Fault),
    Pause,
    /// One step while paused.
    Step,
    Faster,
    Slower,
    Select(String),
}

/// Requests waiting for the next frame.
#[derive(Resource, Default, Debug)]
pub struct Requests(pub Vec<Request>);

/// The running scenario and its clock.
#[derive(Resource)]
pub struct Twin {
    site: SyncCell<SiteLoop>,
    pub name: String,
    pub speed: f64,
    pub paused: bool,
    /// Simulated seconds the clock owes the twin (stepped in whole steps).
    owed: f64,
    pub steps: u64,
    /// The newest events, newest last.
    pub ticker: Vec<String>,
    /// The load the Short button acts on.
    pub selected: Option<String>,
    /// What the last request was refused for, shown in the panel.
    pub refusal: Option<String>,
    /// Wall seconds per frame, instead of the frame's measured time (screenshots and tests
    /// see the same simulated time whatever the machine's frame rate).
    pub frame_dt: Option<f64>,
}

impl Twin {
    pub fn new(l: &Loaded, speed: f64) -> Result<Twin, String> {
        let site = SiteLoop::new(l)?;
        let mut t = Twin {
            site: SyncCell::new(site),
            name: l.scenario.name.clone(),
            speed,
            paused: false,
            owed: 0.0,
            steps: 0,
            ticker: Vec::new(),
            selected: None,
            refusal: None,
            frame_dt: None,
        };
        // A feeder has nothing to show before its first solve.
        if matches!(t.site(), SiteLoop::Feeder(_)) {
            t.step_once();
        }
        Ok(t)
    }

    pub fn site(&mut self) -> &mut SiteLoop {
        self.site.get()
    }

    /// Simulated time, s.
    pub fn now_s(&mut self) -> f64 {
        self.site().now_s()
    }

    fn dt(&mut self) -> f64 {
        self.site().dt()
    }

    /// Advance by `wall_s` of wall time at the chosen speed, in whole steps, spending at most
    /// `STEP_BUDGET_S` of wall time; what could not be stepped is dropped (the clock slows).
    pub fn advance(&mut self, wall_s: f64) {
        if self.paused {
            return;
        }
        let dt = self.dt();
        self.owed += wall_s * self.speed;
        let start = std::time::Instant::now();
        while self.owed >= dt {
            self.step_once();
            self.owed -= dt;
            if start.elapsed().as_secs_f64() > STEP_BUDGET_S {
                self.owed = 0.0;
                break;
            }
        }
    }

    /// One step of the loop; its events into the ticker.
    pub fn step_once(&mut self) {
        let mut events: Vec<Event> = Vec::new();
        self.site().step(&mut events);
        self.steps += 1;
        self.note(&events);
    }

    fn note(&mut self, events: &[Event]) {
        for e in events {
            let line = format!("{:>8.1} s  {} {}", e.t, e.subject, e.kind.name());
            self.ticker.push(line);
        }
        let n = self.ticker.len();
        if n > TICKER {
            self.ticker.drain(..n - TICKER);
        }
    }

    /// Act on one request.
    pub fn request(&mut self, r: &Request) {
        self.refusal = None;
        let result = match r {
            Request::Pause => {
                self.paused = !self.paused;
                Ok(())
            }
            Request::Step => {
                self.step_once();
                Ok(())
            }
            Request::Faster | Request::Slower => {
                let k = SPEEDS.iter().position(|&s| s >= self.speed).unwrap_or(0);
                let k = match r {
                    Request::Faster => (k + 1).min(SPEEDS.len() - 1),
                    _ => k.saturating_sub(1),
                };
                self.speed = SPEEDS[k];
                Ok(())
            }
            Request::Select(name) => {
                self.selected = Some(name.clone());
                Ok(())
            }
            Request::Toggle(name) => self.toggle(name),
            Request::NextPhase(home) => self.next_phase(home),
            Request::Fault(f) => self.fault(*f),
        };
        if let Err(e) = result {
            self.refusal = Some(e);
        }
    }

    fn toggle(&mut self, name: &str) -> Result<(), String> {
        self.selected = Some(name.to_string());
        let SiteLoop::Pdu(p) = self.site() else {
            return Err("a feeder's homes have no relays; click to move a phase".into());
        };
        let i = p
            .names()
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| format!("no load is named {name:?}"))?;
        let on = p.controller().load_status(i) == control_core::LoadStatus::On;
        let cmd = if on {
            OperatorCommand::Off(name.to_string())
        } else {
            OperatorCommand::On(name.to_string())
        };
        p.operator(&cmd).map_err(|e| e.to_string())
    }

    fn next_phase(&mut self, home: &str) -> Result<(), String> {
        let SiteLoop::Feeder(f) = self.site() else {
            return Err("a PDU has no phase selectors".into());
        };
        let i = f
            .pf()
            .feeder()
            .loads
            .iter()
            .position(|l| l.name == home)
            .ok_or_else(|| format!("no home is named {home:?}"))?;
        let to = match Phase::of_node(f.pf().load_state(i).node) {
            Some(Phase::A) => Phase::B,
            Some(Phase::B) => Phase::C,
            Some(Phase::C) => Phase::A,
            None => return Err(format!("{home} is not on one phase")),
        };
        let mut events = Vec::new();
        if !f.move_phase(home, to, &mut events) {
            return Err(format!("{home} cannot move to phase {to:?}"));
        }
        // The next solve shows the home on its new phase.
        self.note(&events);
        Ok(())
    }

    fn fault(&mut self, fault: Fault) -> Result<(), String> {
        let secs = |s| Secs::new(s).expect("positive");
        let pu = |x| Positive::new(x).expect("positive");
        let selected = self.selected.clone();
        match self.site() {
            SiteLoop::Field(_) => Err("the window draws the twin, not a field".into()),
            SiteLoop::Pdu(p) => {
                let action = match fault {
                    Fault::CutMains => Action::Outage {
                        source: SourceId::Main,
                        duration: Some(secs(60.0)),
                    },
                    Fault::Surge => Action::Swell {
                        source: SourceId::Main,
                        pu: pu(1.25),
                        duration: secs(3.0),
                    },
                    Fault::Short => Action::ShortCircuit {
                        load: selected.unwrap_or_else(|| p.names()[0].clone()),
                        ohms: 0.5,
                        duration: Some(secs(1.0)),
                    },
                    Fault::LinkLoss => return Err("a PDU has no field link".into()),
                };
                p.act(&action).map_err(|e| e.to_string())
            }
            SiteLoop::Feeder(f) => {
                let mut events = Vec::new();
                match fault {
                    Fault::CutMains => f.act(
                        &Action::Outage {
                            source: SourceId::Main,
                            duration: Some(secs(60.0)),
                        },
                        &mut events,
                    ),
                    Fault::Surge => f.act(
                        &Action::Swell {
                            source: SourceId::Main,
                            pu: pu(1.1),
                            duration: secs(60.0),
                        },
                        &mut events,
                    ),
                    Fault::Short => return Err("shorts are for a PDU's loads".into()),
                    Fault::LinkLoss => {
                        if !f.cut_link(60.0) {
                            return Err("this feeder has no home nodes' link".into());
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Each frame: the requests, then the twin advanced by the frame's time.
pub fn run_twin(time: Res<Time>, mut twin: ResMut<Twin>, mut requests: ResMut<Requests>) {
    for r in std::mem::take(&mut requests.0) {
        twin.request(&r);
    }
    let dt = twin.frame_dt.unwrap_or(f64::from(time.delta_secs()));
    twin.advance(dt);
}
