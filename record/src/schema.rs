//! The one schema of a site's recorded channels: names and units, the same for a batch run's
//! series, the live service's store and telemetry, and the report's tables. A channel is
//! `scope/quantity` for the site (`main/v`, `bus/hz`, `source/p`) or `scope/member/quantity` for
//! one of many (`load/fridge/p`, `home/h12/energy`, `head/lv_bus/neutral`). Units are SI base
//! units (W, var, J); the report scales them for display.

/// One recorded channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub unit: &'static str,
}

impl Channel {
    fn new(name: String, unit: &'static str) -> Self {
        Channel { name, unit }
    }
}

/// The units channels are recorded in.
pub mod unit {
    pub const V: &str = "V";
    pub const A: &str = "A";
    pub const HZ: &str = "Hz";
    pub const W: &str = "W";
    pub const VAR: &str = "var";
    pub const J: &str = "J";
    pub const PU: &str = "pu";
    pub const PCT: &str = "%";
    /// A ratio, such as a power factor.
    pub const RATIO: &str = "1";
    /// A coded state whose labels the run's meta gives.
    pub const STATE: &str = "state";
}
use unit::*;

use std::collections::BTreeMap;

/// J in a kWh, for the report's display.
pub const J_PER_KWH: f64 = 3.6e6;

/// A PDU's sources, each with `SOURCE` as `{source}/{quantity}`.
pub const SOURCES: [&str; 2] = ["main", "backup"];
/// Per source: V, Hz, A, W, var, the energy register and its contactor (coded `SWITCH`).
pub const SOURCE: [(&str, &str); 7] = [
    ("v", V),
    ("hz", HZ),
    ("i", A),
    ("p", W),
    ("q", VAR),
    ("energy", J),
    ("closed", STATE),
];
/// The rest of a PDU's site row: the bus, the loads' total power, whether the generator runs
/// (`GENERATOR`), which source feeds (`FEEDING`), the transfer switch's state, and the THD of
/// the bus voltage and of the feeding source's current.
pub const PDU_SITE: [(&str, &str); 8] = [
    ("bus/v", V),
    ("bus/hz", HZ),
    ("site/p", W),
    ("backup/running", STATE),
    ("site/source", STATE),
    ("site/ats", STATE),
    ("bus/thd", PCT),
    ("site/thd", PCT),
];
/// A PDU load's channels, `load/{name}/{quantity}`: relay (`SWITCH`) and controller status
/// coded, `thd` its current's.
pub const LOAD: &str = "load";
pub const PDU_LOAD: [(&str, &str); 9] = [
    ("v", V),
    ("i", A),
    ("p", W),
    ("q", VAR),
    ("pf", RATIO),
    ("thd", PCT),
    ("relay", STATE),
    ("status", STATE),
    ("energy", J),
];

/// A PDU's channels for the given loads: sources, site, then each load.
pub fn pdu_channels(loads: &[String]) -> Vec<Channel> {
    let mut c: Vec<Channel> = SOURCES
        .iter()
        .flat_map(|s| {
            SOURCE
                .iter()
                .map(move |(q, u)| Channel::new(format!("{s}/{q}"), u))
        })
        .collect();
    c.extend(PDU_SITE.map(|(n, u)| Channel::new(n.into(), u)));
    for l in loads {
        c.extend(PDU_LOAD.map(|(q, u)| Channel::new(member(LOAD, l, q), u)));
    }
    c
}

/// A split-phase panel's legs, `leg/{L1,L2}/{quantity}`, each metered against the neutral bar,
/// then the neutral's current: the site row's tail on such a panel.
const LEGS: [&str; 2] = ["L1", "L2"];
const LEG: [(&str, &str); 4] = [("v", V), ("i", A), ("p", W), ("q", VAR)];
const NEUTRAL_I: &str = "neutral/i";

/// The channels of a split-phase panel's legs and neutral.
pub fn leg_channels() -> Vec<Channel> {
    let mut c: Vec<Channel> = LEGS
        .iter()
        .flat_map(|l| {
            LEG.iter()
                .map(move |(q, u)| Channel::new(format!("leg/{l}/{q}"), u))
        })
        .collect();
    c.push(Channel::new(NEUTRAL_I.into(), A));
    c
}

/// A feeder's site channels: the source's power and energy, the worst voltage unbalance factor
/// of any three-phase bus and the lowest and highest load voltage.
pub const FEEDER_SITE: [(&str, &str); 6] = [
    ("source/p", W),
    ("source/q", VAR),
    ("source/energy", J),
    ("feeder/vuf", PCT),
    ("feeder/v_min", PU),
    ("feeder/v_max", PU),
];
/// A feeder load's (a home's) channels, `home/{name}/{quantity}`: its phase coded (`PHASES`).
pub const HOME: &str = "home";
pub const FEEDER_HOME: [(&str, &str); 5] = [
    ("v", PU),
    ("p", W),
    ("q", VAR),
    ("phase", STATE),
    ("energy", J),
];
/// A transformer secondary's channels besides its phase currents: residual (neutral) current
/// and current unbalance.
pub const HEAD: &str = "head";
pub const FEEDER_HEAD: [(&str, &str); 2] = [("neutral", A), ("unbalance", PCT)];
/// How many transformer secondaries a summary or report details: on a feeder of more (the
/// 8500-node's 1,177 service transformers), the most loaded.
pub const HEADS_SHOWN: usize = 8;

