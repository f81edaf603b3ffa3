//! A live site's energy and cost. The loop counts each register's rise into 15-minute
//! intervals (`Ledger`), which the store keeps beside the counters; `account` turns the stored
//! intervals into what the Energy page shows: kWh and cost today, yesterday, this week and this
//! month, daily totals, the time-of-use bands and the month's highest 15-minute demand.
//!
//! Cost is each interval's energy at the price in force when it starts. A live tariff's windows
//! start and end on quarter hours (`quarter_hour_problem`), so one price holds over each
//! interval and the cost is exact, as a utility's interval meter bills it.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, Timelike};
use record::Tariff;
use record::schema::J_PER_KWH;
use serde::Serialize;

use crate::store::Interval;

/// The metering interval: a utility's demand interval, and the ledger's.
pub const INTERVAL_MS: i64 = 15 * 60_000;

/// The interval holding `t` (unix ms): its start.
pub fn interval_of(t: i64) -> i64 {
    t.div_euclid(INTERVAL_MS) * INTERVAL_MS
}

/// Each register's rise since the last count, by interval, until the next batch takes it.
#[derive(Debug)]
pub struct Ledger {
    registers: Vec<String>,
    last: Vec<f64>,
    rises: BTreeMap<(i64, usize), f64>,
}

impl Ledger {
    /// Counting from the registers' values now (J, in `registers`' order).
    pub fn new(registers: Vec<String>, now: &[f64]) -> Self {
        Ledger {
            registers,
            last: now.to_vec(),
            rises: BTreeMap::new(),
        }
    }

    /// The registers as they stand at `t` (unix ms): their rise since the last count happened
    /// before `t`, in the interval holding the instant just before it (energy counted up to
    /// 00:15:00 belongs to the quarter that ends then).
    pub fn count(&mut self, t: i64, now: &[f64]) {
        let at = interval_of(t - 1);
        for (i, (last, &e)) in self.last.iter_mut().zip(now).enumerate() {
            let rise = e - *last;
            if rise != 0.0 && rise.is_finite() {
                *self.rises.entry((at, i)).or_default() += rise;
                *last = e;
            }
        }
    }

    /// The rises counted since the last take.
    pub fn take(&mut self) -> Vec<Interval> {
        std::mem::take(&mut self.rises)
            .into_iter()
            .map(|((t, i), joules)| Interval {
                register: self.registers[i].clone(),
                t,
                joules,
            })
            .collect()
    }
}

/// Why a tariff cannot price a live site's intervals whole: a window edge off the quarter hour.
pub fn quarter_hour_problem(t: &Tariff) -> Option<String> {
    t.windows.iter().find_map(|w| {
        [w.from, w.to]
            .into_iter()
            .find(|c| c.0 % (INTERVAL_MS / 1000) as u32 != 0)
            .map(|c| {
                format!(
                    "window {:?}: {:02}:{:02} is not on a quarter hour; the site meters \
                     15-minute intervals, so windows start and end at :00, :15, :30 or :45",
                    w.name,
                    c.0 / 3600,
                    c.0 / 60 % 60
                )
            })
    })
}

/// What the Energy page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Energy {
    /// The site's clock, unix ms.
    pub now: i64,
    pub currency: Option<String>,
    /// The register the utility bills (the main, or a feeder's source): cost, demand and bands.
    pub billed: Option<String>,
    pub periods: Vec<Period>,
    pub registers: Vec<Register>,
    /// The last days, oldest first, each with an amount per register in `registers`' order.
    pub days: Vec<Day>,
    /// This month's highest 15-minute demand of the billed register.
    pub peak: Option<Peak>,
    /// The tariff's charge for that peak.
    pub demand_charge: Option<f64>,
    /// This month's billed energy by time-of-use band (`base` outside every window).
    pub bands: Vec<Band>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub name: &'static str,
    /// [from, to) unix ms, local days.
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Register {
    pub name: String,
    /// Its stored counter, kWh.
    pub total_kwh: f64,
    /// One per period, in `periods`' order.
    pub amounts: Vec<Amount>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Amount {
    pub kwh: f64,
    /// With a tariff: each interval's kWh at its price, summed.
    pub cost: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    pub from: i64,
    pub amounts: Vec<Amount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    pub kw: f64,
    /// The interval's start, unix ms.
    pub from: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    pub name: String,
    pub price: f64,
    pub kwh: f64,
    pub cost: f64,
}

/// The site's calendar: local days at a fixed offset from UTC.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    pub utc_offset_s: i32,
}

