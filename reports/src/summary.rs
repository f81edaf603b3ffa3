//! The summary tables of a run, computed with polars from its recording: energy, cost and peak
//! demand per load, the site's energy, demand, backup time and outages, time spent shed or
//! tripped, voltage and unbalance statistics, trips per protection element, phase moves and
//! every expectation's result.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::quantile;
use crate::recording::{Recording, collect};
use record::EventRow;
use record::schema::{HEAD, J_PER_KWH, member};
use record::tariff::{Days, Tariff};
use record::{Expectation, Kind, Meta};

const WEEK: f64 = 604_800.0;
const QUARTER: f64 = 900.0;
/// Spans in a stretch of the run read at once: 40 days of quarter hours, 64 hours of minutes;
/// a whole number of quarter hours either way. A site of many loads reads shorter stretches,
/// down to a quarter of that, so that a stretch holds about `CHUNK_GROUPS` (span, load) groups
/// (a thousand homes' 40 days would be 4.5 million, 113 MB of group-by state).
const CHUNK_SPANS: i64 = 3840;
const CHUNK_GROUPS: i64 = 1 << 20;

/// Mean demand per 15-minute window: (start, s from the run's start; kW), in time order.
pub type Demand = Vec<(f64, f64)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Local wall-clock time at t = 0.
    pub start: chrono::NaiveDateTime,
    pub kind: Kind,
    pub currency: Option<String>,
    pub site: Vec<Fact>,
    pub loads: Vec<LoadRow>,
    pub stats: Vec<Stat>,
    /// Protection element → (trips, lockouts).
    pub protection: Vec<(String, usize, usize)>,
    /// Event name → count.
    pub events: Vec<(String, usize)>,
    /// Home → phase moves.
    pub phase_moves: Vec<(String, usize)>,
    /// Each 15-minute window's mean demand drawn from the main (a feeder: at the source).
    pub demand: Demand,
    pub expectations: Vec<Expectation>,
}

/// One figure about the whole site, with its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub label: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadRow {
    pub name: String,
    pub priority: Option<u8>,
    pub energy_kwh: f64,
    /// At the tariff's time-of-use prices, whatever source fed it.
    pub cost: Option<f64>,
    /// The highest 15-minute mean demand, kW.
    pub peak_kw: f64,
    pub on_s: Option<f64>,
    pub shed_s: Option<f64>,
    /// Tripped or locked out.
    pub tripped_s: Option<f64>,
    /// Feeders: the phase at the end of the run.
    pub phase: Option<String>,
}

/// Distribution of one recorded quantity over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub label: String,
    pub unit: String,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(rec: &Recording) -> PolarsResult<Self> {
        let meta = &rec.meta;
        let tariff = meta.tariff.as_ref();
        let (mut site, demand) = energy(rec)?;

        if rec.site.has("backup/closed") {
            let closed = col("backup/closed").eq(lit(record::schema::SWITCH[1]));
            let on_backup = collect(
                timed(rec.site.lazy(), meta)
                    .select([when(closed).then(col("dt")).otherwise(lit(0.0)).alias("s")])
                    .select([col("s").sum()]),
            )?;
            site.push(fact("time on backup", scalar(&on_backup, "s")?, "s".into()));
        }
        if meta.kind == Kind::Pdu {
            let (count, total, longest) = outages(&rec.events, meta.duration_s);
            site.push(fact("outages", count as f64, String::new()));
            site.push(fact("outage time, total", total, "s".into()));
            site.push(fact("outage time, longest", longest, "s".into()));
        }
        let trips = rec.events.iter().filter(|e| e.event == "trip").count();
        site.push(fact("trips", trips as f64, String::new()));
        if meta.kind == Kind::Feeder {
            let moves = rec.events.iter().filter(|e| e.event == "phase_move");
            site.push(fact("phase moves", moves.count() as f64, String::new()));
        }

        Ok(Summary {
            start: meta.start,
            kind: meta.kind,
            currency: tariff.map(|t| t.currency.clone()),
            site,
            loads: loads(rec)?,
            stats: stats(rec)?,
            protection: protection(&rec.events),
            events: counts(rec.events.iter().map(|e| e.event.clone())),
            phase_moves: counts(
                rec.events
                    .iter()
                    .filter(|e| e.event == "phase_move")
                    .map(|e| e.subject.clone()),
            ),
            expectations: meta.expectations.clone(),
            demand,
        })
    }

    /// A site figure by its label.
    pub fn fact(&self, label: &str) -> Option<f64> {
        self.site.iter().find(|f| f.label == label).map(|f| f.value)
    }
}

