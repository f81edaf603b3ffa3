//! The hardware path against the twin. The world side: the twin's waveforms feed virtual
//! measurement nodes on an emulated I2C bus, and the relay board's contacts (coils, wiring,
//! hardware watchdog) decide what the twin's contactors and relays do. The controller side is
//! what a Pi runs: `hil::poll` polls the nodes with retries and ages their data, and
//! `hil::RelayBank` drives the coils over GPIO.
//!
//! The layout follows the seed's bench: a node per source (its voltage sensor on the source's
//! terminals, its channel 0 on the source's current), then nodes of up to four load channels
//! sharing the bus voltage. Output pins: the main contactor (wired normally closed: a dead
//! controller leaves the site on the main), the backup contactor and the generator start
//! (normally open), then each load (normally closed where the load is critical, open otherwise).

use std::sync::{Arc, Mutex, MutexGuard};

use hil::emulated::gpio::{Contact, Pin, RelayBoard, Watchdog};
use hil::emulated::node::{NodeSpec, Signal, VirtualNode};
use hil::emulated::{EmulatedBus, Fault, Nanos};
use hil::node::Node;
use hil::poll::{PollEvent, PollSettings, Poller};
use hil::{Polarity, RelayBank};
use sim::{Actuation, Pdu, SourceId, Synth, WaveformSpec};

use super::Backend;
use crate::core::{Commands, LoadMeasurement, Measurements, SourceMeasurement};
use crate::scenario::format::{BusFault, Target};

/// Twin time before the controller's first step that the bus has already run: enough for the
/// nodes to meter whole windows and the poller to read them.
const PRIME_S: f64 = 0.7;
/// Twin samples per second for the nodes to sample from (they interpolate).
const TWIN_RATE: f64 = 7200.0;
/// Load channels per node.
const PER_NODE: usize = 4;
const FIRST_ADDRESS: u8 = 0x20;
/// The relay board's watchdog: coil power drops this long after the last heartbeat edge.
const WATCHDOG_S: f64 = 0.5;

/// The twin's recent samples, for the nodes' inputs. Channels: main v, main i, backup v,
/// backup i, bus v, then each load's current.
struct Waves {
    rate: f64,
    /// Sample index of `data[0]`.
    first: i64,
    stride: usize,
    data: Vec<f64>,
}

impl Waves {
    fn value(&self, ch: usize, t: f64) -> f64 {
        let n = self.data.len() / self.stride;
        if n == 0 {
            return 0.0;
        }
        let x = (t * self.rate - self.first as f64).clamp(0.0, (n - 1) as f64);
        let k = x as usize;
        let k1 = (k + 1).min(n - 1);
        let f = x - k as f64;
        let a = self.data[k * self.stride + ch];
        a + (self.data[k1 * self.stride + ch] - a) * f
    }

    /// Keep the samples from time `t` on.
    fn trim_before(&mut self, t: f64) {
        let keep_from = ((t * self.rate).floor() as i64 - 1).max(self.first);
        let drop = ((keep_from - self.first) as usize).min(self.data.len() / self.stride);
        self.data.drain(..drop * self.stride);
        self.first += drop as i64;
    }
}

fn lock(w: &Mutex<Waves>) -> MutexGuard<'_, Waves> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a measured circuit is in the poller: (node index, channel).
type Slot = (usize, u8);

/// How the bench is built for one PDU.
pub struct Layout {
    pub nominal_v: f64,
    pub nominal_hz: f64,
    /// Each load's current-sensor range, peak amps, and whether it is wired to fail closed.
    pub loads: Vec<(f64, Contact)>,
    /// The sources' current-sensor range, peak amps.
    pub source_peak_a: f64,
    /// The control step, s: each poll's time budget.
    pub step_s: f64,
}

pub struct EmulatedHil {
    pub pdu: Pdu,
    synth: Synth,
    waves: Arc<Mutex<Waves>>,
    bus: EmulatedBus,
    poller: Poller,
    main: Slot,
    backup: Slot,
    loads: Vec<Slot>,
    outputs: RelayBank<Pin>,
    normally_closed: Vec<bool>,
    heartbeat: Pin,
    beat: bool,
    board: RelayBoard,
    coils: Vec<bool>,
    contacts: Vec<bool>,
    actuation: Actuation,
    /// The poller's reports, scratch: the controller's sensor-fault alarms are the record.
    events: Vec<PollEvent>,
    step_s: f64,
}

fn nanos(twin_t: f64) -> Nanos {
    ((twin_t + PRIME_S) * 1e9).round().max(0.0) as Nanos
}

