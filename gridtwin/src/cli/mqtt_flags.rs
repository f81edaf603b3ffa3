//! The MQTT flags `serve` and `hq` share: the broker's TLS files, checked against its URL.

use std::path::PathBuf;
use std::sync::Arc;

use gridtwin::mqtt::broker::Broker;
use gridtwin::mqtt::tls::{self, TlsFiles};

/// TLS for an mqtts:// broker.
#[derive(clap::Args, Debug)]
pub struct MqttTls {
    /// With mqtts://: trust only this CA (PEM) for the broker, instead of the system's.
    #[arg(long, value_name = "FILE", requires = "mqtt")]
    mqtt_ca: Option<PathBuf>,
    /// With mqtts://: a client certificate (PEM) to show the broker, with --mqtt-key.
    #[arg(long, value_name = "FILE", requires = "mqtt_key")]
    mqtt_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "mqtt_cert")]
    mqtt_key: Option<PathBuf>,
}

impl MqttTls {
    /// The TLS configuration an mqtts:// broker needs; the files with a plain one are an error.
    pub fn config(&self, broker: &Broker) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
        let files = TlsFiles {
            ca: self.mqtt_ca.clone(),
            cert: self.mqtt_cert.clone(),
            key: self.mqtt_key.clone(),
        };
        match (broker.tls, files.is_empty()) {
            (true, _) => tls::config(&files).map(Some),
            (false, true) => Ok(None),
            (false, false) => {
                Err("--mqtt-ca, --mqtt-cert and --mqtt-key need an mqtts:// broker".into())
            }
        }
    }
}