fn fact(label: &str, value: f64, unit: String) -> Fact {
    Fact {
        label: label.into(),
        value,
        unit,
    }
}

/// The site's energy from its source registers, its 15-minute demand windows and, with a tariff,
/// its cost.
fn energy(rec: &Recording) -> PolarsResult<(Vec<Fact>, Demand)> {
    let meta = &rec.meta;
    let registers: &[(&str, &str)] = match meta.kind {
        Kind::Pdu => &[
            ("main/energy", "energy from the main"),
            ("backup/energy", "energy from the backup"),
        ],
        Kind::Feeder => &[("source/energy", "energy at the source")],
    };
    let registers: Vec<_> = registers.iter().filter(|(c, _)| rec.site.has(c)).collect();
    let Some(billed) = registers.first().map(|r| r.0) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let names: Vec<&str> = registers.iter().map(|r| r.0).collect();
    let spans = Spans::of(meta);
    let mut aggs: Vec<Expr> = names.iter().map(|c| col(*c).sum()).collect();
    let tariff = meta.tariff.as_ref();
    if let Some(t) = tariff {
        // The utility bills what the main (or the feeder's source) delivered.
        aggs.push((col(billed) * price(t, meta)).sum().alias("cost"));
    }
    // Each register's energy, then the cost.
    let mut sums = vec![0.0; aggs.len()];
    let mut demand = Demand::new();
    let site_rows = rec.site.lazy();
    spans.each_stretch(&site_rows, None, &names, meta.duration_s, |df| {
        let part = df.clone().lazy().select(aggs.clone()).collect()?;
        for (sum, c) in sums.iter_mut().zip(part.columns()) {
            *sum += c.cast(&DataType::Float64)?.f64()?.get(0).unwrap_or(0.0);
        }
        demand.extend(quarters(df, meta, &spans, billed)?);
        Ok(())
    })?;
    let mut site = Vec::new();
    for ((_, label), kwh) in registers.iter().zip(&sums) {
        site.push(fact(label, *kwh, "kWh".into()));
    }
    let (peak, at) = peak(&demand);
    site.push(fact("peak 15-minute demand", peak, "kW".into()));
    site.push(fact("peak demand window starts", at, "at".into()));
    if let Some(t) = tariff {
        let money = || t.currency.clone();
        let energy = sums[names.len()];
        site.push(fact("energy cost", energy, money()));
        if let Some(d) = t.demand {
            site.push(fact("demand charge", d * peak, money()));
            site.push(fact("total cost", energy + d * peak, money()));
        }
    }
    Ok((site, demand))
}

/// Spans of wall-clock time within which the price cannot change: quarter hours when every
/// tariff window starts and ends on one (as real tariffs do), else minutes (windows are set to
/// the minute). A register's increments summed over a span are its first reading after the
/// span less its first in it, so a run of any length is priced from a row per span.
struct Spans {
    /// Seconds since Monday 00:00 at t = 0.
    offset: f64,
    width: f64,
    /// The site's loads (at least one).
    loads: i64,
}

impl Spans {
    fn of(meta: &Meta) -> Self {
        let on_quarters = meta.tariff.as_ref().is_none_or(|t| {
            t.windows
                .iter()
                .all(|w| w.from.0 % QUARTER as u32 == 0 && w.to.0 % QUARTER as u32 == 0)
        });
        Spans {
            offset: meta.start_of_week_s(),
            width: if on_quarters { QUARTER } else { 60.0 },
            loads: (meta.loads.len() as i64).max(1),
        }
    }

