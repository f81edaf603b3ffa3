//! Log lines through `tracing` to stderr: levels from `RUST_LOG` (default `info`), as text for
//! people or as one JSON object a line for a log collector (`--log-format json`). What a
//! command prints as its result goes to stdout instead, and is not a log line.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Installs the subscriber once, for the whole process.
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, none for a file, a pipe or journald.
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests that start the service in-process) keeps the first subscriber.
    let _ = match format {
        Format::Text => builder.with_target(false).try_init(),
        Format::Json => builder.json().with_current_span(false).try_init(),
    };
}
