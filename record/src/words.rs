//! An event in words, for people: "main: undervoltage 27-1 tripped at 0 V" rather than its
//! fields. Made from the stored row (subject, name, fields), so events stored before, read from
//! a run directory or from another site read the same. Kinds not known here are said plainly with
//! their fields.

use serde_json::{Map, Value};

/// One sentence for an event: its subject, what happened, the values behind it.
pub fn sentence(subject: &str, event: &str, detail: &Map<String, Value>) -> String {
    let num = |k: &str| detail.get(k).and_then(Value::as_f64);
    let text = |k: &str| detail.get(k).and_then(Value::as_str).unwrap_or("?");
    let flag = |k: &str| detail.get(k).and_then(Value::as_bool).unwrap_or(false);
    let fixed = |k: &str, digits: usize| num(k).map_or("?".into(), |x| format!("{x:.digits$}"));
    let what = match event {
        "source_lost" => format!(
            "lost ({}) at {} pu and {} pu frequency",
            text("why"),
            fixed("v_pu", 2),
            fixed("f_pu", 3)
        ),
        "source_recovered" => match num("after_s") {
            Some(s) => format!("acceptable again after {}", duration(Some(s))),
            None => "acceptable".into(),
        },
        "outage" if flag("brownout") => "outage declared (brownout)".into(),
        "outage" => "outage declared".into(),
        "restore" => format!("restored after an outage of {}", duration(num("outage_s"))),
        "engine_start" => "generator start commanded".into(),
        "engine_stop" => "generator stop commanded".into(),
        "transfer" => "load transferred to the backup".into(),
        "retransfer" if flag("early") => "load returned to the main early".into(),
        "retransfer" => "load returned to the main".into(),
        "transfer_cancelled" => "transfer cancelled: the main came back first".into(),
        "test_started" => {
            let how = if flag("on_load") {
                "on load"
            } else {
                "off load"
            };
            match num("minutes") {
                Some(m) => format!("transfer switch test {how} for {m:.0} min"),
                None => format!("generator exercise {how} by its schedule"),
            }
        }
        "test_ended" => format!(
            "transfer switch test ended ({})",
            match text("why") {
                "timer" => "its timer ran out",
                "schedule" => "the exercise window closed",
                "operator" => "by an operator",
                "backup_lost" => "the backup failed; back to the main at once",
                other => other,
            }
        ),
        "trip" => trip(text("element"), num("value")),
        "reclose" => format!("reclosing, attempt {}", fixed("attempt", 0)),
        "lockout" => format!("locked out after repeated {} trips", text("element")),
        "reset" => "reset by an operator".into(),
        "shed" => format!(
            "shed ({}) at {}",
            text("reason").replace('_', " "),
            power(num("watts"))
        ),
        "load_restored" => format!("restored after shedding ({})", power(num("watts"))),
        "schedule" if flag("on") => "switched on by its schedule".into(),
        "schedule" => "switched off by its schedule".into(),
        "operator" => format!("{} by an operator", text("action").replace('_', " ")),
        "alarm" => format!("alarm: {}", text("alarm").replace('_', " ")),
        "alarm_cleared" => format!("alarm cleared: {}", text("alarm").replace('_', " ")),
        "voltage_dip" => format!(
            "voltage dip to {} % ({} V) for {}",
            fixed("residual_pct", 1),
            fixed("residual_v", 0),
            duration(num("duration_s"))
        ),
        "voltage_swell" => format!(
            "voltage swell to {} % ({} V) for {}",
            fixed("peak_pct", 1),
            fixed("peak_v", 0),
            duration(num("duration_s"))
        ),
        "interruption" => format!("supply interrupted for {}", duration(num("duration_s"))),
        "alert_raised" => format!(
            "{} alert {} at {} (threshold {})",
            text("level"),
            text("rule"),
            value(num("value")),
            value(num("threshold"))
        ),
        "alert_cleared" => format!(
            "alert {} cleared at {} after {}",
            text("rule"),
            value(num("value")),
            duration(num("after_s"))
        ),
        "tap" => format!("regulator to tap {}", fixed("tap", 0)),
        "capacitor" if flag("closed") => "bank switched in".into(),
        "capacitor" => "bank switched out".into(),
        "phase_move" => format!("moved from phase {} to {}", text("from"), text("to")),
        "solve_failed" => format!("power flow failed: {}", text("error")),
        "balance_plan" => format!(
            "plan of {} moves, unbalance {} % to {} % ({} homes reporting)",
            fixed("moves", 0),
            fixed("before_pct", 1),
            fixed("after_pct", 1),
            fixed("fresh", 0)
        ),
        "balance_retry" => format!(
            "move to phase {} repeated (attempt {})",
            text("to"),
            fixed("attempt", 0)
        ),
        "balance_gave_up" => format!("move to phase {} given up: never acknowledged", text("to")),
        "balance_unexpected" => format!("found on phase {}, not where it was left", text("phase")),
        "node_lost" => format!("node lost: {}", text("error")),
        "node_back" => "node answering again".into(),
        "node_trouble" => format!("node trouble: {}", text("trouble").replace('_', " ")),
        other => {
            let fields: Vec<String> = detail.iter().map(|(k, v)| format!("{k} {v}")).collect();
            match fields.is_empty() {
                true => other.replace('_', " "),
                false => format!("{} ({})", other.replace('_', " "), fields.join(", ")),
            }
        }
    };
    format!("{subject}: {what}")
}

