//! The hardware path against the twin. The world side: the twin's waveforms feed virtual
//! measurement nodes on an emulated I2C bus, and the relay board's contacts (coils, wiring,
//! hardware watchdog) decide what the twin's contactors and relays do. The controller side is
//! what a Pi runs: `hil::poll` polls the nodes with retries and ages their data, and
//! `hil::RelayBank` drives the coils over GPIO.
//!
//! `bench_for` lays a PDU out as the seed's bench: a node per source (its voltage sensor on the
//! source's terminals, its channel 0 on the source's current), then nodes of up to four load
//! channels sharing the bus voltage. Output pins: the main contactor (wired normally closed: a
//! dead controller leaves the site on the main), the backup contactor and the generator start
//! (normally open), then each load (normally closed where the load is critical, open otherwise).

use std::sync::{Arc, Mutex, MutexGuard};

use grid_types::{Readings, SourceId};
use hil::Contact;
use hil::ads1115::{Input, Range};
use hil::bench::{
    Bench, Circuit, Drive, I2cBus, METER_BIAS_V, METER_SWING_V, MeterCfg, MeterInput, NodeCfg,
    Output, Relays,
};
use hil::emulated::gpio::{Pin, RelayBoard};
use hil::emulated::node::Signal;
use hil::emulated::{EmulatedBus, Fault, Nanos};
use hil::poll::PollSettings;
use sim::{Actuation, Pdu, PduSpec, Synth, WaveformSpec};

use super::Backend;
use super::hardware::{Hardware, Io};
use super::relay_outputs::Coil;
use crate::scenario::format::{BusFault, Target};
use control_core::Settings;
use control_core::{Commands, Event, Instant, Measurements};

/// Twin time before the controller's first step that the bus has already run: enough for the
/// nodes to meter whole windows and the poller to read them.
const PRIME_S: f64 = 0.7;
/// Twin samples per second for the nodes to sample from (they interpolate).
const TWIN_RATE: f64 = 7200.0;
/// Load channels per node.
const PER_NODE: usize = 4;
const FIRST_ADDRESS: u8 = 0x20;
/// The relay board's watchdog: coil power drops this long after the last heartbeat edge.
const WATCHDOG_MS: u32 = 500;

/// What meters the loads of an emulated bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMetering {
    /// Measurement nodes, four loads each.
    Nodes,
    /// ADS1115s streamed on the bus (at 0x48-0x4B), three loads each with the bus voltage on
    /// A3: the monitoring seed's reference wiring. Loads beyond twelve go on nodes.
    Ads1115,
}

/// ADS1115 meters at most on one bus (its ADDR pin's four addresses).
const MAX_METERS: usize = 4;