impl Calendar {
    /// Local wall-clock time at `t`, unix ms.
    pub fn local(self, t: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_millis(t + i64::from(self.utc_offset_s) * 1000)
            .unwrap_or_default()
            .naive_utc()
    }

    /// Local midnight starting `d`, unix ms.
    pub fn midnight(self, d: NaiveDate) -> i64 {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
            - i64::from(self.utc_offset_s) * 1000
    }

    /// The price in force at `t`, and its band's name.
    pub fn price(self, tariff: &Tariff, t: i64) -> (f64, &str) {
        let l = self.local(t);
        let (day, second) = (
            l.weekday().num_days_from_monday(),
            l.num_seconds_from_midnight(),
        );
        tariff
            .window(day, second)
            .map_or((tariff.base, "base"), |w| (w.price, w.name.as_str()))
    }

    /// Today, yesterday, this week (from Monday) and this month at `now`.
    pub fn periods(self, now: i64) -> Vec<Period> {
        let today = self.local(now).date();
        let next = |d: NaiveDate, n: u64| d.checked_add_days(Days::new(n)).unwrap_or(d);
        let week =
            today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let month = today.with_day(1).unwrap_or(today);
        let month_end = month.checked_add_months(Months::new(1)).unwrap_or(month);
        let span = |name, from: NaiveDate, to: NaiveDate| Period {
            name,
            from: self.midnight(from),
            to: self.midnight(to),
        };
        vec![
            span("today", today, next(today, 1)),
            span("yesterday", today.pred_opt().unwrap_or(today), today),
            span("week", week, next(week, 7)),
            span("month", month, month_end),
        ]
    }

    /// The `n` local days up to and including the one holding `now`, oldest first.
    pub fn days(self, now: i64, n: u32) -> Vec<(NaiveDate, i64, i64)> {
        let today = self.local(now).date();
        (0..n)
            .rev()
            .filter_map(|k| today.checked_sub_days(Days::new(u64::from(k))))
            .map(|d| {
                let end = d.succ_opt().unwrap_or(d);
                (d, self.midnight(d), self.midnight(end))
            })
            .collect()
    }
}

/// Where the ledger must be read from for `account` at `now` over `days` days.
pub fn reach(cal: Calendar, now: i64, days: u32) -> (i64, i64) {
    let periods = cal.periods(now);
    let from = periods.iter().map(|p| p.from);
    let first_day = cal.days(now, days.max(1)).first().map(|d| d.1);
    let from = from.chain(first_day).min().unwrap_or(now);
    let to = periods.iter().map(|p| p.to).max().unwrap_or(now);
    (from, to)
}

/// A site's books: its registers, the one the utility bills, its tariff and calendar.
#[derive(Debug, Clone, Copy)]
pub struct Books<'a> {
    pub registers: &'a [String],
    pub billed: Option<&'a str>,
    pub tariff: Option<&'a Tariff>,
    pub cal: Calendar,
}

