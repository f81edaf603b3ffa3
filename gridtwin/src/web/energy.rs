//! Energy and cost over the API, for anyone signed in: the Energy page's figures
//! (`/api/energy`) and the ledger's intervals with the price each was billed at
//! (`/api/energy/intervals`), so that any figure can be checked interval by interval.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::Shared;
use super::error::{ApiError, Query};
use super::session::User;
use crate::energy::{self, Books, Energy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// How many days of daily totals, today included (1 to 366; 31 when not given).
    days: Option<u32>,
}

pub async fn energy(
    State(s): State<Shared>,
    _u: User,
    Query(q): Query<Span>,
) -> Result<Json<Energy>, ApiError> {
    let days = q.days.unwrap_or(31);
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "days must be 1 to 366, not {days}"
        )));
    }
    let cal = s.live.calendar();
    let now = s.live.site_now();
    let (from, to) = energy::reach(cal, now, days);
    let (intervals, counters) = s
        .db(move |db| Ok((db.energy(from, to)?, db.counters()?)))
        .await?;
    let tariff = s.live.tariff_now();
    let books = Books {
        registers: &s.live.registers,
        billed: s.live.billed(),
        tariff: tariff.as_ref(),
        cal,
    };
    Ok(Json(energy::account(
        books, &intervals, &counters, now, days,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// [from, to) unix ms of the intervals' starts; the site's today when not given.
    from: Option<i64>,
    to: Option<i64>,
    register: Option<String>,
}

#[derive(Serialize)]
pub struct Priced {
    register: String,
    /// The interval's start, unix ms.
    t: i64,
    kwh: f64,
    /// Per kWh, when a tariff is in force.
    price: Option<f64>,
    cost: Option<f64>,
}

pub async fn intervals(
    State(s): State<Shared>,
    _u: User,
    Query(q): Query<Range>,
) -> Result<Json<Vec<Priced>>, ApiError> {
    let cal = s.live.calendar();
    let today = &cal.periods(s.live.site_now())[0];
    let (from, to) = (q.from.unwrap_or(today.from), q.to.unwrap_or(today.to));
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    if let Some(r) = &q.register
        && !s.live.registers.contains(r)
    {
        return Err(ApiError::bad_request(format!(
            "no register is named {r:?}; the site's are {}",
            s.live.registers.join(", ")
        )));
    }
    let rows = s.db(move |db| db.energy(from, to)).await?;
    let tariff = s.live.tariff_now();
    Ok(Json(
        rows.into_iter()
            .filter(|i| q.register.as_ref().is_none_or(|r| *r == i.register))
            .map(|i| {
                let kwh = i.joules / record::schema::J_PER_KWH;
                let price = tariff.as_ref().map(|t| cal.price(t, i.t).0);
                Priced {
                    register: i.register,
                    t: i.t,
                    kwh,
                    price,
                    cost: price.map(|p| p * kwh),
                }
            })
            .collect(),
    ))
}
