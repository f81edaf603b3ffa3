//! `gridtwin viz`: the grid drawn live in a Bevy window, driven by the controller's own loop
//! (`world`), with the PDU's or the feeder's picture (`pdu_view`, `feeder_view`), the panel and
//! camera (`hud`) and the screenshot mode (`capture`). The logic systems run without a window
//! too (`logic`), which is how the tests run them.

pub mod capture;
pub mod feeder_view;
pub mod hud;
pub mod palette;
pub mod pdu_view;
pub mod world;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::PresentMode;
use controller::scenario::Loaded;

use world::{Requests, Twin};

/// A drawn shape's colour; `paint` puts it into the shape's material.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct Shade(pub Color);

/// A point (offset from the entity) where the screenshot check reads the entity's colour.
#[derive(Component, Debug, Clone)]
pub struct Probe(pub String, pub Vec2);

#[derive(Debug, Clone)]
pub struct Options {
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// Run this many frames and exit.
    pub frames: Option<u32>,
    /// With `frames`: the screenshot's path (PNG).
    pub screenshot: Option<PathBuf>,
}

/// Wall seconds a frame stands for in `--frames` runs.
const CAPTURE_FRAME_S: f64 = 1.0 / 30.0;

/// Open the window and run until it is closed (or the frames are done).
pub fn run(l: &Loaded, o: &Options) -> Result<(), String> {
    let mut twin = Twin::new(l, o.speed)?;
    if o.frames.is_some() {
        twin.frame_dt = Some(CAPTURE_FRAME_S);
    }
    let mut app = App::new();
    app.add_plugins((
        DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window {
                title: format!("gridtwin: {}", l.scenario.name),
                resolution: (1280, 800).into(),
                // Capture runs measure the frame rate: no waiting for vertical sync.
                present_mode: if o.frames.is_some() {
                    PresentMode::AutoNoVsync
                } else {
                    PresentMode::AutoVsync
                },
                ..default()
            }),
            ..default()
        }),
        MeshPickingPlugin,
    ));
    app.insert_resource(ClearColor(palette::BACKGROUND));
    logic(&mut app, twin);
    app.add_systems(
        Startup,
        (
            |mut c: Commands| {
                // No multisampling: a software renderer pays for every sample, and the
                // drawing is axis-aligned rectangles and one-pixel lines.
                c.spawn((Camera2d, Msaa::Off));
            },
            pdu_view::spawn,
            feeder_view::spawn,
            hud::spawn,
        ),
    );
    app.add_systems(Update, (paint, hud::camera));
    if let Some(frames) = o.frames {
        app.insert_resource(capture::Capture::new(frames.max(2), o.screenshot.clone()));
        app.add_systems(Last, capture::capture);
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(format!("the window exited with code {code}")),
    }
}

/// The window's logic, without drawing: requests, the twin, the views' colours and labels.
pub fn logic(app: &mut App, twin: Twin) {
    app.insert_resource(twin)
        .init_resource::<Requests>()
        .init_resource::<feeder_view::Picture>()
        .add_systems(
            Update,
            (
                hud::buttons,
                hud::keys,
                world::run_twin,
                pdu_view::sync,
                feeder_view::sync,
                hud::texts,
            )
                .chain(),
        );
}

/// Shades into materials.
fn paint(
    mut materials: ResMut<Assets<ColorMaterial>>,
    shapes: Query<(&Shade, &MeshMaterial2d<ColorMaterial>), Changed<Shade>>,
) {
    for (s, m) in &shapes {
        if let Some(mut mat) = materials.get_mut(&m.0) {
            mat.color = s.0;
        }
    }
}
