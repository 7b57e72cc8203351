//! One crypto stack: the binary is built with one rustls provider (ring), and a guard reports over
//! `https://` to a sink behind a TLS-terminating proxy whose certificate a private CA signed, trusting
//! that CA because it is in the system's store (`SSL_CERT_FILE`, as a CA bundle mounted into a pod
//! would be). The proxy here is rustls itself; the certificates are made with the openssl CLI.

use crate::support::{read_log_lines, sluice_in, stderr, Sink};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// A private CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).
fn private_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (tests/run installs it)");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sluice test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// A TLS-terminating proxy in front of `upstream`: each connection's request is read whole (head and
/// `Content-Length` body), sent to the sink, and the answer relayed back. Serves until the test ends.
fn tls_proxy(cert: &Path, key: &Path, upstream: String) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let Ok(server) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(server, conn);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let complete = |r: &[u8]| {
                let text = String::from_utf8_lossy(r);
                let Some(end) = text.find("\r\n\r\n") else {
                    return false;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                r.len() >= end + 4 + length
            };
            while !complete(&request) {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            if !complete(&request) {
                continue;
            }
            let Ok(mut up) = TcpStream::connect(&upstream) else {
                continue;
            };
            let text =
                String::from_utf8_lossy(&request).replacen("\r\n", "\r\nConnection: close\r\n", 1);
            let _ = up.write_all(text.as_bytes());
            let mut answer = Vec::new();
            let _ = up.read_to_end(&mut answer);
            let _ = tls.write_all(&answer);
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn a_guard_reports_over_https_through_a_private_ca_in_the_system_store() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let data = dir.path().join("data");
    let sink = Sink::start(&data, None);
    let port = tls_proxy(&cert, &key, sink.addr.clone());
    let policy =
        format!(r#"{{"windows":[],"guard":{{"report":"https://127.0.0.1:{port}/v1/guard"}}}}"#);
    // An empty directory as the system's other CAs: only the bundle given counts.
    let empty = dir.path().join("no-certs");
    std::fs::create_dir(&empty).unwrap();
    let guard = |env: &[(&str, &str)]| {
        let mut all = vec![
            ("SLUICE_GUARD_POLICY", policy.as_str()),
            ("SLUICE_APP", "shop"),
            ("SLUICE_REVISION", "abc"),
            ("SSL_CERT_DIR", empty.to_str().unwrap()),
        ];
        all.extend_from_slice(env);
        sluice_in(dir.path(), &["guard"], &all)
    };
    // With another CA in the store, the certificate is not trusted: the report fails (not fatal).
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (other_ca, _, _) = private_ca(&other);
    let untrusted = guard(&[("SSL_CERT_FILE", other_ca.to_str().unwrap())]);
    assert_eq!(untrusted.status.code(), Some(0), "{}", stderr(&untrusted));
    assert!(read_log_lines(&data).is_empty(), "{}", stderr(&untrusted));
    assert!(
        stderr(&untrusted)
            .to_ascii_lowercase()
            .contains("certificate"),
        "{}",
        stderr(&untrusted)
    );
    // With the CA in the system store (SSL_CERT_FILE), the report goes through.
    let trusted = guard(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_eq!(trusted.status.code(), Some(0), "{}", stderr(&trusted));
    let lines = read_log_lines(&data);
    assert_eq!(lines.len(), 1, "{}", stderr(&trusted));
    assert!(
        lines[0].contains(r#""event":"guard-decision""#),
        "{}",
        lines[0]
    );
}

/// `cargo tree` of the binary's dependencies shows one rustls crypto provider: ring, not aws-lc-rs.
#[test]
fn the_build_has_one_rustls_provider() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.lines().any(|l| l.starts_with("ring ")), "{tree}");
    let other: Vec<&str> = tree
        .lines()
        .filter(|l| {
            l.starts_with("aws-lc") || l.starts_with("openssl ") || l.starts_with("openssl-sys ")
        })
        .collect();
    assert!(other.is_empty(), "another crypto provider: {other:?}");
}