    /// Each row's span, counted from Monday 00:00 of the start's week.
    fn key(&self) -> Expr {
        ((col("t") + lit(self.offset)) / lit(self.width))
            .cast(DataType::Int64)
            .alias("span")
    }

    /// The quarter hour a span is in (from its first `t`: a span lies within one).
    fn quarter(&self) -> Expr {
        ((col("t") + lit(self.offset)) / lit(QUARTER))
            .cast(DataType::Int64)
            .alias("quarter")
    }

    /// [`Spans::increments`] over a run of `duration` s, handed to `f` a stretch of
    /// [`CHUNK_SPANS`] spans (fewer for many loads) at a time (on quarter hours, so no quarter
    /// is split): a year of quarters is 35,040 rows a load, held a stretch at a time. Each stretch reads its rows and
    /// a span either side (the next span's first reading closes its last) through a filter on
    /// `t`.
    fn each_stretch(
        &self,
        lf: &LazyFrame,
        by: Option<&str>,
        registers: &[&str],
        duration: f64,
        mut f: impl FnMut(DataFrame) -> PolarsResult<()>,
    ) -> PolarsResult<()> {
        let keys = if by.is_some() { self.loads } else { 1 };
        let chunk = (CHUNK_GROUPS / keys / 15 * 15).clamp(CHUNK_SPANS / 4, CHUNK_SPANS);
        let stretch = chunk as f64 * self.width;
        let first = (self.offset / stretch) as i64;
        let last = ((duration + self.offset) / stretch) as i64;
        for c in first..=last {
            let from = c as f64 * stretch - self.offset - self.width;
            let to = (c + 1) as f64 * stretch - self.offset + self.width;
            // One interval, not two comparisons: polars skips row groups on a float column's
            // maximum only for `is_between` (NaN-safe), so `t >= from` read every row group
            // from the file's start, each stretch more than the last.
            let rows =
                lf.clone()
                    .filter(col("t").is_between(lit(from), lit(to), ClosedInterval::Left));
            let spans = c * chunk..(c + 1) * chunk;
            let within = col("span")
                .gt_eq(lit(spans.start))
                .and(col("span").lt(lit(spans.end)));
            f(self
                .increments(rows, by, registers)?
                .lazy()
                .filter(within)
                .collect()?)?;
        }
        Ok(())
    }

    /// Per span (and per `by`, the loads' name): its first `t` and each register's increment
    /// in kWh over it (the closing row's span: up to the run's end), in time order. The scan
    /// streams; the result holds a row per span.
    fn increments(
        &self,
        lf: LazyFrame,
        by: Option<&str>,
        registers: &[&str],
    ) -> PolarsResult<DataFrame> {
        let mut keys = vec![col("span")];
        keys.extend(by.map(col));
        let mut aggs = vec![col("t").first().alias("t")];
        for r in registers {
            aggs.push(col(*r).first().alias(format!("{r}_first")));
            aggs.push(col(*r).last().alias(format!("{r}_last")));
        }
        let spans = collect(lf.with_column(self.key()).group_by(keys).agg(aggs))?;
        let mut order = Vec::new();
        order.extend(by);
        order.push("span");
        let spans = spans.lazy().sort(order, Default::default()).collect()?;
        // The next span's first reading, of the same load.
        let same = match by {
            Some(k) => col(k).shift(lit(-1)).eq(col(k)),
            None => col("span").shift(lit(-1)).is_not_null(),
        };
        let mut out = vec![col("t"), col("span")];
        out.extend(by.map(col));
        for r in registers {
            // kWh before differencing, as the registers read in kWh.
            let kwh = |c: String| col(c) / lit(J_PER_KWH);
            let (first, last) = (kwh(format!("{r}_first")), kwh(format!("{r}_last")));
            let next = when(same.clone())
                .then(first.clone().shift(lit(-1)))
                .otherwise(last);
            out.push((next - first).alias(*r));
        }
        spans.lazy().select(out).collect()
    }
}

