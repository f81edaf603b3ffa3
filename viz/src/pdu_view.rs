//! The PDU: both sources with their contactors, the transfer switch's state, the bus, and a
//! tile per load (relay, power, priority) coloured by what the controller says of it. A click
//! on a tile switches the load through the operator path.

use bevy::prelude::*;
use control_core::LoadStatus;

use crate::palette;
use crate::world::{Request, Requests, Twin};
use crate::{Probe, Shade};
use controller::run::SiteLoop;

/// Tiles per row.
const COLUMNS: usize = 6;
pub const TILE: Vec2 = Vec2::new(140.0, 84.0);
const GAP: f32 = 14.0;
const SOURCE: Vec2 = Vec2::new(200.0, 70.0);

#[derive(Component, Debug, Clone, Copy)]
pub struct LoadTile(pub usize);

#[derive(Component, Debug, Clone, Copy)]
pub enum PduPart {
    Source(usize),
    Contactor(usize),
    Bus,
}

/// The transfer switch's state, in words.
#[derive(Component, Debug, Clone, Copy)]
pub struct AtsLabel;

/// Where tile `i` of `n` sits: rows of six under the bus, centred.
pub fn tile_position(i: usize, n: usize) -> Vec2 {
    let cols = n.clamp(1, COLUMNS);
    let (row, col) = (i / cols, i % cols);
    let width = cols as f32 * (TILE.x + GAP) - GAP;
    Vec2::new(
        -width / 2.0 + TILE.x / 2.0 + col as f32 * (TILE.x + GAP),
        -20.0 - row as f32 * (TILE.y + GAP),
    )
}

fn source_position(k: usize) -> Vec2 {
    Vec2::new(if k == 0 { -260.0 } else { 260.0 }, 250.0)
}

/// A probe inside a shape's top-left corner, clear of its centred text.
fn corner(size: Vec2) -> Vec2 {
    Vec2::new(-size.x / 2.0 + 5.0, size.y / 2.0 - 5.0)
}

pub fn spawn(
    mut commands: Commands,
    mut twin: ResMut<Twin>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
) {
    let SiteLoop::Pdu(p) = twin.site() else {
        return;
    };
    let names = p.names().to_vec();
    let mut shape = |size: Vec2, at: Vec2, z: f32, color: Color| {
        (
            Mesh2d(meshes.add(Rectangle::from_size(size))),
            MeshMaterial2d(materials.add(color)),
            Transform::from_translation(at.extend(z)),
            Shade(color),
        )
    };
    let text = |s: &str, size: f32| {
        (
            Text2d::new(s),
            TextFont::from_font_size(size),
            TextLayout::justify(Justify::Center),
            TextColor(palette::TEXT),
            Transform::from_xyz(0.0, 0.0, 1.0),
        )
    };
    for k in 0..2 {
        let at = source_position(k);
        let name = ["main", "backup"][k];
        commands
            .spawn((
                shape(SOURCE, at, 0.0, palette::IDLE),
                PduPart::Source(k),
                Probe(name.into(), corner(SOURCE)),
            ))
            .with_child(text(name, 16.0));
        let c = Vec2::new(40.0, 26.0);
        commands.spawn((
            shape(c, Vec2::new(at.x, 165.0), 0.0, palette::IDLE),
            PduPart::Contactor(k),
            Probe(format!("{name} contactor"), Vec2::ZERO),
        ));
    }
    let bus = Vec2::new(
        (COLUMNS.min(names.len().max(2)) as f32) * (TILE.x + GAP),
        14.0,
    );
    commands.spawn((
        shape(bus, Vec2::new(0.0, 100.0), 0.0, palette::DEAD),
        PduPart::Bus,
        Probe("bus".into(), Vec2::ZERO),
    ));
    commands
        .spawn((text("", 16.0), AtsLabel))
        .insert(Transform::from_xyz(0.0, 250.0, 1.0));
    for (i, name) in names.iter().enumerate() {
        let at = tile_position(i, names.len());
        let n = name.clone();
        commands
            .spawn((
                shape(TILE, at, 0.0, palette::IDLE),
                LoadTile(i),
                Probe(format!("load {name}"), corner(TILE)),
            ))
            .with_child(text(name, 12.0))
            .observe(move |_: On<Pointer<Click>>, mut r: ResMut<Requests>| {
                r.0.push(Request::Toggle(n.clone()));
            });
    }
}

/// Each frame: colours and labels from the controller's status and what the meters read.
pub fn sync(
    mut twin: ResMut<Twin>,
    mut parts: Query<(&PduPart, &mut Shade, Option<&Children>)>,
    mut tiles: Query<(&LoadTile, &mut Shade, &Children), Without<PduPart>>,
    mut texts: Query<&mut Text2d, Without<AtsLabel>>,
    mut ats: Query<&mut Text2d, With<AtsLabel>>,
) {
    let SiteLoop::Pdu(p) = twin.site() else {
        return;
    };
    let ctl = p.controller();
    let status = ctl.status();
    let r = p.readings();
    let sources = [&r.main, &r.backup];
    let closed = [status.main_closed, status.backup_closed];
    let available = [status.main_available, status.backup_available];
    let locked = [status.main_locked_out, status.backup_locked_out];
    let nominal = r.main.v.max(r.backup.v).max(1.0);
    for (part, mut shade, children) in &mut parts {
        let (color, label) = match *part {
            PduPart::Source(k) => (
                palette::source(closed[k], available[k], locked[k]),
                Some(format!(
                    "{}\n{:.0} V  {:.2} Hz\n{:.2} kW",
                    ["MAIN", "BACKUP"][k],
                    sources[k].v,
                    sources[k].hz,
                    sources[k].p / 1e3
                )),
            ),
            PduPart::Contactor(k) => (
                if closed[k] {
                    palette::LIVE
                } else {
                    palette::IDLE
                },
                None,
            ),
            PduPart::Bus => (
                if r.bus_v > 0.5 * nominal {
                    palette::LIVE
                } else {
                    palette::DEAD
                },
                None,
            ),
        };
        // Written only when changed: a changed shade remakes its material, a changed text
        // is laid out again.
        shade.set_if_neq(Shade(color));
        if let (Some(label), Some(children)) = (label, children) {
            for c in children {
                if let Ok(mut t) = texts.get_mut(*c)
                    && t.0 != label
                {
                    t.0.clone_from(&label);
                }
            }
        }
    }
    let engine = if status.engine_start {
        "  engine running"
    } else {
        ""
    };
    let line = format!("ATS {}{engine}", status.ats);
    for mut t in &mut ats {
        if t.0 != line {
            t.0.clone_from(&line);
        }
    }
    for (tile, mut shade, children) in &mut tiles {
        let i = tile.0;
        let s = ctl.load_status(i);
        shade.set_if_neq(Shade(palette::load_status(s)));
        let name = &p.names()[i];
        let cfg = ctl.settings().loads.get(name);
        let label = format!(
            "{name}\n{}  {:.2} kW\nprio {}{}\nrelay {}",
            LoadStatus::NAMES[s.code() as usize],
            r.loads[i].p / 1e3,
            cfg.map_or(0, |c| c.priority),
            if cfg.is_some_and(|c| c.critical) {
                "  critical"
            } else {
                ""
            },
            if p.relay_closed(i) { "closed" } else { "open" },
        );
        for c in children {
            if let Ok(mut t) = texts.get_mut(*c)
                && t.0 != label
            {
                t.0.clone_from(&label);
            }
        }
    }
}
