//! The run's charts as data: each reduced with polars to at most `BUCKETS` points per line (with
//! each bucket's minimum and maximum where a spike must stay visible). `draw` draws them.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::recording::{Recording, collect};
use record::Kind;
use record::schema::{HEAD, member, member_quantity};

/// Points per line: enough for a page-wide chart, few enough to keep the report small.
pub const BUCKETS: usize = 800;
pub const FONT: &str = "DejaVu Sans";
/// Loads drawn on their own in the stacked power chart; the rest are summed as "other".
const STACKED: usize = 8;

/// One chart: panels sharing the time axis, and events marked on every panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub name: &'static str,
    pub title: String,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Panels {
        panels: Vec<Panel>,
        /// Times of events worth a line across every panel.
        markers: Vec<f64>,
    },
    /// One lane per subject, one mark per event.
    Timeline { lanes: Vec<Lane> },
    /// Bars over time: (from, to, value), the highest drawn apart.
    Bars {
        y_label: String,
        bars: Vec<(f64, f64, f64)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Lines are stacked areas, first at the bottom.
    pub stacked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    /// (time in the chart's unit, value); an envelope alternates each bucket's min and max.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub subject: String,
    /// (time, severity).
    pub marks: Vec<(f64, String)>,
}

/// The time axis: seconds scaled to a unit that suits the run's length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub duration_s: f64,
    pub scale: f64,
    pub unit: &'static str,
}

impl TimeAxis {
    pub fn for_duration(duration_s: f64) -> Self {
        let (scale, unit) = if duration_s >= 3.0 * 3600.0 {
            (3600.0, "h")
        } else if duration_s >= 180.0 {
            (60.0, "min")
        } else {
            (1.0, "s")
        };
        TimeAxis {
            duration_s,
            scale,
            unit,
        }
    }

    pub(crate) fn end(&self) -> f64 {
        self.duration_s / self.scale
    }
}

/// Events worth a line across the value charts.
const MARKED: &[&str] = &[
    "outage",
    "restore",
    "transfer",
    "retransfer",
    "trip",
    "lockout",
    "shed",
    "solve_failed",
];

