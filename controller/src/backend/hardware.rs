//! The controller's side of the hardware, as a bench file lays it out: measurement nodes polled
//! over I2C (`hil::poll`: retries, backoff, stale data marked lost), ADS1115 meters streamed on
//! the same bus between and after the poll (`hil::ads_meter`), and relay coils on GPIO
//! (`hil::RelayBank`, through each output's normally open or closed contact) with the relay
//! board's heartbeat. Generic over embedded-hal, so the same code drives a Pi (`hil::rpi`) and,
//! in `emulated_hil`, virtual nodes fed by the twin.

use std::collections::BTreeMap;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;
use grid_types::{LoadReading, Readings, SourceId, SourceReading};
use hil::ads_meter::{Interleaved, Metered, ReadyPin, Stream};
use hil::bench::{Bench, Circuit, NodeCfg};
use hil::node::Node;
use hil::poll::{PollEvent, Poller};

use super::Backend;
use super::relay_outputs::{Coil, RelayOutputs, coils};
use crate::disturbance::{RMS_CYCLES, Recorder};
use control_core::{Commands, Event, Instant, LoadMeasurement, Measurements, SourceMeasurement};
use control_core::{EventKind, NodeTrouble};

/// Where a measured circuit is in the poller: (node index, channel).
type Slot = (usize, u8);

/// Where a load is measured: a node's channel, or an ADS1115 meter's current (meter index,
/// current index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Node(Slot),
    Meter(usize, u8),
}

/// The bench's wiring resolved against the site's loads.
#[derive(Debug, Clone)]
pub(crate) struct Wiring {
    nodes: Vec<Node>,
    meters: Vec<u8>,
    main: Slot,
    backup: Slot,
    loads: Vec<Place>,
    /// The node whose voltage sensor is on the bus, if any.
    bus: Option<usize>,
}

impl Wiring {
    /// Every load and both sources measured once; both contactors and every load driven once;
    /// a source's current on a node whose voltage is that source's, a load's on the bus (power
    /// is a node's voltage times its channel's current).
    pub(crate) fn new(bench: &Bench, names: &[String]) -> Result<Wiring, String> {
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let load = |n: &str, what: &str| {
            index
                .get(n)
                .copied()
                .ok_or_else(|| format!("{what} names load {n:?}, which the site does not have"))
        };
        let (mut main, mut backup) = (None, None);
        let mut loads = vec![None; names.len()];
        let mut bus = None;
        for (k, n) in bench.nodes.iter().enumerate() {
            let at = |ch: usize| format!("node {:#04x} channel {ch}", n.address);
            if n.voltage == Circuit::Bus && bus.is_none() {
                bus = Some(k);
            }
            for (ch, c) in n.channels.iter().enumerate() {
                let slot = (k, ch as u8);
                // A load's place is recorded as it is found; a source's after the check below.
                let mut unused = None;
                let (place, needs) = match c {
                    Circuit::Main => (&mut main, Circuit::Main),
                    Circuit::Backup => (&mut backup, Circuit::Backup),
                    Circuit::Load(name) => {
                        let k = load(name, &at(ch))?;
                        if loads[k].replace(Place::Node(slot)).is_some() {
                            return Err(format!("{}: {} is measured twice", at(ch), c.name()));
                        }
                        (&mut unused, Circuit::Bus)
                    }
                    // The bus current is the sum of the loads': nothing decides on it.
                    Circuit::Bus => continue,
                };
                if n.voltage != needs {
                    return Err(format!(
                        "{} measures {}, so the node's voltage must be on {}, not {}",
                        at(ch),
                        c.name(),
                        needs.name(),
                        n.voltage.name()
                    ));
                }
                if place.replace(slot).is_some() {
                    return Err(format!("{}: {} is measured twice", at(ch), c.name()));
                }
            }
        }
        for (m, cfg) in bench.meters.iter().enumerate() {
            let at = |c: usize| format!("meter {:#04x} current {c}", cfg.address);
            for (c, input) in cfg.currents.iter().enumerate() {
                let Circuit::Load(name) = &input.circuit else {
                    return Err(format!(
                        "{} measures {}: a meter measures loads only (a source's protection needs a node's cycle-by-cycle voltage)",
                        at(c),
                        input.circuit.name()
                    ));
                };
                if cfg.voltage.circuit != Circuit::Bus {
                    return Err(format!(
                        "{} measures {name}, so the meter's voltage must be on bus, not {}",
                        at(c),
                        cfg.voltage.circuit.name()
                    ));
                }
                let k = load(name, &at(c))?;
                if loads[k].replace(Place::Meter(m, c as u8)).is_some() {
                    return Err(format!("{}: {name} is measured twice", at(c)));
                }
            }
        }
        let missing = |what: &str| format!("no node channel or meter measures {what}");
        let main = main.ok_or_else(|| missing("main"))?;
        let backup = backup.ok_or_else(|| missing("backup"))?;
        let loads = loads
            .iter()
            .zip(names)
            .map(|(s, n)| s.ok_or_else(|| missing(n)))
            .collect::<Result<Vec<Place>, _>>()?;

        // The relay outputs are checked here too, so that a bench is refused in one place.
        coils(bench, names)?;
        Ok(Wiring {
            nodes: bench
                .nodes
                .iter()
                .map(|n| Node {
                    address: n.address,
                    channels: n.channels.len() as u8,
                })
                .collect(),
            meters: bench.meters.iter().map(|m| m.address).collect(),
            main,
            backup,
            loads,
            bus,
        })
    }

