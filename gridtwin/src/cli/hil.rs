//! `gridtwin hil selftest` and `gridtwin hil calibrate`: the bench test and calibration, on a
//! Pi (built with the `rpi` feature) or against the bench's emulation (`--emulated`).

use std::io::{BufRead, Write};
use std::path::Path;

use std::path::PathBuf;

use hil::bench::{self, Bench};
use hil::emulated;
use hil::selftest::{self, Hardware};

use super::{Failure, Outcome, Verdict, printed};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Scan the bus and identify each device, read each channel at no load, click each relay
    /// (asking before each), and print a pass/fail table (exit 0: all pass, 1: not).
    Selftest {
        /// Against the bench's emulation instead of a Pi's buses.
        #[arg(long)]
        emulated: bool,
        /// The bench file (RON); the built-in demo bench when absent.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Click every relay without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Read CHANNEL (a circuit's current by its name, `NAME.v` the voltage of the node metering
    /// it, or an ADC input's name) against a reference meter's VALUE, and write the gain into
    /// the node and the bench file.
    Calibrate {
        channel: String,
        #[arg(long)]
        reference: f64,
        #[arg(long)]
        emulated: bool,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Windows (200 ms each) to average.
        #[arg(long, default_value_t = 10)]
        windows: u32,
    },
}

pub fn run(a: Args) -> Outcome {
    match a.action {
        Action::Selftest {
            emulated,
            config,
            yes,
        } => {
            let (table, ok) =
                selftest(config.as_deref(), emulated, yes).map_err(Failure::BadInput)?;
            super::print(&table);
            Ok(if ok { Verdict::Passed } else { Verdict::Failed })
        }
        Action::Calibrate {
            channel,
            reference,
            emulated,
            config,
            windows,
        } => printed(calibrate(
            config.as_deref(),
            emulated,
            &channel,
            reference,
            windows,
        )),
    }
}

/// The bench file's text, or the built-in demo bench when no file is given.
pub fn read_bench(config: Option<&Path>) -> Result<Bench, String> {
    match config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Bench::parse(&text).map_err(|e| format!("{}:{e}", p.display()))
        }
        None => Bench::parse(bench::DEMO).map_err(|e| format!("built-in bench:{e}")),
    }
}

/// Ask on the terminal; anything but y/yes is no.
fn ask(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// Runs the selftest; the table is the result, and whether every check passed.
fn selftest(config: Option<&Path>, emulated: bool, yes: bool) -> Result<(String, bool), String> {
    let b = read_bench(config)?;
    let mut answer = |q: &str| yes || ask(q);
    let checks = if emulated {
        emulated::bench::emulate(&b).selftest(&b, &mut answer)
    } else {
        on_pi(&b, |hw| Ok(hw.selftest(&b, &mut answer, &mut |_| None)))?
    };
    let ok = checks.iter().all(|c| c.pass);
    Ok((selftest::table(&checks), ok))
}

/// Calibrates one channel and writes the result into the bench file.
fn calibrate(
    config: Option<&Path>,
    emulated: bool,
    channel: &str,
    reference: f64,
    windows: u32,
) -> Result<String, String> {
    if !(reference.is_finite() && reference > 0.0) {
        return Err(format!(
            "--reference must be a positive number, not {reference}"
        ));
    }
    let mut b = read_bench(config)?;
    let (reading, cal) = if emulated {
        emulated::bench::emulate(&b).calibrate(&mut b, channel, reference, windows)?
    } else {
        let mut copy = b.clone();
        let r = on_pi(&b, |hw| {
            hw.calibrate(&mut copy, channel, reference, windows)
        })?;
        b = copy;
        r
    };
    let mut out = format!("{channel}: read {reading:.4}, reference {reference}: {cal}\n");
    match config {
        Some(p) => {
            std::fs::write(p, b.to_ron()).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push_str(&format!("written to {}\n", p.display()));
        }
        None => out.push_str("(the built-in bench: nothing written; give --config FILE)\n"),
    }
    Ok(out)
}

#[cfg(feature = "rpi")]
fn on_pi<T>(
    b: &Bench,
    f: impl FnOnce(
        &mut Hardware<'_, hil::rpi::I2c, hil::rpi::OutputPin, hil::rpi::Delay>,
    ) -> Result<T, String>,
) -> Result<T, String> {
    let mut pi = hil::rpi::Pi::open(b)?;
    let mut hw = Hardware {
        i2c: &mut pi.i2c,
        outputs: &mut pi.outputs,
        heartbeat: &mut pi.heartbeat,
        delay: &mut pi.delay,
    };
    f(&mut hw)
}

#[cfg(not(feature = "rpi"))]
fn on_pi<T>(
    _: &Bench,
    _: impl FnOnce(
        &mut Hardware<
            '_,
            hil::emulated::EmulatedBus,
            hil::emulated::gpio::Pin,
            hil::emulated::EmulatedBus,
        >,
    ) -> Result<T, String>,
) -> Result<T, String> {
    Err("this build has no Raspberry Pi support (build with --features rpi); use --emulated".into())
}
