//! `serve --tls-cert --tls-key`: the control center over HTTPS with a certificate made by
//! openssl at test time, spoken to by a rustls client that trusts only the test CA.

use std::sync::Arc;
use std::time::Duration;

mod common;

use gridtwin::mqtt::tls::{TlsFiles, config as client_config};
use gridtwin::service::{ServeOptions, start};
use gridtwin::store::{Role, Store};
use gridtwin::web::https;
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request over TLS: the status, the headers, the body.
async fn request(
    addr: std::net::SocketAddr,
    ca: &std::path::Path,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> Result<(u16, hyper::HeaderMap, String), String> {
    let tls = client_config(&TlsFiles {
        ca: Some(ca.to_path_buf()),
        ..TlsFiles::default()
    })?;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, String>(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if json.is_some() {
        req = req.header("content-type", "application/json");
    }
    let res = send
        .send_request(req.body(json.unwrap_or("").to_string()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Ok((
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&body).to_string(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_center_over_https_with_secure_cookies() {
    let dir = common::scratch("https");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    common::certificates(&certs);
    let data = dir.join("data");
    {
        let db = Store::open(&data).unwrap();
        let hash = gridtwin::auth::hash_password(common::PASSWORD).unwrap();
        db.add_user("op", Role::Operator, &hash, 0).unwrap();
    }
    let tls = https::config(&certs.join("server.pem"), &certs.join("server.key")).unwrap();
    let (state, _) = start(
        &common::demo(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data: &data,
            speed: 1.0,
            hil: None,
            field: None,
            mqtt: None,
            tls: Some(tls.clone()),
            secure_cookies: false,
        },
    )
    .unwrap();
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(https::serve(state.clone(), listener, tls, async move {
        let _ = stopped.await;
    }));
    let ca = certs.join("ca.pem");

    // The API over TLS, with the usual headers and HSTS.
    let (code, headers, body) = request(addr, &ca, "GET", "/api/openapi.json", None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(headers["strict-transport-security"], "max-age=31536000");
    assert!(headers.contains_key("content-security-policy"));

    // A login's cookie is Secure (and HttpOnly, SameSite=Strict); it works for the API.
    let login = serde_json::json!({"name": "op", "password": common::PASSWORD}).to_string();
    let (code, headers, body) = request(addr, &ca, "POST", "/api/login", Some(&login))
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    for part in ["; Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{cookie}");
    }

    // A client that trusts another CA is refused in the handshake.
    let e = request(addr, &certs.join("other-ca.pem"), "GET", "/", None)
        .await
        .unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/openapi.json HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut got)).await;
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // Stopping ends the server within its drain time.
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    state.live.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_certificate_files_say_which_and_what() {
    let dir = common::scratch("https-files");
    std::fs::create_dir_all(&dir).unwrap();
    common::certificates(&dir);
    let e = https::config(&dir.join("missing.pem"), &dir.join("server.key")).unwrap_err();
    assert!(e.contains("--tls-cert") && e.contains("missing.pem"), "{e}");
    let e = https::config(&dir.join("server.pem"), &dir.join("server.ext")).unwrap_err();
    assert!(e.contains("--tls-key") && e.contains("server.ext"), "{e}");
    // The client's key does not belong to the server's certificate.
    let e = https::config(&dir.join("server.pem"), &dir.join("client.key")).unwrap_err();
    assert!(e.contains("--tls-cert and --tls-key"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
