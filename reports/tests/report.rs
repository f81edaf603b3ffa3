//! The reports crate against closed-form answers (a synthetic PDU run), Parquet written and read
//! back for any table, and every chart drawn to SVG and PNG.

use std::path::PathBuf;

use proptest::prelude::*;
use record::tariff::{ClockTime, Days, Window};
use record::{EventRow, Series, Tariff};
use reports::charts::{Body, TimeAxis, charts};
use reports::synthetic::{self, load_kw};
use reports::{Recording, Report, Summary};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gridtwin-reports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} against {b}"
    );
}

const HOUR: f64 = 3600.0;

/// Every load but load 0 (shed a while) drew its closed-form power for `hours`, `peak_hours`
/// of them at `weekday_peak`'s price, and peaked at it.
fn every_load_as_closed_form(s: &Summary, hours: f64, peak_hours: f64) {
    for (k, l) in s.loads.iter().enumerate().skip(1) {
        let kw = load_kw(k);
        close(l.energy_kwh, kw * hours, "energy");
        close(
            l.cost.unwrap(),
            kw * (hours * 0.20 + peak_hours * 0.30),
            "cost",
        );
        close(l.peak_kw, kw, "peak");
    }
}

/// 0.20 EUR/kWh, 0.50 on weekdays from 01:00 to `to`.
fn weekday_peak(to: &str, demand: Option<f64>) -> Tariff {
    Tariff {
        currency: "EUR".into(),
        base: 0.20,
        windows: vec![Window {
            name: "peak".into(),
            from: ClockTime::parse("01:00").unwrap(),
            to: ClockTime::parse(to).unwrap(),
            price: 0.50,
            days: Days::Weekdays,
        }],
        demand,
    }
}

/// Four hours from Monday 00:00, four loads, a peak price from 01:00 to 02:00 (when load 0 is
/// shed), the backup from 02:00 to 02:30.
fn four_hours() -> Recording {
    let (mut meta, series, events) = synthetic::pdu(4, 4.0 * HOUR, 1.0);
    meta.tariff = Some(weekday_peak("02:00", Some(10.0)));
    Recording::new(meta, &series, events).unwrap()
}

#[test]
fn summary_matches_the_closed_form() {
    let s = Summary::of(&four_hours()).unwrap();
    let all: f64 = (0..4).map(load_kw).sum();
    for (k, l) in s.loads.iter().enumerate() {
        assert_eq!(l.name, format!("load{k:02}"));
        if k == 0 {
            // Shed over the peak hour: 3 h at the base price.
            close(l.energy_kwh, 0.5 * 3.0, "load 0 energy");
            close(l.cost.unwrap(), 0.5 * 3.0 * 0.20, "load 0 cost");
            close(l.shed_s.unwrap(), HOUR, "load 0 shed");
            close(l.on_s.unwrap(), 3.0 * HOUR, "load 0 on");
        } else {
            close(l.energy_kwh, load_kw(k) * 4.0, "energy");
            close(l.cost.unwrap(), load_kw(k) * (3.0 * 0.20 + 0.50), "cost");
            close(l.shed_s.unwrap(), 0.0, "shed");
        }
        close(l.peak_kw, load_kw(k), "peak 15-minute demand");
        assert_eq!(l.tripped_s, Some(0.0));
    }
    let fact = |label: &str| s.fact(label).unwrap_or_else(|| panic!("no {label}"));
    // The backup carries every load from 02:00 to 02:30.
    close(fact("energy from the backup"), all * 0.5, "backup energy");
    close(fact("energy from the main"), all * 3.5 - 0.5, "main energy");
    close(fact("time on backup"), 1800.0, "time on backup");
    close(fact("peak 15-minute demand"), all, "site peak");
    let energy_cost = all * 0.20 + (all - 0.5) * 0.50 + all * 1.5 * 0.20;
    close(fact("energy cost"), energy_cost, "energy cost");
    close(fact("demand charge"), 10.0 * all, "demand charge");
    close(fact("total cost"), energy_cost + 10.0 * all, "total cost");
    assert_eq!(fact("outages"), 1.0);
    close(fact("outage time, total"), 1800.0, "outage total");
    close(fact("outage time, longest"), 1800.0, "outage longest");
    assert_eq!(s.protection, vec![("instantaneous".to_string(), 1, 0)]);
    let bus = s
        .stats
        .iter()
        .find(|x| x.label.starts_with("bus voltage"))
        .unwrap();
    assert_eq!((bus.min, bus.p50, bus.max), (230.0, 230.0, 230.0));
    let main = s.stats.iter().find(|x| x.label == "main voltage").unwrap();
    assert_eq!((main.min, main.max), (0.0, 230.0));
}

