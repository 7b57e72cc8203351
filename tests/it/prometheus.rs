//! A real Prometheus for the verification tests: Debian's `prometheus` server (beside promtool, which
//! tests/run installs) scraping a test exporter on 127.0.0.1 every 250 ms, with its own storage in a
//! temporary directory and a free port; readiness is polled (`/-/ready`, then the exporter's first
//! scrape). In front of it, per test case, a [`Proxy`] that `sluice verify` queries: it forwards every
//! query to the real Prometheus HTTP API and counts them, and before each query it sets the value the
//! case's script names on the exporter and waits (polling Prometheus) until Prometheus has scraped it,
//! so that each measurement sees exactly the scripted value; a script step may instead be an outage
//! (503 with Prometheus's error body). The proxy changes no answer it forwards.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The gauge the exporter serves, one series per case: `sluice_test_error_ratio{case="…"}`.
pub const METRIC: &str = "sluice_test_error_ratio";

/// The test exporter: `GET /metrics` in Prometheus' text format with the values set by the tests.
#[derive(Clone, Default)]
pub struct Exporter {
    values: Arc<Mutex<BTreeMap<String, f64>>>,
    pub addr: String,
}

impl Exporter {
    pub fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let exporter = Exporter {
            values: Arc::default(),
            addr,
        };
        let values = Arc::clone(&exporter.values);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let values = Arc::clone(&values);
                std::thread::spawn(move || serve_metrics(conn, &values));
            }
        });
        exporter
    }

    pub fn set(&self, case: &str, value: f64) {
        self.values.lock().unwrap().insert(case.to_owned(), value);
    }
}

fn read_head(conn: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
    }
    Some(line.split_whitespace().nth(1)?.to_owned())
}