    /// The address of the node or meter measuring a source (`None`) or load `i`.
    pub(crate) fn address(&self, load: Option<usize>, backup: bool) -> u8 {
        let slot = match load {
            Some(i) => match self.loads[i] {
                Place::Node(slot) => slot,
                Place::Meter(m, _) => return self.meters[m],
            },
            None if backup => self.backup,
            None => self.main,
        };
        self.nodes[slot.0].address
    }
}

/// The Pi's buses, as `hil::rpi::Pi` or `hil::emulated::bench::emulate` give them.
pub struct Io<I, D, P> {
    pub i2c: I,
    pub delay: D,
    /// In the bench's output order.
    pub outputs: Vec<P>,
    pub heartbeat: P,
    /// Seconds on a monotonic clock: polls' budgets and data ages are judged on it.
    pub clock: Box<dyn Fn() -> f64 + Send>,
    /// Each meter's ALERT/RDY input, in the bench's order, its pulses on `clock`.
    pub ready: Vec<Box<dyn ReadyPin>>,
}

pub struct Hardware<I, D, P: OutputPin> {
    i2c: I,
    delay: D,
    clock: Box<dyn Fn() -> f64 + Send>,
    wiring: Wiring,
    poller: Poller,
    outputs: RelayOutputs<P>,
    budget_s: f64,
    panel: Readings,
    relays: Vec<bool>,
    /// The source whose contactor was last commanded closed.
    feeding: Option<SourceId>,
    polled: Vec<PollEvent>,
    /// The ADS1115 meters, streamed each step after the poll, and their last values.
    streams: Vec<Stream>,
    metered: Vec<Option<Vec<Metered>>>,
    meter_failing: Vec<bool>,
    meter_events: Vec<(u8, EventKind)>,
    /// Values older than this are stale, s.
    stale_s: f64,
    steps: u64,
    /// The fast block's values once a step: a trip's RMS record (`rms_channels`' order).
    recorder: Recorder,
    frame: Vec<f64>,
}

/// A hardware fault record's channels: what the nodes' fast block gives, the last cycle's
/// voltage of each source (and of the bus, where a node sees it) and each circuit's largest
/// half-cycle current since the last poll.
fn rms_channels(names: &[String], bus: bool) -> Vec<(String, &'static str)> {
    let mut c = vec![
        ("main/v_rms".to_string(), "V"),
        ("backup/v_rms".into(), "V"),
    ];
    if bus {
        c.push(("bus/v_rms".into(), "V"));
    }
    c.push(("main/i_half_rms".into(), "A"));
    c.push(("backup/i_half_rms".into(), "A"));
    c.extend(names.iter().map(|n| (format!("load/{n}/i_half_rms"), "A")));
    c
}

