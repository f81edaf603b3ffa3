//! TLS to a server (the site's `mqtts://` broker, a ChirpStack's integration, a notification
//! webhook): rustls on ring (the provider the rest of the build already uses). The server is
//! checked against the system's CA certificates or only against a given CA (a utility's own);
//! with a client certificate and its key the site proves itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// The PEM files a TLS connection uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Trust only this CA (else the system's).
    pub ca: Option<PathBuf>,
    /// A client certificate chain and its key.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self == &TlsFiles::default()
    }
}

/// The client configuration, or what is wrong with the files.
pub fn config(f: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    if f.cert.is_some() != f.key.is_some() {
        return Err("a client certificate and its key go together".into());
    }
    let mut roots = RootCertStore::empty();
    match &f.ca {
        Some(ca) => {
            for c in certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::error!("tls: reading the system's CA certificates: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "no system CA certificates found: install ca-certificates, or name the \
                     server's CA"
                        .into(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&f.cert, &f.key) {
        (Some(cert), Some(key)) => {
            let k = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("{}: no private key read: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs(cert)?, k)
                .map_err(|e| format!("{}: {e}", cert.display()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file; at least one.
fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let list = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if list.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gridtwin-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn bad_files_say_which_and_what() {
        let missing = PathBuf::from("/nonexistent/ca.pem");
        let e = config(&TlsFiles {
            ca: Some(missing),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");

        let empty = write("empty.pem", "just text\n");
        let e = config(&TlsFiles {
            ca: Some(empty.clone()),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(e.contains("empty.pem: no PEM certificate"), "{e}");

        let garbled = write(
            "garbled.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
        );
        let e = config(&TlsFiles {
            ca: Some(garbled),
            ..TlsFiles::default()
        })
        .unwrap_err();
        assert!(e.contains("garbled.pem"), "{e}");

        let e = config(&TlsFiles {
            ca: None,
            cert: Some(empty),
            key: None,
        })
        .unwrap_err();
        assert!(e.contains("go together"), "{e}");
    }
}
