//! `gridtwin serve --hil BENCH.ron [--field FIELD.ron]`: the controller on the bench's hardware
//! instead of the twin, its circuits measured by the bench's nodes or by the field file's
//! Modbus meters.
//! On a Raspberry Pi (feature `rpi`) its I2C bus and GPIO; with `--emulated`, the bench's
//! emulation at no load (mains on the main and the bus, no current), paced by the wall clock, to
//! try the service and the bench file without a Pi.

use std::time::Instant;

use controller::backend::Backend;
use controller::backend::hardware::{Hardware, Io};
use controller::backend::metered_site::MeteredSite;
use hil::bench::Bench;

/// How long the nodes have to give their first values before the controller starts, s.
const START_S: f64 = 2.0;

/// The bench a live PDU runs on.
#[derive(Debug, Clone)]
pub struct Hil {
    pub bench: Bench,
    pub emulated: bool,
}

/// The bench's hardware for a site with loads `names` stepped every `step_s`, started
/// (`Hardware::start`); and what starting it found.
pub fn open(
    hil: &Hil,
    names: &[String],
    step_s: f64,
) -> Result<(Box<dyn Backend + Send>, Vec<String>), String> {
    let start = Instant::now();
    if hil.emulated {
        let e = hil::emulated::bench::emulate(&hil.bench);
        // The bus's clock follows the wall clock, and runs ahead of it by each transfer's time
        // on the wire.
        let bus = e.bus.clone();
        let clock = move || {
            bus.idle_until(start.elapsed().as_nanos() as u64);
            bus.now() as f64 / 1e9
        };
        let io = Io {
            i2c: e.bus.clone(),
            delay: e.bus,
            outputs: e.outputs,
            heartbeat: e.heartbeat,
            clock: Box::new(clock),
            ready: e
                .ready
                .into_iter()
                .map(|r| Box::new(r) as Box<dyn hil::ads_meter::ReadyPin>)
                .collect(),
        };
        let mut hw = Hardware::new(&hil.bench, names, step_s, io)?;
        let notes = hw.start(&hil.bench, START_S);
        return Ok((Box::new(hw), notes));
    }
    pi(&hil.bench, names, step_s)
}

#[cfg(feature = "rpi")]
fn pi(
    bench: &Bench,
    names: &[String],
    step_s: f64,
) -> Result<(Box<dyn Backend + Send>, Vec<String>), String> {
    let pi = hil::rpi::Pi::open(bench)?;
    let io = Io {
        i2c: pi.i2c,
        delay: pi.delay,
        outputs: pi.outputs,
        heartbeat: pi.heartbeat,
        // The kernel's monotonic clock, which stamps the meters' ready edges too.
        clock: Box::new(hil::rpi::monotonic),
        ready: pi
            .ready
            .into_iter()
            .map(|r| Box::new(r) as Box<dyn hil::ads_meter::ReadyPin>)
            .collect(),
    };
    let mut hw = Hardware::new(bench, names, step_s, io)?;
    let notes = hw.start(bench, START_S);
    Ok((Box::new(hw), notes))
}

#[cfg(not(feature = "rpi"))]
fn pi(_: &Bench, _: &[String], _: f64) -> Result<(Box<dyn Backend + Send>, Vec<String>), String> {
    Err("this build has no Raspberry Pi support (build with --features rpi); use --emulated".into())
}

/// The bench's relay outputs with the site's circuits measured by `field`'s Modbus meters
/// (`serve --hil BENCH.ron --field FIELD.ron`); with `hil.emulated`, the bench's pins and the
/// field file's meters emulated (at 230 V and 2 kW each).
pub fn open_metered(
    hil: &Hil,
    field: &::field::config::Field,
    names: &[String],
) -> Result<Box<dyn Backend + Send>, String> {
    if hil.emulated {
        let e = hil::emulated::bench::emulate(&hil.bench);
        let site = MeteredSite::open(&hil.bench, field, true, names, e.outputs, e.heartbeat)?;
        return Ok(Box::new(site));
    }
    pi_metered(&hil.bench, field, names)
}

#[cfg(feature = "rpi")]
fn pi_metered(
    bench: &Bench,
    field: &::field::config::Field,
    names: &[String],
) -> Result<Box<dyn Backend + Send>, String> {
    let pi = hil::rpi::Pi::open(bench)?;
    let site = MeteredSite::open(bench, field, false, names, pi.outputs, pi.heartbeat)?;
    Ok(Box::new(site))
}

#[cfg(not(feature = "rpi"))]
fn pi_metered(
    _: &Bench,
    _: &::field::config::Field,
    _: &[String],
) -> Result<Box<dyn Backend + Send>, String> {
    Err("this build has no Raspberry Pi support (build with --features rpi); use --emulated".into())
}
