//! The recorded columns that the run writes and the reports read: named once here, so that the
//! two agree by construction.

/// A PDU's sources, each with `SOURCE_QUANTITIES` as `{source}_{quantity}`.
pub const SOURCES: [&str; 2] = ["main", "backup"];
/// V, Hz, A, kW, kvar and the energy register (kWh).
pub const SOURCE_QUANTITIES: [&str; 6] = ["v", "hz", "i", "p_kw", "q_kvar", "kwh"];
/// The rest of a PDU's site row. Coded: the contactors, the generator, the feeding source, the
/// transfer switch state.
pub const PDU_SITE: [&str; 7] = [
    "bus_v",
    "bus_hz",
    "main_closed",
    "backup_closed",
    "backup_running",
    "source",
    "ats",
];
/// Per PDU load as `{load}.{quantity}`: V, A, kW, kvar, power factor, relay (coded),
/// controller status (coded) and energy register (kWh).
pub const PDU_LOAD: [&str; 8] = [
    "v",
    "i",
    "p_kw",
    "q_kvar",
    "pf",
    "relay",
    "status",
    "energy_kwh",
];

/// A PDU run's columns after `t`, for the given loads.
pub fn pdu_columns(loads: &[String]) -> Vec<String> {
    let mut c: Vec<String> = SOURCES
        .iter()
        .flat_map(|s| SOURCE_QUANTITIES.iter().map(move |q| format!("{s}_{q}")))
        .collect();
    c.extend(PDU_SITE.map(String::from));
    for n in loads {
        c.extend(PDU_LOAD.iter().map(|q| format!("{n}.{q}")));
    }
    c
}

/// Labels of the coded switch columns.
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