impl<I: I2c, D: DelayNs, P: OutputPin> Hardware<I, D, P> {
    /// The bench's hardware for a site with loads `names`, stepped every `step_s` (each poll's
    /// time budget). The outputs start at rest (no coil energized).
    pub fn new(
        bench: &Bench,
        names: &[String],
        step_s: f64,
        io: Io<I, D, P>,
    ) -> Result<Self, String> {
        let wiring = Wiring::new(bench, names)?;
        if io.ready.len() != bench.meters.len() {
            return Err(format!(
                "{} ready inputs for {} meters",
                io.ready.len(),
                bench.meters.len()
            ));
        }
        let outputs = RelayOutputs::new(bench, names, io.outputs, io.heartbeat)?;
        let channels = rms_channels(names, wiring.bus.is_some());
        let recorder = Recorder::new(channels, 1.0 / step_s, bench.nominal_hz, RMS_CYCLES);
        Ok(Hardware {
            poller: Poller::new(wiring.nodes.iter().copied(), bench.poll),
            i2c: io.i2c,
            delay: io.delay,
            clock: io.clock,
            outputs,
            budget_s: step_s,
            panel: Readings {
                loads: vec![LoadReading::default(); names.len()],
                ..Readings::default()
            },
            relays: vec![false; names.len()],
            feeding: None,
            polled: Vec::new(),
            streams: bench
                .meters
                .iter()
                .zip(io.ready)
                .map(|(m, ready)| m.stream(bench.nominal_hz, ready))
                .collect(),
            metered: vec![None; bench.meters.len()],
            meter_failing: vec![false; bench.meters.len()],
            meter_events: Vec::new(),
            stale_s: f64::from(bench.poll.stale_windows) * bench.poll.window_s,
            steps: 0,
            recorder,
            frame: Vec::new(),
            wiring,
        })
    }

    /// Before the first step: make each node's stored calibration the bench file's (a replaced
    /// node gets the calibration its channel was given), then poll until every node has given
    /// a window of fresh values or `timeout_s` has passed, so that the controller does not
    /// start on no data. Returns what was written and which nodes did not answer.
    pub fn start(&mut self, bench: &Bench, timeout_s: f64) -> Vec<String> {
        let mut notes = self.load_calibration(bench);
        let t0 = self.now();
        let fresh = |p: &Poller, now: f64, n: usize| p.channel(n, 0, now).is_some_and(|r| r.fresh);
        let count = self.wiring.nodes.len();
        loop {
            let now = self.now();
            if (0..count).all(|n| fresh(&self.poller, now, n))
                && (0..self.streams.len()).all(|m| self.meter_fresh(m, now))
            {
                break;
            }
            if now - t0 >= timeout_s {
                for (n, node) in self.wiring.nodes.iter().enumerate() {
                    if !fresh(&self.poller, now, n) {
                        notes.push(format!(
                            "node {:#04x}: no values within {timeout_s} s; its circuits start lost",
                            node.address
                        ));
                    }
                }
                for m in 0..self.streams.len() {
                    if !self.meter_fresh(m, now) {
                        notes.push(format!(
                            "meter {:#04x}: no values within {timeout_s} s; its circuits start lost",
                            self.streams[m].address
                        ));
                    }
                }
                break;
            }
            if self.streams.is_empty() {
                self.poll();
                self.delay.delay_ms(20);
            } else {
                self.poll_and_stream(self.now() + 0.02);
            }
        }
        notes
    }

    /// Poll the nodes, the meters read between their transactions, and stream the meters
    /// until `until` (clock s); take their values. The poll's place in the step moves from
    /// step to step: a step is a whole number of cycles, and a poll at the same moment of each
    /// would disturb the meters' samples at the same phase every time.
    fn poll_and_stream(&mut self, until: f64) {
        self.steps += 1;
        let start = self.now();
        let shift = (self.steps as f64 * 0.618_034).fract() * 0.8 * (until - start);
        let mut bus = Interleaved::new(&mut self.i2c, &mut self.streams, &*self.clock);
        bus.run(&mut self.delay, start + shift);
        self.poller.poll(
            &mut bus,
            &mut self.delay,
            &*self.clock,
            self.budget_s,
            &mut self.polled,
        );
        bus.run(&mut self.delay, until);
        let failed = std::mem::take(&mut bus.failed);
        for (m, stream) in self.streams.iter_mut().enumerate() {
            let error = failed.iter().find(|f| f.0 == m).map(|f| f.1.to_string());
            let address = stream.address;
            match error {
                Some(error) if !self.meter_failing[m] => {
                    self.meter_failing[m] = true;
                    self.meter_events
                        .push((address, EventKind::NodeLost { error }));
                }
                // Back once its pulses time it again (their silence takes longer than a step).
                None if self.meter_failing[m] && stream.paced() => {
                    self.meter_failing[m] = false;
                    self.meter_events.push((address, EventKind::NodeBack));
                }
                _ => {}
            }
            self.metered[m] = stream.metering.values();
        }
    }

