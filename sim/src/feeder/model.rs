//! The feeder as data: what `gridtwin import-dss` writes and a scenario's `Feeder` grid reads.
//!
//! Everything is resolved to physical units at import (line impedances per km, transformer
//! ratings, load shapes inline), so a feeder file stands alone. Terminals are written as
//! OpenDSS writes them, `bus.node.node`, node 0 being ground.

use serde::{Deserialize, Serialize};

/// A radial distribution feeder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feeder {
    pub name: String,
    pub frequency_hz: f64,
    pub source: Source,
    /// Line-to-line kV bases; each bus takes the nearest to its no-load voltage.
    #[serde(default)]
    pub voltage_bases_kv: Vec<f64>,
    #[serde(default)]
    pub line_codes: Vec<LineCode>,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub transformers: Vec<Transformer>,
    #[serde(default)]
    pub regulators: Vec<Regulator>,
    #[serde(default)]
    pub loads: Vec<Load>,
    #[serde(default)]
    pub capacitors: Vec<Capacitor>,
    #[serde(default)]
    pub generators: Vec<Generator>,
    #[serde(default)]
    pub cap_controls: Vec<CapControl>,
    #[serde(default)]
    pub reactors: Vec<Reactor>,
    #[serde(default)]
    pub load_shapes: Vec<LoadShape>,
    #[serde(default)]
    pub coordinates: Vec<BusCoord>,
}

/// The upstream grid as a Thevenin equivalent: a balanced three-phase voltage behind
/// sequence impedances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub bus: String,
    pub kv: f64,
    #[serde(default = "one")]
    pub pu: f64,
    #[serde(default)]
    pub angle_deg: f64,
    pub z1: Impedance,
    pub z0: Impedance,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Impedance {
    pub r: f64,
    pub x: f64,
}

/// Series impedance and shunt capacitance of a line per km, as full phase matrices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineCode {
    pub name: String,
    pub phases: usize,
    pub r_ohm_per_km: Vec<Vec<f64>>,
    pub x_ohm_per_km: Vec<Vec<f64>>,
    #[serde(default)]
    pub c_nf_per_km: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub name: String,
    pub bus1: String,
    pub bus2: String,
    pub code: String,
    pub length_km: f64,
    /// A switch is a line that can be opened; an open line carries nothing.
    #[serde(default)]
    pub switch: bool,
    #[serde(default = "yes")]
    pub closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conn {
    Wye,
    Delta,
}

/// A two-winding transformer (a three-phase unit or one single-phase unit of a bank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transformer {
    pub name: String,
    pub phases: usize,
    /// Two windings, or three whose second and third share a bus (the single-phase
    /// center-tapped unit that feeds a 120/240 V split-phase secondary).
    pub windings: Vec<Winding>,
    /// Leakage reactance between windings 1 and 2, % on winding 1's rating.
    pub xhl_pct: f64,
    /// Between windings 1 and 3, and 2 and 3 (three windings only).
    #[serde(default = "xht")]
    pub xht_pct: f64,
    #[serde(default = "xlt")]
    pub xlt_pct: f64,
    #[serde(default)]
    pub imag_pct: f64,
    #[serde(default)]
    pub noload_loss_pct: f64,
    /// A tiny reactance to ground from every terminal, parts per million of the rating, so that
    /// an ungrounded winding still has a reference (as OpenDSS does).
    #[serde(default = "one")]
    pub ppm_antifloat: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Winding {
    pub bus: String,
    pub conn: Conn,
    /// Line-to-line kV for a polyphase unit; the winding's own kV for a single-phase unit.
    pub kv: f64,
    pub kva: f64,
    pub r_pct: f64,
    #[serde(default = "one")]
    pub tap: f64,
}

/// A tap changer that holds the voltage at a point (line-drop compensated) by moving the
/// tap of one winding of a transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regulator {
    pub name: String,
    pub transformer: String,
    /// 1 or 2.
    pub winding: usize,
    /// Set point on the PT secondary, volts.
    pub vreg: f64,
    pub band: f64,
    pub pt_ratio: f64,
    pub ct_primary: f64,
    /// Line drop compensator, volts on the PT secondary at CT primary current.
    #[serde(default)]
    pub r: f64,
    #[serde(default)]
    pub x: f64,
    #[serde(default = "tap_step")]
    pub tap_step: f64,
    #[serde(default = "max_taps")]
    pub max_taps: i32,
    /// A disabled regulator keeps its transformer's tap.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds out of band before it acts. In a static solution it orders the regulators:
    /// those with the shortest delay act first, and the others look again afterwards.
    #[serde(default = "delay")]
    pub delay_s: f64,
    /// Most taps moved in one action.
    #[serde(default = "max_tap_change")]
    pub max_tap_change: i32,
    /// Which phase of the winding the PT reads.
    #[serde(default)]
    pub pt_phase: PtPhase,
}