/// What the Energy page shows at `now` from the ledger's `intervals` (at least `reach`'s
/// range) and the stored `counters` (J).
pub fn account(
    books: Books,
    intervals: &[Interval],
    counters: &BTreeMap<String, f64>,
    now: i64,
    days: u32,
) -> Energy {
    let Books {
        registers,
        billed,
        tariff,
        cal,
    } = books;
    let periods = cal.periods(now);
    let index: BTreeMap<&str, usize> = registers
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let mut amounts = vec![vec![Amount::default(); periods.len()]; registers.len()];
    let day_spans = cal.days(now, days);
    let mut daily = vec![vec![Amount::default(); registers.len()]; day_spans.len()];
    let month = &periods[3];
    let mut peak: Option<Peak> = None;
    let mut bands: BTreeMap<&str, Band> = BTreeMap::new();
    let add = |a: &mut Amount, kwh: f64, cost: Option<f64>| {
        a.kwh += kwh;
        if let Some(c) = cost {
            *a.cost.get_or_insert(0.0) += c;
        }
    };
    for i in intervals {
        let Some(&r) = index.get(i.register.as_str()) else {
            continue;
        };
        let kwh = i.joules / J_PER_KWH;
        let priced = tariff.map(|t| cal.price(t, i.t));
        let cost = priced.map(|(p, _)| kwh * p);
        for (a, p) in amounts[r].iter_mut().zip(&periods) {
            if (p.from..p.to).contains(&i.t) {
                add(a, kwh, cost);
            }
        }
        if let Some(d) = day_spans.iter().position(|d| (d.1..d.2).contains(&i.t)) {
            add(&mut daily[d][r], kwh, cost);
        }
        if Some(i.register.as_str()) == billed && (month.from..month.to).contains(&i.t) {
            let kw = i.joules / (INTERVAL_MS as f64 / 1000.0) / 1000.0;
            if peak.as_ref().is_none_or(|p| kw > p.kw) {
                peak = Some(Peak { kw, from: i.t });
            }
            if let Some((price, name)) = priced {
                let b = bands.entry(name).or_insert_with(|| Band {
                    name: name.to_string(),
                    price,
                    kwh: 0.0,
                    cost: 0.0,
                });
                b.kwh += kwh;
                b.cost += kwh * price;
            }
        }
    }
    let demand_charge = tariff
        .and_then(|t| t.demand)
        .map(|d| d * peak.as_ref().map_or(0.0, |p| p.kw));
    Energy {
        now,
        currency: tariff.map(|t| t.currency.clone()),
        billed: billed.map(str::to_string),
        registers: registers
            .iter()
            .zip(amounts)
            .map(|(name, amounts)| Register {
                total_kwh: counters.get(name).copied().unwrap_or(0.0) / J_PER_KWH,
                name: name.clone(),
                amounts,
            })
            .collect(),
        periods,
        days: day_spans
            .iter()
            .zip(daily)
            .map(|(d, amounts)| Day {
                date: d.0.format("%Y-%m-%d").to_string(),
                from: d.1,
                amounts,
            })
            .collect(),
        peak,
        demand_charge,
        bands: bands.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use record::tariff::{ClockTime, Days as On, Window};

    const H: i64 = 3_600_000;

    /// 2026-12-02 00:00 UTC, a Wednesday.
    const WED: i64 = 1_796_169_600_000;

    fn tariff() -> Tariff {
        let w = |name: &str, from, to, price| Window {
            name: name.into(),
            from: ClockTime::parse(from).unwrap(),
            to: ClockTime::parse(to).unwrap(),
            price,
            days: On::All,
        };
        Tariff {
            currency: "EUR".into(),
            base: 0.25,
            windows: vec![
                w("peak", "17:00", "21:00", 0.40),
                w("night", "23:00", "07:00", 0.10),
            ],
            demand: Some(8.0),
        }
    }

    #[test]
    fn the_rise_up_to_a_quarter_s_end_is_that_quarter_s() {
        let mut l = Ledger::new(vec!["main".into(), "load/a".into()], &[100.0, 5.0]);
        l.count(WED + INTERVAL_MS - 1000, &[160.0, 5.0]);
        l.count(WED + INTERVAL_MS, &[170.0, 5.0]);
        l.count(WED + INTERVAL_MS + 1000, &[175.0, 6.0]);
        let got: Vec<_> = l
            .take()
            .into_iter()
            .map(|i| (i.register, (i.t - WED) / 1000, i.joules))
            .collect();
        let r = |name: &str, s, j| (name.to_string(), s, j);
        assert_eq!(
            got,
            [
                r("main", 0, 70.0),
                r("main", 900, 5.0),
                r("load/a", 900, 1.0)
            ]
        );
        assert!(l.take().is_empty());
    }

    #[test]
    fn days_and_weeks_are_local_and_a_week_starts_on_monday() {
        // UTC+1: Wednesday 23:30 UTC is Thursday 00:30 local.
        let cal = Calendar { utc_offset_s: 3600 };
        let p = cal.periods(WED + 23 * H + H / 2);
        let names: Vec<_> = p.iter().map(|p| p.name).collect();
        assert_eq!(names, ["today", "yesterday", "week", "month"]);
        assert_eq!((p[0].from, p[0].to), (WED + 23 * H, WED + 47 * H));
        assert_eq!(p[1].from, WED - H);
        // Monday 2026-11-30 00:00 local.
        assert_eq!(p[2].from, WED - 2 * 24 * H - H);
        // December 1st to January 1st, local.
        assert_eq!(p[3].from, WED - 24 * H - H);
        assert_eq!(p[3].to, WED + 30 * 24 * H - H);
        let d = cal.days(WED + 23 * H + H / 2, 3);
        assert_eq!(d[2].0.to_string(), "2026-12-03");
        assert_eq!(d[0].1, WED - 24 * H - H);
    }

    #[test]
    fn cost_is_each_interval_at_its_price_and_the_peak_is_the_highest_quarter() {
        let cal = Calendar { utc_offset_s: 0 };
        // 1 kWh in every quarter of Wednesday, 3 kWh in the 18:15 one; 0.5 kWh of a load.
        let mut iv: Vec<Interval> = (0..96)
            .map(|q| Interval {
                register: "main".into(),
                t: WED + q * INTERVAL_MS,
                joules: if q == 73 { 3.0 } else { 1.0 } * J_PER_KWH,
            })
            .collect();
        iv.push(Interval {
            register: "load/a".into(),
            t: WED + 2 * H,
            joules: 0.5 * J_PER_KWH,
        });
        let counters = BTreeMap::from([("main".to_string(), 200.0 * J_PER_KWH)]);
        let regs = ["main".to_string(), "load/a".to_string()];
        let t = tariff();
        let books = Books {
            registers: &regs,
            billed: Some("main"),
            tariff: Some(&t),
            cal,
        };
        let e = account(books, &iv, &counters, WED + 23 * H, 2);
        let today = e.registers[0].amounts[0];
        assert!((today.kwh - 98.0).abs() < 1e-9);
        // 7 h night (28 quarters) + 1 h night (4): 32 at 0.10; 16 peak quarters + 2 kWh at 0.40;
        // 48 quarters at 0.25.
        let want = 32.0 * 0.10 + 18.0 * 0.40 + 48.0 * 0.25;
        assert!((today.cost.unwrap() - want).abs() < 1e-9, "{today:?}");
        assert_eq!(e.registers[1].amounts[0].cost, Some(0.5 * 0.10));
        assert_eq!(e.registers[0].total_kwh, 200.0);
        let peak = e.peak.unwrap();
        assert_eq!((peak.kw, peak.from), (12.0, WED + 18 * H + INTERVAL_MS));
        assert_eq!(e.demand_charge, Some(96.0));
        let bands: Vec<_> = e.bands.iter().map(|b| (b.name.as_str(), b.kwh)).collect();
        assert_eq!(bands, [("base", 48.0), ("night", 32.0), ("peak", 18.0)]);
        assert_eq!(e.days.len(), 2);
        assert_eq!(e.days[1].amounts[0].kwh, today.kwh);
        assert_eq!(e.days[0].amounts[0].kwh, 0.0);
    }

    #[test]
    fn a_window_off_the_quarter_hour_is_refused_with_its_name() {
        let mut t = tariff();
        assert_eq!(quarter_hour_problem(&t), None);
        t.windows[1].from = ClockTime::parse("23:10").unwrap();
        let p = quarter_hour_problem(&t).unwrap();
        assert!(p.contains("\"night\": 23:10"), "{p}");
    }
}
