//! `gridtwin viz [FILE]`: the scenario's grid drawn live in a window (feature `viz`: Bevy).

use std::path::PathBuf;

use super::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(a: Args) -> Outcome {
    if !(a.speed.is_finite() && (1.0..=1000.0).contains(&a.speed)) {
        return Err(Failure::BadInput(format!(
            "--speed must be 1 to 1000, not {}",
            a.speed
        )));
    }
    let l = super::load_or_demo(a.file.as_deref())?;
    window(&l, a)
}

#[cfg(feature = "viz")]
fn window(l: &controller::scenario::Loaded, a: Args) -> Outcome {
    let o = viz::Options {
        speed: a.speed,
        frames: a.frames,
        screenshot: a.screenshot,
    };
    viz::run(l, &o).map_err(Failure::Failed)?;
    Ok(super::Verdict::Passed)
}

#[cfg(not(feature = "viz"))]
fn window(_: &controller::scenario::Loaded, _: Args) -> Outcome {
    Err(Failure::BadInput(
        "this build has no window: build with --features viz (cargo xtask viz NAME)".into(),
    ))
}