/// 96 days, read in stretches (of 64 hours, as the peak window is set to the minute): every
/// load's energy, cost and peak as the closed form has them, none lost or counted twice where
/// one stretch meets the next.
#[test]
fn a_long_run_read_in_stretches_matches_the_closed_form() {
    let days = 96.0;
    let (mut meta, series, events) = synthetic::pdu(3, days * 24.0 * HOUR, 60.0);
    meta.tariff = Some(weekday_peak("02:07", None));
    let s = Summary::of(&Recording::new(meta, &series, events).unwrap()).unwrap();
    // From a Monday: 13 weeks and 5 days, 70 of them weekdays.
    let hours = days * 24.0;
    every_load_as_closed_form(&s, hours, 70.0 * 67.0 / 60.0);
    let all: f64 = (0..3).map(load_kw).sum();
    let fact = |label: &str| s.fact(label).unwrap_or_else(|| panic!("no {label}"));
    // Load 0 is shed over the second quarter of the run; the backup carries the fifth eighth.
    let site = all * hours - load_kw(0) * hours / 4.0;
    close(
        fact("energy from the backup"),
        all * hours / 8.0,
        "backup energy",
    );
    close(
        fact("energy from the main"),
        site - all * hours / 8.0,
        "main energy",
    );
    close(fact("peak 15-minute demand"), all, "site peak");
    assert_eq!(s.demand.len(), 96 * 96);
}

/// A site of 1,100 loads is read in shorter stretches (ten days of quarter hours, so that a
/// stretch holds about a million (quarter, load) groups): over twelve days every load's
/// energy, cost and peak are still the closed form's where one stretch meets the next.
#[test]
fn many_loads_read_in_short_stretches_match_the_closed_form() {
    let days = 12.0;
    let (mut meta, series, events) = synthetic::pdu(1100, days * 24.0 * HOUR, 900.0);
    meta.tariff = Some(weekday_peak("02:15", None));
    let s = Summary::of(&Recording::new(meta, &series, events).unwrap()).unwrap();
    let hours = days * 24.0;
    assert_eq!(s.loads.len(), 1100);
    // From a Monday: ten weekdays, each with 75 minutes at the peak price.
    every_load_as_closed_form(&s, hours, 10.0 * 75.0 / 60.0);
}

#[test]
fn a_weekend_leaves_a_weekday_window_at_the_base_price() {
    let mut rec = four_hours();
    // Saturday 2026-01-10.
    rec.meta.start += chrono::Duration::days(5);
    let s = Summary::of(&rec).unwrap();
    close(
        s.loads[1].cost.unwrap(),
        load_kw(1) * 4.0 * 0.20,
        "weekend cost",
    );
}

#[test]
fn a_run_directory_reads_back_and_rebuilds_the_same_report() {
    let rec = four_hours();
    let dir = scratch("rebuild");
    rec.write(&dir).unwrap();
    let back = Recording::read(&dir).unwrap();
    assert_eq!(back.meta, rec.meta);
    assert_eq!(back.events, rec.events);
    let (a, b) = (Report::of(&rec).unwrap(), Report::of(&back).unwrap());
    assert_eq!(a.markdown(&rec), b.markdown(&back));
    a.write(
        &back,
        &dir,
        reports::Options {
            png: true,
            csv: true,
            json: true,
        },
    )
    .unwrap();
    for f in [
        "report.html",
        "summary.md",
        "charts/voltage.svg",
        "charts/power.png",
        "site.csv",
        "loads.jsonl",
        "events.jsonl",
    ] {
        let len = std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 100, "{f} is missing or empty");
    }
    let loads_csv = std::fs::read_to_string(dir.join("loads.csv")).unwrap();
    assert_eq!(loads_csv.lines().count(), 1 + 4 * (4 * 3600 + 1));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("@font-face") && html.matches("<svg").count() == a.charts.len());
}

