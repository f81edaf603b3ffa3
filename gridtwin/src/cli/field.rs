//! `gridtwin field selftest`: the field file's devices identified and read once on their
//! transports, or on the file's emulation (`--emulated`: socat pseudo-terminals and a
//! localhost gateway with register-exact devices).

use std::path::PathBuf;

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
}

pub fn run(a: Args) -> Outcome {
    let Action::Selftest { field, emulated } = a.action;
    let f = ::field::config::load(&field).map_err(|e| Failure::BadInput(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("tokio: {e}")))?;
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