/// Every chart that applies to the recording.
pub fn charts(rec: &Recording) -> PolarsResult<Vec<Chart>> {
    let axis = TimeAxis::for_duration(rec.meta.duration_s);
    let markers: Vec<f64> = rec
        .events
        .iter()
        .filter(|e| MARKED.contains(&e.event.as_str()))
        .map(|e| e.t / axis.scale)
        .collect();
    let site = rec.site.lazy();
    let has = |c: &str| rec.site.has(c);
    let mut out = Vec::new();
    let panels = |panels: Vec<Panel>| Body::Panels {
        panels,
        markers: markers.clone(),
    };
    match rec.meta.kind {
        Kind::Pdu => {
            let volts: Vec<&str> = ["main/v", "backup/v", "bus/v"]
                .into_iter()
                .filter(|c| has(c))
                .collect();
            let hz: Vec<&str> = ["main/hz", "backup/hz", "bus/hz"]
                .into_iter()
                .filter(|c| has(c))
                .collect();
            out.push(Chart {
                name: "voltage",
                title: "Source and bus voltage and frequency".into(),
                body: panels(vec![
                    panel(site.clone(), &axis, &volts, "V", Reduce::Envelope)?,
                    panel(site.clone(), &axis, &hz, "Hz", Reduce::Envelope)?,
                ]),
            });
            out.push(Chart {
                name: "power",
                title: "Power per load, stacked".into(),
                body: panels(vec![stacked_loads(rec, &axis)?]),
            });
            let amps: Vec<&str> = ["main/i", "backup/i"]
                .into_iter()
                .filter(|c| has(c))
                .collect();
            if !amps.is_empty() {
                out.push(Chart {
                    name: "currents",
                    title: "Source currents".into(),
                    body: panels(vec![panel(
                        site.clone(),
                        &axis,
                        &amps,
                        "A",
                        Reduce::Envelope,
                    )?]),
                });
            }
        }
        Kind::Feeder => {
            out.push(Chart {
                name: "voltage",
                title: "Lowest and highest load voltage".into(),
                body: panels(vec![panel(
                    site.clone(),
                    &axis,
                    &["feeder/v_min", "feeder/v_max"],
                    "pu",
                    Reduce::Envelope,
                )?]),
            });
            out.push(Chart {
                name: "power",
                title: "Load demand per phase, stacked".into(),
                body: panels(vec![stacked_phases(rec, &axis)?]),
            });
            let names = rec.site.names();
            let (heads, all) = rec.heads_shown()?;
            let mut current_panels = Vec::new();
            for h in &heads {
                let cols: Vec<String> = names
                    .iter()
                    .filter(|n| {
                        member_quantity(HEAD, h, n)
                            .is_some_and(|q| q.starts_with("i_") || q == "neutral")
                    })
                    .cloned()
                    .collect();
                let cols: Vec<&str> = cols.iter().map(String::as_str).collect();
                current_panels.push(panel(
                    site.clone(),
                    &axis,
                    &cols,
                    &format!("bus {h}, A"),
                    Reduce::Mean,
                )?);
            }
            if !current_panels.is_empty() {
                out.push(Chart {
                    name: "currents",
                    title: if heads.len() < all {
                        format!(
                            "Transformer phase and neutral currents, the {} most loaded of {all}",
                            heads.len()
                        )
                    } else {
                        "Transformer phase and neutral currents".into()
                    },
                    body: panels(current_panels),
                });
            }
            // Apart: a VUF of tenths of a per cent beside current unbalance of tens.
            let currents: Vec<String> =
                heads.iter().map(|h| member(HEAD, h, "unbalance")).collect();
            let currents: Vec<&str> = currents
                .iter()
                .map(String::as_str)
                .filter(|c| has(c))
                .collect();
            out.push(Chart {
                name: "unbalance",
                title: "Voltage unbalance (worst bus) and transformer current unbalance".into(),
                body: panels(vec![
                    panel(site.clone(), &axis, &["feeder/vuf"], "VUF, %", Reduce::Mean)?,
                    panel(
                        site.clone(),
                        &axis,
                        &currents,
                        "current unbalance, %",
                        Reduce::Mean,
                    )?,
                ]),
            });
        }
    }
    out.push(Chart {
        name: "events",
        title: "Event timeline".into(),
        body: Body::Timeline {
            lanes: lanes(rec, &axis),
        },
    });
    // A run that recorded little (a feeder that never solved) leaves some charts empty.
    for c in &mut out {
        if let Body::Panels { panels, .. } = &mut c.body {
            panels.retain(|p| !p.lines.is_empty());
        }
    }
    out.retain(|c| !matches!(&c.body, Body::Panels { panels, .. } if panels.is_empty()));
    Ok(out)
}

/// The 15-minute demand windows as bars; none for a run without energy registers.
pub fn demand(windows: &[(f64, f64)], axis: &TimeAxis) -> Option<Chart> {
    if windows.is_empty() {
        return None;
    }
    // A window ends where the next starts (they follow the wall clock, not the run's start).
    let ends = windows.iter().skip(1).map(|w| w.0).chain([axis.duration_s]);
    let bars = windows
        .iter()
        .zip(ends)
        .map(|(&(start, kw), end)| (start / axis.scale, end / axis.scale, kw))
        .collect();
    Some(Chart {
        name: "demand",
        title: "15-minute demand (the peak in red)".into(),
        body: Body::Bars {
            y_label: "kW".into(),
            bars,
        },
    })
}

/// Those of `cols` the table has.
fn present<'a>(lf: &LazyFrame, cols: &[&'a str]) -> PolarsResult<Vec<&'a str>> {
    let schema = lf.clone().collect_schema()?;
    Ok(cols
        .iter()
        .copied()
        .filter(|c| schema.contains(c))
        .collect())
}

