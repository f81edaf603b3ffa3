//! The summary as titled text tables, numbers formatted once for Markdown and HTML alike.

use chrono::{Duration, NaiveDateTime};

use crate::summary::{Fact, Summary};
use record::Kind;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    /// Which columns are numbers (right-aligned).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &str, header: &[(&str, bool)]) -> Self {
        Table {
            title: title.into(),
            header: header.iter().map(|h| h.0.to_string()).collect(),
            numeric: header.iter().map(|h| h.1).collect(),
            rows: Vec::new(),
        }
    }
}

/// Seconds as "12.5 s", "4 min 05 s" or "3 h 02 min".
pub fn duration(s: f64) -> String {
    if !s.is_finite() {
        return "–".into();
    }
    if s > 0.0 && s < 1.0 {
        return format!("{} ms", (s * 1e3).round());
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole / 60 % 60)
    }
}

/// `v` to 12 significant digits: a figure summed in another order (a run read back in spans
/// rather than rows) differs in its last bits, and must not round the other way at a half.
fn settled(v: f64) -> f64 {
    format!("{v:.11e}").parse().unwrap_or(v)
}

/// A value in its unit with the precision that unit deserves.
pub fn value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let v = settled(v);
    match unit {
        "s" => duration(v),
        "" => format!("{v:.0}"),
        "kWh" => format!("{v:.3} kWh"),
        "kW" => format!("{v:.2} kW"),
        "V" | "A" => format!("{v:.1} {unit}"),
        "Hz" => format!("{v:.3} Hz"),
        "pu" => format!("{v:.4} pu"),
        "%" => format!("{v:.3} %"),
        money => format!("{v:.2} {money}"),
    }
}

fn number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{:.decimals$}", settled(v))
    } else {
        "–".into()
    }
}

fn fact_text(f: &Fact, start: NaiveDateTime) -> String {
    if f.unit == "at" {
        let at = start + Duration::milliseconds((f.value * 1e3) as i64);
        return at.format("%Y-%m-%d %H:%M").to_string();
    }
    value(f.value, &f.unit)
}

/// Every table of a summary, leaving out the ones with nothing to show.
pub fn tables(s: &Summary) -> Vec<Table> {
    let mut out = Vec::new();
    let mut site = Table::new("Site", &[("", false), ("", true)]);
    for f in &s.site {
        site.rows.push(vec![f.label.clone(), fact_text(f, s.start)]);
    }
    out.push(site);

    // The five highest windows, highest first; ties (to a milliwatt) in time order.
    let mut highest: Vec<&(f64, f64)> = s.demand.iter().collect();
    let mw = |kw: f64| (kw * 1e6).round();
    highest.sort_by(|a, b| mw(b.1).total_cmp(&mw(a.1)).then(a.0.total_cmp(&b.0)));
    let source = match s.kind {
        Kind::Pdu => "from the main",
        Kind::Feeder => "at the source",
    };
    let mut windows = Table::new(
        &format!("Highest 15-minute demand {source}"),
        &[("window starts", false), ("kW", true)],
    );
    for &&(start, kw) in highest.iter().take(5) {
        let at = s.start + Duration::milliseconds((start * 1e3) as i64);
        windows
            .rows
            .push(vec![at.format("%Y-%m-%d %H:%M").to_string(), number(kw, 2)]);
    }
    if !windows.rows.is_empty() {
        out.push(windows);
    }

    let cost = s.currency.is_some();
    let money = s.currency.clone().unwrap_or_default();
    let cost_col = format!("cost, {money}");
    let mut loads = match s.kind {
        Kind::Pdu => {
            let mut h = vec![("load", false), ("priority", true), ("energy, kWh", true)];
            if cost {
                h.push((cost_col.as_str(), true));
            }
            h.extend([
                ("peak 15 min, kW", true),
                ("on", true),
                ("shed", true),
                ("tripped", true),
            ]);
            Table::new("Loads", &h)
        }
        Kind::Feeder => {
            let mut h = vec![
                ("load", false),
                ("phase at end", false),
                ("energy, kWh", true),
            ];
            if cost {
                h.push((cost_col.as_str(), true));
            }
            h.push(("peak 15 min, kW", true));
            Table::new("Loads", &h)
        }
    };
    for l in &s.loads {
        let mut row = vec![l.name.clone()];
        match s.kind {
            Kind::Pdu => row.push(l.priority.map(|p| p.to_string()).unwrap_or_default()),
            Kind::Feeder => row.push(l.phase.clone().unwrap_or_default()),
        }
        row.push(number(l.energy_kwh, 3));
        if cost {
            row.push(number(l.cost.unwrap_or(f64::NAN), 2));
        }
        row.push(number(l.peak_kw, 2));
        if s.kind == Kind::Pdu {
            for x in [l.on_s, l.shed_s, l.tripped_s] {
                row.push(x.map(duration).unwrap_or_default());
            }
        }
        loads.rows.push(row);
    }
    out.push(loads);

    let mut stats = Table::new(
        "Voltage and unbalance",
        &[
            ("quantity", false),
            ("min", true),
            ("p50", true),
            ("p95", true),
            ("max", true),
        ],
    );
    for st in &s.stats {
        let mut row = vec![st.label.clone()];
        row.extend([st.min, st.p50, st.p95, st.max].map(|v| value(v, &st.unit)));
        stats.rows.push(row);
    }
    if !stats.rows.is_empty() {
        out.push(stats);
    }

    let mut prot = Table::new(
        "Protection",
        &[("element", false), ("trips", true), ("lockouts", true)],
    );
    for (e, t, l) in &s.protection {
        prot.rows
            .push(vec![e.clone(), t.to_string(), l.to_string()]);
    }
    if !prot.rows.is_empty() {
        out.push(prot);
    }

    let mut moves = Table::new("Phase moves", &[("home", false), ("moves", true)]);
    for (h, n) in &s.phase_moves {
        moves.rows.push(vec![h.clone(), n.to_string()]);
    }
    if !moves.rows.is_empty() {
        out.push(moves);
    }

    let mut events = Table::new("Events", &[("event", false), ("count", true)]);
    for (e, n) in &s.events {
        events.rows.push(vec![e.clone(), n.to_string()]);
    }
    if !events.rows.is_empty() {
        out.push(events);
    }

    let mut exp = Table::new(
        "Expectations",
        &[("result", false), ("expectation", false), ("detail", false)],
    );
    for e in &s.expectations {
        let result = if e.pass { "pass" } else { "FAIL" };
        exp.rows
            .push(vec![result.into(), e.label.clone(), e.detail.clone()]);
    }
    if !exp.rows.is_empty() {
        out.push(exp);
    }
    out
}

/// A Markdown pipe table.
pub fn markdown(t: &Table) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!("## {}\n\n", t.title);
    out.push_str(&format!(
        "| {} |\n",
        t.header
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    let rule: Vec<&str> = t
        .numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" })
        .collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for r in &t.rows {
        out.push_str(&format!(
            "| {} |\n",
            r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")
        ));
    }
    out
}