    /// A meter's values are a whole window's and recent, and its bus works.
    fn meter_fresh(&self, m: usize, now: f64) -> bool {
        !self.meter_failing[m]
            && self.metered[m].is_some()
            && self.streams[m]
                .last_at()
                .is_some_and(|t| now - t <= self.stale_s)
    }

    /// Stream the meters from now until `until` before the first step, so that they have a
    /// whole window (the emulation's nodes meter on their own; the meters only when read).
    pub fn prime_meters(&mut self, until: f64) {
        if !self.streams.is_empty() {
            self.poll_and_stream(until);
        }
    }

    /// One poll of the nodes within the step's budget.
    fn poll(&mut self) {
        self.poller.poll(
            &mut self.i2c,
            &mut self.delay,
            &*self.clock,
            self.budget_s,
            &mut self.polled,
        );
    }

    fn load_calibration(&mut self, bench: &Bench) -> Vec<String> {
        let mut notes = Vec::new();
        let nodes = self.wiring.nodes.clone();
        for (cfg, node) in bench.nodes.iter().zip(nodes) {
            if let Err(e) = self.calibrate_node(cfg, node, &mut notes) {
                notes.push(format!(
                    "node {:#04x}: calibration not checked: {e}",
                    node.address
                ));
            }
        }
        notes
    }