impl EmulatedHil {
    pub fn new(pdu: Pdu, layout: &Layout, seed: u64) -> Self {
        let n_loads = pdu.loads.len();
        let (nominal_v, nominal_hz) = (layout.nominal_v, layout.nominal_hz);
        let spec = WaveformSpec {
            sample_rate: TWIN_RATE,
            ..WaveformSpec::default()
        };
        let synth = Synth::primed(&spec, &pdu, seed, PRIME_S + 0.05);
        let waves = Arc::new(Mutex::new(Waves {
            rate: TWIN_RATE,
            first: (synth.next_time() * TWIN_RATE).round() as i64,
            stride: 5 + n_loads,
            data: Vec::new(),
        }));
        let bus = EmulatedBus::new(400_000);
        let v_peak = 1.6 * std::f64::consts::SQRT_2 * nominal_v;
        let lag = layout.step_s;
        let node = |v_ch: usize, i_chs: Vec<usize>, i_peak: f64| {
            let w = waves.clone();
            let spec = NodeSpec {
                channels: i_chs.len() as u8,
                nominal_hz,
                v_peak,
                i_peak,
                ..NodeSpec::default()
            };
            let inputs = move |s: Signal, t: f64| {
                // The bus clock runs PRIME_S ahead of the twin's; and the nodes see the world a
                // step late, since the twin has produced its samples only up to the step's start
                // when a poll (which takes bus time) begins.
                let t = t - PRIME_S - lag;
                match s {
                    Signal::Voltage => lock(&w).value(v_ch, t),
                    Signal::Current(c) => lock(&w).value(i_chs[usize::from(c)], t),
                }
            };
            (spec, Box::new(inputs) as hil::emulated::node::Inputs)
        };
        let mut address = FIRST_ADDRESS;
        let mut nodes = Vec::new();
        let mut attach = |(spec, inputs): (NodeSpec, hil::emulated::node::Inputs)| {
            bus.attach(address, VirtualNode::new(address, spec, inputs));
            nodes.push(Node {
                address,
                channels: spec.channels,
            });
            address += 1;
            nodes.len() - 1
        };
        let main = (attach(node(0, vec![1], layout.source_peak_a)), 0);
        let backup = (attach(node(2, vec![3], layout.source_peak_a)), 0);
        let mut loads = Vec::with_capacity(n_loads);
        for chunk in (0..n_loads).collect::<Vec<_>>().chunks(PER_NODE) {
            let peak = chunk.iter().map(|&k| layout.loads[k].0).fold(0.0, f64::max);
            let n = attach(node(4, chunk.iter().map(|k| 5 + k).collect(), peak));
            loads.extend((0..chunk.len()).map(|c| (n, c as u8)));
        }
        let poller = Poller::new(nodes, PollSettings::default());

        let mut wiring = vec![
            Contact::NormallyClosed,
            Contact::NormallyOpen,
            Contact::NormallyOpen,
        ];
        wiring.extend(layout.loads.iter().map(|l| l.1));
        let pins: Vec<Pin> = wiring.iter().map(|_| Pin::default()).collect();
        let heartbeat = Pin::default();
        let board = RelayBoard::new(
            pins.iter().cloned().zip(wiring.iter().copied()).collect(),
            true,
            Watchdog::new(heartbeat.clone(), (WATCHDOG_S * 1e9) as Nanos),
        );
        let outputs = RelayBank::new(pins.into_iter().map(|p| (p, false)), Polarity::ActiveLow);
        let mut hil = EmulatedHil {
            synth,
            waves,
            bus,
            poller,
            main,
            backup,
            loads,
            outputs,
            normally_closed: wiring
                .iter()
                .map(|c| *c == Contact::NormallyClosed)
                .collect(),
            heartbeat,
            beat: false,
            board,
            coils: Vec::new(),
            contacts: Vec::new(),
            actuation: Actuation::default(),
            events: Vec::new(),
            step_s: layout.step_s,
            pdu,
        };
        hil.feed(0.0);
        hil
    }

    /// The twin's samples of the last `dt` s into the nodes' inputs.
    fn feed(&mut self, dt: f64) {
        let mut w = lock(&self.waves);
        self.synth.run(&self.pdu, dt, |f| {
            w.data
                .extend_from_slice(&[f.main_v, f.main_i, f.backup_v, f.backup_i, f.bus_v]);
            w.data.extend_from_slice(f.loads_i);
        });
        // The nodes never look further back than the last poll, a step or two ago.
        let t = self.pdu.time() - dt - 0.5;
        w.trim_before(t);
    }

    /// The address of the node that measures `target`.
    pub fn address_of(
        &self,
        target: &Target,
        index: &std::collections::BTreeMap<String, usize>,
    ) -> u8 {
        let slot = match target {
            Target::Source(SourceId::Main) => self.main,
            Target::Source(SourceId::Backup) => self.backup,
            Target::Load(n) => self.loads[index[n.as_str()]],
        };
        FIRST_ADDRESS + slot.0 as u8
    }

