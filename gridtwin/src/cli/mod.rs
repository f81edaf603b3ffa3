//! The commands of the `gridtwin` binary, one module each. Every command returns an `Outcome`;
//! `main` alone turns it into the exit code: 0 done (or every check held), 1 a check failed or
//! the work could not be done, 2 bad input.

pub mod alerts;
pub mod balance_plan;
pub mod check;
#[cfg(feature = "report")]
pub mod compare;
pub mod export;
pub mod field;
pub mod hil;
#[cfg(feature = "hq")]
pub mod hq;
pub mod import_dss;
pub mod measure;
pub mod mqtt_flags;
pub mod powerflow;
pub mod rephase;
pub mod report;
pub mod run;
pub mod serve;
pub mod stats;
pub mod status;
pub mod user;
pub mod viz;

use std::path::Path;

use controller::scenario::{self, Loaded, ScenarioError};

/// How a command ended, when it ran to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done; every check held.
    Passed,
    /// A check failed (an expectation, a selftest); the command said which.
    Failed,
}

/// Why a command stopped.
#[derive(Debug)]
pub enum Failure {
    /// The input was malformed or inconsistent: exit 2.
    BadInput(String),
    /// The work could not be done (a port taken, a broker gone, a solve that failed): exit 1.
    Failed(String),
}

pub type Outcome = Result<Verdict, Failure>;

impl From<&ScenarioError> for Failure {
    fn from(e: &ScenarioError) -> Self {
        Failure::BadInput(e.to_string())
    }
}

/// A command's text on stdout; a closed pipe (`| head`) is not an error of ours.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.is_empty() && !text.ends_with('\n') {
        let _ = writeln!(out);
    }
}

/// Prints a command's text and says it is done, or makes its error bad input.
pub fn printed(r: Result<String, String>) -> Outcome {
    let text = r.map_err(Failure::BadInput)?;
    print(&text);
    Ok(Verdict::Passed)
}

/// A file read at the edge, its error naming the file.
pub fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))
}

/// A live site's store under `dir`, which must hold one (a read never makes an empty one).
pub fn open_store(dir: &Path) -> Result<gridtwin::store::Store, Failure> {
    if !dir.join(gridtwin::store::DB_FILE).is_file() {
        return Err(Failure::BadInput(format!(
            "{}: no site's store here (`gridtwin serve --data DIR` keeps one)",
            dir.display()
        )));
    }
    gridtwin::store::Store::open(dir).map_err(|e| Failure::Failed(e.to_string()))
}

/// The scenario file, or the built-in demo.
pub fn load_or_demo(file: Option<&Path>) -> Result<Loaded, Failure> {
    match file {
        Some(f) => scenario::load(f),
        None => scenario::parse(
            Path::new("scenarios/outage_generator_start.ron"),
            controller::DEMO_SCENARIO,
        ),
    }
    .map_err(|e| Failure::from(&e))
}