/// The bench an installer would build for `spec`: each current sensor's range three times the
/// load's rated peak current, and half again above its largest overcurrent pickup, so a fault
/// reads unclipped; critical loads wired to fail closed.
pub fn bench_for(spec: &PduSpec, settings: &Settings, metering: LoadMetering) -> Bench {
    let sqrt2 = std::f64::consts::SQRT_2;
    let loads: Vec<(f64, Contact)> = spec
        .loads
        .iter()
        .map(|l| {
            let cfg = settings.loads.get(&l.name).cloned().unwrap_or_default();
            let rated = l.model.rated_watts() / spec.nominal_v * sqrt2;
            let oc = &cfg.overcurrent;
            let pickup = [
                oc.instantaneous.as_ref().map(|s| s.pickup.get()),
                oc.inverse.as_ref().map(|s| s.pickup.get() * 4.0),
                cfg.limit_a.map(|p| p.get()),
            ]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max);
            let peak = (3.0 * rated).max(1.5 * sqrt2 * pickup).max(5.0);
            let contact = if cfg.critical {
                Contact::NormallyClosed
            } else {
                Contact::NormallyOpen
            };
            (peak, contact)
        })
        .collect();
    // Twice every load at its rating at once, or the largest load circuit's range.
    let rated: f64 = spec.loads.iter().map(|l| l.model.rated_watts()).sum();
    let source_peak =
        (2.0 * rated / spec.nominal_v * sqrt2).max(loads.iter().map(|l| l.0).fold(5.0, f64::max));
    let v_peak = 1.6 * sqrt2 * spec.nominal_v;
    let node = |address: u8, voltage: Circuit, channels: Vec<Circuit>, i_peak_a: f64| NodeCfg {
        address,
        voltage,
        channels,
        v_peak_v: v_peak,
        i_peak_a,
        voltage_cal: Default::default(),
        channel_cal: Vec::new(),
    };
    let mut nodes = vec![
        node(
            FIRST_ADDRESS,
            Circuit::Main,
            vec![Circuit::Main],
            source_peak,
        ),
        node(
            FIRST_ADDRESS + 1,
            Circuit::Backup,
            vec![Circuit::Backup],
            source_peak,
        ),
    ];
    let on_meters = match metering {
        LoadMetering::Nodes => 0,
        LoadMetering::Ads1115 => spec.loads.len().min(3 * MAX_METERS),
    };
    let meter_input = |input, circuit, peak: f64| MeterInput {
        input,
        circuit,
        cal: hil::ads1115::Calibration {
            gain: peak / METER_SWING_V,
            offset: METER_BIAS_V,
        },
    };
    let meters = spec.loads[..on_meters]
        .chunks(3)
        .enumerate()
        .map(|(k, chunk)| MeterCfg {
            address: 0x48 + k as u8,
            range: Range::V4_096,
            voltage: meter_input(Input::A3, Circuit::Bus, v_peak),
            currents: chunk
                .iter()
                .enumerate()
                .map(|(c, l)| {
                    let pin = [Input::A0, Input::A1, Input::A2][c];
                    meter_input(pin, Circuit::Load(l.name.clone()), loads[3 * k + c].0)
                })
                .collect(),
            // Clear of the outputs' numbers, which count up from 1.
            ready_pin: 27 - k as u8,
        })
        .collect();
    for (k, chunk) in spec.loads[on_meters..].chunks(PER_NODE).enumerate() {
        let first = on_meters + k * PER_NODE;
        let peak = loads[first..first + chunk.len()]
            .iter()
            .map(|l| l.0)
            .fold(0.0, f64::max);
        let channels = chunk
            .iter()
            .map(|l| Circuit::Load(l.name.clone()))
            .collect();
        nodes.push(node(
            FIRST_ADDRESS + 2 + k as u8,
            Circuit::Bus,
            channels,
            peak,
        ));
    }
    let mut outputs = vec![
        (Drive::MainContactor, Contact::NormallyClosed),
        (Drive::BackupContactor, Contact::NormallyOpen),
        (Drive::GeneratorStart, Contact::NormallyOpen),
    ];
    outputs.extend(
        spec.loads
            .iter()
            .zip(&loads)
            .map(|(l, &(_, contact))| (Drive::Load(l.name.clone()), contact)),
    );
    Bench {
        nominal_v: spec.nominal_v,
        nominal_hz: spec.nominal_hz,
        i2c: I2cBus::default(),
        poll: PollSettings::default(),
        nodes,
        adcs: Vec::new(),
        meters,
        relays: Relays {
            active_low: true,
            // Emulated pins have no numbers; these only name them.
            heartbeat_pin: 0,
            watchdog_ms: WATCHDOG_MS,
            outputs: outputs
                .into_iter()
                .enumerate()
                .map(|(k, (drives, contact))| Output {
                    pin: k as u8 + 1,
                    drives,
                    contact,
                })
                .collect(),
        },
    }
}

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

pub struct EmulatedHil {
    pub pdu: Pdu,
    synth: Synth,
    waves: Arc<Mutex<Waves>>,
    bus: EmulatedBus,
    /// The Pi's side.
    hw: Hardware<EmulatedBus, EmulatedBus, Pin>,
    board: RelayBoard,
    contacts: Vec<bool>,
    actuation: Actuation,
}

fn nanos(twin_t: f64) -> Nanos {
    ((twin_t + PRIME_S) * 1e9).round().max(0.0) as Nanos
}

