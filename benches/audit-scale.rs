//! The audit log at scale (`cargo bench --bench audit-scale`; docs/benchmarks.md, "The audit log at
//! scale"). Builds logs of valid chained records (10,000 and 1,000,000 by default, about 1.1 KB each)
//! under cargo's bench temp directory (target/tmp), never in the repository, and reports for each:
//!
//! - `GET /v1/records` by app and by change with `limit=10` (median and p99 of 200 requests);
//! - peak RSS of `audit show CHG-n` and `audit list --app A` (GNU time);
//! - time from starting `sluice serve` to its first `/healthz` answer: the first start (no marker:
//!   the whole chain is verified and the index built) and the next one (from the marker);
//! - write latency p99 of 4 clients posting events, alone and with 40 concurrent readers;
//! - after a restart (SIGTERM, then a start from the marker): the time from the first accepted
//!   connection to the acknowledgement of a POST sent on it; how long SIGTERM took to stop the sink;
//!   and the threads of the running sink (by name).
//!
//! Environment: `AUDIT_SCALE_SIZES` (comma-separated record counts, default `10000,1000000`),
//! `AUDIT_SCALE_DIR` (default: cargo's bench temp directory), `SLUICE_BIN` (another build to measure,
//! for alternating runs). A generated log is kept there and reused by the next run. Only 127.0.0.1 is
//! contacted; every loop is bounded in count.

#[path = "common/mod.rs"]
mod common;
use common::{percentile, serve_args, sluice_bin, Client, Server};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPS: usize = 300;
const READERS: usize = 40;
const WRITERS: usize = 4;
const WRITES_PER_CLIENT: usize = 500;
const ROUNDS: usize = 3;
/// The pause of a paced reader between two queries.
const PAUSE: Duration = Duration::from_millis(10);

fn golden_template(event: &str) -> Map<String, Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden/audit.jsonl");
    let text = std::fs::read_to_string(&path).expect("golden log");
    text.lines()
        .map(|l| serde_json::from_str::<Map<String, Value>>(l).expect("golden line"))
        .find(|m| m.get("event").and_then(Value::as_str) == Some(event))
        .expect("a golden record of that event")
}

/// Canonical bytes of a record made only of plain strings, integers, booleans and null: sorted keys,
/// no whitespace (docs/audit-log.md, "Canonical bytes"); `serde_json` writes such values the same way.
fn canonical(map: &Map<String, Value>) -> Vec<u8> {
    let mut v = Value::Object(map.clone());
    v.sort_all_objects();
    serde_json::to_vec(&v).expect("serializes")
}

