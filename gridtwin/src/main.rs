//! The `gridtwin` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench_cli;
use controller::backend::BackendKind;
use controller::run::{self, summary};
use controller::scenario::{self, Loaded, ScenarioError};
use gridtwin::service;
use gridtwin::store::Role;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "gridtwin",
    version,
    about = "Digital twin and controller for PDUs and LV feeders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum HilAction {
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

#[derive(Subcommand)]
enum Command {
    /// Run a scenario in simulated time and check its expectations
    /// (exit 0: all hold, 1: one fails, 2: bad input).
    Run {
        /// Scenario file (RON); the built-in demo scenario when absent.
        file: Option<PathBuf>,
        /// The run directory (default runs/NAME): the recording (meta.json, site, loads and
        /// events as Parquet), events.jsonl, summary.txt, and the report (report.html,
        /// summary.md, charts/*.svg).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// What a PDU runs against: `sim` (the twin's readings or waveforms) or `emulated-hil`
        /// (virtual measurement nodes on an emulated I2C bus fed by the twin, relays through
        /// the relay board and its watchdog). Default: the scenario's `backend`.
        #[arg(long)]
        backend: Option<BackendKind>,
        #[command(flatten)]
        report: ReportFlags,
    },
    /// Rebuild the report of a run directory from its recording.
    Report {
        dir: PathBuf,
        #[command(flatten)]
        report: ReportFlags,
    },
    /// Put two runs side by side (typically two runs of one scenario with different settings):
    /// every summary figure of A and B with the change, the settings that differ, and the
    /// charts overlaid. Prints the tables; writes compare.html and compare.md.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Where to write compare.html and compare.md (default: B's directory).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the controller live against the twin (real time, or --speed times faster) and serve
    /// the control center: the JSON API under /api (see /api/openapi.json), live values as
    /// server-sent events, /metrics for Prometheus. Storage in SQLite under --data. Stops
    /// on ctrl-c after storing the last batch.
    Serve {
        /// Scenario file (RON, a PDU); the built-in demo PDU when absent.
        file: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The data directory (the SQLite database).
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Simulated seconds per wall-clock second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Run the full hardware path against the twin: virtual measurement nodes on an
        /// emulated I2C bus, relays through the relay board and its watchdog.
        #[arg(long, conflicts_with = "hil")]
        hil_emulated: bool,
        /// Run the controller on the bench's hardware (a Raspberry Pi's I2C and GPIO, as
        /// BENCH.ron lays them out) instead of the twin, in real time.
        #[arg(long, value_name = "BENCH.ron")]
        hil: Option<PathBuf>,
        /// With --hil: the bench's emulation at no load instead of the Pi's buses.
        #[arg(long, requires = "hil")]
        emulated: bool,
        /// Publish each load's, source's and phase's state and each event to this MQTT broker
        /// (mqtt://[USER[:PASSWORD]@]HOST[:PORT], or mqtts:// for TLS; the password may come
        /// from GRIDTWIN_MQTT_PASSWORD instead), with Home Assistant discovery, and take load
        /// commands from the users --mqtt-role names.
        #[arg(long, value_name = "URL")]
        mqtt: Option<String>,
        /// The MQTT user Home Assistant publishes as (its switches' command topics).
        #[arg(long, default_value = "homeassistant", requires = "mqtt")]
        mqtt_ha_user: String,
        /// An MQTT user allowed to command loads, with its role (viewer, operator, admin), as
        /// USER=ROLE; repeat for more. Home Assistant gets switches when its user is an
        /// operator or admin. The broker's ACL must keep each user to its own cmd/USER/.
        #[arg(long, value_name = "USER=ROLE", requires = "mqtt")]
        mqtt_role: Vec<String>,
        #[command(flatten)]
        mqtt_tls: MqttTls,
        /// Serve HTTPS with this certificate chain (PEM), with --tls-key; cookies are then
        /// Secure and responses say Strict-Transport-Security.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Mark cookies Secure while serving plain HTTP, behind a proxy that terminates TLS.
        #[arg(long, conflicts_with = "tls_cert")]
        secure_cookies: bool,
    },
    /// The fleet's headquarters: take many sites' telemetry, events and status from an MQTT
    /// broker (each message acknowledged once stored, in a session the broker keeps), store
    /// them in PostgreSQL, and serve each site's history at /api/sites/SITE/history. The API
    /// wants `Authorization: Bearer $GRIDTWIN_HQ_TOKEN` when that is set (it must be, to listen
    /// beyond loopback).
    Hq {
        /// The broker, as for serve --mqtt.
        #[arg(long, value_name = "URL")]
        mqtt: String,
        /// The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or a libpq key=value
        /// string); GRIDTWIN_POSTGRES instead keeps a password out of the process list.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
        /// The MQTT client id; the broker keeps this session's messages while hq is away.
        #[arg(long, default_value = "gridtwin-hq")]
        client_id: String,
        #[command(flatten)]
        mqtt_tls: MqttTls,
    },
    /// Manage the control center's users (works offline, on the data directory).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Draw the scenario's grid live in a window (a PDU or a feeder; the demo PDU when no FILE
    /// is given), driven by the same controller loop as every other run. Click a load to switch
    /// it, a home to move its phase; buttons inject faults. Needs a build with `--features viz`
    /// (`cargo xtask viz NAME`).
    Viz {
        file: Option<PathBuf>,
        /// Simulated seconds per wall-clock second, 1 to 1000 (changed in the window too).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Run this many frames, then exit (prints the frame rate).
        #[arg(long)]
        frames: Option<u32>,
        /// With --frames: write a screenshot (PNG) of the last frame, and beside it
        /// OUT.png.probes.json, the colours known elements should have where they were drawn.
        #[arg(long, requires = "frames")]
        screenshot: Option<PathBuf>,
    },
    /// Validate a scenario without running it (exit 0: valid, 2: not).
    Check { file: PathBuf },
    /// The hardware bench: its selftest and calibration (see docs/hardware.md).
    Hil {
        #[command(subcommand)]
        action: HilAction,
    },
    /// Measure a captured waveform: CSV with columns `v` (V) and `i` (A), one row per sample.
    /// Prints one record per IEC 61000-4-30 window (10 cycles at 50 Hz, 12 at 60 Hz) and the
    /// whole-file result: vrms, irms, p, q1, s, pf, dpf, crest_v, crest_i, thd_v, thd_i, freq.
    Measure {
        file: PathBuf,
        /// Sample rate, samples per second.
        #[arg(long)]
        rate: f64,
        /// Nominal frequency: picks the window length.
        #[arg(long, value_enum, default_value = "50")]
        nominal: Nominal,
        /// JSON instead of a table (THD as a fraction; times in seconds).
        #[arg(long)]
        json: bool,
    },
    /// Convert an OpenDSS feeder (the subset the IEEE test feeders use) to a feeder RON file
    /// (exit 2 with file:line and the command on anything unsupported).
    ImportDss {
        master: PathBuf,
        /// Where to write the feeder.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Solve a feeder's three-phase unbalanced power flow and print every bus's per-phase
    /// voltage (V, pu, angle).
    Powerflow {
        /// Feeder RON file (from `import-dss`).
        feeder: PathBuf,
        /// Scale loads by their load shapes at this minute (OpenDSS's count: minute M is the
        /// shape's M-th point); loads at their rating when absent.
        #[arg(long, conflicts_with = "day")]
        minute: Option<f64>,
        /// Solve every minute of the load shapes in sequence and print the time per step.
        #[arg(long)]
        day: bool,
        /// Convergence tolerance: the largest voltage change between sweeps, pu.
        #[arg(long, default_value_t = 1e-6)]
        tolerance: f64,
        #[arg(long)]
        json: bool,
    },
    /// Plan phase moves from meter readings: INSTANCE.json holds
    /// `{"homes": [{"id", "phase": "A"|"B"|"C", "kw", "movable"}], "max_moves": N|null}`.
    /// Minimises the transformer's unbalance max|P_phase - mean|/mean, fewer moves breaking ties.
    BalancePlan {
        instance: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is asked twice on a terminal, or read from stdin's first line.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from stdin's first line.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List users and their roles.
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Remove a user and end their sessions.
    Remove {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[derive(clap::Args, Clone, Copy)]
struct ReportFlags {
    /// Also draw the charts as PNG.
    #[arg(long)]
    png: bool,
    /// Also export the tables as CSV (site.csv, loads.csv, events.csv).
    #[arg(long)]
    csv: bool,
    /// Also export the tables as JSON lines (site.jsonl, loads.jsonl, events.jsonl).
    #[arg(long)]
    json: bool,
}

impl ReportFlags {
    fn options(self) -> reports::Options {
        reports::Options {
            png: self.png,
            csv: self.csv,
            json: self.json,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Nominal {
    #[value(name = "50")]
    Hz50,
    #[value(name = "60")]
    Hz60,
}

impl Nominal {
    fn hz(self) -> f64 {
        match self {
            Nominal::Hz50 => 50.0,
            Nominal::Hz60 => 60.0,
        }
    }
}

const EXIT_FAILED: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hil { action } => match action {
            HilAction::Selftest {
                emulated,
                config,
                yes,
            } => match bench_cli::selftest(config.as_deref(), emulated, yes) {
                Ok((table, ok)) => {
                    print!("{table}");
                    ExitCode::from(if ok { 0 } else { EXIT_FAILED })
                }
                Err(e) => report(Err(e), EXIT_BAD_INPUT),
            },
            HilAction::Calibrate {
                channel,
                reference,
                emulated,
                config,
                windows,
            } => report(
                bench_cli::calibrate(config.as_deref(), emulated, &channel, reference, windows),
                EXIT_BAD_INPUT,
            ),
        },
        Command::Check { file } => match scenario::load(&file) {
            Ok(l) => {
                let grid = match &l.site {
                    scenario::Site::Pdu(p) => format!("a PDU with {} loads", p.loads.len()),
                    scenario::Site::Feeder(f) => {
                        format!("feeder {} with {} loads", f.name, f.loads.len())
                    }
                };
                println!(
                    "{}: ok: {:?}, {grid}, {} timeline entries, {} expectations",
                    file.display(),
                    l.scenario.name,
                    l.scenario.timeline.len(),
                    l.scenario.expect.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(&e),
        },
        Command::Measure {
            file,
            rate,
            nominal,
            json,
        } => measure(&file, rate, nominal.hz(), json),
        Command::ImportDss { master, out } => report(
            controller::feeder_cli::import_dss(&master, &out),
            EXIT_BAD_INPUT,
        ),
        Command::Powerflow {
            feeder,
            minute,
            day,
            tolerance,
            json,
        } => {
            if !(tolerance.is_finite() && tolerance > 0.0) {
                eprintln!("error: --tolerance must be a positive number of pu, found {tolerance}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            let f = match controller::feeder_cli::read_feeder(&feeder) {
                Ok(f) => f,
                Err(e) => return report(Err(e), EXIT_BAD_INPUT),
            };
            let out = if day {
                controller::feeder_cli::day(&f, tolerance, json)
            } else {
                controller::feeder_cli::snapshot(&f, minute, tolerance, json)
            };
            report(out, EXIT_FAILED)
        }
        Command::BalancePlan { instance, json } => report(
            controller::balance_cli::run(&instance, json),
            EXIT_BAD_INPUT,
        ),
        Command::Report { dir, report: flags } => {
            report(rebuild(&dir, flags.options()), EXIT_BAD_INPUT)
        }
        Command::Compare { a, b, out } => report(compare(&a, &b, out.as_deref()), EXIT_BAD_INPUT),
        Command::Run {
            file,
            out,
            quiet,
            backend,
            report: flags,
        } => match load_or_demo(file.as_deref()) {
            Ok(mut l) => {
                if let Some(b) = backend
                    && let Err(e) = l.set_backend(b)
                {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
                run_one(&l, out.as_deref(), quiet, flags.options())
            }
            Err(e) => bad_input(&e),
        },
        Command::Serve {
            file,
            listen,
            data,
            speed,
            hil_emulated,
            hil,
            emulated,
            mqtt,
            mqtt_ha_user,
            mqtt_role,
            mqtt_tls,
            tls_cert,
            tls_key,
            secure_cookies,
        } => match load_or_demo(file.as_deref()) {
            Ok(mut l) => {
                if hil_emulated && let Err(e) = l.set_backend(BackendKind::EmulatedHil) {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
                let hil = match hil.as_deref().map(|p| bench_cli::read_bench(Some(p))) {
                    None => None,
                    Some(Ok(bench)) => Some(gridtwin::hardware::Hil { bench, emulated }),
                    Some(Err(e)) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_BAD_INPUT);
                    }
                };
                let tls = mqtt_tls.files();
                let mqtt = match mqtt
                    .map(|url| mqtt_options(&url, mqtt_ha_user, &mqtt_role, &tls))
                    .transpose()
                {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_BAD_INPUT);
                    }
                };
                let tls = match (tls_cert, tls_key) {
                    (Some(c), Some(k)) => match gridtwin::web::https::config(&c, &k) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return ExitCode::from(EXIT_BAD_INPUT);
                        }
                    },
                    _ => None,
                };
                let o = service::ServeOptions {
                    listen,
                    data: &data,
                    speed,
                    hil: hil.as_ref(),
                    mqtt: mqtt.as_ref(),
                    tls,
                    secure_cookies,
                };
                report(service::serve(&l, &o).map(|()| String::new()), EXIT_FAILED)
            }
            Err(e) => bad_input(&e),
        },
        Command::Viz {
            file,
            speed,
            frames,
            screenshot,
        } => {
            if !(speed.is_finite() && (1.0..=1000.0).contains(&speed)) {
                eprintln!("error: --speed must be 1 to 1000, not {speed}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            match load_or_demo(file.as_deref()) {
                Ok(l) => window(&l, speed, frames, screenshot),
                Err(e) => bad_input(&e),
            }
        }
        Command::Hq {
            mqtt,
            postgres,
            listen,
            client_id,
            mqtt_tls,
        } => match hq_options(&mqtt, postgres, client_id, &mqtt_tls.files(), listen) {
            Ok(o) => report(service::hq(o, listen).map(|()| String::new()), EXIT_FAILED),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
        Command::User { action } => match action {
            UserAction::Add {
                name,
                role,
                password_stdin,
                data,
            } => report(
                service::add_user(&data, &name, role, password_stdin)
                    .map(|()| format!("added {name} ({})\n", role.name())),
                EXIT_BAD_INPUT,
            ),
            UserAction::List { data } => report(service::list_users(&data), EXIT_BAD_INPUT),
            UserAction::Remove { name, data } => report(
                service::remove_user(&data, &name).map(|()| format!("removed {name}\n")),
                EXIT_BAD_INPUT,
            ),
        },
    }
}

/// The scenario file, or the built-in demo.
fn load_or_demo(file: Option<&Path>) -> Result<Loaded, ScenarioError> {
    match file {
        Some(f) => scenario::load(f),
        None => scenario::parse(
            Path::new("scenarios/outage_generator_start.ron"),
            controller::DEMO_SCENARIO,
        ),
    }
}

fn measure(file: &Path, rate: f64, nominal: f64, json: bool) -> ExitCode {
    if !(rate.is_finite() && rate > 0.0) {
        eprintln!("error: --rate must be a number of samples per second > 0, found {rate}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let (v, i) = match controller::measure_csv::read(file) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    match controller::measure_csv::measure(&v, &i, rate, nominal) {
        Ok(r) if json => match serde_json::to_string_pretty(&r) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(r) => {
            print!("{}", controller::measure_csv::render(&r));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

/// Print a command's output, or its error and exit with `code`.
#[cfg(feature = "viz")]
fn window(l: &Loaded, speed: f64, frames: Option<u32>, screenshot: Option<PathBuf>) -> ExitCode {
    let o = viz::Options {
        speed,
        frames,
        screenshot,
    };
    report(viz::run(l, &o).map(|()| String::new()), EXIT_FAILED)
}

#[cfg(not(feature = "viz"))]
fn window(_: &Loaded, _: f64, _: Option<u32>, _: Option<PathBuf>) -> ExitCode {
    eprintln!("error: this build has no window: build with --features viz (cargo xtask viz NAME)");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn report(r: Result<String, String>, code: u8) -> ExitCode {
    match r {
        Ok(s) => {
            use std::io::Write;
            // A closed pipe (`| head`) is not an error of ours.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(s.as_bytes());
            if !s.ends_with('\n') {
                let _ = writeln!(out);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(code)
        }
    }
}

fn bad_input(e: &ScenarioError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn run_one(l: &Loaded, out: Option<&Path>, quiet: bool, opts: reports::Options) -> ExitCode {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(1000)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {percent}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(l.scenario.name.clone());
    let r = run::run(l, |f| bar.set_position((f * 1000.0) as u64));
    bar.finish_and_clear();
    print!("{}", summary::render(&r));
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("runs").join(&r.name));
    if let Err(e) = r.write(l, &dir, opts) {
        eprintln!("error: cannot write the run to {}: {e}", dir.display());
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    println!("run written to {}", dir.display());
    if r.baseline.is_some() {
        let off = dir.join(run::output::BASELINE_DIR);
        println!(
            "the day with the balancer off: {} (gridtwin compare {} {})",
            off.display(),
            off.display(),
            dir.display()
        );
    }
    if r.passed() {
        ExitCode::SUCCESS
    } else {
        for o in r.outcomes.iter().filter(|o| !o.pass) {
            eprintln!("expectation failed: {}: {}", o.label, o.detail);
        }
        ExitCode::from(EXIT_FAILED)
    }
}

/// `gridtwin report DIR`: the recording read back and the report written again (and its
/// balancer-off baseline's, when it has one).
fn rebuild(dir: &Path, opts: reports::Options) -> Result<String, String> {
    let baseline = dir.join(run::output::BASELINE_DIR);
    if baseline.join(reports::recording::META).exists() {
        rebuild(&baseline, opts)?;
    }
    let rec = reports::Recording::read(dir).map_err(|e| e.to_string())?;
    let report = reports::Report::of(&rec)?;
    report.write(&rec, dir, opts).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}report written to {}",
        report.markdown(&rec),
        dir.join("report.html").display()
    ))
}

/// `gridtwin compare A B`: the comparison printed and written.
fn compare(a: &Path, b: &Path, out: Option<&Path>) -> Result<String, String> {
    let ra = reports::Recording::read(a).map_err(|e| e.to_string())?;
    let rb = reports::Recording::read(b).map_err(|e| e.to_string())?;
    let c = reports::Comparison::of(&ra, &rb, &a.display().to_string(), &b.display().to_string())?;
    let dir = out.unwrap_or(b);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let md = c.markdown();
    for (name, text) in [("compare.md", md.clone()), ("compare.html", c.html()?)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(format!(
        "{md}comparison written to {}",
        dir.join("compare.html").display()
    ))
}

/// TLS for an mqtts:// broker.
#[derive(clap::Args, Debug)]
struct MqttTls {
    /// With mqtts://: trust only this CA (PEM) for the broker, instead of the system's.
    #[arg(long, value_name = "FILE", requires = "mqtt")]
    mqtt_ca: Option<PathBuf>,
    /// With mqtts://: a client certificate (PEM) to show the broker, with --mqtt-key.
    #[arg(long, value_name = "FILE", requires = "mqtt_key")]
    mqtt_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "mqtt_cert")]
    mqtt_key: Option<PathBuf>,
}

impl MqttTls {
    fn files(&self) -> gridtwin::mqtt::tls::TlsFiles {
        gridtwin::mqtt::tls::TlsFiles {
            ca: self.mqtt_ca.clone(),
            cert: self.mqtt_cert.clone(),
            key: self.mqtt_key.clone(),
        }
    }
}

/// The TLS configuration an mqtts:// broker needs; the files with a plain one are an error.
fn mqtt_tls(
    broker: &gridtwin::mqtt::broker::Broker,
    files: &gridtwin::mqtt::tls::TlsFiles,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, String> {
    match (broker.tls, files.is_empty()) {
        (true, _) => gridtwin::mqtt::tls::config(files).map(Some),
        (false, true) => Ok(None),
        (false, false) => {
            Err("--mqtt-ca, --mqtt-cert and --mqtt-key need an mqtts:// broker".into())
        }
    }
}

/// `hq`'s flags, checked.
fn hq_options(
    url: &str,
    postgres: Option<String>,
    client_id: String,
    tls: &gridtwin::mqtt::tls::TlsFiles,
    listen: SocketAddr,
) -> Result<gridtwin::hq::Options, String> {
    let broker = gridtwin::mqtt::broker::Broker::parse(url)?;
    let postgres = postgres
        .or_else(|| std::env::var("GRIDTWIN_POSTGRES").ok())
        .ok_or("hq needs --postgres URL (or GRIDTWIN_POSTGRES)")?;
    let token = std::env::var("GRIDTWIN_HQ_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    gridtwin::hq::check_listen(listen, token.as_deref())?;
    Ok(gridtwin::hq::Options {
        tls: mqtt_tls(&broker, tls)?,
        broker,
        postgres,
        client_id,
        token,
    })
}

/// `serve`'s MQTT flags, checked: the broker URL, the users' roles, the TLS files.
fn mqtt_options(
    url: &str,
    ha_user: String,
    roles: &[String],
    tls: &gridtwin::mqtt::tls::TlsFiles,
) -> Result<gridtwin::mqtt::client::Options, String> {
    use gridtwin::mqtt::topics::check_user;
    let broker = gridtwin::mqtt::broker::Broker::parse(url)?;
    check_user(&ha_user).map_err(|e| format!("--mqtt-ha-user: {e}"))?;
    let mut map = std::collections::BTreeMap::new();
    for r in roles {
        let (user, role) = r
            .split_once('=')
            .ok_or_else(|| format!("--mqtt-role {r:?}: expected USER=ROLE"))?;
        check_user(user).map_err(|e| format!("--mqtt-role {r:?}: {e}"))?;
        let role = role
            .parse()
            .map_err(|e| format!("--mqtt-role {r:?}: {e}"))?;
        if map.insert(user.to_string(), role).is_some() {
            return Err(format!("--mqtt-role: {user} is given twice"));
        }
    }
    let tls = mqtt_tls(&broker, tls)?;
    Ok(gridtwin::mqtt::client::Options {
        broker,
        ha_user,
        roles: map,
        tls,
        period: std::time::Duration::from_secs(1),
    })
}
