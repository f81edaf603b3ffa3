//! Delivery: e-mail over SMTP (lettre; STARTTLS or TLS on rustls and ring, as the rest of the
//! build), webhooks over HTTP or HTTPS (hyper on tokio-rustls) with bodies from MiniJinja
//! templates. The live site delivers on its own thread so that a slow server never holds up
//! storage; a failed target is tried twice more with backoff, then logged and dropped.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::{Group, Message, Notifications, Security, Smtp, Webhook, Why};
use crate::store::StoredEvent;

/// A whole exchange with one server, at most.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the messages go from: the site's name and local time.
#[derive(Debug, Clone)]
pub struct Sender {
    pub site: String,
    pub utc_offset_s: i32,
}

/// One target's delivery: whom, and how long it took or why it failed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: String,
    pub ms: Option<f64>,
    pub error: Option<String>,
}

/// What a template sees.
#[derive(Serialize)]
struct Context<'a> {
    site: &'a str,
    group: &'a str,
    subject: String,
    text: String,
    escalation: bool,
    events: &'a [StoredEvent],
}

impl Sender {
    /// Deliver `m` to every target of its group, each tried up to `tries` times with backoff.
    pub async fn deliver(&self, cfg: &Notifications, m: &Message, tries: u32) -> Vec<Outcome> {
        let Some(group) = cfg.group(&m.group) else {
            return vec![Outcome {
                target: m.group.clone(),
                ms: None,
                error: Some(format!("{:?} is not a notification group", m.group)),
            }];
        };
        let mut out = Vec::new();
        for target in targets(group) {
            let mut wait = Duration::from_millis(500);
            let mut attempt = 1;
            let t0 = Instant::now();
            let r = loop {
                let r = tokio::time::timeout(TIMEOUT, self.one(cfg, m, &target))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())));
                if r.is_ok() || attempt >= tries {
                    break r;
                }
                tokio::time::sleep(wait).await;
                wait *= 4;
                attempt += 1;
            };
            out.push(Outcome {
                target: target.name(),
                ms: r.is_ok().then(|| t0.elapsed().as_secs_f64() * 1e3),
                error: r.err(),
            });
        }
        out
    }

    async fn one(
        &self,
        cfg: &Notifications,
        m: &Message,
        target: &Target<'_>,
    ) -> Result<(), String> {
        match target {
            Target::Email(to) => {
                let smtp = cfg.smtp.as_ref().ok_or("no mail server (smtp) is set")?;
                email(smtp, to, &m.subject(&self.site), m.text(self.utc_offset_s)).await
            }
            Target::Webhook(w) => {
                let body = self.body(w, m)?;
                post(w, body).await
            }
        }
    }

    /// A webhook's body: its template rendered, else the events as JSON.
    fn body(&self, w: &Webhook, m: &Message) -> Result<Vec<u8>, String> {
        let Some(template) = &w.template else {
            return serde_json::to_vec(&m.events).map_err(|e| e.to_string());
        };
        let ctx = Context {
            site: &self.site,
            group: &m.group,
            subject: m.subject(&self.site),
            text: m.text(self.utc_offset_s),
            escalation: matches!(m.why, Why::Escalation { .. }),
            events: &m.events,
        };
        environment()
            .render_str(template, Value::from(Serde(&ctx)))
            .map(String::into_bytes)
            .map_err(|e| format!("the webhook's template: {e}"))
    }

    /// A test message to `group` (every group when none), each target tried once; refused
    /// when there is no such group, or none at all.
    pub async fn test(
        &self,
        cfg: &Notifications,
        group: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<Outcome>, String> {
        let names: Vec<String> = match group {
            Some(g) if cfg.group(g).is_none() => {
                return Err(format!("{g:?} is not a notification group"));
            }
            Some(g) => vec![g.to_string()],
            None => cfg.groups.iter().map(|g| g.name.clone()).collect(),
        };
        if names.is_empty() {
            return Err("no notification groups are set".into());
        }
        let mut out = Vec::new();
        for g in names {
            out.extend(self.deliver(cfg, &test_message(&g, now_ms), 1).await);
        }
        Ok(out)
    }

    /// Start the delivery thread; send it (settings, message) to deliver.
    pub fn spawn(self) -> std::io::Result<mpsc::Sender<(Notifications, Message)>> {
        let (tx, rx) = mpsc::channel::<(Notifications, Message)>();
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    tracing::error!("notifications cannot start a runtime");
                    return;
                };
                for (cfg, m) in rx {
                    for o in rt.block_on(self.deliver(&cfg, &m, 3)) {
                        if let Some(e) = o.error {
                            tracing::warn!(
                                "notify {}: {e}; {} events not delivered",
                                o.target,
                                m.events.len()
                            );
                        }
                    }
                }
            })?;
        Ok(tx)
    }
}

/// The message a test sends.
pub fn test_message(group: &str, now_ms: i64) -> Message {
    Message {
        group: group.to_string(),
        why: Why::Test,
        events: vec![StoredEvent {
            id: 0,
            t: now_ms,
            severity: "info".into(),
            subject: "site".into(),
            kind: "notification_test".into(),
            detail: serde_json::json!({}),
            text: "site: a test notification".into(),
            acked_by: None,
            acked_at: None,
        }],
    }
}

enum Target<'a> {
    Email(&'a [String]),
    Webhook(&'a Webhook),
}

impl Target<'_> {
    fn name(&self) -> String {
        match self {
            Target::Email(to) => format!("mail to {}", to.join(", ")),
            Target::Webhook(w) => w.url.clone(),
        }
    }
}

