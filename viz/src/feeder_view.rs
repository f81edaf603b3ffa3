//! A feeder: its lines drawn from the bus coordinates (a tree layout when the feeder has
//! none), each line's width and colour by its loading, each bus coloured by its voltage (a heat
//! map), the transformer, and each home coloured by its phase. A click on a home moves it to
//! the next phase through its phase selector.
//!
//! The lines are one mesh, the buses another and the homes a third, with a colour per vertex,
//! rebuilt after each solve: three draws a frame instead of thousands of shapes (the IEEE
//! 8500-node feeder has 8,500 lines and 1,177 homes), which is what a software renderer can keep
//! up with. A home stays an entity of its own for its phase colour and its probe; a click on
//! the homes' mesh finds the home under the pointer.

use std::collections::{BTreeMap, HashMap};

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use grid_types::Phase;
use sim::feeder::Feeder;
use sim::feeder::model::split_terminal;

use crate::palette;
use crate::world::{Request, Requests, Twin};
use crate::{Probe, Shade};
use controller::run::SiteLoop;

/// The drawing's extent, world units (pixels at zoom 1).
const EXTENT: Vec2 = Vec2::new(860.0, 560.0);
const CENTRE: Vec2 = Vec2::new(0.0, -30.0);
const HOME: Vec2 = Vec2::new(11.0, 11.0);
/// A line's width with no current and at the heaviest line's current, world units.
pub const LINE_W: (f32, f32) = (1.0, 4.0);
/// A bus's square, world units.
const BUS: f32 = 5.0;

#[derive(Component, Debug, Clone, Copy)]
pub struct Home(pub usize);

#[derive(Component, Debug, Clone, Copy)]
pub struct Transformer;

/// The feeder as drawn at the last solve: line segments with their current, buses with their
/// voltage.
#[derive(Resource, Default)]
pub struct Picture {
    /// Each bus's place, by lower-case name.
    pub places: HashMap<String, Vec2>,
    lines: Vec<(String, Vec2, Vec2)>,
    amps: Vec<f64>,
    buses: Vec<(String, Vec2)>,
    pu: Vec<f64>,
    /// The twin's step the picture is of.
    drawn: Option<u64>,
    /// The lines', the buses' and the homes' meshes (none before `spawn`).
    pub meshes: Option<[Handle<Mesh>; 3]>,
}

impl Picture {
    /// The lines: a band each, as wide and as hot as its current is to the heaviest line's
    /// (at least an ampere, so that a dead feeder's numerical dust does not show as load).
    fn lines(&self) -> Shapes {
        let top = self.amps.iter().copied().fold(1.0, f64::max);
        let mut out = Shapes::default();
        for ((_, a, b), amps) in self.lines.iter().zip(&self.amps) {
            let share = amps / top;
            let w = LINE_W.0 + (LINE_W.1 - LINE_W.0) * share as f32;
            out.quad(band(*a, *b, w), palette::loading(share));
        }
        out
    }

    /// The buses: a square each, in the heat map's colour of its voltage.
    fn buses(&self) -> Shapes {
        let mut out = Shapes::default();
        let h = Vec2::splat(BUS / 2.0);
        for ((_, p), pu) in self.buses.iter().zip(&self.pu) {
            let (lo, hi) = (*p - h, *p + h);
            let corners = [lo, Vec2::new(hi.x, lo.y), hi, Vec2::new(lo.x, hi.y)];
            out.quad(corners, palette::voltage(*pu));
        }
        out
    }
}

/// Triangles with a colour at each vertex.
#[derive(Default)]
struct Shapes {
    at: Vec<[f32; 3]>,
    rgba: Vec<[f32; 4]>,
    index: Vec<u32>,
}

impl Shapes {
    fn quad(&mut self, corners: [Vec2; 4], color: Color) {
        let first = self.at.len() as u32;
        let rgba = color.to_linear().to_f32_array();
        for c in corners {
            self.at.push([c.x, c.y, 0.0]);
            self.rgba.push(rgba);
        }
        self.index.extend([0, 1, 2, 0, 2, 3].map(|k| first + k));
    }

    fn into_mesh(self, mesh: &mut Mesh) {
        mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, self.at);
        mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, self.rgba);
        mesh.insert_indices(Indices::U32(self.index));
    }
}

/// The segment a-b as a band `w` wide.
fn band(a: Vec2, b: Vec2, w: f32) -> [Vec2; 4] {
    let n = (b - a).normalize_or_zero().perp() * (w / 2.0);
    [a + n, a - n, b - n, b + n]
}

