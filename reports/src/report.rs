//! A run's report in its directory: `summary.md` (the tables), `report.html` (the tables and the
//! charts inlined, with the font embedded, so that it opens the same anywhere) and
//! `charts/*.svg` (and `*.png` on request).

use std::path::Path;

use base64::Engine;

use crate::charts::{Chart, FONT, TimeAxis, charts, demand};
use crate::recording::Recording;
use crate::summary::Summary;
use crate::tables::{Table, duration, markdown, tables};
use record::Error;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub png: bool,
    pub csv: bool,
    pub json: bool,
}

/// What a report was built from and what it holds.
#[derive(Debug, Clone)]
pub struct Report {
    pub summary: Summary,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    pub axis: TimeAxis,
}

impl Report {
    pub fn of(rec: &Recording) -> Result<Self, String> {
        let summary = Summary::of(rec).map_err(|e| e.to_string())?;
        let axis = TimeAxis::for_duration(rec.meta.duration_s);
        let mut charts = charts(rec).map_err(|e| e.to_string())?;
        // After the power chart.
        if let Some(d) = demand(&summary.demand, &axis) {
            let at = charts
                .iter()
                .position(|c| c.name == "power")
                .map_or(0, |i| i + 1);
            charts.insert(at, d);
        }
        Ok(Report {
            tables: tables(&summary),
            charts,
            axis,
            summary,
        })
    }

    /// The Markdown summary: what ran, then every table, then the charts' files.
    pub fn markdown(&self, rec: &Recording) -> String {
        let mut out = format!("# {}\n\n", rec.meta.name);
        if !rec.meta.description.trim().is_empty() {
            out.push_str(&format!("{}\n\n", rec.meta.description.trim()));
        }
        out.push_str(&run_line(rec));
        out.push_str("\n\n");
        for t in &self.tables {
            out.push_str(&markdown(t));
            out.push('\n');
        }
        out.push_str("## Charts\n\n");
        for c in &self.charts {
            out.push_str(&format!("- [{}](charts/{}.svg)\n", c.title, c.name));
        }
        out
    }

    /// The self-contained HTML page around the charts drawn as SVG (in `self.charts`' order).
    pub fn html(&self, rec: &Recording, svgs: &[String]) -> String {
        let mut body = String::new();
        for t in &self.tables {
            body.push_str(&html_table(t));
        }
        for (c, svg) in self.charts.iter().zip(svgs) {
            body.push_str(&format!(
                "<figure id=\"{}\">{}</figure>\n",
                c.name,
                strip_xml_header(svg)
            ));
        }
        page(
            &rec.meta.name,
            &format!(
                "<h1>{}</h1>\n<p>{}</p>\n<p class=\"run\">{}</p>\n{body}",
                escape(&rec.meta.name),
                escape(rec.meta.description.trim()),
                escape(&run_line(rec)),
            ),
        )
    }

    /// Writes the report files into `dir` (the run directory).
    pub fn write(&self, rec: &Recording, dir: &Path, opts: Options) -> Result<(), Error> {
        let charts_dir = dir.join("charts");
        std::fs::create_dir_all(&charts_dir).map_err(|e| Error::at(&charts_dir, e))?;
        let mut svgs = Vec::with_capacity(self.charts.len());
        for c in &self.charts {
            let svg_path = charts_dir.join(format!("{}.svg", c.name));
            let svg = c.svg(&self.axis).map_err(|e| Error::at(&svg_path, e))?;
            std::fs::write(&svg_path, &svg).map_err(|e| Error::at(&svg_path, e))?;
            svgs.push(svg);
            if opts.png {
                let png = charts_dir.join(format!("{}.png", c.name));
                c.png(&self.axis, &png).map_err(|e| Error::at(&png, e))?;
            }
        }
        let md = dir.join("summary.md");
        std::fs::write(&md, self.markdown(rec)).map_err(|e| Error::at(&md, e))?;
        let html_path = dir.join("report.html");
        std::fs::write(&html_path, self.html(rec, &svgs)).map_err(|e| Error::at(&html_path, e))?;
        if opts.csv {
            rec.export_csv(dir)?;
        }
        if opts.json {
            rec.export_json(dir)?;
        }
        Ok(())
    }
}

fn run_line(rec: &Recording) -> String {
    let m = &rec.meta;
    format!(
        "Started {}, ran {}, step {}, recorded every {}; {} loads.",
        m.start.format("%Y-%m-%d %H:%M:%S"),
        duration(m.duration_s),
        duration(m.step_s),
        duration(m.record_every_s),
        m.loads.len(),
    )
}

pub(crate) fn strip_xml_header(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn html_table(t: &Table) -> String {
    let mut out = format!("<h2>{}</h2>\n<table>\n<tr>", escape(&t.title));
    for (h, &n) in t.header.iter().zip(&t.numeric) {
        out.push_str(&format!("<th{}>{}</th>", num_class(n), escape(h)));
    }
    out.push_str("</tr>\n");
    for r in &t.rows {
        out.push_str("<tr>");
        for (c, &n) in r.iter().zip(&t.numeric) {
            let class = if c == "FAIL" {
                " class=\"fail\""
            } else {
                num_class(n)
            };
            out.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

fn num_class(numeric: bool) -> &'static str {
    if numeric { " class=\"n\"" } else { "" }
}

/// A whole page around `body`, with the charts' font embedded.
pub(crate) fn page(title: &str, body: &str) -> String {
    let font = base64::engine::general_purpose::STANDARD
        .encode(include_bytes!("../../assets/fonts/DejaVuSans.ttf"));
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Gridtwin report</title>
<style>
@font-face {{ font-family: "{FONT}"; src: url(data:font/ttf;base64,{font}) format("truetype"); }}
body {{ font-family: "{FONT}", sans-serif; margin: 1.5em auto; max-width: 1000px; padding: 0 1em; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.2em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; }}
th {{ background: #f4f4f4; }}
.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.fail {{ color: #b00; font-weight: bold; }}
.run {{ color: #555; }}
figure {{ margin: 1.5em 0; }} figure svg {{ max-width: 100%; height: auto; }}
</style></head>
<body>
{body}
</body></html>
"#,
        title = escape(title),
    )
}
