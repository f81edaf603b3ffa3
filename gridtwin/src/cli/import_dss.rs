//! `gridtwin import-dss MASTER.dss -o FEEDER.ron`: an OpenDSS feeder converted to a feeder RON
//! file, solved once first so that only a whole feeder is kept.

use std::path::{Path, PathBuf};

use sim::feeder::{Feeder, PowerFlow};

use super::{Outcome, printed};

#[derive(clap::Args)]
pub struct Args {
    master: PathBuf,
    /// Where to write the feeder.
    #[arg(short, long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Outcome {
    printed(import_dss(&a.master, &a.out))
}

/// Read an OpenDSS master file and write the feeder as RON; a one-line summary.
fn import_dss(master: &Path, out: &Path) -> Result<String, String> {
    let f = sim::dss::import(master).map_err(|e| e.to_string())?;
    // Solving once proves the feeder is whole (connected, radial, invertible) before it is kept.
    PowerFlow::new(&f).map_err(|e| format!("{}: {e}", master.display()))?;
    write_feeder(out, &f)?;
    Ok(format!(
        "{}: {} lines, {} transformers, {} regulators, {} loads, {} capacitors, {} load shapes → {}",
        f.name,
        f.lines.len(),
        f.transformers.len(),
        f.regulators.len(),
        f.loads.len(),
        f.capacitors.len(),
        f.load_shapes.len(),
        out.display()
    ))
}

fn write_feeder(out: &Path, f: &Feeder) -> Result<(), String> {
    // Options written bare, as the scenario reader takes them (`Some(Struct(..))` would not
    // read back under implicit Some).
    let cfg = ron::ser::PrettyConfig::new()
        .compact_arrays(true)
        .struct_names(true)
        .extensions(ron::extensions::Extensions::IMPLICIT_SOME);
    let text = ron::ser::to_string_pretty(f, cfg).map_err(|e| e.to_string())?;
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}
