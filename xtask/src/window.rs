//! The window test: `gridtwin viz` runs a scenario for a number of frames in a real window
//! under Xvfb (Mesa's software Vulkan) and saves a screenshot through Bevy's screenshot API;
//! the screenshot must not be blank, and each known element must show, where it was drawn, the
//! colour the state it is in should have.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian packages a window needs on a machine with no display or GPU.
pub const PACKAGES: [&str; 4] = ["xvfb", "xauth", "mesa-vulkan-drivers", "libvulkan1"];

/// What the window test expects in each scenario: (probe name, colour it must have).
/// The colours are `viz::palette`'s, as 8-bit sRGB.
const LIVE: [u8; 3] = [46, 184, 89];
const IDLE: [u8; 3] = [97, 102, 112];
const DEAD: [u8; 3] = [41, 43, 48];
const PHASE_A: [u8; 3] = [230, 64, 56];

pub struct Case {
    pub scenario: &'static str,
    pub frames: u32,
    pub speed: f64,
    pub expect: &'static [(&'static str, [u8; 3])],
}

/// The demo PDU 60 s in (every load on, on the main; the generator stopped) and the European LV
/// feeder at 100x (its transformer live, load1 on phase A).
pub const CASES: [Case; 2] = [
    Case {
        scenario: "outage_generator_start.ron",
        frames: 90,
        speed: 20.0,
        expect: &[
            ("main", LIVE),
            ("main contactor", LIVE),
            ("backup", DEAD),
            ("backup contactor", IDLE),
            ("bus", LIVE),
            ("load server", LIVE),
            ("load fridge", LIVE),
        ],
    },
    Case {
        scenario: "feeder_lv_day.ron",
        frames: 120,
        speed: 100.0,
        expect: &[("transformer", LIVE), ("home load1", PHASE_A)],
    },
];

/// Runs one case with `gridtwin` and checks its screenshot; returns the frame rate line.
pub fn check(gridtwin: &Path, scenarios: &Path, out: &Path, case: &Case) -> Result<String, String> {
    let png = out.join(case.scenario.replace(".ron", ".png"));
    let _ = std::fs::remove_file(&png);
    let result = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(gridtwin)
        .arg("viz")
        .arg(scenarios.join(case.scenario))
        .args(["--speed", &case.speed.to_string()])
        .args(["--frames", &case.frames.to_string()])
        .arg("--screenshot")
        .arg(&png)
        .output()
        .map_err(|e| format!("xvfb-run: {e}"))?;
    let stdout = String::from_utf8_lossy(&result.stdout).to_string();
    if !result.status.success() {
        return Err(format!(
            "{}: {}\n{stdout}{}",
            case.scenario,
            result.status,
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    let (w, h, rgb) = decode(&png)?;
    blank(&rgb).map_err(|e| format!("{}: {e}", png.display()))?;
    let probes = probes(&PathBuf::from(format!("{}.probes.json", png.display())))?;
    for (name, want) in case.expect {
        let Probe {
            x, y, rgb: drawn, ..
        } = *probes
            .iter()
            .find(|p| p.name == *name)
            .ok_or_else(|| format!("{}: no probe {name:?}", case.scenario))?;
        if drawn != *want {
            return Err(format!(
                "{}: {name} was drawn {drawn:?}, expected {want:?}",
                case.scenario
            ));
        }
        if !(1..w as i64 - 1).contains(&x) || !(1..h as i64 - 1).contains(&y) {
            return Err(format!(
                "{}: {name} at ({x}, {y}) is off screen",
                case.scenario
            ));
        }
        // Most of the 3x3 pixels around the probe: a one-pixel line drawn across the shape
        // covers at most three of them.
        let at = |dx: i64, dy: i64| {
            let k = ((y + dy) as usize * w + (x + dx) as usize) * 3;
            [rgb[k], rgb[k + 1], rgb[k + 2]]
        };
        let around: Vec<[u8; 3]> = (-1..=1)
            .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
            .map(|(dx, dy)| at(dx, dy))
            .collect();
        if around.iter().filter(|p| near(**p, *want)).count() < 5 {
            return Err(format!(
                "{}: {name} at ({x}, {y}) shows {:?}, expected {want:?}",
                case.scenario,
                at(0, 0)
            ));
        }
    }
    Ok(stdout
        .lines()
        .find(|l| l.starts_with("viz:"))
        .unwrap_or("viz: no frame rate printed")
        .to_string())
}

/// Within a few levels per channel (the renderer's rounding and dithering).
fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6)
}

/// Not one colour, and not almost all background.
fn blank(rgb: &[u8]) -> Result<(), String> {
    let first = [rgb[0], rgb[1], rgb[2]];
    let same = rgb
        .chunks(3)
        .filter(|p| near([p[0], p[1], p[2]], first))
        .count();
    let total = rgb.len() / 3;
    if same * 100 > total * 97 {
        return Err(format!("blank: {same} of {total} pixels are {first:?}"));
    }
    Ok(())
}

fn decode(path: &Path) -> Result<(usize, usize, Vec<u8>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut d = png::Decoder::new(std::io::BufReader::new(file));
    d.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = d.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("{}: too large", path.display()))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let (w, h) = (info.width as usize, info.height as usize);
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf[..w * h * 3].to_vec(),
        png::ColorType::Rgba => buf[..w * h * 4]
            .chunks(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        other => {
            return Err(format!(
                "{}: unexpected colour type {other:?}",
                path.display()
            ));
        }
    };
    Ok((w, h, rgb))
}

/// Where `viz::capture` says an element was drawn (window pixels) and its colour.
struct Probe {
    name: String,
    x: i64,
    y: i64,
    rgb: [u8; 3],
}

fn probes(path: &Path) -> Result<Vec<Probe>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = || format!("{}: a malformed probe", path.display());
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|p| {
            let rgb: Vec<u8> = p["rgb"]
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .filter_map(|x| u8::try_from(x.as_u64()?).ok())
                .collect();
            Ok(Probe {
                name: p["name"].as_str().ok_or_else(bad)?.to_string(),
                x: p["x"].as_i64().ok_or_else(bad)?,
                y: p["y"].as_i64().ok_or_else(bad)?,
                rgb: rgb.try_into().map_err(|_| bad())?,
            })
        })
        .collect()
}