/// Bus places fitted to the drawing: the feeder's coordinates, or a tree from the source when
/// it has none for a bus.
pub fn layout(f: &Feeder) -> HashMap<String, Vec2> {
    let mut raw: HashMap<String, Vec2> = f
        .coordinates
        .iter()
        .map(|c| {
            (
                c.bus.to_ascii_lowercase(),
                Vec2::new(c.x as f32, c.y as f32),
            )
        })
        .collect();
    let edges: Vec<(String, String)> = f
        .lines
        .iter()
        .map(|l| (l.bus1.clone(), l.bus2.clone()))
        .chain(f.transformers.iter().filter_map(|t| {
            Some((
                t.windings.first()?.bus.clone(),
                t.windings.get(1)?.bus.clone(),
            ))
        }))
        .filter_map(|(a, b)| Some((split_terminal(&a).ok()?.0, split_terminal(&b).ok()?.0)))
        .collect();
    if raw.len() < 2 {
        raw = tree(f, &edges);
    }
    let (lo, hi) = raw.values().fold(
        (Vec2::splat(f32::MAX), Vec2::splat(f32::MIN)),
        |(lo, hi), p| (lo.min(*p), hi.max(*p)),
    );
    let span = (hi - lo).max(Vec2::splat(1e-6));
    let scale = (EXTENT.x / span.x).min(EXTENT.y / span.y);
    let mid = (lo + hi) / 2.0;
    raw.into_iter()
        .map(|(b, p)| (b, CENTRE + (p - mid) * scale))
        .collect()
}

/// Depth from the source across, order within a depth down.
fn tree(f: &Feeder, edges: &[(String, String)]) -> HashMap<String, Vec2> {
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        children.entry(a).or_default().push(b);
        children.entry(b).or_default().push(a);
    }
    let root = split_terminal(&f.source.bus).map_or_else(|_| String::new(), |x| x.0);
    let mut out = HashMap::new();
    let mut level = vec![root.as_str()];
    let mut depth = 0.0;
    out.insert(root.clone(), Vec2::ZERO);
    while !level.is_empty() {
        let mut next = Vec::new();
        for b in &level {
            for c in children.get(b).into_iter().flatten() {
                if !out.contains_key(*c) {
                    next.push(*c);
                    out.insert(c.to_string(), Vec2::ZERO);
                }
            }
        }
        depth += 1.0;
        for (k, b) in next.iter().enumerate() {
            out.insert(b.to_string(), Vec2::new(depth, -(k as f32)));
        }
        level = next;
    }
    out
}

pub fn spawn(
    mut commands: Commands,
    mut twin: ResMut<Twin>,
    mut picture: ResMut<Picture>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
) {
    let SiteLoop::Feeder(site) = twin.site() else {
        return;
    };
    let f = site.pf().feeder();
    let places = layout(f);
    let at = |bus: &str| -> Option<Vec2> {
        let b = split_terminal(bus).ok()?.0;
        places.get(&b).copied()
    };
    picture.lines.clear();
    for l in f.lines.iter().filter(|l| l.closed) {
        if let (Some(a), Some(b)) = (at(&l.bus1), at(&l.bus2)) {
            let child = split_terminal(&l.bus2).map_or_else(|_| String::new(), |x| x.0);
            picture.lines.push((child, a, b));
        }
    }
    picture.amps = vec![0.0; picture.lines.len()];
    let mut buses: Vec<(String, Vec2)> = places.iter().map(|(b, p)| (b.clone(), *p)).collect();
    buses.sort_by(|a, b| a.0.cmp(&b.0));
    picture.pu = vec![0.0; buses.len()];
    picture.buses = buses;
    // Empty until the first `sync`, which draws the picture after every solve.
    let handles = [0, 1, 2].map(|_| {
        meshes.add(Mesh::new(
            PrimitiveTopology::TriangleList,
            RenderAssetUsages::default(),
        ))
    });
    // Vertex colours show through a white material; the buses over the lines, the homes over
    // both.
    let white = materials.add(Color::WHITE);
    for (z, h) in handles.iter().enumerate() {
        let mut e = commands.spawn((
            Mesh2d(h.clone()),
            MeshMaterial2d(white.clone()),
            Transform::from_xyz(0.0, 0.0, z as f32),
        ));
        if z < 2 {
            e.insert(Pickable::IGNORE);
        } else {
            e.observe(click_home);
        }
    }
    picture.meshes = Some(handles);
    let heads = site.heads().to_vec();
    let mut square = |size: Vec2, at: Vec2, color: Color| {
        (
            Mesh2d(meshes.add(Rectangle::from_size(size))),
            MeshMaterial2d(materials.add(color)),
            Transform::from_translation(at.extend(2.0)),
            Shade(color),
        )
    };
    if let Some(p) = heads.first().and_then(|h| places.get(h)) {
        let size = Vec2::splat(26.0);
        commands.spawn((
            square(size, *p, palette::LIVE),
            Transformer,
            Probe("transformer".into(), Vec2::new(-8.0, 8.0)),
        ));
    }
    for (i, l) in f.loads.iter().enumerate() {
        let Some(p) = at(&l.bus) else { continue };
        commands.spawn((
            Transform::from_translation((p + Vec2::new(7.0, 7.0)).extend(2.0)),
            Shade(palette::IDLE),
            Home(i),
            Probe(format!("home {}", l.name), Vec2::ZERO),
        ));
    }
    picture.places = places;
}

