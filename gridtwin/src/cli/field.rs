//! `gridtwin field selftest`: the field file's devices identified and read once on their
//! transports, or on the file's emulation (`--emulated`: socat pseudo-terminals, a localhost
//! gateway and a ChirpStack on its own Mosquitto, with register-exact devices).
//! `gridtwin field balance`: the balancer on the field's home nodes, live.

use std::path::PathBuf;

use control_core::Instant;
use control_core::balance::BalancerSettings;
use controller::field::nodes::{NodesBalancer, site_event};
use field::site::Site;

use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Identify and read every home node and meter the field file lists, and print a
    /// pass/fail table (exit 0: all pass, 1: not).
    Selftest {
        /// The field file (RON).
        #[arg(long)]
        field: PathBuf,
        /// Against the file's emulation instead of its ports and gateways.
        #[arg(long)]
        emulated: bool,
    },
    /// Run the phase balancer on the field's home nodes for SECONDS: their reports in, its
    /// moves out as commands to their selectors; prints what the field and the balancer did.
    Balance {
        #[arg(long)]
        field: PathBuf,
        #[arg(long)]
        emulated: bool,
        /// How long to run, s.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// The balancer's settings (RON, `BalancerSettings`); its defaults when absent.
        #[arg(long)]
        settings: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("tokio: {e}")))?;
    match a.action {
        Action::Selftest { field, emulated } => selftest(&rt, &field, emulated),
        Action::Balance {
            field,
            emulated,
            seconds,
            settings,
        } => {
            let settings = match settings {
                Some(p) => {
                    let text = super::read(&p)?;
                    ron::from_str(&text).map_err(|e| {
                        Failure::BadInput(format!(
                            "{}:{}:{}: {}",
                            p.display(),
                            e.span.start.line,
                            e.span.start.col,
                            e.code
                        ))
                    })?
                }
                None => BalancerSettings::default(),
            };
            let f = ::field::config::load(&field).map_err(|e| Failure::BadInput(e.to_string()))?;
            rt.block_on(balance(f, emulated, seconds, settings))
                .map_err(Failure::Failed)?;
            Ok(Verdict::Passed)
        }
    }
}

/// The balancer on the field's nodes, once a second, for `seconds`.
async fn balance(
    f: ::field::config::Field,
    emulated: bool,
    seconds: f64,
    settings: BalancerSettings,
) -> Result<(), String> {
    let dir = tempdir()?;
    let emulation = if emulated {
        Some(::field::emulated::emulate(&f, &dir).await?)
    } else {
        None
    };
    let field = emulation.as_ref().map_or(&f, |e| &e.field);
    let site = Site::start(field).await.map_err(|e| e.to_string())?;
    let names: Vec<String> = f.homes.iter().map(|h| h.name.clone()).collect();
    let mut balancer = NodesBalancer::new(settings, &names);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut events = Vec::new();
    while site.now() < seconds {
        tick.tick().await;
        let now = Instant::from_secs_f64(site.now());
        balancer.handle_homes(now, &site.homes());
        for (home, id, to) in balancer.tick(now, &mut events, &mut Vec::new()) {
            site.command(home, id, to);
        }
        events.extend(
            site.drain_events()
                .into_iter()
                .filter_map(|(t, e)| site_event(t, e)),
        );
        for e in events.drain(..) {
            let kind = serde_json::to_string(&e.kind).unwrap_or_default();
            super::print(&format!("{:8.1} s  {}  {kind}", e.t, e.subject));
        }
    }
    drop(emulation);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn selftest(rt: &tokio::runtime::Runtime, field: &std::path::Path, emulated: bool) -> Outcome {
    let f = ::field::config::load(field).map_err(|e| Failure::BadInput(e.to_string()))?;
    let checks = rt.block_on(async {
        if emulated {
            let dir = tempdir()?;
            let e = ::field::emulated::emulate(&f, &dir).await?;
            let checks = ::field::selftest::run(&e.field).await;
            drop(e);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(checks)
        } else {
            Ok(::field::selftest::run(&f).await)
        }
    });
    let checks = checks.map_err(Failure::Failed)?;
    super::print(&::field::selftest::table(&checks));
    Ok(if checks.iter().all(|c| c.pass) {
        Verdict::Passed
    } else {
        Verdict::Failed
    })
}

/// A fresh directory for the emulation's pseudo-terminals.
fn tempdir() -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!("gridtwin-field-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}