    fn calibrate_node(
        &mut self,
        cfg: &NodeCfg,
        node: Node,
        notes: &mut Vec<String>,
    ) -> Result<(), String> {
        let i2c = &mut self.i2c;
        let err = |e: hil::node::NodeError<I::Error>| format!("{e:?}");
        let mut note = |what: String| notes.push(format!("node {:#04x}: {what}", node.address));
        if node.voltage_calibration(i2c).map_err(err)? != cfg.voltage_cal {
            node.set_voltage_calibration(i2c, cfg.voltage_cal)
                .map_err(err)?;
            note("voltage calibration written from the bench file".into());
        }
        for ch in 0..node.channels {
            let want = cfg
                .channel_cal
                .get(usize::from(ch))
                .copied()
                .unwrap_or_default();
            if node.calibration(i2c, ch).map_err(err)? != want {
                node.set_calibration(i2c, ch, want).map_err(err)?;
                note(format!(
                    "channel {ch} calibration written from the bench file"
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn wiring(&self) -> &Wiring {
        &self.wiring
    }

    /// Each output's coil and whether its contact is normally closed, in the bench's order.
    pub(crate) fn coils(&self) -> &[(Coil, bool)] {
        &self.outputs.wiring
    }

    /// The bench's clock now, s.
    fn now(&self) -> f64 {
        (self.clock)()
    }
}

fn reading(poller: &Poller, (n, ch): Slot, now: f64) -> hil::poll::Reading {
    poller
        .channel(n, ch, now)
        .expect("the wiring's slots are the poller's")
}

/// Reactive power's magnitude from a window's values (the node meters P and S, not Q's sign).
fn q_of(v: &hil::node::Values) -> f64 {
    let s = v.v_rms * v.i_rms;
    (s * s - v.p * v.p).max(0.0).sqrt()
}

impl<I: I2c, D: DelayNs, P: OutputPin> Backend for Hardware<I, D, P> {
    fn measure(&mut self, at: f64, out: &mut Measurements) {
        let start = self.now();
        // The meters stream for the rest of the step, their last reads (a quarter of a
        // millisecond each) ending before it does, so that the next step starts on time.
        let reads = 0.25e-3 * self.streams.len() as f64;
        self.poll_and_stream(start + self.budget_s - 2.0 * reads);
        // Freshness is judged when the poll ends.
        let now = self.now();
        // Protection and the transfer switch act on the last cycle's voltage and the half-cycle
        // current peak, as the controller's own metering gives them; the rest on the window.
        let w = &self.wiring;
        for (slot, m, panel) in [
            (w.main, &mut out.main, &mut self.panel.main),
            (w.backup, &mut out.backup, &mut self.panel.backup),
        ] {
            let r = reading(&self.poller, slot, now);
            *m = SourceMeasurement {
                v: r.v_cycle,
                hz: r.values.hz,
                i: r.values.i_rms,
                p: r.values.p,
                i_fast: r.i_fast.max(r.values.i_rms),
                lost: !r.fresh,
            };
            if r.fresh {
                *panel = SourceReading {
                    v: r.values.v_rms,
                    hz: r.values.hz,
                    i: r.values.i_rms,
                    p: r.values.p,
                    q: q_of(&r.values),
                };
            }
        }
        out.loads.clear();
        for (k, &place) in w.loads.iter().enumerate() {
            let r = match place {
                Place::Node(slot) => reading(&self.poller, slot, now),
                Place::Meter(m, c) => {
                    let fresh = self.meter_fresh(m, now);
                    let x = self.metered[m]
                        .as_ref()
                        .map(|v| v[usize::from(c)])
                        .unwrap_or(Metered {
                            values: hil::node::Values::new(0.0, 0.0, 0.0, 0.0),
                            i_fast: 0.0,
                            energy: 0.0,
                        });
                    hil::poll::Reading {
                        values: x.values,
                        v_cycle: x.values.v_rms,
                        i_fast: x.i_fast,
                        fresh,
                    }
                }
            };
            out.loads.push(LoadMeasurement {
                i: r.values.i_rms,
                p: r.values.p,
                i_fast: r.i_fast.max(r.values.i_rms),
                lost: !r.fresh,
            });
            if r.fresh {
                self.panel.loads[k] = LoadReading {
                    v: r.values.v_rms,
                    i: r.values.i_rms,
                    p: r.values.p,
                    q: q_of(&r.values),
                };
            }
        }
        // The bus as its own node sees it, else as the source feeding it.
        let bus = w
            .bus
            .and_then(|n| self.poller.channel(n, 0, now))
            .filter(|r| r.fresh)
            .map(|r| (r.values.v_rms, r.values.hz));
        let fed = match self.feeding {
            Some(SourceId::Main) => Some(&self.panel.main),
            Some(SourceId::Backup) => Some(&self.panel.backup),
            None => None,
        };
        (self.panel.bus_v, self.panel.bus_hz) =
            bus.unwrap_or_else(|| fed.map_or((0.0, 0.0), |s| (s.v, s.hz)));
        // The fast block as read, for a trip's record (in `rms_channels`' order).
        let w = &self.wiring;
        let node = |slot| reading(&self.poller, slot, now);
        let f = &mut self.frame;
        f.clear();
        f.extend([node(w.main).v_cycle, node(w.backup).v_cycle]);
        if let Some(n) = w.bus {
            f.push(node((n, 0)).v_cycle);
        }
        f.extend([node(w.main).i_fast, node(w.backup).i_fast]);
        f.extend(w.loads.iter().map(|&place| {
            match place {
                Place::Node(slot) => node(slot).i_fast,
                Place::Meter(m, c) => self.metered[m]
                    .as_ref()
                    .map_or(0.0, |v| v[usize::from(c)].i_fast),
            }
        }));
        self.recorder.push(at, f);
    }

    fn trip(&mut self, t: f64, subject: &str) {
        self.recorder.trip(t, subject);
    }

    fn fault_records(&mut self, out: &mut Vec<record::FaultRecord>) {
        self.recorder.take(out);
    }

    fn actuate(&mut self, c: &Commands, _dt: f64) {
        self.outputs.drive(c);
        self.relays.clone_from(&c.relays);
        self.feeding = super::feeding(c);
    }

    fn readings(&self) -> &Readings {
        &self.panel
    }

    fn relay_closed(&self, i: usize) -> bool {
        self.relays[i]
    }

    fn reports(&mut self, now: Instant, out: &mut Vec<Event>) {
        for (address, kind) in self.meter_events.drain(..) {
            out.push(Event::at(
                now.as_secs_f64(),
                format!("meter {address:#04x}"),
                kind,
            ));
        }
        for e in self.polled.drain(..) {
            let (address, kind) = match e {
                PollEvent::Failed { address, error } => (address, EventKind::NodeLost { error }),
                PollEvent::Recovered { address } => (address, EventKind::NodeBack),
                PollEvent::NodeReset { address } => (address, trouble(NodeTrouble::Reset)),
                PollEvent::AdcOverrun { address } => (address, trouble(NodeTrouble::AdcOverrun)),
                PollEvent::CalibrationInvalid { address } => {
                    (address, trouble(NodeTrouble::CalibrationInvalid))
                }
            };
            out.push(Event::at(
                now.as_secs_f64(),
                format!("node {address:#04x}"),
                kind,
            ));
        }
    }
}

fn trouble(trouble: NodeTrouble) -> EventKind {
    EventKind::NodeTrouble { trouble }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hil::bench::Drive;

    fn demo() -> (Bench, Vec<String>) {
        let b = Bench::parse(hil::bench::DEMO).unwrap();
        let names = ["server", "network", "fridge", "lights", "pump", "office"];
        (b, names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn the_demo_bench_wires_the_demo_pdu() {
        let (b, names) = demo();
        let w = Wiring::new(&b, &names).unwrap();
        assert_eq!((w.main, w.backup, w.bus), ((0, 0), (1, 0), Some(2)));
        let on_node = |n, c| Place::Node((n, c));
        assert_eq!(
            w.loads,
            [
                on_node(2, 0),
                on_node(2, 1),
                on_node(2, 2),
                on_node(2, 3),
                on_node(3, 0),
                on_node(3, 1)
            ]
        );
        assert_eq!(w.address(Some(4), false), 0x23);
        assert_eq!(w.address(None, true), 0x21);
        let c = coils(&b, &names).unwrap();
        assert_eq!(c[0], (Coil::Main, true));
        assert_eq!(c[8], (Coil::Load(5), false));
    }

    #[test]
    fn the_ads1115_bench_meters_the_loads_and_refuses_a_source_on_a_meter() {
        let (_, names) = demo();
        let b = Bench::parse(hil::bench::DEMO_ADS1115).unwrap();
        let w = Wiring::new(&b, &names).unwrap();
        assert_eq!(w.loads[2], Place::Meter(0, 2));
        assert_eq!(w.loads[3], Place::Meter(1, 0));
        assert_eq!(w.address(Some(4), false), 0x49);
        let mut source = b.clone();
        source.meters[0].currents[0].circuit = Circuit::Main;
        assert_eq!(
            Wiring::new(&source, &names).unwrap_err(),
            "meter 0x48 current 0 measures main: a meter measures loads only (a source's protection needs a node's cycle-by-cycle voltage)"
        );
        let mut twice = b.clone();
        twice.meters[1].currents[0].circuit = Circuit::Load("server".into());
        assert_eq!(
            Wiring::new(&twice, &names).unwrap_err(),
            "meter 0x49 current 0: server is measured twice"
        );
    }

    #[test]
    fn a_bench_that_does_not_fit_the_site_says_what_and_where() {
        let (b, names) = demo();
        let refused = |b: &Bench, names: &[String]| Wiring::new(b, names).unwrap_err();
        let mut more = names.clone();
        more.push("kettle".into());
        assert_eq!(
            refused(&b, &more),
            "no node channel or meter measures kettle"
        );
        assert_eq!(
            refused(&b, &names[..5]),
            "node 0x23 channel 1 names load \"office\", which the site does not have"
        );
        let mut twice = b.clone();
        twice.nodes[3].channels[1] = Circuit::Load("server".into());
        assert_eq!(
            refused(&twice, &names),
            "node 0x23 channel 1: server is measured twice"
        );
        let mut wrong_v = b.clone();
        wrong_v.nodes[0].voltage = Circuit::Bus;
        assert_eq!(
            refused(&wrong_v, &names),
            "node 0x20 channel 0 measures main, so the node's voltage must be on main, not bus"
        );
        let mut undriven = b.clone();
        undriven
            .relays
            .outputs
            .retain(|o| o.drives != Drive::Load("fridge".into()));
        assert_eq!(refused(&undriven, &names), "no relay output drives fridge");
        let mut doubled = b.clone();
        doubled.relays.outputs[2].drives = Drive::MainContactor;
        assert_eq!(
            refused(&doubled, &names),
            "relay pins 17 and 22 drive the same thing"
        );
    }
}
