//! The one TLS setup of every HTTP client sluice makes: rustls with ring as its only crypto provider
//! (installed once for the process), trusting the system's CAs (the platform verifier reads
//! `/etc/ssl/certs`, `SSL_CERT_FILE` and `SSL_CERT_DIR`) and, inside a Kubernetes cluster, the
//! cluster's CA (the service account's `ca.crt`). The guard's report and its question to the sink,
//! the audit commands' `--server` mode, the archive's object store, the Git hosts, the verification
//! hook's probes and reports, and the Kubernetes clients (the watch, the workload check) all trust the
//! same roots.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::time::Duration;

/// The cluster's CA, as Kubernetes mounts it into every pod with a service account.
pub const IN_CLUSTER_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Makes ring the process's rustls provider (once; later calls do nothing).
pub fn install_provider() {
    // An error only says that a provider is installed already: ring, the only one built in.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The CAs trusted beside the system's: the in-cluster CA when there is one.
pub fn extra_roots() -> Vec<CertificateDer<'static>> {
    certificates(Path::new(IN_CLUSTER_CA))
}

/// The certificates of a PEM file (none when it cannot be read).
fn certificates(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .map(|certs| certs.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// The extra CAs as reqwest takes them.
fn reqwest_roots() -> impl Iterator<Item = reqwest::Certificate> {
    extra_roots()
        .into_iter()
        .filter_map(|der| reqwest::Certificate::from_der(&der).ok())
}

/// A blocking HTTP client with the one trust store and a whole-request timeout.
///
/// # Errors
///
/// The TLS setup failed (no usable system store and no extra CA), or the client cannot be built.
pub fn blocking_client(timeout: Duration) -> Result<reqwest::blocking::Client, String> {
    install_provider();
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .tls_certs_merge(reqwest_roots())
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// An async HTTP client's builder with the one trust store (the Git hosts, the verification hook's
/// probes and reports); the caller sets its timeouts and redirects.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_provider();
    reqwest::Client::builder().tls_certs_merge(reqwest_roots())
}

/// The extra CAs as `object_store` takes them.
pub fn object_store_roots() -> Vec<object_store::Certificate> {
    install_provider();
    extra_roots()
        .iter()
        .filter_map(|der| object_store::Certificate::from_der(der).ok())
        .collect()
}

/// The Kubernetes client's configuration with the one trust store: the CA its kubeconfig (or the
/// service account) names, the system's CAs and the in-cluster CA.
pub fn trust_kube(mut config: kube::Config) -> kube::Config {
    install_provider();
    let mut roots = config.root_cert.take().unwrap_or_default();
    // Only certificates rustls takes: kube refuses the whole list over one it cannot read.
    let mut probe = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.extend(
        native
            .certs
            .into_iter()
            .filter(|c| probe.add(c.clone()).is_ok())
            .map(|c| c.to_vec()),
    );
    roots.extend(extra_roots().iter().map(|c| c.to_vec()));
    config.root_cert = Some(roots);
    config
}

/// An error of the HTTP client with its causes, `: `-separated (the TLS or connection error is in a
/// cause, not in the error's own text).
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
