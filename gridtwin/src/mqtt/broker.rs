//! `--mqtt URL`: `mqtt://[USER[:PASSWORD]@]HOST[:PORT]`, or `mqtts://` for TLS (ports 1883
//! and 8883 by default). The password may instead come from `GRIDTWIN_MQTT_PASSWORD`, so that it
//! is not in the process list; it is never shown (`Display` leaves it out).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Broker {
    pub fn parse(url: &str) -> Result<Broker, String> {
        let bad = |why: &str| format!("--mqtt {}: {why}", redact(url));
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(bad("expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a broker URL has no path or query"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(n.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
        };
        if user.as_deref() == Some("") {
            return Err(bad("an empty user name"));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            // An IPv6 literal's colons are inside its brackets.
            Some((h, p)) if !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(&format!("{p:?} is not a port")))?;
                (h, port)
            }
            _ => (hostport, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Broker {
            host: host.to_string(),
            port,
            tls,
            user,
            password,
        })
    }
}

impl Broker {
    /// A client's options for this broker: its address, the user with the password (from the
    /// URL or `GRIDTWIN_MQTT_PASSWORD`), and TLS when given.
    pub fn client_options(
        &self,
        client_id: String,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    ) -> rumqttc::MqttOptions {
        let mut opts = rumqttc::MqttOptions::new(client_id, self.host.clone(), self.port);
        if let Some(user) = &self.user {
            let password = self
                .password
                .clone()
                .or_else(|| std::env::var("GRIDTWIN_MQTT_PASSWORD").ok())
                .unwrap_or_default();
            opts.set_credentials(user.clone(), password);
        }
        if let Some(tls) = tls {
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        opts
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.user {
            Some(u) => write!(f, "{scheme}://{u}@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Broker({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let b = Broker::parse("mqtt://localhost").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls, b.user),
            ("localhost", 1883, false, None)
        );
        let b = Broker::parse("mqtts://gw:s3cret@broker.example:8884/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.tls),
            ("broker.example", 8884, true)
        );
        assert_eq!(
            (b.user.as_deref(), b.password.as_deref()),
            (Some("gw"), Some("s3cret"))
        );
        assert_eq!(Broker::parse("mqtts://h").unwrap().port, 8883);
        let b = Broker::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1884));
        let b = Broker::parse("mqtt://[::1]").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 1883));
    }

    #[test]
    fn bad_urls_say_why_and_never_show_the_password() {
        for (url, says) in [
            ("http://h", "expected mqtt://"),
            ("mqtt://", "no host"),
            ("mqtt://h:0", "is not a port"),
            ("mqtt://h:99999", "is not a port"),
            ("mqtt://gw:s3cret@h/topic", "no path"),
            ("mqtt://:pw@h", "empty user"),
        ] {
            let e = Broker::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let b = Broker::parse("mqtt://gw:s3cret@h").unwrap();
        assert_eq!(b.to_string(), "mqtt://gw@h:1883");
        assert!(!format!("{b:?}").contains("s3cret"));
    }
}
