// Test code: it may unwrap, index and panic (clippy.toml covers only `#[test]` functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! `--cert URL`: an https URL is followed to https only (a redirect to plain http is
//! refused before anything is sent there), and a plain http URL works with a warning.
//! The https server is local, its certificate signed by a test CA that kubeseal trusts
//! through `SSL_CERT_FILE`.

mod support;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use support::fake_api::without_proxies;
use support::*;

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: s3cr3t\n";

const WARNING: &str = "is fetched over plain http: the certificate can be tampered with in transit; use https:// or a file";

/// A test CA (written to `ca_file`) and a server configuration for 127.0.0.1 signed by it.
fn tls_config(ca_file: &Path) -> Arc<rustls::ServerConfig> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        SanType,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kubeseal test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    std::fs::write(ca_file, ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names = vec![SanType::IpAddress(Ipv4Addr::LOCALHOST.into())];
    let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    Arc::new(config)
}

/// Reads one request's head.
fn read_head(stream: &mut impl Read) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Serves `replies` over TLS, one connection each, in order; returns the port.
fn serve_tls(config: Arc<rustls::ServerConfig>, replies: Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            read_head(&mut tls);
            let _ = tls.write_all(&reply);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

fn cert_pem() -> Vec<u8> {
    std::fs::read(cert_a()).unwrap()
}

fn kubeseal_trusting(ca_file: &Path) -> assert_cmd::Command {
    let mut cmd = without_proxies(kubeseal());
    cmd.env("SSL_CERT_FILE", ca_file).env_remove("SSL_CERT_DIR");
    cmd
}

#[test]
fn https_url_is_fetched_and_redirects_to_https_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let config = tls_config(&ca_file);
    let port = serve_tls(config.clone(), vec![response("200 OK", "", &cert_pem())]);
    let url = format!("https://127.0.0.1:{port}/v1/cert.pem");
    let r = run(kubeseal_trusting(&ca_file).args(["--cert", &url]), SECRET);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "no warning for https");
    assert_eq!(
        items(&unseal_with(&r.stdout, &[key_a()])[0])["password"],
        b"s3cr3t"
    );

    let target = serve_tls(config.clone(), vec![response("200 OK", "", &cert_pem())]);
    let location = format!("Location: https://127.0.0.1:{target}/v1/cert.pem\r\n");
    let port = serve_tls(config, vec![response("302 Found", &location, b"")]);
    let url = format!("https://127.0.0.1:{port}/v1/cert.pem");
    let r = run(kubeseal_trusting(&ca_file).args(["--cert", &url]), SECRET);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
}

#[test]
fn https_redirect_to_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let config = tls_config(&ca_file);
    // Where the redirect points: it must never be asked.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    http.set_nonblocking(true).unwrap();
    let http_url = format!(
        "http://127.0.0.1:{}/v1/cert.pem",
        http.local_addr().unwrap().port()
    );
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
    ] {
        let location = format!("Location: {http_url}\r\n");
        let port = serve_tls(config.clone(), vec![response(status, &location, b"")]);
        let url = format!("https://127.0.0.1:{port}/v1/cert.pem");
        let err = fails(kubeseal_trusting(&ca_file).args(["--cert", &url]), SECRET);
        assert_eq!(
            err,
            format!(
                "error: cannot fetch \"{url}\": refused the redirect to \"{http_url}\": an https --cert URL is followed to https only"
            ),
            "{status}"
        );
    }
    match http.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the http URL was contacted: {other:?}"),
    }
}

/// Serves `body` over plain http once; returns the URL.
fn serve_http(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/cert.pem", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            read_head(&mut stream);
            let _ = stream.write_all(&response("200 OK", "", &body));
            let _ = TcpStream::flush(&mut stream);
        }
    });
    url
}

#[test]
fn plain_http_url_works_with_a_one_line_warning() {
    let url = serve_http(cert_pem());
    let r = run(without_proxies(kubeseal()).args(["--cert", &url]), SECRET);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, format!("warning: --cert {url:?} {WARNING}\n"));
    assert_eq!(
        items(&unseal_with(&r.stdout, &[key_a()])[0])["password"],
        b"s3cr3t"
    );
    // Upper-case schemes are the same URL.
    let url = serve_http(cert_pem()).replace("http://", "HTTP://");
    let r = run(without_proxies(kubeseal()).args(["--cert", &url]), SECRET);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, format!("warning: --cert {url:?} {WARNING}\n"));
}