impl EmulatedHil {
    /// The twin's PDU on `bench` (as `bench_for` lays it out for the PDU), its loads `names`,
    /// the control loop stepping every `step_s`.
    pub fn new(
        pdu: Pdu,
        bench: &Bench,
        names: &[String],
        step_s: f64,
        seed: u64,
    ) -> Result<Self, String> {
        let n_loads = pdu.loads.len();
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
        // The twin's channels: main v, main i, backup v, backup i, bus v, then each load's i.
        let channel = |c: &Circuit, voltage: bool| match c {
            Circuit::Main => Some(usize::from(!voltage)),
            Circuit::Backup => Some(2 + usize::from(!voltage)),
            Circuit::Bus if voltage => Some(4),
            Circuit::Bus => None,
            Circuit::Load(n) => names.iter().position(|x| x == n).map(|i| 5 + i),
        };
        let lag = step_s;
        let meter_waves = waves.clone();
        let emulated = hil::emulated::bench::emulate_with(
            bench,
            &mut |n: &NodeCfg| {
                let w = waves.clone();
                let v = channel(&n.voltage, true);
                let i: Vec<Option<usize>> = n.channels.iter().map(|c| channel(c, false)).collect();
                Box::new(move |s: Signal, t: f64| {
                    // The bus clock runs PRIME_S ahead of the twin's; and the nodes see the
                    // world a step late, since the twin has produced its samples only up to the
                    // step's start when a poll (which takes bus time) begins.
                    let t = t - PRIME_S - lag;
                    let ch = match s {
                        Signal::Voltage => v,
                        Signal::Current(c) => i.get(usize::from(c)).copied().flatten(),
                    };
                    ch.map_or(0.0, |ch| lock(&w).value(ch, t))
                })
            },
            &mut |m: &MeterCfg| {
                let w = meter_waves.clone();
                // Each pin: the sensor on it, the twin's channel it reads.
                let pins: Vec<(Option<usize>, MeterInput, Option<usize>)> =
                    std::iter::once((&m.voltage, true))
                        .chain(m.currents.iter().map(|c| (c, false)))
                        .map(|(s, voltage)| {
                            (
                                hil::ads_meter::pin(s.input),
                                s.clone(),
                                channel(&s.circuit, voltage),
                            )
                        })
                        .collect();
                Box::new(move |pin: usize, t: f64| {
                    // As the nodes: a step late, PRIME_S ahead.
                    let t = t - PRIME_S - lag;
                    pins.iter()
                        .find(|p| p.0 == Some(pin))
                        .map_or(METER_BIAS_V, |(_, sensor, ch)| {
                            sensor.volts(ch.map_or(0.0, |ch| lock(&w).value(ch, t)))
                        })
                })
            },
        );
        let clock = emulated.bus.clone();
        let hw = Hardware::new(
            bench,
            names,
            step_s,
            Io {
                i2c: emulated.bus.clone(),
                delay: emulated.bus.clone(),
                outputs: emulated.outputs,
                heartbeat: emulated.heartbeat,
                clock: Box::new(move || clock.now() as f64 / 1e9 - PRIME_S),
                ready: emulated
                    .ready
                    .into_iter()
                    .map(|mut r| {
                        r.offset_s = PRIME_S;
                        Box::new(r) as Box<dyn hil::ads_meter::ReadyPin>
                    })
                    .collect(),
            },
        )?;
        let mut hil = EmulatedHil {
            synth,
            waves,
            bus: emulated.bus,
            hw,
            board: emulated.board,
            contacts: Vec::new(),
            actuation: Actuation::default(),
            pdu,
        };
        hil.feed(0.0);
        // The meters stream the last 0.3 s before the start, as the nodes have metered it.
        hil.bus.idle_until(nanos(-0.3));
        hil.hw.prime_meters(0.0);
        Ok(hil)
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
        let w = self.hw.wiring();
        match target {
            Target::Source(id) => w.address(None, *id == SourceId::Backup),
            Target::Load(n) => w.address(Some(index[n.as_str()]), false),
        }
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
}

impl Backend for EmulatedHil {
    fn measure(&mut self, now: f64, out: &mut Measurements) {
        // The bus clock is the Pi's: it idles until the step starts, or is already later when
        // the last poll overran (a slow device).
        self.bus.idle_until(nanos(self.pdu.time()));
        self.hw.measure(now, out);
    }

    fn trip(&mut self, t: f64, subject: &str) {
        self.hw.trip(t, subject);
    }

    fn fault_records(&mut self, out: &mut Vec<record::FaultRecord>) {
        self.hw.fault_records(out);
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        self.hw.actuate(c, dt);
        self.world(dt);
    }

    fn readings(&self) -> &Readings {
        self.hw.readings()
    }

    /// The relay board's contact, as the twin's relay follows it.
    fn relay_closed(&self, i: usize) -> bool {
        self.pdu.relay_closed(i)
    }

    fn reports(&mut self, now: Instant, out: &mut Vec<Event>) {
        self.hw.reports(now, out);
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
        let a = &mut self.actuation;
        a.relays.resize(self.pdu.loads.len(), false);
        a.backup_start = false;
        for (&(coil, _), &closed) in self.hw.coils().iter().zip(&self.contacts) {
            match coil {
                Coil::Main => a.main_closed = closed,
                Coil::Backup => a.backup_closed = closed,
                Coil::Start => a.backup_start = closed,
                Coil::Load(i) => a.relays[i] = closed,
            }
        }
        self.pdu.step(dt, &self.actuation);
        self.feed(dt);
    }
}
