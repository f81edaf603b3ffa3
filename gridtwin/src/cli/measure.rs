//! `gridtwin measure FILE.csv --rate HZ`: a captured waveform through the measurement core,
//! one line per IEC 61000-4-30 window and one for the whole file, or JSON.

use std::path::PathBuf;

use controller::capture::{self, Report, Row};

use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// Sample rate, samples per second.
    #[arg(long)]
    rate: f64,
    /// Nominal frequency: picks the window length.
    #[arg(long, value_enum, default_value = "50")]
    nominal: Nominal,
    /// JSON instead of a table (THD as a fraction; times in seconds).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Nominal {
    #[value(name = "50")]
    Hz50,
    #[value(name = "60")]
    Hz60,
}

impl Nominal {
    fn hz(self) -> f64 {
        match self {
            Nominal::Hz50 => 50.0,
            Nominal::Hz60 => 60.0,
        }
    }
}

pub fn run(a: Args) -> Outcome {
    if !(a.rate.is_finite() && a.rate > 0.0) {
        return Err(Failure::BadInput(format!(
            "--rate must be a number of samples per second > 0, found {}",
            a.rate
        )));
    }
    let file = a.file.display();
    let bytes = std::fs::read(&a.file).map_err(|e| Failure::BadInput(format!("{file}: {e}")))?;
    let (v, i) = capture::parse(&bytes).map_err(|e| Failure::BadInput(format!("{file}:{e}")))?;
    let r = capture::measure(&v, &i, a.rate, a.nominal.hz())
        .map_err(|e| Failure::BadInput(format!("{file}: {e}")))?;
    if a.json {
        let text = serde_json::to_string_pretty(&r).map_err(|e| Failure::Failed(e.to_string()))?;
        super::print(&text);
    } else {
        super::print(&render(&r));
    }
    Ok(Verdict::Passed)
}

/// The text table: one line per window, then the whole-file line.
pub fn render(r: &Report) -> String {
    let mut out = format!(
        "{:>9} {:>9} {:>8} {:>8} {:>10} {:>10} {:>10} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>8}\n",
        "t_start",
        "t_end",
        "vrms",
        "irms",
        "p",
        "q1",
        "s",
        "pf",
        "dpf",
        "crest_v",
        "crest_i",
        "thd_v",
        "thd_i",
        "freq"
    );
    let line = |label: Option<&str>, x: &Row| {
        let w = &x.window;
        let start = label.map_or(format!("{:>9.4}", x.t_start), |l| format!("{l:>9}"));
        format!(
            "{start} {:>9.4} {:>8.3} {:>8.4} {:>10.2} {:>10.2} {:>10.2} {:>6.4} {:>6.4} {:>7.4} {:>7.4} {:>6.4} {:>6.4} {:>8.4}\n",
            x.t_end,
            w.vrms,
            w.irms,
            w.p,
            w.q1,
            w.s,
            w.pf,
            w.dpf,
            w.crest_v,
            w.crest_i,
            w.thd_v,
            w.thd_i,
            w.freq
        )
    };
    for w in &r.windows {
        out += &line(None, w);
    }
    out += &line(Some("all"), &r.total);
    out += &format!(
        "{} samples at {} S/s, {} windows of {} cycles; energy import {:.6} kWh, export {:.6} kWh\n",
        r.samples,
        r.rate,
        r.windows.len(),
        if r.nominal_hz > 55.0 { 12 } else { 10 },
        r.energy.import_kwh(),
        r.energy.export_j / 3.6e6
    );
    out
}
