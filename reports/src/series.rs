//! A time series table: one `t` column (seconds) and any number of named numeric columns.

use std::io::{self, Write};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    names: Vec<String>,
    /// Column-major: `columns[0]` is time.
    columns: Vec<Vec<f64>>,
}

impl Series {
    /// A table with a time column and the given value columns.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut all = vec!["t".to_string()];
        all.extend(names.into_iter().map(Into::into));
        let columns = vec![Vec::new(); all.len()];
        Series {
            names: all,
            columns,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.columns[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append one row; `values` must match the value columns.
    pub fn push(&mut self, t: f64, values: &[f64]) {
        assert_eq!(values.len() + 1, self.columns.len(), "row width");
        self.columns[0].push(t);
        for (c, v) in self.columns[1..].iter_mut().zip(values) {
            c.push(*v);
        }
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        let i = self.names.iter().position(|n| n == name)?;
        Some(&self.columns[i])
    }

    /// CSV with a header row; numbers in Rust's shortest round-trip form.
    pub fn write_csv(&self, mut w: impl Write) -> io::Result<()> {
        writeln!(w, "{}", self.names.join(","))?;
        for r in 0..self.len() {
            for (k, c) in self.columns.iter().enumerate() {
                if k > 0 {
                    w.write_all(b",")?;
                }
                write!(w, "{}", c[r])?;
            }
            w.write_all(b"\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_values_exactly() {
        let mut s = Series::new(["v", "p"]);
        s.push(0.0, &[230.1, 1e-7]);
        s.push(0.02, &[0.1 + 0.2, -5.0]);
        let mut out = Vec::new();
        s.write_csv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("t,v,p"));
        let row: Vec<f64> = lines
            .nth(1)
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(row, vec![0.02, 0.1 + 0.2, -5.0]);
        assert_eq!(s.column("v"), Some(&[230.1, 0.1 + 0.2][..]));
    }
}
