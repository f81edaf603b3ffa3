//! The panel over the grid: the clock and speed, buttons (pause, step, slower, faster, and
//! faults: cut mains, surge, short, link loss), the event ticker, a feeder's unbalance gauge;
//! keyboard shortcuts; pan (right or middle drag, arrows) and zoom (wheel, +/-).

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

use crate::palette;
use crate::world::{Fault, Request, Requests, Site, Twin};

/// A button and what it asks for.
#[derive(Component, Debug, Clone)]
pub struct Control(pub Request);

#[derive(Component)]
pub struct Clock;

#[derive(Component)]
pub struct Ticker;

/// The unbalance gauge's bar and its figures.
#[derive(Component)]
pub struct Gauge;

#[derive(Component)]
pub struct GaugeText;

/// The gauge's full scale: current unbalance, %.
pub const GAUGE_FULL_PCT: f64 = 50.0;
const GAUGE_W: f32 = 220.0;

pub fn spawn(mut commands: Commands, mut twin: ResMut<Twin>) {
    let feeder = matches!(twin.site(), Site::Feeder(_));
    let font = |size: f32| (TextFont::from_font_size(size), TextColor(palette::TEXT));
    let mut buttons = vec![
        ("Pause", Request::Pause),
        ("Step", Request::Step),
        ("Slower", Request::Slower),
        ("Faster", Request::Faster),
        ("Cut mains", Request::Fault(Fault::CutMains)),
        ("Surge", Request::Fault(Fault::Surge)),
    ];
    if feeder {
        buttons.push(("Link loss", Request::Fault(Fault::LinkLoss)));
    } else {
        buttons.push(("Short", Request::Fault(Fault::Short)));
    }
    commands
        .spawn(Node {
            position_type: PositionType::Absolute,
            top: px(8),
            left: px(8),
            flex_direction: FlexDirection::Column,
            row_gap: px(6),
            ..default()
        })
        .with_children(|panel| {
            panel.spawn((Text::new(""), font(15.0), Clock));
            panel
                .spawn(Node {
                    flex_direction: FlexDirection::Row,
                    column_gap: px(6),
                    ..default()
                })
                .with_children(|row| {
                    for (label, request) in buttons {
                        row.spawn((
                            Button,
                            Node {
                                padding: UiRect::axes(px(8), px(4)),
                                ..default()
                            },
                            BackgroundColor(palette::IDLE),
                            Control(request),
                        ))
                        .with_child((Text::new(label), font(13.0)));
                    }
                });
        });
    commands.spawn((
        Text::new(""),
        font(13.0),
        Node {
            position_type: PositionType::Absolute,
            bottom: px(8),
            left: px(8),
            ..default()
        },
        Ticker,
    ));
    if feeder {
        commands
            .spawn(Node {
                position_type: PositionType::Absolute,
                top: px(8),
                right: px(8),
                flex_direction: FlexDirection::Column,
                row_gap: px(4),
                ..default()
            })
            .with_children(|g| {
                g.spawn((Text::new(""), font(13.0), GaugeText));
                g.spawn((
                    Node {
                        width: px(GAUGE_W),
                        height: px(12),
                        ..default()
                    },
                    BackgroundColor(palette::DEAD),
                ))
                .with_child((
                    Node {
                        width: px(0),
                        height: percent(100),
                        ..default()
                    },
                    BackgroundColor(palette::LIVE),
                    Gauge,
                ));
            });
    }
}

/// A pressed button's request.
pub fn buttons(
    pressed: Query<(&Interaction, &Control), Changed<Interaction>>,
    mut requests: ResMut<Requests>,
) {
    for (i, c) in &pressed {
        if *i == Interaction::Pressed {
            requests.0.push(c.0.clone());
        }
    }
}

/// Space pauses, period steps, +/- change speed.
pub fn keys(keys: Option<Res<ButtonInput<KeyCode>>>, mut requests: ResMut<Requests>) {
    let Some(keys) = keys else { return };
    for (k, r) in [
        (KeyCode::Space, Request::Pause),
        (KeyCode::Period, Request::Step),
        (KeyCode::BracketRight, Request::Faster),
        (KeyCode::BracketLeft, Request::Slower),
    ] {
        if keys.just_pressed(k) {
            requests.0.push(r);
        }
    }
}

/// The clock, the ticker and the gauge from the twin.
pub fn texts(
    mut twin: ResMut<Twin>,
    mut clock: Query<&mut Text, (With<Clock>, Without<Ticker>, Without<GaugeText>)>,
    mut ticker: Query<&mut Text, (With<Ticker>, Without<GaugeText>)>,
    mut gauge_text: Query<&mut Text, With<GaugeText>>,
    mut gauge: Query<(&mut Node, &mut BackgroundColor), With<Gauge>>,
) {
    let t = twin.now_s();
    let line = format!(
        "{}   t = {:.1} s   {}x{}{}",
        twin.name,
        t,
        twin.speed,
        if twin.paused { "   PAUSED" } else { "" },
        twin.refusal
            .as_ref()
            .map_or(String::new(), |r| format!("   ({r})")),
    );
    for mut c in &mut clock {
        c.0.clone_from(&line);
    }
    let log = twin.ticker.join("\n");
    for mut c in &mut ticker {
        c.0.clone_from(&log);
    }
    let Site::Feeder(f) = twin.site() else { return };
    let Some(head) = f.last.as_ref().and_then(|r| r.heads.first()) else {
        return;
    };
    let (pct, neutral) = (head.unbalance_pct, head.neutral_a);
    for mut g in &mut gauge_text {
        g.0 = format!("unbalance {pct:.1} %   neutral {neutral:.1} A");
    }
    for (mut node, mut color) in &mut gauge {
        let share = (pct / GAUGE_FULL_PCT).clamp(0.0, 1.0);
        node.width = px(GAUGE_W * share as f32);
        color.0 = palette::loading(share);
    }
}

/// Pan and zoom the camera.
pub fn camera(
    scroll: Res<AccumulatedMouseScroll>,
    motion: Res<AccumulatedMouseMotion>,
    mouse: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    camera: Single<(&mut Transform, &mut Projection), With<Camera2d>>,
) {
    let (mut at, mut projection) = camera.into_inner();
    let Projection::Orthographic(o) = &mut *projection else {
        return;
    };
    let mut zoom = 1.0 - 0.1 * scroll.delta.y.clamp(-5.0, 5.0);
    let step = 1.0 + 2.0 * time.delta_secs();
    if keys.pressed(KeyCode::Equal) {
        zoom /= step;
    }
    if keys.pressed(KeyCode::Minus) {
        zoom *= step;
    }
    o.scale = (o.scale * zoom).clamp(0.05, 20.0);
    let mut pan = Vec2::ZERO;
    if mouse.pressed(MouseButton::Right) || mouse.pressed(MouseButton::Middle) {
        pan += Vec2::new(-motion.delta.x, motion.delta.y);
    }
    let speed = 500.0 * time.delta_secs();
    for (k, d) in [
        (KeyCode::ArrowLeft, Vec2::NEG_X),
        (KeyCode::ArrowRight, Vec2::X),
        (KeyCode::ArrowUp, Vec2::Y),
        (KeyCode::ArrowDown, Vec2::NEG_Y),
    ] {
        if keys.pressed(k) {
            pan += d * speed;
        }
    }
    at.translation += (pan * o.scale).extend(0.0);
}
