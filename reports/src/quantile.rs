//! Exact quantiles of a column of any length in bounded memory. polars computes a quantile on
//! the whole column (250 MB a column for a year recorded every second), so the order statistics
//! it needs are found in passes instead: each pass streams the rows still in question into a
//! histogram of [`BINS`] bins over their range and keeps the bin that holds the rank sought,
//! until few enough rows are left to sort. The result is the same value, bit for bit, as polars'
//! `quantile(p, Linear)` (NaN and nulls left out).

use polars::prelude::*;

use crate::recording::collect;

/// Bins per pass: each pass narrows the rows to one bin's.
const BINS: i64 = 4096;
/// Rows few enough to collect and sort.
const FEW: u64 = 1 << 16;

/// The column `x` of `rows` (all of them: filter first) with its count, minimum and maximum;
/// `None` when it has no values.
pub struct Column {
    rows: LazyFrame,
    n: u64,
    pub min: f64,
    pub max: f64,
}

impl Column {
    pub fn of(rows: LazyFrame, x: &str) -> PolarsResult<Option<Self>> {
        let rows = rows
            .select([col(x).cast(DataType::Float64).alias("x")])
            .filter(col("x").is_not_null().and(col("x").is_not_nan()));
        let (n, min, max) = range(rows.clone(), lit(true))?;
        Ok((n > 0).then_some(Column { rows, n, min, max }))
    }

    /// As polars' linear quantile: the order statistics either side of `(n - 1) p`, weighted.
    pub fn quantile(&self, p: f64) -> PolarsResult<f64> {
        let float_idx = (self.n - 1) as f64 * p;
        let idx = float_idx as u64;
        let lower = self.kth(idx)?;
        if idx as f64 == float_idx.ceil() {
            return Ok(lower);
        }
        let upper = self.kth(idx + 1)?;
        Ok(if lower == upper {
            lower
        } else {
            (float_idx - idx as f64) * (upper - lower) + lower
        })
    }

    /// The `k`-th smallest value (from 0).
    fn kth(&self, mut k: u64) -> PolarsResult<f64> {
        let mut within = lit(true);
        let (mut n, mut lo, mut hi) = (self.n, self.min, self.max);
        loop {
            if lo == hi {
                return Ok(lo);
            }
            if n <= FEW {
                let df = collect(self.rows.clone().filter(within))?;
                let mut v: Vec<f64> = df.column("x")?.f64()?.into_no_null_iter().collect();
                v.sort_unstable_by(f64::total_cmp);
                return v.get(k as usize).copied().ok_or_else(changed);
            }
            // Monotonic in x (truncation is the floor: no row lies below `lo`), so the k-th
            // value is in the bin that holds rank k; `lo` falls in the first bin and `hi` in the
            // last, so each pass leaves fewer rows than the one before.
            let bin = ((col("x") - lit(lo)) / lit((hi - lo) / BINS as f64)).cast(DataType::Int64);
            let bin = when(bin.clone().gt(lit(BINS - 1)))
                .then(lit(BINS - 1))
                .otherwise(bin);
            let counts = collect(
                self.rows
                    .clone()
                    .filter(within.clone())
                    .group_by([bin.clone().alias("bin")])
                    .agg([len().cast(DataType::UInt64).alias("n")]),
            )?
            .sort(["bin"], Default::default())?;
            let (bins, counts) = (counts.column("bin")?.i64()?, counts.column("n")?.u64()?);
            let mut below = 0;
            let mut chosen = None;
            for (b, c) in bins.into_no_null_iter().zip(counts.into_no_null_iter()) {
                if k < below + c {
                    chosen = Some(b);
                    break;
                }
                below += c;
            }
            let b = chosen.ok_or_else(changed)?;
            k -= below;
            within = within.and(bin.eq(lit(b)));
            (n, lo, hi) = range(self.rows.clone(), within.clone())?;
        }
    }
}

/// The table was rewritten under the passes: a rank no longer falls in the rows.
fn changed() -> PolarsError {
    polars_err!(ComputeError: "the rows changed between passes")
}

/// Count, minimum and maximum of `x` over the rows `within` selects.
fn range(rows: LazyFrame, within: Expr) -> PolarsResult<(u64, f64, f64)> {
    let df = collect(rows.filter(within).select([
        len().cast(DataType::UInt64).alias("n"),
        col("x").min().alias("min"),
        col("x").max().alias("max"),
    ]))?;
    let f = |c: &str| -> PolarsResult<f64> { Ok(df.column(c)?.f64()?.get(0).unwrap_or(f64::NAN)) };
    Ok((
        df.column("n")?.u64()?.get(0).unwrap_or(0),
        f("min")?,
        f("max")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn polars_quantile(v: &[f64], p: f64) -> f64 {
        let s = Series::new("x".into(), v);
        s.f64()
            .unwrap()
            .quantile(p, QuantileMethod::Linear)
            .unwrap()
            .unwrap()
    }

    fn ours(v: &[f64], p: f64) -> f64 {
        let df = df!("x" => v).unwrap();
        Column::of(df.lazy(), "x")
            .unwrap()
            .unwrap()
            .quantile(p)
            .unwrap()
    }

    proptest! {
        /// Bit for bit polars' own quantile, whatever the values: spread, clustered or equal.
        #[test]
        fn equals_polars_linear_quantile(
            v in prop::collection::vec(prop_oneof![
                -1e6f64..1e6,
                Just(230.0),
                229.999f64..230.001,
            ], 1..400),
            p in 0.0f64..=1.0,
        ) {
            prop_assert_eq!(ours(&v, p).to_bits(), polars_quantile(&v, p).to_bits());
        }
    }

    /// Past the sorting threshold: several passes over a column with a heavy cluster (a
    /// stiff grid's voltage) and outliers (sags), against polars and against a sort.
    #[test]
    fn a_long_clustered_column_takes_passes_and_still_agrees() {
        let n = 3 * FEW as usize + 17;
        let v: Vec<f64> = (0..n)
            .map(|i| match i % 97 {
                0 => 184.0 + (i % 13) as f64,
                1 => 230.0,
                _ => 230.0 + ((i * 7919) % 1000) as f64 * 1e-9,
            })
            .collect();
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.5, 0.95, 1.0] {
            assert_eq!(
                ours(&v, p).to_bits(),
                polars_quantile(&v, p).to_bits(),
                "p = {p}"
            );
        }
        assert_eq!(ours(&v, 0.0), sorted[0]);
        assert_eq!(ours(&v, 1.0), sorted[n - 1]);
    }

    #[test]
    fn a_column_of_nothing_but_nulls_and_nan_has_no_quantile() {
        let df = df!("x" => [None, Some(f64::NAN)]).unwrap();
        assert!(Column::of(df.lazy(), "x").unwrap().is_none());
    }
}
