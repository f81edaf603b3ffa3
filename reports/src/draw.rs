//! The charts drawn with plotters, to SVG or PNG, in the font shipped in `assets/fonts`.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::charts::{Body, Chart, FONT, Lane, Line, Panel, TimeAxis};

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 300;
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in: failing to parse it is a build defect, not bad input.
            assert!(
                plotters::style::register_font(FONT, style, font).is_ok(),
                "the shipped font parses"
            );
        }
    });
}

impl Chart {
    /// Pixel size: a fixed width, a fixed height per panel (the timeline grows with its lanes).
    pub fn size(&self) -> (u32, u32) {
        let h = match &self.body {
            Body::Panels { panels, .. } => 60 + PANEL_HEIGHT * panels.len() as u32,
            Body::Timeline { lanes } => 110 + 24 * lanes.len().max(1) as u32,
            Body::Bars { .. } => 60 + PANEL_HEIGHT,
        };
        (WIDTH, h)
    }

    pub fn svg(&self, axis: &TimeAxis) -> Result<String, String> {
        register_font();
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, self.size()).into_drawing_area();
            self.draw(&root, axis).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    pub fn png(&self, axis: &TimeAxis, path: &Path) -> Result<(), String> {
        register_font();
        let root = BitMapBackend::new(path, self.size()).into_drawing_area();
        self.draw(&root, axis).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    }

    /// Into an RGB buffer of `size()` pixels (3 bytes each).
    pub fn rgb(&self, axis: &TimeAxis) -> Result<Vec<u8>, String> {
        register_font();
        let (w, h) = self.size();
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            self.draw(&root, axis).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(buf)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        axis: &TimeAxis,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, (FONT, 20))?;
        match &self.body {
            Body::Panels { panels, markers } => {
                let areas = root.split_evenly((panels.len().max(1), 1));
                for (i, (panel, area)) in panels.iter().zip(&areas).enumerate() {
                    let last = i + 1 == panels.len();
                    draw_panel(area, panel, markers, axis, last)?;
                }
            }
            Body::Timeline { lanes } => draw_timeline(&root, lanes, axis)?,
            Body::Bars { y_label, bars } => draw_bars(&root, y_label, bars, axis)?,
        }
        Ok(())
    }
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    markers: &[f64],
    axis: &TimeAxis,
    last: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    // Stacked lines become cumulative sums over the lines below them.
    let lines: Vec<Line> = if panel.stacked {
        let mut acc: Vec<Line> = Vec::new();
        for l in &panel.lines {
            let points = l
                .points
                .iter()
                .map(|&(x, y)| {
                    let below = acc
                        .last()
                        .and_then(|b: &Line| b.points.iter().find(|p| p.0 == x).map(|p| p.1));
                    (x, y + below.unwrap_or(0.0))
                })
                .collect();
            acc.push(Line {
                label: l.label.clone(),
                points,
            });
        }
        acc
    } else {
        panel.lines.clone()
    };
    let finite = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if panel.stacked {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3).max(1e-6);
    let (lo, hi) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(if last { 36 } else { 12 })
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..axis.end(), lo..hi)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(panel.y_label.as_str())
        .label_style((FONT, 13))
        .light_line_style(RGBColor(238, 238, 238));
    if last {
        mesh.x_desc(format!("time, {}", axis.unit));
    } else {
        mesh.x_labels(0);
    }
    mesh.draw()?;
    let mark = RGBColor(200, 80, 80).mix(0.35);
    for (i, &t) in markers.iter().enumerate() {
        let series = chart.draw_series(LineSeries::new([(t, lo), (t, hi)], mark))?;
        if i == 0 {
            series
                .label("events")
                .legend(move |(x, y)| PathElement::new([(x + 7, y - 6), (x + 7, y + 6)], mark));
        }
    }
    // Stacked: the top line first, each lower area painting over the one above's base.
    let order: Vec<usize> = if panel.stacked {
        (0..lines.len()).rev().collect()
    } else {
        (0..lines.len()).collect()
    };
    for i in order {
        let l = &lines[i];
        let c = color(i);
        let points = l.points.iter().copied().filter(|p| p.1.is_finite());
        let series = if panel.stacked {
            // Opaque, so that a layer does not tint through the one above it.
            chart.draw_series(AreaSeries::new(points, 0.0, lighter(c)).border_style(c))?
        } else {
            chart.draw_series(LineSeries::new(points, c.stroke_width(1)))?
        };
        series
            .label(l.label.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], c.filled()));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// A colour a third of the way to white.
fn lighter(c: RGBColor) -> RGBColor {
    let up = |x: u8| x + ((255 - x) as f64 / 3.0) as u8;
    RGBColor(up(c.0), up(c.1), up(c.2))
}

fn severity_color(s: &str) -> RGBColor {
    match s {
        "info" => RGBColor(31, 119, 180),
        "warning" => RGBColor(255, 127, 14),
        _ => RGBColor(214, 39, 40),
    }
}

fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    y_label: &str,
    bars: &[(f64, f64, f64)],
    axis: &TimeAxis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let most = bars.iter().map(|b| b.2).fold(0.0, f64::max);
    let least = bars.iter().map(|b| b.2).fold(0.0, f64::min);
    let pad = ((most - least) * 0.08).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..axis.end(), (least - pad)..(most + pad))?;
    chart
        .configure_mesh()
        .x_desc(format!("time, {}", axis.unit))
        .y_desc(y_label)
        .label_style((FONT, 13))
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    let peak = bars.iter().position(|b| b.2 >= most - 1e-9 * most.abs());
    chart.draw_series(bars.iter().enumerate().map(|(i, &(x0, x1, y))| {
        let c = if Some(i) == peak {
            PALETTE[3]
        } else {
            PALETTE[0]
        };
        Rectangle::new([(x0, 0.0), (x1, y)], lighter(c).filled())
    }))?;
    Ok(())
}

fn draw_timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lanes: &[Lane],
    axis: &TimeAxis,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = lanes.len().max(1);
    let longest = lanes.iter().map(|l| l.subject.len()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size((longest * 8 + 16).min(220))
        .build_cartesian_2d(0.0..axis.end(), -0.5..(n as f64 - 0.5))?;
    chart
        .configure_mesh()
        .x_desc(format!("time, {}", axis.unit))
        .y_labels(n)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            lanes
                .get(i as usize)
                .map(|l| l.subject.clone())
                .unwrap_or_default()
        })
        .label_style((FONT, 13))
        .disable_y_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .draw()?;
    for (i, lane) in lanes.iter().enumerate() {
        chart.draw_series(lane.marks.iter().map(|(t, sev)| {
            let c = severity_color(sev);
            Rectangle::new(
                [(*t, i as f64 - 0.3), (*t, i as f64 + 0.3)],
                c.stroke_width(2),
            )
        }))?;
        chart.draw_series(
            lane.marks
                .iter()
                .map(|(t, sev)| Circle::new((*t, i as f64), 3, severity_color(sev).filled())),
        )?;
    }
    Ok(())
}
