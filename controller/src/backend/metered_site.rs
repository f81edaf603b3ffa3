//! A real PDU measured by Modbus meters (`gridtwin serve PDU.ron --hil BENCH.ron --field
//! FIELD.ron`): the field file's meters (`measures: Circuit(NAME)`) read by `field::site` on
//! the wall clock, what they say turned into the controller's measurements by `field_meters`,
//! and the bench's relay outputs on GPIO (`relay_outputs`). No twin. With `--emulated`, the
//! meters are the field file's emulation and the pins the bench's.

use control_core::{Commands, Event, Instant, Measurements};
use embedded_hal::digital::OutputPin;
use field::config::Field;
use field::emulated::{EmulatedField, emulate};
use field::site::Site;
use grid_types::{Readings, SourceId};
use hil::bench::Bench;

use super::Backend;
use super::field_meters::{MeterReadout, MeterWiring, site_events};
use super::relay_outputs::RelayOutputs;
use crate::field::runtime::{apart, runtime};

pub struct MeteredSite<P: OutputPin> {
    outputs: RelayOutputs<P>,
    site: Site,
    readout: MeterReadout,
    feeding: Option<SourceId>,
    relays: Vec<bool>,
    /// The emulated meters and their pseudo-terminals, kept while the site reads them.
    _emulated: Option<(EmulatedField, tempfile::TempDir)>,
    /// Runs the site's tasks; dropped last.
    _rt: tokio::runtime::Runtime,
}

impl<P: OutputPin + Send + 'static> MeteredSite<P> {
    /// The site's loads `names` measured by `file`'s meters (or their emulation) and switched
    /// by `bench`'s outputs on `pins`; the first poll of every meter done (or failed) before
    /// this returns.
    pub fn open(
        bench: &Bench,
        file: &Field,
        emulated: bool,
        names: &[String],
        pins: Vec<P>,
        heartbeat: P,
    ) -> Result<Self, String> {
        let wiring = MeterWiring::new(file, names).map_err(|e| format!("field: {e}"))?;
        let outputs = RelayOutputs::new(bench, names, pins, heartbeat)?;
        let (rt, site, emulated) = apart(|| start(file, emulated))?;
        Ok(MeteredSite {
            outputs,
            site,
            readout: MeterReadout::new(wiring, &file.poll),
            feeding: None,
            relays: vec![false; names.len()],
            _emulated: emulated,
            _rt: rt,
        })
    }
}

type Started = (
    tokio::runtime::Runtime,
    Site,
    Option<(EmulatedField, tempfile::TempDir)>,
);

fn start(file: &Field, emulated: bool) -> Result<Started, String> {
    let rt = runtime(Some("meters"))?;
    let (site, emulated) = rt.block_on(async {
        let emulated = match emulated {
            true => {
                let dir =
                    tempfile::tempdir().map_err(|e| format!("a directory for the meters: {e}"))?;
                Some((emulate(file, dir.path()).await?, dir))
            }
            false => None,
        };
        let f = emulated.as_ref().map_or(file, |e| &e.0.field);
        let site = Site::start(f).await.map_err(|e| format!("field: {e}"))?;
        // Every meter heard once, or 5 s: the controller does not start on no data.
        for _ in 0..500 {
            if site.meters().iter().all(Option::is_some) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok::<_, String>((site, emulated))
    })?;
    Ok((rt, site, emulated))
}

impl<P: OutputPin> Backend for MeteredSite<P> {
    fn measure(&mut self, _now: f64, out: &mut Measurements) {
        let meters = self.site.meters();
        self.readout
            .measure(self.site.now(), &meters, self.feeding, out);
    }

    fn actuate(&mut self, c: &Commands, _dt: f64) {
        self.outputs.drive(c);
        self.relays.clone_from(&c.relays);
        self.feeding = super::feeding(c);
    }

    fn readings(&self) -> &Readings {
        self.readout.readings()
    }

    fn relay_closed(&self, i: usize) -> bool {
        self.relays[i]
    }

    fn reports(&mut self, now: Instant, out: &mut Vec<Event>) {
        site_events(&self.site, now, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use field::line::Fault;
    use hil::bench::Drive;

    /// The demo bench's relays, and `field/pdu_meters.ron`: a PZEM on each of its circuits.
    fn site() -> (Bench, Field, Vec<String>) {
        let bench = Bench::parse(hil::bench::DEMO).unwrap();
        let names: Vec<String> = ["server", "network", "fridge", "lights", "pump", "office"]
            .map(String::from)
            .to_vec();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../field/pdu_meters.ron");
        (bench, field::config::load(&path).unwrap(), names)
    }

    #[test]
    fn the_meters_measure_the_relays_switch_and_a_silent_source_reads_dead() {
        let (bench, file, names) = site();
        let e = hil::emulated::bench::emulate(&bench);
        let (pins, beat) = (e.outputs.clone(), e.heartbeat.clone());
        let mut s = MeteredSite::open(&bench, &file, true, &names, e.outputs, e.heartbeat).unwrap();
        let mut m = Measurements::default();
        s.measure(0.0, &mut m);
        // The emulated meters read 230 V and 2 kW each.
        assert_eq!((m.main.v, m.main.lost), (230.0, false));
        assert_eq!(m.loads.len(), 6);
        assert!(m.loads.iter().all(|l| l.p == 2000.0 && !l.lost));
        // The server's relay follows its command, through its contact's wiring.
        let server = bench
            .relays
            .outputs
            .iter()
            .position(|o| o.drives == Drive::Load("server".into()))
            .unwrap();
        let mut c = Commands {
            main_closed: true,
            relays: vec![true; 6],
            ..Commands::default()
        };
        s.actuate(&c, 0.02);
        let on = pins[server].is_high_now();
        c.relays[0] = false;
        s.actuate(&c, 0.02);
        assert_ne!(pins[server].is_high_now(), on);
        assert!(!s.relay_closed(0) && s.relay_closed(1));
        assert_eq!(beat.edges(), 2);
        // The main's meter goes silent (its supply died): at its next poll the main reads dead,
        // not lost, so the transfer switch acts.
        let line = s._emulated.as_ref().unwrap().0.lines["meters"].clone();
        line.inject(Fault::Silent { address: 1 });
        let t0 = std::time::Instant::now();
        while m.main.v > 0.0 && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
            s.measure(0.0, &mut m);
        }
        assert_eq!((m.main.v, m.main.lost), (0.0, false));
        assert_eq!(m.backup.v, 230.0);
        // It is reported lost after `lost_after` (3) failed polls, a cycle (1 s) apart.
        let lost = |e: &Event| e.subject == "pzem-main" && e.kind.name() == "node_lost";
        let mut ev = Vec::new();
        while !ev.iter().any(lost) && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            s.reports(Instant::from_secs_f64(1.0), &mut ev);
        }
        assert!(ev.iter().any(lost), "{ev:?}");
    }
}
