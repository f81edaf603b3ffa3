//! `gridtwin check FILE`: a scenario validated, not run.

use std::path::PathBuf;

use controller::scenario::{self, Site};

use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
}

pub fn run(a: Args) -> Outcome {
    let l = scenario::load(&a.file).map_err(|e| Failure::from(&e))?;
    let grid = match &l.site {
        Site::Pdu(p) => format!("a PDU with {} loads", p.loads.len()),
        Site::Feeder(f) => format!("feeder {} with {} loads", f.name, f.loads.len()),
    };
    println!(
        "{}: ok: {:?}, {grid}, {} timeline entries, {} expectations",
        a.file.display(),
        l.scenario.name,
        l.scenario.timeline.len(),
        l.scenario.expect.len()
    );
    Ok(Verdict::Passed)
}