fn serve_metrics(mut conn: TcpStream, values: &Mutex<BTreeMap<String, f64>>) {
    if read_head(&conn).is_none() {
        return;
    }
    let mut body = format!(
        "# HELP {METRIC} Errors per request, as the test sets it.\n# TYPE {METRIC} gauge\n"
    );
    for (case, v) in values.lock().unwrap().iter() {
        let v = if v.is_nan() {
            "NaN".to_owned()
        } else {
            v.to_string()
        };
        body.push_str(&format!("{METRIC}{{case=\"{case}\"}} {v}\n"));
    }
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The Prometheus server; killed when dropped.
pub struct Prometheus {
    child: Child,
    pub addr: String,
    /// Its configuration, storage and log; removed when dropped.
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` of `addr`, as JSON (`Null` when it is not).
pub fn get_json(addr: &str, path: &str) -> Option<(u16, Value)> {
    let r = crate::support::try_http(addr, "GET", path, &[], b"").ok()?;
    Some((
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    ))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Prometheus {
    /// Starts Prometheus scraping `exporter` and waits until it has scraped it once.
    pub fn start(exporter: &Exporter) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{}']\n",
                exporter.addr
            ),
        )
        .expect("write config");
        let addr = format!("127.0.0.1:{}", crate::support::free_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run prometheus (Debian's prometheus package; tests/run installs it)");
        let mut p = Prometheus { child, addr, dir };
        let log_path: PathBuf = p.dir.path().join("prometheus.log");
        p.wait_for(
            "ready",
            |p| {
                crate::support::try_http(&p.addr, "GET", "/-/ready", &[], b"")
                    .is_ok_and(|r| r.status == 200)
            },
            &log_path,
        );
        p.wait_for(
            "the exporter's first scrape",
            |p| {
                p.query("up{job=\"exporter\"}")
                    .is_some_and(|v| v.first().is_some_and(|x| *x == 1.0))
            },
            &log_path,
        );
        p
    }

    fn wait_for(&mut self, what: &str, ok: impl Fn(&Prometheus) -> bool, log: &PathBuf) {
        let deadline = Instant::now() + Duration::from_mins(1);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited with {status}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            if ok(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "prometheus: {what} did not happen within 60 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    /// The values of an instant query's vector.
    pub fn query(&self, q: &str) -> Option<Vec<f64>> {
        query(&self.addr, q)
    }
}

/// The values of an instant query's vector, asked of the Prometheus at `addr`.
pub fn query(addr: &str, q: &str) -> Option<Vec<f64>> {
    let (status, v) = get_json(addr, &format!("/api/v1/query?query={}", encode(q)))?;
    if status != 200 {
        return None;
    }
    v.pointer("/data/result")?
        .as_array()?
        .iter()
        .map(|s| s.pointer("/value/1")?.as_str()?.parse().ok())
        .collect()
}

/// Waits until the Prometheus at `addr` answers `value` for the case's series.
fn wait_value(addr: &str, case: &str, value: f64) {
    let q = format!("{METRIC}{{case=\"{case}\"}}");
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        let seen = query(addr, &q).and_then(|v| v.first().copied());
        if seen.is_some_and(|s| s == value || (s.is_nan() && value.is_nan())) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("prometheus did not scrape {q} = {value} within 60 s");
}

/// What the proxy does for one query.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Set the series to this value, wait until Prometheus has it, forward the query.
    Value(f64),
    /// Answer 503 with Prometheus's error body, as a Prometheus that is overloaded or restarting.
    Outage,
    /// Forward as it is.
    Forward,
}

/// A counting, scripted proxy in front of Prometheus for one case. The value of query *i* is put in
/// place before the query arrives (for the first, at start; for the next, after Prometheus answered
/// this one and before that answer goes back), so each query sees its scripted value whatever the
/// `time` it asks for.
#[derive(Clone)]
pub struct Proxy {
    pub addr: String,
    queries: Arc<Mutex<Vec<String>>>,
}

fn prepare(step: Option<&Step>, prometheus: &str, exporter: &Exporter, case: &str) {
    if let Some(Step::Value(v)) = step {
        exporter.set(case, *v);
        wait_value(prometheus, case, *v);
    }
}

impl Proxy {
    pub fn start(
        prometheus: &Prometheus,
        exporter: &Exporter,
        case: &str,
        script: Vec<Step>,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let queries: Arc<Mutex<Vec<String>>> = Arc::default();
        let proxy = Proxy {
            addr,
            queries: Arc::clone(&queries),
        };
        // Only the address: the test owns the server, which it stops when it ends.
        let (prometheus, exporter, case) =
            (prometheus.addr.clone(), exporter.clone(), case.to_owned());
        prepare(script.first(), &prometheus, &exporter, &case);
        std::thread::spawn(move || {
            let mut i = 0;
            for mut conn in listener.incoming().flatten() {
                let Some(path) = read_head(&conn) else {
                    continue;
                };
                queries.lock().unwrap().push(path.clone());
                let step = script
                    .get(i)
                    .or(script.last())
                    .copied()
                    .unwrap_or(Step::Forward);
                let raw = match step {
                    Step::Outage => {
                        let body = r#"{"status":"error","errorType":"unavailable","error":"emulated outage"}"#;
                        format!(
                            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .into_bytes()
                    }
                    Step::Value(_) | Step::Forward => forward(&prometheus, &path),
                };
                i += 1;
                if i < script.len() {
                    prepare(script.get(i), &prometheus, &exporter, &case);
                }
                let _ = conn.write_all(&raw);
            }
        });
        proxy
    }

    /// The queries received so far.
    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// The request as it came, to Prometheus; its answer as it came.
fn forward(prometheus: &str, path: &str) -> Vec<u8> {
    let mut raw = Vec::new();
    if let Ok(mut upstream) = TcpStream::connect(prometheus) {
        let _ = write!(
            upstream,
            "GET {path} HTTP/1.1\r\nHost: {prometheus}\r\nConnection: close\r\n\r\n"
        );
        let _ = upstream.read_to_end(&mut raw);
    }
    raw
}
