//! A site's recorded channels (`record::schema`) from its description, before any loop is
//! built: what a scenario's alert rules are checked against, and what a feeder's row records
//! at its transformers.

use record::schema::{self, Channel};
use sim::feeder::PowerFlow;

/// The nodes whose current enters each of `heads` (transformer secondaries) from its parent.
pub fn head_nodes(pf: &PowerFlow, heads: &[String]) -> Vec<Vec<usize>> {
    heads
        .iter()
        .map(|b| {
            pf.bus_inflow(b)
                .unwrap_or_default()
                .iter()
                .map(|x| x.0)
                .collect()
        })
        .collect()
}

/// A feeder's channels, from its compiled power flow and its homes (its loads' names).
pub fn feeder(pf: &PowerFlow, homes: &[String]) -> Vec<Channel> {
    let heads = pf.head_buses();
    let nodes = head_nodes(pf, &heads);
    let heads: Vec<(String, Vec<usize>)> = heads.into_iter().zip(nodes).collect();
    schema::feeder_channels(&heads, homes)
}