/// Adds `dt`: how long each row stands for (up to the next recording, or the run's end).
fn timed(lf: LazyFrame, meta: &Meta) -> LazyFrame {
    let (rec, dur) = (lit(meta.record_every_s), lit(meta.duration_s));
    lf.with_column(
        when((col("t") + rec.clone()).gt(dur.clone()))
            .then(dur - col("t"))
            .otherwise(rec)
            .alias("dt"),
    )
}

/// Seconds since Monday 00:00 of each row.
fn time_of_week(meta: &Meta) -> Expr {
    (col("t") + lit(meta.start_of_week_s())) % lit(WEEK)
}

/// The tariff's price per kWh at each row's time.
fn price(t: &Tariff, meta: &Meta) -> Expr {
    let sow = time_of_week(meta);
    let day = (sow.clone() / lit(86_400.0)).cast(DataType::Int64);
    let second = sow - day.clone().cast(DataType::Float64) * lit(86_400.0);
    let on = |days: Days, day: Expr| match days {
        Days::All => lit(true),
        Days::Weekdays => day.lt(lit(5)),
        Days::Weekend => day.gt_eq(lit(5)),
    };
    let mut e = lit(t.base);
    for w in t.windows.iter().rev() {
        let (from, to) = (lit(f64::from(w.from.0)), lit(f64::from(w.to.0)));
        let cover = if w.from < w.to {
            on(w.days, day.clone())
                .and(second.clone().gt_eq(from))
                .and(second.clone().lt(to))
        } else {
            let yesterday = (day.clone() + lit(6)) % lit(7);
            on(w.days, day.clone())
                .and(second.clone().gt_eq(from))
                .or(on(w.days, yesterday).and(second.clone().lt(to)))
        };
        e = when(cover).then(lit(w.price)).otherwise(e);
    }
    e
}

/// The mean demand of each 15-minute (wall-clock quarter) window of a register's increments
/// per span: (start, s from the run's start, clipped to it; kW), in time order.
fn quarters(
    increments: DataFrame,
    meta: &Meta,
    spans: &Spans,
    register: &str,
) -> PolarsResult<Demand> {
    let q = increments
        .lazy()
        .with_column(spans.quarter())
        .group_by([col("quarter")])
        .agg([col(register).sum().alias("kwh")])
        .sort(["quarter"], Default::default())
        .collect()?;
    let kwh = q.column("kwh")?.f64()?;
    let quarter = q.column("quarter")?.i64()?;
    let offset = spans.offset;
    Ok(quarter
        .iter()
        .zip(kwh.iter())
        .filter_map(|(q, e)| {
            let start = (q? as f64 * QUARTER - offset).max(0.0);
            // The closing row at the run's end opens a quarter with nothing in it.
            (start < meta.duration_s).then(|| (start, e.unwrap_or(0.0) * 3600.0 / QUARTER))
        })
        .collect())
}

/// The highest demand and when its window starts; of windows equal to rounding, the first.
fn peak(demand: &[(f64, f64)]) -> (f64, f64) {
    let most = demand.iter().map(|d| d.1).fold(0.0, f64::max);
    let at = demand
        .iter()
        .find(|d| d.1 >= most - 1e-9 * most.abs())
        .map_or(0.0, |d| d.0);
    (most, at)
}

