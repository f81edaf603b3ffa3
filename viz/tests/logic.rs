//! The window's systems under `MinimalPlugins` (no window, no GPU): what a click, a button or
//! a key does to the twin, and what the views then show.

use std::path::Path;

use bevy::prelude::*;
use control_core::LoadStatus;
use controller::run::SiteLoop;
use viz::feeder_view::{Home, Picture};
use viz::hud::{Control, Readout};
use viz::pdu_view::{LoadTile, PduPart};
use viz::world::{Fault, Request, Requests, Twin};
use viz::{Shade, palette};

fn scenario(name: &str) -> controller::scenario::Loaded {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name);
    controller::scenario::load(&p).unwrap()
}

/// The logic and the views' spawning, with assets but no renderer; each frame stands for
/// `frame_s` of wall time.
fn app(l: &controller::scenario::Loaded, speed: f64, frame_s: f64) -> App {
    let mut twin = Twin::new(l, speed).unwrap();
    twin.frame_dt = Some(frame_s);
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()));
    app.init_asset::<Mesh>().init_asset::<ColorMaterial>();
    viz::logic(&mut app, twin);
    app.add_systems(
        Startup,
        (
            viz::pdu_view::spawn,
            viz::feeder_view::spawn,
            viz::hud::spawn,
        ),
    );
    app.update();
    app
}

fn tile(app: &mut App, i: usize) -> (Color, String) {
    let world = app.world_mut();
    let mut q = world.query::<(&LoadTile, &Shade, &Children)>();
    let (shade, child) = q
        .iter(world)
        .find(|(t, _, _)| t.0 == i)
        .map(|(_, s, c)| (s.0, c[0]))
        .unwrap();
    let text = world.get::<Text2d>(child).unwrap().0.clone();
    (shade, text)
}

fn push(app: &mut App, r: Request) {
    app.world_mut().resource_mut::<Requests>().0.push(r);
    app.update();
}

fn pdu_status(app: &mut App, i: usize) -> (LoadStatus, bool) {
    let mut twin = app.world_mut().resource_mut::<Twin>();
    let SiteLoop::Pdu(p) = twin.site() else {
        panic!("a PDU")
    };
    (p.controller().load_status(i), p.relay_closed(i))
}

#[test]
fn a_click_on_a_load_switches_it_through_the_operator_path_and_its_tile_follows() {
    let l = scenario("outage_generator_start.ron");
    let fridge = 2;
    let mut app = app(&l, 1.0, 0.5);
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(pdu_status(&mut app, fridge), (LoadStatus::On, true));
    let (shade, text) = tile(&mut app, fridge);
    assert_eq!(shade, palette::LIVE);
    assert!(text.starts_with("fridge\non"), "{text}");

    push(&mut app, Request::Toggle("fridge".into()));
    app.update();
    assert_eq!(pdu_status(&mut app, fridge), (LoadStatus::Off, false));
    let (shade, text) = tile(&mut app, fridge);
    assert_eq!(shade, palette::IDLE);
    assert!(
        text.contains("off") && text.contains("relay open"),
        "{text}"
    );
    let twin = app.world().resource::<Twin>();
    assert!(
        twin.ticker.iter().any(|l| l.contains("fridge operator")),
        "{:?}",
        twin.ticker
    );
}

#[test]
fn the_cut_mains_button_starts_the_generator_and_the_picture_shows_it() {
    let l = scenario("outage_generator_start.ron");
    let mut app = app(&l, 1.0, 0.5);
    let world = app.world_mut();
    let mut q = world.query::<(Entity, &Control)>();
    let cut = q
        .iter(world)
        .find(|(_, c)| c.0 == Request::Fault(Fault::CutMains))
        .map(|(e, _)| e)
        .unwrap();
    world.entity_mut(cut).insert(Interaction::Pressed);
    app.update();
    // 40 s on: the outage declared, the engine started, the load on the backup.
    for _ in 0..80 {
        app.update();
    }
    let world = app.world_mut();
    let mut q = world.query::<(&PduPart, &Shade)>();
    let shades: Vec<(String, Color)> = q
        .iter(world)
        .map(|(p, s)| (format!("{p:?}"), s.0))
        .collect();
    assert!(
        shades.contains(&("Source(0)".into(), palette::DEAD)),
        "{shades:?}"
    );
    assert!(
        shades.contains(&("Source(1)".into(), palette::LIVE)),
        "{shades:?}"
    );
    assert!(
        shades.contains(&("Contactor(1)".into(), palette::LIVE)),
        "{shades:?}"
    );
    let ticker = app.world().resource::<Twin>().ticker.join("\n");
    assert!(
        ticker.contains("main outage") || ticker.contains("transfer"),
        "{ticker}"
    );
}

#[test]
fn pause_step_and_speed_act_on_the_clock() {
    let l = scenario("outage_generator_start.ron");
    let mut app = app(&l, 1.0, 0.5);
    let now = |app: &mut App| app.world_mut().resource_mut::<Twin>().now_s();
    let t0 = now(&mut app);
    push(&mut app, Request::Pause);
    let paused = now(&mut app);
    app.update();
    app.update();
    assert_eq!(now(&mut app), paused, "paused: the clock stands");
    push(&mut app, Request::Step);
    assert!(now(&mut app) > paused, "a step while paused");
    push(&mut app, Request::Pause);
    push(&mut app, Request::Faster);
    assert_eq!(app.world().resource::<Twin>().speed, 2.0);
    let before = now(&mut app);
    app.update();
    // 0.5 s of wall time at 2x: one simulated second.
    assert!(
        (now(&mut app) - before - 1.0).abs() < 0.06,
        "{}",
        now(&mut app) - before
    );
    assert!(t0 >= 0.0);
}