/// Each row of `series`: its time and its values.
fn each_row(series: &Series, mut f: impl FnMut(f64, &[f64])) {
    let columns: Vec<&[f64]> = series
        .names()
        .iter()
        .map(|n| series.column(n).unwrap())
        .collect();
    for i in 0..series.len() {
        let row: Vec<f64> = columns[1..].iter().map(|c| c[i]).collect();
        f(columns[0][i], &row);
    }
}

/// A plain run directory (a Pi's) of `series`.
fn plain(dir: &std::path::Path, meta: &record::Meta, series: &Series) {
    record::run_dir::write_meta(dir, meta).unwrap();
    std::fs::write(dir.join(record::run_dir::EVENTS_JSONL), "").unwrap();
    let mut w = record::run_dir::SeriesWriter::create(dir, series.names()).unwrap();
    each_row(series, |t, row| w.push(t, row).unwrap());
    w.finish().unwrap();
}

/// A conversion killed half way (SIGKILL: no cleanup) leaves only `.part` files, so the next
/// reading converts the run again and reads the whole of it.
#[test]
fn a_conversion_killed_half_way_is_done_again_on_the_next_reading() {
    let dir = scratch("plain-killed");
    let (meta, series, _) = synthetic::pdu(2, 20_000.0, 1.0);
    plain(&dir, &meta, &series);
    for name in ["site.parquet.part", "loads.parquet.part"] {
        std::fs::write(dir.join(name), b"PAR1 half a row group").unwrap();
    }
    let read = Recording::read(&dir).unwrap();
    let whole = Recording::new(meta, &series, Vec::new()).unwrap();
    assert_eq!(read.site.height().unwrap(), series.len());
    assert_eq!(read.site.frame().unwrap(), whole.site.frame().unwrap());
    assert_eq!(by_load(&read), by_load(&whole));
}

/// The loads table in the order of its loads: a row group holds its rows load by load, a
/// buffer of a few thousand instants at a time.
fn by_load(r: &Recording) -> polars::prelude::DataFrame {
    r.loads
        .frame()
        .unwrap()
        .sort(["load", "t"], Default::default())
        .unwrap()
}

/// The row groups of a streamed table: its sizes in order.
fn row_groups(path: &std::path::Path) -> Vec<usize> {
    use polars::prelude::{ParquetReader, SerReader};
    let mut r = ParquetReader::new(std::fs::File::open(path).unwrap());
    let meta = r.get_metadata().unwrap();
    meta.row_groups.iter().map(|g| g.num_rows()).collect()
}

/// Rows streamed a few thousand at a time are written in large row groups: until the file
/// closes, Parquet's writer keeps a few kB for every column chunk, which for groups of 4,096
/// rows came to 700 MB over a year of 20 ms steps. The tables read back whole.
#[test]
fn a_streamed_recording_is_written_in_large_row_groups() {
    let dir = scratch("row-groups");
    let (meta, series, _) = synthetic::pdu(4, 140_000.0, 1.0);
    let mut w = reports::TableWriter::create(&dir, &meta, series.names()).unwrap();
    each_row(&series, |t, row| w.push(t, row).unwrap());
    w.finish(&meta, &[]).unwrap();
    let n = series.len();
    assert_eq!(
        row_groups(&dir.join("site.parquet")),
        [65_536, 65_536, n - 131_072]
    );
    assert_eq!(
        row_groups(&dir.join("loads.parquet")),
        [262_144, 262_144, 4 * n - 524_288]
    );
    let read = Recording::read(&dir).unwrap();
    let whole = Recording::new(meta, &series, Vec::new()).unwrap();
    assert_eq!(read.site.frame().unwrap(), whole.site.frame().unwrap());
    assert_eq!(by_load(&read), by_load(&whole));
}

