//! Events to a webhook: each committed batch's events at or above the configured severity are
//! POSTed as a JSON array to the configured URL (a relay for e-mail or SMS, Home Assistant,
//! ntfy...). Delivery runs on its own thread so a slow receiver never holds up storage; a
//! failed delivery is retried twice with backoff, then reported on stderr and dropped.

use std::sync::mpsc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::StoredEvent;
use crate::store::log::SEVERITIES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://host[:port]/path` (plain HTTP: point it at a relay on the local network).
    pub url: String,
    /// Events of this severity and worse are sent.
    pub min_severity: String,
}

impl Webhook {
    /// Why the settings cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if !SEVERITIES.contains(&self.min_severity.as_str()) {
            return Some(format!(
                "min_severity {:?} is not one of {}",
                self.min_severity,
                SEVERITIES.join(", ")
            ));
        }
        match self.url.parse::<hyper::Uri>() {
            Ok(u) if u.scheme_str() == Some("http") && u.host().is_some() => None,
            Ok(_) => Some(format!(
                "the webhook URL {:?} must be http://host[:port]/path",
                self.url
            )),
            Err(e) => Some(format!("the webhook URL {:?}: {e}", self.url)),
        }
    }

    /// Events of its severity or worse, except those of alert rules that only log.
    pub fn wants(&self, e: &StoredEvent) -> bool {
        let rank = |s: &str| SEVERITIES.iter().position(|x| *x == s).unwrap_or(0);
        let logged_only = e.kind.starts_with("alert_")
            && e.detail.get("action").and_then(|a| a.as_str()) == Some("Log");
        rank(&e.severity) >= rank(&self.min_severity) && !logged_only
    }
}

/// Start the delivery thread; send it (webhook, events) to deliver.
pub fn spawn() -> std::io::Result<mpsc::Sender<(Webhook, Vec<StoredEvent>)>> {
    let (tx, rx) = mpsc::channel::<(Webhook, Vec<StoredEvent>)>();
    std::thread::Builder::new()
        .name("webhook".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                tracing::error!("the webhook cannot start a runtime");
                return;
            };
            for (hook, events) in rx {
                let body = serde_json::to_vec(&events).unwrap_or_default();
                let mut wait = Duration::from_millis(500);
                for attempt in 1..=3 {
                    match rt.block_on(post(&hook.url, body.clone())) {
                        Ok(()) => break,
                        Err(e) if attempt == 3 => {
                            tracing::warn!(
                                "webhook {}: {e}; {} events dropped",
                                hook.url,
                                events.len()
                            );
                        }
                        Err(_) => {
                            std::thread::sleep(wait);
                            wait *= 4;
                        }
                    }
                }
            }
        })?;
    Ok(tx)
}

async fn post(url: &str, body: Vec<u8>) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let call = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(
                hyper::header::HOST,
                uri.authority().map_or("", |a| a.as_str()),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "gridtwin")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let res = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let _ = res.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    };
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
}
