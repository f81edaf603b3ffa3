//! The run summary: what a person reads first, and what the snapshot tests pin down. Only
//! simulated quantities, never wall time, so it is the same on every machine.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{FeederRun, PduRun, Run, SiteRun, feeding};
use crate::field::BalanceRun;
use record::schema::heads_shown;

pub fn render(r: &Run) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario: {}", r.name);
    let _ = writeln!(s, "simulated: {:.3} s in {} steps", r.duration, r.steps);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &r.events {
        *counts.entry(e.kind.name()).or_default() += 1;
    }
    let listed: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(s, "events ({}): {}", r.events.len(), listed.join(", "));
    match &r.site {
        SiteRun::Pdu(p) => pdu(&mut s, p),
        SiteRun::Feeder(f) => feeder(&mut s, f),
    }
    let held = r.outcomes.iter().filter(|o| o.pass).count();
    let _ = writeln!(s, "expectations: {held} of {} hold", r.outcomes.len());
    for o in &r.outcomes {
        let mark = if o.pass { "PASS" } else { "FAIL" };
        let _ = writeln!(s, "  {mark} {}: {}", o.label, o.detail);
    }
    s
}

fn pdu(s: &mut String, r: &PduRun) {
    let st = &r.final_status;
    let _ = writeln!(
        s,
        "final: ats {}, feeding {}, engine {}",
        st.ats,
        feeding(st).map_or("nothing".into(), |f| format!("{f:?}").to_lowercase()),
        if st.engine_start {
            "running"
        } else {
            "stopped"
        }
    );
    let _ = writeln!(s, "loads:");
    let n = st.loads.len();
    for ((name, kwh), status) in r.energy_kwh.iter().take(n).zip(&st.loads) {
        let _ = writeln!(
            s,
            "  {name:<16} {:<10} {kwh:>10.3} kWh",
            format!("{status:?}")
        );
    }
    let _ = writeln!(
        s,
        "sources: main {:.3} kWh, backup {:.3} kWh",
        r.energy_kwh[n].1,
        r.energy_kwh[n + 1].1
    );
    if !r.metered.is_empty() {
        let _ = writeln!(s, "metered by the controller (last 10/12-cycle window):");
        let _ = writeln!(
            s,
            "  {:<16} {:>7} {:>7} {:>8} {:>5} {:>5} {:>6} {:>7} {:>6}",
            "circuit", "V", "A", "W", "PF", "DPF", "THD-I", "crest-I", "Hz"
        );
        for (name, w) in &r.metered {
            let _ = writeln!(
                s,
                "  {name:<16} {:>7.1} {:>7.2} {:>8.1} {:>5.2} {:>5.2} {:>5.1}% {:>7.2} {:>6.2}",
                w.vrms,
                w.irms,
                w.p,
                w.pf,
                w.dpf,
                100.0 * w.thd_i,
                w.crest_i,
                w.freq
            );
        }
    }
}

