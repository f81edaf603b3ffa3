//! The retained state each topic carries, from the live snapshot: the JSON that Home
//! Assistant's value templates (`discovery`) read.

use serde_json::{Value, json};

use crate::live::{HomeView, LoadView, SourceView};

const J_PER_KWH: f64 = 3.6e6;

/// A load: its status, relay, `on` and `alarm` (`ON`/`OFF`), and its measurements.
pub fn load(l: &LoadView) -> Value {
    let on_off = |b: bool| if b { "ON" } else { "OFF" };
    json!({
        "status": l.status,
        "relay": l.relay,
        "on": on_off(l.status == "on"),
        "alarm": on_off(matches!(l.status, "tripped" | "locked_out")),
        "p_w": round(l.p_w, 1),
        "q_var": round(l.q_var, 1),
        "v": round(l.v, 2),
        "i": round(l.i, 3),
        // Home Assistant's power factor is in % (or unitless); none without current.
        "pf_pct": l.pf.map(|pf| round(pf * 100.0, 1)),
        "energy_kwh": round(l.energy_j / J_PER_KWH, 4),
    })
}

/// A PDU source.
pub fn source(s: &SourceView) -> Value {
    json!({
        "closed": s.closed,
        "available": s.available,
        "locked_out": s.locked_out,
        "p_w": round(s.p_w, 1),
        "v": round(s.v, 2),
        "i": round(s.i, 3),
        "hz": round(s.hz, 3),
        "energy_kwh": round(s.energy_j / J_PER_KWH, 4),
    })
}

/// A feeder home: its power and energy (its phase is in the snapshot, not a sensor).
pub fn home(h: &HomeView) -> Value {
    json!({
        "phase": h.phase,
        "p_w": round(h.p_w, 1),
        "v_pu": round(h.v_pu, 4),
        "energy_kwh": round(h.energy_j / J_PER_KWH, 4),
    })
}

/// A transformer phase (or the neutral).
pub fn phase(amps: f64) -> Value {
    json!({ "i": round(amps, 2) })
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}
