//! Controller settings as a user writes them (RON), with the defaults of common practice.
//!
//! Value types validate while they are read, so a bad value is reported at its own line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::schedule::Schedule;

/// A non-negative, finite number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Secs(f64);

impl Secs {
    /// For literal defaults in code (checked where they are written); values from users go
    /// through `new`.
    pub const fn lit(s: f64) -> Self {
        assert!(
            s.is_finite() && s >= 0.0,
            "a non-negative, finite number of seconds"
        );
        Secs(s)
    }
    pub fn new(s: f64) -> Option<Self> {
        (s.is_finite() && s >= 0.0).then_some(Secs(s))
    }
    pub fn get(self) -> f64 {
        self.0
    }
    pub fn micros(self) -> u64 {
        (self.0 * 1e6).round() as u64
    }
    pub fn duration(self) -> Duration {
        Duration::from_micros((self.0 * 1e6).round() as u64)
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = f64::deserialize(d)?;
        Secs::new(s).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a duration in seconds >= 0, found {s}"))
        })
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} s", self.0)
    }
}

/// A strictly positive, finite quantity (per-unit, amps, watts, ohms).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct Positive(f64);

impl Positive {
    /// For literal defaults in code; values from users go through `new`.
    pub(crate) const fn lit(x: f64) -> Self {
        Positive(x)
    }
    pub fn new(x: f64) -> Option<Self> {
        (x.is_finite() && x > 0.0).then_some(Positive(x))
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let x = f64::deserialize(d)?;
        Positive::new(x)
            .ok_or_else(|| serde::de::Error::custom(format!("expected a number > 0, found {x}")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub ats: AtsSettings,
    #[serde(default)]
    pub protection: SourceProtection,
    #[serde(default)]
    pub shedding: SheddingSettings,
    /// Minimum time between two relay closures (inrush guard).
    #[serde(default = "d_stagger")]
    pub stagger: Secs,
    /// Per-load settings by the grid's load name; loads not named take the defaults.
    #[serde(default)]
    pub loads: BTreeMap<String, LoadSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ats: AtsSettings::default(),
            protection: SourceProtection::default(),
            shedding: SheddingSettings::default(),
            stagger: d_stagger(),
            loads: BTreeMap::new(),
        }
    }
}

fn d_stagger() -> Secs {
    Secs(0.1)
}

/// Automatic transfer switch: acceptance bands and timers named as on commercial controllers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtsSettings {
    /// A source is dropped below this voltage, pu.
    pub undervoltage_dropout: Positive,
    /// ... and accepted again above this one.
    pub undervoltage_pickup: Positive,
    pub overvoltage_dropout: Positive,
    pub overvoltage_pickup: Positive,
    /// Dropped when |f - fn| exceeds this fraction of nominal ...
    pub frequency_dropout: Positive,
    /// ... accepted again when within this fraction.
    pub frequency_pickup: Positive,
    /// A source must be outside its band this long before it counts as lost.
    pub dropout_delay: Secs,
    /// Ride through main outages shorter than this without starting the backup.
    pub momentary_override: Secs,
    /// Further delay between declaring the outage and closing the engine start contact.
    pub engine_start_delay: Secs,
    /// Backup must be acceptable this long before the load is transferred to it.
    pub transfer_delay: Secs,
    /// Main must be continuously acceptable this long before retransfer (ASCO ships 30 min).
    pub retransfer_delay: Secs,
    /// Backup runs unloaded this long after retransfer, then stops.
    pub cooldown: Secs,
    /// Alarm when the backup is not acceptable this long after the start signal.
    pub transfer_fail_time: Secs,
    /// Open transition: both contactors open at least this long between sources.
    pub dead_time: Secs,
    /// Transfer at once after this many main dropouts inside `dropout_window` (brownouts).
    pub dropouts_to_transfer: u32,
    pub dropout_window: Secs,
    /// The generator's exercise: a test in each of the schedule's windows.
    pub exercise: Option<Exercise>,
}

/// A generator exercise, as commercial transfer switches schedule it (weekly, for half an hour):
/// in each window the ATS runs a test, on load or off load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    pub schedule: Schedule,
    /// Move the load to the backup for the exercise; otherwise the engine runs unloaded.
    #[serde(default)]
    pub on_load: bool,
}

impl Default for AtsSettings {
    fn default() -> Self {
        AtsSettings {
            undervoltage_dropout: Positive(0.85),
            undervoltage_pickup: Positive(0.90),
            overvoltage_dropout: Positive(1.10),
            overvoltage_pickup: Positive(1.05),
            frequency_dropout: Positive(0.05),
            frequency_pickup: Positive(0.02),
            dropout_delay: Secs(0.5),
            momentary_override: Secs(3.0),
            engine_start_delay: Secs(0.0),
            transfer_delay: Secs(1.0),
            retransfer_delay: Secs(300.0),
            cooldown: Secs(300.0),
            transfer_fail_time: Secs(30.0),
            dead_time: Secs(0.5),
            dropouts_to_transfer: 3,
            dropout_window: Secs(120.0),
            exercise: None,
        }
    }
}

/// A definite-time stage: operate when the quantity has been beyond `pickup` for `delay`,
/// reset when it comes back past `dropout`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub pickup: Positive,
    /// Reset threshold; defaults to 2 % inside the pickup.
    #[serde(default)]
    pub dropout: Option<Positive>,
    pub delay: Secs,
}

/// Inverse-time overcurrent (51) after IEC 60255-151.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InverseStage {
    /// Setting current Is, A.
    pub pickup: Positive,
    #[serde(default)]
    pub curve: Curve,
    /// Time multiplier setting.
    #[serde(default = "d_tms")]
    pub tms: Positive,
}

