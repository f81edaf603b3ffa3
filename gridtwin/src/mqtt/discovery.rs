//! Home Assistant's MQTT discovery: one device for the site, and for each load its sensors
//! (power, reactive power, voltage, current, power factor, energy), a switch and an alarm;
//! a PDU's sources and a feeder's phases as sensors too. Each entity is a retained config at
//! `homeassistant/COMPONENT/NODE/OBJECT/config` (Home Assistant's documented layout), its
//! state read from this site's retained JSON topics with a value template. They are announced
//! again whenever Home Assistant publishes `online` on its birth topic.

use serde_json::{Value, json};

use super::topics::{Topics, level};

/// Home Assistant's default discovery prefix and birth topic.
pub const PREFIX: &str = "homeassistant";
pub const BIRTH_TOPIC: &str = "homeassistant/status";

/// One entity's config: where it goes and what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub topic: String,
    pub payload: Value,
}

/// A sensor's quantity: the state JSON's key, its Home Assistant device and state class, unit.
struct Quantity {
    key: &'static str,
    label: &'static str,
    device_class: &'static str,
    state_class: &'static str,
    unit: &'static str,
}

const fn q(
    key: &'static str,
    label: &'static str,
    device_class: &'static str,
    state_class: &'static str,
    unit: &'static str,
) -> Quantity {
    Quantity {
        key,
        label,
        device_class,
        state_class,
        unit,
    }
}

/// What each load's state carries, as Home Assistant's sensor device classes name it.
const LOAD: [Quantity; 6] = [
    q("p_w", "power", "power", "measurement", "W"),
    q(
        "q_var",
        "reactive power",
        "reactive_power",
        "measurement",
        "var",
    ),
    q("v", "voltage", "voltage", "measurement", "V"),
    q("i", "current", "current", "measurement", "A"),
    q("pf_pct", "power factor", "power_factor", "measurement", "%"),
    q("energy_kwh", "energy", "energy", "total_increasing", "kWh"),
];

/// What a feeder home's state carries (the twin's homes have no relay and no alarm).
const HOME: [Quantity; 2] = [
    q("p_w", "power", "power", "measurement", "W"),
    q("energy_kwh", "energy", "energy", "total_increasing", "kWh"),
];

/// What each source's state carries.
const SOURCE: [Quantity; 5] = [
    q("p_w", "power", "power", "measurement", "W"),
    q("v", "voltage", "voltage", "measurement", "V"),
    q("i", "current", "current", "measurement", "A"),
    q("hz", "frequency", "frequency", "measurement", "Hz"),
    q("energy_kwh", "energy", "energy", "total_increasing", "kWh"),
];

/// The site as discovery sees it.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    /// The scenario's name, shown as the device's name.
    pub name: &'a str,
    /// A PDU's loads (a switch each) or a feeder's homes (sensors only).
    pub loads: &'a [String],
    /// Whether the loads have relays (a PDU).
    pub switchable: bool,
    /// A PDU's sources (`main`, `backup`), each with a state topic `source/NAME`.
    pub sources: &'a [&'a str],
    /// A feeder's transformer phases (`A`, `B`, `C`) and neutral.
    pub phases: &'a [&'a str],
    /// The MQTT user Home Assistant publishes as: its switches command through
    /// `cmd/USER/...`.
    pub ha_user: &'a str,
    /// The loads Home Assistant gets a switch for: none when its user may not switch; never a
    /// critical load, whose switching off needs a confirmation a switch cannot give.
    pub switches: &'a [String],
}

