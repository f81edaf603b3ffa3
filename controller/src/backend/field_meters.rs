//! A PDU measured by Modbus meters (PZEM-004T, SDM120) that `field::site` reads: which meter
//! measures each source and load (the field file's `measures: Circuit(NAME)`), and what their
//! readings tell the controller.
//!
//! These meters are powered by the circuit they measure, so a silent meter means that circuit
//! is dead as often as it means a fault. A source whose meter does not answer reads as a dead
//! source, so the transfer switch acts on an outage (it holds on *lost* data, which here would
//! be every outage). A load whose meter does not answer reads as drawing nothing while the bus
//! is dead; once the bus has been live for twice the line's `stale_s` and it still does not
//! answer, it is lost.
//! The price: a cut RS-485 line reads as an outage of both sources.

use control_core::{Event, Instant, LoadMeasurement, Measurements, SourceMeasurement};
use field::config::{Field, Measures, PollCfg};
use field::meter::MeterReading;
use field::site::{MeterSeen, Site};
use grid_types::{LoadReading, Readings, SourceId, SourceReading};

/// The meters lost and back since the last call, as events at `now` (the controller's time).
pub fn site_events(site: &Site, now: Instant, out: &mut Vec<Event>) {
    let t = now.as_secs_f64();
    out.extend(
        site.drain_events()
            .into_iter()
            .filter_map(|(_, e)| crate::field::nodes::site_event(t, e)),
    );
}

/// Each circuit's meter, by its index in the field file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterWiring {
    main: usize,
    backup: usize,
    loads: Vec<usize>,
}

impl MeterWiring {
    /// Both sources and every load of `names` measured by exactly one single-phase meter.
    pub fn new(f: &Field, names: &[String]) -> Result<MeterWiring, String> {
        let mut found: Vec<Option<usize>> = vec![None; names.len() + 2];
        for (k, m) in f.meters.iter().enumerate() {
            let Measures::Circuit(c) = &m.measures else {
                continue;
            };
            let slot = match c.as_str() {
                "main" => 0,
                "backup" => 1,
                load => match names.iter().position(|n| n == load) {
                    Some(i) => i + 2,
                    None => {
                        return Err(format!(
                            "meter {:?} measures {load:?}: the site has no such source or load",
                            m.name
                        ));
                    }
                },
            };
            if m.kind == field::meter::MeterKind::Sdm630 {
                return Err(format!(
                    "meter {:?} is an SDM630, three-phase; a PDU's circuits take a PZEM-004T or an SDM120",
                    m.name
                ));
            }
            if let Some(other) = found[slot].replace(k) {
                return Err(format!(
                    "{c:?} is measured by both {:?} and {:?}",
                    f.meters[other].name, m.name
                ));
            }
        }
        let circuit = |slot: usize| match slot {
            0 => "main",
            1 => "backup",
            i => names[i - 2].as_str(),
        };
        let mut slots = Vec::with_capacity(found.len());
        for (slot, k) in found.iter().enumerate() {
            slots.push(k.ok_or_else(|| format!("no meter measures {}", circuit(slot)))?);
        }
        Ok(MeterWiring {
            main: slots[0],
            backup: slots[1],
            loads: slots[2..].to_vec(),
        })
    }
}

/// The controller's measurements and the panel's readings from the meters' last readings.
pub struct MeterReadout {
    wiring: MeterWiring,
    grace_s: f64,
    bus_live_since: Option<f64>,
    panel: Readings,
}

/// One phase's values of a reading, with Q from S and P where the meter does not give it.
fn values(r: &MeterReading) -> (f64, f64, f64, f64) {
    let ph = r.phases.first().copied().unwrap_or_default();
    let s = ph.v * ph.i;
    let q =
        ph.q.unwrap_or_else(|| (s * s - ph.p * ph.p).max(0.0).sqrt());
    (ph.v, ph.i, ph.p, q)
}

impl MeterReadout {
    /// `poll`: the meters' line's polling, whose `stale_s` sets how long a load's meter has
    /// to be heard again once the bus is back (twice that).
    pub fn new(wiring: MeterWiring, poll: &PollCfg) -> MeterReadout {
        let loads = wiring.loads.len();
        MeterReadout {
            wiring,
            grace_s: 2.0 * poll.stale_s,
            bus_live_since: None,
            panel: Readings {
                loads: vec![LoadReading::default(); loads],
                ..Readings::default()
            },
        }
    }

    /// `meters` as `field::site::Site::meters` gives them at `now` (s), with `feeding` the
    /// source whose contactor is closed.
    pub fn measure(
        &mut self,
        now: f64,
        meters: &[Option<MeterSeen>],
        feeding: Option<SourceId>,
        out: &mut Measurements,
    ) {
        let w = &self.wiring;
        for (k, m, panel) in [
            (w.main, &mut out.main, &mut self.panel.main),
            (w.backup, &mut out.backup, &mut self.panel.backup),
        ] {
            *m = match &meters[k] {
                Some(seen) if seen.answering && seen.fresh => {
                    let (v, i, p, q) = values(&seen.reading);
                    let hz = seen.reading.hz;
                    *panel = SourceReading { v, hz, i, p, q };
                    SourceMeasurement {
                        v,
                        hz,
                        i,
                        p,
                        i_fast: i,
                        lost: false,
                    }
                }
                // Answering, but nothing new within `stale_s`: no data, which is no outage.
                Some(seen) if seen.answering => SourceMeasurement { lost: true, ..*m },
                _ => {
                    *panel = SourceReading::default();
                    SourceMeasurement::default()
                }
            };
        }
        let fed = match feeding {
            Some(SourceId::Main) => Some(&out.main),
            Some(SourceId::Backup) => Some(&out.backup),
            None => None,
        };
        let bus = fed
            .filter(|s| !s.lost && s.v > 0.0)
            .map_or((0.0, 0.0), |s| (s.v, s.hz));
        (self.panel.bus_v, self.panel.bus_hz) = bus;
        let live_for = if bus.0 > 0.0 {
            now - *self.bus_live_since.get_or_insert(now)
        } else {
            self.bus_live_since = None;
            -1.0
        };
        out.loads.clear();
        for (i, &k) in w.loads.iter().enumerate() {
            let m = match &meters[k] {
                Some(seen) if seen.answering && seen.fresh => {
                    let (v, a, p, q) = values(&seen.reading);
                    self.panel.loads[i] = LoadReading { v, i: a, p, q };
                    LoadMeasurement {
                        i: a,
                        p,
                        i_fast: a,
                        lost: false,
                    }
                }
                // Silent on a dead bus, or not yet heard since it came back: nothing drawn.
                Some(seen) if !seen.answering && live_for < self.grace_s => {
                    self.panel.loads[i] = LoadReading::default();
                    LoadMeasurement::default()
                }
                None if live_for < self.grace_s => LoadMeasurement::default(),
                _ => LoadMeasurement {
                    lost: true,
                    ..LoadMeasurement::default()
                },
            };
            out.loads.push(m);
        }
    }

