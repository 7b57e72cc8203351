//! Load benchmark of the notification sink on loopback (`cargo bench --bench sink-load`).
//!
//! 1. Baseline: a plain loop of one append + one `sync_data` per record on the same disk.
//! 2. The real `sluice serve` (hyper on tokio, one group-commit writer) with `CLIENTS` concurrent
//!    keep-alive HTTP clients posting distinct events; every 201 is an fsynced record, so acknowledged
//!    events/s is comparable to the loop.
//!
//! Bounded in count and time. Environment: `SINK_LOAD_CLIENTS` (16), `SINK_LOAD_EVENTS` (10000),
//! `SINK_LOAD_SECONDS` (20 per phase), `SINK_LOAD_DIR` (benches/out, on the repository's disk),
//! `SINK_LOAD_WORKERS` (the sink's `--workers`; its default when unset). Prints a Markdown table for
//! docs/benchmarks.md, with the targets: at least 2× the loop, p99 under 10 ms. Uses only std: no
//! network beyond 127.0.0.1.

#[path = "common/mod.rs"]
mod common;
use common::{percentile, Client, Server};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn body(i: usize) -> String {
    format!(
        r#"{{"event":"sync-succeeded","app":{{"apiVersion":"argoproj.io/v1alpha1","kind":"Application",
        "metadata":{{"name":"app-{a}","namespace":"argocd","uid":"uid-{a}"}},
        "spec":{{"project":"default","destination":{{"server":"https://kubernetes.default.svc","namespace":"production"}}}},
        "status":{{"sync":{{"status":"Synced","revision":"{i:040}"}},"health":{{"status":"Healthy"}},
        "history":[{{"id":7,"revision":"{i:040}","deployStartedAt":"2026-11-20T10:00:00Z"}}],
        "operationState":{{"phase":"Succeeded","message":"successfully synced","startedAt":"2026-11-20T10:00:00.{i:06}Z",
        "finishedAt":"2026-11-20T10:00:01Z","operation":{{"initiatedBy":{{"username":"alice"}}}},
        "syncResult":{{"revision":"{i:040}","resources":[{{"group":"velero.io","kind":"Backup","name":"pre-change-{i}","hookType":"PreSync"}}]}}}}}}}},
        "commit":{{"Message":"CHG-{i}: load test\n\nApproved-by: Bob <bob@example.com>\nRisk: low\n","Author":"Ann","Date":"2026-11-20T09:00:00Z","Tags":[]}}}}"#,
        a = i % 50
    )
}

/// One append + one fsync per record, for `max_records` or `max_time`: records/s and the slowest fsync.
fn baseline(dir: &Path, max_records: usize, max_time: Duration) -> (f64, Duration) {
    let path = dir.join("baseline.jsonl");
    let _ = std::fs::remove_file(&path);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open baseline file");
    let mut line = "x".repeat(1000);
    line.push('\n');
    let start = Instant::now();
    let mut n = 0;
    let mut slowest = Duration::ZERO;
    while n < max_records && start.elapsed() < max_time {
        let t = Instant::now();
        f.write_all(line.as_bytes()).expect("write");
        f.sync_data().expect("fsync");
        slowest = slowest.max(t.elapsed());
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    (rate, slowest)
}

fn start_server(data: &Path, workers: Option<u64>) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(common::sluice_bin());
    cmd.args(common::serve_args(&common::sluice_bin(), &addr, data));
    if let Some(workers) = workers {
        cmd.args(["--workers", &workers.to_string()]);
    }
    let child = cmd
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sluice serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(&server.addr) {
            if c.request("GET", "/healthz", "").is_ok_and(|r| r.0 == 200) {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("sluice serve did not start");
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter here.
    let clients = env_or("SINK_LOAD_CLIENTS", 16) as usize;
    let events = env_or("SINK_LOAD_EVENTS", 10000) as usize;
    let max_time = Duration::from_secs(env_or("SINK_LOAD_SECONDS", 20));
    let root = std::env::var_os("SINK_LOAD_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/out"),
        PathBuf::from,
    );
    let dir = root.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create bench dir");

    let (base_rate, base_slowest) = baseline(&dir, events, max_time);
    eprintln!("baseline: {base_rate:.0} fsynced 1001-byte appends/s");

    // Bodies are made before the clock starts: the generator shares the two cores with the server.
    let bodies: Arc<Vec<String>> = Arc::new((0..events).map(body).collect());
    let data = dir.join("data");
    let workers = std::env::var("SINK_LOAD_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok());
    let server = start_server(&data, workers);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, next, latencies, failures, bodies) = (
                server.addr.clone(),
                Arc::clone(&next),
                Arc::clone(&latencies),
                Arc::clone(&failures),
                Arc::clone(&bodies),
            );
            std::thread::spawn(move || {
                let mut client = Client::connect(&addr).expect("connect");
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= events || start.elapsed() > max_time {
                        break;
                    }
                    let t = Instant::now();
                    if let Ok((201, _)) = client.request("POST", "/v1/events", &bodies[i]) {
                        mine.push(t.elapsed());
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                        client = Client::connect(&addr).expect("reconnect");
                    }
                }
                latencies.lock().expect("latencies").extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let wall = start.elapsed();
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort();
    let acked = lat.len();
    let rate = acked as f64 / wall.as_secs_f64();
    let metrics = Client::connect(&server.addr)
        .and_then(|mut c| c.request("GET", "/metrics", ""))
        .map(|r| r.1)
        .unwrap_or_default();
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    };
    let batches = metric("sluice_audit_batches_total");
    let batched = metric("sluice_audit_batched_records_total");
    drop(server);
    // The loop again, to show how much the shared disk drifted during the run.
    let (base_after, after_slowest) = baseline(&dir, events, max_time);
    let verify = Command::new(common::sluice_bin())
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("audit verify");
    let verified = String::from_utf8_lossy(&verify.stdout).trim().to_owned();

    let speedup = rate / base_rate.max(base_after);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| one write + one fsync per record (same disk, same run), before / after | {base_rate:.0} / {base_after:.0} records/s |");
    println!(
        "| slowest single fsync of the loop, before / after | {:.2} ms / {:.2} ms |",
        base_slowest.as_secs_f64() * 1e3,
        after_slowest.as_secs_f64() * 1e3
    );
    println!("| sink, {clients} concurrent clients, acknowledged (fsynced) events | {rate:.0} events/s ({acked} in {:.2} s) |", wall.as_secs_f64());
    println!("| speed-up over the one-fsync loop (the better of the two) | {speedup:.1}× |");
    let p99 = percentile(&lat, 0.99);
    println!(
        "| targets: ≥ 2× the loop, p99 < 10 ms | {} ({speedup:.1}×, p99 {:.2} ms) |",
        if speedup >= 2.0 && p99 < Duration::from_millis(10) {
            "met"
        } else {
            "NOT met"
        },
        p99.as_secs_f64() * 1e3
    );
    println!(
        "| latency p50 / p99 / p99.9 / max | {:.2} ms / {:.2} ms / {:.2} ms / {:.2} ms |",
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        percentile(&lat, 0.999).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "| mean group-commit batch | {:.1} records per fsync ({batches:.0} fsyncs) |",
        if batches > 0.0 {
            batched / batches
        } else {
            0.0
        }
    );
    println!("| failed requests | {} |", failures.load(Ordering::Relaxed));
    println!("| `audit verify` afterwards | {verified} |");
    let _ = std::fs::remove_dir_all(&dir);
}
