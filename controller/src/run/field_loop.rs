//! A feeder live on its home nodes (`gridtwin serve FEEDER.ron --field FIELD.ron`): each home's
//! values are what its node last said, the transformer's what its meter says, and the
//! balancer (`NodesBalancer`, the twin's own) commands the selectors through the field's
//! transports (`field::site`). No twin is in the loop. With `--emulated` the field file's
//! devices are emulated (`field::emulated`) and fed by the scenario's twin, which stands for the
//! street outside and is never read by the loop.

use control_core::{Event, Instant};
use field::clock::Clock;
use field::config::{Field as FieldFile, Measures};
use field::emulated::{EmulatedField, UPLINK_S, emulate_on};
use field::meter::{MeterKind, MeterReading, PhaseReading};
use field::site::{HomeSeen, MeterSeen, Site};
use grid_types::Phase;
use record::schema::{self, Channel, J_PER_KWH};

use super::FeederLoop;
use crate::field::metered;
use crate::field::nodes::{NodesBalancer, site_event};
use crate::field::runtime::{apart, runtime};
use crate::scenario::{Loaded, Site as Grid};

/// `--field` on a PDU without `--hil`: what is said.
pub(crate) const FIELD_ON_PDU: &str = "--field alone runs a feeder's home nodes; this scenario is a PDU (its meters go with --hil BENCH.ron, its relays)";

/// The loop's step, s: the balancer looks at what the field heard once a second.
const DT: f64 = 1.0;

/// Operators' commands take ids from here up, apart from the balancer's (its sequence numbers,
/// counted from 1): a node takes an id once, so the two must not meet.
const OPERATOR_IDS: u16 = 0xC000;

pub struct FieldLoop {
    site: Site,
    street: Option<Street>,
    /// Runs the transports' tasks (and the emulation's) while the loop's thread sleeps;
    /// dropped last, after the site and the emulation.
    _rt: tokio::runtime::Runtime,
    balancer: NodesBalancer,
    homes: Vec<String>,
    /// Each home's nominal voltage (V): its load's in the feeder.
    volts: Vec<f64>,
    /// The meters on the transformer's secondary, by index in the field file, and their names.
    transformer: Vec<(usize, String)>,
    /// How old a reading may be and still be shown, s (the field file's `stale_s`).
    stale_s: f64,
    k: u64,
    seen: Vec<Option<HomeSeen>>,
    meters: Vec<Option<MeterSeen>>,
    /// Each register's counter when first heard, kWh, and the energy since, J: each home, then
    /// the source.
    first_kwh: Vec<Option<f64>>,
    energy: Vec<f64>,
    next_id: u16,
}

/// One home as the snapshot shows it: phase (None while unknown or stale), V, W, var, pu.
pub struct HomeNow {
    pub name: String,
    pub phase: Option<Phase>,
    pub v_pu: f64,
    pub p: f64,
    pub q: f64,
}

/// The transformer's meter now: (phase, A) for A, B, C, neutral A, current unbalance %.
pub struct HeadNow {
    pub name: String,
    pub amps: [(Phase, f64); 3],
    pub neutral_a: f64,
    pub unbalance_pct: f64,
}

impl FieldLoop {
    /// The scenario's feeder on the field file's nodes: each home of the file a single-phase
    /// load of the feeder by name; the balancer's settings the scenario's. `emulated`: the
    /// file's devices emulated, fed by the scenario's twin.
    pub fn new(l: &Loaded, file: &FieldFile, emulated: bool) -> Result<FieldLoop, String> {
        apart(|| FieldLoop::open(l, file, emulated))
    }