fn bucketed(lf: LazyFrame, axis: &TimeAxis) -> LazyFrame {
    let width = (axis.duration_s / BUCKETS as f64).max(f64::MIN_POSITIVE);
    lf.with_column(
        (col("t") / lit(width))
            .cast(DataType::Int64)
            .alias("bucket"),
    )
}

fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<f64>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// How a panel reduces each bucket of rows to points.
#[derive(Clone, Copy)]
enum Reduce {
    /// The bucket's minimum and maximum, one after the other: a one-cycle sag in a day still
    /// shows.
    Envelope,
    Mean,
}

/// One line per column of `site` that exists, reduced to at most `BUCKETS` buckets.
fn panel(
    site: LazyFrame,
    axis: &TimeAxis,
    cols: &[&str],
    unit: &str,
    how: Reduce,
) -> PolarsResult<Panel> {
    let cols = &present(&site, cols)?[..];
    let mut aggs = vec![col("t").min().alias("t")];
    for c in cols {
        aggs.push(col(*c).min().alias(format!("{c}_min")));
        aggs.push(col(*c).max().alias(format!("{c}_max")));
        aggs.push(col(*c).mean().alias(format!("{c}_mean")));
    }
    let df = collect(bucketed(site, axis).group_by([col("bucket")]).agg(aggs))?
        .sort(["bucket"], Default::default())?;
    let t: Vec<f64> = f64s(&df, "t")?.iter().map(|t| t / axis.scale).collect();
    let mut lines = Vec::new();
    for c in cols {
        let points = match how {
            Reduce::Envelope => {
                let lo = f64s(&df, &format!("{c}_min"))?;
                let hi = f64s(&df, &format!("{c}_max"))?;
                (0..t.len())
                    .flat_map(|i| [(t[i], lo[i]), (t[i], hi[i])])
                    .collect()
            }
            Reduce::Mean => t
                .iter()
                .copied()
                .zip(f64s(&df, &format!("{c}_mean"))?)
                .collect(),
        };
        lines.push(Line {
            label: label_of(c),
            points,
        });
    }
    Ok(Panel {
        y_label: unit.into(),
        lines,
        stacked: false,
    })
}

/// Readable names for recorded columns.
fn label_of(c: &str) -> String {
    let fixed = match c {
        "main/v" | "main/hz" | "main/i" => "main",
        "backup/v" | "backup/hz" | "backup/i" => "backup",
        "bus/v" | "bus/hz" => "bus",
        "feeder/v_min" => "lowest",
        "feeder/v_max" => "highest",
        "feeder/vuf" => "VUF, worst bus",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.into();
    }
    // A transformer's secondary bus is named in the panel's axis, or per line when several.
    match c.strip_prefix("head/").and_then(|r| r.rsplit_once('/')) {
        Some((_, "neutral")) => "neutral".into(),
        Some((bus, "unbalance")) => format!("bus {bus}"),
        Some((_, q)) if q.starts_with("i_") => format!("phase {}", &q[2..]),
        _ => c.into(),
    }
}