fn loads(rec: &Recording) -> PolarsResult<Vec<LoadRow>> {
    let meta = &rec.meta;
    let has = |c: &str| rec.loads.has(c);
    let spans = Spans::of(meta);
    // Energy, cost and peaks from the registers' increments per load and span.
    let mut aggs = vec![col("energy").sum().alias("energy")];
    let mut totals = vec![col("energy").sum()];
    if let Some(t) = &meta.tariff {
        aggs.push((col("energy") * price(t, meta)).sum().alias("cost"));
        totals.push(col("cost").sum());
    }
    totals.push(col("peak_kw").max());
    // Each stretch's energy, cost and peak per load; then the run's.
    let mut stretches = Vec::new();
    let rows = rec.loads.lazy();
    spans.each_stretch(
        &rows,
        Some("load"),
        &["energy"],
        meta.duration_s,
        |per_span| {
            let peaks = per_span
                .clone()
                .lazy()
                .with_column(spans.quarter())
                .group_by([col("load"), col("quarter")])
                .agg([col("energy").sum().alias("kwh")])
                .group_by([col("load")])
                .agg([(col("kwh").max() * lit(3600.0 / QUARTER)).alias("peak_kw")]);
            stretches.push(
                per_span
                    .lazy()
                    .group_by([col("load")])
                    .agg(aggs.clone())
                    .join(
                        peaks,
                        [col("load")],
                        [col("load")],
                        JoinArgs::new(JoinType::Left),
                    )
                    .collect()?
                    .lazy(),
            );
            Ok(())
        },
    )?;
    let energy = concat(stretches, UnionArgs::default())?
        .group_by([col("load")])
        .agg(totals);
    // Time in states: each row's share of time where its status is one of them, summed.
    let mut states = Vec::new();
    let mut shares = Vec::new();
    if has("status") {
        use record::schema::status::{LOCKED_OUT, ON, SHED, TRIPPED};
        for (name, of) in [
            ("on_s", &[ON][..]),
            ("shed_s", &[SHED][..]),
            ("tripped_s", &[TRIPPED, LOCKED_OUT][..]),
        ] {
            let mut cond = lit(false);
            for s in of {
                cond = cond.or(col("status").eq(lit(*s)));
            }
            shares.push(when(cond).then(col("dt")).otherwise(lit(0.0)).alias(name));
            states.push(col(name).sum());
        }
    }
    if has("phase") {
        states.push(col("phase").last());
    }
    let mut df = collect(energy)?;
    if !states.is_empty() {
        let timed = timed(rec.loads.lazy(), meta).with_columns(shares);
        let by_state = collect(timed.group_by([col("load")]).agg(states))?;
        df = df.left_join(&by_state, ["load"], ["load"])?;
    }

    let name = df.column("load")?.str()?;
    let f = |c: &str| -> PolarsResult<Option<Float64Chunked>> {
        Ok(match df.column(c) {
            Ok(c) => Some(c.f64()?.clone()),
            Err(_) => None,
        })
    };
    let (energy, cost, peak) = (f("energy")?, f("cost")?, f("peak_kw")?);
    let (on, shed, tripped) = (f("on_s")?, f("shed_s")?, f("tripped_s")?);
    let phase = df
        .column("phase")
        .ok()
        .map(|c| c.str().cloned())
        .transpose()?;
    let at = |c: &Option<Float64Chunked>, i| c.as_ref().and_then(|c| c.get(i));
    let mut rows = Vec::with_capacity(df.height());
    // In the order of the run's loads.
    let mut order: Vec<usize> = (0..df.height()).collect();
    let rank = |i: usize| {
        let n = name.get(i).unwrap_or_default();
        meta.loads.iter().position(|l| l.name == n)
    };
    order.sort_by_key(|&i| rank(i));
    for i in order {
        let n = name.get(i).unwrap_or_default();
        let info = meta.loads.iter().find(|l| l.name == n);
        rows.push(LoadRow {
            name: n.to_string(),
            priority: info.and_then(|l| l.priority),
            energy_kwh: at(&energy, i).unwrap_or(0.0),
            cost: at(&cost, i),
            peak_kw: at(&peak, i).unwrap_or(0.0),
            on_s: at(&on, i),
            shed_s: at(&shed, i),
            tripped_s: at(&tripped, i),
            phase: phase.as_ref().and_then(|p| p.get(i)).map(str::to_string),
        });
    }
    Ok(rows)
}