#[test]
fn a_click_on_a_home_moves_its_phase_and_its_colour_follows() {
    let l = scenario("feeder_lv_day.ron");
    // One power flow per frame.
    let step = l.scenario.step();
    let mut app = app(&l, step, 1.0);
    app.update();
    let controller::scenario::Site::Feeder(feeder) = &l.site else {
        panic!("a feeder")
    };
    // Every bus of the European LV feeder has coordinates.
    let picture = app.world().resource::<Picture>();
    assert_eq!(picture.places.len(), feeder.coordinates.len());
    let world = app.world_mut();
    let mut q = world.query::<(&Home, &Shade)>();
    let (home, before) = q.iter(world).map(|(h, s)| (h.0, s.0)).next().unwrap();
    let name = feeder.loads[home].name.clone();
    let k = palette::PHASES.iter().position(|c| *c == before).unwrap();
    push(&mut app, Request::NextPhase(name.clone()));
    app.update();
    let world = app.world_mut();
    let mut q = world.query::<(&Home, &Shade)>();
    let after = q.iter(world).find(|(h, _)| h.0 == home).unwrap().1.0;
    assert_eq!(after, palette::PHASES[(k + 1) % 3], "{name}");
    // The homes' mesh draws it so: a square a home, in load order.
    let drawn = q.iter(world).filter(|(h, _)| h.0 < home).count();
    let all = q.iter(world).count();
    let [.., homes] = app.world().resource::<Picture>().meshes.clone().unwrap();
    let meshes = app.world().resource::<Assets<Mesh>>();
    let Some(bevy::mesh::VertexAttributeValues::Float32x4(c)) =
        meshes.get(&homes).unwrap().attribute(Mesh::ATTRIBUTE_COLOR)
    else {
        panic!("home colours")
    };
    assert_eq!(c.len(), 4 * all, "a square a home");
    assert_eq!(
        c[4 * drawn],
        after.to_linear().to_f32_array(),
        "{name} as drawn"
    );
    let ticker = app.world().resource::<Twin>().ticker.join("\n");
    assert!(ticker.contains(&format!("{name} phase_move")), "{ticker}");
    let world = app.world_mut();
    let mut q = world.query::<(&Readout, &Text)>();
    let gauge = q
        .iter(world)
        .find(|(r, _)| **r == Readout::Gauge)
        .unwrap()
        .1
        .0
        .clone();
    assert!(gauge.starts_with("unbalance "), "{gauge}");
}

/// The bus mesh's vertex colours, one per bus (four vertices each), and the line mesh's widest
/// and narrowest band.
fn network(app: &mut App) -> (Vec<[f32; 4]>, f32, f32) {
    let [lines, buses, _] = app.world().resource::<Picture>().meshes.clone().unwrap();
    let meshes = app.world().resource::<Assets<Mesh>>();
    let colours = match meshes.get(&buses).unwrap().attribute(Mesh::ATTRIBUTE_COLOR) {
        Some(bevy::mesh::VertexAttributeValues::Float32x4(c)) => {
            c.iter().step_by(4).copied().collect()
        }
        other => panic!("{other:?}"),
    };
    let Some(bevy::mesh::VertexAttributeValues::Float32x3(at)) = meshes
        .get(&lines)
        .unwrap()
        .attribute(Mesh::ATTRIBUTE_POSITION)
    else {
        panic!("line positions")
    };
    // A band's width: its first two corners straddle its start.
    let widths: Vec<f32> = at
        .chunks(4)
        .map(|q| Vec2::new(q[0][0] - q[1][0], q[0][1] - q[1][1]).length())
        .collect();
    let max = widths.iter().copied().fold(0.0, f32::max);
    let min = widths.iter().copied().fold(f32::MAX, f32::min);
    (colours, max, min)
}

#[test]
fn the_feeder_meshes_follow_each_solve_and_a_dead_source_darkens_every_bus() {
    let l = scenario("feeder_lv_day.ron");
    let step = l.scenario.step();
    let mut app = app(&l, step, 1.0);
    app.update();
    let dead = palette::DEAD.to_linear().to_f32_array();
    let (colours, widest, narrowest) = network(&mut app);
    let n_buses = app.world().resource::<Picture>().places.len();
    assert_eq!(colours.len(), n_buses);
    assert!(colours.iter().all(|c| *c != dead), "every bus energized");
    // The heaviest line at full width, a line carrying next to nothing near the thinnest.
    assert!(
        (widest - viz::feeder_view::LINE_W.1).abs() < 1e-3,
        "{widest}"
    );
    assert!(narrowest < viz::feeder_view::LINE_W.0 + 0.1, "{narrowest}");

    // The cut and one solve (a minute) in the same frame.
    push(&mut app, Request::Fault(Fault::CutMains));
    let (colours, widest, _) = network(&mut app);
    assert!(colours.iter().all(|c| *c == dead), "every bus dead");
    assert!(
        widest < viz::feeder_view::LINE_W.0 + 1e-3,
        "no current: {widest}"
    );
    // The minute over: energized again at the next solve.
    app.update();
    let (colours, _, _) = network(&mut app);
    assert!(colours.iter().all(|c| *c != dead), "restored");
}