fn targets(g: &Group) -> Vec<Target<'_>> {
    let mail = (!g.email.is_empty()).then_some(Target::Email(&g.email));
    mail.into_iter()
        .chain(g.webhooks.iter().map(Target::Webhook))
        .collect()
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable is an error, not an empty string sent to a gateway.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Why a mail server's settings cannot be used, if they cannot.
pub fn smtp_problem(s: &Smtp) -> Option<String> {
    if s.host.trim().is_empty() {
        return Some("smtp.host is empty".into());
    }
    if let Err(e) = s.from.parse::<lettre::message::Mailbox>() {
        return Some(format!("smtp.from {:?}: {e}", s.from));
    }
    if s.password.is_some() && s.username.is_none() {
        return Some("smtp: a password needs a username".into());
    }
    s.ca.as_ref().and_then(|ca| {
        std::fs::read(ca)
            .map_err(|e| format!("smtp.ca {}: {e}", ca.display()))
            .and_then(|pem| Certificate::from_pem(&pem).map_err(|e| format!("smtp.ca: {e}")))
            .err()
    })
}

/// Why a webhook cannot be used, if it cannot: its URL, template, headers, CA.
pub fn webhook_problem(w: &Webhook) -> Option<String> {
    let url = &w.url;
    match url.parse::<hyper::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
        Ok(_) => {
            return Some(format!(
                "the webhook URL {url:?} must be http(s)://host[:port]/path"
            ));
        }
        Err(e) => return Some(format!("the webhook URL {url:?}: {e}")),
    }
    for (k, v) in &w.headers {
        if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err()
            || hyper::header::HeaderValue::from_str(v).is_err()
        {
            return Some(format!(
                "{url}: the header {k:?} is not a valid HTTP header"
            ));
        }
    }
    if let Some(t) = &w.content_type
        && hyper::header::HeaderValue::from_str(t).is_err()
    {
        return Some(format!("{url}: the content type {t:?} is not valid"));
    }
    if w.template.is_some() {
        // Rendered once on a sample, so a misspelt variable is found now rather than at 3 am.
        let sample = Sender {
            site: "site".into(),
            utc_offset_s: 0,
        };
        if let Err(e) = sample.body(w, &test_message("group", 0)) {
            return Some(format!("{url}: {e}"));
        }
    }
    if url.starts_with("https:") {
        let files = field::tls::TlsFiles {
            ca: w.ca.clone(),
            ..Default::default()
        };
        if let Err(e) = field::tls::config(&files) {
            return Some(format!("{url}: {e}"));
        }
    }
    None
}

async fn email(smtp: &Smtp, to: &[String], subject: &str, body: String) -> Result<(), String> {
    let mut mail = lettre::Message::builder()
        .from(smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for a in to {
        mail = mail.to(a.parse().map_err(|e| format!("{a:?}: {e}"))?);
    }
    let mail = mail.body(body).map_err(|e| e.to_string())?;
    let tls = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            b = b
                .certificate_store(CertificateStore::None)
                .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| e.to_string())?);
        }
        b.build_rustls().map_err(|e| e.to_string())
    };
    let mut t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .timeout(Some(TIMEOUT));
    t = match smtp.security {
        Security::StartTls => t.tls(Tls::Required(tls()?)),
        Security::Tls => t.tls(Tls::Wrapper(tls()?)),
        Security::None => t,
    };
    if let Some(user) = &smtp.username {
        let password = smtp.password.clone().unwrap_or_default();
        t = t.credentials(Credentials::new(user.clone(), password));
    }
    t.build()
        .send(mail)
        .await
        .map(drop)
        .map_err(|e| format!("smtp {}:{}: {e}", smtp.host, smtp.port))
}

/// POST `body` to the webhook; any 2xx is delivered.
async fn post(w: &Webhook, body: Vec<u8>) -> Result<(), String> {
    let uri: hyper::Uri = w.url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("no host")?.to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut req = hyper::Request::post(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(
            hyper::header::HOST,
            uri.authority().map_or("", |a| a.as_str()),
        )
        .header(
            hyper::header::CONTENT_TYPE,
            w.content_type.as_deref().unwrap_or("application/json"),
        )
        .header(hyper::header::USER_AGENT, "gridtwin");
    for (k, v) in &w.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    if !https {
        return exchange(tcp, req).await;
    }
    let files = field::tls::TlsFiles {
        ca: w.ca.clone(),
        ..Default::default()
    };
    let connector = tokio_rustls::TlsConnector::from(field::tls::config(&files)?);
    let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    exchange(tls, req).await
}

async fn exchange<I>(io: I, req: hyper::Request<Full<Bytes>>) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let res = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let _ = res.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(template: &str) -> Webhook {
        Webhook {
            url: "http://127.0.0.1:9/sms".into(),
            template: Some(template.into()),
            content_type: Some("application/x-www-form-urlencoded".into()),
            headers: Default::default(),
            ca: None,
        }
    }

    #[test]
    fn templates_escape_for_their_body_and_refuse_unknown_variables() {
        let s = Sender {
            site: "barn & shed".into(),
            utc_offset_s: 0,
        };
        let m = test_message("ops", 0);
        let form = s
            .body(&hook("To=%2B15550100&Body={{ subject|urlencode }}"), &m)
            .unwrap();
        assert_eq!(
            String::from_utf8(form).unwrap(),
            "To=%2B15550100&Body=%5Bgridtwin%20barn%20%26%20shed%5D%20TEST%20info%3A%20site%3A%20a%20test%20notification"
        );
        let json = s.body(&hook(r#"{"text": {{ text|tojson }}}"#), &m).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("A test of the notifications to ops")
        );
        let p = webhook_problem(&hook("{{ txet }}")).unwrap();
        assert!(p.contains("template") && p.contains("undefined"), "{p}");
    }
}
