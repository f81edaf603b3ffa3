//! Property values: numbers (and RPN in brackets), lists, matrices, counts, booleans, units,
//! connections.

use super::{DssError, Loc, Val};
use crate::feeder::Conn;
use std::f64::consts::PI;

/// A count (phases, conductors, windings, points): a whole number, not so large that memory
/// sized by it could not be had.
pub(super) fn count(v: &Val, loc: &Loc, key: &str) -> Result<usize, DssError> {
    /// A year of one-minute points, and then some; far more than any phase or wire count.
    const MAX: f64 = 1e7;
    let k = num(v, loc)?;
    if !(k.fract() == 0.0 && (0.0..=MAX).contains(&k)) {
        return Err(loc.err(format!(
            "{key}={}: expected a whole number from 0 to {MAX}",
            v.text
        )));
    }
    Ok(k as usize)
}

/// A phase count: a count of at least one, since an element of no phases has no conductors to
/// connect or to read a voltage across.
pub(super) fn phase_count(v: &Val, loc: &Loc) -> Result<usize, DssError> {
    match count(v, loc, "phases")? {
        0 => Err(loc.err("phases=0: an element has at least one phase")),
        n => Ok(n),
    }
}

pub(super) fn conn(s: &str, loc: &Loc) -> Result<Conn, DssError> {
    match s.to_ascii_lowercase().as_str() {
        "wye" | "y" | "ln" => Ok(Conn::Wye),
        "delta" | "d" | "ll" => Ok(Conn::Delta),
        o => Err(loc.err(format!("connection `{o}` is neither wye nor delta"))),
    }
}

pub(super) fn each(
    v: &Val,
    n: usize,
    loc: &Loc,
    mut f: impl FnMut(usize, &str) -> Result<(), DssError>,
) -> Result<(), DssError> {
    let items: Vec<&str> = v
        .text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > n {
        return Err(loc.err(format!("{} values for {n} windings", items.len())));
    }
    for (k, s) in items.iter().enumerate() {
        f(k, s)?;
    }
    Ok(())
}

pub(super) fn boolean(v: &Val, loc: &Loc) -> Result<bool, DssError> {
    match v.text.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "t" => Ok(true),
        "n" | "no" | "false" | "f" => Ok(false),
        o => Err(loc.err(format!("`{o}` is not yes or no"))),
    }
}

/// km in one `units`, or `None` for `none`.
pub(super) fn unit_km(s: &str, loc: &Loc) -> Result<Option<f64>, DssError> {
    Ok(Some(match s.to_ascii_lowercase().as_str() {
        "none" => return Ok(None),
        "mi" => 1.609_344,
        "kft" => 0.3048,
        "km" => 1.0,
        "m" => 1e-3,
        "ft" => 0.3048e-3,
        "in" => 0.0254e-3,
        "cm" => 1e-5,
        "mm" => 1e-6,
        o => return Err(loc.err(format!("unknown length unit `{o}`"))),
    }))
}

pub(super) fn parse_num(s: &str, loc: &Loc) -> Result<f64, DssError> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| loc.err(format!("`{s}` is not a number")))
}

/// A number, or an RPN expression in brackets: `(8 1000 /)`.
pub(super) fn num(v: &Val, loc: &Loc) -> Result<f64, DssError> {
    if !v.bracketed {
        return parse_num(&v.text, loc);
    }
    let mut stack: Vec<f64> = Vec::new();
    for t in v.text.split_whitespace() {
        let bin = |st: &mut Vec<f64>, f: fn(f64, f64) -> f64| -> Result<(), DssError> {
            let (b, a) = (st.pop(), st.pop());
            match (a, b) {
                (Some(a), Some(b)) => {
                    st.push(f(a, b));
                    Ok(())
                }
                _ => Err(loc.err(format!("RPN `{}`: `{t}` needs two values", v.text))),
            }
        };
        match t {
            "+" => bin(&mut stack, |a, b| a + b)?,
            "-" => bin(&mut stack, |a, b| a - b)?,
            "*" => bin(&mut stack, |a, b| a * b)?,
            "/" => bin(&mut stack, |a, b| a / b)?,
            "^" => bin(&mut stack, f64::powf)?,
            "pi" => stack.push(PI),
            // OpenDSS's one-value functions; its trigonometry is in degrees.
            "sqrt" | "sqr" | "inv" | "ln" | "exp" | "log10" | "sin" | "cos" | "tan" | "asin"
            | "acos" | "atan" => {
                let a = stack
                    .pop()
                    .ok_or_else(|| loc.err(format!("RPN `{}`: `{t}` needs a value", v.text)))?;
                stack.push(match t {
                    "sqrt" => a.sqrt(),
                    "sqr" => a * a,
                    "inv" => 1.0 / a,
                    "ln" => a.ln(),
                    "exp" => a.exp(),
                    "log10" => a.log10(),
                    "sin" => a.to_radians().sin(),
                    "cos" => a.to_radians().cos(),
                    "tan" => a.to_radians().tan(),
                    "asin" => a.asin().to_degrees(),
                    "acos" => a.acos().to_degrees(),
                    _ => a.atan().to_degrees(),
                });
            }
            _ => stack.push(parse_num(t, loc)?),
        }
    }
    match stack[..] {
        [x] => Ok(x),
        _ => Err(loc.err(format!("`({})` is not one number", v.text))),
    }
}

pub(super) fn nums(v: &Val, loc: &Loc) -> Result<Vec<f64>, DssError> {
    v.text
        .split(|c: char| c == ',' || c == '|' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| parse_num(s, loc))
        .collect()
}

/// A symmetric matrix written as its lower triangle (rows split by `|`) or in full.
pub(super) fn matrix(v: &Val, loc: &Loc) -> Result<Vec<Vec<f64>>, DssError> {
    let x = nums(v, loc)?;
    let n_full = (x.len() as f64).sqrt().round() as usize;
    let n_tri = (((8 * x.len() + 1) as f64).sqrt().round() as usize).saturating_sub(1) / 2;
    if n_tri * (n_tri + 1) / 2 == x.len() && v.text.contains('|')
        || (n_full * n_full != x.len() && n_tri * (n_tri + 1) / 2 == x.len())
    {
        let n = n_tri;
        let at = |i: usize, j: usize| {
            let (a, b) = if i >= j { (i, j) } else { (j, i) };
            x[a * (a + 1) / 2 + b]
        };
        Ok((0..n).map(|i| (0..n).map(|j| at(i, j)).collect()).collect())
    } else if n_full * n_full == x.len() {
        Ok((0..n_full)
            .map(|i| x[i * n_full..(i + 1) * n_full].to_vec())
            .collect())
    } else {
        Err(loc.err(format!(
            "{} values make neither a full nor a triangular matrix",
            x.len()
        )))
    }
}

/// kvar for `kw` at power factor `pf` (negative: the other sign), as OpenDSS derives it.
pub(super) fn reactive(kw: f64, pf: f64) -> f64 {
    let pf = pf.clamp(-1.0, 1.0);
    if pf == 0.0 {
        0.0
    } else {
        kw * (1.0 / (pf * pf) - 1.0).sqrt() * pf.signum()
    }
}