    fn open(l: &Loaded, file: &FieldFile, emulated: bool) -> Result<FieldLoop, String> {
        let Grid::Feeder(feeder) = &l.site else {
            return Err(FIELD_ON_PDU.into());
        };
        let mut volts = Vec::new();
        for h in &file.homes {
            let load = feeder
                .loads
                .iter()
                .find(|x| x.name == h.name)
                .filter(|x| x.phases == 1)
                .ok_or_else(|| {
                    format!(
                        "the field's home {:?} is no single-phase load of the feeder",
                        h.name
                    )
                })?;
            volts.push(load.kv * 1e3);
        }
        let homes: Vec<String> = file.homes.iter().map(|h| h.name.clone()).collect();
        let settings = l
            .scenario
            .balancing
            .as_ref()
            .map(|b| b.settings.clone())
            .unwrap_or_default();
        if let Some(x) = settings.fixed.iter().find(|x| !homes.contains(x)) {
            return Err(format!("fixed home {x:?} has no node in the field file"));
        }
        let transformer: Vec<(usize, String)> = file
            .meters
            .iter()
            .enumerate()
            .filter(|(_, m)| m.measures == Measures::Transformer && m.kind == MeterKind::Sdm630)
            .map(|(k, m)| (k, m.name.clone()))
            .collect();
        let rt = runtime(Some("field"))?;
        let clock = Clock::wall();
        let (site, street) = rt.block_on(async {
            let street = match emulated {
                true => {
                    let meters = transformer.iter().map(|m| m.0).collect();
                    Some(Street::new(l, file, meters, clock.clone()).await?)
                }
                false => None,
            };
            let field = street.as_ref().map_or(file, |s| &s.emu.field);
            let site = Site::start_on(field, clock)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((site, street))
        })?;
        let n = homes.len();
        Ok(FieldLoop {
            _rt: rt,
            site,
            street,
            balancer: NodesBalancer::new(settings, &homes),
            homes,
            volts,
            transformer,
            stale_s: file.poll.stale_s,
            k: 0,
            seen: vec![None; n],
            meters: vec![None; file.meters.len()],
            first_kwh: vec![None; n + 1],
            energy: vec![0.0; n + 1],
            next_id: OPERATOR_IDS,
        })
    }

    pub fn dt(&self) -> f64 {
        DT
    }

    /// The loop's time, s from its start.
    pub fn now_s(&self) -> f64 {
        self.k as f64 * DT
    }

    /// One second: the street outside moves on (emulated), the balancer takes what the field
    /// heard and its commands go to the nodes; what happened appended to `events`.
    pub fn step(&mut self, events: &mut Vec<Event>) {
        self.k += 1;
        let t = self.site.now();
        if let Some(s) = &mut self.street {
            s.advance(t);
        }
        let now = Instant::from_secs_f64(t);
        self.seen = self.site.homes();
        self.meters = self.site.meters();
        self.balancer.handle_homes(now, &self.seen);
        for (k, id, to) in self.balancer.tick(now, events, &mut Vec::new()) {
            self.site.command(k, id, to);
        }
        events.extend(
            self.site
                .drain_events()
                .into_iter()
                .filter_map(|(at, e)| site_event(at, e)),
        );
        self.count_energy();
    }

    /// The energy registers since the loop's start, from the devices' own counters.
    fn count_energy(&mut self) {
        let n = self.homes.len();
        let mut counters: Vec<Option<f64>> = self
            .seen
            .iter()
            .map(|h| h.map(|h| h.report.import_kwh))
            .collect();
        counters.push(match self.transformer.first() {
            Some(&(m, _)) => self.meters[m].as_ref().map(|m| m.reading.import_kwh),
            None => None,
        });
        for (r, kwh) in counters.into_iter().enumerate() {
            let Some(kwh) = kwh else { continue };
            let first = *self.first_kwh[r].get_or_insert(kwh);
            self.energy[r] = (kwh - first).max(0.0) * J_PER_KWH;
        }
        if self.transformer.is_empty() {
            self.energy[n] = self.energy[..n].iter().sum();
        }
    }

    /// Each home, then the source, J since the start.
    pub fn energy_j(&self) -> &[f64] {
        &self.energy
    }

    /// The feeder's channels (`schema::feeder_channels`): the transformer's meters as its heads.
    pub fn channels(&self) -> Vec<Channel> {
        let heads: Vec<(String, Vec<usize>)> = self
            .transformer
            .iter()
            .map(|(_, n)| (n.clone(), vec![1, 2, 3]))
            .collect();
        schema::feeder_channels(&heads, &self.homes)
    }

    /// One row in the order of `channels`: what is not current reads NaN.
    pub fn row(&self, energy_j: &[f64], out: &mut Vec<f64>) {
        out.clear();
        let homes = self.homes_now();
        let heads = self.heads_now();
        let (p, q) = self.source();
        let (v_min, v_max) = v_range(&homes);
        let n = self.homes.len();
        out.extend([p, q, energy_j[n], f64::NAN, v_min, v_max]);
        for h in &heads {
            out.extend(h.amps.iter().map(|a| a.1));
            out.extend([h.neutral_a, h.unbalance_pct]);
        }
        for (k, h) in homes.iter().enumerate() {
            out.extend([
                h.v_pu,
                h.p,
                h.q,
                h.phase.map_or(0.0, |p| p.node() as f64),
                energy_j[k],
            ]);
        }
    }