    pub fn readings(&self) -> &Readings {
        &self.panel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use field::meter::PhaseReading;

    fn field(text: &str) -> Field {
        field::config::parse(std::path::Path::new("t.ron"), text).unwrap()
    }

    const FILE: &str = r#"(
        transports: { "bus": Rtu(port: "/dev/ttyUSB0", baud: 9600, parity: None) },
        meters: [
            (name: "m", kind: Pzem004t, transport: "bus", address: 1, measures: Circuit("main")),
            (name: "b", kind: Sdm120, transport: "bus", address: 2, measures: Circuit("backup")),
            (name: "l", kind: Pzem004t, transport: "bus", address: 3, measures: Circuit("fridge")),
        ],
    )"#;

    fn seen(v: f64, i: f64, p: f64, answering: bool, fresh: bool) -> Option<MeterSeen> {
        Some(MeterSeen {
            reading: MeterReading {
                phases: vec![PhaseReading {
                    v,
                    i,
                    p,
                    q: None,
                    pf: 1.0,
                }],
                hz: 50.0,
                ..Default::default()
            },
            read_at: 0.0,
            fresh,
            answering,
        })
    }

    #[test]
    fn every_circuit_needs_one_single_phase_meter() {
        let names = ["fridge".to_string()];
        let w = MeterWiring::new(&field(FILE), &names).unwrap();
        assert_eq!((w.main, w.backup, w.loads), (0, 1, vec![2]));
        let two = ["fridge".to_string(), "pump".to_string()];
        let e = MeterWiring::new(&field(FILE), &two).unwrap_err();
        assert_eq!(e, "no meter measures pump");
        let e = MeterWiring::new(&field(&FILE.replace("\"fridge\"", "\"oven\"")), &names);
        assert!(e.unwrap_err().contains("measures \"oven\""));
        let e = MeterWiring::new(&field(&FILE.replace("\"backup\"", "\"main\"")), &names);
        assert_eq!(
            e.unwrap_err(),
            "\"main\" is measured by both \"m\" and \"b\""
        );
    }

    #[test]
    fn silence_is_a_dead_circuit_and_staleness_is_lost_data() {
        let names = ["fridge".to_string()];
        let w = MeterWiring::new(&field(FILE), &names).unwrap();
        let poll = PollCfg {
            stale_s: 1.0,
            ..PollCfg::default()
        };
        let mut r = MeterReadout::new(w, &poll);
        let mut m = Measurements::default();
        let live = seen(230.0, 2.0, 460.0, true, true);
        r.measure(
            0.0,
            &[live.clone(), live.clone(), live.clone()],
            Some(SourceId::Main),
            &mut m,
        );
        assert_eq!((m.main.v, m.main.lost), (230.0, false));
        assert_eq!((m.loads[0].p, m.loads[0].lost), (460.0, false));
        assert_eq!(r.readings().bus_v, 230.0);
        // The main's meter goes silent: a dead main, not lost data; the bus it fed is dead,
        // so the load's silent meter reads nothing drawn.
        let silent = seen(230.0, 2.0, 460.0, false, true);
        r.measure(
            1.0,
            &[silent.clone(), live.clone(), silent.clone()],
            Some(SourceId::Main),
            &mut m,
        );
        assert_eq!((m.main.v, m.main.hz, m.main.lost), (0.0, 0.0, false));
        assert_eq!(
            (m.backup.v, m.loads[0].i, m.loads[0].lost),
            (230.0, 0.0, false)
        );
        // On the backup, the load's meter has twice `stale_s` to be heard again, then it is lost.
        let at = |r: &mut MeterReadout, m: &mut Measurements, t| {
            r.measure(
                t,
                &[silent.clone(), live.clone(), silent.clone()],
                Some(SourceId::Backup),
                m,
            )
        };
        at(&mut r, &mut m, 10.0);
        at(&mut r, &mut m, 11.9);
        assert!(!m.loads[0].lost);
        at(&mut r, &mut m, 12.0);
        assert!(m.loads[0].lost);
        // An answering meter with nothing new for `stale_s`: lost, the last values held.
        let stale = seen(230.0, 2.0, 460.0, true, false);
        r.measure(
            13.0,
            &[stale.clone(), stale, live],
            Some(SourceId::Backup),
            &mut m,
        );
        assert!(m.main.lost && m.backup.lost);
        assert_eq!(m.backup.v, 230.0);
        assert!(!m.loads[0].lost);
    }
}