/// Which site columns get statistics, with a label, a unit and whether only energized rows
/// count.
fn stat_columns(rec: &Recording, heads: &[String]) -> Vec<(String, String, &'static str, bool)> {
    let names = rec.site.names();
    let mut out = Vec::new();
    let mut add = |c: &str, label: String, unit: &'static str, energized: bool| {
        if names.iter().any(|n| n == c) {
            out.push((c.to_string(), label, unit, energized));
        }
    };
    match rec.meta.kind {
        Kind::Pdu => {
            add("bus/v", "bus voltage (energized)".into(), "V", true);
            add("bus/hz", "bus frequency (energized)".into(), "Hz", true);
            add("main/v", "main voltage".into(), "V", false);
            add("backup/v", "backup voltage".into(), "V", false);
        }
        Kind::Feeder => {
            add("feeder/v_min", "lowest load voltage".into(), "pu", false);
            add("feeder/v_max", "highest load voltage".into(), "pu", false);
            add(
                "feeder/vuf",
                "worst-bus voltage unbalance".into(),
                "%",
                false,
            );
            for bus in heads {
                let n = member(HEAD, bus, "neutral");
                add(&n, format!("neutral current, bus {bus}"), "A", false);
                let n = member(HEAD, bus, "unbalance");
                add(&n, format!("current unbalance, bus {bus}"), "%", false);
            }
        }
    }
    out
}

fn stats(rec: &Recording) -> PolarsResult<Vec<Stat>> {
    let mut out = Vec::new();
    let (heads, _) = rec.heads_shown()?;
    for (c, label, unit, energized) in stat_columns(rec, &heads) {
        let mut rows = rec.site.lazy();
        if energized {
            rows = rows.filter(col("bus/v").gt(lit(1.0)));
        }
        // A column with no values (never energized) has no statistics: NaN, shown as such.
        let (min, p50, p95, max) = match quantile::Column::of(rows, &c)? {
            Some(x) => (x.min, x.quantile(0.5)?, x.quantile(0.95)?, x.max),
            None => (f64::NAN, f64::NAN, f64::NAN, f64::NAN),
        };
        out.push(Stat {
            label,
            unit: unit.to_string(),
            min,
            p50,
            p95,
            max,
        });
    }
    Ok(out)
}

/// The first value of a float column; NaN when there is none.
fn scalar(df: &DataFrame, name: &str) -> PolarsResult<f64> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.get(0).unwrap_or(f64::NAN))
}

/// Declared outages of the main: how many, their total and the longest, s. One still going at
/// the end counts up to the end.
fn outages(events: &[EventRow], duration: f64) -> (usize, f64, f64) {
    let mut open: Option<f64> = None;
    let mut done = Vec::new();
    for e in events {
        match e.event.as_str() {
            "outage" => open = open.or(Some(e.t)),
            "restore" => {
                let since = open.take();
                done.push(
                    e.number("outage_s")
                        .or(since.map(|s| e.t - s))
                        .unwrap_or(0.0),
                );
            }
            _ => {}
        }
    }
    if let Some(s) = open {
        done.push(duration - s);
    }
    // Not `sum()`: an empty float sum is −0.0.
    let total = done.iter().fold(0.0, |a, b| a + b);
    let longest = done.iter().copied().fold(0.0, f64::max);
    (done.len(), total, longest)
}

fn protection(events: &[EventRow]) -> Vec<(String, usize, usize)> {
    let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for e in events {
        let element = e.text("element").unwrap_or("?").to_string();
        match e.event.as_str() {
            "trip" => by.entry(element).or_default().0 += 1,
            "lockout" => by.entry(element).or_default().1 += 1,
            _ => {}
        }
    }
    by.into_iter().map(|(k, (t, l))| (k, t, l)).collect()
}

fn counts(items: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *by.entry(i).or_default() += 1;
    }
    by.into_iter().collect()
}