    /// A timeline's bus fault, at a node (None: the whole bus).
    pub fn inject(&mut self, fault: BusFault, address: Option<u8>) {
        let address = address.unwrap_or(FIRST_ADDRESS);
        self.bus.inject(match fault {
            BusFault::Nak => Fault::Nak {
                address,
                count: u32::MAX,
            },
            BusFault::Stuck => Fault::Stuck { until: None },
            BusFault::Corrupt => Fault::Corrupt {
                address,
                index: 0,
                xor: 0x01,
                count: u32::MAX,
            },
            BusFault::Slow { us } => Fault::Slow {
                address,
                per_byte: (us.get() * 1e3) as Nanos,
            },
            BusFault::Vanish => Fault::Vanish { address },
        });
    }

    /// The end of a timeline's bus fault.
    pub fn clear_fault(&mut self, fault: BusFault, address: Option<u8>) {
        match address {
            _ if fault == BusFault::Stuck => self.bus.recover(),
            None => {}
            Some(a) => self.bus.remove_faults(|f| match *f {
                Fault::Nak { address, .. }
                | Fault::Corrupt { address, .. }
                | Fault::Slow { address, .. }
                | Fault::Vanish { address } => address == a,
                Fault::Stuck { .. } => false,
            }),
        }
    }

    /// Twin time of the bus clock.
    fn twin_time(&self) -> f64 {
        self.bus.now() as f64 / 1e9 - PRIME_S
    }
}

impl Backend for EmulatedHil {
    fn measure(&mut self, out: &mut Measurements) {
        // The bus clock is the Pi's: it idles until the step starts, or is already later when
        // the last poll overran (a slow device).
        self.bus.idle_until(nanos(self.pdu.time()));
        let mut delay = self.bus.clone();
        let mut i2c = self.bus.clone();
        let clock = self.bus.clone();
        let twin_clock = move || clock.now() as f64 / 1e9 - PRIME_S;
        let budget = self.step_s;
        self.events.clear();
        self.poller
            .poll(&mut i2c, &mut delay, &twin_clock, budget, &mut self.events);
        // Freshness is judged when the poll ends.
        let now = self.twin_time();
        // Protection and the transfer switch act on the last cycle's voltage and the half-cycle
        // current peak, as the controller's own metering gives them; the rest on the window.
        let source = |slot: Slot| {
            let r = self
                .poller
                .channel(slot.0, slot.1, now)
                .expect("the layout's slots exist");
            SourceMeasurement {
                v: r.v_cycle,
                hz: r.values.hz,
                i: r.values.i_rms,
                p: r.values.p,
                i_fast: r.i_fast.max(r.values.i_rms),
                lost: !r.fresh,
            }
        };
        out.main = source(self.main);
        out.backup = source(self.backup);
        out.loads.clear();
        for &(n, c) in &self.loads {
            let r = self
                .poller
                .channel(n, c, now)
                .expect("the layout's slots exist");
            out.loads.push(LoadMeasurement {
                i: r.values.i_rms,
                p: r.values.p,
                i_fast: r.i_fast.max(r.values.i_rms),
                lost: !r.fresh,
            });
        }
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        // The Pi side: coils for the wanted states (a normally closed contact opens when its
        // coil is energized), then the heartbeat.
        self.coils.clear();
        self.coils
            .extend([c.main_closed, c.backup_closed, c.backup_start]);
        self.coils.extend(c.relays.iter().copied());
        for (coil, nc) in self.coils.iter_mut().zip(&self.normally_closed) {
            *coil ^= nc;
        }
        // GPIO writes cannot fail on the emulated pins.
        let _ = self.outputs.apply(&self.coils);
        self.beat = !self.beat;
        let _ = if self.beat {
            embedded_hal::digital::OutputPin::set_high(&mut self.heartbeat)
        } else {
            embedded_hal::digital::OutputPin::set_low(&mut self.heartbeat)
        };
        self.world(dt);
    }
}

impl EmulatedHil {
    /// A step in which the Pi does nothing (its loop hung): the coils keep their last drive,
    /// the heartbeat stops, and the relay board's watchdog decides.
    pub fn idle(&mut self, dt: f64) {
        self.bus.idle_until(nanos(self.pdu.time()));
        self.world(dt);
    }

    /// The world side of a step: what the contacts do, then the twin steps.
    fn world(&mut self, dt: f64) {
        self.board.closed(self.bus.now(), &mut self.contacts);
        self.actuation.main_closed = self.contacts[0];
        self.actuation.backup_closed = self.contacts[1];
        self.actuation.backup_start = self.contacts[2];
        self.actuation.relays.clear();
        self.actuation.relays.extend_from_slice(&self.contacts[3..]);
        self.pdu.step(dt, &self.actuation);
        self.feed(dt);
    }
}
