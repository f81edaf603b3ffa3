//! Time-of-use energy tariffs: a base price per kWh, windows of the day (on all days, weekdays or
//! weekends) with their own price, and an optional charge per kW of peak 15-minute demand.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const DAY: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Price per kWh outside every window.
    pub base: f64,
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Price per kW of the highest 15-minute demand drawn from the utility.
    #[serde(default)]
    pub demand: Option<f64>,
}

fn default_currency() -> String {
    "EUR".into()
}

/// A time-of-use window; `to` before `from` wraps past midnight ("23:00" to "07:00").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub name: String,
    pub from: ClockTime,
    pub to: ClockTime,
    pub price: f64,
    #[serde(default)]
    pub days: Days,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Days {
    #[default]
    All,
    Weekdays,
    Weekend,
}

impl Days {
    /// Whether the day (0 = Monday) is one of these.
    pub fn has(self, weekday: u32) -> bool {
        match self {
            Days::All => true,
            Days::Weekdays => weekday < 5,
            Days::Weekend => weekday >= 5,
        }
    }
}

/// A time of day written "HH:MM", seconds since midnight; "24:00" is the end of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u32);

impl ClockTime {
    pub fn parse(s: &str) -> Option<Self> {
        let (h, m) = s.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        // Checked before it is multiplied: an hour of 2016976493 must be refused, not overflow.
        if m < 60 && (h < 24 || (h == 24 && m == 0)) {
            Some(ClockTime(h * 3600 + m * 60))
        } else {
            None
        }
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClockTime::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("expected a time of day \"HH:MM\", found {s:?}"))
        })
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "{:02}:{:02}",
            self.0 / 3600,
            self.0 / 60 % 60
        ))
    }
}

impl Window {
    /// Whether the window covers `second` of day `weekday` (0 = Monday). A window that wraps
    /// midnight belongs to the day it starts on.
    pub fn covers(&self, weekday: u32, second: u32) -> bool {
        let (from, to) = (self.from.0, self.to.0);
        if from < to {
            self.days.has(weekday) && (from..to).contains(&second)
        } else {
            (self.days.has(weekday) && second >= from)
                || (self.days.has((weekday + 6) % 7) && second < to)
        }
    }
}

impl Tariff {
    /// The price per kWh at `second` of day `weekday` (0 = Monday).
    pub fn price(&self, weekday: u32, second: u32) -> f64 {
        self.window(weekday, second).map_or(self.base, |w| w.price)
    }

    /// The window in force at `second` of day `weekday` (0 = Monday); none at the base price.
    pub fn window(&self, weekday: u32, second: u32) -> Option<&Window> {
        self.windows.iter().find(|w| w.covers(weekday, second))
    }

    /// A tariff that prices every minute of the week once, with prices that are numbers.
    pub fn validate(&self) -> Result<(), String> {
        let price_ok = |p: f64| p.is_finite() && p >= 0.0;
        if !price_ok(self.base) {
            return Err(format!("base price {} must be a number ≥ 0", self.base));
        }
        if let Some(d) = self.demand
            && !price_ok(d)
        {
            return Err(format!("demand charge {d} must be a number ≥ 0"));
        }
        for w in &self.windows {
            if !price_ok(w.price) {
                return Err(format!(
                    "window {:?}: price {} must be a number ≥ 0",
                    w.name, w.price
                ));
            }
            if w.from == w.to {
                return Err(format!(
                    "window {:?} starts and ends at the same time",
                    w.name
                ));
            }
        }
        for day in 0..7 {
            for second in (0..DAY).step_by(60) {
                let mut on = self.windows.iter().filter(|w| w.covers(day, second));
                if let (Some(a), Some(b)) = (on.next(), on.next()) {
                    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
                    return Err(format!(
                        "windows {:?} and {:?} overlap on {} at {:02}:{:02}",
                        a.name,
                        b.name,
                        NAMES[day as usize],
                        second / 3600,
                        second / 60 % 60
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(name: &str, from: &str, to: &str, price: f64, days: Days) -> Window {
        Window {
            name: name.into(),
            from: ClockTime::parse(from).unwrap(),
            to: ClockTime::parse(to).unwrap(),
            price,
            days,
        }
    }

    #[test]
    fn night_window_wraps_midnight_and_belongs_to_its_start_day() {
        let t = Tariff {
            currency: "EUR".into(),
            base: 0.30,
            windows: vec![window("night", "23:00", "07:00", 0.10, Days::Weekdays)],
            demand: None,
        };
        t.validate().unwrap();
        // Friday 23:30 and Saturday 06:00 are in Friday's night; Saturday 23:30 is not.
        assert_eq!(t.price(4, 23 * 3600 + 1800), 0.10);
        assert_eq!(t.price(5, 6 * 3600), 0.10);
        assert_eq!(t.price(5, 23 * 3600 + 1800), 0.30);
        // Monday 06:00 follows Sunday night, which is not a weekday's.
        assert_eq!(t.price(0, 6 * 3600), 0.30);
        assert_eq!(t.price(0, 7 * 3600), 0.30);
    }

    #[test]
    fn overlapping_windows_are_refused_with_where() {
        let t = Tariff {
            currency: "EUR".into(),
            base: 0.30,
            windows: vec![
                window("peak", "17:00", "21:00", 0.40, Days::All),
                window("evening", "20:00", "22:00", 0.35, Days::Weekend),
            ],
            demand: None,
        };
        assert_eq!(
            t.validate().unwrap_err(),
            "windows \"peak\" and \"evening\" overlap on Sat at 20:00"
        );
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(ClockTime::parse("24:00"), Some(ClockTime(DAY)));
        assert_eq!(ClockTime::parse("07:30"), Some(ClockTime(27_000)));
        // Hours or minutes past u32 / 3600 once overflowed before they were checked (found by
        // fuzzing scenario RON: a panic in a build with overflow checks).
        for bad in [
            "24:01",
            "7",
            "07:60",
            "x:00",
            "",
            "2016976493:00",
            "00:4294967295",
        ] {
            assert_eq!(ClockTime::parse(bad), None, "{bad}");
        }
    }
}
