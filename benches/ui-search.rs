//! The auditor's pages and the extension's API at scale (`cargo bench --bench ui-search`;
//! docs/benchmarks.md, "The auditor's search at scale"). Builds logs of valid chained records (10,000 and
//! 1,000,000 by default, about 1.1 KB each, one every 10 s of `receivedAt`, 300 apps, 40 users, a change
//! per 3 records) under cargo's bench temp directory, never in the repository; starts the release
//! `sluice serve` on 127.0.0.1 with a proxy secret and reports, for each size, the median and p99 of:
//!
//! - `/audit?from=DAY&to=DAY` (a one-day period in the middle of the log: 8,640 records; the page shows 200);
//! - `/audit?app=A`, `/audit?change=CHG-n`, `/audit?person=U&from=DAY&to=DAY`;
//! - `/audit/change/CHG-n`;
//! - `/v1/ui/apps/argocd/A/changes` and `…/status` as Argo CD's proxy sends them;
//!
//! and the ratio of the large log's medians to the small one's, measured in the same run. Environment:
//! `UI_SEARCH_SIZES` (default `10000,1000000`), `UI_SEARCH_DIR` (default: cargo's bench temp directory;
//! a generated log is kept there and reused). Every loop is bounded in count.

#[path = "common/mod.rs"]
#[allow(dead_code)] // Its keep-alive client: this bench sends headers, so it uses reqwest.
mod common;
use common::{percentile, Server};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const APPS: usize = 300;
const USERS: usize = 40;
const REQUESTS: usize = 30;
const SECRET: &str = "bench-proxy-secret";
/// 2026-01-01T00:00:00Z; one record every 10 s.
const START: i64 = 1_767_225_600;

fn template() -> Map<String, Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden/audit.jsonl");
    let text = std::fs::read_to_string(&path).expect("golden log");
    text.lines()
        .map(|l| serde_json::from_str::<Map<String, Value>>(l).expect("golden line"))
        .find(|m| m.get("event").and_then(Value::as_str) == Some("sync-succeeded"))
        .expect("a golden sync record")
}

fn canonical(map: &Map<String, Value>) -> Vec<u8> {
    let mut v = Value::Object(map.clone());
    v.sort_all_objects();
    serde_json::to_vec(&v).expect("serializes")
}

fn at(i: usize) -> String {
    chrono::DateTime::from_timestamp(START + 10 * i as i64, 0)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

/// Writes `n` valid chained sync records to `dir/audit.jsonl`.
fn generate(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("data dir");
    let sync = template();
    let mut out =
        BufWriter::with_capacity(1 << 20, File::create(dir.join("audit.jsonl")).expect("log"));
    let mut prev = "0".repeat(64);
    for i in 0..n {
        let mut m = sync.clone();
        m.remove("hash");
        m.insert("seq".into(), json!(i as u64 + 1));
        m.insert("prev".into(), json!(prev));
        m.insert("key".into(), json!(format!("bench|{i}")));
        m.insert("changeId".into(), json!(format!("CHG-{}", i / 3)));
        m.insert("revision".into(), json!(format!("{:040x}", i / 3)));
        m.insert("receivedAt".into(), json!(at(i)));
        m.insert(
            "initiatedBy".into(),
            json!({"username": format!("user-{:02}", i % USERS), "automated": false}),
        );
        if let Some(Value::Object(a)) = m.get_mut("app") {
            a.insert("name".into(), json!(format!("app-{:03}", i % APPS)));
            a.insert("namespace".into(), json!("argocd"));
        }
        let body = canonical(&m);
        let mut h = Sha256::new();
        h.update(prev.as_bytes());
        h.update(&body);
        let hash = h
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            });
        m.insert("hash".into(), json!(hash));
        out.write_all(&canonical(&m)).expect("write");
        out.write_all(b"\n").expect("write");
        prev = hash;
    }
    out.flush().expect("flush");
}

fn start_server(data: &Path, secret_file: &Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let bin = common::sluice_bin();
    let child = Command::new(&bin)
        .args(common::serve_args(&bin, &addr, data))
        .arg("--ui-proxy-secret-file")
        .arg(secret_file)
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sluice serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_mins(20);
    while Instant::now() < deadline {
        if get(&server.addr, "/healthz", &[]).is_some_and(|(s, _)| s == 200) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("sluice serve did not start");
}

fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    // Plain HTTP on 127.0.0.1, but reqwest builds its TLS setup all the same: with ring, the one
    // rustls provider (src/net.rs does the same for sluice's own clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_mins(2))
        .build()
        .ok()?;
    let mut rq = client.get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let response = rq.send().ok()?;
    let status = response.status().as_u16();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(response, 64 << 20), &mut body).ok()?;
    Some((status, body))
}

