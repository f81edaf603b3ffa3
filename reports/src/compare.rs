//! Two runs side by side: every summary figure of A and B with the change, the settings that
//! differ, and the value charts overlaid.

use serde_json::Value;

use crate::charts::{Body, Chart, Line, Panel, TimeAxis};
use crate::recording::Recording;
use crate::report::{Report, escape, html_table, page, strip_xml_header};
use crate::tables::{Table, markdown, value};

pub struct Comparison {
    pub a: String,
    pub b: String,
    pub notes: Vec<String>,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    pub axis: TimeAxis,
}

fn change(a: f64, b: f64, unit: &str) -> String {
    if !(a.is_finite() && b.is_finite()) {
        return "–".into();
    }
    let d = b - a;
    if d == 0.0 {
        return "=".into();
    }
    let sign = if d > 0.0 { "+" } else { "−" };
    let pct = if a != 0.0 {
        format!(" ({sign}{:.1} %)", (d / a * 100.0).abs())
    } else {
        String::new()
    };
    format!("{sign}{}{pct}", value(d.abs(), unit))
}

fn table(title: &str, first: &str, a: &str, b: &str) -> Table {
    Table {
        title: title.into(),
        header: vec![first.into(), a.into(), b.into(), "change".into()],
        numeric: vec![false, true, true, true],
        rows: Vec::new(),
    }
}

/// Settings as dotted paths and their values.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        Value::Array(xs) if xs.iter().any(|x| x.is_object()) => {
            for (i, x) in xs.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        // A section that is absent on one side shows as "(none)" against each of its settings.
        Value::Null if prefix.is_empty() => {}
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// A copy of each value chart with both runs' lines; stacked charts become their totals.
fn overlay(a: &[Chart], b: &[Chart]) -> Vec<Chart> {
    let mut out = Vec::new();
    for ca in a {
        let Some(cb) = b.iter().find(|c| c.name == ca.name) else {
            continue;
        };
        let (Body::Panels { panels: pa, .. }, Body::Panels { panels: pb, .. }) =
            (&ca.body, &cb.body)
        else {
            continue;
        };
        let panels = pa
            .iter()
            .zip(pb)
            .map(|(x, y)| {
                let mut lines = Vec::new();
                for (tag, p) in [("A", x), ("B", y)] {
                    if p.stacked {
                        lines.push(Line {
                            label: format!("{tag}: total"),
                            points: total(&p.lines),
                        });
                    } else {
                        lines.extend(p.lines.iter().map(|l| Line {
                            label: format!("{tag}: {}", l.label),
                            points: l.points.clone(),
                        }));
                    }
                }
                Panel {
                    y_label: x.y_label.clone(),
                    lines,
                    stacked: false,
                }
            })
            .collect();
        out.push(Chart {
            name: ca.name,
            title: format!("{} — A and B", ca.title),
            body: Body::Panels {
                panels,
                markers: Vec::new(),
            },
        });
    }
    out
}

/// The sum of lines sampled at the same instants.
fn total(lines: &[Line]) -> Vec<(f64, f64)> {
    let mut sum: Vec<(f64, f64)> = Vec::new();
    for l in lines {
        for &(x, y) in &l.points {
            match sum.iter_mut().find(|p| p.0 == x) {
                Some(p) => p.1 += y,
                None => sum.push((x, y)),
            }
        }
    }
    sum.sort_by(|p, q| p.0.total_cmp(&q.0));
    sum
}

impl Comparison {
    /// Refuses runs of different kinds of grid; notes different scenarios.
    pub fn of(a: &Recording, b: &Recording, a_name: &str, b_name: &str) -> Result<Self, String> {
        if a.meta.kind != b.meta.kind {
            return Err(format!(
                "{a_name} is a {:?} run and {b_name} a {:?} run: only runs of one grid compare",
                a.meta.kind, b.meta.kind
            ));
        }
        let (ra, rb) = (Report::of(a)?, Report::of(b)?);
        let (sa, sb) = (&ra.summary, &rb.summary);
        let mut notes = Vec::new();
        if a.meta.name != b.meta.name {
            notes.push(format!(
                "A is scenario {:?} and B is scenario {:?}.",
                a.meta.name, b.meta.name
            ));
        }
        let mut tables = Vec::new();

        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        flatten("", &a.meta.settings, &mut fa);
        flatten("", &b.meta.settings, &mut fb);
        let mut settings = Table {
            title: "Settings that differ".into(),
            header: vec!["setting".into(), "A".into(), "B".into()],
            numeric: vec![false, true, true],
            rows: Vec::new(),
        };
        let mut keys: Vec<&String> = fa.iter().chain(&fb).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let get = |f: &[(String, String)]| {
                f.iter()
                    .find(|(x, _)| x == k)
                    .map_or("(none)".to_string(), |(_, v)| v.clone())
            };
            let (x, y) = (get(&fa), get(&fb));
            if x != y {
                settings.rows.push(vec![k.clone(), x, y]);
            }
        }
        if settings.rows.is_empty() {
            notes.push("The controller settings are the same.".into());
        } else {
            tables.push(settings);
        }