/// A click on the homes' mesh: the home under it (the last drawn, as it shows on top) moves
/// to its next phase.
fn click_home(
    click: On<Pointer<Click>>,
    mut twin: ResMut<Twin>,
    homes: Query<(&Home, &Transform)>,
    mut r: ResMut<Requests>,
) {
    let Some(hit) = click.hit.position else {
        return;
    };
    let SiteLoop::Feeder(site) = twin.site() else {
        return;
    };
    let inside = |t: &Transform| {
        (hit.truncate() - t.translation.truncate())
            .abs()
            .cmple(HOME / 2.0)
            .all()
    };
    if let Some((h, _)) = homes
        .iter()
        .filter(|(_, t)| inside(t))
        .max_by_key(|(h, _)| h.0)
    {
        let name = site.pf().feeder().loads[h.0].name.clone();
        r.0.push(Request::NextPhase(name));
    }
}

/// The homes: a square each, in its phase's colour.
fn homes_mesh<'a>(homes: impl Iterator<Item = (&'a Home, &'a Shade, &'a Transform)>) -> Shapes {
    let mut out = Shapes::default();
    let h = HOME / 2.0;
    let mut all: Vec<_> = homes.collect();
    // In load order, so that overlapping homes draw (and pick) alike every time.
    all.sort_by_key(|(home, _, _)| home.0);
    for (_, shade, t) in all {
        let c = t.translation.truncate();
        let (lo, hi) = (c - h, c + h);
        out.quad(
            [lo, Vec2::new(hi.x, lo.y), hi, Vec2::new(lo.x, hi.y)],
            shade.0,
        );
    }
    out
}

/// After each solve: line currents and bus voltages into the picture and its meshes, homes'
/// colours.
pub fn sync(
    mut twin: ResMut<Twin>,
    mut picture: ResMut<Picture>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut homes: Query<(&Home, &mut Shade, &Transform), Without<Transformer>>,
    mut transformer: Query<&mut Shade, With<Transformer>>,
) {
    let steps = twin.steps;
    let SiteLoop::Feeder(site) = twin.site() else {
        return;
    };
    if picture.drawn == Some(steps) {
        return;
    }
    picture.drawn = Some(steps);
    let pf = site.pf();
    let Picture {
        lines,
        amps,
        buses,
        pu,
        ..
    } = &mut *picture;
    for ((child, _, _), a) in lines.iter().zip(amps.iter_mut()) {
        *a = pf
            .bus_inflow(child)
            .map_or(0.0, |i| i.iter().map(|x| x.1.norm()).fold(0.0, f64::max));
    }
    for ((bus, _), v) in buses.iter().zip(pu.iter_mut()) {
        // The phase furthest from nominal: the one a customer complains about.
        *v = pf.bus_pu(bus).map_or(0.0, |p| {
            p.iter().map(|x| x.1).fold(1.0, |w, x| {
                if (x - 1.0).abs() > (w - 1.0).abs() {
                    x
                } else {
                    w
                }
            })
        });
    }
    if let Some([l, b, _]) = &picture.meshes {
        if let Some(mut m) = meshes.get_mut(l) {
            picture.lines().into_mesh(&mut m);
        }
        if let Some(mut m) = meshes.get_mut(b) {
            picture.buses().into_mesh(&mut m);
        }
    }
    for (h, mut shade, _) in &mut homes {
        let node = pf.load_state(h.0).node;
        shade.set_if_neq(Shade(match Phase::of_node(node) {
            Some(p) => palette::PHASES[p as usize],
            None => palette::IDLE,
        }));
    }
    if let Some(mut m) = picture
        .meshes
        .as_ref()
        .and_then(|[.., h]| meshes.get_mut(h))
    {
        homes_mesh(homes.iter()).into_mesh(&mut m);
    }
    let live = pf.source_power().norm() > 1.0;
    for mut s in &mut transformer {
        s.set_if_neq(Shade(if live { palette::LIVE } else { palette::DEAD }));
    }
}
