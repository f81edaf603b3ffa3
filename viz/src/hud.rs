//! The panel over the grid: the clock and speed, buttons (pause, step, slower, faster, and
//! faults: cut mains, surge, short, link loss), the event ticker, a feeder's unbalance gauge;
//! keyboard shortcuts; pan (right or middle drag, arrows) and zoom (wheel, +/-).

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll};
use bevy::prelude::*;

use crate::palette;
use crate::world::{Fault, Request, Requests, Twin};
use controller::run::SiteLoop;

/// A button and what it asks for.
#[derive(Component, Debug, Clone)]
pub struct Control(pub Request);

/// A line of the panel's text.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readout {
    /// The scenario, the simulated time, the speed.
    Clock,
    /// The newest events.
    Ticker,
    /// The unbalance gauge's figures.
    Gauge,
}

/// The unbalance gauge's bar.
#[derive(Component)]
pub struct Gauge;

/// The gauge's full scale: current unbalance, %.
pub const GAUGE_FULL_PCT: f64 = 50.0;
const GAUGE_W: f32 = 220.0;

pub fn spawn(mut commands: Commands, mut twin: ResMut<Twin>) {
    let feeder = matches!(twin.site(), SiteLoop::Feeder(_));
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
            panel.spawn((Text::new(""), font(15.0), Readout::Clock));
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
        Readout::Ticker,
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
                g.spawn((Text::new(""), font(13.0), Readout::Gauge));
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
                g.spawn((
                    Text::new(
                        "buses: voltage, blue 0.90, green 1.00, red 1.10 pu\n\
                         lines: width and colour by current, red the heaviest\n\
                         homes: phase A red, B yellow, C blue",
                    ),
                    font(12.0),
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

/// Space pauses, period steps, `]` and `[` change speed.
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
    mut texts: Query<(&Readout, &mut Text)>,
    mut gauge: Query<(&mut Node, &mut BackgroundColor), With<Gauge>>,
) {
    let t = twin.now_s();
    let clock = format!(
        "{}   t = {:.1} s   {}x{}{}",
        twin.name,
        t,
        twin.speed,
        if twin.paused { "   PAUSED" } else { "" },
        twin.refusal
            .as_ref()
            .map_or(String::new(), |r| format!("   ({r})")),
    );
    let ticker = twin.ticker.join("\n");
    let head = match twin.site() {
        SiteLoop::Feeder(f) => f
            .last_reading()
            .and_then(|r| r.heads.first().map(|h| (h.unbalance_pct, h.neutral_a))),
        SiteLoop::Pdu(_) | SiteLoop::Field(_) => None,
    };
    let figures =
        head.map(|(pct, neutral)| format!("unbalance {pct:.1} %   neutral {neutral:.1} A"));
    // Text is laid out again whenever it is written: write only what changed.
    for (r, mut text) in &mut texts {
        let line = match r {
            Readout::Clock => &clock,
            Readout::Ticker => &ticker,
            Readout::Gauge => match &figures {
                Some(f) => f,
                None => continue,
            },
        };
        if text.0 != *line {
            text.0.clone_from(line);
        }
    }
    let Some((pct, _)) = head else { return };
    let share = (pct / GAUGE_FULL_PCT).clamp(0.0, 1.0);
    let width = px(GAUGE_W * share as f32);
    for (mut node, mut color) in &mut gauge {
        if node.width != width {
            node.width = width;
            color.0 = palette::loading(share);
        }
    }
}

/// Pan and zoom the camera (touched only when moved: a changed camera costs a frame's work).
pub fn camera(
    scroll: Res<AccumulatedMouseScroll>,
    motion: Res<AccumulatedMouseMotion>,
    mouse: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    time: Res<Time>,
    camera: Single<(&mut Transform, &mut Projection), With<Camera2d>>,
) {
    let (mut at, mut projection) = camera.into_inner();
    let mut zoom = 1.0 - 0.1 * scroll.delta.y.clamp(-5.0, 5.0);
    let step = 1.0 + 2.0 * time.delta_secs();
    if keys.pressed(KeyCode::Equal) {
        zoom /= step;
    }
    if keys.pressed(KeyCode::Minus) {
        zoom *= step;
    }
    if zoom != 1.0
        && let Projection::Orthographic(o) = &mut *projection
    {
        o.scale = (o.scale * zoom).clamp(0.05, 20.0);
    }
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
    if pan != Vec2::ZERO {
        let scale = match &*projection {
            Projection::Orthographic(o) => o.scale,
            _ => 1.0,
        };
        at.translation += (pan * scale).extend(0.0);
    }
}
