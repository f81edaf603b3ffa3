//! A captured waveform measured by the measurement core, for users with a scope or logger
//! capture (`gridtwin measure`). The CSV has a header naming columns `v` (volts) and `i` (amps),
//! one row per sample; other columns are ignored. The text comes in read: the file is the
//! caller's.

use serde::Serialize;

use control_core::measurement::{Analyzer, Energy, Window, analyse, zero_crossings};

/// What is wrong with a capture, and on which line.
#[derive(Debug, thiserror::Error)]
#[error("{line}: {message}")]
pub struct CaptureError {
    pub line: u64,
    pub message: String,
}

/// The `v` and `i` columns of a capture's text.
pub fn parse(text: &[u8]) -> Result<(Vec<f64>, Vec<f64>), CaptureError> {
    let at = |line: u64, message: String| CaptureError { line, message };
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text);
    let headers = r.headers().map_err(|e| at(1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            at(
                1,
                format!(
                    "missing column {name:?}; the header has {:?}",
                    headers.iter().collect::<Vec<_>>()
                ),
            )
        })
    };
    let (cv, ci) = (col("v")?, col("i")?);
    let (mut v, mut i) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            at(line, e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let cell = |k: usize, name: &str| {
            let s = rec.get(k).unwrap_or("");
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    at(
                        line,
                        format!("column {name:?}: expected a number, found {s:?}"),
                    )
                })
        };
        v.push(cell(cv, "v")?);
        i.push(cell(ci, "i")?);
    }
    Ok((v, i))
}

/// A window with its edges in seconds from the first sample.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub t_start: f64,
    pub t_end: f64,
    #[serde(flatten)]
    pub window: Window,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rate: f64,
    pub nominal_hz: f64,
    pub samples: usize,
    pub windows: Vec<Row>,
    /// Over every whole cycle in the file.
    pub total: Row,
    pub energy: Energy,
}

fn row(w: Window, rate: f64) -> Row {
    Row {
        t_start: w.start / rate,
        t_end: w.end / rate,
        window: w,
    }
}

pub fn measure(v: &[f64], i: &[f64], rate: f64, nominal_hz: f64) -> Result<Report, String> {
    // Hysteresis from the signal's own scale, so noise near zero is not a cycle.
    let peak = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let crossings = zero_crossings(v, 0.05 * peak);
    if crossings.len() < 2 {
        return Err(format!(
            "too few samples for one cycle: {} samples hold {} positive zero crossings of v, \
             and one cycle needs 2",
            v.len(),
            crossings.len()
        ));
    }
    let mut an = Analyzer::new(rate, nominal_hz);
    let windows = v
        .iter()
        .zip(i)
        .filter_map(|(&x, &y)| an.push(x, y))
        .map(|w| row(w, rate))
        .collect();
    let (a, b) = (crossings[0], crossings[crossings.len() - 1]);
    let cycles = (crossings.len() - 1) as u32;
    let mut energy = Energy::default();
    let total = analyse(v, i, a, b, cycles, rate);
    energy.add(total.p, total.q1, (b - a) / rate);
    Ok(Report {
        rate,
        nominal_hz,
        samples: v.len(),
        windows,
        total: row(total, rate),
        energy,
    })
}