/// The phase a regulator's PT reads (OpenDSS's `PTphase`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum PtPhase {
    /// The winding's first phase.
    #[default]
    First,
    /// Phase n of the winding (1-based).
    Phase(usize),
    /// Whichever phase reads highest.
    Max,
    /// Whichever phase reads lowest.
    Min,
}

/// How a load's current follows its voltage: OpenDSS's load models 1 to 8. Within
/// [vminpu, vmaxpu] each follows its own law; outside it, each becomes an impedance as
/// OpenDSS's does (see `powerflow::load_current`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LoadModel {
    /// Model 1.
    ConstantPower,
    /// Model 2.
    ConstantImpedance,
    /// Model 3, a motor: constant P, Q as an impedance.
    Motor,
    /// Model 4, conservation voltage reduction: P ∝ V^watts and Q ∝ V^vars (OpenDSS's
    /// `CVRwatts`, `CVRvars`).
    Exponential { watts: f64, vars: f64 },
    /// Model 5.
    ConstantCurrent,
    /// Model 6: constant P, Q fixed at the rated kvar whatever the load shape.
    FixedQ,
    /// Model 7: constant P, Q an impedance drawing the rated kvar at rated voltage.
    FixedQImpedance,
    /// Model 8: fractions of P and Q that are constant impedance, current and power
    /// `[zp, ip, pp, zq, iq, pq]`, and the voltage (pu) below which it drops out.
    Zip {
        p: [f64; 3],
        q: [f64; 3],
        cutoff_pu: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    pub name: String,
    pub bus: String,
    pub phases: usize,
    #[serde(default = "wye")]
    pub conn: Conn,
    /// Rated kV: line-to-line for polyphase, across the element for single-phase.
    pub kv: f64,
    pub kw: f64,
    pub kvar: f64,
    #[serde(default = "constant_power")]
    pub model: LoadModel,
    /// Below this voltage (pu of `kv`) the load becomes an impedance, as OpenDSS does.
    #[serde(default = "vmin")]
    pub vminpu: f64,
    /// Above this voltage the load becomes an impedance.
    #[serde(default = "vmax")]
    pub vmaxpu: f64,
    /// Load shape that scales kW and kvar over the day.
    #[serde(default)]
    pub shape: Option<String>,
}

/// A generator or PV system at its scheduled output (OpenDSS's Generator in its model 1, and
/// PVSystem at its irradiance): P and Q out, held within [vminpu, vmaxpu] and an impedance
/// outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    pub name: String,
    pub bus: String,
    pub phases: usize,
    #[serde(default = "wye")]
    pub conn: Conn,
    /// Rated kV: line-to-line for polyphase, across the element for single-phase.
    pub kv: f64,
    /// Output at a shape multiplier of 1.
    pub kw: f64,
    pub kvar: f64,
    #[serde(default = "gen_vmin")]
    pub vminpu: f64,
    #[serde(default = "gen_vmax")]
    pub vmaxpu: f64,
    /// Load shape that scales kW and kvar over the day (a PV system's irradiance).
    #[serde(default)]
    pub shape: Option<String>,
}

/// A shunt capacitor bank, grounded wye or delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacitor {
    pub name: String,
    pub bus: String,
    pub phases: usize,
    #[serde(default = "wye")]
    pub conn: Conn,
    pub kv: f64,
    pub kvar: f64,
    /// In service (its switch closed); a capacitor control may switch it.
    #[serde(default = "yes")]
    pub closed: bool,
}

/// A capacitor bank's switch control (OpenDSS's `CapControl`) as OpenDSS's static solution
/// runs it: it reads a line's terminal, and switches the bank on or off after its delay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapControl {
    pub name: String,
    pub capacitor: String,
    /// The line it reads, and at which end (1 or 2).
    pub line: String,
    #[serde(default = "one_usize")]
    pub terminal: usize,
    pub kind: CapControlKind,
    /// Switch on above `on` and off below `off` (kvar, amperes through the CT), or on below
    /// `on` and off above `off` (volts through the PT), or from hour `on` to hour `off`.
    pub on: f64,
    pub off: f64,
    #[serde(default = "sixty")]
    pub pt_ratio: f64,
    #[serde(default = "sixty")]
    pub ct_ratio: f64,
    /// Phase of the line the PT and CT read (1-based).
    #[serde(default = "one_usize")]
    pub pt_phase: usize,
    #[serde(default = "one_usize")]
    pub ct_phase: usize,
    #[serde(default = "delay")]
    pub on_delay_s: f64,
    #[serde(default = "delay")]
    pub off_delay_s: f64,
    /// Whatever the measure says, switch on below its `vmin` and off above its `vmax`.
    #[serde(default)]
    pub voltage_override: Option<VoltageOverride>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A capacitor control's voltage limits, volts through its PT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoltageOverride {
    pub vmin: f64,
    pub vmax: f64,
}

