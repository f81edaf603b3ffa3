//! A PDU metered by PZEM-004T meters against the twin (`backend: EmulatedMeters`): a PZEM on
//! each source's terminals, and one on the bus for each load with its current transformer on
//! the load's wire, register-exact (`field::slave::Meter`:
//! its registers refreshed once a second, silent below 80 V) on one RS-485 line at the PZEM's
//! fixed 9600 8N1 behind a socat pseudo-terminal pair, read by the real master
//! (`field::site`); what they say reaches the controller through `field_meters`. The relays
//! act on the twin directly. Time is virtual: each step sets the field's clock and waits until
//! the polls due have been read, so a run is the same every time and a frame takes no time on
//! the wire.

use control_core::{Commands, Event, Instant, Measurements};
use field::clock::VirtualTime;
use field::config::{Field, Measures, MeterCfg, Parity, PollCfg, Transport};
use field::emulated::{EmulatedField, emulate_on};
use field::meter::{MeterKind, MeterReading, PhaseReading};
use field::site::Site;
use grid_types::{Readings, SourceId};
use sim::{Actuation, Pdu};

use super::Backend;
use super::field_meters::{MeterReadout, MeterWiring, site_events};
use crate::field::runtime::{apart, runtime};
use crate::scenario::format::METER_PREFIX;

/// A PZEM's read on the line: 8 bytes asked, 25 answered, 10 bits a byte at 9600 baud, and the
/// meter's turnaround: what one device adds to the poll cycle.
const READ_S: f64 = 0.045;

/// The master's reply timeout, ms: the far end is a local process; three tries before a poll
/// fails, so a busy machine does not turn a slow answer into a dead source.
const TIMEOUT_MS: u32 = 50;

/// A field that has not done what was due within this (wall time) is stuck: the run goes on,
/// and the meters' data ages as it would behind a stuck line.
const STALL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct EmulatedMeters {
    pub pdu: Pdu,
    actuation: Actuation,
    rt: tokio::runtime::Runtime,
    time: VirtualTime,
    site: Site,
    emu: EmulatedField,
    readout: MeterReadout,
    feeding: Option<SourceId>,
    t: f64,
    _dir: tempfile::TempDir,
}

/// The field file of `pdu`'s meters: main (address 1), backup (2), then each load, on one line.
pub fn pzem_field(pdu: &Pdu) -> Field {
    let circuits = ["main", "backup"]
        .into_iter()
        .map(str::to_string)
        .chain(pdu.loads.iter().map(|l| l.spec.name.clone()));
    let meters: Vec<MeterCfg> = circuits
        .enumerate()
        .map(|(k, c)| MeterCfg {
            name: format!("{METER_PREFIX}{c}"),
            kind: MeterKind::Pzem004t,
            transport: "rs485".into(),
            address: k as u8 + 1,
            measures: Measures::Circuit(c),
        })
        .collect();
    let cycle_s = (READ_S * meters.len() as f64).max(0.5);
    Field {
        transports: [(
            "rs485".to_string(),
            Transport::Rtu {
                port: "emulated".into(),
                baud: 9600,
                parity: Parity::None,
                stop_bits: 1,
            },
        )]
        .into(),
        homes: Vec::new(),
        meters,
        poll: PollCfg {
            timeout_ms: TIMEOUT_MS,
            retries: 2,
            lost_after: 3,
            // A meter silent in an outage is asked again each second: its source's return is
            // seen within one.
            reprobe_max_s: 1.0,
            cycle_s,
            stale_s: 4.0 * cycle_s,
        },
    }
}

impl EmulatedMeters {
    pub fn new(pdu: Pdu) -> Result<EmulatedMeters, String> {
        apart(move || EmulatedMeters::open(pdu))
    }

    fn open(pdu: Pdu) -> Result<EmulatedMeters, String> {
        let file = pzem_field(&pdu);
        let names: Vec<String> = pdu.loads.iter().map(|l| l.spec.name.clone()).collect();
        let wiring = MeterWiring::new(&file, &names)?;
        let dir = tempfile::tempdir().map_err(|e| format!("a directory for the field: {e}"))?;
        let rt = runtime(None)?;
        let (time, clock) = VirtualTime::new();
        let (emu, site) = rt.block_on(async {
            let emu = emulate_on(&file, dir.path(), clock.clone(), 1.0).await?;
            let site = Site::start_on(&emu.field, clock)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((emu, site))
        })?;
        let mut m = EmulatedMeters {
            pdu,
            actuation: Actuation::default(),
            rt,
            time,
            site,
            emu,
            readout: MeterReadout::new(wiring, &file.poll),
            feeding: None,
            t: 0.0,
            _dir: dir,
        };
        // Every meter read once before the controller's first step.
        m.feed();
        m.settle();
        Ok(m)
    }

    /// Each meter takes what the twin says its circuit carries now.
    fn feed(&mut self) {
        let r = self.pdu.readings();
        let reading = |v: f64, hz: f64, i: f64, p: f64| MeterReading {
            phases: vec![PhaseReading {
                v,
                i,
                p,
                q: None,
                pf: if v * i > 0.0 {
                    (p / (v * i)).clamp(-1.0, 1.0)
                } else {
                    0.0
                },
            }],
            hz,
            ..MeterReading::default()
        };
        let sources = [&r.main, &r.backup].map(|s| reading(s.v, s.hz, s.i, s.p));
        // A load's meter takes its voltage from the bus and its current from the load's wire
        // (a PZEM-004T-100A's current transformer), so it answers while the bus is live.
        let loads = r.loads.iter().map(|l| reading(r.bus_v, r.bus_hz, l.i, l.p));
        for (k, x) in sources.into_iter().chain(loads).enumerate() {
            self.emu.meter(k, |m| m.set_reading(self.t, x));
        }
    }

    /// Wait until the field has read all that was due by now.
    fn settle(&mut self) {
        self.time.set(self.t);
        let settled = self.site.settle(self.t, |_| true);
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(STALL, settled).await });
    }
}

impl Backend for EmulatedMeters {
    fn measure(&mut self, _now: f64, out: &mut Measurements) {
        let meters = self.site.meters();
        self.readout.measure(self.t, &meters, self.feeding, out);
    }

    fn actuate(&mut self, c: &Commands, dt: f64) {
        self.actuation.main_closed = c.main_closed;
        self.actuation.backup_closed = c.backup_closed;
        self.actuation.backup_start = c.backup_start;
        self.actuation.relays.clone_from(&c.relays);
        self.feeding = super::feeding(c);
        self.pdu.step(dt, &self.actuation);
        self.t += dt;
        self.feed();
        self.settle();
    }

    fn readings(&self) -> &Readings {
        self.readout.readings()
    }

    fn relay_closed(&self, i: usize) -> bool {
        self.pdu.relay_closed(i)
    }

    /// Meters lost and back, at `now`: the step's events are the controller's time.
    fn reports(&mut self, now: Instant, out: &mut Vec<Event>) {
        site_events(&self.site, now, out);
    }
}