    /// The source's W and var: its meters on the transformer, or the homes' sum where there
    /// are none; NaN when what it needs is not current.
    pub fn source(&self) -> (f64, f64) {
        if self.transformer.is_empty() {
            let h = self.homes_now();
            return (h.iter().map(|h| h.p).sum(), h.iter().map(|h| h.q).sum());
        }
        self.transformer.iter().fold((0.0, 0.0), |(p, q), &(m, _)| {
            match self.meters[m].as_ref().filter(|m| self.current(m.read_at)) {
                Some(m) => m
                    .reading
                    .phases
                    .iter()
                    .fold((p, q), |(p, q), x| (p + x.p, q + x.q.unwrap_or(f64::NAN))),
                None => (f64::NAN, f64::NAN),
            }
        })
    }

    /// Whether a device read at `read_at` (field clock) is current: read within `stale_s`.
    /// A report of a window already seen is current, though the balancer does not take it
    /// twice.
    fn current(&self, read_at: f64) -> bool {
        self.site.now() - read_at <= self.stale_s
    }

    /// Each home as its node last said, NaN where its report is not current.
    pub fn homes_now(&self) -> Vec<HomeNow> {
        self.homes
            .iter()
            .zip(&self.seen)
            .zip(&self.volts)
            .map(
                |((name, seen), base)| match seen.filter(|s| self.current(s.read_at)) {
                    Some(s) => HomeNow {
                        name: name.clone(),
                        phase: s.report.phase,
                        v_pu: s.report.v / base,
                        p: s.report.p,
                        q: s.report.q,
                    },
                    None => HomeNow {
                        name: name.clone(),
                        phase: None,
                        v_pu: f64::NAN,
                        p: f64::NAN,
                        q: f64::NAN,
                    },
                },
            )
            .collect()
    }

    /// Each meter on the transformer as last read, NaN where not current.
    pub fn heads_now(&self) -> Vec<HeadNow> {
        self.transformer
            .iter()
            .map(|(m, name)| {
                let r = self.meters[*m].as_ref().filter(|m| self.current(m.read_at));
                let amp = |k: usize| r.and_then(|r| r.reading.phases.get(k)).map(|x| x.i);
                let amps = [0, 1, 2].map(|k| (Phase::ALL[k], amp(k).unwrap_or(f64::NAN)));
                let magnitudes = amps.map(|a| a.1);
                let unbalance_pct = match magnitudes.iter().all(|a| a.is_finite()) {
                    true => 100.0 * control_core::current_deviation(&magnitudes),
                    false => f64::NAN,
                };
                HeadNow {
                    name: name.clone(),
                    amps,
                    neutral_a: r.and_then(|r| r.reading.neutral_a).unwrap_or(f64::NAN),
                    unbalance_pct,
                }
            })
            .collect()
    }

    /// An operator's move of `home` to `phase`, commanded to its node now; its outcome shows
    /// in the node's next report.
    pub fn move_phase(&mut self, home: &str, phase: Phase) -> Result<(), String> {
        let k = self
            .homes
            .iter()
            .position(|h| h == home)
            .ok_or_else(|| format!("{home} has no node in the field file"))?;
        self.site.command(k, self.next_id, phase);
        self.next_id = self.next_id.checked_add(1).unwrap_or(OPERATOR_IDS);
        Ok(())
    }
}

/// The lowest and highest current home voltage, pu; NaN when none is current.
pub fn v_range(homes: &[HomeNow]) -> (f64, f64) {
    let v = homes.iter().map(|h| h.v_pu).filter(|v| v.is_finite());
    (
        v.clone().fold(f64::NAN, f64::min),
        v.fold(f64::NAN, f64::max),
    )
}