/// Time of a run as h:mm:ss from its start.
fn hms(t: f64) -> String {
    let t = t.round() as u64;
    format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

fn feeder(s: &mut String, f: &FeederRun) {
    let per = f.iterations as f64 / f.solves.max(1) as f64;
    let _ = writeln!(
        s,
        "feeder: {} buses, {} loads; {} solves at {per:.2} iterations each, {} failed",
        f.buses, f.loads, f.solves, f.failed
    );
    let losses = f.source_kwh - f.load_kwh;
    let share = if f.source_kwh > 0.0 {
        100.0 * losses / f.source_kwh
    } else {
        0.0
    };
    let _ = writeln!(
        s,
        "energy: source {:.3} kWh, loads {:.3} kWh, losses {losses:.3} kWh ({share:.2} %)",
        f.source_kwh, f.load_kwh
    );
    let at = |x: &Option<(String, f64, f64)>, unit: &str| match x {
        Some((n, v, t)) => format!("{v:.4}{unit} ({n} at {})", hms(*t)),
        None => "none".into(),
    };
    let _ = writeln!(
        s,
        "load voltage: lowest {}, highest {}",
        at(&f.lowest, " pu"),
        at(&f.highest, " pu")
    );
    let _ = writeln!(s, "worst VUF: {}", at(&f.worst_vuf, " %"));
    // On a feeder of many service transformers, the most loaded, in the feeder's order.
    let peaks: Vec<f64> = f
        .heads
        .iter()
        .map(|h| h.peak_a.iter().map(|p| p.1).fold(0.0, f64::max))
        .collect();
    let shown = heads_shown(&peaks);
    for h in shown.iter().map(|&k| &f.heads[k]) {
        let peaks: Vec<String> = h
            .peak_a
            .iter()
            .map(|(n, a)| format!("{n}: {a:.1}"))
            .collect();
        let _ = writeln!(
            s,
            "transformer secondary {}: peak A per node {}, peak residual {:.1} A",
            h.bus,
            peaks.join(", "),
            h.peak_neutral_a
        );
    }
    let rest = (0..peaks.len()).filter(|k| !shown.contains(k));
    if let Some(highest) = rest.map(|k| peaks[k]).reduce(f64::max) {
        let _ = writeln!(
            s,
            "transformer secondaries: {} more, none above {highest:.1} A peak",
            peaks.len() - shown.len(),
        );
    }
    if !f.taps.is_empty() {
        let taps: Vec<String> = f.taps.iter().map(|(n, t)| format!("{n} {t}")).collect();
        let _ = writeln!(s, "final taps: {}", taps.join(", "));
    }
    if let Some(b) = &f.balance {
        balancing(s, b);
    }
}

fn balancing(s: &mut String, b: &BalanceRun) {
    let l = &b.link_stats;
    let _ = writeln!(s, "balancing: {} homes over {}", b.homes, b.link);
    if b.emulated {
        // The requests and replies depend on the machine's load (a reply late by wall time is
        // tried again), so the summary, which must be the same every time, leaves them out.
        let _ = writeln!(
            s,
            "  field: the real master on emulated nodes, in virtual time; {} stalls (a step whose traffic did not arrive)",
            b.stalls
        );
    } else {
        let _ = writeln!(
            s,
            "  link: {} offered, {} delivered, {} lost, {} collided, {} dropped; {:.1} s on air",
            l.offered, l.delivered, l.lost, l.collided, l.dropped, l.busy_s
        );
    }
    if !b.emulated {
        let _ = writeln!(
            s,
            "  reports: {} sent, {} received, age on arrival mean {:.2} s, max {:.2} s",
            b.reports_sent, b.reports_received, b.age_mean_s, b.age_max_s
        );
    }
    let held: Vec<String> = b.held.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        s,
        "  balancer: {} plans, {} commands, {} repeats, {} given up, {} unexpected; held: {}",
        b.plans,
        b.commands,
        b.repeats,
        b.gave_up,
        b.unexpected,
        if held.is_empty() {
            "never".into()
        } else {
            held.join(", ")
        }
    );
    let most = b
        .most_moves
        .as_ref()
        .map_or("none".into(), |(n, k)| format!("{k} ({n})"));
    let _ = writeln!(
        s,
        "  selector operations: {}, most at one home {most}",
        b.moves
    );
    let _ = writeln!(
        s,
        "  {:<14} {:>12} {:>12} {:>14} {:>14} {:>16}",
        "balancer", "VUF p95 %", "VUF max %", "neutral p95 A", "neutral max A", "I unbalance %"
    );
    for (name, c) in [("off", &b.off), ("on", &b.on)] {
        let _ = writeln!(
            s,
            "  {name:<14} {:>12.4} {:>12.4} {:>14.2} {:>14.2} {:>16.2}",
            c.vuf_p95, c.vuf_max, c.neutral_p95, c.neutral_max, c.unbalance_mean
        );
    }
}