/// A protection element's trip with the value it saw, in the element's own quantity.
fn trip(element: &str, value: Option<f64>) -> String {
    let (name, unit, digits) = match element.split('-').next().unwrap_or("") {
        "27" => ("undervoltage", "V", 0),
        "59" => ("overvoltage", "V", 0),
        "81U" => ("underfrequency", "Hz", 2),
        "81O" => ("overfrequency", "Hz", 2),
        "50" => ("instantaneous overcurrent", "A", 1),
        "51" => ("inverse-time overcurrent", "A", 1),
        "limit_a" => ("current limit", "A", 1),
        "limit_w" => return format!("power limit tripped at {}", power(value)),
        _ => ("protection", "", 3),
    };
    let at = value.map_or("?".into(), |v| format!("{v:.digits$}"));
    format!("{name} {element} tripped at {at} {unit}")
        .trim_end()
        .to_string()
}

/// Watts in W or kW.
fn power(w: Option<f64>) -> String {
    match w {
        Some(w) if w.abs() >= 1e3 => format!("{:.2} kW", w / 1e3),
        Some(w) => format!("{w:.0} W"),
        None => "? W".into(),
    }
}

/// A rule's value in its own unit, unknown here: three decimals at most, none trailing.
fn value(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => {
            let s = format!("{x:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => "?".into(),
    }
}

/// Seconds as s, min or h.
pub fn duration(s: Option<f64>) -> String {
    match s {
        Some(s) if s >= 3600.0 => format!("{:.1} h", s / 3600.0),
        Some(s) if s >= 60.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{s:.1} s"),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn say(subject: &str, event: &str, detail: Value) -> String {
        sentence(subject, event, detail.as_object().unwrap())
    }

    #[test]
    fn power_quality_events_say_depth_or_peak_and_duration() {
        let dip = json!({"residual_v": 92.1, "residual_pct": 40.0, "duration_s": 0.1});
        assert_eq!(
            say("main", "voltage_dip", dip),
            "main: voltage dip to 40.0 % (92 V) for 0.1 s"
        );
        let swell = json!({"peak_v": 299.0, "peak_pct": 130.0, "duration_s": 0.5});
        assert_eq!(
            say("main", "voltage_swell", swell),
            "main: voltage swell to 130.0 % (299 V) for 0.5 s"
        );
        let gone = json!({"duration_s": 600.0});
        assert_eq!(
            say("main", "interruption", gone),
            "main: supply interrupted for 10.0 min"
        );
    }

    #[test]
    fn alerts_say_their_rule_level_and_values() {
        let raised =
            json!({"rule": "low_pf", "level": "warning", "value": 0.7812, "threshold": 0.8});
        assert_eq!(
            say("site", "alert_raised", raised),
            "site: warning alert low_pf at 0.781 (threshold 0.8)"
        );
        let cleared = json!({"rule": "thd", "value": 12.0, "after_s": 95.0});
        assert_eq!(
            say("pc", "alert_cleared", cleared),
            "pc: alert thd cleared at 12 after 1.6 min"
        );
    }

    #[test]
    fn protection_trips_name_their_element_and_quantity() {
        assert_eq!(
            say("main", "trip", json!({"element": "27-1", "value": 0.0})),
            "main: undervoltage 27-1 tripped at 0 V"
        );
        assert_eq!(
            say("main", "trip", json!({"element": "81U-2", "value": 47.4})),
            "main: underfrequency 81U-2 tripped at 47.40 Hz"
        );
        assert_eq!(
            say("heater", "trip", json!({"element": "51", "value": 23.456})),
            "heater: inverse-time overcurrent 51 tripped at 23.5 A"
        );
        assert_eq!(
            say(
                "oven",
                "trip",
                json!({"element": "limit_w", "value": 3520.0})
            ),
            "oven: power limit tripped at 3.52 kW"
        );
    }

    #[test]
    fn the_site_and_field_events_read_as_sentences() {
        assert_eq!(
            say("main", "restore", json!({"outage_s": 5400.0})),
            "main: restored after an outage of 1.5 h"
        );
        assert_eq!(
            say(
                "fridge",
                "shed",
                json!({"reason": "capacity_at_transfer", "watts": 450.0})
            ),
            "fridge: shed (capacity at transfer) at 450 W"
        );
        assert_eq!(
            say("load7", "phase_move", json!({"from": "B", "to": "C"})),
            "load7: moved from phase B to C"
        );
        assert_eq!(
            say(
                "balancer",
                "balance_plan",
                json!({"moves": 3, "before_pct": 50.32, "after_pct": 0.79, "fresh": 55})
            ),
            "balancer: plan of 3 moves, unbalance 50.3 % to 0.8 % (55 homes reporting)"
        );
        assert_eq!(
            say("pump", "operator", json!({"action": "off"})),
            "pump: off by an operator"
        );
    }

    #[test]
    fn an_unknown_or_malformed_event_is_said_plainly() {
        assert_eq!(say("x", "new_thing", json!({"a": 1})), "x: new thing (a 1)");
        assert_eq!(
            say("main", "trip", json!({})),
            "main: protection ? tripped at ?"
        );
    }
}
