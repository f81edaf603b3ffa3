//! `--frames N [--screenshot OUT.png]`: run N frames, then take a screenshot through Bevy's
//! screenshot API and exit. Beside the PNG, `OUT.png.probes.json` lists where known elements
//! were drawn (window pixels) and the colour each should have there, for the window test; the
//! frame rate is printed.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::palette::rgb8;
use crate::{Probe, Shade};

#[derive(Resource, Debug, Clone)]
pub struct Capture {
    pub frames: u32,
    pub screenshot: Option<PathBuf>,
    seen: u32,
    /// The first frame's wall time: startup (shader compilation) is not counted.
    first: Option<std::time::Instant>,
}

impl Capture {
    pub fn new(frames: u32, screenshot: Option<PathBuf>) -> Self {
        Capture {
            frames,
            screenshot,
            seen: 0,
            first: None,
        }
    }
}

pub fn capture(
    mut commands: Commands,
    mut cap: ResMut<Capture>,
    mut exit: MessageWriter<AppExit>,
    probes: Query<(&Probe, &Shade, &GlobalTransform)>,
    camera: Single<(&Camera, &GlobalTransform)>,
) {
    cap.seen += 1;
    let first = *cap.first.get_or_insert_with(std::time::Instant::now);
    if cap.seen != cap.frames {
        return;
    }
    let secs = first.elapsed().as_secs_f64();
    println!(
        "viz: {} frames in {secs:.2} s: {:.1} frames/s",
        cap.frames - 1,
        f64::from(cap.frames - 1) / secs.max(1e-9)
    );
    let Some(path) = cap.screenshot.clone() else {
        exit.write(AppExit::Success);
        return;
    };
    let (cam, at) = *camera;
    let list: Vec<serde_json::Value> = probes
        .iter()
        .filter_map(|(p, shade, t)| {
            let world = t.translation() + p.1.extend(0.0);
            let px = cam.world_to_viewport(at, world).ok()?;
            Some(serde_json::json!({
                "name": p.0,
                "x": px.x.round() as i64,
                "y": px.y.round() as i64,
                "rgb": rgb8(shade.0),
            }))
        })
        .collect();
    let probes_path = PathBuf::from(format!("{}.probes.json", path.display()));
    if let Err(e) = std::fs::write(&probes_path, serde_json::Value::from(list).to_string()) {
        error!("cannot write {}: {e}", probes_path.display());
    }
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(path))
        .observe(
            |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                exit.write(AppExit::Success);
            },
        );
}