/// Which of the transformer secondaries of peak currents `peaks` a summary or report details,
/// in the feeder's order: every one, or the `HEADS_SHOWN` highest (a NaN, never energized,
/// below any number; ties in the feeder's order).
pub fn heads_shown(peaks: &[f64]) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..peaks.len()).collect();
    let key = |k: usize| (!peaks[k].is_nan(), peaks[k]);
    ranked.sort_by(|&a, &b| {
        let ((na, pa), (nb, pb)) = (key(a), key(b));
        nb.cmp(&na).then(pb.total_cmp(&pa))
    });
    ranked.truncate(HEADS_SHOWN);
    ranked.sort_unstable();
    ranked
}

/// The labels of the coded `phase` channel: a single-phase home's phase is its node, a
/// split-phase home's the primary phase of its service transformer; a load across phases is
/// `polyphase`.
pub const PHASES: [&str; 5] = ["?", "A", "B", "C", "polyphase"];

/// A feeder's channels: site, each transformer secondary (`heads`: its bus and the nodes whose
/// current is recorded, `head/{bus}/i_{phase}`), then each home.
pub fn feeder_channels(heads: &[(String, Vec<usize>)], homes: &[String]) -> Vec<Channel> {
    let mut c: Vec<Channel> = FEEDER_SITE.map(|(n, u)| Channel::new(n.into(), u)).to_vec();
    for (bus, nodes) in heads {
        for &node in nodes {
            c.push(Channel::new(member(HEAD, bus, &node_current(node)), A));
        }
        c.extend(FEEDER_HEAD.map(|(q, u)| Channel::new(member(HEAD, bus, q), u)));
    }
    for h in homes {
        c.extend(FEEDER_HOME.map(|(q, u)| Channel::new(member(HOME, h, q), u)));
    }
    c
}

/// The phase current channel's quantity for a node: `i_A` for node 1; nodes past C by number.
fn node_current(node: usize) -> String {
    match node {
        1..=3 => format!("i_{}", PHASES[node]),
        n => format!("i_{n}"),
    }
}

/// One member's channel: `{scope}/{name}/{quantity}`.
pub fn member(scope: &str, name: &str, quantity: &str) -> String {
    format!("{scope}/{name}/{quantity}")
}

/// The quantity of `channel` if it is one of member `name`'s in `scope`.
pub fn member_quantity<'a>(scope: &str, name: &str, channel: &'a str) -> Option<&'a str> {
    channel
        .strip_prefix(scope)?
        .strip_prefix('/')?
        .strip_prefix(name)?
        .strip_prefix('/')
}

/// Which of the members named `names` owns `channel` in `scope`, by index: the longest name,
/// should one name prefix another (`pump` and `pump/2`).
pub fn owner<'a>(
    scope: &str,
    names: impl IntoIterator<Item = &'a str>,
    channel: &str,
) -> Option<usize> {
    names
        .into_iter()
        .enumerate()
        .filter(|(_, n)| member_quantity(scope, n, channel).is_some())
        .max_by_key(|(_, n)| n.len())
        .map(|(i, _)| i)
}

/// What a PDU's coded channels' numbers mean, for the report: the load quantities `relay` and
/// `status` (`statuses`, the controller's names) and the site's switches, generator, feeding
/// source and transfer switch (`ats`, its states' names).
pub fn pdu_codes(statuses: &[&str], ats: &[&str]) -> BTreeMap<String, Vec<String>> {
    let labels = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    BTreeMap::from([
        ("relay".into(), labels(&SWITCH)),
        ("main/closed".into(), labels(&SWITCH)),
        ("backup/closed".into(), labels(&SWITCH)),
        ("backup/running".into(), labels(&GENERATOR)),
        ("site/source".into(), labels(&FEEDING)),
        ("status".into(), labels(statuses)),
        ("site/ats".into(), labels(ats)),
    ])
}

/// What a feeder's coded channel means: a home's `phase`.
pub fn feeder_codes() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("phase".into(), PHASES.map(String::from).to_vec())])
}

/// Labels of the coded switch channels.
pub const SWITCH: [&str; 2] = ["open", "closed"];
pub const GENERATOR: [&str; 2] = ["stopped", "running"];
pub const FEEDING: [&str; 3] = ["none", "main", "backup"];

/// The statuses whose time the summary counts (the controller's names for them).
pub mod status {
    pub const ON: &str = "on";
    pub const SHED: &str = "shed";
    pub const TRIPPED: &str = "tripped";
    pub const LOCKED_OUT: &str = "locked_out";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_named_like_a_path_owns_only_its_own_channels() {
        let c = pdu_channels(&["pump".into(), "pump/2".into()]);
        let pump: Vec<_> = c
            .iter()
            .filter_map(|c| member_quantity(LOAD, "pump", &c.name))
            .collect();
        // `load/pump/2/p` reads as pump's "2/p", which no PDU load quantity is.
        assert!(
            pump.iter()
                .filter(|q| PDU_LOAD.iter().any(|x| x.0 == **q))
                .count()
                == PDU_LOAD.len()
        );
        assert_eq!(member_quantity(LOAD, "pump", "load/pumps/p"), None);
        assert_eq!(member_quantity(LOAD, "pump", "home/pump/p"), None);
        // Of the two that could own it, the longer name does.
        let names = ["pump", "pump/2"];
        assert_eq!(owner(LOAD, names, "load/pump/2/p"), Some(1));
        assert_eq!(owner(LOAD, names, "load/pump/p"), Some(0));
        assert_eq!(owner(LOAD, names, "main/p"), None);
    }

    #[test]
    fn every_channel_name_is_unique() {
        let pdu = pdu_channels(&["a".into(), "b".into()]);
        let feeder = feeder_channels(&[("lv".into(), vec![1, 2, 3, 4])], &["h1".into()]);
        for c in [pdu, feeder] {
            let mut names: Vec<_> = c.iter().map(|c| &c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), c.len());
        }
    }
}