/// Every entity's config for the site.
pub fn configs(t: &Topics, site: &Site) -> Vec<Config> {
    let node = t.root().replace('/', "_");
    let device = json!({
        "identifiers": [node],
        "name": site.name,
        "manufacturer": "Gridtwin",
        "model": if site.switchable { "PDU controller" } else { "Feeder balancer" },
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let common = |object: &str, name: String| {
        json!({
            "name": name,
            "unique_id": format!("{node}_{object}"),
            "object_id": format!("{node}_{object}"),
            "device": device,
            "availability_topic": t.status(),
            "payload_available": "online",
            "payload_not_available": "offline",
        })
    };
    let topic =
        |component: &str, object: &str| format!("{PREFIX}/{component}/{node}/{object}/config");
    let mut out = Vec::new();
    let mut sensors = |object_base: &str, label: &str, state: String, list: &[Quantity]| {
        for x in list {
            let object = format!("{object_base}_{}", x.key);
            let mut p = common(&object, format!("{label} {}", x.label));
            merge(
                &mut p,
                json!({
                    "state_topic": state,
                    "value_template": format!("{{{{ value_json.{} }}}}", x.key),
                    "device_class": x.device_class,
                    "state_class": x.state_class,
                    "unit_of_measurement": x.unit,
                }),
            );
            out.push(Config {
                topic: topic("sensor", &object),
                payload: p,
            });
        }
    };
    for s in site.sources {
        let base = format!("source_{}", level(s));
        sensors(&base, s, t.source(s), &SOURCE);
    }
    for name in site.loads {
        let base = format!("load_{}", level(name));
        let list: &[Quantity] = if site.switchable { &LOAD } else { &HOME };
        sensors(&base, name, t.load(name), list);
    }
    for ph in site.phases {
        let object = format!("phase_{}_i", level(ph));
        let mut p = common(&object, format!("phase {ph} current"));
        merge(
            &mut p,
            json!({
                "state_topic": t.phase(ph),
                "value_template": "{{ value_json.i }}",
                "device_class": "current",
                "state_class": "measurement",
                "unit_of_measurement": "A",
            }),
        );
        out.push(Config {
            topic: topic("sensor", &object),
            payload: p,
        });
    }
    for name in site.loads.iter().filter(|_| site.switchable) {
        let base = format!("load_{}", level(name));
        if site.switches.contains(name) {
            let object = format!("{base}_relay");
            let mut p = common(&object, name.clone());
            merge(
                &mut p,
                json!({
                    "command_topic": t.command(site.ha_user, name),
                    "state_topic": t.load(name),
                    "value_template": "{{ value_json.on }}",
                    "payload_on": "ON",
                    "payload_off": "OFF",
                    "state_on": "ON",
                    "state_off": "OFF",
                }),
            );
            out.push(Config {
                topic: topic("switch", &object),
                payload: p,
            });
        }
        let object = format!("{base}_alarm");
        let mut p = common(&object, format!("{name} alarm"));
        merge(
            &mut p,
            json!({
                "state_topic": t.load(name),
                "value_template": "{{ value_json.alarm }}",
                "device_class": "problem",
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        );
        out.push(Config {
            topic: topic("binary_sensor", &object),
            payload: p,
        });
    }
    out
}

/// The switch configs of loads that have none now: published empty (retained), they remove
/// a switch announced before (a load made critical, a role taken away).
pub fn withdrawn(t: &Topics, site: &Site) -> Vec<String> {
    let node = t.root().replace('/', "_");
    site.loads
        .iter()
        .filter(|n| site.switchable && !site.switches.contains(n))
        .map(|n| format!("{PREFIX}/switch/{node}/load_{}_relay/config", level(n)))
        .collect()
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LoadView;
    use crate::mqtt::state;

    fn demo() -> (Topics, Vec<String>) {
        let loads = ["server", "network", "fridge", "lights", "pump", "office"]
            .map(String::from)
            .to_vec();
        (Topics::new("demo PDU"), loads)
    }

    fn pdu<'a>(loads: &'a [String]) -> Site<'a> {
        Site {
            name: "demo PDU",
            loads,
            switchable: true,
            sources: &["main", "backup"],
            phases: &[],
            ha_user: "homeassistant",
            switches: loads,
        }
    }

    fn load_view(status: &'static str) -> LoadView {
        LoadView {
            name: "fridge".into(),
            status,
            relay: status == "on",
            v: 229.87,
            i: 1.7391,
            p_w: 398.44,
            q_var: 31.2,
            pf: Some(0.9969),
            energy_j: 1.8e6,
            priority: 10,
            critical: false,
            limit_a: None,
            limit_w: None,
        }
    }

    /// Units Home Assistant accepts for each sensor device class, and the state classes it
    /// allows (from its sensor documentation, written out here, not taken from the code).
    fn allowed(device_class: &str) -> (&'static [&'static str], &'static [&'static str]) {
        const M: &[&str] = &["measurement"];
        match device_class {
            "power" => (&["W", "kW", "MW", "GW", "TW", "mW", "BTU/h"], M),
            "reactive_power" => (&["var", "kvar", "mvar"], M),
            "voltage" => (&["V", "mV", "µV", "kV", "MV"], M),
            "current" => (&["A", "mA"], M),
            "frequency" => (&["Hz", "kHz", "MHz", "GHz"], M),
            "power_factor" => (&["%"], M),
            "energy" => (
                &[
                    "J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal",
                    "Mcal", "Gcal",
                ],
                &["total", "total_increasing"],
            ),
            other => panic!("unexpected device class {other}"),
        }
    }

    /// Home Assistant's discovery topic: `<prefix>/<component>/[<node_id>/]<object_id>/config`,
    /// ids of letters, digits, `_` and `-`.
    fn valid_topic(t: &str) -> bool {
        let parts: Vec<&str> = t.split('/').collect();
        let id = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        parts.len() == 5
            && parts[0] == PREFIX
            && ["sensor", "switch", "binary_sensor"].contains(&parts[1])
            && id(parts[2])
            && id(parts[3])
            && parts[4] == "config"
    }

    /// What a `{{ value_json.KEY }}` template gives for a state.
    fn render(template: &str, state: &Value) -> Value {
        let key = template
            .strip_prefix("{{ value_json.")
            .and_then(|r| r.strip_suffix(" }}"))
            .unwrap_or_else(|| panic!("template {template}"));
        state
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {state}"))
    }

    #[test]
    fn every_config_follows_home_assistants_schema() {
        let (t, loads) = demo();
        let all = configs(&t, &pdu(&loads));
        // Six quantities, a switch and an alarm per load; five quantities per source.
        assert_eq!(all.len(), 6 * 8 + 2 * 5);
        let mut ids = std::collections::HashSet::new();
        for c in &all {
            assert!(valid_topic(&c.topic), "{}", c.topic);
            let p = &c.payload;
            assert!(
                ids.insert(p["unique_id"].as_str().unwrap().to_string()),
                "{p}"
            );
            assert_eq!(p["availability_topic"], t.status());
            assert_eq!(p["device"]["identifiers"][0], "gridtwin_demo_pdu");
            assert_eq!(p["device"]["name"], "demo PDU");
            assert!(p["state_topic"].as_str().unwrap().starts_with(t.root()));
            if c.topic.starts_with("homeassistant/sensor/") {
                let dc = p["device_class"].as_str().unwrap();
                let (units, classes) = allowed(dc);
                assert!(
                    units.contains(&p["unit_of_measurement"].as_str().unwrap()),
                    "{p}"
                );
                assert!(classes.contains(&p["state_class"].as_str().unwrap()), "{p}");
            }
        }
    }

    #[test]
    fn the_templates_read_the_state_that_is_published() {
        let (t, loads) = demo();
        let all = configs(&t, &pdu(&loads));
        let fridge = |c: &&Config| c.payload["state_topic"] == t.load("fridge");
        for status in ["on", "off", "tripped", "locked_out"] {
            let s = state::load(&load_view(status));
            for c in all.iter().filter(fridge) {
                let v = render(c.payload["value_template"].as_str().unwrap(), &s);
                if c.topic.starts_with("homeassistant/sensor/") {
                    assert!(v.is_number(), "{} gives {v}", c.topic);
                } else {
                    assert!(
                        v == c.payload["payload_on"] || v == c.payload["payload_off"],
                        "{v}"
                    );
                }
            }
            let switch = all
                .iter()
                .find(|c| c.topic.contains("/switch/") && fridge(c))
                .unwrap();
            let alarm = all
                .iter()
                .find(|c| c.topic.contains("/binary_sensor/") && fridge(c))
                .unwrap();
            let on = render(switch.payload["value_template"].as_str().unwrap(), &s) == "ON";
            let alarmed = render(alarm.payload["value_template"].as_str().unwrap(), &s) == "ON";
            assert_eq!(on, status == "on", "{status}");
            assert_eq!(
                alarmed,
                matches!(status, "tripped" | "locked_out"),
                "{status}"
            );
        }
        let s = state::load(&load_view("on"));
        assert_eq!(s["pf_pct"], 99.7);
        assert_eq!(s["energy_kwh"], 0.5);
    }

    #[test]
    fn a_switch_commands_as_home_assistants_user() {
        let (t, loads) = demo();
        for c in configs(&t, &pdu(&loads))
            .iter()
            .filter(|c| c.topic.contains("/switch/"))
        {
            let cmd = t
                .parse_command(c.payload["command_topic"].as_str().unwrap())
                .unwrap();
            assert_eq!(cmd.user, "homeassistant");
            assert_eq!(
                c.payload["name"],
                **crate::mqtt::topics::load_named(&loads, &cmd.load).unwrap()
            );
        }
    }

    #[test]
    fn only_the_listed_loads_get_switches_and_the_others_are_withdrawn() {
        let (t, loads) = demo();
        let switches = vec!["fridge".to_string(), "lights".to_string()];
        let site = Site {
            switches: &switches,
            ..pdu(&loads)
        };
        let all = configs(&t, &site);
        let with_switch: Vec<&str> = all
            .iter()
            .filter(|c| c.topic.contains("/switch/"))
            .map(|c| c.payload["name"].as_str().unwrap())
            .collect();
        assert_eq!(with_switch, ["fridge", "lights"]);
        // Every load keeps its alarm and sensors.
        assert_eq!(all.len(), 6 * 7 + 2 + 2 * 5);
        let gone = withdrawn(&t, &site);
        assert_eq!(gone.len(), 4);
        assert!(gone.iter().all(|g| valid_topic(g)));
        // What is withdrawn is exactly what a full announcement would have added.
        let full = configs(&t, &pdu(&loads));
        for g in &gone {
            assert!(full.iter().any(|c| &c.topic == g), "{g}");
            assert!(!all.iter().any(|c| &c.topic == g), "{g}");
        }
        assert!(withdrawn(&t, &pdu(&loads)).is_empty());
    }

    #[test]
    fn a_feeder_has_sensors_but_no_switches_or_alarms() {
        let t = Topics::new("lv");
        let homes = vec!["load1".to_string(), "load2".to_string()];
        let site = Site {
            name: "lv",
            loads: &homes,
            switchable: false,
            sources: &[],
            phases: &["A", "B", "C", "N"],
            ha_user: "homeassistant",
            switches: &[],
        };
        let all = configs(&t, &site);
        assert!(all.iter().all(|c| c.topic.contains("/sensor/")));
        assert_eq!(all.len(), 2 * 2 + 4);
        assert!(all.iter().any(|c| c.payload["state_topic"] == t.phase("N")));
    }
}
