//! `gridtwin hq`: the fleet's headquarters (a feature `hq` command: PostgreSQL).

use std::net::SocketAddr;

use gridtwin::mqtt::broker::Broker;
use gridtwin::service;

use super::mqtt_flags::MqttTls;
use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    /// The broker, as for serve --mqtt.
    #[arg(long, value_name = "URL")]
    mqtt: String,
    /// The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (or a libpq key=value
    /// string); GRIDTWIN_POSTGRES instead keeps a password out of the process list.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The MQTT client id; the broker keeps this session's messages while hq is away.
    #[arg(long, default_value = "gridtwin-hq")]
    client_id: String,
    #[command(flatten)]
    mqtt_tls: MqttTls,
}

pub fn run(a: Args) -> Outcome {
    let listen = a.listen;
    let o = options(a).map_err(Failure::BadInput)?;
    service::hq(o, listen).map_err(Failure::Failed)?;
    Ok(Verdict::Passed)
}

/// The flags, checked.
fn options(a: Args) -> Result<gridtwin::hq::Options, String> {
    let broker = Broker::parse(&a.mqtt)?;
    let postgres = a
        .postgres
        .or_else(|| std::env::var("GRIDTWIN_POSTGRES").ok())
        .ok_or("hq needs --postgres URL (or GRIDTWIN_POSTGRES)")?;
    let token = std::env::var("GRIDTWIN_HQ_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    gridtwin::hq::check_listen(a.listen, token.as_deref())?;
    Ok(gridtwin::hq::Options {
        tls: a.mqtt_tls.config(&broker)?,
        broker,
        postgres,
        client_id: a.client_id,
        token,
    })
}