/// Median and p99 of `REQUESTS` GETs of `path(i)`, each checked to answer 200 and to hold `want(i)`.
fn time(
    addr: &str,
    headers: &[(&str, &str)],
    path: impl Fn(usize) -> String,
    want: impl Fn(usize) -> String,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let p = path(i);
        let t = Instant::now();
        let (status, body) = get(addr, &p, headers).expect("GET");
        times.push(t.elapsed());
        assert_eq!(status, 200, "{p}: {body}");
        let w = want(i);
        assert!(body.contains(&w), "{p} does not show {w}");
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const NAMES: [&str; 7] = [
    "period (1 day)",
    "app",
    "change id",
    "person in a day",
    "change page",
    "extension: changes",
    "extension: status",
];

fn measure(root: &Path, n: usize) -> Vec<(Duration, Duration)> {
    let dir = root.join(format!("log-{n}"));
    let data = dir.join("data");
    let done = dir.join("generated");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        generate(&data, n);
        std::fs::write(&done, "").expect("mark");
        eprintln!(
            "generated {n} records in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    let secret = dir.join("proxy-secret");
    std::fs::write(&secret, SECRET).expect("secret");
    let t = Instant::now();
    let server = start_server(&data, &secret);
    eprintln!(
        "{n} records: sink ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let a = server.addr.as_str();
    // Days in the middle of the log (8,640 records a day).
    let days = (n * 10 / 86_400).max(1);
    let day = |i: usize| {
        let d = (days / 2 + i % days.max(1)).min(days - 1);
        chrono::DateTime::from_timestamp(START + 86_400 * d as i64, 0)
            .expect("in range")
            .format("%Y-%m-%d")
            .to_string()
    };
    let app = |i: usize| format!("app-{:03}", (i * 37) % APPS);
    let change = |i: usize| format!("CHG-{}", (i * 7919) % (n / 3));
    let proxy = |i: usize| {
        (
            format!("/v1/ui/apps/argocd/{}/", app(i)),
            format!("argocd:{}", app(i)),
        )
    };
    let mut out = vec![
        time(
            a,
            &[],
            |i| format!("/audit?from={0}&to={0}", day(i)),
            |_| "Records shown: 200".into(),
        ),
        time(a, &[], |i| format!("/audit?app={}", app(i)), app),
        time(a, &[], |i| format!("/audit?change={}", change(i)), change),
        time(
            a,
            &[],
            |i| {
                format!(
                    "/audit?person=user-{:02}&from={1}&to={1}",
                    i % USERS,
                    day(i)
                )
            },
            |_| "Records shown: 200".into(),
        ),
        time(a, &[], |i| format!("/audit/change/{}", change(i)), change),
    ];
    for what in ["changes", "status"] {
        let mut times = Vec::new();
        for i in 0..REQUESTS {
            let (path, header) = proxy(i);
            let h = [
                ("Sluice-Proxy-Secret", SECRET),
                ("Argocd-Application-Name", header.as_str()),
                ("Argocd-Project-Name", "default"),
            ];
            let t = Instant::now();
            let (status, body) = get(a, &format!("{path}{what}"), &h).expect("GET");
            times.push(t.elapsed());
            assert_eq!(status, 200, "{path}{what}: {body}");
            assert!(
                body.contains("\"changeId\":\"CHG-"),
                "{path}{what}: no change"
            );
        }
        times.sort();
        out.push((percentile(&times, 0.5), percentile(&times, 0.99)));
    }
    drop(server);
    out
}

fn main() {
    let sizes: Vec<usize> = std::env::var("UI_SEARCH_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n >= 10_000)
        .collect();
    let root = std::env::var_os("UI_SEARCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-search"),
        PathBuf::from,
    );
    let figures: Vec<(usize, Vec<(Duration, Duration)>)> =
        sizes.iter().map(|&n| (n, measure(&root, n))).collect();
    print!("| query |");
    for (n, _) in &figures {
        print!(" {n} records p50 / p99 ms |");
    }
    if figures.len() > 1 {
        print!(" ratio of p50 |");
    }
    println!();
    println!(
        "|---|{}",
        "---|".repeat(figures.len() + usize::from(figures.len() > 1))
    );
    for (k, name) in NAMES.iter().enumerate() {
        print!("| {name} |");
        for (_, f) in &figures {
            print!(" {:.1} / {:.1} |", ms(f[k].0), ms(f[k].1));
        }
        if let (Some(small), Some(large)) = (figures.first(), figures.last()) {
            if figures.len() > 1 {
                print!(" {:.2}x |", ms(large.1[k].0) / ms(small.1[k].0));
            }
        }
        println!();
    }
}