fn d_tms() -> Positive {
    Positive(0.1)
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overcurrent {
    /// 50: instantaneous (or short definite-time) element, amps.
    #[serde(default)]
    pub instantaneous: Option<Stage>,
    /// 51: inverse-time element.
    #[serde(default)]
    pub inverse: Option<InverseStage>,
}

/// Automatic retries after an overcurrent or limit trip, then lockout until an operator resets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// Reclose attempts after a trip; the trip after the last attempt locks out.
    pub attempts: u32,
    pub delay: Secs,
    /// The attempt count starts again after this long without a trip.
    pub reset_after: Secs,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 2,
            delay: Secs(5.0),
            reset_after: Secs(300.0),
        }
    }
}

/// Protection at the source level, on whichever source feeds the bus. Voltages in pu of nominal,
/// frequencies in Hz, currents in A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceProtection {
    /// 59: overvoltage stages.
    pub overvoltage: Vec<Stage>,
    /// 27: undervoltage stages.
    pub undervoltage: Vec<Stage>,
    /// 81O and 81U.
    pub overfrequency: Vec<Stage>,
    pub underfrequency: Vec<Stage>,
    /// 50/51 at the main and the backup.
    pub main_overcurrent: Overcurrent,
    pub backup_overcurrent: Overcurrent,
    pub retry: Retry,
}

impl Default for SourceProtection {
    fn default() -> Self {
        let stage = |p, d| Stage {
            pickup: Positive(p),
            dropout: None,
            delay: Secs(d),
        };
        SourceProtection {
            overvoltage: vec![stage(1.20, 0.16), stage(1.10, 2.0)],
            undervoltage: vec![stage(0.45, 0.16), stage(0.70, 2.0)],
            overfrequency: vec![stage(1.04, 0.5)],
            underfrequency: vec![stage(0.95, 0.5)],
            main_overcurrent: Overcurrent::default(),
            backup_overcurrent: Overcurrent::default(),
            retry: Retry::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SheddingSettings {
    /// What the main may deliver, kW; none: unlimited.
    pub main_capacity_kw: Option<Positive>,
    /// What the backup may deliver, kW; none: unlimited.
    pub backup_capacity_kw: Option<Positive>,
    /// Demand limit over a fixed window (a utility's 15-minute demand), kW.
    pub demand_limit_kw: Option<Positive>,
    pub demand_window: Secs,
    /// Overload must last this long before loads are shed.
    pub shed_delay: Secs,
    /// Headroom must last this long before the next shed load is restored.
    pub restore_delay: Secs,
    /// A load is restored only if it fits with this fraction of capacity to spare.
    pub restore_margin: f64,
}

impl Default for SheddingSettings {
    fn default() -> Self {
        SheddingSettings {
            main_capacity_kw: None,
            backup_capacity_kw: None,
            demand_limit_kw: None,
            demand_window: Secs(900.0),
            shed_delay: Secs(2.0),
            restore_delay: Secs(30.0),
            restore_margin: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PowerOn {
    #[default]
    On,
    Off,
    /// The state stored before the restart (off when nothing was stored).
    Last,
}

/// What a load does while its measurement is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnLoss {
    /// Open its relay until fresh readings return: nothing unprotected stays energized.
    Off,
    /// Keep its relay as it is (a fridge, a server): its protection waits for fresh readings.
    Hold,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSettings {
    /// Shedding order: higher numbers are shed first; 0 is the most important.
    pub priority: u8,
    /// Never shed (still protected).
    pub critical: bool,
    pub power_on: PowerOn,
    /// Switch off when above this current (A) or power (W) for `limit_delay`.
    pub limit_a: Option<Positive>,
    pub limit_w: Option<Positive>,
    pub limit_delay: Secs,
    pub overcurrent: Overcurrent,
    pub retry: Retry,
    pub schedules: Vec<Schedule>,
    /// Loads that must be on for this one to run (a chiller needs its pump).
    pub requires: Vec<String>,
    /// On loss of measurement; none: hold a critical load, switch any other off.
    pub on_loss: Option<OnLoss>,
}

impl LoadSettings {
    pub fn on_loss(&self) -> OnLoss {
        self.on_loss.unwrap_or(if self.critical {
            OnLoss::Hold
        } else {
            OnLoss::Off
        })
    }
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            priority: 100,
            critical: false,
            power_on: PowerOn::On,
            limit_a: None,
            limit_w: None,
            limit_delay: Secs(1.0),
            overcurrent: Overcurrent::default(),
            retry: Retry::default(),
            schedules: Vec::new(),
            requires: Vec::new(),
            on_loss: None,
        }
    }
}

/// IEC 60255-151 inverse-time curves: t = TMS * k / ((I/Is)^a - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Curve {
    #[default]
    StandardInverse,
    VeryInverse,
    ExtremelyInverse,
    LongTimeInverse,
}

impl Curve {
    pub fn constants(self) -> (f64, f64) {
        match self {
            Curve::StandardInverse => (0.14, 0.02),
            Curve::VeryInverse => (13.5, 1.0),
            Curve::ExtremelyInverse => (80.0, 2.0),
            Curve::LongTimeInverse => (120.0, 1.0),
        }
    }

    /// Operate time in seconds at `multiple` = I/Is; infinite at or below pickup.
    pub fn operate_time(self, tms: f64, multiple: f64) -> f64 {
        let (k, a) = self.constants();
        let d = multiple.powf(a) - 1.0;
        if d <= 0.0 { f64::INFINITY } else { tms * k / d }
    }
}
