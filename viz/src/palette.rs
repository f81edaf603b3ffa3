//! The window's colours: what each state looks like, kept apart so that the screenshot check
//! and the tests know what to look for.

use bevy::color::Color;
use control_core::LoadStatus;

pub const BACKGROUND: Color = Color::srgb(0.09, 0.10, 0.12);
/// Energized: a live source, a closed contact, a load on.
pub const LIVE: Color = Color::srgb(0.18, 0.72, 0.35);
/// Available but not feeding, or a load off by choice.
pub const IDLE: Color = Color::srgb(0.38, 0.40, 0.44);
pub const DEAD: Color = Color::srgb(0.16, 0.17, 0.19);
pub const WAITING: Color = Color::srgb(0.85, 0.75, 0.25);
pub const SHED: Color = Color::srgb(0.95, 0.55, 0.15);
pub const TRIPPED: Color = Color::srgb(0.90, 0.20, 0.20);
pub const LOCKED_OUT: Color = Color::srgb(0.60, 0.10, 0.45);
pub const TEXT: Color = Color::srgb(0.92, 0.93, 0.95);
/// Homes by phase: A, B, C (IEC 60446's brown, black and grey read badly on a dark screen;
/// these are the common red, yellow, blue of the older British convention).
pub const PHASES: [Color; 3] = [
    Color::srgb(0.90, 0.25, 0.22),
    Color::srgb(0.95, 0.80, 0.20),
    Color::srgb(0.25, 0.50, 0.95),
];

/// A load's tile.
pub fn load_status(s: LoadStatus) -> Color {
    match s {
        LoadStatus::On => LIVE,
        LoadStatus::Off => IDLE,
        LoadStatus::Waiting => WAITING,
        LoadStatus::Shed => SHED,
        LoadStatus::Tripped => TRIPPED,
        LoadStatus::LockedOut => LOCKED_OUT,
    }
}

/// A source's block: feeding, available, or dead (locked out shows as tripped).
pub fn source(closed: bool, available: bool, locked_out: bool) -> Color {
    match (locked_out, closed, available) {
        (true, _, _) => LOCKED_OUT,
        (_, true, _) => LIVE,
        (_, false, true) => IDLE,
        _ => DEAD,
    }
}

/// A bus voltage in pu as a heat map: blue at 0.90 and below, green at 1.00, red at 1.10 and
/// above (EN 50160's ±10 % band), black when dead.
pub fn voltage(pu: f64) -> Color {
    if pu < 0.5 {
        return DEAD;
    }
    let x = ((pu - 0.9) / 0.2).clamp(0.0, 1.0) as f32;
    if x < 0.5 {
        mix([0.20, 0.45, 1.00], [0.20, 0.85, 0.35], x * 2.0)
    } else {
        mix([0.20, 0.85, 0.35], [1.00, 0.25, 0.20], (x - 0.5) * 2.0)
    }
}

/// A line's loading (current over its hottest line's) from grey through amber to red.
pub fn loading(share: f64) -> Color {
    let x = share.clamp(0.0, 1.0) as f32;
    if x < 0.5 {
        mix([0.35, 0.37, 0.42], [0.95, 0.70, 0.20], x * 2.0)
    } else {
        mix([0.95, 0.70, 0.20], [1.00, 0.20, 0.15], (x - 0.5) * 2.0)
    }
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> Color {
    Color::srgb(
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    )
}

/// The colour as 8-bit sRGB, as a screenshot stores it.
pub fn rgb8(c: Color) -> [u8; 3] {
    let s = c.to_srgba();
    [s.red, s.green, s.blue].map(|x| (x.clamp(0.0, 1.0) * 255.0).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_load_status_has_its_own_colour() {
        let all = [
            LoadStatus::Off,
            LoadStatus::On,
            LoadStatus::Waiting,
            LoadStatus::Shed,
            LoadStatus::Tripped,
            LoadStatus::LockedOut,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(rgb8(load_status(*a)), rgb8(load_status(*b)), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn the_heat_map_runs_blue_green_red_across_the_band() {
        assert_eq!(rgb8(voltage(0.85)), [51, 115, 255]);
        assert_eq!(rgb8(voltage(1.00)), [51, 217, 89]);
        assert_eq!(rgb8(voltage(1.12)), [255, 64, 51]);
        assert_eq!(rgb8(voltage(0.0)), rgb8(DEAD));
        // Monotonic in red as the voltage rises above nominal.
        let reds: Vec<u8> = [1.0, 1.03, 1.06, 1.09]
            .map(|v| rgb8(voltage(v))[0])
            .to_vec();
        assert!(reds.windows(2).all(|w| w[0] < w[1]), "{reds:?}");
    }
}
