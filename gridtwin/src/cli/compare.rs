//! `gridtwin compare RUN_A RUN_B`: two runs side by side (a feature `report` command).

use std::path::{Path, PathBuf};

use reports::{Comparison, Recording};

use super::{Outcome, printed};

#[derive(clap::Args)]
pub struct Args {
    a: PathBuf,
    b: PathBuf,
    /// Where to write compare.html and compare.md (default: B's directory).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> Outcome {
    printed(compare(&a.a, &a.b, a.out.as_deref()))
}

/// The comparison printed and written.
fn compare(a: &Path, b: &Path, out: Option<&Path>) -> Result<String, String> {
    let ra = Recording::read(a).map_err(|e| e.to_string())?;
    let rb = Recording::read(b).map_err(|e| e.to_string())?;
    let c = Comparison::of(&ra, &rb, &a.display().to_string(), &b.display().to_string())?;
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