/// Writes `n` valid chained records (a guard decision before every third sync) to `dir/audit.jsonl`.
fn generate(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("data dir");
    let sync = golden_template("sync-succeeded");
    let guard = golden_template("guard-decision");
    let pad = "x".repeat(120);
    let mut out =
        BufWriter::with_capacity(1 << 20, File::create(dir.join("audit.jsonl")).expect("log"));
    let mut prev = "0".repeat(64);
    for i in 0..n {
        let seq = i as u64 + 1;
        let app = format!("app-{:03}", i % APPS);
        let change = format!("CHG-{}", i / 3);
        let rev = format!("{:040x}", i / 3);
        let at = format!("2026-01-01T00:00:00.{:03}Z", i % 1000);
        let mut m = if i % 4 == 3 {
            guard.clone()
        } else {
            sync.clone()
        };
        m.remove("hash");
        m.insert("seq".into(), json!(seq));
        m.insert("prev".into(), json!(prev));
        m.insert("key".into(), json!(format!("bench|{i}")));
        m.insert("changeId".into(), json!(change));
        m.insert("revision".into(), json!(rev));
        m.insert("receivedAt".into(), json!(at));
        if let Some(Value::Object(a)) = m.get_mut("app") {
            a.insert("name".into(), json!(app));
        }
        if m.contains_key("message") {
            m.insert(
                "message".into(),
                json!(format!("generated record {i} {pad}")),
            );
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

/// Starts `sluice serve` and gives it with the time until `/healthz` answered 200.
fn start_server(data: &Path) -> (Server, Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let child = Command::new(sluice_bin())
        .args(serve_args(&sluice_bin(), &addr, data))
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sluice serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_mins(10);
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(&server.addr) {
            if c.request("GET", "/healthz", "").is_ok_and(|r| r.0 == 200) {
                return (server, started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("sluice serve did not start");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and p99 of `count` GETs of the paths `path(i)`, each checked to answer 200 with `limit`
/// records.
fn time_gets(addr: &str, count: usize, path: impl Fn(usize) -> String) -> (Duration, Duration) {
    let mut c = Client::connect(addr).expect("connect");
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let p = path(i);
        let t = Instant::now();
        let (status, body) = c.request("GET", &p, "").expect("GET");
        times.push(t.elapsed());
        assert_eq!(status, 200, "{p}: {body}");
        let n = serde_json::from_str::<Vec<Value>>(&body)
            .expect("JSON array")
            .len();
        assert!(n > 0, "{p} answered no record");
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// Peak RSS in MB and wall time of one `sluice` command (GNU time).
fn peak_rss(args: &[&str]) -> (f64, Duration) {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(sluice_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run /usr/bin/time (GNU time: apt-get install time)");
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    let kb: f64 = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    (kb / 1024.0, took)
}

fn event(i: usize) -> String {
    // With the synced revision, as Argo CD sends it: the sink then looks for approval and
    // verification evidence of that revision (in its memory of the log) before it writes.
    json!({"event": "sync-succeeded", "app": {"metadata": {"name": format!("app-{:03}", i % APPS),
        "namespace": "argocd", "uid": format!("bench-uid-{i}")},
        "status": {"operationState": {"phase": "Succeeded", "startedAt": "2026-02-01T00:00:00Z",
            "syncResult": {"revision": format!("{i:040x}")}}}}})
    .to_string()
}

/// p50 and p99 of `WRITERS` clients each posting `WRITES_PER_CLIENT` distinct events from `first`,
/// while `readers` clients loop over indexed queries; and the readers' query count.
fn write_latency(
    addr: &str,
    first: usize,
    readers: usize,
    pause: Duration,
) -> (Duration, Duration, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicUsize::new(0));
    let reader_threads: Vec<_> = (0..readers)
        .map(|r| {
            let (addr, stop, queries) = (addr.to_owned(), Arc::clone(&stop), Arc::clone(&queries));
            std::thread::spawn(move || {
                let mut c = Client::connect(&addr).expect("connect");
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let path = match i % 3 {
                        0 => format!("/v1/records?app=app-{:03}&limit=10", i % APPS),
                        1 => format!("/v1/records?change=CHG-{}&limit=10", (i * 7919) % 3000),
                        _ => format!(
                            "/v1/records?app=app-{:03}&after={}&limit=10",
                            i % APPS,
                            i * 13
                        ),
                    };
                    let (status, _) = c.request("GET", &path, "").expect("GET");
                    assert_eq!(status, 200);
                    queries.fetch_add(1, Ordering::Relaxed);
                    i += READERS;
                    if !pause.is_zero() {
                        std::thread::sleep(pause);
                    }
                }
            })
        })
        .collect();
    // Let the readers get going.
    std::thread::sleep(Duration::from_millis(if readers > 0 { 300 } else { 0 }));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let addr = addr.to_owned();
            std::thread::spawn(move || {
                let mut c = Client::connect(&addr).expect("connect");
                let mut times = Vec::with_capacity(WRITES_PER_CLIENT);
                for k in 0..WRITES_PER_CLIENT {
                    let body = event(first + w * WRITES_PER_CLIENT + k);
                    let t = Instant::now();
                    let (status, text) = c.request("POST", "/v1/events", &body).expect("POST");
                    times.push(t.elapsed());
                    assert_eq!(status, 201, "{text}");
                }
                times
            })
        })
        .collect();
    let mut times: Vec<Duration> = writers
        .into_iter()
        .flat_map(|t| t.join().expect("writer"))
        .collect();
    stop.store(true, Ordering::Relaxed);
    for t in reader_threads {
        t.join().expect("reader");
    }
    times.sort();
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        queries.load(Ordering::Relaxed),
    )
}

struct Figures {
    n: usize,
    bytes: u64,
    by_app: (Duration, Duration),
    by_change: (Duration, Duration),
    by_app_after: (Duration, Duration),
    cold_start: Duration,
    warm_start: Duration,
    show: (f64, Duration),
    list: (f64, Duration),
    verify: (f64, Duration),
    /// Per round: p99 alone, p99 with closed-loop readers, p99 with paced readers, and query counts.
    rounds: Vec<(Duration, Duration, Duration, usize, usize)>,
    /// SIGTERM to exit, after the write rounds.
    sigterm: Duration,
    /// After that restart: first accepted connection to the acknowledgement of the POST sent on it.
    first_post: Duration,
    /// The running sink's threads, by name, with their counts.
    threads: String,
}

/// Sends SIGTERM and waits for the process to end; how long it took.
fn terminate(server: &mut Server) -> Duration {
    let t = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = server.child.wait().expect("wait");
    let took = t.elapsed();
    assert!(status.success(), "sluice serve exited with {status}");
    took
}

/// Starts `sluice serve` again and sends a POST on the first connection it accepts: the time from
/// that connection to the POST's acknowledgement.
fn first_post(data: &Path, event: &str) -> (Server, Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(sluice_bin())
        .args(serve_args(&sluice_bin(), &addr, data))
        .env("SLUICE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sluice serve");
    let server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_mins(10);
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(&server.addr) {
            // As Argo CD Notifications would: a 503 is retried at once, until the 201 (or the 200 of
            // a duplicate: an earlier try was written after its 503).
            let t = Instant::now();
            loop {
                let (status, body) = c.request("POST", "/v1/events", event).expect("POST");
                match status {
                    201 | 200 => return (server, t.elapsed()),
                    503 if Instant::now() < deadline => {
                        eprintln!("first POST after the restart: 503 after {:?}", t.elapsed());
                    }
                    _ => panic!("{status}: {body}"),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("sluice serve did not start");
}

/// The threads of a process by name (`/proc/PID/task/*/comm`), as `name xN` in name order.
fn threads(pid: u32) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc") {
        let comm =
            std::fs::read_to_string(task.expect("task").path().join("comm")).unwrap_or_default();
        *counts.entry(comm.trim().to_owned()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(name, n)| format!("{name} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn measure(root: &Path, n: usize) -> Figures {
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
    // Start from the log alone: no index, no marker, no records from an earlier run.
    let _ = std::fs::remove_dir_all(data.join("index"));
    let _ = std::fs::remove_dir_all(data.join("segments"));
    let fresh = dir.join("fresh.jsonl");
    if !fresh.exists() {
        std::fs::copy(data.join("audit.jsonl"), &fresh).expect("copy");
    }
    std::fs::copy(&fresh, data.join("audit.jsonl")).expect("restore");
    // Written back now, so that the copy's writeback does not slow the fsyncs measured below.
    File::open(data.join("audit.jsonl"))
        .and_then(|f| f.sync_all())
        .expect("sync the copy");
    let bytes = std::fs::metadata(&fresh).expect("log").len();
    let d = data.to_str().expect("UTF-8 path");

    let verify = peak_rss(&["audit", "verify", "--data-dir", d]);
    let show = peak_rss(&["audit", "show", "--data-dir", d, &format!("CHG-{}", n / 6)]);
    let list = peak_rss(&["audit", "list", "--data-dir", d, "--app", "app-007"]);

    let (server, cold_start) = start_server(&data);
    drop(server);
    let (mut server, warm_start) = start_server(&data);
    let changes = n / 3;
    let by_app = time_gets(&server.addr, 200, |i| {
        format!("/v1/records?app=app-{:03}&limit=10", (i * 37) % APPS)
    });
    let by_change = time_gets(&server.addr, 200, |i| {
        format!("/v1/records?change=CHG-{}&limit=10", (i * 7919) % changes)
    });
    let by_app_after = time_gets(&server.addr, 200, |i| {
        format!(
            "/v1/records?app=app-{:03}&after={}&limit=10",
            (i * 37) % APPS,
            (i * 104_729) % (n / 2)
        )
    });
    // Alternating rounds: the disk's fsync time drifts, and a p99 of 2000 writes is noisy.
    let batch = WRITERS * WRITES_PER_CLIENT;
    let rounds = (0..ROUNDS)
        .map(|k| {
            let alone = write_latency(&server.addr, (3 * k) * batch, 0, Duration::ZERO);
            let busy = write_latency(&server.addr, (3 * k + 1) * batch, READERS, Duration::ZERO);
            let paced = write_latency(&server.addr, (3 * k + 2) * batch, READERS, PAUSE);
            (alone.1, busy.1, paced.1, busy.2, paced.2)
        })
        .collect();
    let threads = threads(server.child.id());
    let sigterm = terminate(&mut server);
    let (server, first_post) = first_post(&data, &event(ROUNDS * 3 * batch + 7));
    drop(server);
    Figures {
        n,
        bytes,
        by_app,
        by_change,
        by_app_after,
        cold_start,
        warm_start,
        show,
        list,
        verify,
        rounds,
        sigterm,
        first_post,
        threads,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("AUDIT_SCALE_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let root = std::env::var_os("AUDIT_SCALE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("audit-scale"),
        PathBuf::from,
    );
    let figures: Vec<Figures> = sizes.iter().map(|&n| measure(&root, n)).collect();
    println!("| records | log MB | GET app limit=10 p50 / p99 ms | GET change limit=10 p50 / p99 ms | GET app after= limit=10 p50 / p99 ms | first start s | start from marker ms | show peak RSS MB (s) | list --app peak RSS MB (s) | verify peak RSS MB (s) |");
    println!("|---:|---:|---|---|---|---:|---:|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {:.0} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) |",
            f.n,
            f.bytes as f64 / 1e6,
            ms(f.by_app.0),
            ms(f.by_app.1),
            ms(f.by_change.0),
            ms(f.by_change.1),
            ms(f.by_app_after.0),
            ms(f.by_app_after.1),
            f.cold_start.as_secs_f64(),
            ms(f.warm_start),
            f.show.0,
            f.show.1.as_secs_f64(),
            f.list.0,
            f.list.1.as_secs_f64(),
            f.verify.0,
            f.verify.1.as_secs_f64(),
        );
    }
    println!("\nWrite latency p99 ({WRITERS} clients x {WRITES_PER_CLIENT} events per phase; {READERS} readers looping over indexed queries, closed-loop or pausing {} ms):\n", PAUSE.as_millis());
    println!("| records | round | p99 alone ms | p99 with closed-loop readers ms (queries) | ratio | p99 with paced readers ms (queries) | ratio |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for f in &figures {
        for (k, r) in f.rounds.iter().enumerate() {
            println!(
                "| {} | {} | {:.2} | {:.2} ({}) | {:.2}x | {:.2} ({}) | {:.2}x |",
                f.n,
                k + 1,
                ms(r.0),
                ms(r.1),
                r.3,
                ms(r.1) / ms(r.0),
                ms(r.2),
                r.4,
                ms(r.2) / ms(r.0),
            );
        }
    }
    println!("\nRestart (SIGTERM after the write rounds, then a start from the marker):\n");
    println!("| records | SIGTERM to exit ms | first accepted connection to the first POST's 201 ms | threads of the running sink |");
    println!("|---:|---:|---:|---|");
    for f in &figures {
        println!(
            "| {} | {:.0} | {:.1} | {} |",
            f.n,
            ms(f.sigterm),
            ms(f.first_post),
            f.threads
        );
    }
    if let (Some(small), Some(large)) = (figures.first(), figures.last()) {
        if figures.len() > 1 {
            println!(
                "\nratios {} / {} records: GET by app p50 {:.2}x, by change p50 {:.2}x",
                large.n,
                small.n,
                ms(large.by_app.0) / ms(small.by_app.0),
                ms(large.by_change.0) / ms(small.by_change.0),
            );
        }
    }
}