/// The street outside an emulated field: the scenario's twin stepped on the wall clock, each
/// home's node measuring its home there once a poll cycle and the transformer's meters its
/// secondary; a node's selector move moves its home in the twin.
struct Street {
    emu: EmulatedField,
    twin: FeederLoop,
    clock: Clock,
    /// Each field home's load in the twin, and its nominal voltage (V).
    loads: Vec<(usize, f64)>,
    phases: Vec<Phase>,
    /// The meters on the transformer, by index in the field file.
    meters: Vec<usize>,
    every: f64,
    next_window: f64,
    _dir: tempfile::TempDir,
}

impl Street {
    async fn new(
        l: &Loaded,
        file: &FieldFile,
        meters: Vec<usize>,
        clock: Clock,
    ) -> Result<Street, String> {
        let Grid::Feeder(feeder) = &l.site else {
            return Err("not a feeder".into());
        };
        let mut twin =
            FeederLoop::new(l, feeder, None).map_err(|(what, why)| format!("{what}: {why}"))?;
        twin.step(&mut Vec::new(), |_, _, _| {});
        let f = twin.pf().feeder();
        let loads: Vec<(usize, f64)> = file
            .homes
            .iter()
            .filter_map(|h| f.loads.iter().position(|x| x.name == h.name))
            .map(|i| (i, f.loads[i].kv * 1e3))
            .collect();
        let phases: Vec<Phase> = loads
            .iter()
            .map(|&(i, _)| Phase::of_node(twin.pf().load_state(i).node).unwrap_or(Phase::A))
            .collect();
        let dir = tempfile::tempdir().map_err(|e| format!("a directory for the field: {e}"))?;
        let emu = emulate_on(file, dir.path(), clock.clone(), UPLINK_S).await?;
        for (k, p) in phases.iter().enumerate() {
            emu.node(k, |n| n.wired_to(*p));
        }
        let mut street = Street {
            emu,
            twin,
            clock,
            loads,
            phases,
            meters,
            every: file.poll.cycle_s.max(DT),
            next_window: 0.0,
            _dir: dir,
        };
        street.advance(0.0);
        Ok(street)
    }

    /// The twin up to `t` (s on the field's clock), the devices' measurements from it.
    fn advance(&mut self, t: f64) {
        while self.twin.now_s() <= t {
            self.twin.step(&mut Vec::new(), |_, _, _| {});
        }
        let now = self.clock.now();
        if t >= self.next_window {
            self.next_window = t + self.every;
            let pf = self.twin.pf();
            for (k, &(i, base)) in self.loads.iter().enumerate() {
                let (v, a, s) = metered(pf, i, base);
                self.emu
                    .node(k, |n| n.set_measurement(now, v, a, s.re, s.im, 50.0));
            }
            if let Some(r) = self.transformer() {
                for &m in &self.meters {
                    self.emu.meter(m, |x| x.set_reading(now, r.clone()));
                }
            }
        }
        self.follow_selectors(now);
    }

    /// The twin's transformer secondary as a three-phase meter reads it.
    fn transformer(&self) -> Option<MeterReading> {
        let pf = self.twin.pf();
        let head = self.twin.heads().first()?;
        let v = pf.bus_voltages(head)?;
        let i = pf.bus_inflow(head)?;
        let at = |n: usize| {
            let v = v.iter().find(|x| x.0 == n)?.1;
            let i = i.iter().find(|x| x.0 == n)?.1;
            let s = v * i.conj();
            Some(PhaseReading {
                v: v.norm(),
                i: i.norm(),
                p: s.re,
                q: Some(s.im),
                pf: if s.norm() > 0.0 { s.re / s.norm() } else { 1.0 },
            })
        };
        let phases = [1, 2, 3].map(at);
        // The neutral as the twin's own transformer channel has it.
        let neutral = self.twin.last_reading()?.heads.first()?.neutral_a;
        Some(MeterReading {
            phases: phases.into_iter().collect::<Option<Vec<_>>>()?,
            hz: 50.0,
            neutral_a: Some(neutral),
            ..MeterReading::default()
        })
    }

    /// A node whose selector has moved moves its home in the twin.
    fn follow_selectors(&mut self, now: f64) {
        for k in 0..self.loads.len() {
            let Some(Some(p)) = self.emu.node(k, |n| n.report(now).phase) else {
                continue;
            };
            let name = self.twin.pf().feeder().loads[self.loads[k].0].name.clone();
            if p != self.phases[k] && self.twin.move_phase(&name, p, &mut Vec::new()) {
                self.phases[k] = p;
            }
        }
    }
}
