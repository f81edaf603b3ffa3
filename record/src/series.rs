//! A time series table: one `t` column (seconds) and any number of named numeric columns.

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

    /// Every row removed, the columns' memory kept for the next.
    pub fn clear(&mut self) {
        self.columns.iter_mut().for_each(Vec::clear);
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
}