/// Mean power per bucket of the loads summed by line, in kW: each bucket's power summed over
/// its rows and the loads `line_of` (from the loads table's `key`) puts on a line, over the
/// instants recorded in it. Grouped by the key as recorded (a few values), so the scan streams
/// and nothing is made per row.
fn power_by(
    rec: &Recording,
    axis: &TimeAxis,
    key: &str,
    labels: &[String],
    line_of: impl Fn(&str) -> Option<usize>,
) -> PolarsResult<Vec<Line>> {
    let df = collect(
        bucketed(rec.loads.lazy(), axis)
            .group_by([col("bucket"), col(key)])
            .agg([(col("p").sum() / lit(1e3)).alias("kw")]),
    )?;
    let instants = collect(
        bucketed(rec.site.lazy(), axis)
            .group_by([col("bucket")])
            .agg([
                col("t").min().alias("t"),
                len().cast(DataType::Float64).alias("n"),
            ]),
    )?
    .sort(["bucket"], Default::default())?;
    let buckets = instants.column("bucket")?.i64()?;
    let row: BTreeMap<i64, usize> = buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((b?, i)))
        .collect();
    let (t, n) = (f64s(&instants, "t")?, f64s(&instants, "n")?);
    let mut sums = vec![vec![None; t.len()]; labels.len()];
    let (bucket, k) = (df.column("bucket")?.i64()?, df.column(key)?.str()?);
    for ((b, k), kw) in bucket.iter().zip(k.iter()).zip(f64s(&df, "kw")?) {
        let (Some(b), Some(line)) = (b.and_then(|b| row.get(&b)), k.and_then(&line_of)) else {
            continue;
        };
        *sums[line][*b].get_or_insert(0.0) += kw;
    }
    Ok(labels
        .iter()
        .zip(sums)
        .map(|(label, sums)| Line {
            label: label.clone(),
            points: sums
                .into_iter()
                .enumerate()
                .filter_map(|(b, kw)| Some((t[b] / axis.scale, kw? / n[b])))
                .collect(),
        })
        .collect())
}

/// The loads with the most energy on their own, the others summed.
fn stacked_loads(rec: &Recording, axis: &TimeAxis) -> PolarsResult<Panel> {
    let top = collect(
        rec.loads
            .lazy()
            .group_by([col("load")])
            .agg([col("energy").max().alias("e")]),
    )?
    .sort(
        ["e", "load"],
        SortMultipleOptions::default().with_order_descending_multi([true, false]),
    )?
    .head(Some(STACKED));
    let mut order: Vec<String> = top
        .column("load")?
        .str()?
        .iter()
        .map(|s| s.unwrap_or_default().to_string())
        .collect();
    let on_its_own = order.len();
    if rec.meta.loads.len() > on_its_own {
        order.push("other".into());
    }
    let others = (order.len() > on_its_own).then_some(on_its_own);
    let lines = power_by(rec, axis, "load", &order, |load| {
        order[..on_its_own]
            .iter()
            .position(|o| o == load)
            .or(others)
    })?;
    Ok(Panel {
        y_label: "kW".into(),
        lines,
        stacked: true,
    })
}

fn stacked_phases(rec: &Recording, axis: &TimeAxis) -> PolarsResult<Panel> {
    let mut order: Vec<String> = ["A", "B", "C"].map(String::from).to_vec();
    let polyphase = collect(
        rec.loads
            .lazy()
            .select([col("phase").eq(lit("polyphase")).any(true).alias("any")]),
    )?;
    if polyphase.column("any")?.bool()?.get(0) == Some(true) {
        order.push("polyphase".into());
    }
    let mut lines = power_by(rec, axis, "phase", &order, |p| {
        order.iter().position(|o| o == p)
    })?;
    for l in &mut lines {
        if l.label.len() == 1 {
            l.label = format!("phase {}", l.label);
        }
    }
    Ok(Panel {
        y_label: "kW".into(),
        lines,
        stacked: true,
    })
}

/// The busiest subjects get a lane each (at most 16), in order of their first event.
fn lanes(rec: &Recording, axis: &TimeAxis) -> Vec<Lane> {
    let mut lanes: Vec<Lane> = Vec::new();
    for e in &rec.events {
        let mark = (e.t / axis.scale, e.severity.clone());
        match lanes.iter_mut().find(|l| l.subject == e.subject) {
            Some(l) => l.marks.push(mark),
            None => lanes.push(Lane {
                subject: e.subject.clone(),
                marks: vec![mark],
            }),
        }
    }
    if lanes.len() > 16 {
        let mut by_count: Vec<usize> = (0..lanes.len()).collect();
        by_count.sort_by_key(|&i| std::cmp::Reverse(lanes[i].marks.len()));
        let keep: Vec<usize> = by_count.into_iter().take(16).collect();
        lanes = lanes
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, l)| l)
            .collect();
    }
    lanes
}