        let mut site = table("Site", "", "A", "B");
        for f in &sa.site {
            let Some(y) = sb.fact(&f.label) else { continue };
            if f.unit == "at" {
                continue;
            }
            site.rows.push(vec![
                f.label.clone(),
                value(f.value, &f.unit),
                value(y, &f.unit),
                change(f.value, y, &f.unit),
            ]);
        }
        tables.push(site);

        let mut stats = table("Voltage and unbalance, p95 and max", "quantity", "A", "B");
        for st in &sa.stats {
            let Some(y) = sb.stats.iter().find(|s| s.label == st.label) else {
                continue;
            };
            for (what, x, y) in [("p95", st.p95, y.p95), ("max", st.max, y.max)] {
                stats.rows.push(vec![
                    format!("{} ({what})", st.label),
                    value(x, &st.unit),
                    value(y, &st.unit),
                    change(x, y, &st.unit),
                ]);
            }
        }
        if !stats.rows.is_empty() {
            tables.push(stats);
        }

        let mut loads = table("Energy per load", "load", "A, kWh", "B, kWh");
        let mut shed = table("Time shed or tripped per load", "load", "A", "B");
        for la in &sa.loads {
            let Some(lb) = sb.loads.iter().find(|l| l.name == la.name) else {
                continue;
            };
            loads.rows.push(vec![
                la.name.clone(),
                format!("{:.3}", la.energy_kwh),
                format!("{:.3}", lb.energy_kwh),
                change(la.energy_kwh, lb.energy_kwh, "kWh"),
            ]);
            let out =
                |l: &crate::summary::LoadRow| l.shed_s.unwrap_or(0.0) + l.tripped_s.unwrap_or(0.0);
            if out(la) > 0.0 || out(lb) > 0.0 {
                shed.rows.push(vec![
                    la.name.clone(),
                    value(out(la), "s"),
                    value(out(lb), "s"),
                    change(out(la), out(lb), "s"),
                ]);
            }
        }
        tables.push(loads);
        if !shed.rows.is_empty() {
            tables.push(shed);
        }

        let mut events = table("Events", "event", "A", "B");
        let mut names: Vec<&String> = sa.events.iter().chain(&sb.events).map(|e| &e.0).collect();
        names.sort();
        names.dedup();
        for n in names {
            let count = |s: &crate::summary::Summary| {
                s.events.iter().find(|e| &e.0 == n).map_or(0, |e| e.1) as f64
            };
            let (x, y) = (count(sa), count(sb));
            events.rows.push(vec![
                n.clone(),
                x.to_string(),
                y.to_string(),
                change(x, y, ""),
            ]);
        }
        if !events.rows.is_empty() {
            tables.push(events);
        }

        let mut exp = Table {
            title: "Expectations".into(),
            header: vec!["expectation".into(), "A".into(), "B".into()],
            numeric: vec![false, false, false],
            rows: Vec::new(),
        };
        let verdict = |p: Option<bool>| match p {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "–",
        };
        // A's expectations in order, then those only B has.
        let mut labels: Vec<&String> = Vec::new();
        for e in sa.expectations.iter().chain(&sb.expectations) {
            if !labels.contains(&&e.label) {
                labels.push(&e.label);
            }
        }
        for l in labels {
            let find = |s: &crate::summary::Summary| {
                s.expectations
                    .iter()
                    .find(|e| &e.label == l)
                    .map(|e| e.pass)
            };
            exp.rows.push(vec![
                l.clone(),
                verdict(find(sa)).into(),
                verdict(find(sb)).into(),
            ]);
        }
        if !exp.rows.is_empty() {
            tables.push(exp);
        }

        Ok(Comparison {
            a: a_name.into(),
            b: b_name.into(),
            notes,
            tables,
            charts: overlay(&ra.charts, &rb.charts),
            axis: TimeAxis::for_duration(a.meta.duration_s.max(b.meta.duration_s)),
        })
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("# Comparison\n\nA: {}\n\nB: {}\n\n", self.a, self.b);
        for n in &self.notes {
            out.push_str(&format!("{n}\n\n"));
        }
        for t in &self.tables {
            out.push_str(&markdown(t));
            out.push('\n');
        }
        out
    }

    pub fn html(&self) -> Result<String, String> {
        let mut body = format!(
            "<h1>Comparison</h1>\n<p>A: {}</p>\n<p>B: {}</p>\n",
            escape(&self.a),
            escape(&self.b)
        );
        for n in &self.notes {
            body.push_str(&format!("<p>{}</p>\n", escape(n)));
        }
        for t in &self.tables {
            body.push_str(&html_table(t));
        }
        for c in &self.charts {
            let svg = c.svg(&self.axis)?;
            body.push_str(&format!(
                "<figure id=\"{}\">{}</figure>\n",
                c.name,
                strip_xml_header(&svg)
            ));
        }
        Ok(page("Comparison", &body))
    }
}
