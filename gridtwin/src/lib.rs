//! The live side of Gridtwin: the control loop paced in real time against the twin or the bench's hardware, its
//! storage, users and the HTTP control center. The `gridtwin` binary's commands are in
//! `main.rs`.

pub mod auth;
pub mod control;
pub mod energy;
pub mod export;
pub mod fuzz;
pub mod hardware;
#[cfg(feature = "hq")]
pub mod hq;
pub mod live;
pub mod logging;
pub mod mqtt;
pub mod notify;
pub mod service;
pub mod site_report;
pub mod store;
pub mod web;
