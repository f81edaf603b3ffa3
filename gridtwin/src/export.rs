//! A live site's stored readings over a range, for a spreadsheet or a script: every stored row
//! of the chosen channels at its own resolution (time, channel, resolution, mean, min, max), as
//! CSV, as JSON with the range's events, or as an Excel workbook with a `readings` sheet and an
//! `events` sheet. One writer for the API and `gridtwin export`.

use chrono::{DateTime, SecondsFormat};
use rust_xlsxwriter::{Format as Cell, Workbook};
use serde::Serialize;

use crate::store::{Point, Resolution, Store, StoreError, StoredEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Xlsx,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
        }
    }
}

/// One stored row.
#[derive(Debug, Clone, Serialize)]
struct Row {
    /// UTC, RFC 3339.
    time: String,
    channel: String,
    resolution: &'static str,
    mean: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(skip)]
    t: i64,
}

fn rfc3339(t: i64) -> String {
    DateTime::from_timestamp_millis(t)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn rows(db: &Store, channels: &[String], from: i64, to: i64) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    let finite = |x: f64| x.is_finite().then_some(x);
    db.export(channels, from, to, |t, ch, res: Resolution, p: Point| {
        out.push(Row {
            time: rfc3339(t),
            channel: ch.to_string(),
            resolution: res.name(),
            mean: finite(p.mean),
            min: finite(p.min),
            max: finite(p.max),
            t,
        })
    })?;
    Ok(out)
}

/// The channels' stored rows over [from, to) unix ms in `format`.
pub fn export(
    db: &Store,
    channels: &[String],
    from: i64,
    to: i64,
    format: Format,
) -> Result<Vec<u8>, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Invalid(e.to_string());
    let rows = rows(db, channels, from, to)?;
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["time", "channel", "resolution", "mean", "min", "max"])
                .map_err(|e| bad(&e))?;
            let num = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            for r in &rows {
                w.write_record([
                    r.time.clone(),
                    r.channel.clone(),
                    r.resolution.to_string(),
                    num(r.mean),
                    num(r.min),
                    num(r.max),
                ])
                .map_err(|e| bad(&e))?;
            }
            w.into_inner().map_err(|e| bad(&e))
        }
        Format::Json => {
            let doc = serde_json::json!({
                "from": rfc3339(from),
                "to": rfc3339(to),
                "readings": rows,
                "events": db.events_between(from, to)?,
            });
            serde_json::to_vec(&doc).map_err(|e| bad(&e))
        }
        Format::Xlsx => xlsx(&rows, &db.events_between(from, to)?).map_err(|e| bad(&e)),
    }
}

fn xlsx(rows: &[Row], events: &[StoredEvent]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Cell::new().set_bold();
    let when = Cell::new().set_num_format("yyyy-mm-dd hh:mm:ss.000");
    let excel = |t: i64| {
        DateTime::from_timestamp_millis(t)
            .unwrap_or_default()
            .naive_utc()
    };
    let header = |sheet: &mut rust_xlsxwriter::Worksheet, names: &[&str]| {
        for (c, h) in names.iter().enumerate() {
            sheet.write_with_format(0, c as u16, *h, &bold)?;
        }
        sheet.set_freeze_panes(1, 0).map(|_| ())
    };
    let sheet = book.add_worksheet().set_name("readings")?;
    header(
        sheet,
        &["time (UTC)", "channel", "resolution", "mean", "min", "max"],
    )?;
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_datetime_with_format(row, 0, excel(r.t), &when)?;
        sheet.write(row, 1, r.channel.as_str())?;
        sheet.write(row, 2, r.resolution)?;
        for (c, v) in [r.mean, r.min, r.max].into_iter().enumerate() {
            if let Some(v) = v {
                sheet.write(row, 3 + c as u16, v)?;
            }
        }
    }
    sheet.set_column_width(0, 24)?.set_column_width(1, 22)?;
    sheet.autofilter(0, 0, rows.len() as u32, 5)?;

    let sheet = book.add_worksheet().set_name("events")?;
    header(
        sheet,
        &[
            "time (UTC)",
            "severity",
            "subject",
            "event",
            "what happened",
            "acknowledged by",
        ],
    )?;
    for (i, e) in events.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_datetime_with_format(row, 0, excel(e.t), &when)?;
        sheet.write(row, 1, e.severity.as_str())?;
        sheet.write(row, 2, e.subject.as_str())?;
        sheet.write(row, 3, e.kind.as_str())?;
        sheet.write(row, 4, e.text.as_str())?;
        sheet.write(row, 5, e.acked_by.as_deref().unwrap_or(""))?;
    }
    sheet.set_column_width(0, 24)?.set_column_width(4, 60)?;
    book.save_to_buffer()
}