/// A plain run directory whose `series.csv` breaks half way is refused at its line, and leaves
/// no half-written table that a second reading would take for the run's.
#[test]
fn a_plain_run_with_a_bad_row_is_refused_at_its_line_and_again() {
    let dir = scratch("plain-bad");
    let (meta, series, _) = synthetic::pdu(1, 10_000.0, 1.0);
    plain(&dir, &meta, &series);
    let csv = dir.join(record::run_dir::SERIES_CSV);
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("oops\n");
    std::fs::write(&csv, text).unwrap();
    let line = series.len() + 2;
    for _ in 0..2 {
        let err = Recording::read(&dir).unwrap_err().to_string();
        assert!(err.contains(&format!("line {line}")), "{err}");
        assert!(!dir.join(reports::recording::SITE).exists());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".part"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_damaged_table_is_an_error_that_names_the_file() {
    let dir = scratch("damaged");
    four_hours().write(&dir).unwrap();
    std::fs::write(dir.join("loads.parquet"), b"PAR1 not really").unwrap();
    let err = Recording::read(&dir).unwrap_err().to_string();
    assert!(err.contains("loads.parquet"), "{err}");
    std::fs::write(dir.join("meta.json"), b"{\"name\": 3}").unwrap();
    let err = Recording::read(&dir).unwrap_err().to_string();
    assert!(err.contains("meta.json") && err.contains("line 1"), "{err}");
}

#[test]
fn every_chart_renders_at_its_size_with_its_series() {
    let rec = four_hours();
    let axis = TimeAxis::for_duration(rec.meta.duration_s);
    let all = charts(&rec).unwrap();
    let names: Vec<&str> = all.iter().map(|c| c.name).collect();
    assert_eq!(names, ["voltage", "power", "currents", "events"]);
    let dir = scratch("charts");
    for c in &all {
        let (w, h) = c.size();
        let svg = c.svg(&axis).unwrap();
        assert!(
            svg.contains(&format!("width=\"{w}\"")) && svg.contains(&format!("height=\"{h}\"")),
            "{}: size",
            c.name
        );
        assert!(svg.contains(&c.title), "{}: title", c.name);
        let expected: Vec<String> = match &c.body {
            Body::Panels { panels, .. } => panels
                .iter()
                .flat_map(|p| p.lines.iter().map(|l| l.label.clone()))
                .collect(),
            Body::Timeline { lanes } => lanes.iter().map(|l| l.subject.clone()).collect(),
            Body::Bars { y_label, .. } => vec![y_label.clone()],
        };
        assert!(!expected.is_empty(), "{}: no series", c.name);
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        for label in &expected {
            assert!(
                texts.contains(&label.as_str()),
                "{}: no {label} in {texts:?}",
                c.name
            );
        }
        // PNG: the signature and the header's width and height.
        let png = dir.join(format!("{}.png", c.name));
        c.png(&axis, &png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
        assert_eq!((be(16), be(20)), (w, h), "{}: PNG size", c.name);
    }
    // The stacked power chart paints its largest load's colour over a good share of the plot.
    let power = all.iter().find(|c| c.name == "power").unwrap();
    let rgb = power.rgb(&axis).unwrap();
    let first = rgb
        .chunks(3)
        .filter(|p| p[0] != 255 || p[1] != 255 || p[2] != 255)
        .count();
    assert!(
        first > rgb.len() / 3 / 10,
        "power chart mostly blank: {first} pixels drawn"
    );
    let Body::Panels { panels, .. } = &power.body else {
        panic!()
    };
    // The loads with the most energy come first: load03, then load02, ...
    let labels: Vec<&str> = panels[0].lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(labels, ["load03", "load02", "load01", "load00"]);
}

#[test]
fn the_demand_windows_follow_the_wall_clock_and_mark_the_peak() {
    let mut rec = four_hours();
    // From 00:10: the first window is 5 minutes long, then quarters from 00:15.
    rec.meta.start += chrono::Duration::minutes(10);
    let s = Summary::of(&rec).unwrap();
    let all: f64 = (0..4).map(load_kw).sum();
    assert_eq!(s.demand.len(), 17);
    assert_eq!((s.demand[0].0, s.demand[1].0), (0.0, 300.0));
    // The first window holds 5 minutes of the full load: a third of a quarter's energy.
    close(s.demand[0].1, all / 3.0, "first, short window");
    close(s.demand[1].1, all, "a full quarter on the main");
    // 02:15 to 02:30 (run time 2:05 to 2:20) is on the backup: nothing from the main.
    let backup = s.demand.iter().find(|d| d.0 == 2.0 * HOUR + 300.0).unwrap();
    close(backup.1, 0.0, "on the backup");
    let axis = TimeAxis::for_duration(rec.meta.duration_s);
    let chart = reports::charts::demand(&s.demand, &axis).unwrap();
    let Body::Bars { bars, .. } = &chart.body else {
        panic!()
    };
    assert_eq!((bars[0].0, bars[0].1), (0.0, 300.0 / HOUR));
    close(bars[0].2, all / 3.0, "first bar");
    assert_eq!(bars.last().unwrap().1, 4.0);
    let svg = chart.svg(&axis).unwrap();
    assert!(svg.contains(&format!("width=\"960\" height=\"{}\"", chart.size().1)));
    let report = Report::of(&rec).unwrap();
    let md = report.markdown(&rec);
    assert!(
        md.contains("## Highest 15-minute demand from the main"),
        "{md}"
    );
    assert!(md.contains("| 2026-01-05 00:15 | 2.60 |"), "{md}");
}

#[test]
fn a_voltage_sag_shorter_than_a_chart_bucket_still_shows() {
    let rec = four_hours();
    let all = charts(&rec).unwrap();
    let Body::Panels { panels, .. } = &all[0].body else {
        panic!()
    };
    let main = &panels[0].lines[0];
    assert_eq!(main.label, "main");
    let lowest = main
        .points
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(lowest, 0.0);
    assert!(main.points.len() <= 2 * reports::charts::BUCKETS + 2);
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-0.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if std::env::var("CI").is_ok() { 32 } else { 128 }))]

    /// Whatever the numbers (NaN, infinities, negative zero) and codes, the tables read back
    /// bit for bit.
    #[test]
    fn parquet_written_and_read_back_is_identical(
        loads in 1usize..4,
        rows in 0usize..40,
        seed_values in prop::collection::vec(value(), 0..400),
        codes in prop::collection::vec(0u8..8, 0..200),
        subjects in prop::collection::vec("[a-z\u{e9}\" ]{0,6}", 0..5),
    ) {
        let (mut meta, _, _) = synthetic::pdu(loads, 10.0, 1.0);
        meta.codes.retain(|k, _| k == "status");
        let mut names = vec!["x".to_string()];
        for l in &meta.loads {
            names.push(format!("load/{}/p", l.name));
            names.push(format!("load/{}/status", l.name));
        }
        let mut s = Series::new(names.clone());
        let mut k = 0;
        let mut next = |xs: &[f64]| { k += 1; xs.get(k % xs.len().max(1)).copied().unwrap_or(1.5) };
        for r in 0..rows {
            let mut row = Vec::new();
            for n in &names {
                row.push(if n.ends_with("status") {
                    f64::from(codes.get(r).copied().unwrap_or(1))
                } else {
                    next(&seed_values)
                });
            }
            s.push(r as f64, &row);
        }
        let events: Vec<EventRow> = subjects
            .iter()
            .enumerate()
            .map(|(i, subj)| EventRow {
                t: i as f64 * 0.5,
                severity: "info".into(),
                subject: subj.clone(),
                event: "operator".into(),
                detail: serde_json::json!({"action": subj, "n": i}).as_object().unwrap().clone(),
            })
            .collect();
        let rec = Recording::new(meta, &s, events).unwrap();
        let dir = scratch(&format!("prop-{loads}-{rows}"));
        rec.write(&dir).unwrap();
        let back = Recording::read(&dir).unwrap();
        prop_assert_eq!(&back.meta, &rec.meta);
        prop_assert_eq!(&back.events, &rec.events);
        for (a, b) in [(&rec.site, &back.site), (&rec.loads, &back.loads)] {
            let (a, b) = (a.frame().unwrap(), b.frame().unwrap());
            prop_assert_eq!(a.schema(), b.schema());
            for (ca, cb) in a.columns().iter().zip(b.columns()) {
                match (ca.f64(), cb.f64()) {
                    (Ok(x), Ok(y)) => {
                        let bits = |c: &polars::prelude::Float64Chunked| {
                            c.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>()
                        };
                        prop_assert_eq!(bits(x), bits(y));
                    }
                    _ => prop_assert!(ca.equals_missing(cb), "column {}", ca.name()),
                }
            }
        }
    }
}