/// What a capacitor control measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CapControlKind {
    /// Reactive power into the line at its terminal, kvar (all phases).
    Kvar,
    /// Current in the CT's phase, amperes through the CT.
    Current,
    /// Voltage of the PT's phase to ground, volts through the PT.
    Voltage,
    /// The hour of the day: in from `on` until `off` (hours, 0 to 24; `off` before `on` spans
    /// midnight).
    Time,
}

/// A reactor, phase by phase R + jX: in series between two buses (a substation's current
/// limiter), or from a bus's nodes to ground when `bus2` is absent or names the same bus (a
/// shunt reactor, or a grounding reactor on a neutral: `bus1=b.4`, `bus2=b.0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reactor {
    pub name: String,
    pub bus1: String,
    #[serde(default)]
    pub bus2: Option<String>,
    pub phases: usize,
    pub r_ohm: f64,
    pub x_ohm: f64,
}

/// Multipliers at a fixed interval; point k holds from minute k·interval (OpenDSS counts
/// minute m as point m, 1-based, wrapping).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadShape {
    pub name: String,
    pub interval_min: f64,
    pub mult: Vec<f64>,
    /// When set, the multipliers are kW themselves rather than fractions of the load's kW.
    #[serde(default)]
    pub use_actual: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusCoord {
    pub bus: String,
    pub x: f64,
    pub y: f64,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn wye() -> Conn {
    Conn::Wye
}
fn constant_power() -> LoadModel {
    LoadModel::ConstantPower
}
fn vmin() -> f64 {
    0.95
}
fn vmax() -> f64 {
    1.05
}
fn tap_step() -> f64 {
    0.00625
}
fn max_taps() -> i32 {
    16
}
fn gen_vmin() -> f64 {
    0.9
}
fn gen_vmax() -> f64 {
    1.1
}
fn one_usize() -> usize {
    1
}
fn sixty() -> f64 {
    60.0
}
fn xht() -> f64 {
    35.0
}
fn xlt() -> f64 {
    30.0
}
fn delay() -> f64 {
    15.0
}
fn max_tap_change() -> i32 {
    16
}

/// `bus.1.2.3` → (`bus`, [1, 2, 3]); a bare name has no nodes listed.
pub fn split_terminal(s: &str) -> Result<(String, Vec<usize>), String> {
    let mut parts = s.split('.');
    let bus = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if bus.is_empty() {
        return Err(format!("terminal `{s}` has no bus name"));
    }
    let nodes = parts
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("terminal `{s}`: node `{p}` is not a number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((bus, nodes))
}

impl Load {
    /// Rated power per phase, W + j var.
    pub fn va_per_phase(&self) -> num_complex::Complex64 {
        num_complex::Complex64::new(self.kw, self.kvar) * 1000.0 / self.phases as f64
    }
}

impl Generator {
    /// Rated output per phase, W + j var.
    pub fn va_per_phase(&self) -> num_complex::Complex64 {
        num_complex::Complex64::new(self.kw, self.kvar) * 1000.0 / self.phases as f64
    }
}

impl LoadShape {
    /// The multiplier at minute `m` of the day, counted as OpenDSS counts in yearly mode:
    /// minute m is point round(m / interval), 1-based, wrapping, point 0 being the last. A half
    /// rounds to even, as Free Pascal's `Round` (OpenDSS's) does: a 15-minute step at 00:30 on
    /// an hourly shape still reads the last point.
    pub fn at_minute(&self, minute: f64) -> f64 {
        let n = self.mult.len();
        if n == 0 {
            return 1.0;
        }
        let idx = (minute / self.interval_min).round_ties_even() as i64;
        let k = (idx - 1).rem_euclid(n as i64) as usize;
        self.mult[k]
    }

    /// Minutes covered by the shape.
    pub fn span_min(&self) -> f64 {
        self.mult.len() as f64 * self.interval_min
    }
}

impl Feeder {
    /// Index of the load shape called `name` (case-insensitive, as OpenDSS names are).
    pub fn load_shape_index(&self, name: &str) -> Option<usize> {
        self.load_shapes
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Minutes covered by the longest load shape (1440 for daily one-minute profiles).
    pub fn shape_minutes(&self) -> usize {
        self.load_shapes
            .iter()
            .map(|s| s.span_min().round() as usize)
            .max()
            .unwrap_or(0)
    }
}
