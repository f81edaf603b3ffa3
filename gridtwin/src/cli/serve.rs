//! `gridtwin serve [FILE]`: the controller live against the twin or the bench's hardware, and
//! the control center over HTTP(S), optionally reporting to an MQTT broker.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use controller::scenario::BackendKind;
use gridtwin::mqtt::broker::Broker;
use gridtwin::mqtt::topics::check_user;
use gridtwin::service;

use super::mqtt_flags::MqttTls;
use super::{Failure, Outcome, Verdict};

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (RON, a PDU or a feeder); the built-in demo PDU when absent.
    file: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The data directory (the SQLite database).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Run the full hardware path against the twin: virtual measurement nodes on an
    /// emulated I2C bus, relays through the relay board and its watchdog.
    #[arg(long, conflicts_with = "hil")]
    hil_emulated: bool,
    /// Run the controller on the bench's hardware (a Raspberry Pi's I2C and GPIO, as
    /// BENCH.ron lays them out) instead of the twin, in real time.
    #[arg(long, value_name = "BENCH.ron")]
    hil: Option<PathBuf>,
    /// Run a feeder's balancer on the home nodes and meters FIELD.ron lays out instead of
    /// the twin, in real time: the homes' values are what their nodes report. With --hil,
    /// a PDU's circuits measured by FIELD.ron's Modbus meters (`measures: Circuit(NAME)`),
    /// its relays on the bench's outputs.
    #[arg(long, value_name = "FIELD.ron", conflicts_with = "hil_emulated")]
    field: Option<PathBuf>,
    /// With --hil: the bench's emulation at no load instead of the Pi's buses. With --field:
    /// the field file's devices emulated, fed by the scenario's twin (with --hil too: at
    /// 230 V and 2 kW each).
    #[arg(long)]
    emulated: bool,
    /// Publish each load's, source's and phase's state and each event to this MQTT broker
    /// (mqtt://[USER[:PASSWORD]@]HOST[:PORT], or mqtts:// for TLS; the password may come
    /// from GRIDTWIN_MQTT_PASSWORD instead), with Home Assistant discovery, and take load
    /// commands from the users --mqtt-role names.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// The MQTT user Home Assistant publishes as (its switches' command topics).
    #[arg(long, default_value = "homeassistant", requires = "mqtt")]
    mqtt_ha_user: String,
    /// An MQTT user allowed to command loads, with its role (viewer, operator, admin), as
    /// USER=ROLE; repeat for more. Home Assistant gets switches when its user is an
    /// operator or admin. The broker's ACL must keep each user to its own cmd/USER/.
    #[arg(long, value_name = "USER=ROLE", requires = "mqtt")]
    mqtt_role: Vec<String>,
    #[command(flatten)]
    mqtt_tls: MqttTls,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key; cookies are then
    /// Secure and responses say Strict-Transport-Security.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mark cookies Secure while serving plain HTTP, behind a proxy that terminates TLS.
    #[arg(long, conflicts_with = "tls_cert")]
    secure_cookies: bool,
}

pub fn run(a: Args) -> Outcome {
    let mut l = super::load_or_demo(a.file.as_deref())?;
    if a.hil_emulated {
        l.set_backend(BackendKind::EmulatedHil)
            .map_err(Failure::BadInput)?;
    }
    if a.emulated && a.hil.is_none() && a.field.is_none() {
        return Err(Failure::BadInput(
            "--emulated goes with --hil or --field".into(),
        ));
    }
    let field = match a.field.as_deref() {
        None => None,
        Some(p) => Some(service::Field {
            file: ::field::config::load(p).map_err(|e| Failure::BadInput(e.to_string()))?,
            emulated: a.emulated,
        }),
    };
    let hil = match a.hil.as_deref() {
        None => None,
        Some(p) => Some(gridtwin::hardware::Hil {
            bench: super::hil::read_bench(Some(p)).map_err(Failure::BadInput)?,
            emulated: a.emulated,
        }),
    };
    let mqtt = a
        .mqtt
        .as_deref()
        .map(|url| mqtt_options(url, &a))
        .transpose()
        .map_err(Failure::BadInput)?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some(gridtwin::web::https::config(c, k).map_err(Failure::BadInput)?),
        _ => None,
    };
    let o = service::ServeOptions {
        listen: a.listen,
        data: &a.data,
        speed: a.speed,
        hil: hil.as_ref(),
        field: field.as_ref(),
        mqtt: mqtt.as_ref(),
        tls,
        secure_cookies: a.secure_cookies,
    };
    service::serve(&l, &o).map_err(Failure::Failed)?;
    Ok(Verdict::Passed)
}

/// The MQTT flags, checked: the broker URL, the users' roles, the TLS files.
fn mqtt_options(url: &str, a: &Args) -> Result<gridtwin::mqtt::client::Options, String> {
    let broker = Broker::parse(url)?;
    check_user(&a.mqtt_ha_user).map_err(|e| format!("--mqtt-ha-user: {e}"))?;
    let mut roles = BTreeMap::new();
    for r in &a.mqtt_role {
        let (user, role) = r
            .split_once('=')
            .ok_or_else(|| format!("--mqtt-role {r:?}: expected USER=ROLE"))?;
        check_user(user).map_err(|e| format!("--mqtt-role {r:?}: {e}"))?;
        let role = role
            .parse()
            .map_err(|e| format!("--mqtt-role {r:?}: {e}"))?;
        if roles.insert(user.to_string(), role).is_some() {
            return Err(format!("--mqtt-role: {user} is given twice"));
        }
    }
    let tls = a.mqtt_tls.config(&broker)?;
    Ok(gridtwin::mqtt::client::Options {
        broker,
        ha_user: a.mqtt_ha_user.clone(),
        roles,
        tls,
        period: std::time::Duration::from_secs(1),
    })
}
